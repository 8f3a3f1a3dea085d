#!/usr/bin/env bash
# SpoeLayer vs HAProxy in front: what SPOE on every request costs an axum service, either as a
# layer inside it or as HAProxy 2.6 in front of it, with the same spoe.conf (bench/lib.sh: one
# message with src, path, method and a header) and the same agent
# (`target/release/spoe agent --example echo`), under the same wrk load.
#
# Three setups, each run RUNS times (interleaved), medians per column:
#   bare     wrk -> bench_server (axum, no SPOE)
#   layer    wrk -> bench_server with SpoeLayer -> agent
#   haproxy  wrk -> HAProxy (filter spoe, nbthread 2) -> agent; HAProxy forwards to a bare
#            bench_server
# Both SPOE setups answer 500 when the agent's answer is missing or failed (wrk counts errors).
#
# Loads: c50 = wrk -t2 -c50 -d$DURATION --latency (keep-alive, after a 2 s warm-up); c1 = wrk
# -t1 -c1 -d$C1_DURATION --latency (what SPOE adds to one request's latency).
# CPU per request = delta of utime + stime of a process over the run / wrk's request count.
# "Added CPU per request": layer = server(layer) - server(bare); HAProxy = HAProxy +
# server(behind HAProxy) - server(bare).
#
# Usage: bench/layer.sh [RUNS]   (default 3)
# Environment: DURATION (10s), C1_DURATION (5s), SKIP_BUILD=1 (use the existing release binaries),
# KEEP_WORK=1 (keep the temporary directory), SKIP_C1=1.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
runs=${1:-${RUNS:-3}}
duration=${DURATION:-10s}
c1_duration=${C1_DURATION:-5s}

work=$(mktemp -d "${TMPDIR:-/tmp}/spoe-layer-bench.XXXXXX")
. "$root/bench/lib.sh"

haproxy_and_wrk
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    cargo build --release --quiet --locked -p spoe-cli
    cargo build --release --quiet --locked -p spoe-examples --bin bench_server
fi
spoe_bin=$root/target/release/spoe
server_bin=$root/target/release/bench_server

agent_port=$(free_port)
write_bench_spoe_conf "$work/spoe.conf"
start_echo_agent "$spoe_bin" "$agent_port" "$work/agent.log"

# The bare server HAProxy forwards to, for every run.
backend_port=$(free_port)
"$server_bin" "127.0.0.1:$backend_port" bare >"$work/backend.log" 2>&1 &
backend_pid=$!
pids+=("$backend_pid")
wait_port "$backend_port"

write_haproxy_cfg() {
    cat >"$1" <<EOF
global
    nbthread 2
    maxconn 4096
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:$2
    filter spoe engine bench config $work/spoe.conf
    http-request return status 500 content-type text/plain string "spoe error" if { var(txn.bench.err) -m found }
    http-request return status 500 content-type text/plain string "no echo" unless { var(txn.bench.hdr) -m str wrk }
    default_backend app
backend app
    http-reuse always
    server s1 127.0.0.1:$backend_port
backend agents
    mode tcp
    server a 127.0.0.1:$agent_port
EOF
    "$haproxy_bin" -c -q -f "$1"
}

# measure LOAD SETUP RUN THREADS CONNS DURATION: one line in results.tsv.
measure() {
    local load=$1 setup=$2 run=$3 threads=$4 conns=$5 dur=$6
    local port pid cpu_pid out s0 s1 p0 p1 a0 a1 b0 b1
    port=$(free_port)
    case $setup in
        bare) "$server_bin" "127.0.0.1:$port" bare >"$work/$setup-$run.log" 2>&1 & ;;
        layer) RUST_LOG=warn "$server_bin" "127.0.0.1:$port" layer "127.0.0.1:$agent_port" \
            "$work/spoe.conf" >"$work/$setup-$run.log" 2>&1 & ;;
        haproxy)
            write_haproxy_cfg "$work/haproxy-$load-$run.cfg" "$port"
            "$haproxy_bin" -db -f "$work/haproxy-$load-$run.cfg" >"$work/$setup-$run.log" 2>&1 & ;;
    esac
    pid=$!
    pids+=("$pid")
    wait_port "$port"
    local url="http://127.0.0.1:$port/bench"
    run_wrk -t"$threads" -c"$conns" -d2s -H 'X-Bench: wrk' "$url" >/dev/null
    out="$work/wrk-$load-$setup-$run.txt"
    p0=$(cpu_ticks "$pid"); a0=$(cpu_ticks "$agent_pid"); b0=$(cpu_ticks "$backend_pid")
    run_wrk -t"$threads" -c"$conns" -d"$dur" --latency -H 'X-Bench: wrk' "$url" >"$out"
    p1=$(cpu_ticks "$pid"); a1=$(cpu_ticks "$agent_pid"); b1=$(cpu_ticks "$backend_pid")
    stop_pid "$pid"
    # The server's CPU: the process wrk talks to, or HAProxy's backend server behind it.
    local server_ticks=$((p1 - p0)) proxy_ticks=0
    if [ "$setup" = haproxy ]; then server_ticks=$((b1 - b0)); proxy_ticks=$((p1 - p0)); fi
    if [ "$setup" = bare ]; then a1=$a0; fi
    local requests rps avg p50 p99 errors
    requests=$(awk '/ requests in / { print $1 }' "$out")
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
    avg=$(to_ms "$(awk '$1 == "Latency" && NF > 2 { print $2; exit }' "$out")")
    p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
    p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
    errors=$(awk '/Non-2xx or 3xx responses:/ { n += $NF } /Socket errors:/ { gsub(",", ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$out")
    awk -v l="$load" -v s="$setup" -v run="$run" -v req="$requests" -v rps="$rps" -v avg="$avg" \
        -v p50="$p50" -v p99="$p99" -v err="$errors" -v ds="$server_ticks" -v dp="$proxy_ticks" \
        -v da=$((a1 - a0)) -v tck="$clk_tck" 'BEGIN {
            printf "%s\t%s\t%s\t%d\t%.0f\t%.3f\t%.3f\t%.3f\t%.2f\t%.2f\t%.2f\t%d\n", l, s, run, req,
                rps, avg, p50, p99, ds / tck / req * 1e6, dp / tck / req * 1e6,
                da / tck / req * 1e6, err
        }' >>"$work/results.tsv"
    echo "  $load $setup run $run: $(tail -n1 "$work/results.tsv" | cut -f4-)" >&2
}

echo "layer.sh: $runs run(s); c50: wrk -t2 -c50 -d$duration; c1: wrk -t1 -c1 -d$c1_duration" >&2
: >"$work/results.tsv"
for run in $(seq 1 "$runs"); do
    for setup in bare layer haproxy; do measure c50 "$setup" "$run" 2 50 "$duration"; done
    if [ "${SKIP_C1:-0}" = 1 ]; then continue; fi
    for setup in bare layer haproxy; do measure c1 "$setup" "$run" 1 1 "$c1_duration"; done
done

echo
echo "Machine: $(nproc) CPUs, $(lscpu | awk -F': *' '/^Model name/ { print $2; exit }');" \
    "$("$haproxy_bin" -v | awk 'NR == 1 { print $1, $2, $3 }'); $(wrk --version 2>&1 | awk 'NR == 1 { print $1, $2 }')"
echo
echo "| load | setup | run | requests | req/s | latency avg (ms) | p50 (ms) | p99 (ms) | server CPU/req (us) | HAProxy CPU/req (us) | agent CPU/msg (us) | errors |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 }' "$work/results.tsv"
echo
echo "Medians (per column, over the runs):"
echo
echo "| load | setup | runs | requests | req/s | latency avg (ms) | p50 (ms) | p99 (ms) | server CPU/req (us) | HAProxy CPU/req (us) | agent CPU/msg (us) | errors |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
awk -F'\t' "$AWK_MEDIAN"'
    {
        key = $1 SUBSEP $2
        if (!(key in rows)) { order[++nkeys] = key; ld[key] = $1; st[key] = $2 }
        r = ++rows[key]
        for (c = 4; c <= 12; c++) cell[key, r, c] = $c
    }
    END {
        for (k = 1; k <= nkeys; k++) {
            key = order[k]
            printf "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", ld[key], st[key],
                rows[key], median(key, 4), median(key, 5), median(key, 6), median(key, 7),
                median(key, 8), median(key, 9), median(key, 10), median(key, 11), median(key, 12)
            for (c = 4; c <= 12; c++) m[ld[key], st[key], c] = median(key, c)
        }
        bare = m["c50", "bare", 9]
        layer = m["c50", "layer", 9] - bare
        front = m["c50", "haproxy", 10] + m["c50", "haproxy", 9] - bare
        printf "\nc50 CPU added per request (us): layer %.2f, HAProxy in front %.2f (layer / HAProxy %.2f)\n",
            layer, front, (front > 0 ? layer / front : 0)
        printf "c50 req/s: bare %s, layer %s, HAProxy %s\n", m["c50", "bare", 5], m["c50", "layer", 5],
            m["c50", "haproxy", 5]
        if (m["c1", "bare", 6] == "") exit
        printf "c1 latency added (avg, p50; ms): layer %.3f, %.3f; HAProxy in front %.3f, %.3f\n",
            m["c1", "layer", 6] - m["c1", "bare", 6], m["c1", "layer", 7] - m["c1", "bare", 7],
            m["c1", "haproxy", 6] - m["c1", "bare", 6], m["c1", "haproxy", 7] - m["c1", "bare", 7]
    }' "$work/results.tsv"
