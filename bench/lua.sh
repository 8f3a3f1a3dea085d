#!/usr/bin/env bash
# What an `http-request lua.*` action costs per request: HAProxy 2.6 (Lua 5.3) and
# `target/release/spoe gateway -f`, the same haproxy.cfg and the same Lua file, in turn, under
# the same wrk load. The action reads a header through `txn.sf`, sets a variable, and the
# frontend answers itself with it (`http-request return`), so no backend and no agent are
# measured. The same file without the `lua.tag` rule (the answer reads the header instead)
# gives each proxy's base; the difference is what the Lua action costs.
#
# Usage: bench/lua.sh [RUNS]   (default 3; each run: both proxies, with and without Lua)
# Environment: DURATION (10s), WRK_THREADS (2), WRK_CONNS (50), SKIP_BUILD=1 to use the
# existing target/release/spoe, KEEP_WORK=1 to keep the temporary directory.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
runs=${1:-${RUNS:-3}}
duration=${DURATION:-10s}
wrk_threads=${WRK_THREADS:-2}
wrk_conns=${WRK_CONNS:-50}

work=$(mktemp -d "${TMPDIR:-/tmp}/spoe-lua-bench.XXXXXX")
. "$root/bench/lib.sh"

if ! command -v haproxy >/dev/null 2>&1 && [ ! -x /usr/sbin/haproxy ]; then apt_install haproxy; fi
if ! command -v wrk >/dev/null 2>&1; then apt_install wrk; fi
haproxy_bin=$(command -v haproxy || echo /usr/sbin/haproxy)
if [ "${SKIP_BUILD:-0}" != 1 ]; then cargo build --release --quiet -p spoe-cli; fi
spoe_bin=$root/target/release/spoe

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
    nbthread 2
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

measure() {
    local kind=$1 run=$2 with=$3 port cfg out p0 p1
    port=$(free_port)
    cfg="$work/haproxy-$with-$kind-$run.cfg"
    write_config "$cfg" "$port" "$with"
    case $kind in
        haproxy) "$haproxy_bin" -db -f "$cfg" >"$work/$kind-$with-$run.log" 2>&1 & ;;
        gateway) RUST_LOG=warn "$spoe_bin" gateway -f "$cfg" >"$work/$kind-$with-$run.log" 2>&1 & ;;
    esac
    local proxy_pid=$!
    pids+=("$proxy_pid")
    wait_port "$port"
    local url="http://127.0.0.1:$port/bench"
    run_wrk -t"$wrk_threads" -c"$wrk_conns" -d2s -H 'X-Bench: wrk' "$url" >/dev/null
    out="$work/wrk-$with-$kind-$run.txt"
    p0=$(cpu_ticks "$proxy_pid")
    run_wrk -t"$wrk_threads" -c"$wrk_conns" -d"$duration" --latency -H 'X-Bench: wrk' "$url" >"$out"
    p1=$(cpu_ticks "$proxy_pid")
    stop_pid "$proxy_pid"
    local requests rps p50 errors
    requests=$(awk '/ requests in / { print $1 }' "$out")
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
    p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
    errors=$(awk '/Non-2xx or 3xx responses:/ { n += $NF } /Socket errors:/ { gsub(",", ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$out")
    awk -v sc="$with" -v kind="$kind" -v run="$run" -v req="$requests" -v rps="$rps" \
        -v p50="$p50" -v err="$errors" -v dp=$((p1 - p0)) -v tck="$clk_tck" 'BEGIN {
            printf "%s\t%s\t%s\t%d\t%.0f\t%.3f\t%.2f\t%d\n", sc, kind, run, req, rps, p50,
                dp / tck / req * 1e6, err
        }' >>"$work/results.tsv"
    echo "  $with $kind run $run: $(tail -n1 "$work/results.tsv" | cut -f4-)" >&2
}

echo "lua.sh: $runs run(s); wrk -t$wrk_threads -c$wrk_conns -d$duration" >&2
: >"$work/results.tsv"
for run in $(seq 1 "$runs"); do
    for kind in haproxy gateway; do
        for with in lua nolua; do
            measure "$kind" "$run" "$with"
        done
    done
done

echo
echo "Machine: $(nproc) CPUs; $("$haproxy_bin" -v | awk 'NR == 1 { print $1, $2, $3 }')"
echo
echo "| scenario | proxy | runs | req/s | p50 (ms) | proxy CPU/req (us) | errors |"
echo "|---|---|---|---|---|---|---|"
awk -F'\t' "$AWK_MEDIAN"'
    {
        key = $1 SUBSEP $2
        if (!(key in rows)) { order[++nkeys] = key; sc[key] = $1; px[key] = $2 }
        r = ++rows[key]
        for (c = 4; c <= 8; c++) cell[key, r, c] = $c
    }
    END {
        for (k = 1; k <= nkeys; k++) {
            key = order[k]
            cpu[sc[key], px[key]] = median(key, 7)
            printf "| %s | %s | %d | %s | %s | %s | %s |\n", sc[key], px[key], rows[key],
                median(key, 5), median(key, 6), median(key, 7), median(key, 8)
        }
        printf "\nLua action CPU/req (lua minus nolua): haproxy %.2f us, gateway %.2f us\n",
            cpu["lua", "haproxy"] - cpu["nolua", "haproxy"], cpu["lua", "gateway"] - cpu["nolua", "gateway"]
    }' "$work/results.tsv"
if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work directory: $work" >&2; fi
