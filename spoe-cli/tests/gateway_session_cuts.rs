//! Differential tests of `server ... on-marked-down shutdown-sessions` and `on-marked-up
//! shutdown-backup-sessions`: the same `haproxy.cfg` in HAProxy 2.6 and in `spoe gateway`.
//! In a `mode tcp` backend, when the server's check fails, both cut the connection open on it
//! (the client reads its end), and log it with HAProxy's termination state `D-`. In a `mode
//! http` backend, a request waiting for its server's response gets a 502 (`DH--`), a
//! WebSocket tunnel is closed (`D---`, `U---` when a server coming up cut the backup
//! servers'), a finished exchange is not touched; the state change's line counts the
//! sessions it cuts.
//!
//! Fails (never skips) when `haproxy` is missing.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock"
)]

mod gateway_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use gateway_support::{Conn, GatewayProc, IO_TIMEOUT, ThreadServer, wait_until};
use spoe_interop::Haproxy;

/// How long a state change may take to show (checks run every 100 ms).
const CHANGE: Duration = Duration::from_secs(10);

fn echo() -> ThreadServer {
    ThreadServer::start(|mut sock: TcpStream| {
        let _ = sock.set_read_timeout(Some(CHANGE * 2));
        let mut buf = [0u8; 1024];
        while let Ok(n) = sock.read(&mut buf) {
            if n == 0 || sock.write_all(&buf[..n]).is_err() {
                return;
            }
        }
    })
}

fn config(port: u16, data: SocketAddr, health: SocketAddr) -> String {
    format!(
        "global
    log stderr format short local0 info
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 1s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:{port}
    default_backend bk
backend bk
    server s1 {data} check port {} inter 100ms rise 1 fall 1 on-marked-down shutdown-sessions
",
        health.port()
    )
}

/// An echoed exchange through `addr`, then the connection left open.
fn open_session(addr: SocketAddr) -> TcpStream {
    let mut sock = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
    sock.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    sock.write_all(b"hello").expect("write");
    let mut buf = [0u8; 5];
    sock.read_exact(&mut buf).expect("the echo");
    assert_eq!(&buf, b"hello");
    sock
}

/// Whether the proxy ended `sock` (end of stream or reset) within `CHANGE`.
fn cut(sock: &mut TcpStream) -> bool {
    sock.set_read_timeout(Some(CHANGE)).expect("timeout");
    let mut buf = [0u8; 16];
    !matches!(sock.read(&mut buf), Ok(n) if n > 0)
}

#[test]
fn a_server_marked_down_loses_its_sessions_as_in_haproxy() {
    let (hx_data, gw_data) = (echo(), echo());
    let hx_health = echo();
    let gw_health = echo();
    let (hx, hx_port) =
        Haproxy::start_on_port(|port| config(port, hx_data.addr, hx_health.addr), &[]);
    let (gw, gw_addr) =
        GatewayProc::start_on_port(|port| config(port, gw_data.addr, gw_health.addr), &[]);
    let hx_addr: SocketAddr = ([127, 0, 0, 1], hx_port).into();
    let mut hx_session = open_session(hx_addr);
    let mut gw_session = open_session(gw_addr);
    // The checks' port stops answering: DOWN, and the sessions are cut.
    drop(hx_health);
    drop(gw_health);
    assert!(
        cut(&mut hx_session),
        "haproxy kept the session:\n{}",
        hx.log()
    );
    assert!(
        cut(&mut gw_session),
        "the gateway kept the session:\n{}",
        gw.log()
    );
    // The tcplog lines say why: `D-`, the server went down.
    let termination = |log: &str| {
        log.lines()
            .filter(|l| l.starts_with('<') && l.contains(" fe bk/s1 "))
            .map(|l| {
                l.split_whitespace()
                    .find(|w| w.len() == 2 && w.chars().all(|c| c.is_ascii_uppercase() || c == '-'))
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect::<Vec<_>>()
    };
    assert!(
        wait_until(CHANGE, || termination(&hx.log()) == ["D-"]),
        "haproxy:\n{}",
        hx.log()
    );
    assert!(
        wait_until(CHANGE, || termination(&gw.log()) == termination(&hx.log())),
        "gateway:\n{}",
        gw.log()
    );
}

/// Reads a request head from `sock` (None: the peer left first).
fn read_head(sock: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match sock.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

/// A server that answers an upgrade with a 101 and `hello\n` then echoes, and holds any other
/// request unanswered until the proxy leaves; `seen` counts the heads it got.
fn holding_server(seen: Arc<AtomicUsize>) -> ThreadServer {
    ThreadServer::start(move |mut sock: TcpStream| {
        let _ = sock.set_read_timeout(Some(CHANGE * 2));
        let Some(head) = read_head(&mut sock) else {
            return;
        };
        seen.fetch_add(1, Ordering::SeqCst);
        if head.to_ascii_lowercase().contains("upgrade: websocket") {
            let _ = sock.write_all(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                  Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\nhello\n",
            );
        }
        // Echoes a tunnel's bytes; a held request reads nothing more and waits for the end.
        let mut buf = [0u8; 1024];
        while let Ok(n) = sock.read(&mut buf) {
            if n == 0 || sock.write_all(&buf[..n]).is_err() {
                return;
            }
        }
    })
}

/// The target of `option httpchk`: 200 while `up`, else 503.
fn health_page(up: Arc<AtomicBool>) -> ThreadServer {
    ThreadServer::start(move |mut sock: TcpStream| {
        let _ = sock.set_read_timeout(Some(IO_TIMEOUT));
        if read_head(&mut sock).is_some() {
            let status = if up.load(Ordering::SeqCst) {
                "200 OK"
            } else {
                "503 Service Unavailable"
            };
            let _ = write!(
                sock,
                "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
    })
}

const UPGRADE_REQUEST: &[u8] = b"GET /ws HTTP/1.1\r\nhost: test\r\nconnection: Upgrade\r\n\
upgrade: websocket\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n";

/// One proxy of an HTTP test: its data server, its health page's switch, its address.
struct HttpSide {
    name: &'static str,
    addr: SocketAddr,
    seen: Arc<AtomicUsize>,
    up: Arc<AtomicBool>,
    log: Box<dyn Fn() -> String>,
    _servers: [ThreadServer; 2],
    _proxy: Box<dyn std::any::Any>,
}

impl HttpSide {
    /// The access lines of backend `bk`: server, status, termination state, path.
    fn access(&self) -> Vec<[String; 4]> {
        let mut lines: Vec<_> = (self.log)()
            .lines()
            .filter(|l| l.starts_with('<'))
            .filter_map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                let i = w.iter().position(|w| w.starts_with("bk/"))?;
                let path = w.iter().position(|w| *w == "\"GET").map(|p| w[p + 1])?;
                Some([w[i], w[i + 2], w[i + 6], path].map(str::to_owned))
            })
            .collect();
        lines.sort();
        lines
    }

    /// The "N sessions active" of the line saying `server` changed state.
    fn sessions_active(&self, server: &str, state: &str) -> Option<String> {
        let line = (self.log)()
            .lines()
            .find(|l| l.contains(&format!("Server bk/{server} is {state}")))?
            .to_owned();
        let at = line.find(" sessions active")?;
        Some(line[..at].rsplit(' ').next()?.to_owned())
    }
}

/// HAProxy and the gateway on `config(port, data, health)`, each with its own servers; the
/// health pages start `up`.
fn http_sides(config: impl Fn(u16, SocketAddr, SocketAddr) -> String, up: bool) -> [HttpSide; 2] {
    let side = |name: &'static str| {
        let seen = Arc::new(AtomicUsize::new(0));
        let switch = Arc::new(AtomicBool::new(up));
        let servers = [holding_server(seen.clone()), health_page(switch.clone())];
        let (data, health) = (servers[0].addr, servers[1].addr);
        let (addr, log, proxy): (SocketAddr, Box<dyn Fn() -> String>, Box<dyn std::any::Any>) =
            if name == "haproxy" {
                let (hx, port) = Haproxy::start_on_port(|port| config(port, data, health), &[]);
                let hx = Arc::new(hx);
                let reader = hx.clone();
                (
                    ([127, 0, 0, 1], port).into(),
                    Box::new(move || reader.log()),
                    Box::new(hx),
                )
            } else {
                let (gw, addr) = GatewayProc::start_on_port(|port| config(port, data, health), &[]);
                let gw = Arc::new(gw);
                let reader = gw.clone();
                (addr, Box::new(move || reader.log()), Box::new(gw))
            };
        HttpSide {
            name,
            addr,
            seen,
            up: switch,
            log,
            _servers: servers,
            _proxy: proxy,
        }
    };
    [side("haproxy"), side("gateway")]
}

/// Backend `bk`'s server `s1` on `data`, checked on `health` every 100 ms and doing `s1_on`
/// (its `on-marked-*` option) when its state changes, followed by a backup `b1` on the same
/// server when `backup`.
fn http_config(
    port: u16,
    data: SocketAddr,
    health: SocketAddr,
    s1_on: &str,
    backup: bool,
) -> String {
    let b1 = if backup {
        format!("    server b1 {data} backup\n")
    } else {
        String::new()
    };
    format!(
        "global
    log stderr format short local0 info
defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout tunnel 30s
frontend fe
    bind 127.0.0.1:{port}
    default_backend bk
backend bk
    option httpchk GET /health
    server s1 {data} check port {} inter 100ms rise 1 fall 1 {s1_on}
{b1}",
        health.port()
    )
}

/// Opens a WebSocket and a request its server holds through `side`, each on a connection of
/// its own, once the server has both.
fn open_exchanges(side: &HttpSide) -> (Conn, Conn) {
    let mut ws = Conn::connect(side.addr).expect("connect");
    ws.send_raw(UPGRADE_REQUEST).expect("send the upgrade");
    let switched = ws.read_response().expect("the 101");
    assert_eq!(switched.status, 101, "{}", side.name);
    assert_eq!(ws.read_bytes(6).expect("the greeting"), b"hello\n");
    let mut held = Conn::connect(side.addr).expect("connect");
    held.send_raw(b"GET /held HTTP/1.1\r\nhost: test\r\n\r\n")
        .expect("send");
    assert!(
        wait_until(CHANGE, || side.seen.load(Ordering::SeqCst) == 2),
        "{}: the server did not get the held request:\n{}",
        side.name,
        (side.log)()
    );
    (ws, held)
}

/// Flips both health pages, then reads what the clients get: the held request's status and
/// whether the WebSocket was closed; the access lines once both are written.
fn flip_and_observe(sides: &[HttpSide; 2], up: bool) -> Vec<(u16, bool, Vec<[String; 4]>)> {
    let mut open: Vec<_> = sides.iter().map(open_exchanges).collect();
    for side in sides {
        side.up.store(up, Ordering::SeqCst);
    }
    sides
        .iter()
        .zip(&mut open)
        .map(|(side, (ws, held))| {
            held.stream.set_read_timeout(Some(CHANGE)).expect("timeout");
            let status = held.read_response().map_or(0, |r| r.status);
            let closed = ws.closed_within(CHANGE);
            assert!(
                wait_until(CHANGE, || side.access().len() == 2),
                "{}:\n{}",
                side.name,
                (side.log)()
            );
            (status, closed, side.access())
        })
        .collect()
}

/// Asserts what HAProxy's clients got once the server changed state, a 502 for the held
/// request and the WebSocket closed, and its access lines (`expected`: server, status,
/// termination state, path); then that the gateway's got the same.
fn assert_cut_as_haproxy(
    sides: &[HttpSide; 2],
    seen: &[(u16, bool, Vec<[String; 4]>)],
    expected: [[&str; 4]; 2],
) {
    let expected = expected.map(|line| line.map(str::to_owned)).to_vec();
    assert_eq!(
        seen[0],
        (502, true, expected),
        "haproxy:\n{}",
        (sides[0].log)()
    );
    assert_eq!(seen[1], seen[0], "gateway:\n{}", (sides[1].log)());
}

#[test]
fn an_http_server_marked_down_loses_its_requests_and_tunnels_as_in_haproxy() {
    let sides = http_sides(
        |port, data, health| {
            http_config(
                port,
                data,
                health,
                "on-marked-down shutdown-sessions",
                false,
            )
        },
        true,
    );
    let seen = flip_and_observe(&sides, false);
    assert_cut_as_haproxy(
        &sides,
        &seen,
        [
            ["bk/s1", "101", "D---", "/ws"],
            ["bk/s1", "502", "DH--", "/held"],
        ],
    );
    // The DOWN line counts the two sessions it cuts (HAProxy's says 1 or 2 from one run to
    // the next: its other threads may have ended one by the time it reads the count).
    let active = |side: &HttpSide| side.sessions_active("s1", "DOWN");
    assert!(
        matches!(active(&sides[0]).as_deref(), Some("1" | "2")),
        "haproxy:\n{}",
        (sides[0].log)()
    );
    assert_eq!(
        active(&sides[1]).as_deref(),
        Some("2"),
        "{}",
        (sides[1].log)()
    );
}

#[test]
fn an_http_server_coming_up_cuts_the_backup_servers_sessions_as_in_haproxy() {
    // s1 starts failing its check: DOWN, the traffic goes to the backup b1 until s1 is UP.
    let sides = http_sides(
        |port, data, health| {
            http_config(
                port,
                data,
                health,
                "on-marked-up shutdown-backup-sessions",
                true,
            )
        },
        false,
    );
    for side in &sides {
        assert!(
            wait_until(CHANGE, || side.sessions_active("s1", "DOWN").is_some()),
            "{}:\n{}",
            side.name,
            (side.log)()
        );
    }
    let seen = flip_and_observe(&sides, true);
    assert_cut_as_haproxy(
        &sides,
        &seen,
        [
            ["bk/b1", "101", "U---", "/ws"],
            ["bk/b1", "502", "UH--", "/held"],
        ],
    );
}
