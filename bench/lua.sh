#!/usr/bin/env bash
# What an `http-request lua.*` action costs per request: HAProxy 2.6 (Lua 5.3) and
# `target/release/spoe gateway -f`, the same haproxy.cfg and the same Lua file, in turn, under
# the same wrk load. The action reads a header through `txn.sf`, sets a variable, and the
# frontend answers itself with it (`http-request return`), so no backend and no agent are
# measured. The same file without the `lua.tag` rule (the answer reads the header instead)
# gives each proxy's base; the difference is what the Lua action costs.
#
# Two measures, both ratios within one run:
# - CPU time per request (utime + stime of the proxy over a wrk run), RUNS runs alternated;
# - user-space instructions per request (MEASURE=instructions or both): each proxy runs under
#   valgrind's callgrind, which counts the instructions of all its threads exactly; the counters
#   are zeroed after a warm-up and dumped after REQUESTS requests (h2load, fixed count), so the
#   figure does not move with the load (runs agree within 1% for HAProxy, 3% for the gateway). It
#   counts no kernel work and no time spent waiting; with `NBTHREAD=2` it counts the spinning on
#   a lock as valgrind's one-thread-at-a-time scheduling happens to make it, so read it with
#   `NBTHREAD=1`. Valgrind counts every byte a `rep movsb` copies as one instruction, so the
#   table also gives the action without memcpy/memmove/memset.
#
# Usage: bench/lua.sh [RUNS]   (default 3; each run: both proxies, with and without Lua)
# Environment: NBTHREAD (2: the file's `nbthread`, both proxies honour it), MEASURE (cpu,
# instructions or both; default cpu), DURATION (10s), WRK_THREADS (2), WRK_CONNS (50),
# REQUESTS (10000, per instruction count), PROFILE (release; `measure` for quick A/B builds: the
# binary is target/PROFILE/spoe), SKIP_BUILD=1 to use the existing binary, KEEP_WORK=1 to keep
# the temporary directory.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
runs=${1:-${RUNS:-3}}
duration=${DURATION:-10s}
wrk_threads=${WRK_THREADS:-2}
wrk_conns=${WRK_CONNS:-50}
nbthread=${NBTHREAD:-2}

work=$(mktemp -d "${TMPDIR:-/tmp}/spoe-lua-bench.XXXXXX")
. "$root/bench/lib.sh"
read_measure

haproxy_and_wrk
if [ "$measure_what" != cpu ]; then callgrind_prerequisites; fi
build_spoe
spoe_bin=$profile_dir/spoe

cat >"$work/tag.lua" <<'EOF'
core.register_action("tag", { "http-req" }, function(txn)
  local who = txn.sf:req_hdr("x-bench")
  txn:set_var("txn.tag", "seen-" .. who)
end)
EOF

# write_config FILE PORT lua|nolua
write_config() {
    local file=$1 port=$2 with=$3 rule answer
    if [ "$with" = lua ]; then
        rule="    http-request lua.tag"
        answer='%[var(txn.tag)]'
    else
        rule=""
        answer='seen-%[req.hdr(x-bench)]'
    fi
    cat >"$file" <<EOF
global
    nbthread $nbthread
    maxconn 4096
    lua-load $work/tag.lua
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:$port
$rule
    http-request return status 200 content-type text/plain lf-string "$answer"
EOF
    "$haproxy_bin" -c -q -f "$file"
    "$spoe_bin" check -f "$file" >/dev/null
}

# start_proxy haproxy|gateway CFG LOG [WRAPPER...]: starts the proxy on CFG (under WRAPPER when
# given) and sets proxy_pid.
start_proxy() {
    local kind=$1 cfg=$2 log=$3
    shift 3
    case $kind in
        haproxy) "$@" "$haproxy_bin" -db -f "$cfg" >"$log" 2>&1 & ;;
        gateway) RUST_LOG=warn "$@" "$spoe_bin" gateway -f "$cfg" >"$log" 2>&1 & ;;
    esac
    proxy_pid=$!
    pids+=("$proxy_pid")
}

# count_instructions haproxy|gateway lua|nolua: the user-space instructions per request of the
# proxy (all threads), counted by callgrind over REQUESTS requests after a warm-up.
count_instructions() {
    local kind=$1 with=$2 port cfg out
    port=$(free_port)
    cfg="$work/haproxy-$with-$kind-instructions.cfg"
    out="$work/callgrind-$kind-$with.out"
    write_config "$cfg" "$port" "$with"
    start_proxy "$kind" "$cfg" "$work/$kind-$with-instructions.log" \
        valgrind --tool=callgrind --callgrind-out-file="$out"
    callgrind_count "$proxy_pid" "$port" "$out" "$with" "$kind"
}

# user_ticks PID: utime of a process (all its threads), in clock ticks (field 14 of
# /proc/PID/stat): cpu_ticks without the kernel's share.
user_ticks() {
    local stat
    stat=$(<"/proc/$1/stat")
    stat=${stat##*) }
    awk '{ print $12 }' <<<"$stat"
}

measure() {
    local kind=$1 run=$2 with=$3 port cfg out p0 p1 u0 u1 proxy_pid
    port=$(free_port)
    cfg="$work/haproxy-$with-$kind-$run.cfg"
    write_config "$cfg" "$port" "$with"
    start_proxy "$kind" "$cfg" "$work/$kind-$with-$run.log"
    wait_port "$port"
    local url="http://127.0.0.1:$port/bench"
    run_wrk -t"$wrk_threads" -c"$wrk_conns" -d2s -H 'X-Bench: wrk' "$url" >/dev/null
    out="$work/wrk-$with-$kind-$run.txt"
    p0=$(cpu_ticks "$proxy_pid")
    u0=$(user_ticks "$proxy_pid")
    run_wrk -t"$wrk_threads" -c"$wrk_conns" -d"$duration" --latency -H 'X-Bench: wrk' "$url" >"$out"
    p1=$(cpu_ticks "$proxy_pid")
    u1=$(user_ticks "$proxy_pid")
    stop_pid "$proxy_pid"
    local requests rps p50 errors
    requests=$(awk '/ requests in / { print $1 }' "$out")
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
    p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
    errors=$(awk '/Non-2xx or 3xx responses:/ { n += $NF } /Socket errors:/ { gsub(",", ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$out")
    awk -v sc="$with" -v kind="$kind" -v run="$run" -v req="$requests" -v rps="$rps" \
        -v p50="$p50" -v err="$errors" -v dp=$((p1 - p0)) -v du=$((u1 - u0)) -v tck="$clk_tck" 'BEGIN {
            printf "%s\t%s\t%s\t%d\t%.0f\t%.3f\t%.2f\t%d\t%.2f\n", sc, kind, run, req, rps, p50,
                dp / tck / req * 1e6, err, du / tck / req * 1e6
        }' >>"$work/results.tsv"
    echo "  $with $kind run $run: $(tail -n1 "$work/results.tsv" | cut -f4-)" >&2
}

echo "lua.sh: nbthread $nbthread; $measure_what; $runs run(s) of wrk -t$wrk_threads -c$wrk_conns -d$duration" >&2
: >"$work/results.tsv"
: >"$work/instructions.tsv"
if [ "$measure_what" != cpu ]; then
    for kind in haproxy gateway; do
        for with in lua nolua; do
            count_instructions "$kind" "$with"
        done
    done
fi
if [ "$measure_what" != instructions ]; then
    for run in $(seq 1 "$runs"); do
        for kind in haproxy gateway; do
            for with in lua nolua; do
                measure "$kind" "$run" "$with"
            done
        done
    done
fi

echo
echo "Machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end;" \
    "$("$haproxy_bin" -v | awk 'NR == 1 { print $1, $2, $3 }'); nbthread $nbthread"
if [ -s "$work/instructions.tsv" ]; then
    echo
    echo "User-space instructions per request (callgrind, $requests_counted requests, h2load -c10):"
    echo
    echo "| proxy | lua | nolua | the action (lua minus nolua) | the same without mem* |"
    echo "|---|---|---|---|---|"
    awk -F'\t' '
        { n[$1, $2] = $3; m[$1, $2] = $4 }
        END {
            for (i = 1; i <= 2; i++) {
                px = i == 1 ? "haproxy" : "gateway"
                action[px] = n["lua", px] - n["nolua", px]
                bare[px] = action[px] - (m["lua", px] - m["nolua", px])
                printf "| %s | %d | %d | %d | %d |\n", px, n["lua", px], n["nolua", px], action[px], bare[px]
            }
            printf "\nThe action in instructions: gateway / HAProxy %.2fx (without memcpy/memmove/memset: %.2fx)\n",
                action["gateway"] / action["haproxy"], bare["gateway"] / bare["haproxy"]
        }' "$work/instructions.tsv"
fi
if [ -s "$work/results.tsv" ]; then
    echo
    echo "| scenario | proxy | runs | req/s | p50 (ms) | proxy CPU/req (us) | of which user (us) | errors |"
    echo "|---|---|---|---|---|---|---|---|"
    awk -F'\t' "$AWK_MEDIAN"'
        {
            key = $1 SUBSEP $2
            if (!(key in rows)) { order[++nkeys] = key; sc[key] = $1; px[key] = $2 }
            r = ++rows[key]
            for (c = 4; c <= 9; c++) cell[key, r, c] = $c
            per_run[$3, $1, $2] = $7
            if ($3 > nruns) nruns = $3
        }
        END {
            for (k = 1; k <= nkeys; k++) {
                key = order[k]
                cpu[sc[key], px[key]] = median(key, 7)
                printf "| %s | %s | %d | %s | %s | %s | %s | %s |\n", sc[key], px[key], rows[key],
                    median(key, 5), median(key, 6), median(key, 7), median(key, 9), median(key, 8)
            }
            printf "\nLua action CPU/req (lua minus nolua, medians): haproxy %.2f us, gateway %.2f us\n",
                cpu["lua", "haproxy"] - cpu["nolua", "haproxy"], cpu["lua", "gateway"] - cpu["nolua", "gateway"]
            printf "Per run, the action (us) haproxy / gateway / ratio:"
            for (r = 1; r <= nruns; r++) {
                h = per_run[r, "lua", "haproxy"] - per_run[r, "nolua", "haproxy"]
                g = per_run[r, "lua", "gateway"] - per_run[r, "nolua", "gateway"]
                ratio = (h > 0) ? sprintf("%.2fx", g / h) : "-"
                printf " %.2f/%.2f/%s", h, g, ratio
            }
            printf "\n"
        }' "$work/results.tsv"
fi
if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work directory: $work" >&2; fi
