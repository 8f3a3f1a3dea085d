"""The keep-alive and upload phases of bench/memory.sh, and their report.

  memory_client.py keepalive PORT PID KA_CONNS UPLOADS FIRST TOTAL SINK_PORT
  memory_client.py uploads   PORT PID KA_CONNS UPLOADS FIRST TOTAL SINK_PORT
      print one line of figures (KiB of RSS, counts) for results2.tsv
  memory_client.py report RESULTS2 KA_CONNS UPLOADS FIRST
      print the tables
"""
import os
import select
import socket
import statistics
import sys
import time
import urllib.request


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_fds(pid, want, timeout=60):
    deadline = time.time() + timeout
    while fds(pid) < want and time.time() < deadline:
        time.sleep(0.1)
    return fds(pid) >= want


def read_response(s):
    """Reads one Content-Length response; returns its status (0 when the connection closed)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            return 0
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = s.recv(65536)
        if not chunk:
            return 0
        rest += chunk
    return int(lines[0].split()[1])


def keepalive(port, pid, n):
    """RSS fresh, with n idle connections, after one GET each, 10 s after they closed."""
    base, fds0 = rss_kib(pid), fds(pid)
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
    accepted = wait_fds(pid, fds0 + n)
    time.sleep(2)
    fresh = rss_kib(pid)
    for s in socks:
        s.sendall(b"GET /ka HTTP/1.1\r\nHost: bench\r\n\r\n")
    ok = 0
    for s in socks:
        s.settimeout(30)
        ok += read_response(s) == 200
    time.sleep(2)
    after_request = rss_kib(pid)
    # Every connection still open (no EOF to read) while RSS was read.
    poll = select.poll()
    for s in socks:
        poll.register(s.fileno(), select.POLLIN)
    closed_early = len(poll.poll(0))
    for s in socks:
        s.close()
    closed_at = time.time()
    samples = []
    while time.time() - closed_at < 10:
        time.sleep(0.5)
        samples.append(rss_kib(pid))
    after_close = samples[-1]
    return [base, fresh, after_request, after_close, int(accepted), closed_early, ok]


def sink_received(sink_port):
    url = f"http://127.0.0.1:{sink_port}/received"
    return int(urllib.request.urlopen(url, timeout=5).read())


def uploads(port, pid, n, first, total, sink_port):
    """RSS with n slow uploads in flight, each having sent `first` of `total` bytes."""
    base, received0 = rss_kib(pid), sink_received(sink_port)
    socks = []
    piece = bytes(range(256)) * (first // 256) + bytes(first % 256)
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.setblocking(False)
        s.sendall(f"POST /up HTTP/1.1\r\nHost: bench\r\ncontent-length: {total}\r\n\r\n".encode())
        socks.append([s, memoryview(piece)])
    # Send every connection's first bytes, as fast as the proxy takes them.
    deadline = time.time() + 60
    while any(len(v) for _, v in socks) and time.time() < deadline:
        pending = [(s, v) for s, v in socks if len(v)]
        _, writable, _ = select.select([], [s for s, _ in pending], [], 1)
        for entry in socks:
            s, v = entry
            if s in writable and len(v):
                try:
                    sent = s.send(v[:65536])
                except BlockingIOError:
                    continue
                entry[1] = v[sent:]
    sent_all = all(len(v) == 0 for _, v in socks)
    # Until the sink has what was sent (or 30 s: a proxy that holds the bodies).
    deadline = time.time() + 30
    while sink_received(sink_port) - received0 < n * first and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(2)
    during = rss_kib(pid)
    received = sink_received(sink_port) - received0
    for s, _ in socks:
        s.close()
    return [base, during, int(sent_all), received]


def report(path, ka_conns, n_uploads, first):
    rows = {}
    for line in open(path):
        kind, phase, run, *figures = line.split()
        rows.setdefault(kind, {}).setdefault(phase, []).append([int(f) for f in figures])
    label = {"gateway": "gateway", "haproxy": "HAProxy 2.6",
             "haproxy-nbthread1": "HAProxy 2.6, nbthread 1"}
    kinds = list(rows)

    def med(kind, phase, f):
        runs = rows[kind].get(phase, [])
        return statistics.median(f(r) for r in runs) if runs else float("nan")

    ka = [
        ("RSS at start (MiB)", lambda r: r[0] / 1024, "{:.1f}"),
        (f"**fresh idle, per connection (KiB)** ({ka_conns} connected, nothing sent)",
         lambda r: (r[1] - r[0]) / ka_conns, "**{:.2f}**"),
        ("**after one request, per idle keep-alive connection (KiB)**",
         lambda r: (r[2] - r[0]) / ka_conns, "**{:.2f}**"),
        ("**after close: growth given back within 10 s**",
         lambda r: 100 * (r[2] - r[3]) / max(1, r[2] - r[0]), "**{:.0f}%**"),
        ("RSS 10 s after close (MiB)", lambda r: r[3] / 1024, "{:.1f}"),
        (f"200 responses (of {ka_conns})", lambda r: r[6], "{:.0f}"),
        ("connections closed early by the proxy", lambda r: r[5], "{:.0f}"),
    ]
    up = [
        ("RSS at start (MiB)", lambda r: r[0] / 1024, "{:.1f}"),
        (f"RSS with {n_uploads} slow uploads in flight (MiB)", lambda r: r[1] / 1024, "{:.1f}"),
        ("**per slow upload (KiB)**", lambda r: (r[1] - r[0]) / n_uploads, "**{:.1f}**"),
        (f"bytes at the server when RSS is read (of {n_uploads * first} sent)",
         lambda r: r[3], "{:.0f}"),
    ]
    for title, phase, measures in (("Keep-alive connections", "keepalive", ka),
                                   ("Slow uploads", "uploads", up)):
        if not any(phase in rows[k] for k in kinds):
            continue
        nruns = max(len(rows[k].get(phase, [])) for k in kinds)
        print(f"{title}, medians of {nruns} run(s):")
        print()
        print("| measure | " + " | ".join(label.get(k, k) for k in kinds) + " |")
        print("|---|" + "---|" * len(kinds))
        for name, f, fmt in measures:
            print(f"| {name} | " + " | ".join(fmt.format(med(k, phase, f)) for k in kinds) + " |")
        print()
        print("Per run:")
        print()
        for k in kinds:
            for name, f, fmt in measures:
                if name.startswith("**") and phase in rows[k]:
                    values = " / ".join(fmt.format(f(r)).strip("*") for r in rows[k][phase])
                    print(f"- {label.get(k, k)}, {name.strip('*').split('**')[0]}: {values}")
        print()


def main():
    if sys.argv[1] == "report":
        report(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
        return
    phase, port, pid, ka_conns, n_uploads, first, total, sink_port = (
        sys.argv[1], *map(int, sys.argv[2:]))
    if phase == "keepalive":
        out = keepalive(port, pid, ka_conns)
    else:
        out = uploads(port, pid, n_uploads, first, total, sink_port)
    print(" ".join(str(v) for v in out))


if __name__ == "__main__":
    main()
