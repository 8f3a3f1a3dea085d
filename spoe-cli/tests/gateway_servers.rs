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

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use gateway_support::{Conn, GatewayProc, ThreadServer, local, wait_until};
use spoe_interop::Haproxy;

/// A server that answers every request with `x-server: NAME`, `x-cookie: <the Cookie headers
/// it got, joined by " | ">` and, when the path has `?set=NAME`, `Set-Cookie: NAME=app;
/// Path=/`; `cache-control: max-age=60` when it has `fresh`, an `etag` when it has `etag`.
fn cookie_server(name: &'static str) -> ThreadServer {
    ThreadServer::start(move |sock: TcpStream| {
        let _ = sock.set_read_timeout(Some(Duration::from_secs(10)));
        let Ok(mut out) = sock.try_clone() else {
            return;
        };
        let mut reader = BufReader::new(sock);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let target = line.split(' ').nth(1).unwrap_or("/").to_owned();
            let mut cookies = Vec::new();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 {
                    return;
                }
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                if let Some((n, v)) = h.split_once(':')
                    && n.eq_ignore_ascii_case("cookie")
                {
                    cookies.push(v.trim().to_owned());
                }
            }
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
            head.push_str("\r\n");
            if out.write_all(head.as_bytes()).is_err() {
                return;
            }
        }
    })
}

/// A loopback port with nothing listening (connections to it are refused).
fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
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
    let servers = |_: ()| {
        let (s1, s2) = (cookie_server("s1"), cookie_server("s2"));
        let dead = closed_port();
        (s1, s2, dead)
    };
    let (h1, h2, hdead) = servers(());
    let (haproxy, hport) =
        Haproxy::start_on_port(|port| config(port, h1.addr, h2.addr, hdead), &[]);
    let (g1, g2, gdead) = servers(());
    let (gateway, gaddr) =
        GatewayProc::start_on_port(|port| config(port, g1.addr, g2.addr, gdead), &[]);
    let sides = [(local(hport), "haproxy"), (gaddr, "gateway")];
    let gw_out =
        || std::fs::read_to_string(gateway.dir.path().join("gateway.out")).unwrap_or_default();
    let gw_err =
        || std::fs::read_to_string(gateway.dir.path().join("gateway.err")).unwrap_or_default();
    // The dead servers' checks mark them down on both sides first.
    for (addr, name) in sides {
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
    let mut diffs = Vec::new();
    let mut outcomes = Vec::new();
    for (method, path, cookie) in CASES {
        let [h, g] = sides.map(|(addr, _)| send(addr, method, path, *cookie));
        if h != g {
            diffs.push(format!(
                "{method} {path} cookie {cookie:?}:\n  haproxy {h:?}\n  gateway {g:?}"
            ));
        }
        outcomes.push(h);
    }
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
    let logged = wait_until(Duration::from_secs(10), || {
        access_lines(&haproxy.log()).len() >= CASES.len()
            && access_lines(&gw_out()).len() >= CASES.len()
    });
    let (hl, gl) = (access_lines(&haproxy.log()), access_lines(&gw_out()));
    assert!(logged, "access lines:\n{hl:#?}\n{gl:#?}");
    for (h, g) in hl.iter().zip(&gl) {
        if h != g {
            diffs.push(format!("access line:\n  haproxy {h}\n  gateway {g}"));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}\n--- gateway stderr:\n{}",
        diffs.len(),
        diffs.join("\n"),
        gw_err()
    );
}
