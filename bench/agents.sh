#!/usr/bin/env bash
# Agents driven over SPOP by `spoe bench` (the engine's own connection code):
# our `spoe agent --example echo` and the PyPI agent haproxyspoa
# (bench/haproxyspoa_echo.py, the same echo), at 1, 4 and 16 connections,
# with 1 and 16 messages in flight per connection. Each cell is the median of
# RUNS runs. Also reports the agent's CPU time per message (utime + stime of
# the agent process from /proc/PID/stat).
#
# Usage: bench/agents.sh [RUNS]     (default 3)
# Environment: DURATION (default 5s), AGENTS ("spoe haproxyspoa").
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
runs=${1:-${RUNS:-3}}
duration=${DURATION:-5s}
agents=${AGENTS:-spoe haproxyspoa}
venv=$root/bench/.venv

work=$(mktemp -d "${TMPDIR:-/tmp}/spoe-agents-bench.XXXXXX")
. "$root/bench/lib.sh"

if [[ " $agents " == *" haproxyspoa "* ]] && { [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import haproxyspoa' 2>/dev/null; }; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check haproxyspoa
fi
cargo build --release --quiet -p spoe-cli
spoe=$root/target/release/spoe

# start_agent NAME PORT: starts an agent in the background; sets agent_pid.
start_agent() {
    case $1 in
        spoe) "$spoe" agent --listen "127.0.0.1:$2" --example echo >/dev/null 2>&1 & ;;
        haproxyspoa) "$venv/bin/python" bench/haproxyspoa_echo.py "$2" >/dev/null 2>&1 & ;;
        *) echo "unknown agent $1" >&2; return 1 ;;
    esac
    agent_pid=$!
    pids+=("$agent_pid")
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "| agent | connections | in flight/conn | msgs/s | p50 us | p99 us | agent CPU us/msg |"
echo "|---|---|---|---|---|---|---|"
for agent in $agents; do
    for conns in 1 4 16; do
        for k in 1 16; do
            rates=(); p50s=(); p99s=(); cpus=()
            for _ in $(seq "$runs"); do
                port=$(free_port)
                start_agent "$agent" "$port"
                wait_port "$port"
                t0=$(cpu_ticks "$agent_pid")
                out=$("$spoe" bench --agent "127.0.0.1:$port" -c "$conns" -k "$k" -d "$duration" --json \
                    bench ip=ipv4:192.0.2.10 path=str:/index.html method=str:GET ua=str:curl/8.0)
                t1=$(cpu_ticks "$agent_pid")
                stop_pid "$agent_pid"
                read -r rate p50 p99 cpu < <(python3 -c "
import json, sys
b = json.loads(sys.argv[1]); n = max(b['messages'], 1)
print(b['msgs_per_sec'], b['latency_us']['p50'], b['latency_us']['p99'], round(($t1 - $t0) / $clk_tck / n * 1e6, 2))" "$out")
                rates+=("$rate"); p50s+=("$p50"); p99s+=("$p99"); cpus+=("$cpu")
            done
            echo "| $agent | $conns | $k | $(printf '%s\n' "${rates[@]}" | median) | $(printf '%s\n' "${p50s[@]}" | median) | $(printf '%s\n' "${p99s[@]}" | median) | $(printf '%s\n' "${cpus[@]}" | median) |"
        done
    done
done
