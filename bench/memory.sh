#!/usr/bin/env bash
# Memory of the gateway: RSS per idle client connection at 10k connections,
# and per in-flight request (each holding one SPOE message waiting for its
# ACK). The client is a separate Python process; the agent holds every ACK
# 5 s (`spoe agent --delay 5s`) so that the messages stay in flight.
#
# Usage: bench/memory.sh            Environment: CONNS (10000), INFLIGHT (1000).
set -euo pipefail
cd "$(dirname "$0")/.."
conns=${CONNS:-10000}
inflight=${INFLIGHT:-1000}
ulimit -n 65536 2>/dev/null || ulimit -n 20000
cargo build --release --quiet -p spoe-cli
spoe=$PWD/target/release/spoe
work=$(mktemp -d "${TMPDIR:-/tmp}/spoe-mem.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
trap 'cat "$work/gateway.log" >&2 2>/dev/null || true' ERR
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

agent_port=$(free_port); gw_port=$(free_port)
"$spoe" agent --listen "127.0.0.1:$agent_port" --example echo --delay 5s --handler-timeout 10s --max-in-flight 2000 >/dev/null 2>&1 &
pids+=($!)
wait_port "$agent_port"
cat > "$work/spoe.conf" <<CONF
[e]
spoe-agent e
    messages m
    option var-prefix e
    timeout hello 2s
    timeout idle 60s
    timeout processing 10s
    use-backend agents
spoe-message m
    args ip=src path=path
    event on-frontend-http-request
CONF
cat > "$work/haproxy.cfg" <<CONF
defaults
    mode http
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    timeout http-request 120s
    timeout http-keep-alive 120s
frontend fe
    bind 127.0.0.1:$gw_port
    filter spoe engine e config $work/spoe.conf
    http-request return status 200
backend agents
    mode tcp
    server a 127.0.0.1:$agent_port maxconn 100
CONF
# Each phase runs in a fresh gateway: memory freed by a phase stays in the
# allocator's pools, which would hide the next phase's cost.
phase() { # idle|inflight -> "rss_before rss_during"
    RUST_LOG=warn "$spoe" gateway -f "$work/haproxy.cfg" >/dev/null 2>>"$work/gateway.log" &
    local gw=$!
    pids+=($gw)
    wait_port "$gw_port"
    sleep 1
    python3 - "$1" "$gw_port" "$conns" "$inflight" "$gw" <<'PY'
import socket, sys, time
phase, port, conns, inflight, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
base = rss()
socks = []
n = conns if phase == "idle" else inflight
for i in range(n):
    s = socket.socket()
    s.connect(("127.0.0.1", port))
    if phase == "inflight":
        s.sendall(b"GET /x HTTP/1.1\r\nHost: bench\r\n\r\n")
    socks.append(s)
time.sleep(2)
during = rss()
if phase == "inflight":
    for s in socks:
        s.settimeout(15)
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
for s in socks:
    s.close()
print(base, during)
PY
    kill "$gw"; wait "$gw" 2>/dev/null || true
}
read -r b1 idle <<< "$(phase idle)"
read -r b2 busy <<< "$(phase inflight)"
python3 - "$b1" "$idle" "$b2" "$busy" "$conns" "$inflight" <<'PY'
import sys
b1, idle, b2, busy, conns, inflight = map(int, sys.argv[1:])
print("| measure | value |")
print("|---|---|")
print(f"| gateway RSS at start | {b1/1024:.1f} MiB |")
print(f"| with {conns} idle client connections | {idle/1024:.1f} MiB |")
print(f"| **per idle client connection** | **{(idle-b1)/conns:.2f} KiB** |")
print(f"| with {inflight} requests in flight (each with one SPOE message waiting for its ACK) | {busy/1024:.1f} MiB (from {b2/1024:.1f}) |")
print(f"| **per in-flight request** | **{(busy-b2)/inflight:.2f} KiB** |")
PY
