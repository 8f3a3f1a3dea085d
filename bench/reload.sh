#!/usr/bin/env bash
# Requests during reloads against requests between them, with a large ACL pattern file: the
# gateway and HAProxy 2.6 run the same haproxy.cfg, whose frontend denies the clients listed in
# a file of LINES addresses and networks (`acl blocked src -f blocked.lst`, a million lines by
# default: an ordinary list of blocked networks) and answers everyone else itself.
#
# For each proxy, bench/reload_client.py drives THREADS clients in a closed loop (GET /, a new
# connection every NEW_EVERY requests, so that accepting is measured as well) and reloads the
# proxy RELOADS times, EVERY seconds apart (SIGUSR2; the gateway loads the new generation
# beside the running one, HAProxy's master starts a new worker). A request is "during a
# reload" when it started between the signal and the proxy's line saying the reload is done.
# The table gives p50, p99 and the worst latency of each class; then the time each proxy takes
# to read the file alone (`spoe check -f`, `haproxy -c -f`).
#
# Usage: bench/reload.sh
# Environment: LINES (1000000), RELOADS (5), EVERY (3 s), THREADS (4), NEW_EVERY (20),
# PROXIES ("gateway haproxy"), KEEP_WORK=1 to keep the temporary directory, SKIP_BUILD=1 to use
# the existing target/release/spoe, SPOE_BIN=PATH to use another build of `spoe`.
#
# Everything listens on 127.0.0.1 on ports the kernel picks. The processes this script starts are
# stopped on exit (trap), and only those.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
lines=${LINES:-1000000}
reloads=${RELOADS:-5}
every=${EVERY:-3}
threads=${THREADS:-4}
new_every=${NEW_EVERY:-20}
proxies=${PROXIES:-gateway haproxy}

work=$(mktemp -d "${TMPDIR:-/tmp}/spoe-reload.XXXXXX")
. "$root/bench/lib.sh"

find_haproxy_and_spoe

# A quarter /24 networks, the rest single addresses, none of them 127.0.0.1 (the clients).
python3 - "$lines" >"$work/blocked.lst" <<'PY'
import random, sys
random.seed(1)
out = []
for i in range(int(sys.argv[1])):
    a = random.getrandbits(32)
    if a >> 24 == 127:
        a ^= 1 << 24
    if i % 4 == 0:
        out.append("%d.%d.%d.0/24" % (a >> 24, a >> 16 & 255, a >> 8 & 255))
    else:
        out.append("%d.%d.%d.%d" % (a >> 24, a >> 16 & 255, a >> 8 & 255, a & 255))
print("\n".join(out))
PY

write_config() {
    cat >"$work/haproxy.cfg" <<CONF
global
    nbthread 2
    maxconn 4096
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:$1
    acl blocked src -f $work/blocked.lst
    http-request deny if blocked
    http-request return status 200 content-type text/plain string ok
CONF
}

echo "reload.sh: $lines patterns, $reloads reloads $every s apart, $threads clients" >&2
for proxy in $proxies; do
    port=$(free_port)
    write_config "$port"
    log=$work/$proxy.log
    case $proxy in
        gateway)
            "$spoe_bin" gateway -f "$work/haproxy.cfg" >"$log" 2>&1 &
            marker="configuration reloaded" ;;
        haproxy)
            "$haproxy_bin" -W -db -f "$work/haproxy.cfg" >"$log" 2>&1 &
            marker="Loading success." ;;
        *) echo "unknown proxy $proxy" >&2; exit 1 ;;
    esac
    pid=$!
    pids+=("$pid")
    # The first load reads the file too: wait long enough.
    for _ in $(seq 1 600); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
        sleep 0.1
    done
    wait_port "$port"
    python3 "$root/bench/reload_client.py" run "$port" "$pid" "$log" "$marker" "$reloads" \
        "$every" "$threads" "$new_every" >"$work/$proxy.tsv"
    stop_pid "$pid"
done

echo
echo "Machine: $(nproc) CPUs, $(lscpu | awk -F': *' '/^Model name/ { print $2; exit }');" \
    "$("$haproxy_bin" -v | awk 'NR == 1 { print $1, $2, $3 }')"
echo
python3 "$root/bench/reload_client.py" report $(for p in $proxies; do echo "$work/$p.tsv"; done)
echo
echo "Reading the configuration and its $lines-line file alone (wall, user+sys CPU):"
for proxy in $proxies; do
    case $proxy in
        gateway) cmd=("$spoe_bin" check -f "$work/haproxy.cfg") ;;
        haproxy) cmd=("$haproxy_bin" -c -q -f "$work/haproxy.cfg") ;;
    esac
    /usr/bin/time -f "  $proxy: %e s wall, %U + %S s CPU, %M KiB max RSS" "${cmd[@]}" >/dev/null
done
