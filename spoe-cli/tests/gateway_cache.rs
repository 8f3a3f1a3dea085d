//! Differential test of the small object cache (`cache` sections, `http-request cache-use`,
//! `http-response cache-store`, `res.cache_hit`, `res.cache_name`, `show cache`): the same
//! `haproxy.cfg` run by HAProxy 2.6 and by `spoe gateway -f`, the same request sequence sent
//! to both, each in front of its own origin server that answers the same way. What the
//! client gets (status, headers, body: a miss shows the origin's count of requests for the
//! path, a hit the stored one), the `Age` of hits, the access lines (server `<CACHE>`,
//! status, termination state) and the objects `show cache` lists must be the same: misses,
//! hits, `Age`, `Vary`, `no-store` and the other uncacheable answers, `304 Not Modified` to
//! conditional requests, HEAD, invalidation by a POST, eviction of the least recently used
//! object when `total-max-size` is reached. Fails (never skips) without `haproxy`.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock"
)]

mod gateway_support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gateway_support::{Conn, GatewayProc, ThreadServer, local};
use spoe_interop::Haproxy;

/// Bytes of each large object: two fit in the 1 MB cache, not three.
const BIG: usize = 400_000;

fn haproxy_cfg(port: u16, server: SocketAddr, socket: &Path) -> String {
    format!(
        r#"global
    stats socket {socket} level admin
defaults
    mode http
    log stdout format raw local0
    option httplog
    timeout connect 1s
    timeout client 30s
    timeout server 30s
cache small
    total-max-size 1
    max-object-size 500000
    max-age 60
    process-vary on
frontend fe
    bind 127.0.0.1:{port}
    http-request cache-use small
    http-response cache-store small
    http-response set-header x-cache-hit %[res.cache_hit]
    http-response set-header x-cache-name %[res.cache_name] if {{ res.cache_hit }}
    default_backend app
backend app
    server s1 {server}
"#,
        socket = socket.display()
    )
}

/// The origin: answers each path as the test needs, the body naming how many requests for
/// that path it has seen.
fn origin() -> ThreadServer {
    let counts: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    ThreadServer::start(move |sock| serve(sock, &counts))
}

fn serve(mut sock: TcpStream, counts: &Mutex<HashMap<String, usize>>) {
    let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    loop {
        let Some(end) = read_until_head_end(&mut sock, &mut buf) else {
            return;
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end + 4);
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap_or_default().split(' ');
        let (method, path) = (
            first.next().unwrap_or_default().to_owned(),
            first.next().unwrap_or_default().to_owned(),
        );
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.as_str())
        };
        let length: usize = get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < length {
            let mut b = [0u8; 4096];
            match sock.read(&mut b) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&b[..n]),
            }
        }
        buf.drain(..length);
        let n = {
            let mut c = counts.lock().unwrap();
            let n = c.entry(format!("{method} {path}")).or_default();
            *n += 1;
            *n
        };
        let (status, extra, body) = answer(&method, &path, get("accept-encoding"), n);
        let mut resp = format!("HTTP/1.1 {status} X\r\n");
        for (k, v) in extra {
            resp.push_str(&format!("{k}: {v}\r\n"));
        }
        resp.push_str(&format!(
            "content-type: text/plain\r\ncontent-length: {}\r\n\r\n",
            body.len()
        ));
        let mut bytes = resp.into_bytes();
        bytes.extend_from_slice(&body);
        if sock.write_all(&bytes).is_err() {
            return;
        }
    }
}

fn read_until_head_end(sock: &mut TcpStream, buf: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(i);
        }
        let mut b = [0u8; 4096];
        match sock.read(&mut b) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&b[..n]),
        }
    }
}

/// The origin's answer to request number `n` for `method path`.
fn answer(
    method: &str,
    path: &str,
    accept_encoding: Option<&str>,
    n: usize,
) -> (u16, Vec<(&'static str, &'static str)>, Vec<u8>) {
    let body = format!("{method} {path} #{n}\n").into_bytes();
    let fresh = ("cache-control", "max-age=100");
    match path {
        _ if method == "POST" => (200, vec![], body),
        "/fresh" => (
            200,
            vec![
                fresh,
                ("etag", "\"v1\""),
                ("last-modified", "Wed, 21 Oct 2015 07:28:00 GMT"),
            ],
            body,
        ),
        "/age" => (200, vec![fresh, ("age", "5")], body),
        "/old" => (200, vec![fresh, ("age", "500")], body),
        "/nostore" => (200, vec![("cache-control", "no-store")], body),
        "/private" => (200, vec![("cache-control", "private, max-age=100")], body),
        "/plain" => (200, vec![], body),
        "/etag-only" => (200, vec![("etag", "\"e\"")], body),
        "/missing" => (404, vec![fresh], body),
        "/cookie" => (200, vec![fresh, ("set-cookie", "a=b")], body),
        "/vary" => {
            let gzip = accept_encoding.is_some_and(|a| a.contains("gzip"));
            let mut h = vec![fresh, ("vary", "accept-encoding")];
            if gzip {
                h.push(("content-encoding", "gzip"));
            }
            (200, h, body)
        }
        "/vary-cookie" => (200, vec![fresh, ("vary", "cookie")], body),
        "/expired" => (
            200,
            vec![("expires", "Thu, 01 Jan 1970 00:00:01 GMT")],
            body,
        ),
        p if p.starts_with("/big") => {
            let mut b = body;
            b.resize(BIG, b'.');
            (200, vec![fresh], b)
        }
        _ => (200, vec![fresh], body),
    }
}

/// The headers compared (`age` apart: it depends on the second the request falls in).
const HEADERS: &[&str] = &[
    "x-cache-hit",
    "x-cache-name",
    "etag",
    "last-modified",
    "cache-control",
    "content-encoding",
    "vary",
    "content-length",
    "content-type",
    "set-cookie",
];

#[derive(Debug, PartialEq, Eq)]
struct Answer {
    status: u16,
    headers: Vec<Option<String>>,
    /// The body's first line (the origin's request count), and its length.
    body: (String, usize),
}

/// Sends one request on its own connection; `(answer, Age)`.
fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (Answer, Option<i64>) {
    let mut h = headers.to_vec();
    h.push(("connection", "close"));
    let resp = if method == "HEAD" {
        head(addr, path)
    } else {
        let mut conn = Conn::connect(addr).expect("connect");
        conn.request(method, path, &h, b"")
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    };
    let text = String::from_utf8_lossy(&resp.body);
    let answer = Answer {
        status: resp.status,
        // A 304's Content-Length: HAProxy keeps the stored one, hyper (the gateway's HTTP/1)
        // drops it (a documented difference).
        headers: HEADERS
            .iter()
            .filter(|n| resp.status != 304 || **n != "content-length")
            .map(|n| resp.header(n).map(str::to_owned))
            .collect(),
        body: (
            text.lines().next().unwrap_or_default().to_owned(),
            resp.body.len(),
        ),
    };
    (answer, resp.header("age").and_then(|a| a.parse().ok()))
}

/// A HEAD: the head and whatever follows it until the connection closes (nothing).
fn head(addr: SocketAddr, path: &str) -> gateway_support::Resp {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "HEAD {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    let text = String::from_utf8_lossy(&all).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    gateway_support::Resp {
        status,
        headers: lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect(),
        body: body.as_bytes().to_vec(),
    }
}

/// A runtime API command's reply.
fn cli(socket: &Path, command: &str) -> String {
    let mut s = UnixStream::connect(socket).unwrap_or_else(|e| panic!("{}: {e}", socket.display()));
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    writeln!(s, "{command}").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// `show cache`'s objects: `hash:` and `vary:` of each, sorted (addresses and sizes are the
/// process's own).
fn objects(show: &str) -> Vec<String> {
    let mut v: Vec<String> = show
        .lines()
        .filter(|l| l.contains(" hash:"))
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    v.sort();
    v
}

/// A request of the sequence: method, path, headers.
type Request<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>);

#[test]
fn cache_as_haproxy() {
    let sockets = tempfile::tempdir().unwrap();
    let (hap_sock, gw_sock) = (
        sockets.path().join("hap.sock"),
        sockets.path().join("gw.sock"),
    );
    let (hap_origin, gw_origin) = (origin(), origin());
    let (haproxy, hap_port) =
        Haproxy::start_on_port(|port| haproxy_cfg(port, hap_origin.addr, &hap_sock), &[]);
    let (gateway, gw_addr) =
        GatewayProc::start_on_port(|port| haproxy_cfg(port, gw_origin.addr, &gw_sock), &[]);
    let later = "Thu, 22 Oct 2015 07:28:00 GMT";
    let requests: Vec<Request<'_>> = vec![
        ("GET", "/fresh", vec![]),
        ("GET", "/fresh", vec![]),
        ("GET", "/fresh", vec![("if-none-match", "\"v1\"")]),
        ("GET", "/fresh", vec![("if-none-match", "\"other\"")]),
        ("GET", "/fresh", vec![("if-modified-since", later)]),
        ("GET", "/fresh", vec![("authorization", "Basic YTpi")]),
        ("GET", "/fresh", vec![("cache-control", "no-cache")]),
        ("GET", "/fresh", vec![("pragma", "no-cache")]),
        ("HEAD", "/fresh", vec![]),
        ("POST", "/fresh", vec![]),
        ("GET", "/fresh", vec![]),
        ("GET", "/fresh", vec![]),
        ("GET", "/age", vec![]),
        ("GET", "/age", vec![]),
        ("GET", "/old", vec![]),
        ("GET", "/old", vec![]),
        ("GET", "/nostore", vec![]),
        ("GET", "/nostore", vec![]),
        ("GET", "/private", vec![]),
        ("GET", "/private", vec![]),
        ("GET", "/plain", vec![]),
        ("GET", "/plain", vec![]),
        ("GET", "/etag-only", vec![]),
        ("GET", "/etag-only", vec![]),
        ("GET", "/missing", vec![]),
        ("GET", "/missing", vec![]),
        ("GET", "/cookie", vec![]),
        ("GET", "/cookie", vec![]),
        ("GET", "/vary", vec![("accept-encoding", "gzip")]),
        ("GET", "/vary", vec![("accept-encoding", "gzip")]),
        ("GET", "/vary", vec![("accept-encoding", "br")]),
        ("GET", "/vary", vec![("accept-encoding", "br")]),
        ("GET", "/vary", vec![("accept-encoding", "br, gzip")]),
        ("GET", "/vary-cookie", vec![]),
        ("GET", "/vary-cookie", vec![]),
        ("GET", "/expired", vec![]),
        ("GET", "/expired", vec![]),
        ("GET", "/big1", vec![]),
        ("GET", "/big2", vec![]),
        ("GET", "/big1", vec![]),
        ("GET", "/big3", vec![]),
        ("GET", "/big2", vec![]),
        ("GET", "/big1", vec![]),
        ("GET", "/big3", vec![]),
    ];
    let mut differ = Vec::new();
    let mut hap_all = Vec::new();
    for (i, (method, path, headers)) in requests.iter().enumerate() {
        let (hap, hap_age) = send(local(hap_port), method, path, headers);
        let (gw, gw_age) = send(gw_addr, method, path, headers);
        let ages_agree = match (hap_age, gw_age) {
            (Some(h), Some(g)) => (h - g).abs() <= 1,
            (h, g) => h == g,
        };
        if hap != gw || !ages_agree {
            differ.push(format!(
                "#{i} {method} {path} {headers:?}\n  haproxy: {hap:?} age {hap_age:?}\n  gateway: {gw:?} age {gw_age:?}"
            ));
        }
        hap_all.push((hap, hap_age));
    }
    let (hap_show, gw_show) = (cli(&hap_sock, "show cache"), cli(&gw_sock, "show cache"));
    assert!(
        differ.is_empty(),
        "{}\n--- haproxy show cache:\n{hap_show}\n--- gateway show cache:\n{gw_show}\n--- gateway stderr:\n{}",
        differ.join("\n"),
        gateway.log()
    );
    assert_eq!(
        objects(&gw_show),
        objects(&hap_show),
        "show cache\n--- haproxy:\n{hap_show}\n--- gateway:\n{gw_show}"
    );
    assert!(
        gw_show.starts_with("0x") && gw_show.contains(": small (shctx:0x"),
        "{gw_show}"
    );

    // Not vacuous: a hit, a 304, a HEAD without body, an eviction.
    let hit = |i: usize| hap_all[i].0.headers[0].as_deref() == Some("1");
    assert!(!hit(0) && hit(1), "{:?}", &hap_all[..2]);
    assert_eq!(hap_all[1].0.body.0, "GET /fresh #1", "the stored body");
    assert_eq!(hap_all[2].0.status, 304);
    assert_eq!(hap_all[4].0.status, 304);
    assert_eq!(hap_all[8].0.body.1, 0, "HEAD has no body");
    assert!(hit(8));
    assert!(!hit(10), "the POST dropped the object");
    assert!(
        hap_all[13].1.is_some_and(|a| a >= 5),
        "the origin's Age counts"
    );
    assert!(hit(29) && !hit(30) && hit(31));
    assert!(hit(39) && !hit(41), "big2 was evicted");

    // The access lines: server (`<CACHE>` for a hit), status, termination state.
    let gw_out = || gateway.out();
    let hap_log = || haproxy.log();
    assert!(
        gateway_support::wait_until(Duration::from_secs(10), || {
            hap_log()
                .lines()
                .filter(|l| l.contains("HTTP/1.1\""))
                .count()
                >= requests.len()
                && gw_out()
                    .lines()
                    .filter(|l| l.contains("HTTP/1.1\""))
                    .count()
                    >= requests.len()
        }),
        "--- haproxy:\n{}\n--- gateway:\n{}",
        hap_log(),
        gw_out()
    );
    let fields = |log: String| -> Vec<String> {
        log.lines()
            .filter(|l| l.contains("HTTP/1.1\""))
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                // Timers: which are -1, not their values.
                let timers: Vec<&str> = f[4]
                    .split('/')
                    .map(|t| if t == "-1" { "-1" } else { "n" })
                    .collect();
                format!("{} {} {} {} {}", f[3], timers.join("/"), f[5], f[9], f[13])
            })
            .collect()
    };
    let (h, g) = (fields(hap_log()), fields(gw_out()));
    assert_eq!(
        g, h,
        "access lines: server, timers, status, termination, path"
    );
    assert!(
        h[1].starts_with("fe/<CACHE>"),
        "a frontend hit has no backend: {}",
        h[1]
    );
}

#[test]
fn spoe_check_refuses_what_haproxy_refuses() {
    let check = |cfg: &str| {
        spoe_gateway::config::GatewayConfig::parse_str(cfg, "h.cfg", Path::new("."), None)
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let proxy = "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\nfrontend fe\n    bind :0\n";
    let err = check(&format!("{proxy}    http-request cache-use nope\n"));
    assert!(
        err.contains(
            "frontend 'fe': unable to find the cache 'nope' referenced by the filter 'cache'."
        ),
        "{err}"
    );
    let err = check("cache c\n    max-age 10\n");
    assert!(err.contains("Size not specified for cache 'c'"), "{err}");
    let err = check("cache c\n    total-max-size 1\n    max-object-size 600000\n");
    assert!(
        err.contains("\"max-object-size\" is limited to an half of \"total-max-size\" => 524288"),
        "{err}"
    );
    let err = check("cache c\n    total-max-size 1\n    ttl 3\n");
    assert!(
        err.contains("unknown keyword 'ttl' in 'cache' section"),
        "{err}"
    );
    let err = check(&format!(
        "cache c\n    total-max-size 1\n{proxy}    http-request cache-use\n"
    ));
    assert!(err.contains("expects a cache name"), "{err}");
    for cfg in [
        format!("{proxy}    http-request cache-use nope\n"),
        "cache c\n    max-age 10\n".to_owned(),
        "cache c\n    total-max-size 1\n    max-object-size 600000\n".to_owned(),
        "cache c\n    total-max-size 1\n    ttl 3\n".to_owned(),
    ] {
        let (ok, out) = spoe_interop::haproxy_check(&cfg);
        assert!(
            !ok,
            "haproxy accepts what the gateway refuses:\n{cfg}\n{out}"
        );
    }
}
