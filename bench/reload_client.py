"""The load and the reloads of bench/reload.sh, and their report.

  reload_client.py run PORT PID LOG MARKER RELOADS EVERY THREADS NEW_EVERY
      THREADS clients send GET / in a closed loop (a new connection every NEW_EVERY requests,
      so that accepting is measured too) while the proxy PID gets SIGUSR2 RELOADS times, EVERY
      seconds apart. A reload lasts from its signal until one more MARKER line is in LOG (the
      proxy's own "reloaded" line). Prints one line per request: start (s), latency (ms),
      status, and whether it started during a reload (1) or between reloads (0); on stderr,
      each reload's duration.
  reload_client.py report FILE...
      the table: per proxy (the file's name), during reloads and between them: requests,
      p50, p99, worst (ms), errors.
"""
import os
import signal
import socket
import sys
import threading
import time

from memory_client import read_response


def get(s):
    """One GET on socket s; the status (0: the connection closed or broke)."""
    s.sendall(b"GET / HTTP/1.1\r\nhost: bench\r\n\r\n")
    return read_response(s)


def run(port, pid, log, marker, reloads, every, threads, new_every):
    stop = threading.Event()
    windows = []  # (start, end) of each reload, perf_counter seconds
    lock = threading.Lock()
    samples = []

    def client():
        mine = []
        s = None
        n = 0
        while not stop.is_set():
            if s is not None and n % new_every == 0:
                s.close()
                s = None
            t0 = time.perf_counter()
            status = 0
            # A kept-alive connection the proxy closed meanwhile (HAProxy's old worker does on
            # a reload) is retried once on a new one, as browsers do; the time counts.
            for attempt in range(2):
                reused = s is not None
                try:
                    if s is None:
                        s = socket.create_connection(("127.0.0.1", port), timeout=30)
                    status = get(s)
                except OSError:
                    status = 0
                if status == 0 and s is not None:
                    s.close()
                    s = None
                if status != 0 or not reused:
                    break
            t1 = time.perf_counter()
            mine.append((t0, (t1 - t0) * 1000, status))
            n += 1
        with lock:
            samples.extend(mine)

    def markers():
        try:
            with open(log, "rb") as f:
                return f.read().count(marker.encode())
        except OSError:
            return 0

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for w in workers:
        w.start()
    begin = time.perf_counter()
    time.sleep(every)
    for _ in range(reloads):
        before = markers()
        start = time.perf_counter()
        os.kill(pid, signal.SIGUSR2)
        while markers() <= before:
            time.sleep(0.002)
            if time.perf_counter() - start > 60:
                sys.exit("no reload line within 60 s")
        end = time.perf_counter()
        windows.append((start, end))
        print(f"reload {len(windows)}: {(end - start) * 1000:.0f} ms", file=sys.stderr)
        time.sleep(every)
    stop.set()
    for w in workers:
        w.join()
    for t0, ms, status in sorted(samples):
        during = any(a <= t0 <= b for a, b in windows)
        print(f"{t0 - begin:.6f}\t{ms:.3f}\t{status}\t{int(during)}")


def pct(v, p):
    if not v:
        return float("nan")
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


def report(files):
    print("| proxy | requests | when | p50 (ms) | p99 (ms) | worst (ms) | errors |")
    print("|---|---|---|---|---|---|---|")
    for path in files:
        name = os.path.basename(path).rsplit(".", 1)[0]
        rows = [line.split("\t") for line in open(path) if line.strip()]
        for flag, when in (("1", "during reloads"), ("0", "between reloads")):
            ms = [float(r[1]) for r in rows if r[3].strip() == flag and r[2] == "200"]
            errors = sum(1 for r in rows if r[3].strip() == flag and r[2] != "200")
            print(
                f"| {name} | {len(ms)} | {when} | {pct(ms, 50):.2f} | {pct(ms, 99):.2f} | "
                f"{max(ms) if ms else float('nan'):.2f} | {errors} |"
            )


if __name__ == "__main__":
    if sys.argv[1] == "run":
        a = sys.argv[2:]
        run(int(a[0]), int(a[1]), a[2], a[3], int(a[4]), float(a[5]), int(a[6]), int(a[7]))
    else:
        report(sys.argv[2:])
