"""Memory per idle TLS (HTTP/1.1) and per idle HTTP/2 connection, after one request each, and
per connection stalled in its TLS handshake.

  tls_idle.py PORT PID CONNS h1|h2|stalled
      opens CONNS TLS connections to 127.0.0.1:PORT, sends one request on each (HTTP/1.1, or
      HTTP/2 with prior ALPN h2: preface, SETTINGS, one HEADERS frame), reads the answer, keeps
      them all open and idle, and prints: RSS before (KiB), RSS after (KiB), KiB per connection.
      `stalled`: each connection sends the first bytes of a ClientHello (a record header
      announcing 512 bytes, then 4 of them) and no more; the proxy's timeout client must be
      longer than the run.
"""
import socket
import ssl
import sys
import time


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def main():
    port, pid, conns, proto = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"] if proto == "h2" else ["http/1.1"])
    time.sleep(1)
    before = rss_kib(pid)
    held = []
    for _ in range(conns):
        if proto == "stalled":
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc]))
            held.append(s)
            continue
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="bench.example")
        if proto == "h2":
            # GET / (indexed :method GET, :scheme https, :path /, literal :authority "a").
            block = bytes([0x82, 0x87, 0x84, 0x41, 0x01, 0x61])
            s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
                      + len(block).to_bytes(3, "big") + b"\x01\x05\x00\x00\x00\x01" + block)
            got = b""
            # Until a HEADERS frame (type 1) on stream 1 arrives.
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    raise RuntimeError("closed")
                got += chunk
                i, seen = 0, False
                while i + 9 <= len(got):
                    n = int.from_bytes(got[i:i + 3], "big")
                    if got[i + 3] == 1 and int.from_bytes(got[i + 5:i + 9], "big") == 1:
                        seen = True
                    i += 9 + n
                if seen:
                    break
        else:
            s.sendall(b"GET / HTTP/1.1\r\nhost: a\r\n\r\n")
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += s.recv(65536)
            head, _, body = buf.partition(b"\r\n\r\n")
            length = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
            while len(body) < length:
                body += s.recv(65536)
        held.append(s)
    time.sleep(2)
    after = rss_kib(pid)
    print(before, after, f"{(after - before) / conns:.2f}")


main()
