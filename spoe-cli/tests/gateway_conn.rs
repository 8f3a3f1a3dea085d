//! What the server receives and how connections open and close, HAProxy 2.6 against the
//! gateway on the same `haproxy.cfg` and the same requests: `option forwardfor` (the
//! frontend's and the backend's options together, `header`, `except`, `if-none`) and the
//! connection modes (`option http-keep-alive`, `http-server-close`, `httpclose`).
//!
//! Each proxy gets its own backend (the same program), so what each backend saw can be put
//! side by side. Fails (never skips) when `haproxy` is missing.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock, and spawn helpers that end with the test"
)]

mod gateway_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gateway_support::{Backend, Conn, GatewayProc, ThreadServer, local};
use spoe_interop::Haproxy;

const DEFAULTS: &str = "\
defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
";

/// Headers as (lower-case name, value).
type Headers = Vec<(String, String)>;

/// The request heads a test server saw.
type Heads = Arc<Mutex<Vec<String>>>;

/// One proxy under test and its own backend.
struct Side {
    name: &'static str,
    addr: SocketAddr,
    backend: Backend,
    log: Box<dyn Fn() -> String>,
    // Keeps the proxy running.
    _proxy: Box<dyn std::any::Any>,
}

/// HAProxy and the gateway, each running `config(port, server)` with a backend of its own.
fn both(config: impl Fn(u16, SocketAddr) -> String) -> [Side; 2] {
    let hap_backend = Backend::start("b");
    let (haproxy, port) = Haproxy::start_on_port(|port| config(port, hap_backend.addr), &[]);
    let gw_backend = Backend::start("b");
    let (gateway, addr) = GatewayProc::start_on_port(|port| config(port, gw_backend.addr), &[]);
    let hap_log = haproxy.dir().join("haproxy.log");
    let gw_log = gateway.dir.path().join("gateway.err");
    [
        Side {
            name: "haproxy",
            addr: local(port),
            backend: hap_backend,
            log: Box::new(move || std::fs::read_to_string(&hap_log).unwrap_or_default()),
            _proxy: Box::new(haproxy),
        },
        Side {
            name: "gateway",
            addr,
            backend: gw_backend,
            log: Box::new(move || std::fs::read_to_string(&gw_log).unwrap_or_default()),
            _proxy: Box::new(gateway),
        },
    ]
}

/// The headers named `names` of a request head, in order, as (lower-case name, value).
fn headers_of(head: &str, names: &[&str]) -> Vec<(String, String)> {
    head.split("\r\n")
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .filter(|(n, _)| names.contains(&n.as_str()))
        .collect()
}

/// Asserts that both sides produced the same `outcome` for each case, naming the cases that
/// differ.
fn assert_same<T: PartialEq + std::fmt::Debug>(sides: &[Side; 2], cases: &[(String, [T; 2])]) {
    let diffs: Vec<String> = cases
        .iter()
        .filter(|(_, [a, b])| a != b)
        .map(|(name, [a, b])| format!("{name}:\n  haproxy {a:?}\n  gateway {b:?}"))
        .collect();
    assert!(
        diffs.is_empty(),
        "{} of {} cases differ:\n{}\n--- gateway log:\n{}",
        diffs.len(),
        cases.len(),
        diffs.join("\n"),
        (sides[1].log)()
    );
    let _ = (sides[0].name, (sides[0].log)());
}

const FF_NAMES: &[&str] = &["x-forwarded-for", "x-client", "x-real", "x-fe"];

/// Sends each `(path, headers)` on a new connection to both sides and returns what each
/// backend saw of the forwarding headers.
fn forwarded(sides: &[Side; 2], cases: &[(&str, &[(&str, &str)])]) -> Vec<(String, [Headers; 2])> {
    cases
        .iter()
        .map(|(path, headers)| {
            let seen = sides.each_ref().map(|side| {
                let before = side.backend.seen().len();
                let mut conn = Conn::connect(side.addr).unwrap();
                let mut h = headers.to_vec();
                h.push(("connection", "close"));
                let r = conn.request("GET", path, &h, b"").unwrap();
                assert_eq!(
                    r.status,
                    200,
                    "{} {path}: {r:?}\n{}",
                    side.name,
                    (side.log)()
                );
                let seen = side.backend.seen();
                assert_eq!(seen.len(), before + 1, "{} {path}", side.name);
                // Values in order per name; the gateway's header map keeps a name's values
                // together, where HAProxy appends the new line after the others.
                let mut seen = headers_of(&seen[before].head, FF_NAMES);
                seen.sort_by(|a, b| a.0.cmp(&b.0));
                seen
            });
            (format!("GET {path} {headers:?}"), seen)
        })
        .collect()
}

const PRESET: &[(&str, &str)] = &[
    ("x-forwarded-for", "192.0.2.1"),
    ("x-client", "192.0.2.2"),
    ("x-fe", "192.0.2.3"),
];

#[test]
fn forwardfor_in_defaults_with_backends_overriding_it_as_haproxy() {
    let sides = both(|port, srv| {
        format!(
            "{DEFAULTS}    option forwardfor
frontend fe
    bind 127.0.0.1:{port}
    use_backend hdr if {{ path_beg /hdr }}
    use_backend except_lo if {{ path_beg /except-lo }}
    use_backend except_other if {{ path_beg /except-other }}
    use_backend ifnone if {{ path_beg /ifnone }}
    default_backend plain
backend plain
    server s {srv}
backend hdr
    option forwardfor header X-Client
    server s {srv}
backend except_lo
    option forwardfor except 127.0.0.0/8
    server s {srv}
backend except_other
    option forwardfor except 10.0.0.0/8 header X-Real
    server s {srv}
backend ifnone
    option forwardfor if-none
    server s {srv}
"
        )
    });
    let mut cases = Vec::new();
    for path in ["/plain", "/hdr", "/except-lo", "/except-other", "/ifnone"] {
        cases.push((path, &[][..]));
        cases.push((path, PRESET));
    }
    let seen = forwarded(&sides, &cases);
    // Not vacuous: the plain case has the client's address.
    assert_eq!(
        seen[0].1[0],
        [("x-forwarded-for".to_owned(), "127.0.0.1".to_owned())]
    );
    assert_same(&sides, &seen);
}

#[test]
fn forwardfor_of_the_frontend_only_and_if_none_as_haproxy() {
    let sides = both(|port, srv| {
        format!(
            "{DEFAULTS}frontend fe
    bind 127.0.0.1:{port}
    option forwardfor header X-Fe if-none
    use_backend be_ff if {{ path_beg /be }}
    use_backend be_ifnone if {{ path_beg /ifnone }}
    default_backend be_none
backend be_none
    server s {srv}
backend be_ff
    option forwardfor
    server s {srv}
backend be_ifnone
    option forwardfor header X-Client if-none except 192.0.2.0/24
    server s {srv}
"
        )
    });
    let mut cases = Vec::new();
    for path in ["/none", "/be", "/ifnone"] {
        cases.push((path, &[][..]));
        cases.push((path, PRESET));
    }
    let seen = forwarded(&sides, &cases);
    assert_eq!(seen[0].1[0], [("x-fe".to_owned(), "127.0.0.1".to_owned())]);
    assert_same(&sides, &seen);
}

/// What one scenario of two requests on one client connection shows.
#[derive(Debug, PartialEq, Eq)]
struct ConnOutcome {
    /// The `Connection` header of each response the client got.
    client_connection: Vec<Option<String>>,
    /// Whether the proxy closed the client connection after the first response.
    client_closed: bool,
    /// The `Connection` header of each request the server got.
    server_connection: Vec<Option<String>>,
    /// Connections the server accepted for the requests.
    server_connections: usize,
}

/// Two requests on one client connection (a new connection for the second if the proxy
/// closed the first).
fn two_requests(side: &Side, path: &str) -> ConnOutcome {
    let before = side.backend.seen().len();
    let conns_before = side.backend.connections();
    let mut conn = Conn::connect(side.addr).unwrap();
    let first = conn.request("GET", path, &[], b"").unwrap();
    assert_eq!(
        first.status,
        200,
        "{}: {first:?}\n{}",
        side.name,
        (side.log)()
    );
    let client_closed = conn.closed_within(Duration::from_millis(500));
    if client_closed {
        conn = Conn::connect(side.addr).unwrap();
    }
    let second = conn.request("GET", path, &[], b"").unwrap();
    assert_eq!(second.status, 200, "{}: {second:?}", side.name);
    drop(conn);
    let seen = side.backend.seen();
    ConnOutcome {
        client_connection: [first, second]
            .iter()
            .map(|r| r.header("connection").map(str::to_ascii_lowercase))
            .collect(),
        client_closed,
        server_connection: seen[before..]
            .iter()
            .map(|s| {
                headers_of(&s.head, &["connection"])
                    .pop()
                    .map(|(_, v)| v.to_ascii_lowercase())
            })
            .collect(),
        server_connections: side.backend.connections() - conns_before,
    }
}

fn conn_modes(frontend_option: &str) -> Vec<(String, [ConnOutcome; 2])> {
    let sides = both(|port, srv| {
        format!(
            "{DEFAULTS}    option http-server-close
frontend fe
    bind 127.0.0.1:{port}
    {frontend_option}
    use_backend be_close if {{ path_beg /close }}
    use_backend be_kal if {{ path_beg /kal }}
    use_backend be_no if {{ path_beg /no }}
    default_backend be_default
backend be_default
    server s {srv}
backend be_close
    option httpclose
    server s {srv}
backend be_kal
    option http-keep-alive
    server s {srv}
backend be_no
    no option http-server-close
    server s {srv}
"
        )
    });
    let cases: Vec<_> = ["/default", "/close", "/kal", "/no"]
        .into_iter()
        .map(|path| {
            (
                format!("{frontend_option} GET {path}"),
                sides.each_ref().map(|side| two_requests(side, path)),
            )
        })
        .collect();
    assert_same(&sides, &cases);
    cases
}

#[test]
fn connection_modes_with_the_frontends_mode_from_defaults() {
    let cases = conn_modes("# the frontend keeps defaults' http-server-close");
    // Not vacuous: server-close reaches the server; the client stays connected.
    assert_eq!(
        cases[0].1[0].server_connection,
        vec![Some("close".to_owned()), Some("close".to_owned())]
    );
    assert!(!cases[0].1[0].client_closed);
}

#[test]
fn connection_modes_with_httpclose_in_the_frontend() {
    let cases = conn_modes("option httpclose");
    assert!(cases[0].1[0].client_closed, "{:?}", cases[0]);
}

#[test]
fn connection_modes_with_keep_alive_in_the_frontend() {
    let cases = conn_modes("option http-keep-alive");
    // A backend in keep-alive mode reuses its server connection when both are keep-alive.
    assert_eq!(cases[2].1[0].server_connections, 1, "{:?}", cases[2]);
}

/// A WebSocket-like server: answers an upgrade request with a 101 and `hello\n`, then echoes
/// what it reads in upper case until the client closes. Records each request head.
fn upgrading_server(heads: Heads, accept: bool) -> ThreadServer {
    ThreadServer::start(move |mut sock: TcpStream| {
        let _ = sock.set_read_timeout(Some(Duration::from_secs(20)));
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match sock.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => return,
            }
        }
        heads
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(&head).into_owned());
        let accept: &[u8] = if accept {
            // RFC 6455's answer to UPGRADE_REQUEST's key.
            b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        } else {
            b""
        };
        let _ = sock.write_all(
            &[
                &b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"[..],
                accept,
                b"\r\nhello\n",
            ]
            .concat(),
        );
        let mut buf = [0u8; 4096];
        loop {
            match sock.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if sock.write_all(&buf[..n].to_ascii_uppercase()).is_err() {
                        return;
                    }
                }
            }
        }
    })
}

const UPGRADE_REQUEST: &[u8] = b"GET /ws HTTP/1.1\r\nhost: test\r\nconnection: Upgrade\r\n\
upgrade: websocket\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n";

/// What the client and the server saw of an upgrade through one proxy.
#[derive(Debug, PartialEq, Eq)]
struct UpgradeOutcome {
    status: u16,
    /// `connection` and `upgrade` of the 101, lower case.
    switch_headers: Vec<(String, String)>,
    /// `connection` and `upgrade` of the request the server got, lower case.
    server_saw: Vec<(String, String)>,
    /// Bytes the client read after the 101: the server's greeting, then the echo of `ping`.
    tunnelled: String,
}

/// Proxies in front of [`upgrading_server`]s, with `timeouts` in `defaults`.
fn upgrade_sides(timeouts: &str, accept: bool) -> ([Side; 2], [Heads; 2], [ThreadServer; 2]) {
    let heads: [Heads; 2] = [Arc::default(), Arc::default()];
    let servers = [
        upgrading_server(heads[0].clone(), accept),
        upgrading_server(heads[1].clone(), accept),
    ];
    let addrs = [servers[0].addr, servers[1].addr];
    let config = |port: u16, srv: SocketAddr| {
        format!(
            "defaults\n    mode http\n    timeout connect 1s\n{timeouts}\
             frontend fe\n    bind 127.0.0.1:{port}\n    default_backend ws\n\
             backend ws\n    server s {srv}\n"
        )
    };
    let (haproxy, port) = Haproxy::start_on_port(|port| config(port, addrs[0]), &[]);
    let (gateway, addr) = GatewayProc::start_on_port(|port| config(port, addrs[1]), &[]);
    let hap_log = haproxy.dir().join("haproxy.log");
    let gw_log = gateway.dir.path().join("gateway.err");
    let sides = [
        Side {
            name: "haproxy",
            addr: local(port),
            backend: Backend::start("unused"),
            log: Box::new(move || std::fs::read_to_string(&hap_log).unwrap_or_default()),
            _proxy: Box::new(haproxy),
        },
        Side {
            name: "gateway",
            addr,
            backend: Backend::start("unused"),
            log: Box::new(move || std::fs::read_to_string(&gw_log).unwrap_or_default()),
            _proxy: Box::new(gateway),
        },
    ];
    (sides, heads, servers)
}

/// Upgrades a new connection; returns it after the 101 and the server's greeting.
fn upgrade(side: &Side, heads: &Mutex<Vec<String>>) -> (Conn, UpgradeOutcome) {
    let mut conn = Conn::connect(side.addr).unwrap();
    conn.send_raw(UPGRADE_REQUEST).unwrap();
    let r = conn.read_response().unwrap();
    let pick = |headers: &[(String, String)]| -> Vec<(String, String)> {
        let mut v: Vec<_> = headers
            .iter()
            .filter(|(n, _)| n == "connection" || n == "upgrade")
            .map(|(n, v)| (n.clone(), v.to_ascii_lowercase()))
            .collect();
        v.sort();
        v
    };
    let greeting = conn.read_bytes(6).unwrap_or_default();
    let head = heads.lock().unwrap().last().cloned().unwrap_or_default();
    let server_saw = pick(&headers_of(&head, &["connection", "upgrade"]));
    let outcome = UpgradeOutcome {
        status: r.status,
        switch_headers: pick(&r.headers),
        server_saw,
        tunnelled: String::from_utf8_lossy(&greeting).into_owned(),
    };
    (conn, outcome)
}

#[test]
fn websocket_upgrade_carries_bytes_both_ways_as_haproxy() {
    let (sides, heads, _servers) = upgrade_sides(
        "    timeout client 10s\n    timeout server 10s\n    timeout tunnel 10s\n",
        true,
    );
    let outcomes = [0, 1].map(|i| {
        let (mut conn, mut outcome) = upgrade(&sides[i], &heads[i]);
        // A message bigger than a buffer, both ways.
        let big = "x".repeat(100_000) + "\n";
        conn.send_raw(b"ping\n").unwrap();
        conn.send_raw(big.as_bytes()).unwrap();
        let echo = conn.read_bytes(5 + big.len()).unwrap_or_default();
        outcome.tunnelled.push_str(&String::from_utf8_lossy(&echo));
        outcome
    });
    assert_eq!(outcomes[0].status, 101, "{:?}", outcomes[0]);
    assert!(outcomes[0].tunnelled.starts_with("hello\nPING\nXXX"));
    let cases = vec![("upgrade".to_owned(), outcomes)];
    assert_same(&sides, &cases);
}

#[test]
fn timeout_tunnel_governs_the_idle_tunnel_not_client_or_server_as_haproxy() {
    // Short client and server timeouts, a long tunnel timeout: the idle tunnel outlives both.
    let (sides, heads, _servers) = upgrade_sides(
        "    timeout client 400ms\n    timeout server 400ms\n    timeout tunnel 20s\n",
        true,
    );
    let outlived = [0, 1].map(|i| {
        let (mut conn, outcome) = upgrade(&sides[i], &heads[i]);
        assert_eq!(outcome.status, 101, "{}: {outcome:?}", sides[i].name);
        std::thread::sleep(Duration::from_millis(1500));
        conn.send_raw(b"late\n").unwrap();
        conn.read_bytes(5)
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    });
    assert_eq!(outlived[0].as_deref(), Some("LATE\n"));
    assert_same(
        &sides,
        &[("idle longer than client/server".to_owned(), outlived)],
    );

    // A short tunnel timeout closes the idle tunnel (and long client/server ones do not
    // keep it).
    let (sides, heads, _servers) = upgrade_sides(
        "    timeout client 20s\n    timeout server 20s\n    timeout tunnel 300ms\n",
        true,
    );
    let closed = [0, 1].map(|i| {
        let (mut conn, outcome) = upgrade(&sides[i], &heads[i]);
        assert_eq!(outcome.status, 101, "{}: {outcome:?}", sides[i].name);
        conn.closed_within(Duration::from_secs(10))
    });
    assert!(closed[0]);
    assert_same(&sides, &[("idle past timeout tunnel".to_owned(), closed)]);
}

#[test]
fn websocket_handshakes_without_their_key_are_refused_as_haproxy() {
    let timeouts = "    timeout client 10s\n    timeout server 10s\n";
    // The request has no Sec-WebSocket-Key: refused before the server.
    let (sides, heads, _servers) = upgrade_sides(timeouts, true);
    let keyless = String::from_utf8_lossy(UPGRADE_REQUEST)
        .replace("sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "");
    let refused = [0, 1].map(|i| {
        let mut conn = Conn::connect(sides[i].addr).unwrap();
        conn.send_raw(keyless.as_bytes()).unwrap();
        let status = conn.read_response().map(|r| r.status).ok();
        (status, heads[i].lock().unwrap().len())
    });
    assert_eq!(refused[0], (Some(400), 0));
    assert_same(&sides, &[("request without key".to_owned(), refused)]);

    // The server's 101 has no Sec-WebSocket-Accept: an invalid response.
    let (sides, heads, _servers) = upgrade_sides(timeouts, false);
    let invalid = [0, 1].map(|i| upgrade(&sides[i], &heads[i]).1.status);
    assert_eq!(invalid[0], 502);
    assert_same(&sides, &[("101 without accept".to_owned(), invalid)]);
}

/// A backend on `127.0.0.2` at the port a proxy is tried on, kept for the port it ends on.
fn backend_at_proxy_port(slot: &std::cell::RefCell<Option<Backend>>, port: u16) -> String {
    let addr = SocketAddr::from(([127, 0, 0, 2], port));
    *slot.borrow_mut() = Backend::bind("mapped", addr).ok();
    format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:{port}\n    use_backend off if {{ path /off }}\n\
         default_backend be\nbackend be\n    server s 127.0.0.2\nbackend off\n    server s ipv4@127.0.0.2:+0\n"
    )
}

#[test]
fn a_server_without_port_gets_the_clients_destination_port_as_haproxy() {
    let hap_slot = std::cell::RefCell::new(None);
    let (haproxy, hap_port) = Haproxy::start_on_port(|p| backend_at_proxy_port(&hap_slot, p), &[]);
    let gw_slot = std::cell::RefCell::new(None);
    let (gateway, gw_addr) =
        GatewayProc::start_on_port(|p| backend_at_proxy_port(&gw_slot, p), &[]);
    let mut outcomes = Vec::new();
    for (addr, slot) in [(local(hap_port), &hap_slot), (gw_addr, &gw_slot)] {
        let backend = slot
            .borrow_mut()
            .take()
            .expect("a backend on the proxy's port");
        let r = gateway_support::get(addr, "/mapped", &[]).unwrap();
        let off = gateway_support::get(addr, "/off", &[]).unwrap();
        outcomes.push((
            [r.status, off.status],
            r.header("x-backend").map(str::to_owned),
            backend.count(),
        ));
    }
    assert_eq!(
        outcomes[0],
        ([200, 200], Some("mapped".to_owned()), 2),
        "{}",
        haproxy.log()
    );
    assert_eq!(outcomes[0], outcomes[1], "{}", gateway.log());
}
