#!/usr/bin/env bash
# Memory of the gateway and of HAProxy 2.6 on the same haproxy.cfg (SPOE on every request): RSS
# per idle client connection at CONNS connections, and per in-flight request at INFLIGHT
# requests, each holding one SPOE message that waits for its ACK. One agent serves every run:
# `target/release/spoe agent --example echo --delay 5s` holds every ACK 5 s, so the messages stay
# in flight while RSS is read. The client is a separate Python process that keeps its sockets open
# while RSS is read and checks what it measured:
#   idle      the proxy process holds CONNS more file descriptors (the connections were accepted,
#             not left in the kernel's accept queue) and has closed none of them;
#   in flight no response has arrived yet when RSS is read, the agent's `spoa_in_flight` gauge
#             (its --metrics endpoint) says how many NOTIFY frames it holds, and every request
#             gets its 200 at the end. The frontend answers 500 instead when the SPOE set its
#             error variable or the echoed variable is missing, so a 200 means the message was
#             processed.
#   keepalive KA_CONNS connections to a second frontend that answers `GET /ka` itself (no SPOE,
#             no server): RSS with them fresh and idle (nothing sent), then after each sent one
#             GET and read its 200 (the connections stay open, idle, keep-alive), then 10 s
#             after all of them closed: the growth given back (the client checks every 200);
#   uploads   UPLOADS connections each POST a body of UPLOAD_TOTAL bytes to the second
#             frontend, whose backend is bench/memory_sink.py (reads every body as it comes,
#             counts the bytes), send its first UPLOAD_FIRST bytes and stop there, slow
#             uploaders: RSS once the sink has received what was sent (a proxy that streams
#             with backpressure holds about a buffer per connection; one that buffers bodies
#             holds UPLOAD_FIRST each, and the sink gets nothing).
# Each phase runs in a fresh proxy process (memory that the allocator keeps from one phase would
# hide the next), RUNS times, the proxies in turn; the table gives the median per figure, then
# the per-run figures. RSS is VmRSS of the proxy process (/proc/PID/status): `haproxy -db` is one
# process (its threads included), as is `spoe gateway`.
#
# Proxies (PROXIES, all three by default):
#   gateway           RUST_LOG=warn target/release/spoe gateway -f haproxy.cfg
#   haproxy           haproxy -db -f haproxy.cfg -f haproxy-only.cfg (nbthread: HAProxy's default,
#                     one thread per CPU; the gateway's default is the same)
#   haproxy-nbthread1 the same plus `nbthread 1` (a third file). With two threads and the agent
#                     server's `maxconn 100`, HAProxy 2.6 sends only about 180 of a burst of 1000
#                     messages to the agent (on its 100 connections) and keeps the rest in its
#                     SPOE queue until ACKs come back (its SPOE applets and their queues are per
#                     thread), so the last answers come after two agent delays, 10 s (hence
#                     `timeout processing 30s`); with one thread all 1000 reach the agent, 10 per
#                     connection (the gateway sends 20 per connection on 50,
#                     `max-waiting-frames`' default).
#
# haproxy-only.cfg holds one line for HAProxy alone: `no strict-limits`. `maxconn 30000` makes
# HAProxy ask for 60017 file descriptors (two per connection) and, by default, refuse to start
# below that; where the hard limit is lower (20000 on the reference machine) it warns and runs
# with what it has, enough for CONNS client connections since `http-request return` opens no
# server connection. The gateway rejects `no strict-limits`, and needs nothing of the kind.
#
# Usage: bench/memory.sh [RUNS]       (default 3)
# Environment: CONNS (10000), INFLIGHT (1000), KA_CONNS (3000), UPLOADS (200), UPLOAD_FIRST
# (1048576), UPLOAD_TOTAL (67108864), PHASES ("idle inflight keepalive uploads"), PROXIES
# ("gateway haproxy haproxy-nbthread1"),
# KEEP_WORK=1 to keep the temporary directory (configs, logs), SKIP_BUILD=1 to use the existing
# target/release/spoe, SPOE_BIN=PATH to use another build of `spoe` (of a given commit, say) for
# the agent and the gateway.
#
# Everything listens on 127.0.0.1 on ports the kernel picks. The processes this script starts are
# stopped on exit (trap), and only those.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
runs=${1:-${RUNS:-3}}
conns=${CONNS:-10000}
inflight=${INFLIGHT:-1000}
proxies=${PROXIES:-gateway haproxy haproxy-nbthread1}
ka_conns=${KA_CONNS:-3000}
uploads=${UPLOADS:-200}
upload_first=${UPLOAD_FIRST:-1048576}
upload_total=${UPLOAD_TOTAL:-67108864}
phases=${PHASES:-idle inflight keepalive uploads}

work=$(mktemp -d "${TMPDIR:-/tmp}/spoe-mem.XXXXXX")
. "$root/bench/lib.sh"

# Each process needs a descriptor per connection (and the client as many).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt $((conns + 200)) ]; then
    echo "${0##*/}: open files limit $(ulimit -n) is too low for CONNS=$conns" >&2
    exit 1
fi

# ---- prerequisites ----
find_haproxy_and_spoe

# ---- the agent, shared by every run ----
agent_port=$(free_port)
metrics_port=$(free_port)
"$spoe_bin" agent --listen "127.0.0.1:$agent_port" --example echo --delay 5s \
    --handler-timeout 10s --max-in-flight 2000 --metrics "127.0.0.1:$metrics_port" \
    >"$work/agent.log" 2>&1 &
pids+=("$!")
wait_port "$agent_port"
wait_port "$metrics_port"
sink_port=$(free_port)
python3 "$root/bench/memory_sink.py" "$sink_port" >"$work/sink.log" 2>&1 &
pids+=("$!")
wait_port "$sink_port"

# ---- configuration ----
# Up to 100 agent connections (`maxconn 100`), 20 NOTIFY frames waiting on each (both engines'
# default `max-waiting-frames`): room for 2000 messages in flight.
cat >"$work/spoe.conf" <<CONF
[e]
spoe-agent e
    messages m
    option var-prefix e
    option set-on-error err
    option force-set-var
    timeout hello 2s
    timeout idle 60s
    timeout processing 30s
    use-backend agents
spoe-message m
    args ip=src path=path
    event on-frontend-http-request
CONF
# write_config PORT PLAIN_PORT: the haproxy.cfg both proxies run.
write_config() {
    cat >"$work/haproxy.cfg" <<CONF
global
    maxconn 30000
defaults
    mode http
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    timeout http-request 120s
    timeout http-keep-alive 120s
frontend fe
    bind 127.0.0.1:$1
    filter spoe engine e config $work/spoe.conf
    http-request return status 500 content-type text/plain string "spoe error" if { var(txn.e.err) -m found }
    http-request return status 500 content-type text/plain string "no echo" unless { var(txn.e.path) -m found }
    http-request return status 200 content-type text/plain string "ok"
frontend plain
    bind 127.0.0.1:$2
    http-request return status 200 content-type text/plain string "ok" if { path /ka }
    default_backend sink
backend sink
    server s 127.0.0.1:$sink_port
backend agents
    mode tcp
    server a 127.0.0.1:$agent_port maxconn 100
CONF
}
printf 'global\n    no strict-limits\n' >"$work/haproxy-only.cfg"
printf 'global\n    nbthread 1\n' >"$work/haproxy-nbthread1.cfg"
write_config "$(free_port)" "$(free_port)"
"$haproxy_bin" -c -q -f "$work/haproxy.cfg" -f "$work/haproxy-only.cfg" -f "$work/haproxy-nbthread1.cfg"
"$spoe_bin" check -f "$work/haproxy.cfg" >/dev/null

# phase KIND PHASE RUN: one fresh proxy, one measured phase, one line in results.tsv.
phase() {
    local kind=$1 phase=$2 run=$3 port plain_port proxy_pid log out
    port=$(free_port)
    plain_port=$(free_port)
    write_config "$port" "$plain_port"
    log="$work/$kind-$phase-$run.log"
    case $kind in
        haproxy) "$haproxy_bin" -db -f "$work/haproxy.cfg" -f "$work/haproxy-only.cfg" >"$log" 2>&1 & ;;
        haproxy-nbthread1)
            "$haproxy_bin" -db -f "$work/haproxy.cfg" -f "$work/haproxy-only.cfg" \
                -f "$work/haproxy-nbthread1.cfg" >"$log" 2>&1 &
            ;;
        gateway) RUST_LOG=warn "$spoe_bin" gateway -f "$work/haproxy.cfg" >"$log" 2>&1 & ;;
        *) echo "${0##*/}: unknown proxy $kind" >&2; return 1 ;;
    esac
    proxy_pid=$!
    pids+=("$proxy_pid")
    wait_port "$port"
    wait_port "$plain_port"
    sleep 1
    if [ "$phase" = keepalive ] || [ "$phase" = uploads ]; then
        if ! out=$(python3 "$root/bench/memory_client.py" "$phase" "$plain_port" "$proxy_pid" \
            "$ka_conns" "$uploads" "$upload_first" "$upload_total" "$sink_port"); then
            echo "${0##*/}: the $phase client failed against $kind (log: $log)" >&2
            tail -n 20 "$log" >&2
            return 1
        fi
        stop_pid "$proxy_pid"
        printf '%s\t%s\t%s\t%s\n' "$kind" "$phase" "$run" "$out" >>"$work/results2.tsv"
        echo "  $kind $phase run $run: $out" >&2
        return 0
    fi
    if ! out=$(python3 - "$phase" "$port" "$conns" "$inflight" "$proxy_pid" "$metrics_port" <<'PY'
import select, socket, sys, time, urllib.request

phase, port, conns, inflight, pid, metrics_port = sys.argv[1], *map(int, sys.argv[2:])

def rss_kib():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])

def fds():
    import os
    return len(os.listdir(f"/proc/{pid}/fd"))

def agent(metric):
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read()
    for line in text.decode().splitlines():
        if line.startswith(metric + " "):
            return int(float(line.split()[1]))
    return -1

def readable(socks):
    """Sockets with something to read (data, or an EOF: closed by the proxy)."""
    poll = select.poll()
    by_fd = {s.fileno(): s for s in socks}
    for fd in by_fd:
        poll.register(fd, select.POLLIN)
    return [by_fd[fd] for fd, _ in poll.poll(0)]

base, fds0 = rss_kib(), fds()
n = conns if phase == "idle" else inflight
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    if phase == "inflight":
        s.sendall(b"GET /x HTTP/1.1\r\nHost: bench\r\n\r\n")
    socks.append(s)
# Every connection accepted by the proxy, then let it settle.
deadline = time.time() + 30
while fds() - fds0 < n and time.time() < deadline:
    time.sleep(0.1)
time.sleep(2)
during, accepted = rss_kib(), fds() - fds0
early = len(readable(socks))  # closed (idle) or already answered (in flight): should be 0
agent_in_flight, agent_conns = (agent("spoa_in_flight"), agent("spoa_connections")) if phase == "inflight" else (0, 0)
ok = 0
if phase == "inflight":
    for s in socks:
        s.settimeout(40)
        head = b""
        try:
            while b"\r\n" not in head:
                chunk = s.recv(4096)
                if not chunk:
                    break
                head += chunk
        except OSError:
            pass
        ok += head.startswith(b"HTTP/1.1 200")
for s in socks:
    s.close()
print(base, during, accepted, early, agent_in_flight, agent_conns, ok)
PY
    ); then
        echo "${0##*/}: the $phase client failed against $kind (log: $log)" >&2
        tail -n 20 "$log" >&2
        return 1
    fi
    stop_pid "$proxy_pid"
    local base during accepted early agent_in_flight agent_conns ok
    read -r base during accepted early agent_in_flight agent_conns ok <<<"$out"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$phase" "$run" "$base" "$during" \
        "$accepted" "$early" "$agent_in_flight" "$agent_conns" "$ok" >>"$work/results.tsv"
    echo "  $kind $phase run $run: RSS $base -> $during KiB, +$accepted fds, $early early," \
        "agent in flight $agent_in_flight on $agent_conns connections, $ok x 200" >&2
}

echo "memory.sh: $runs run(s); phases $phases; $conns idle connections; $inflight requests in" \
    "flight; $ka_conns keep-alive connections; $uploads uploads" >&2
: >"$work/results.tsv"
: >"$work/results2.tsv"
for run in $(seq 1 "$runs"); do
    for phase in $phases; do
        for kind in $proxies; do
            phase "$kind" "$phase" "$run"
        done
    done
done

# ---- report ----
echo
echo "Machine: $(nproc) CPUs, $(lscpu | awk -F': *' '/^Model name/ { print $2; exit }'), $(uname -sr);" \
    "$("$haproxy_bin" -v | awk 'NR == 1 { print $1, $2, $3 }'); spoe: $spoe_bin$(if [ -z "${SPOE_BIN:-}" ]; then
        echo " at $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
        git diff --quiet HEAD -- spop spoa spoe spoe-gateway spoe-cli 2>/dev/null || echo ' (with uncommitted changes)'
    fi | tr -d '\n')"
echo "Command: bench/memory.sh $runs (CONNS=$conns, INFLIGHT=$inflight, KA_CONNS=$ka_conns," \
    "UPLOADS=$uploads, UPLOAD_FIRST=$upload_first, UPLOAD_TOTAL=$upload_total, PHASES=\"$phases\")"
echo
if [ -s "$work/results2.tsv" ]; then
    python3 "$root/bench/memory_client.py" report "$work/results2.tsv" "$ka_conns" "$uploads" \
        "$upload_first"
    echo
fi
[ -s "$work/results.tsv" ] || exit 0
python3 - "$work/results.tsv" "$conns" "$inflight" <<'PY'
import statistics, sys

conns, inflight = int(sys.argv[2]), int(sys.argv[3])
rows = {}
for line in open(sys.argv[1]):
    kind, phase, run, base, during, accepted, early, agent_inf, agent_conns, ok = line.split("\t")
    r = rows.setdefault((kind, int(run)), {})
    base, during = int(base), int(during)
    if phase == "idle":
        n = conns
        r.update(idle_base=base / 1024, idle=during / 1024, per_idle=(during - base) / n,
                 accepted=int(accepted), idle_closed=int(early))
    else:
        n = inflight
        r.update(busy_base=base / 1024, busy=during / 1024, per_busy=(during - base) / n,
                 answered_early=int(early), agent_inf=int(agent_inf), agent_conns=int(agent_conns),
                 ok=int(ok))

kinds = list(dict.fromkeys(kind for kind, _ in rows))
label = {"gateway": "gateway", "haproxy": "HAProxy 2.6", "haproxy-nbthread1": "HAProxy 2.6, nbthread 1"}
def med(kind, field):
    return statistics.median(r[field] for (k, _), r in rows.items() if k == kind)
nruns = max(run for _, run in rows)

measures = [
    ("RSS at start (MiB)", "idle_base", "{:.1f}"),
    (f"RSS with {conns} idle client connections (MiB)", "idle", "{:.1f}"),
    ("**per idle client connection (KiB)**", "per_idle", "**{:.1f}**"),
    ("RSS at start, in-flight phase (MiB)", "busy_base", "{:.1f}"),
    (f"RSS with {inflight} requests in flight (MiB)", "busy", "{:.1f}"),
    ("**per in-flight request (KiB)**", "per_busy", "**{:.1f}**"),
    ("connections accepted (proxy's new fds)", "accepted", "{:.0f}"),
    ("NOTIFY frames held by the agent when RSS is read", "agent_inf", "{:.0f}"),
    ("agent connections then", "agent_conns", "{:.0f}"),
    (f"200 responses (of {inflight})", "ok", "{:.0f}"),
]
print(f"Medians of {nruns} run(s):")
print()
print("| measure | " + " | ".join(label[k] for k in kinds) + " |")
print("|---|" + "---|" * len(kinds))
# A phase left out (PHASES) leaves its measures out.
for name, field, fmt in measures:
    if all(field in r for r in rows.values()):
        print(f"| {name} | " + " | ".join(fmt.format(med(k, field)) for k in kinds) + " |")
print()
print("Per run:")
print()
print("| proxy | run | start (MiB) | idle (MiB) | KiB/idle conn | accepted | closed early | start (MiB) "
      "| in flight (MiB) | KiB/in-flight req | answered early | agent in flight | agent conns | 200s |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
def cell(r, field, fmt="{}"):
    return fmt.format(r[field]) if field in r else "-"
for (kind, run), r in rows.items():
    print(f"| {label[kind]} | {run} | " + " | ".join([
        cell(r, "idle_base", "{:.1f}"), cell(r, "idle", "{:.1f}"), cell(r, "per_idle", "{:.1f}"),
        cell(r, "accepted"), cell(r, "idle_closed"), cell(r, "busy_base", "{:.1f}"),
        cell(r, "busy", "{:.1f}"), cell(r, "per_busy", "{:.1f}"), cell(r, "answered_early"),
        cell(r, "agent_inf"), cell(r, "agent_conns"), cell(r, "ok")]) + " |")
bad = [(k, run) for (k, run), r in rows.items()
       if r.get("accepted", conns) < conns or r.get("idle_closed") or r.get("answered_early")
       or r.get("ok", inflight) != inflight]
if bad:
    print()
    print("WARNING: not every connection was held or not every request answered 200 in:",
          ", ".join(f"{k} run {run}" for k, run in bad))
PY
