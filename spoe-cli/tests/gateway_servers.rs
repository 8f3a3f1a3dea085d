//! What the `server` side of a backend does, HAProxy 2.6 against the gateway on the same
//! `haproxy.cfg` and the same requests: cookie persistence (`cookie NAME insert|prefix|rewrite
//! [indirect] [nocache] [preserve] [httponly] [domain D]`, `server ... cookie V`, a cookie
//! naming a down server, `option redispatch` after a failed connect) with the `Set-Cookie` and
//! `Cache-control` the client gets, the `Cookie` the server sees, and `%tsc` in the access line.
//!
//! Each proxy gets its own servers (the same program), so what each saw can be put side by
//! side. Fails (never skips) when `haproxy` is missing.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock, and spawn helpers that end with the test"
)]

mod gateway_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gateway_support::{
    Both, Conn, GatewayProc, RefusedPort, ThreadServer, access, head_server, local, wait_until,
};
use spoe_interop::Haproxy;

/// A server that answers every request with `x-server: NAME`, `x-cookie: <the Cookie headers
/// it got, joined by " | ">` and, when the path has `?set=NAME`, `Set-Cookie: NAME=app;
/// Path=/`; `cache-control: max-age=60` when it has `fresh`, an `etag` when it has `etag`.
fn cookie_server(name: &'static str) -> ThreadServer {
    head_server("cookie", move |target, cookies| {
        let mut head = format!(
            "HTTP/1.1 200 OK\r\nx-server: {name}\r\nx-cookie: {}\r\ncontent-length: 0\r\n",
            cookies.join(" | ")
        );
        if target.contains("fresh") {
            head.push_str("cache-control: max-age=60\r\n");
        }
        if target.contains("etag") {
            head.push_str("etag: \"v1\"\r\n");
        }
        if let Some((_, set)) = target.split_once("?set=") {
            head.push_str(&format!("set-cookie: {set}=app; Path=/\r\n"));
        }
        head
    })
}

fn config(port: u16, s1: SocketAddr, s2: SocketAddr, dead: SocketAddr) -> String {
    format!(
        r#"global
    log stdout format raw local0
defaults
    mode http
    log global
    log-format "CK %HU %tsc %s"
    timeout connect 500ms
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:{port}
    use_backend %[path,field(2,/)]
backend ins
    cookie SRV insert indirect nocache httponly domain .example.com
    server s1 {s1} cookie one
    server s2 {s2} cookie two
backend direct
    cookie SRV insert
    server s1 {s1} cookie one
    server s2 {s2} cookie two
backend pfx
    cookie JSESSIONID prefix
    server s1 {s1} cookie one
    server s2 {s2} cookie two
backend rw
    cookie SRV rewrite
    server s1 {s1} cookie one
    server s2 {s2} cookie two
backend keep
    cookie SRV insert preserve secure
    server s1 {s1} cookie one
    server s2 {s2}
backend down
    cookie SRV insert indirect
    server s1 {s1} cookie one
    server s3 {dead} cookie three check inter 100ms fall 1 rise 1
backend redisp
    cookie SRV insert indirect
    option redispatch
    retries 1
    server s1 {s1} cookie one
    server s3 {dead} cookie three
backend persist
    cookie SRV insert indirect
    option persist
    retries 0
    server s1 {s1} cookie one
    server s3 {dead} cookie three check inter 100ms fall 1 rise 1
"#
    )
}

/// What a client and a server saw of one request.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    status: u16,
    server: Option<String>,
    cookie_at_server: Option<String>,
    set_cookie: Vec<String>,
    cache_control: Vec<String>,
}

fn send(addr: SocketAddr, method: &str, path: &str, cookie: Option<&str>) -> Seen {
    let mut conn = Conn::connect(addr).unwrap();
    let mut h = vec![("connection", "close")];
    if let Some(c) = cookie {
        h.push(("cookie", c));
    }
    let r = conn.request(method, path, &h, b"").unwrap();
    let all = |n: &str| {
        r.headers
            .iter()
            .filter(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };
    Seen {
        status: r.status,
        server: r.header("x-server").map(str::to_owned),
        cookie_at_server: r.header("x-cookie").map(str::to_owned),
        set_cookie: all("set-cookie"),
        cache_control: all("cache-control"),
    }
}

/// The access lines (`CK URI TSC SERVER`) of a log, the polls left out.
fn access_lines(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| l.find("CK ").map(|at| l[at..].to_owned()))
        .filter(|l| !l.contains("poll"))
        .collect()
}

const CASES: &[(&str, &str, Option<&str>)] = &[
    ("GET", "/ins/a", None),
    ("GET", "/ins/b", Some("SRV=two")),
    ("GET", "/ins/c", Some("a=1; SRV=two; b=2")),
    ("GET", "/ins/d", Some("SRV=two;x=y")),
    ("GET", "/ins/e", Some("SRV=nobody; z=1")),
    ("POST", "/ins/f", None),
    ("GET", "/ins/fresh", None),
    ("GET", "/ins/etag", None),
    ("POST", "/ins/fresh", None),
    ("GET", "/ins/g?set=SRV", Some("SRV=one")),
    ("GET", "/direct/a", Some("SRV=two; a=1")),
    ("GET", "/direct/b?set=SRV", None),
    ("GET", "/pfx/a", Some("JSESSIONID=two~abc; k=v")),
    ("GET", "/pfx/b?set=JSESSIONID", Some("JSESSIONID=one~abc")),
    ("GET", "/pfx/c?set=JSESSIONID", None),
    ("GET", "/rw/a?set=SRV", Some("SRV=two")),
    ("GET", "/rw/b?set=SRV", None),
    ("GET", "/keep/a?set=SRV", None),
    ("GET", "/keep/b", None),
    ("GET", "/keep/c", None),
    ("GET", "/down/a", Some("SRV=three")),
    ("GET", "/redisp/a", Some("SRV=three")),
    ("GET", "/persist/a", Some("SRV=three")),
];

#[test]
fn cookie_persistence_as_haproxy() {
    let both = Both::start_with(
        || (cookie_server("s1"), cookie_server("s2"), RefusedPort::new()),
        |port, (s1, s2, dead)| config(port, s1.addr, s2.addr, dead.addr()),
    );
    let gw_err = || both.gateway.log();
    // The dead servers' checks mark them down on both sides first.
    for (addr, name) in both.sides() {
        assert!(
            wait_until(Duration::from_secs(10), || send(
                addr,
                "GET",
                "/down/poll",
                Some("SRV=three")
            )
            .status
                == 200),
            "{name}: s3 of 'down' never went down\n{}",
            gw_err()
        );
    }
    let (outcomes, mut diffs) = both.compare(CASES, |addr, _, (method, path, cookie)| {
        send(addr, method, path, *cookie)
    });
    // Not vacuous: HAProxy inserted, stripped and rewrote.
    assert_eq!(
        outcomes[0].set_cookie,
        ["SRV=one; path=/; domain=.example.com; HttpOnly"]
    );
    assert_eq!(outcomes[2].cookie_at_server.as_deref(), Some("a=1; b=2"));
    assert_eq!(outcomes[6].cache_control, ["max-age=60", "private"]);
    assert_eq!(
        outcomes[12].cookie_at_server.as_deref(),
        Some("JSESSIONID=abc; k=v")
    );
    diffs.extend(access::line_diffs(
        || both.haproxy.log(),
        || both.gateway.out(),
        access_lines,
        CASES.len(),
    ));
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}\n--- gateway stderr:\n{}",
        diffs.len(),
        diffs.join("\n"),
        gw_err()
    );
}

// ===== send-proxy =====

/// One connection a [`recorder`] accepted: its PROXY header and the requests it carried (or
/// the bytes of a TCP stream, up to a blank line).
#[derive(Debug, Clone, Default)]
struct Recorded {
    header: Vec<u8>,
    requests: Vec<String>,
}

type Records = Arc<Mutex<Vec<Recorded>>>;

/// Reads exactly `n` bytes.
fn read_n(r: &mut impl Read, n: usize) -> Option<Vec<u8>> {
    let mut b = vec![0u8; n];
    r.read_exact(&mut b).ok().map(|()| b)
}

/// A server that records each connection's PROXY header (v1 line or v2 block) and what
/// follows; every HTTP request gets a `200` on the same connection.
fn recorder() -> (ThreadServer, Records) {
    let records: Records = Arc::default();
    let shared = records.clone();
    let server = ThreadServer::start(move |sock: TcpStream| {
        let _ = sock.set_read_timeout(Some(Duration::from_secs(10)));
        let Ok(mut out) = sock.try_clone() else {
            return;
        };
        let mut r = BufReader::new(sock);
        let at = {
            let mut all = shared.lock().unwrap();
            all.push(Recorded::default());
            all.len() - 1
        };
        let Some(start) = read_n(&mut r, 5) else {
            return;
        };
        let header = if start == b"PROXY" {
            let mut line = start;
            let _ = r.read_until(b'\n', &mut line);
            line
        } else if start == b"\r\n\r\n\0" {
            let mut h = start;
            h.extend(read_n(&mut r, 11).unwrap_or_default());
            let len = usize::from(u16::from_be_bytes([h[14], h[15]]));
            h.extend(read_n(&mut r, len).unwrap_or_default());
            h
        } else {
            start
        };
        shared.lock().unwrap()[at].header = header;
        loop {
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                if line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let first = head.lines().next().unwrap_or_default().to_owned();
            shared.lock().unwrap()[at].requests.push(first.clone());
            if first.contains("HTTP/1.") {
                let _ = out.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
            }
        }
    });
    (server, records)
}

fn proxy_config(port: u16, v1: SocketAddr, v2: SocketAddr) -> String {
    format!(
        r#"defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:{port}
    unique-id-format %[req.hdr(x-id)]
    use_backend v2 if {{ path_beg /v2 }}
    use_backend v2id if {{ path_beg /id }}
    default_backend v1
backend v1
    server s1 {v1} send-proxy check inter 200ms
backend v2
    server s2 {v2} send-proxy-v2 check inter 200ms
backend v2id
    server s3 {v2} send-proxy-v2 proxy-v2-options unique-id
"#
    )
}

fn tcp_proxy_config(port: u16, v2: SocketAddr) -> String {
    format!(
        r#"defaults
    mode tcp
    timeout connect 1s
    timeout client 10s
    timeout server 10s
listen tcp
    bind 127.0.0.1:{port}
    server s4 {v2} send-proxy-v2
"#
    )
}

/// `header` with the client's port and the proxy's written as `<client>` and `<proxy>` (text
/// in v1, two big-endian bytes in v2), so that two proxies' headers compare.
fn normalized(header: &[u8], client: u16, proxy: u16) -> String {
    let mut h = header.to_vec();
    if h.starts_with(b"PROXY") {
        return String::from_utf8_lossy(&h)
            .replace(&format!(" {client} {proxy}\r\n"), " <client> <proxy>\r\n");
    }
    if h.len() >= 28 && h[13] == 0x11 {
        let ports = [client.to_be_bytes(), proxy.to_be_bytes()].concat();
        if h[24..28] == ports[..] {
            h[24..28].copy_from_slice(b"CCPP");
        }
    }
    format!("{h:?}")
}

/// What one proxy's servers recorded: per request, (client port, proxy port, the header's
/// normalized form, the request line); and the check connections' headers (normalized with
/// the server's port as `<proxy>`), and how many connections carried requests.
#[derive(Debug, PartialEq, Eq)]
struct ProxySeen {
    requests: Vec<(String, String)>,
    checks: Vec<String>,
    connections: usize,
}

/// Sends the test's requests to one proxy (HTTP on `port`, TCP on `tcp_port`) and reads what
/// its servers recorded.
fn drive(port: u16, tcp_port: u16, records: [&Records; 2], servers: [SocketAddr; 2]) -> ProxySeen {
    let mut sent = Vec::new();
    // Two requests on one connection (one server connection, reused), then one on another.
    let mut c = Conn::connect(local(port)).unwrap();
    let me = c.stream.local_addr().unwrap().port();
    for path in ["/v1/a", "/v1/b", "/v2/a", "/id/a"] {
        let r = c.request("GET", path, &[("x-id", "req-1")], b"").unwrap();
        assert_eq!(r.status, 200, "{path}");
        sent.push((me, path.to_owned()));
    }
    // Each on a connection of its own.
    for path in ["/v1/c", "/v2/b"] {
        let mut c2 = Conn::connect(local(port)).unwrap();
        let me2 = c2.stream.local_addr().unwrap().port();
        let r = c2
            .request("GET", path, &[("connection", "close")], b"")
            .unwrap();
        assert_eq!(r.status, 200, "{path}");
        sent.push((me2, path.to_owned()));
    }
    let mut t = TcpStream::connect(local(tcp_port)).unwrap();
    let tme = t.local_addr().unwrap().port();
    t.write_all(b"TCP hello\r\n\r\n").unwrap();
    assert!(wait_until(Duration::from_secs(10), || {
        records[1]
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.requests.iter().any(|q| q == "TCP hello"))
    }));
    drop(t);
    let mut requests = Vec::new();
    let mut checks = Vec::new();
    let mut connections = 0;
    for (records, server) in records.into_iter().zip(servers) {
        for rec in records.lock().unwrap().iter() {
            if rec.requests.is_empty() {
                // A health check: v1 names the check's own connection to the server.
                let src = std::str::from_utf8(&rec.header)
                    .ok()
                    .and_then(|l| l.split(' ').nth(4))
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0);
                checks.push(normalized(&rec.header, src, server.port()));
                continue;
            }
            connections += 1;
            for q in &rec.requests {
                let path = q.split(' ').nth(1).unwrap_or(q);
                let (client, proxy) = match sent.iter().find(|(_, p)| p == path) {
                    Some((c, _)) => (*c, port),
                    None => (tme, tcp_port),
                };
                requests.push((q.clone(), normalized(&rec.header, client, proxy)));
            }
        }
    }
    requests.sort();
    checks.sort();
    checks.dedup();
    ProxySeen {
        requests,
        checks,
        connections,
    }
}

#[test]
fn send_proxy_headers_are_haproxys_byte_for_byte() {
    let servers = || {
        let (s1, r1) = recorder();
        let (s2, r2) = recorder();
        (s1, r1, s2, r2)
    };
    let (h1, hr1, h2, hr2) = servers();
    let (haproxy, hport) = Haproxy::start_on_port(|p| proxy_config(p, h1.addr, h2.addr), &[]);
    let (haproxy_tcp, htport) = Haproxy::start_on_port(|p| tcp_proxy_config(p, h2.addr), &[]);
    let (g1, gr1, g2, gr2) = servers();
    let (gateway, gaddr) = GatewayProc::start_on_port(|p| proxy_config(p, g1.addr, g2.addr), &[]);
    let (gateway_tcp, gtaddr) = GatewayProc::start_on_port(|p| tcp_proxy_config(p, g2.addr), &[]);
    // A check of each server with a PROXY header on both sides first.
    for (r, name) in [
        (&hr1, "haproxy"),
        (&hr2, "haproxy"),
        (&gr1, "gateway"),
        (&gr2, "gateway"),
    ] {
        assert!(
            wait_until(Duration::from_secs(10), || r
                .lock()
                .unwrap()
                .iter()
                .any(|c| c.requests.is_empty() && !c.header.is_empty())),
            "{name}: no check connection recorded"
        );
    }
    let h = drive(hport, htport, [&hr1, &hr2], [h1.addr, h2.addr]);
    let g = drive(
        gaddr.port(),
        gtaddr.port(),
        [&gr1, &gr2],
        [g1.addr, g2.addr],
    );
    // Not vacuous: HAProxy wrote both versions, the unique ID, and reused a connection.
    let all = format!("{h:?}");
    assert!(
        all.contains("PROXY TCP4 127.0.0.1 127.0.0.1 <client> <proxy>"),
        "{all}"
    );
    let unique_id = format!("{:?}", b"req-1".to_vec());
    assert!(all.contains(&unique_id[1..unique_id.len() - 1]), "{all}");
    assert_eq!(h.connections, 6, "{h:#?}");
    assert_eq!(h, g, "haproxy:\n{h:#?}\ngateway:\n{g:#?}");
    drop((haproxy, haproxy_tcp, gateway, gateway_tcp));
}
