# Shared by the bench scripts, sourced after `work` is set: process
# bookkeeping with an EXIT trap that stops only what the script started,
# free ports, Debian installs, CPU ticks of a process, and wrk's latency units.
pids=()

# Forgets a reaped pid (it may be reused by another process).
forget_pid() {
    local p kept=()
    for p in "${pids[@]}"; do [ "$p" = "$1" ] || kept+=("$p"); done
    pids=("${kept[@]}")
}

# Stops one process this script started and waits for it.
stop_pid() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    forget_pid "$1"
}

# Runs wrk in the background and waits for it: a signal then interrupts `wait` at once, and the
# EXIT trap stops wrk too.
run_wrk() {
    local pid status=0
    wrk "$@" &
    pid=$!
    pids+=("$pid")
    wait "$pid" || status=$?
    forget_pid "$pid"
    return "$status"
}

cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs a command as root (directly when already root).
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Installs Debian packages (a missing haproxy or wrk, say).
apt_install() {
    echo "${0##*/}: installing $* from Debian" >&2
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}

# The spoe.conf of the HAProxy-driven benchmarks (agent-haproxy.sh, gateway.sh): one message with
# 4 arguments on every request, errors in txn.bench.err, the agent in backend `agents`.
write_bench_spoe_conf() {
    cat >"$1" <<EOF
[bench]
spoe-agent bench-agent
    messages bench
    option var-prefix bench
    option set-on-error err
    option force-set-var
    timeout hello 2s
    timeout idle 30s
    timeout processing 1s
    use-backend agents

spoe-message bench
    args src=src path=path method=method hdr=req.hdr(x-bench)
    event on-frontend-http-request
EOF
}

# The cargo profile the scripts build and run `spoe` from: PROFILE (default release, the figure
# compared with HAProxy; `measure` is release without fat LTO, for A/B instruction counts that
# build in minutes), and its directory under target/.
profile=${PROFILE:-release}
profile_dir=$root/target/$profile

# build_spoe [CARGO ARGS...]: builds spoe-cli in PROFILE (unless SKIP_BUILD=1).
build_spoe() {
    if [ "${SKIP_BUILD:-0}" != 1 ]; then cargo build --profile "$profile" --quiet -p spoe-cli "$@"; fi
}

# Installs HAProxy and wrk from Debian when missing (what the benchmarks that drive HAProxy
# against the gateway need) and sets haproxy_bin.
haproxy_and_wrk() {
    if ! command -v haproxy >/dev/null 2>&1 && [ ! -x /usr/sbin/haproxy ]; then apt_install haproxy; fi
    if ! command -v wrk >/dev/null 2>&1; then apt_install wrk; fi
    haproxy_bin=$(command -v haproxy || echo /usr/sbin/haproxy)
}

# Sets measure_what from MEASURE, for the benchmarks that also count instructions: cpu (the
# default), instructions or both; exits 2 on anything else.
read_measure() {
    measure_what=${MEASURE:-cpu}
    case $measure_what in cpu | instructions | both) ;; *)
        echo "${0##*/}: MEASURE must be cpu, instructions or both, not '$measure_what'" >&2
        exit 2
        ;;
    esac
}

# Sets haproxy_bin (installing HAProxy from Debian when missing) and spoe_bin: SPOE_BIN when set,
# else target/PROFILE/spoe, built first unless SKIP_BUILD=1.
find_haproxy_and_spoe() {
    if ! command -v haproxy >/dev/null 2>&1 && [ ! -x /usr/sbin/haproxy ]; then apt_install haproxy; fi
    haproxy_bin=$(command -v haproxy || echo /usr/sbin/haproxy)
    if [ -n "${SPOE_BIN:-}" ]; then
        spoe_bin=$SPOE_BIN
    else
        build_spoe
        spoe_bin=$profile_dir/spoe
    fi
}

# ---- user-space instructions per request, counted by callgrind ----
# A proxy started under `valgrind --tool=callgrind --callgrind-out-file=OUT` is warmed up, its
# counters zeroed, sent REQUESTS requests (h2load, CALLGRIND_CONNS keep-alive connections, a
# fixed count) and dumped: every user-space instruction of all its threads, counted exactly, so
# the figure does not move with the load of the machine. It counts no kernel work and no
# waiting. Valgrind counts each byte a `rep movsb` copies as one instruction where the CPU
# retires one, so the figures also give memcpy/memmove/memset apart. CALLGRIND_CONNS sets
# h2load's connections (10): how many requests a wake-up finds ready depends on how fast the
# client and, with a backend, the server answer, so at 10 connections the count per request
# moves with the machine's load where a third process is in the path (c50-backend-nospoe: 2x
# for both proxies between two runs); at 1 every request is one round trip and the count holds
# (within 0.1%).
requests_counted=${REQUESTS:-10000}
callgrind_conns=${CALLGRIND_CONNS:-10}

# Installs what the counting needs.
callgrind_prerequisites() {
    if ! command -v valgrind >/dev/null 2>&1; then apt_install valgrind; fi
    if ! command -v h2load >/dev/null 2>&1; then apt_install nghttp2-client; fi
    if ! command -v curl >/dev/null 2>&1; then apt_install curl; fi
}

# callgrind_count PID PORT OUT KEY1 KEY2: the proxy PID (under callgrind writing OUT, listening on
# PORT, answering a request with `X-Bench: wrk` with a 2xx) measured as above, then stopped; its
# row "KEY1 KEY2 instructions mem" (per request; mem: memcpy/memmove/memset) appended to
# $work/instructions.tsv and said on stderr. The benchmarks' count_instructions differ in how they
# write and start the proxy, not in this.
callgrind_count() {
    local pid=$1 port=$2 out=$3 key1=$4 key2=$5 i requests totals mem instructions misses
    # Under valgrind, HAProxy takes about 10 s to start (its CA store, Lua).
    for i in $(seq 1 600); do
        if curl -sf -o /dev/null -H 'X-Bench: wrk' "http://127.0.0.1:$port/ready"; then break; fi
        if [ "$i" = 600 ]; then echo "${0##*/}: $key1 $key2 did not answer under valgrind" >&2; exit 1; fi
        sleep 0.2
    done
    callgrind_window "$pid" "http://127.0.0.1:$port" 1000 "$requests_counted" "$out.h2load" \
        --h1 -c "$callgrind_conns" -t 1 -H 'X-Bench: wrk'
    requests=$requests_counted
    totals=$(awk '/^totals:/ { print $2 }' "$out.1")
    mem=$(callgrind_annotate --threshold=100 --auto=no "$out.1" |
        awk '/__mem(cpy|move|set)/ { gsub(",", "", $1); n += $1 } END { print n + 0 }')
    instructions=$((totals / requests))
    mem=$((mem / requests))
    misses=$(callgrind_misses "$out.1" "$requests")
    printf '%s\t%s\t%s\t%s\t%s\n' "$key1" "$key2" "$instructions" "$mem" "${misses:--}" >>"$work/instructions.tsv"
    echo "  $key1 $key2: $instructions instructions/request, $mem in mem*${misses:+, L1 misses i/d-read/d-write $misses}" >&2
}

# callgrind_misses OUT REQUESTS: the simulated L1 misses per request of a callgrind profile made
# with `--cache-sim=yes` (CALLGRIND_ARGS), as "instruction/data-read/data-write" (I1mr/D1mr/D1mw
# of its totals); nothing when the profile has no cache simulation.
callgrind_misses() {
    awk -v n="$2" '
        /^events:/ { for (i = 2; i <= NF; i++) col[$i] = i }
        /^totals:/ {
            if (col["I1mr"] && col["D1mr"] && col["D1mw"])
                printf "%d/%d/%d\n", $col["I1mr"] / n, $col["D1mr"] / n, $col["D1mw"] / n
        }' "$1"
}

# write_bench_haproxy_cfg FILE PORT AGENT_PORT SPOE_CONF SCENARIO: the haproxy.cfg of the
# HAProxy-driven benchmarks (gateway.sh, agent-haproxy.sh, flamegraph.sh), one file for both
# proxies: `nbthread 2`, a frontend on 127.0.0.1:PORT that answers itself with a 200 (no backend
# is measured), the agent in backend `agents`. SCENARIO: c50-spoe or c1 (SPOE on every request
# through SPOE_CONF; a set error variable or a missing echo gives a 500, which wrk counts as
# non-2xx), c50-spoe-log (the same with the access log on: `log stdout format raw local0`,
# `log global`, `option httplog`), or c50-nospoe / c1-nospoe (no filter: the HTTP path alone), or
# c50-track-nospoe (no filter; rate limiting: a stick table, `track-sc0 src` and a deny on
# `sc_http_req_rate(0)` that never matches, on every request), or c50-backend-nospoe (no filter;
# the request goes to `backend app`, `balance roundrobin` over two servers at ORIGIN_PORT, the
# sixth argument: a server chosen, a server connection reused, the response relayed).
write_bench_haproxy_cfg() {
    local file=$1 port=$2 agent_port=$3 spoe_conf=$4 scenario=$5 origin_port=${6:-} filter="" checks="" global_log="" defaults_log=""
    local answer='    http-request return status 200 content-type text/plain string "ok"' backend=""
    case $scenario in
        *-backend-nospoe)
            answer='    default_backend app'
            backend="backend app
    balance roundrobin
    server s1 127.0.0.1:$origin_port
    server s2 127.0.0.1:$origin_port"
            ;;
        *-track-nospoe)
            checks='    stick-table type ip size 100k expire 30s store http_req_rate(10s)
    http-request track-sc0 src
    http-request deny deny_status 429 if { sc_http_req_rate(0) gt 100000000 }'
            ;;
        *-nospoe) ;;
        *)
            filter="    filter spoe engine bench config $spoe_conf"
            # A SPOE error or a missing echo turns into a 500, which wrk counts as non-2xx.
            checks='    http-request return status 500 content-type text/plain string "spoe error" if { var(txn.bench.err) -m found }
    http-request return status 500 content-type text/plain string "no echo" unless { var(txn.bench.hdr) -m str wrk }'
            ;;
    esac
    if [ "$scenario" = c50-spoe-log ]; then
        global_log="    log stdout format raw local0"
        defaults_log="    log global
    option httplog"
    fi
    cat >"$file" <<EOF
global
    nbthread 2
    maxconn 4096
$global_log
defaults
    mode http
$defaults_log
    timeout connect 1s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:$port
$filter
$checks
$answer
$backend
backend agents
    mode tcp
    server a 127.0.0.1:$agent_port
EOF
}

# callgrind_command PID URL OPTION: sends `callgrind_control OPTION` to a proxy running under
# valgrind's callgrind and waits for its answer. Valgrind reads the command when the process runs,
# so an idle proxy is sent single requests to URL (curl, certificates not checked) until it has
# answered (each adds one request to the counted window).
callgrind_command() {
    local pid=$1 url=$2 option=$3 ctl i
    callgrind_control "$option" "$pid" >/dev/null &
    ctl=$!
    pids+=("$ctl")
    for i in $(seq 1 600); do
        kill -0 "$ctl" 2>/dev/null || break
        curl -sk -o /dev/null "$url" || true
        sleep 0.1
    done
    wait "$ctl"
    forget_pid "$ctl"
}

# callgrind_window PID BASE_URL WARM REQUESTS OUT H2LOAD_ARGS...: the counted window of a proxy
# running under callgrind: WARM requests to BASE_URL/warm, counters zeroed, REQUESTS requests to
# BASE_URL/bench (h2load's report in OUT), counters dumped, the proxy stopped; exits unless every
# counted request was answered 2xx.
callgrind_window() {
    local pid=$1 base=$2 warm=$3 requests=$4 out=$5 answered
    shift 5
    h2load -n "$warm" "$@" "$base/warm" >/dev/null
    callgrind_command "$pid" "$base/poke" --zero
    h2load -n "$requests" "$@" "$base/bench" >"$out"
    callgrind_command "$pid" "$base/poke" --dump
    stop_pid "$pid"
    answered=$(awk '/^status codes:/ { print $3 }' "$out")
    if [ "$answered" != "$requests" ]; then
        echo "${0##*/}: $answered of $requests requests answered 2xx ($out)" >&2
        exit 1
    fi
}

# callgrind_by_crate OUT REQUESTS: the self instructions of a callgrind profile per request, by
# where the code comes from: the crate of the source file the instructions were compiled from
# (inlined code counts for the crate it was inlined from), our crates by name, the Rust standard
# library, libc and the allocator, and valgrind's memcpy/memmove/memset apart (it counts each
# byte a `rep movsb` moves as one instruction); largest first, as "share<TAB>count<TAB>origin".
# (Read from the profile itself: callgrind_annotate 3.19 adds callees' costs here.)
callgrind_by_crate() {
    awk -v n="$2" '
        function name(kind, v,    id) {
            if (match(v, /^\([0-9]+\)/)) {
                id = substr(v, 2, RLENGTH - 2); v = substr(v, RLENGTH + 1); sub(/^ /, "", v)
                if (v != "") names[kind, id] = v; else v = names[kind, id]
            }
            return v
        }
        function origin(f, fun,    o) {
            if (fun ~ /__mem(cpy|move|set)/) return "memcpy/memmove/memset"
            if (f == "???") { o = ob; sub(/.*\//, "", o); sub(/\.so.*/, "", o); return o " (no line tables)" }
            if (match(f, /(registry\/src\/[^\/]+|vendor|git\/checkouts\/[^\/]+)\/[A-Za-z0-9_-]+/)) {
                o = substr(f, RSTART, RLENGTH); sub(/.*\//, "", o); sub(/-[0-9][0-9.]*[-a-z0-9.]*$/, "", o)
                return o
            }
            if (match(f, /\/(spoe|spop|spoa)[a-z-]*\/src\//)) { o = substr(f, RSTART + 1, RLENGTH - 6); return o }
            if (f ~ /\/rustc\/|library\/(core|alloc|std)\//) return "rust std"
            if (f ~ /jemalloc|malloc/ || fun ~ /malloc|free|_rjem_/) return "allocator"
            if (fun ~ /^(SSL|ssl|tls|EVP|evp|CRYPTO|OPENSSL|aesni|gcm|sha|BN|bn_|ossl|ecp_)/) return "openssl"
            if (f ~ /\.\/|sysdeps|libc|nptl/) return "libc"
            return "other (" (f == "" ? "?" : f) ")"
        }
        /^ob=/ { ob = name("o", substr($0, 4)); next }
        /^cob=/ { name("o", substr($0, 5)); next }
        /^fl=/ { fl = name("f", substr($0, 4)); file = fl; next }
        /^f[ie]=/ { file = name("f", substr($0, 4)); next }
        /^fn=/ { fun = name("n", substr($0, 4)); file = fl; next }
        /^cf[ile]=/ { name("f", substr($0, 5)); next }
        /^cfn=/ { name("n", substr($0, 5)); next }
        /^calls=/ { skip = 1; next }
        /^[0-9+*-]/ {
            if (skip) { skip = 0; next }
            c = $2 + 0; self[origin(file, fun)] += c; total += c
        }
        END { for (o in self) if (self[o] / total >= 0.002) printf "%.3f\t%d\t%s\n", self[o] / total, self[o] / n, o }
    ' "$1" | sort -rn
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits (at most 10 s) until 127.0.0.1:PORT accepts connections.
wait_port() {
    local port=$1 i
    for i in $(seq 1 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "${0##*/}: nothing listening on 127.0.0.1:$port after 10 s" >&2
    return 1
}

# utime + stime of a process (all its threads), in clock ticks. Fields 14 and 15 of
# /proc/PID/stat; the command name (field 2) may contain spaces, so cut after its ')'.
cpu_ticks() {
    local stat
    stat=$(<"/proc/$1/stat")
    stat=${stat##*) }
    awk '{ print $12 + $13 }' <<<"$stat"
}
# sys_ticks PID: the kernel part of cpu_ticks (stime).
sys_ticks() {
    local stat
    stat=$(<"/proc/$1/stat")
    stat=${stat##*) }
    awk '{ print $13 }' <<<"$stat"
}
clk_tck=$(getconf CLK_TCK)

# wrk latency ("850.12us", "1.23ms", "1.02s") in milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000
        printf "%.3f", n
    }'
}

# wrk_figures FILE: "requests req/s avg_ms p50_ms p99_ms errors" of a `wrk --latency` output (errors:
# non-2xx responses plus socket errors).
wrk_figures() {
    local out=$1
    echo "$(awk '/ requests in / { print $1 }' "$out")" \
        "$(awk '/^Requests\/sec:/ { print $2 }' "$out")" \
        "$(to_ms "$(awk '$1 == "Latency" && NF > 2 { print $2; exit }' "$out")")" \
        "$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")" \
        "$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")" \
        "$(awk '/Non-2xx or 3xx responses:/ { n += $NF } /Socket errors:/ { gsub(",", ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$out")"
}

# start_echo_agent BIN PORT LOG [ARGS...]: starts `BIN agent --example echo` on 127.0.0.1:PORT and
# waits until it listens; sets agent_pid.
start_echo_agent() {
    local bin=$1 port=$2 log=$3
    shift 3
    "$bin" agent --listen "127.0.0.1:$port" --example echo "$@" >"$log" 2>&1 &
    agent_pid=$!
    pids+=("$agent_pid")
    wait_port "$port"
}

# start_origin HAPROXY_BIN PORT DIR: the server of the *-backend-nospoe scenarios, an HAProxy 2.6
# with one thread that answers every request itself with a 200 on 127.0.0.1:PORT (its config
# in DIR/origin.cfg); not measured, the same for both proxies.
start_origin() {
    local bin=$1 port=$2 dir=$3
    cat >"$dir/origin.cfg" <<EOF
global
    nbthread 1
    maxconn 4096
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
frontend origin
    bind 127.0.0.1:$port
    http-request return status 200 content-type text/plain string "ok"
EOF
    "$bin" -db -f "$dir/origin.cfg" >"$dir/origin.log" 2>&1 &
    pids+=("$!")
    wait_port "$port"
}

# An awk function for the summary tables: the median of column `col` over the rows kept for
# `key` (`rows[key]` of them, in `cell[key, row, col]`). Prepend it to a program:
# awk -F'\t' "$AWK_MEDIAN"'{ ... }'
AWK_MEDIAN='
    function median(key, col,   n, i, j, t, v) {
        n = 0
        for (i = 1; i <= rows[key]; i++) v[++n] = cell[key, i, col]
        for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) {
            t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
        }
        return v[int((n + 1) / 2)]
    }
'
