#!/usr/bin/env bash
# Gateway vs HAProxy: the same haproxy.cfg (SPOE on every request: one message with src, path,
# method and a header, answered by `target/release/spoe agent --example echo`; the frontend then
# answers itself with `http-request return status 200`, so no backend is measured) run by HAProxy
# 2.6 and by `target/release/spoe gateway -f`, in turn, under the same wrk load. The figure to
# read is CPU per request (utime + stime of the proxy process over the measured run / requests
# served): it holds on a machine shared with other jobs, where req/s does not.
#
# Scenarios, each run RUNS times (interleaved, proxies in turn), with the median per column and,
# per run, the gateway's figures over HAProxy's of the same run:
#   c50-spoe      wrk -t2 -c50 -d$DURATION --latency, no `log` line in the file (HAProxy logs
#                 nothing): req/s, latency, proxy CPU per request, agent CPU per message.
#   c50-spoe-log  the same with the access log on: `log stdout format raw local0` in `global`,
#                 `log global` and `option httplog` in `defaults` (stdout to a file).
#   c50-nospoe    the c50-spoe file without the `filter spoe` line and the rules reading its
#                 variables: the HTTP path alone.
#   c50-backend-nospoe  (not in the default SCENARIOS) the c50-nospoe file with the request sent
#                 to a backend (`balance roundrobin`, two servers) whose server is an HAProxy 2.6
#                 that answers itself (bench/lib.sh `start_origin`, not measured): the server's
#                 choice and the relay of its response.
#   c1            wrk -t1 -c1 -d$C1_DURATION --latency, with the filter and without it: what SPOE
#                 adds to one request at one connection.
#
# Proxies (PROXIES, default "haproxy gateway gateway-quiet gateway-alloc"):
#   haproxy        `haproxy -db -f haproxy.cfg`
#   gateway        `spoe gateway -f haproxy.cfg` as it runs by default (no RUST_LOG)
#   gateway-quiet  the same with RUST_LOG=warn: no request line on stderr whatever the file says
#   gateway-alloc  the `bench-alloc` build (`cargo build --release -p spoe-cli --features
#                  bench-alloc`, kept as target/PROFILE/spoe-bench-alloc): jemalloc wrapped in a
#                  counter; gives the allocations per request. Its CPU is not the default build's.
#   variant        the quiet gateway again, as `$VARIANT_BIN` (default: the same binary) with the
#                  variables of VARIANT_ENV in its environment (`_RJEM_MALLOC_CONF=dirty_decay_ms:0`,
#                  say): a change measured against gateway-quiet and HAProxy in the same run. Only
#                  when listed in PROXIES.
#   floor          with FLOOR=1: bench/floor (a standalone crate), the least work any proxy can do
#                  per request here (read the request, NOTIFY and read the ACK, write the
#                  response; no parsing, rules or variables). c50-spoe and c50-nospoe only.
# Each row also gives the log lines written per request (stdout and stderr together), so that
# the work both sides did can be compared, and the proxy's kernel CPU per request (its stime
# alone: mostly the TCP loopback both proxies pay alike, which no user-space change reduces).
#
# MEASURE=instructions (or both; default cpu) counts, for each scenario but c1 and each proxy but
# gateway-alloc and floor, the proxy's user-space instructions per request under valgrind's
# callgrind (REQUESTS requests after a warm-up, counted exactly whatever the load of the machine:
# bench/lib.sh says how), with memcpy/memmove/memset apart; the figure for A/B comparisons of a
# change on a shared machine (CALLGRIND_CONNS=1 where a scenario has a backend: bench/lib.sh says
# why). CALLGRIND_ARGS adds valgrind options (`--cache-sim=yes`: the
# simulated cache misses per request, in the `.callgrind.1` files kept with KEEP_WORK=1).
#
# EVENTS=1 also counts, during each measured run, the proxy's kernel events per request with
# `perf stat -p PID` (every thread of the process; software events and tracepoints, which count
# exactly whatever the load): system calls, context switches, migrations, wake-ups its threads
# made (`sched:sched_wakeup` counts in the waker: wrk, the agent or its own threads woken), page
# faults, softirqs entered while it ran, the calls of each I/O system call and the reads that
# returned EAGAIN, and the same for the agent while it serves that proxy ("agent (PROXY)"); and,
# with EVENTS=strace, the system call mix per request instead (`strace -f -c`, which slows the proxy
# down: the mix holds, its req/s and CPU do not). The events go to events.tsv and a table.
#
# Usage: bench/gateway.sh [RUNS]        (default 3)
# Environment: DURATION (10s), C1_DURATION (5s), WRK_THREADS (2), WRK_CONNS (50), PROXIES (above),
# SCENARIOS ("c50-spoe c50-spoe-log c50-nospoe c1"), KEEP_WORK=1 to keep the temporary directory
# (configs, logs, wrk output), SKIP_BUILD=1 to use the existing binaries, FLOOR=1 (see above),
# SKIP_C1=1 to leave out c1, SPOE_BIN / SPOE_ALLOC_BIN to measure other builds, AGENT_BIN (the
# `spoe` whose `agent --example echo` answers, default SPOE_BIN: an agent change measured under
# both proxies, run against the agent before it), AGENT_ARGS (more `spoe agent` options), VARIANT_BIN and
# VARIANT_ENV (see above), PROFILE (release; `measure` builds and runs target/measure/spoe, the
# quick build for A/B instruction counts), MEASURE and REQUESTS (10000; see above).
#
# Everything listens on 127.0.0.1 on ports the kernel picks. The processes this script starts are
# stopped on exit (trap), and only those.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
runs=${1:-${RUNS:-3}}
duration=${DURATION:-10s}
c1_duration=${C1_DURATION:-5s}
wrk_threads=${WRK_THREADS:-2}
wrk_conns=${WRK_CONNS:-50}
proxies=${PROXIES:-haproxy gateway gateway-quiet gateway-alloc}
scenarios=${SCENARIOS:-c50-spoe c50-spoe-log c50-nospoe c1}
if [ "${SKIP_C1:-0}" = 1 ]; then scenarios=${scenarios//c1/}; fi
if [ "${FLOOR:-0}" = 1 ]; then proxies="$proxies floor"; fi
events=${EVENTS:-0}
perf_events=(-e raw_syscalls:sys_enter,context-switches,cpu-migrations,sched:sched_wakeup,sched:sched_switch,page-faults,irq:softirq_entry
    -e syscalls:sys_enter_recvfrom,syscalls:sys_enter_read,syscalls:sys_enter_sendto,syscalls:sys_enter_writev,syscalls:sys_enter_write,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_futex
    -e syscalls:sys_exit_recvfrom --filter 'ret == -11' -e syscalls:sys_exit_read --filter 'ret == -11')

# ---- process bookkeeping ----
work=$(mktemp -d "${TMPDIR:-/tmp}/spoe-gateway-bench.XXXXXX")
. "$root/bench/lib.sh"
read_measure

# ---- prerequisites ----
haproxy_and_wrk
if [ "$measure_what" != cpu ]; then callgrind_prerequisites; fi
spoe_bin=${SPOE_BIN:-$profile_dir/spoe}
alloc_bin=${SPOE_ALLOC_BIN:-$profile_dir/spoe-bench-alloc}
variant_bin=${VARIANT_BIN:-$spoe_bin}
read -r -a variant_env <<<"${VARIANT_ENV:-}"
floor_bin=$root/bench/floor/target/release/floor
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    if [[ " $proxies " == *" gateway-alloc "* ]]; then
        # Built first: the default build below then leaves target/PROFILE/spoe as it should be.
        build_spoe --features bench-alloc
        cp "$profile_dir/spoe" "$alloc_bin"
    fi
    build_spoe
    if [[ " $proxies " == *" floor "* ]]; then
        cargo build --release --quiet --manifest-path "$root/bench/floor/Cargo.toml"
    fi
fi

# ---- configuration ----
agent_port=$(free_port)
write_bench_spoe_conf "$work/spoe.conf"
# The logged scenario's agent writes its SPOE line too (`log global`), on both proxies.
sed 's/^    use-backend agents$/    use-backend agents\n    log global/' "$work/spoe.conf" >"$work/spoe-log.conf"

# write_config FILE PORT SCENARIO: the scenario's haproxy.cfg, checked by both proxies.
write_config() {
    local conf=spoe.conf
    if [ "$3" = c50-spoe-log ]; then conf=spoe-log.conf; fi
    write_bench_haproxy_cfg "$1" "$2" "$agent_port" "$work/$conf" "$3" "$origin_port"
    "$haproxy_bin" -c -q -f "$1"
    "$spoe_bin" check -f "$1" >/dev/null
}

# ---- the agent, shared by every run; the origin server, when a scenario has a backend ----
read -r -a agent_args <<<"${AGENT_ARGS:-}"
start_echo_agent "${AGENT_BIN:-$spoe_bin}" "$agent_port" "$work/agent.log" "${agent_args[@]}"
origin_port=""
if [[ " $scenarios " == *-backend-nospoe* ]]; then
    origin_port=$(free_port)
    start_origin "$haproxy_bin" "$origin_port" "$work"
fi

# start_proxy KIND CONFIG OUT PORT SCENARIO: starts a proxy on CONFIG (the floor on PORT), its
# stdout in OUT.stdout and its stderr in OUT.stderr, under the command in `wrap` when set
# (callgrind); sets proxy_pid.
wrap=()
start_proxy() {
    local kind=$1 cfg=$2 out=$3 port=$4 scenario=$5 with=spoe
    if [[ $scenario == *-nospoe ]]; then with=nospoe; fi
    # `exec`: the background job is the proxy itself, whose CPU time is read from its pid.
    case $kind in
        floor) exec "${wrap[@]}" "$floor_bin" "127.0.0.1:$port" "127.0.0.1:$agent_port" 2 "$with" ;;
        haproxy) exec "${wrap[@]}" "$haproxy_bin" -db -f "$cfg" ;;
        gateway) exec env -u RUST_LOG "${wrap[@]}" "$spoe_bin" gateway -f "$cfg" ;;
        gateway-quiet) exec env RUST_LOG=warn "${wrap[@]}" "$spoe_bin" gateway -f "$cfg" ;;
        variant) exec env RUST_LOG=warn "${variant_env[@]}" "${wrap[@]}" "$variant_bin" gateway -f "$cfg" ;;
        gateway-alloc)
            exec env -u RUST_LOG SPOE_ALLOC_COUNTS="$out.allocs" "$alloc_bin" gateway -f "$cfg" ;;
        *) echo "unknown proxy $kind" >&2; exit 1 ;;
    esac >"$out.stdout" 2>"$out.stderr" &
    proxy_pid=$!
    pids+=("$proxy_pid")
}

# Lines in a proxy's stdout and stderr.
log_lines() { cat "$1.stdout" "$1.stderr" | wc -l; }

# The allocation count of a gateway-alloc process (first field of its counts file), once written.
allocations() {
    local i
    for i in $(seq 1 100); do
        if [ -s "$1.allocs" ]; then
            awk '{ print $1 }' "$1.allocs"
            return 0
        fi
        sleep 0.05 # a poll interval: the file appears within 50 ms of the process's start
    done
    echo "${0##*/}: no allocation counts in $1.allocs (is $alloc_bin the bench-alloc build?)" >&2
    return 1
}

# measure SCENARIO KIND RUN: one measured run, one line in results.tsv.
measure() {
    local scenario=$1 kind=$2 run=$3 threads=$wrk_threads conns=$wrk_conns dur=$duration
    if [[ $scenario == c1* ]]; then threads=1 conns=1 dur=$c1_duration; fi
    local port cfg out wout a0 a1 p0 p1 k0 k1 l0 l1 m0=0 m1=0 counted=0
    port=$(free_port)
    cfg="$work/haproxy-$scenario-$kind-$run.cfg"
    out="$work/$kind-$scenario-$run"
    write_config "$cfg" "$port" "$scenario"
    start_proxy "$kind" "$cfg" "$out" "$port" "$scenario"
    wait_port "$port"
    local url="http://127.0.0.1:$port/bench"
    # Warm-up: opens the agent connections and pages everything in.
    run_wrk -t"$threads" -c"$conns" -d2s -H 'X-Bench: wrk' "$url" >/dev/null
    wout="$work/wrk-$scenario-$kind-$run.txt"
    if [ "$kind" = gateway-alloc ]; then counted=1 m0=$(allocations "$out"); fi
    l0=$(log_lines "$out")
    a0=$(cpu_ticks "$agent_pid")
    p0=$(cpu_ticks "$proxy_pid")
    k0=$(sys_ticks "$proxy_pid")
    local counter="" agent_counter=""
    case $events in
        1) perf stat -x, -o "$out.events" "${perf_events[@]}" -p "$proxy_pid" &
           counter=$!
           if [[ $scenario != *nospoe ]]; then
               perf stat -x, -o "$out.agent-events" "${perf_events[@]}" -p "$agent_pid" &
               agent_counter=$!
               pids+=("$agent_counter")
           fi ;;
        strace) strace -f -c -o "$out.strace" -p "$proxy_pid" &
           counter=$! ;;
    esac
    if [ -n "$counter" ]; then pids+=("$counter"); fi
    run_wrk -t"$threads" -c"$conns" -d"$dur" --latency -H 'X-Bench: wrk' "$url" >"$wout"
    for c in $counter $agent_counter; do
        kill -INT "$c" 2>/dev/null || true
        wait "$c" 2>/dev/null || true
        forget_pid "$c"
    done
    a1=$(cpu_ticks "$agent_pid")
    p1=$(cpu_ticks "$proxy_pid")
    k1=$(sys_ticks "$proxy_pid")
    if [ "$kind" = gateway-alloc ]; then
        sleep 0.1 # two periods of the counter's writer: the count of the load's end
        m1=$(allocations "$out")
    fi
    stop_pid "$proxy_pid"
    l1=$(log_lines "$out")
    # Request lines fill the files: keep only their tails.
    local f
    for f in "$out.stdout" "$out.stderr"; do
        if [ "$(stat -c %s "$f")" -gt 1048576 ]; then tail -n 100 "$f" >"$f.tail" && mv "$f.tail" "$f"; fi
    done

    local requests rps avg p50 p99 errors
    read -r requests rps avg p50 p99 errors < <(wrk_figures "$wout")
    if [[ $scenario == *nospoe ]]; then a1=$a0; fi
    awk -v sc="$scenario" -v kind="$kind" -v run="$run" -v req="$requests" -v rps="$rps" \
        -v avg="$avg" -v p50="$p50" -v p99="$p99" -v err="$errors" -v dp=$((p1 - p0)) \
        -v da=$((a1 - a0)) -v tck="$clk_tck" -v dm=$((m1 - m0)) -v dl=$((l1 - l0)) \
        -v dk=$((k1 - k0)) -v counted="$counted" 'BEGIN {
            printf "%s\t%s\t%s\t%d\t%.0f\t%.3f\t%.3f\t%.3f\t%.2f\t%.2f\t%s\t%.2f\t%d\t%.2f\n", sc,
                kind, run, req, rps, avg, p50, p99, dp / tck / req * 1e6, da / tck / req * 1e6,
                counted ? sprintf("%.2f", dm / req) : "-", dl / req, err, dk / tck / req * 1e6
        }' >>"$work/results.tsv"
    echo "  $scenario $kind run $run: $(tail -n1 "$work/results.tsv" | cut -f4-)" >&2
    # Events per request: "scenario kind run event count/request" lines.
    if [ "$events" = 1 ]; then
        local f who
        for f in "$out.events" "$out.agent-events"; do
            [ -s "$f" ] || continue
            who=$kind
            if [[ $f == *agent-events ]]; then who="agent ($kind)"; fi
            awk -F, -v sc="$scenario" -v kind="$who" -v run="$run" -v req="$requests" \
                'NF > 2 && $1 ~ /^[0-9]+$/ { ev = $3; sub(/^syscalls:sys_enter_/, "", ev)
                  if (sub(/^syscalls:sys_exit_/, "", ev)) ev = ev " EAGAIN"
                  printf "%s\t%s\t%s\t%s\t%.3f\n", sc, kind, run, ev, $1 / req }' \
                "$f" >>"$work/events.tsv"
        done
    elif [ "$events" = strace ]; then
        awk -v sc="$scenario" -v kind="$kind" -v run="$run" -v req="$requests" \
            '$1 ~ /^[0-9.]+$/ && NF >= 5 { name = $NF; calls = $4; errs = (NF == 6) ? $5 : 0
               printf "%s\t%s\t%s\t%s\t%.3f\t%.3f\n", sc, kind, run, name, calls / req, errs / req }' \
            "$out.strace" >>"$work/events.tsv"
    fi
}

# count_instructions SCENARIO KIND: one callgrind count, one line in instructions.tsv.
count_instructions() {
    local scenario=$1 kind=$2 port cfg out
    port=$(free_port)
    cfg="$work/haproxy-$scenario-$kind-instructions.cfg"
    out="$work/$kind-$scenario-instructions"
    write_config "$cfg" "$port" "$scenario"
    read -r -a extra <<<"${CALLGRIND_ARGS:-}"
    wrap=(valgrind --tool=callgrind "--callgrind-out-file=$out.callgrind" "${extra[@]}")
    start_proxy "$kind" "$cfg" "$out" "$port" "$scenario"
    wrap=()
    callgrind_count "$proxy_pid" "$port" "$out.callgrind" "$scenario" "$kind"
}

: >"$work/instructions.tsv"
if [ "$measure_what" != cpu ]; then
    echo "gateway.sh: instructions of $scenarios; proxies: $proxies; $requests_counted requests" >&2
    for scenario in $scenarios; do
        for kind in $proxies; do
            case $scenario/$kind in
                c1/* | */floor | */gateway-alloc) continue ;;
                c50-spoe-log/gateway-quiet | c50-nospoe/gateway-quiet) continue ;;
                c50-backend-nospoe/gateway-quiet | c50-backend-nospoe/variant) continue ;;
                c50-spoe-log/variant | c50-nospoe/variant) continue ;;
            esac
            count_instructions "$scenario" "$kind"
        done
    done
    echo
    echo "User-space instructions per request (callgrind, $requests_counted requests, h2load --h1 -c$callgrind_conns;" \
        "load average $(cut -d' ' -f1-3 /proc/loadavg)):"
    echo
    # The last two columns are filled with CALLGRIND_ARGS=--cache-sim=yes: the simulated L1
    # misses per request (instruction/data-read/data-write) and the instruction misses over HAProxy's.
    echo "| scenario | proxy | instructions/req | of which memcpy/memmove/memset | without them | over HAProxy | without mem*, over HAProxy | L1 misses/req i/d-read/d-write | L1i misses over HAProxy |"
    echo "|---|---|---|---|---|---|---|---|---|"
    awk -F'\t' '
        { row[++n] = $0; all[$1, $2] = $3; bare[$1, $2] = $3 - $4; split($5, m, "/"); i1[$1, $2] = m[1] }
        END {
            for (i = 1; i <= n; i++) {
                split(row[i], f, "\t")
                h = all[f[1], "haproxy"]; hb = bare[f[1], "haproxy"]; hi = i1[f[1], "haproxy"]
                r = "-"; rb = "-"; ri = "-"
                if (h > 0) r = sprintf("%.2fx", f[3] / h)
                if (hb > 0) rb = sprintf("%.2fx", (f[3] - f[4]) / hb)
                if (hi > 0) ri = sprintf("%.2fx", i1[f[1], f[2]] / hi)
                printf "| %s | %s | %d | %d | %d | %s | %s | %s | %s |\n", f[1], f[2], f[3], f[4], f[3] - f[4], r, rb, f[5], ri
            }
        }' "$work/instructions.tsv"
    if [ "$measure_what" = instructions ]; then exit 0; fi
fi

echo "gateway.sh: $runs run(s) of $scenarios; proxies: $proxies;" \
    "c50: wrk -t$wrk_threads -c$wrk_conns -d$duration; c1: wrk -t1 -c1 -d$c1_duration" >&2
: >"$work/results.tsv"
: >"$work/events.tsv"
for run in $(seq 1 "$runs"); do
    for scenario in $scenarios; do
        for kind in $proxies; do
            # The floor has no log and no c1 form; RUST_LOG=warn would silence the access log the
            # file asks for; at one connection only the two proxies are compared.
            case $scenario/$kind in
                c50-spoe-log/floor | c50-spoe-log/gateway-quiet | c50-nospoe/gateway-quiet) continue ;;
                c50-backend-nospoe/floor | c50-backend-nospoe/gateway-quiet | c50-backend-nospoe/variant) continue ;;
                c50-spoe-log/variant | c50-nospoe/variant | c1/variant) continue ;;
                c1/floor | c1/gateway-quiet | c1/gateway-alloc) continue ;;
            esac
            if [ "$scenario" = c1 ]; then
                measure c1 "$kind" "$run"
                measure c1-nospoe "$kind" "$run"
            else
                measure "$scenario" "$kind" "$run"
            fi
        done
    done
done

# ---- report ----
echo
echo "Machine: $(nproc) CPUs, $(lscpu | awk -F': *' '/^Model name/ { print $2; exit }');" \
    "$("$haproxy_bin" -v | awk 'NR == 1 { print $1, $2, $3 }'); $(wrk --version 2>&1 | awk 'NR == 1 { print $1, $2 }');" \
    "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
columns="requests | req/s | latency avg (ms) | p50 (ms) | p99 (ms) | proxy CPU/req (us) | agent CPU/msg (us) | allocs/req | log lines/req | errors | proxy kernel CPU/req (us)"
echo
echo "| scenario | proxy | run | $columns |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14 }' "$work/results.tsv"
echo
echo "Medians (per column, over the runs):"
echo
echo "| scenario | proxy | runs | $columns |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
awk -F'\t' '
    function sort(v, n,   i, j, t) {
        for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) {
            t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
        }
    }
    function median(key, col,   n, i, v) {
        n = 0
        for (i = 1; i <= rows[key]; i++) v[++n] = cell[key, i, col]
        sort(v, n)
        return v[int((n + 1) / 2)]
    }
    {
        key = $1 SUBSEP $2
        if (!(key in rows)) { order[++nkeys] = key; sc[key] = $1; px[key] = $2 }
        r = ++rows[key]
        for (c = 4; c <= 14; c++) cell[key, r, c] = $c
        if ($3 > nruns) nruns = $3
        fig[$1, $2, $3, "rps"] = $5
        fig[$1, $2, $3, "cpu"] = $9
        fig[$1, $2, $3, "kernel"] = $14
    }
    # A proxy over HAProxy, run by run (adjacent in time, so less exposed to the load of the host
    # than a ratio of medians): the ratios, then their median and range.
    function per_run(scenario, a, what,   i, n, v, out) {
        n = 0; out = ""
        for (i = 1; i <= nruns; i++) {
            if (fig[scenario, "haproxy", i, what] > 0 && fig[scenario, a, i, what] != "") {
                v[++n] = fig[scenario, a, i, what] / fig[scenario, "haproxy", i, what]
                out = out sprintf("%.2f ", v[n])
            }
        }
        if (n == 0) return ""
        sort(v, n)
        return sprintf("%s(median %.2f, range %.2f-%.2f)", out, v[int((n + 1) / 2)], v[1], v[n])
    }
    END {
        for (k = 1; k <= nkeys; k++) {
            key = order[k]
            printf "| %s | %s | %d |", sc[key], px[key], rows[key]
            for (c = 4; c <= 14; c++) printf " %s |", median(key, c)
            printf "\n"
        }
        printf "\nOver HAProxy in the same run (CPU per request: lower is better; req/s: higher):\n\n"
        ns = split("c50-spoe c50-spoe-log c50-nospoe c50-backend-nospoe c1 c1-nospoe", scs, " ")
        np = split("gateway gateway-quiet variant floor", pxs, " ")
        for (s = 1; s <= ns; s++) for (p = 1; p <= np; p++) {
            cpu = per_run(scs[s], pxs[p], "cpu")
            if (cpu == "") continue
            printf "- %s, %s: CPU per request %s; req/s %s; kernel CPU per request %s\n", scs[s],
                pxs[p], cpu, per_run(scs[s], pxs[p], "rps"), per_run(scs[s], pxs[p], "kernel")
        }
    }' "$work/results.tsv"

if [ "$events" = 1 ]; then
    echo
    echo "Kernel events per request (perf stat -p, every thread of the proxy; medians over the runs;" \
        "EAGAIN: the calls of that name that returned it):"
    echo
    awk -F'\t' "$AWK_MEDIAN"'
        {
            if (!($2 in pseen)) { pseen[$2] = 1; pxs[++np] = $2 }
            if (!(($1, $4) in eseen)) { eseen[$1, $4] = 1; evs[++ne] = $1 SUBSEP $4 }
            key = $1 SUBSEP $4 SUBSEP $2
            r = ++rows[key]; cell[key, r, 1] = $5
        }
        END {
            line = "| scenario | event |"; sep = "|---|---|"
            for (p = 1; p <= np; p++) { line = line " " pxs[p] " |"; sep = sep "---|" }
            print line; print sep
            for (e = 1; e <= ne; e++) {
                split(evs[e], f, SUBSEP)
                line = "| " f[1] " | " f[2] " |"
                for (p = 1; p <= np; p++) {
                    key = evs[e] SUBSEP pxs[p]
                    line = line " " (key in rows ? median(key, 1) : "-") " |"
                }
                print line
            }
        }' "$work/events.tsv"
elif [ "$events" = strace ]; then
    echo
    echo "System calls per request (strace -f -c, every thread; calls / errors, medians over the runs):"
    echo
    echo "| scenario | proxy | system call | calls/req | errors/req |"
    echo "|---|---|---|---|---|"
    awk -F'\t' "$AWK_MEDIAN"'
        {
            key = $1 SUBSEP $2 SUBSEP $4
            if (!(key in seen)) { seen[key] = 1; order[++n] = key; sc[key] = $1; px[key] = $2; nm[key] = $4 }
            r = ++rows[key]; cell[key, r, 1] = $5; cell[key, r, 2] = $6
        }
        END {
            for (k = 1; k <= n; k++) {
                key = order[k]
                if (median(key, 1) + 0 >= 0.001) printf "| %s | %s | %s | %s | %s |\n", sc[key], px[key], nm[key], median(key, 1), median(key, 2)
            }
        }' "$work/events.tsv"
fi
