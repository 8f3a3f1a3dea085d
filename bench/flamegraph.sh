#!/usr/bin/env bash
# A flame graph of the gateway's (or the agent's) hot path, under the load of bench/gateway.sh.
#
#   gateway   `spoe gateway -f haproxy.cfg` as it runs by default (RUST_LOG as the caller sets it:
#             unset by default; RUST_LOG=warn leaves out the request lines on stderr), on the c50-spoe
#             file of bench/gateway.sh (SPOE on every request, answered by `spoe agent --example
#             echo`), or on another of its scenarios (SCENARIO=c50-spoe-log: the access log on);
#             wrk -t2 -c50. Writes bench/flamegraph-gateway-SCENARIO.svg.
#   agent     `spoe agent --example echo` behind HAProxy 2.6 on the same file (what
#             bench/agent-haproxy.sh measures). Writes bench/flamegraph-agent.svg.
#   haproxy   HAProxy 2.6 itself on the gateway's file, for its kernel and user shares (Debian's
#             binary has no debug information: its own frames are named by address or symbol
#             only). Writes the SVG to the work directory unless OUT is set.
#
# The binary is the release build with line tables (`cargo build --profile profiling -p
# spoe-cli`: the release profile, fat LTO included, plus `debug = "line-tables-only"`), so that
# frames inlined by LTO keep their names. `perf record -F $FREQ --call-graph dwarf` samples every
# thread of the process (kernel stacks included) for $SECONDS_PROFILED s after a 2 s warm-up;
# `inferno` (installed with `cargo install` when missing) folds and draws the stacks. The script
# also prints the self time by component (`perf report --no-children`, kernel, our crates, hyper,
# tokio, the allocator...) and keeps the folded stacks next to the SVG's name in the work
# directory with KEEP_WORK=1.
#
# Usage: bench/flamegraph.sh [gateway|agent|haproxy]        (default gateway)
# Environment: SCENARIO (c50-spoe), FREQ (999), SECONDS_PROFILED (5), WRK_THREADS (2),
# WRK_CONNS (50), SKIP_BUILD=1, KEEP_WORK=1, OUT (the SVG's path).
#
# Everything listens on 127.0.0.1 on ports the kernel picks. The processes this script starts are
# stopped on exit (trap), and only those.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
target=${1:-gateway}
scenario=${SCENARIO:-c50-spoe}
freq=${FREQ:-999}
seconds=${SECONDS_PROFILED:-5}
wrk_threads=${WRK_THREADS:-2}
wrk_conns=${WRK_CONNS:-50}
case $target in
    gateway) out=${OUT:-$root/bench/flamegraph-gateway-$scenario.svg} ;;
    agent) out=${OUT:-$root/bench/flamegraph-agent.svg} ;;
    haproxy) out=${OUT:-} ;;
    *) echo "usage: bench/flamegraph.sh [gateway|agent|haproxy]" >&2; exit 2 ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/spoe-flamegraph.XXXXXX")
if [ -z "$out" ]; then out=$work/flamegraph-haproxy-$scenario.svg; fi
. "$root/bench/lib.sh"

# ---- prerequisites ----
haproxy_and_wrk
if ! command -v perf >/dev/null 2>&1; then apt_install linux-perf; fi
if ! command -v inferno-flamegraph >/dev/null 2>&1; then
    if [ ! -x "$HOME/.cargo/bin/inferno-flamegraph" ]; then
        echo "flamegraph.sh: installing inferno from crates.io" >&2
        cargo install --locked --quiet inferno
    fi
    PATH=$HOME/.cargo/bin:$PATH
fi
if [ "${SKIP_BUILD:-0}" != 1 ]; then cargo build --profile profiling --quiet -p spoe-cli; fi
spoe_bin=$root/target/profiling/spoe

# ---- the agent and the proxy ----
agent_port=$(free_port)
port=$(free_port)
write_bench_spoe_conf "$work/spoe.conf"
write_bench_haproxy_cfg "$work/haproxy.cfg" "$port" "$agent_port" "$work/spoe.conf" "$scenario"
"$haproxy_bin" -c -q -f "$work/haproxy.cfg"
"$spoe_bin" check -f "$work/haproxy.cfg" >/dev/null

start_echo_agent "$spoe_bin" "$agent_port" "$work/agent.log"
if [ "$target" = gateway ]; then
    "$spoe_bin" gateway -f "$work/haproxy.cfg" >"$work/proxy.stdout" 2>"$work/proxy.stderr" &
else
    "$haproxy_bin" -db -f "$work/haproxy.cfg" >"$work/proxy.stdout" 2>"$work/proxy.stderr" &
fi
proxy_pid=$!
pids+=("$proxy_pid")
wait_port "$port"
profiled=$proxy_pid
if [ "$target" = agent ]; then profiled=$agent_pid; fi
if [ "$target" = haproxy ]; then profiled=$proxy_pid; fi

# ---- load and profile ----
url="http://127.0.0.1:$port/bench"
run_wrk -t"$wrk_threads" -c"$wrk_conns" -d2s -H 'X-Bench: wrk' "$url" >/dev/null
load_seconds=$((seconds + 2))
wrk -t"$wrk_threads" -c"$wrk_conns" -d"${load_seconds}s" -H 'X-Bench: wrk' "$url" >"$work/wrk.txt" &
wrk_pid=$!
pids+=("$wrk_pid")
sleep 1 # the load reaches its steady state before sampling starts (wrk's first second)
c0=$(cpu_ticks "$profiled")
perf record -q -F "$freq" --call-graph dwarf,32768 -p "$profiled" -o "$work/perf.data" \
    -- sleep "$seconds" 2>"$work/perf-record.log"
c1=$(cpu_ticks "$profiled")
wait "$wrk_pid"
forget_pid "$wrk_pid"
rps=$(awk '/^Requests\/sec:/ { print $2 }' "$work/wrk.txt")
errors=$(awk '/Non-2xx or 3xx responses:/ { n += $NF } END { print n + 0 }' "$work/wrk.txt")
echo "flamegraph.sh: $target ($scenario) under wrk -t$wrk_threads -c$wrk_conns: $rps req/s," \
    "$errors errors; CPU while sampled: $(awk -v d=$((c1 - c0)) -v t="$clk_tck" -v s="$seconds" \
        'BEGIN { printf "%.2f", d / t / s }') CPU-seconds per second" >&2

# ---- draw ----
perf script -i "$work/perf.data" 2>/dev/null >"$work/perf.script"
inferno-collapse-perf --all <"$work/perf.script" >"$work/folded.txt"
title="spoe $target ($scenario, wrk -t$wrk_threads -c$wrk_conns, $rps req/s): perf -F $freq, $seconds s"
inferno-flamegraph --title "$title" --width 1600 --minwidth 0.3 <"$work/folded.txt" >"$out"
echo "flamegraph.sh: wrote ${out#"$root"/}" >&2

# Self time by component: the leaf frame of each folded stack, by the crate its name starts with
# (frames inlined by LTO may be named without their path: then the first crate path in the name).
awk '
    function crate_of(name,   m) {
        sub(/^[<&]*(mut |dyn )*/, "", name)
        if (match(name, /^[A-Za-z_][A-Za-z0-9_]*::/)) return substr(name, 1, RLENGTH - 2)
        if (match(name, /[a-z_][a-z0-9_]*::/)) return substr(name, RSTART, RLENGTH - 2)
        return ""
    }
    {
        n = $NF; $NF = ""
        k = split($0, f, ";"); leaf = f[k]; sub(/ +$/, "", leaf)
        # Dropping a value counts for the crate of its type.
        name = leaf; sub(/^core::ptr::drop_in_place<[(&]*/, "", name)
        crate = crate_of(name)
        if (leaf ~ /vdso|clock_gettime/) c = "clock reads (vDSO)"
        else if (leaf ~ /_\[k\]$/) c = "kernel"
        else if (leaf ~ /^(_rjem_|je_|imalloc|ifree|isfree|free_|malloc_|cache_bin|te_|edata|arena_|tcache|extent|pac_|sz_|emap|rtree|large_|isalloc|sdalloc|tsd_|hpa_|sec_|eset|bin_|witness|nstime|decay|background_thread|malloc|free$|calloc|realloc)/) c = "allocator (jemalloc)"
        else if (leaf ~ /as core::fmt::|^core::fmt|^alloc::fmt|Formatter|pad_integral|core::fmt::rt::/) c = "core::fmt"
        else if (crate ~ /^(tracing|tracing_core|tracing_subscriber|tracing_appender|crossbeam_channel|crossbeam_utils|nu_ansi_term|sharded_slab)$/) c = "tracing (log lines)"
        else if (crate ~ /^(spoe_gateway|spoe_cli)$/) c = "the gateway (spoe_gateway)"
        else if (crate == "spoe") c = "the engine (spoe)"
        else if (crate == "spoa") c = "the agent runtime (spoa)"
        else if (crate == "spop") c = "the codec (spop)"
        else if (crate ~ /^(hyper|hyper_util|http|httparse|http_body|http_body_util|want|try_lock)$/) c = "hyper and http"
        else if (crate ~ /^(tokio|tokio_util|mio|futures_util|futures_core)$/) c = "tokio and mio"
        else if (leaf ~ /mem(cpy|move|set|chr|cmp)/) c = "mem* (libc)"
        else if (leaf ~ /clock_gettime|vdso/) c = "clock reads (vDSO)"
        else if (crate == "bytes") c = "bytes"
        else if (crate ~ /^(hashbrown|foldhash)$/ || leaf ~ /(core|std)::hash|[Ss]ip[Hh]asher|BuildHasher/) c = "hashing"
        else if (crate ~ /^(prometheus_client)$/) c = "metrics (prometheus_client)"
        else if (leaf ~ /utf8_validation|from_utf8/) c = "UTF-8 checks"
        else if (crate ~ /^(core|alloc|std)$/) c = "core, alloc, std (other)"
        else c = "other: " leaf
        total += n; by[c] += n
    }
    END {
        for (c in by) if (c ~ /^other: / && by[c] / total < 0.005) { by["other (each < 0.5%)"] += by[c]; delete by[c] }
        for (c in by) printf "%6.2f%%  %s\n", 100 * by[c] / total, c
    }' "$work/folded.txt" | sort -rn >"$work/components.txt"
echo
echo "Self time by component ($target, $scenario):"
cat "$work/components.txt"

# Kernel time by entry: the system call (or interrupt) through which each kernel sample came.
awk '
    {
        n = $NF; $NF = ""; sub(/ +$/, "")
        k = split($0, f, ";"); total += n
        if (f[k] !~ /_\[k\]$/ || f[k] ~ /vdso/) next
        e = ""
        for (i = 1; i < k && e == ""; i++) if (f[i] == "do_syscall_64_[k]") e = f[i + 1]
        for (i = 1; i <= k && e == ""; i++) if (f[i] ~ /_\[k\]$/) e = "no system call: " f[i]
        sub(/_\[k\]$/, "", e); sub(/^__(x64|do)_sys_/, "", e); sub(/^do_/, "", e)
        by[e] += n
    }
    END { for (e in by) if (by[e] / total >= 0.005) printf "%6.2f%%  %s\n", 100 * by[e] / total, e }
' "$work/folded.txt" | sort -rn >"$work/kernel.txt"
echo
echo "Kernel time by system call (share of all samples; each >= 0.5%):"
cat "$work/kernel.txt"

# Time by thread (the first frame of each folded stack is the thread's name).
echo
echo "By thread:"
awk '{ n = $NF; split($0, f, ";"); by[f[1]] += n; total += n }
    END { for (t in by) printf "%6.2f%%  %s\n", 100 * by[t] / total, t }' "$work/folded.txt" | sort -rn
