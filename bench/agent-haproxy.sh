#!/usr/bin/env bash
# Agent behind HAProxy: HAProxy 2.6 runs SPOE on every request (one message, 4 args: src, path,
# method, a header) in front of `http-request return status 200`, driven by wrk. Once with our
# agent (`target/release/spoe agent --example echo`), once with the PyPI agent haproxyspoa
# (bench/haproxyspoa_echo.py, the same echo). Reports wrk's requests/s and latency, and the agent's
# CPU time per message: (utime + stime) delta of the agent process from /proc/PID/stat, in clock
# ticks, / CLK_TCK / requests (one NOTIFY per request).
#
# Usage: bench/agent-haproxy.sh [RUNS]        (default 3; the table adds the median of the runs)
# Environment: DURATION (wrk -d, default 10s), WRK_THREADS (2), WRK_CONNS (50), AGENTS ("spoe
# haproxyspoa"; also "spoe-t1": `spoe agent --threads 1`, one thread for every connection),
# KEEP_WORK=1 to keep the temporary directory (configs, logs, wrk output), SKIP_BUILD=1.
# A change is measured against the tree before it in one run, the runs interleaved: build the
# earlier tree's `spoe` (e.g. in a `git worktree`), then
# `AGENTS="base spoe" BASE_SPOE=/path/to/earlier/spoe bench/agent-haproxy.sh 5`.
#
# Everything listens on 127.0.0.1 on ports the kernel picks. The processes this script starts are
# stopped on exit (trap), and only those.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
runs=${1:-${RUNS:-3}}
duration=${DURATION:-10s}
wrk_threads=${WRK_THREADS:-2}
wrk_conns=${WRK_CONNS:-50}
agents=${AGENTS:-spoe haproxyspoa}
venv=$root/bench/.venv

# ---- process bookkeeping ----
work=$(mktemp -d "${TMPDIR:-/tmp}/spoe-bench.XXXXXX")
. "$root/bench/lib.sh"

# ---- prerequisites ----
haproxy_and_wrk
if [[ " $agents " == *" haproxyspoa "* ]]; then
    if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import haproxyspoa' 2>/dev/null; then
        echo "agent-haproxy.sh: installing haproxyspoa into $venv" >&2
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check haproxyspoa
    fi
fi
if [[ " $agents " == *" spoe"* ]] && [ "${SKIP_BUILD:-0}" != 1 ]; then
    cargo build --release --quiet -p spoe-cli
fi
spoe_bin=$root/target/release/spoe

write_configs() {
    write_bench_spoe_conf "$work/spoe.conf"
    write_bench_haproxy_cfg "$work/haproxy.cfg" "$1" "$2" "$work/spoe.conf" c50-spoe
    "$haproxy_bin" -c -q -f "$work/haproxy.cfg"
}

# One measured run of agent $1; appends a line to $work/results.tsv.
one_run() {
    local kind=$1 run=$2 agent_port fe_port agent_pid hap_pid a0 a1 h0 h1 out
    agent_port=$(free_port)
    fe_port=$(free_port)
    local log="$work/agent-$kind-$run.log"
    case $kind in
        spoe) start_echo_agent "$spoe_bin" "$agent_port" "$log" ;;
        spoe-t1) start_echo_agent "$spoe_bin" "$agent_port" "$log" --threads 1 ;;
        base) start_echo_agent "${BASE_SPOE:?AGENTS has base: set BASE_SPOE to the spoe binary to compare with}" \
                  "$agent_port" "$log" ;;
        haproxyspoa)
            "$venv/bin/python" "$root/bench/haproxyspoa_echo.py" "$agent_port" >"$log" 2>&1 &
            agent_pid=$!
            pids+=("$agent_pid")
            wait_port "$agent_port"
            ;;
        *) echo "unknown agent $kind" >&2; return 1 ;;
    esac

    write_configs "$fe_port" "$agent_port"
    "$haproxy_bin" -db -f "$work/haproxy.cfg" >"$work/haproxy-$kind-$run.log" 2>&1 &
    hap_pid=$!
    pids+=("$hap_pid")
    wait_port "$fe_port"

    local url="http://127.0.0.1:$fe_port/bench"
    # Warm-up: opens HAProxy's agent connections and pages everything in.
    run_wrk -t"$wrk_threads" -c"$wrk_conns" -d2s -H 'X-Bench: wrk' "$url" >/dev/null
    a0=$(cpu_ticks "$agent_pid")
    h0=$(cpu_ticks "$hap_pid")
    out="$work/wrk-$kind-$run.txt"
    run_wrk -t"$wrk_threads" -c"$wrk_conns" -d"$duration" --latency -H 'X-Bench: wrk' "$url" >"$out"
    a1=$(cpu_ticks "$agent_pid")
    h1=$(cpu_ticks "$hap_pid")
    stop_pid "$hap_pid"
    stop_pid "$agent_pid"

    local requests rps avg p50 p99 errors
    read -r requests rps avg p50 p99 errors < <(wrk_figures "$out")
    awk -v kind="$kind" -v run="$run" -v req="$requests" -v rps="$rps" -v avg="$avg" \
        -v p50="$p50" -v p99="$p99" -v err="$errors" -v da=$((a1 - a0)) -v dh=$((h1 - h0)) \
        -v tck="$clk_tck" 'BEGIN {
            printf "%s\t%s\t%d\t%.0f\t%.3f\t%.3f\t%.3f\t%.2f\t%.2f\t%d\n", kind, run, req, rps,
                avg, p50, p99, da / tck / req * 1e6, dh / tck / req * 1e6, err
        }' >>"$work/results.tsv"
    echo "  $kind run $run: $(tail -n1 "$work/results.tsv" | cut -f3-)" >&2
}

echo "agent-haproxy.sh: $runs run(s) per agent, wrk -t$wrk_threads -c$wrk_conns -d$duration" >&2
: >"$work/results.tsv"
for run in $(seq 1 "$runs"); do
    for kind in $agents; do one_run "$kind" "$run"; done
done

# ---- report ----
echo
echo "Machine: $(nproc) CPUs, $(lscpu | awk -F': *' '/^Model name/ { print $2; exit }');" \
    "$("$haproxy_bin" -v | awk 'NR == 1 { print $1, $2, $3 }'); wrk -t$wrk_threads -c$wrk_conns -d$duration"
echo
echo "| agent | run | requests | req/s | latency avg (ms) | p50 (ms) | p99 (ms) | agent CPU/msg (us) | HAProxy CPU/req (us) | errors |"
echo "|---|---|---|---|---|---|---|---|---|---|"
awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 }' "$work/results.tsv"
for kind in $agents; do
    # Median of each column over the runs (the lower middle one for an even count).
    awk -F'\t' -v kind="$kind" '
        function median(col,   n, i, j, t, v) {
            n = 0
            for (i = 1; i <= rows; i++) v[++n] = cell[i, col]
            for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) {
                t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
            }
            return v[int((n + 1) / 2)]
        }
        $1 == kind { rows++; for (c = 3; c <= 10; c++) cell[rows, c] = $c }
        END {
            if (rows == 0) exit
            printf "| **%s** | median of %d | %s | %s | %s | %s | %s | **%s** | %s | %s |\n", kind, rows,
                median(3), median(4), median(5), median(6), median(7), median(8), median(9), median(10)
        }' "$work/results.tsv"
done
