#!/usr/bin/env bash
# Gateway vs HAProxy: the same haproxy.cfg (SPOE on every request: one message with src, path,
# method and a header, answered by `target/release/spoe agent --example echo`; the frontend then
# answers itself with `http-request return status 200`, so no backend is measured) run by HAProxy
# 2.6 and by `target/release/spoe gateway -f`, in turn, under the same wrk load.
#
# Scenarios, each run RUNS times (interleaved, proxies in turn), with the median per column:
#   c50      wrk -t2 -c50 -d$DURATION --latency: req/s, latency, proxy CPU per request, agent CPU
#            per message. Each proxy runs twice: without any `log` line (nothing is logged), and
#            logging (`-log`: `log stdout format raw local0` in `global`, `log global` and
#            `option httplog` in `defaults`, `log global` in the spoe-agent: an access line and an
#            SPOE line per request, stdout written to a file).
#            The same load without SPOE (the same file minus the `filter spoe` line and the rules
#            reading its variables) separates the HTTP path from the SPOE path.
#   c1       wrk -t1 -c1 -d$C1_DURATION --latency, with the filter and without it: what SPOE adds
#            to one request at one connection.
#
#   floor    with FLOOR=1, the c50 scenarios also run bench/floor (a standalone crate): the least
#            work any proxy can do per request here (read the request, NOTIFY and read the ACK,
#            write the response; no parsing, rules or variables). Its req/s bounds what any
#            proxy using the kernel's TCP can reach on this machine under this load.
#
# Usage: bench/gateway.sh [RUNS]        (default 3)
# Environment: DURATION (10s), C1_DURATION (5s), WRK_THREADS (2), WRK_CONNS (50), KEEP_WORK=1 to
# keep the temporary directory (configs, logs, wrk output), SKIP_BUILD=1 to use the existing
# target/release/spoe (and bench/floor's binary), FLOOR=1 (see above), SKIP_C1=1 to run only the
# c50 scenarios.
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

# ---- process bookkeeping ----
work=$(mktemp -d "${TMPDIR:-/tmp}/spoe-gateway-bench.XXXXXX")
. "$root/bench/lib.sh"

# ---- prerequisites ----
if ! command -v haproxy >/dev/null 2>&1 && [ ! -x /usr/sbin/haproxy ]; then apt_install haproxy; fi
if ! command -v wrk >/dev/null 2>&1; then apt_install wrk; fi
haproxy_bin=$(command -v haproxy || echo /usr/sbin/haproxy)
if [ "${SKIP_BUILD:-0}" != 1 ]; then cargo build --release --quiet -p spoe-cli; fi
spoe_bin=$root/target/release/spoe
floor_bin=$root/bench/floor/target/release/floor
if [ "${FLOOR:-0}" = 1 ] && [ "${SKIP_BUILD:-0}" != 1 ]; then
    cargo build --release --quiet --manifest-path "$root/bench/floor/Cargo.toml"
fi

# ---- configuration ----
agent_port=$(free_port)
write_bench_spoe_conf "$work/spoe.conf"
# The same agent with its SPOE line: `log global`.
sed 's/^    use-backend agents$/    use-backend agents\n    log global/' "$work/spoe.conf" >"$work/spoe-log.conf"

# write_config FILE PORT spoe|nospoe [log]
write_config() {
    local file=$1 port=$2 with=$3 logged=${4:-} filter="" checks="" glog="" dlog="" conf=spoe.conf
    if [ "$logged" = log ]; then
        glog="    log stdout format raw local0"
        dlog="    log global
    option httplog"
        conf=spoe-log.conf
    fi
    if [ "$with" = spoe ]; then
        filter="    filter spoe engine bench config $work/$conf"
        # A SPOE error or a missing echo turns into a 500, which wrk counts as non-2xx.
        checks='    http-request return status 500 content-type text/plain string "spoe error" if { var(txn.bench.err) -m found }
    http-request return status 500 content-type text/plain string "no echo" unless { var(txn.bench.hdr) -m str wrk }'
    fi
    cat >"$file" <<EOF
global
    nbthread 2
    maxconn 4096
$glog
defaults
    mode http
$dlog
    timeout connect 1s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:$port
$filter
$checks
    http-request return status 200 content-type text/plain string "ok"
backend agents
    mode tcp
    server a 127.0.0.1:$agent_port
EOF
    "$haproxy_bin" -c -q -f "$file"
    "$spoe_bin" check -f "$file" >/dev/null
}

# ---- the agent, shared by every run ----
"$spoe_bin" agent --listen "127.0.0.1:$agent_port" --example echo >"$work/agent.log" 2>&1 &
agent_pid=$!
pids+=("$agent_pid")
wait_port "$agent_port"

# start_proxy KIND CONFIG LOG PORT spoe|nospoe: starts HAProxy or the gateway on CONFIG (the floor
# on PORT); sets proxy_pid.
start_proxy() {
    local kind=$1 cfg=$2 log=$3 port=$4 with=$5
    case $kind in
        floor) "$floor_bin" "127.0.0.1:$port" "127.0.0.1:$agent_port" 2 "$with" >"$log" 2>&1 & ;;
        haproxy | haproxy-log) "$haproxy_bin" -db -f "$cfg" >"$log" 2>&1 & ;;
        gateway | gateway-log) "$spoe_bin" gateway -f "$cfg" >"$log" 2>&1 & ;;
        *) echo "unknown proxy $kind" >&2; return 1 ;;
    esac
    proxy_pid=$!
    pids+=("$proxy_pid")
}

# measure SCENARIO KIND RUN WITH THREADS CONNS DURATION: one measured run, one line in results.tsv.
measure() {
    local scenario=$1 kind=$2 run=$3 with=$4 threads=$5 conns=$6 dur=$7
    local port cfg out a0 a1 p0 p1
    port=$(free_port)
    cfg="$work/haproxy-$scenario-$with-$kind-$run.cfg"
    write_config "$cfg" "$port" "$with" "${kind#*-}"
    start_proxy "$kind" "$cfg" "$work/$kind-$scenario-$with-$run.log" "$port" "$with"
    wait_port "$port"
    local url="http://127.0.0.1:$port/bench"
    # Warm-up: opens the agent connections and pages everything in.
    run_wrk -t"$threads" -c"$conns" -d2s -H 'X-Bench: wrk' "$url" >/dev/null
    out="$work/wrk-$scenario-$with-$kind-$run.txt"
    a0=$(cpu_ticks "$agent_pid")
    p0=$(cpu_ticks "$proxy_pid")
    run_wrk -t"$threads" -c"$conns" -d"$dur" --latency -H 'X-Bench: wrk' "$url" >"$out"
    a1=$(cpu_ticks "$agent_pid")
    p1=$(cpu_ticks "$proxy_pid")
    stop_pid "$proxy_pid"
    # A logging run writes two lines per request: keep only its tail.
    local log="$work/$kind-$scenario-$with-$run.log"
    if [ "$(stat -c %s "$log")" -gt 1048576 ]; then
        tail -n 100 "$log" >"$log.tail" && mv "$log.tail" "$log"
    fi

    local requests rps avg p50 p99 errors
    requests=$(awk '/ requests in / { print $1 }' "$out")
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
    avg=$(to_ms "$(awk '$1 == "Latency" && NF > 2 { print $2; exit }' "$out")")
    p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
    p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
    errors=$(awk '/Non-2xx or 3xx responses:/ { n += $NF } /Socket errors:/ { gsub(",", ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$out")
    if [ "$with" = nospoe ]; then a1=$a0; fi
    awk -v sc="$scenario-$with" -v kind="$kind" -v run="$run" -v req="$requests" -v rps="$rps" \
        -v avg="$avg" -v p50="$p50" -v p99="$p99" -v err="$errors" -v dp=$((p1 - p0)) \
        -v da=$((a1 - a0)) -v tck="$clk_tck" 'BEGIN {
            printf "%s\t%s\t%s\t%d\t%.0f\t%.3f\t%.3f\t%.3f\t%.2f\t%.2f\t%d\n", sc, kind, run, req,
                rps, avg, p50, p99, dp / tck / req * 1e6, da / tck / req * 1e6, err
        }' >>"$work/results.tsv"
    echo "  $scenario-$with $kind run $run: $(tail -n1 "$work/results.tsv" | cut -f4-)" >&2
}

echo "gateway.sh: $runs run(s); c50: wrk -t$wrk_threads -c$wrk_conns -d$duration;" \
    "c1: wrk -t1 -c1 -d$c1_duration" >&2
: >"$work/results.tsv"
floor_kind=""
if [ "${FLOOR:-0}" = 1 ]; then floor_kind=floor; fi
for run in $(seq 1 "$runs"); do
    for kind in haproxy gateway haproxy-log gateway-log $floor_kind; do
        measure c50 "$kind" "$run" spoe "$wrk_threads" "$wrk_conns" "$duration"
    done
    for kind in haproxy gateway $floor_kind; do
        measure c50 "$kind" "$run" nospoe "$wrk_threads" "$wrk_conns" "$duration"
    done
    if [ "${SKIP_C1:-0}" = 1 ]; then continue; fi
    for kind in haproxy gateway; do
        for with in spoe nospoe; do
            measure c1 "$kind" "$run" "$with" 1 1 "$c1_duration"
        done
    done
done

# ---- report ----
echo
echo "Machine: $(nproc) CPUs, $(lscpu | awk -F': *' '/^Model name/ { print $2; exit }');" \
    "$("$haproxy_bin" -v | awk 'NR == 1 { print $1, $2, $3 }'); $(wrk --version 2>&1 | awk 'NR == 1 { print $1, $2 }')"
echo
echo "| scenario | proxy | run | requests | req/s | latency avg (ms) | p50 (ms) | p99 (ms) | proxy CPU/req (us) | agent CPU/msg (us) | errors |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 }' "$work/results.tsv"
echo
echo "Medians (per column, over the runs):"
echo
echo "| scenario | proxy | runs | requests | req/s | latency avg (ms) | p50 (ms) | p99 (ms) | proxy CPU/req (us) | agent CPU/msg (us) | errors |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
awk -F'\t' '
    function median(key, col,   n, i, j, t, v) {
        n = 0
        for (i = 1; i <= rows[key]; i++) v[++n] = cell[key, i, col]
        for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) {
            t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
        }
        return v[int((n + 1) / 2)]
    }
    {
        key = $1 SUBSEP $2
        if (!(key in rows)) { order[++nkeys] = key; sc[key] = $1; px[key] = $2 }
        r = ++rows[key]
        for (c = 4; c <= 11; c++) cell[key, r, c] = $c
        if ($3 > nruns) nruns = $3
        rps_run[$1, $2, $3] = $5
    }
    # Ratio of two proxies run by run (adjacent in time, so less exposed to the load of the host than
    # a ratio of medians), listed, then their median.
    function per_run(scenario, a, b,   i, n, j, t, v, out) {
        n = 0; out = ""
        for (i = 1; i <= nruns; i++) if (rps_run[scenario, b, i] > 0 && rps_run[scenario, a, i] != "") {
            v[++n] = rps_run[scenario, a, i] / rps_run[scenario, b, i]
            out = out sprintf("%.2f ", v[n])
        }
        if (n == 0) return "-"
        for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) {
            t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
        }
        return out sprintf("(median %.2f)", v[int((n + 1) / 2)])
    }
    END {
        for (k = 1; k <= nkeys; k++) {
            key = order[k]
            printf "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", sc[key], px[key],
                rows[key], median(key, 4), median(key, 5), median(key, 6), median(key, 7),
                median(key, 8), median(key, 9), median(key, 10), median(key, 11)
            med[sc[key], px[key], "rps"] = median(key, 5)
            med[sc[key], px[key], "avg"] = median(key, 6)
            med[sc[key], px[key], "p50"] = median(key, 7)
            med[sc[key], px[key], "cpu"] = median(key, 9)
        }
        printf "\nc50 req/s, gateway / HAProxy: %.2f (no log line), %.2f (logging)\n",
            med["c50-spoe", "gateway", "rps"] / med["c50-spoe", "haproxy", "rps"],
            med["c50-spoe", "gateway-log", "rps"] / med["c50-spoe", "haproxy-log", "rps"]
        printf "c50 CPU per logged request (2 lines) over an unlogged one (us): HAProxy %.2f, gateway %.2f\n",
            med["c50-spoe", "haproxy-log", "cpu"] - med["c50-spoe", "haproxy", "cpu"],
            med["c50-spoe", "gateway-log", "cpu"] - med["c50-spoe", "gateway", "cpu"]
        printf "c50 without SPOE, req/s gateway / HAProxy: %.2f\n",
            med["c50-nospoe", "gateway", "rps"] / med["c50-nospoe", "haproxy", "rps"]
        printf "c50 with SPOE, req/s gateway / HAProxy run by run: %s\n",
            per_run("c50-spoe", "gateway", "haproxy")
        if (med["c50-spoe", "floor", "rps"] > 0) {
            printf "c50 floor / HAProxy, req/s: %.2f with SPOE, %.2f without\n",
                med["c50-spoe", "floor", "rps"] / med["c50-spoe", "haproxy", "rps"],
                med["c50-nospoe", "floor", "rps"] / med["c50-nospoe", "haproxy", "rps"]
            printf "c50 with SPOE, run by run: floor / HAProxy %s; gateway / floor %s\n",
                per_run("c50-spoe", "floor", "haproxy"), per_run("c50-spoe", "gateway", "floor")
        }
        if (med["c1-spoe", "haproxy", "avg"] == "") exit
        printf "c1 latency SPOE adds (avg, p50; ms): HAProxy %.3f, %.3f; gateway %.3f, %.3f\n",
            med["c1-spoe", "haproxy", "avg"] - med["c1-nospoe", "haproxy", "avg"],
            med["c1-spoe", "haproxy", "p50"] - med["c1-nospoe", "haproxy", "p50"],
            med["c1-spoe", "gateway", "avg"] - med["c1-nospoe", "gateway", "avg"],
            med["c1-spoe", "gateway", "p50"] - med["c1-nospoe", "gateway", "p50"]
    }' "$work/results.tsv"
