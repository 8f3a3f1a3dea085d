#!/usr/bin/env bash
# TLS and HTTP/2 to clients, gateway vs HAProxy 2.6: the same haproxy.cfg (`bind ... ssl crt
# bench.pem alpn h2,http/1.1`, ECDSA P-256 certificate generated here; SPOE on every request,
# answered by `target/release/spoe agent --example echo`; the frontend answers itself with
# `http-request return`) run by HAProxy and by `target/release/spoe gateway`, in turn.
#
#   full        full TLS handshakes per second: `openssl s_time -new` (no resumption), 2 clients
#   resumed     resumed handshakes per second: `openssl s_time -reuse -tls1_2` (session tickets),
#               2 clients; TLS 1.2 because s_time reuses its session before a TLS 1.3 ticket
#               arrives (with TLS 1.3 neither proxy resumes: every handshake is a full one). The
#               share of handshakes that did resume (s_time's `r` marks) is printed beside.
#   h2          HTTP/2 over TLS with SPOE on every request: `h2load -c 10 -m 10 -D $DURATION`
#               after a second of the same as warm-up; the `h2-kernel` line is the kernel part
#               (stime) of its CPU per request
#   h1          HTTP/1.1 over TLS with SPOE: `wrk -t2 -c50 -d$DURATION https://...`
#   idle        KiB of RSS per idle TLS connection (HTTP/1.1, after one request), per idle
#               HTTP/2 connection (after one request) and per connection stalled in its TLS
#               handshake (a partial ClientHello): bench/tls_idle.py, $IDLE connections.
#               IDLE_PROTOS (default "h1 h2 stalled") runs only some, in that order: each
#               figure is what the process's RSS grew, so one measured first in a fresh
#               process is what its connections take (with the process's first allocations;
#               the gateway's moves by 0.2 KiB between runs: for A/B), while one measured
#               after the others also reuses what the allocator kept of them (it moves by a
#               KiB between runs; HAProxy's pools, filled by the first, make its figure
#               four times smaller after them)
# For each: the rate, and the proxy's CPU per operation (utime + stime from /proc).
#
# MEASURE=instructions (or both): instead of (or besides) the timed scenarios, the user-space
# instructions per HTTP/2 request of each proxy, exactly: each runs under valgrind's callgrind
# with `nbthread 1` (valgrind runs one thread at a time; a second thread adds only its spinning),
# the counters are zeroed after a warm-up (h2load -n 2000) and dumped after REQUESTS requests
# (`h2load -n REQUESTS -c 10 -m 10`, over TLS with SPOE, as the h2 scenario), so the figure does
# not move with the machine's load. Printed with each proxy's instructions by origin (crate,
# libc, memcpy). The agent runs outside valgrind and is not counted. TLS setup is counted once
# per connection (10 in REQUESTS requests).
#
# Usage: bench/tls.sh   (DURATION=10s, IDLE=1000, SKIP_BUILD=1 to use the built spoe as is,
#                        SCENARIOS="h2 idle" to run only some of: handshakes h2 h1 idle,
#                        PROFILE=measure to build and run target/measure/spoe (release without
#                        fat LTO: minutes to build, for A/B instruction counts; default release),
#                        SPOE_BIN=path to measure another build of `spoe`,
#                        VARIANT_BIN=path to measure a second build as a third proxy, `variant`,
#                        after the gateway (its instructions and CPU against both in one run),
#                        MEASURE=cpu|instructions|both (cpu), REQUESTS=10000 for instructions,
#                        KEEP_WORK=1 to keep the callgrind profiles, CALLGRIND_ARGS to add
#                        valgrind options: `--cache-sim=yes` for the simulated cache misses
#                        (L1 instruction/data-read/data-write misses per request, printed),
#                        `--dump-instr=yes` for bench/atomics.py (atomics per request),
#                        EVENTS=1 to count the h2 scenario's kernel events per request with
#                        `perf stat -p` (system calls by name, context switches, wake-ups,
#                        softirqs; every thread of the proxy), EVENTS=strace for the system-call
#                        mix (`strace -f -c`, which slows the proxy down))
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
duration=${DURATION:-10s}
secs=${duration%s}
idle=${IDLE:-1000}
scenarios=" ${SCENARIOS:-handshakes h2 h1 idle} "
wanted() { [[ $scenarios == *" $1 "* ]]; }
work=$(mktemp -d -t spoe-bench-tls.XXXXXX)
# shellcheck source=bench/lib.sh
source bench/lib.sh

command -v h2load >/dev/null || apt_install nghttp2-client
command -v wrk >/dev/null || apt_install wrk
haproxy=$(command -v haproxy || echo /usr/sbin/haproxy)
[ -x "$haproxy" ] || apt_install haproxy
read_measure
requests_counted=${REQUESTS:-10000}
if [ "$measure_what" != cpu ]; then
    command -v valgrind >/dev/null || apt_install valgrind
    command -v curl >/dev/null || apt_install curl
fi
profile=${PROFILE:-release}
[ "${SKIP_BUILD:-0}" = 1 ] || cargo build --profile "$profile" --locked -p spoe-cli
spoe=${SPOE_BIN:-$root/target/$profile/spoe}
variant_spoe=${VARIANT_BIN:-}
proxies="haproxy gateway${variant_spoe:+ variant}"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=bench.example -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
cat "$work/cert.pem" "$work/key.pem" >"$work/bench.pem"
write_bench_spoe_conf "$work/spoe.conf"

agent_port=$(free_port)
"$spoe" agent --listen "127.0.0.1:$agent_port" --example echo >"$work/agent.log" 2>&1 &
pids+=($!)
wait_port "$agent_port"

config() { # PORT [NBTHREAD]
    cat <<EOF2
global
    maxconn 8000
${2:+    nbthread $2}
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:$1 ssl crt $work/bench.pem alpn h2,http/1.1
    filter spoe engine bench config $work/spoe.conf
    http-request return status 200 content-type text/plain string ok
backend agents
    mode tcp
    server a1 127.0.0.1:$agent_port
EOF2
}

results=$work/results.tsv
: >"$results"
: >"$work/events.tsv"
events=${EVENTS:-0}
perf_events=(-e raw_syscalls:sys_enter,context-switches,cpu-migrations,sched:sched_wakeup,sched:sched_switch,page-faults,irq:softirq_entry
    -e syscalls:sys_enter_recvfrom,syscalls:sys_enter_read,syscalls:sys_enter_sendto,syscalls:sys_enter_writev,syscalls:sys_enter_write,syscalls:sys_enter_sendmsg,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_futex
    -e syscalls:sys_exit_recvfrom --filter 'ret == -11' -e syscalls:sys_exit_read --filter 'ret == -11')

# start_proxy NAME CFG [WRAPPER...]: starts HAProxy or the gateway on CFG (under WRAPPER when
# given); sets proxy_pid.
start_proxy() {
    local name=$1 cfg=$2
    shift 2
    if [ "$name" = haproxy ]; then
        "$@" "$haproxy" -db -f "$cfg" >"$work/$name.log" 2>&1 &
    elif [ "$name" = variant ]; then
        RUST_LOG=warn "$@" "$variant_spoe" gateway -f "$cfg" >"$work/$name.log" 2>&1 &
    else
        RUST_LOG=warn "$@" "$spoe" gateway -f "$cfg" >"$work/$name.log" 2>&1 &
    fi
    proxy_pid=$!
    pids+=("$proxy_pid")
}

# count_instructions NAME: the user-space instructions per HTTP/2 request of one proxy (see the
# header), appended to the results; its instructions by origin in $work/NAME.crates.
count_instructions() {
    local name=$1 port out i totals url misses
    port=$(free_port)
    url="https://127.0.0.1:$port"
    out="$work/callgrind-$name.out"
    config "$port" 1 >"$work/$name-instructions.cfg"
    local extra=()
    read -r -a extra <<<"${CALLGRIND_ARGS:-}"
    start_proxy "$name" "$work/$name-instructions.cfg" valgrind --tool=callgrind --callgrind-out-file="$out" "${extra[@]}"
    # Under valgrind, HAProxy takes about 10 s to start (its CA store).
    for i in $(seq 1 600); do
        if curl -skf -o /dev/null "$url/ready"; then break; fi
        if [ "$i" = 600 ]; then echo "${0##*/}: $name did not answer under valgrind" >&2; exit 1; fi
        sleep 0.2
    done
    callgrind_window "$proxy_pid" "$url" 2000 "$requests_counted" "$work/h2load-$name.txt" -c 10 -m 10
    totals=$(awk '/^totals:/ { print $2 }' "$out.1")
    callgrind_by_crate "$out.1" "$requests_counted" >"$work/$name.crates"
    printf '%s\th2-instructions\t%s\t-\n' "$name" "$((totals / requests_counted))" >>"$results"
    misses=$(callgrind_misses "$out.1" "$requests_counted")
    if [ -n "$misses" ]; then printf '%s\th2-l1-misses-i/dr/dw\t%s\t-\n' "$name" "$misses" >>"$results"; fi
}

run_one() { # NAME COMMAND...
    local name=$1; shift
    port=$(free_port)
    config "$port" >"$work/$name.cfg"
    start_proxy "$name" "$work/$name.cfg"
    local pid=$proxy_pid
    wait_port "$port"
    local t0 t1 out rate
    # full and resumed handshakes (2 clients each)
    for mode in new reuse; do
        wanted handshakes || break
        t0=$(cpu_ticks "$pid")
        for c in 1 2; do
            if [ "$mode" = reuse ]; then version=-tls1_2; else version=; fi
            # shellcheck disable=SC2086 # $version is one option or none
            openssl s_time -connect "127.0.0.1:$port" -"$mode" $version -time "$secs" >"$work/$name.$mode.$c" 2>&1 &
            pids+=($!)
        done
        wait "${pids[@]: -2}" || true
        t1=$(cpu_ticks "$pid")
        rate=$(cat "$work/$name.$mode".? | awk '/connections in [0-9.]+ real seconds/ { n += $1; s = $4 } END { printf "%.0f", n / s }')
        printf '%s\t%s\t%s\t%s\n' "$name" "$mode" "$rate" \
            "$(awk -v d=$((t1 - t0)) -v n="$rate" -v s="$secs" -v hz="$clk_tck" 'BEGIN { printf "%.1f", d / hz * 1e6 / (n * s) }')" >>"$results"
        if [ "$mode" = reuse ]; then
            printf '%s\tresumed-share\t%s\t-\n' "$name" \
                "$(grep -hE '^[r*]+$' "$work/$name.reuse".? | tr -d '\n' | awk '{ n = length($0); r = gsub("r", ""); printf "%.2f", n ? r / n : 0 }')" >>"$results"
        fi
    done
    if wanted h2; then
        # Warm-up: the agent connections open, everything is paged in.
        h2load -c 10 -m 10 -D 1 "https://127.0.0.1:$port/" >/dev/null 2>&1
        t0=$(cpu_ticks "$pid")
        k0=$(sys_ticks "$pid")
        local counter=""
        case $events in
            1) perf stat -x, -o "$work/$name.events" "${perf_events[@]}" -p "$pid" &
               counter=$! ;;
            strace) strace -f -c -o "$work/$name.strace" -p "$pid" &
               counter=$! ;;
        esac
        if [ -n "$counter" ]; then pids+=("$counter"); fi
        out=$(h2load -c 10 -m 10 -D "$secs" "https://127.0.0.1:$port/" 2>&1)
        if [ -n "$counter" ]; then
            kill -INT "$counter" 2>/dev/null || true
            wait "$counter" 2>/dev/null || true
            forget_pid "$counter"
        fi
        t1=$(cpu_ticks "$pid")
        k1=$(sys_ticks "$pid")
        rate=$(awk '/^finished in/ { gsub(",", "", $4); print $4 }' <<<"$out")
        ok=$(awk '/^requests:/ { print $8 }' <<<"$out")
        printf '%s\th2\t%s\t%s\n' "$name" "$rate" \
            "$(awk -v d=$((t1 - t0)) -v n="$ok" -v hz="$clk_tck" 'BEGIN { printf "%.1f", d / hz * 1e6 / n }')" >>"$results"
        printf '%s\th2-kernel\t-\t%s\n' "$name" \
            "$(awk -v d=$((k1 - k0)) -v n="$ok" -v hz="$clk_tck" 'BEGIN { printf "%.1f", d / hz * 1e6 / n }')" >>"$results"
        if [ "$events" = 1 ]; then
            awk -F, -v name="$name" -v req="$ok" \
                'NF > 2 && $1 ~ /^[0-9]+$/ { ev = $3; sub(/^syscalls:sys_enter_/, "", ev)
                  if (sub(/^syscalls:sys_exit_/, "", ev)) ev = ev " EAGAIN"
                  printf "%s\t%s\t%.3f\n", name, ev, $1 / req }' \
                "$work/$name.events" >>"$work/events.tsv"
        elif [ "$events" = strace ]; then
            awk -v name="$name" -v req="$ok" \
                '$1 ~ /^[0-9.]+$/ && NF >= 5 { calls = $4; errs = (NF == 6) ? $5 : 0
                   printf "%s\t%s\t%.3f / %.3f\n", name, $NF, calls / req, errs / req }' \
                "$work/$name.strace" >>"$work/events.tsv"
        fi
    fi
    if wanted h1; then
        t0=$(cpu_ticks "$pid")
        out=$(run_wrk -t2 -c50 -d"$duration" "https://127.0.0.1:$port/" 2>&1)
        t1=$(cpu_ticks "$pid")
        rate=$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")
        total=$(awk '/requests in/ { print $1 }' <<<"$out")
        printf '%s\th1\t%s\t%s\n' "$name" "$rate" \
            "$(awk -v d=$((t1 - t0)) -v n="$total" -v hz="$clk_tck" 'BEGIN { printf "%.1f", d / hz * 1e6 / n }')" >>"$results"
    fi
    for proto in ${IDLE_PROTOS:-h1 h2 stalled}; do
        wanted idle || break
        read -r _ _ per < <(python3 bench/tls_idle.py "$port" "$pid" "$idle" "$proto")
        printf '%s\tidle-%s\t%s\t-\n' "$name" "$proto" "$per" >>"$results"
    done
    stop_pid "$pid"
}
ulimit -n 65536 2>/dev/null || true
if [ "$measure_what" != cpu ]; then
    for name in $proxies; do count_instructions "$name"; done
fi
if [ "$measure_what" != instructions ]; then
    for name in $proxies; do run_one "$name"; done
fi
echo "proxy	scenario	rate (per s; idle: KiB per connection; h2-instructions: per request)	proxy CPU us per op"
cat "$results"
if [ -s "$work/events.tsv" ]; then
    echo
    echo "HTTP/2 kernel events per request (EVENTS=$events; every thread of the proxy):"
    awk -F'\t' '{ if (!($2 in seen)) { seen[$2] = 1; evs[++n] = $2 } v[$1, $2] = $3 }
        END { print "| event | haproxy | gateway |"; print "|---|---|---|"
              for (i = 1; i <= n; i++) printf "| %s | %s | %s |\n", evs[i], v["haproxy", evs[i]], v["gateway", evs[i]] }' \
        "$work/events.tsv"
fi
if [ "$measure_what" != cpu ]; then
    awk -F'\t' '$2 == "h2-instructions" { n[$1] = $3 } END {
        printf "\nHTTP/2 instructions per request (callgrind, %s requests): gateway / HAProxy %.2fx", r, n["gateway"] / n["haproxy"]
        if (n["variant"] > 0) printf ", variant / HAProxy %.2fx, variant / gateway %.3fx", n["variant"] / n["haproxy"], n["variant"] / n["gateway"]
        printf "\n" }' \
        r="$requests_counted" "$results"
    for name in $proxies; do
        echo
        echo "$name: instructions per request by origin (self cost; share, count, origin)"
        head -n 15 "$work/$name.crates"
    done
fi
