//! Differential test of `server ... on-marked-down shutdown-sessions` in a `mode tcp`
//! backend: the same `haproxy.cfg` in HAProxy 2.6 and in `spoe gateway`; when the server's
//! check fails, both cut the connection open on it (the client reads its end), and log it
//! with HAProxy's termination state `D-`.
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
use std::time::Duration;

use gateway_support::{GatewayProc, IO_TIMEOUT, ThreadServer, wait_until};
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
