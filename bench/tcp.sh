#!/usr/bin/env bash
# `mode tcp`: the gateway against HAProxy 2.6 on the same haproxy.cfg (a tcp frontend, its
# default tcp backend, one server), in turn, under the same load. The figures to read are the
# proxy's CPU (utime + stime over the measured run) per connection and per MB moved, and the
# gateway's over HAProxy's of the same run.
#
# Scenarios, each run RUNS times (interleaved, proxies in turn):
#   conn  wrk -t2 -c50 -d$DURATION with `Connection: close` through the tcp proxy to an HTTP
#         origin (a separate HAProxy answering `http-request return status 200`): every request
#         is a new proxied connection, so proxy CPU per request is CPU per connection.
#   mb    one connection through the tcp proxy reading MB_COUNT MiB of zeros that the server
#         (socat, from /dev/zero) streams: proxy CPU per MiB.
#
# Usage: bench/tcp.sh [RUNS]            (default 3)
# Environment: DURATION (10s), MB_COUNT (2048), PROXIES ("haproxy gateway"), SKIP_BUILD=1 to use
# the existing target/release/spoe, SPOE_BIN to measure another build, KEEP_WORK=1 to keep the
# temporary directory.
#
# Everything listens on 127.0.0.1 on ports the kernel picks; the processes this script starts
# are stopped on exit (trap), and only those.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
runs=${1:-${RUNS:-3}}
duration=${DURATION:-10s}
mb_count=${MB_COUNT:-2048}
proxies=${PROXIES:-haproxy gateway}

work=$(mktemp -d "${TMPDIR:-/tmp}/spoe-tcp-bench.XXXXXX")
. "$root/bench/lib.sh"

haproxy_and_wrk
if ! command -v socat >/dev/null 2>&1; then apt_install socat; fi
spoe_bin=${SPOE_BIN:-$root/target/release/spoe}
if [ "${SKIP_BUILD:-0}" != 1 ]; then cargo build --release --quiet -p spoe-cli; fi

# ---- the HTTP origin of the conn scenario, shared by every run ----
origin_port=$(free_port)
cat >"$work/origin.cfg" <<CFG
global
    maxconn 4000
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend origin
    bind 127.0.0.1:$origin_port
    http-request return status 200 content-type text/plain string ok
CFG
"$haproxy_bin" -db -f "$work/origin.cfg" >"$work/origin.log" 2>&1 &
pids+=("$!")
wait_port "$origin_port"

# write_config FILE PORT SERVER: the tcp proxy's haproxy.cfg, checked by both proxies.
write_config() {
    cat >"$1" <<CFG
global
    maxconn 4000
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:$2
    default_backend be
backend be
    server s1 $3
CFG
    "$haproxy_bin" -c -q -f "$1"
    "$spoe_bin" check -f "$1" >/dev/null
}

# start_proxy KIND CONFIG OUT: sets proxy_pid.
start_proxy() {
    case $1 in
        haproxy) exec "$haproxy_bin" -db -f "$2" ;;
        gateway) exec env RUST_LOG=warn "$spoe_bin" gateway -f "$2" ;;
        *) echo "unknown proxy $1" >&2; exit 1 ;;
    esac >"$3.stdout" 2>"$3.stderr" &
    proxy_pid=$!
    pids+=("$proxy_pid")
}

# measure SCENARIO KIND RUN: one line "scenario kind run units cpu_us_per_unit units_per_s".
measure() {
    local scenario=$1 kind=$2 run=$3 port cfg out p0 p1 t0 t1 units server zero_port zero_pid
    port=$(free_port)
    cfg="$work/$scenario-$kind-$run.cfg"
    out="$work/$kind-$scenario-$run"
    if [ "$scenario" = conn ]; then
        server="127.0.0.1:$origin_port"
    else
        zero_port=$(free_port)
        # A child per connection (the readiness probe is one), zeros towards the client.
        socat -U "TCP-LISTEN:$zero_port,bind=127.0.0.1,reuseaddr,fork" OPEN:/dev/zero 2>/dev/null &
        zero_pid=$!
        pids+=("$zero_pid")
        wait_port "$zero_port"
        server="127.0.0.1:$zero_port"
    fi
    write_config "$cfg" "$port" "$server"
    start_proxy "$kind" "$cfg" "$out"
    wait_port "$port"
    if [ "$scenario" = conn ]; then
        local url="http://127.0.0.1:$port/" wout="$work/wrk-$scenario-$kind-$run.txt"
        run_wrk -t2 -c50 -d2s -H 'Connection: close' "$url" >/dev/null
        p0=$(cpu_ticks "$proxy_pid")
        t0=$(date +%s.%N)
        run_wrk -t2 -c50 -d"$duration" -H 'Connection: close' "$url" >"$wout"
        p1=$(cpu_ticks "$proxy_pid")
        t1=$(date +%s.%N)
        units=$(awk '/ requests in / { print $1 }' "$wout")
        local errors
        errors=$(awk '/Non-2xx or 3xx responses:/ { n += $NF } /Socket errors:/ { gsub(",", ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$wout")
        if [ "$errors" != 0 ]; then echo "  $kind $scenario run $run: $errors errors" >&2; fi
    else
        p0=$(cpu_ticks "$proxy_pid")
        t0=$(date +%s.%N)
        socat -u "TCP:127.0.0.1:$port" - | head -c "$((mb_count * 1048576))" >/dev/null || true
        p1=$(cpu_ticks "$proxy_pid")
        t1=$(date +%s.%N)
        units=$mb_count
        stop_pid "$zero_pid"
    fi
    stop_pid "$proxy_pid"
    awk -v sc="$scenario" -v kind="$kind" -v run="$run" -v n="$units" -v dp=$((p1 - p0)) \
        -v tck="$clk_tck" -v s="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" 'BEGIN {
            printf "%s\t%s\t%s\t%d\t%.2f\t%.0f\n", sc, kind, run, n, dp / tck / n * 1e6, n / s
        }' >>"$work/results.tsv"
    echo "  $(tail -n1 "$work/results.tsv")" >&2
}

echo "tcp.sh: $runs run(s); proxies: $proxies; conn: wrk -t2 -c50 -d$duration" \
    "(Connection: close); mb: $mb_count MiB on one connection" >&2
: >"$work/results.tsv"
for run in $(seq 1 "$runs"); do
    for scenario in conn mb; do
        for kind in $proxies; do measure "$scenario" "$kind" "$run"; done
    done
done

echo
echo "Machine: $(nproc) CPUs, $(lscpu | awk -F': *' '/^Model name/ { print $2; exit }');" \
    "$("$haproxy_bin" -v | awk 'NR == 1 { print $1, $2, $3 }');" \
    "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| scenario | proxy | run | connections or MiB | proxy CPU per connection or MiB (us) | per second |"
echo "|---|---|---|---|---|---|"
awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }' "$work/results.tsv"
echo
echo "Gateway over HAProxy in the same run (CPU per unit; lower is better):"
awk -F'\t' '
    { cpu[$1, $2, $3] = $5; if ($3 > nruns) nruns = $3 }
    END {
        for (s = 1; s <= 2; s++) {
            sc = s == 1 ? "conn" : "mb"; n = 0; out = ""
            for (r = 1; r <= nruns; r++) if (cpu[sc, "haproxy", r] > 0 && cpu[sc, "gateway", r] != "") {
                v[++n] = cpu[sc, "gateway", r] / cpu[sc, "haproxy", r]; out = out sprintf("%.2f ", v[n])
            }
            if (n == 0) continue
            for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
            printf "- %s: %s(median %.2f)\n", sc, out, v[int((n + 1) / 2)]
        }
    }' "$work/results.tsv"
