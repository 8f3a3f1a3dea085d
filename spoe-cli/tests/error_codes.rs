//! The status an event gets when its agent fails, as HAProxy 2.6 records it (issue 24 §4):
//! the same configuration and the same failing agent behind HAProxy and behind the gateway,
//! one request each, and the `set-on-error` variable must say the same (docs/errors.md). Where
//! HAProxy waits for `timeout processing` the gateway answers at once (`gateway_faults` checks
//! that with a long timeout); its log names the cause, once.
//!
//! Fails (never skips) when `haproxy` is missing.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock, and run fake agents on threads"
)]

mod gateway_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::BytesMut;
use gateway_support::{GatewayProc, RefusedPort, ThreadServer, local, wait_until};
use spoe_interop::Haproxy;
use spop::{AgentHello, Capabilities, Disconnect, Frame, FrameDecoder, Status};

/// How a fake agent fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fails {
    /// Answers any bytes with an HTTP error page.
    Http,
    /// Reads the HAPROXY-HELLO and closes.
    CloseOnHello,
    /// Answers the HAPROXY-HELLO with AGENT-DISCONNECT 3.
    RefuseHello,
    /// Handshakes, then closes when the NOTIFY comes.
    CloseOnNotify,
    /// Handshakes, then answers the NOTIFY with AGENT-DISCONNECT 3.
    DisconnectOnNotify,
    /// Handshakes, then never answers.
    Silent,
}

/// The next whole frame from `sock`; `None` when it closes.
fn read_frame(sock: &mut TcpStream, buf: &mut BytesMut) -> Option<Frame> {
    let mut decoder = FrameDecoder::new(16380);
    let mut chunk = [0u8; 4096];
    loop {
        if let Ok(Some(frame)) = decoder.decode(buf) {
            return Some(frame);
        }
        let n = sock.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn send(sock: &mut TcpStream, frame: &Frame) {
    let mut out = BytesMut::new();
    frame.encode(&mut out);
    let _ = sock.write_all(&out);
}

fn serve(mut sock: TcpStream, fails: Fails) {
    let _ = sock.set_read_timeout(Some(Duration::from_secs(20)));
    let mut buf = BytesMut::new();
    if fails == Fails::Http {
        let mut chunk = [0u8; 4096];
        let _ = sock.read(&mut chunk);
        let _ = sock.write_all(
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        );
        return;
    }
    if read_frame(&mut sock, &mut buf).is_none() {
        return;
    }
    let bye = Frame::agent_disconnect(&Disconnect::new(Status(3)));
    match fails {
        Fails::CloseOnHello => return,
        Fails::RefuseHello => return send(&mut sock, &bye),
        _ => {}
    }
    let hello = AgentHello {
        version: spop::Version::V2_0,
        max_frame_size: 16380,
        capabilities: Capabilities::default(),
    };
    send(&mut sock, &Frame::agent_hello(&hello));
    if read_frame(&mut sock, &mut buf).is_none() {
        return;
    }
    match fails {
        Fails::CloseOnNotify => {}
        Fails::DisconnectOnNotify => send(&mut sock, &bye),
        _ => while read_frame(&mut sock, &mut buf).is_some() {},
    }
}

const SPOE_CONF: &str = "\
[e]
spoe-agent a
    messages m
    option var-prefix p
    option set-on-error err
    timeout hello 2s
    timeout idle 30s
    timeout processing 1s
    use-backend agents

spoe-message m
    args path=path
    event on-frontend-http-request
";

fn config(port: u16, agent: SocketAddr) -> String {
    format!(
        "defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:{port}
    filter spoe engine e config spoe.conf
    http-request return status 200 hdr x-err \"%[var(txn.p.err)]\"
backend agents
    mode tcp
    server a1 {agent}
"
    )
}

/// The `x-err` a request gets from the proxy at `addr`.
fn error_code(addr: SocketAddr) -> String {
    let (status, headers, _) =
        spoe_interop::http_get(addr, "/", &[]).unwrap_or_else(|e| panic!("GET / on {addr}: {e}"));
    assert_eq!(status, 200);
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("x-err"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// The code HAProxy 2.6 and the gateway record with the agent at `agent`, and the gateway's log
/// once it holds `logged` (its lines are written by a thread of their own).
fn both(agent: SocketAddr, logged: &str) -> (String, String, String) {
    let files = [("spoe.conf", SPOE_CONF)];
    let (_haproxy, port) = Haproxy::start_on_port(|port| config(port, agent), &files);
    let theirs = error_code(local(port));
    let (gw, addr) = GatewayProc::start_on_port(|port| config(port, agent), &files);
    let ours = error_code(addr);
    wait_until(Duration::from_secs(10), || gw.log().contains(logged));
    (theirs, ours, gw.log())
}

#[test]
fn a_failing_agent_gets_haproxys_code() {
    let refused = RefusedPort::new();
    let (theirs, ours, log) = both(refused.addr(), "Connection refused");
    assert_eq!(
        (theirs.as_str(), ours.as_str()),
        ("1", "1"),
        "refused\n{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("unreachable") && l.contains("Connection refused")),
        "{log}"
    );

    let mut seen = Vec::new();
    for fails in [
        Fails::Http,
        Fails::CloseOnHello,
        Fails::RefuseHello,
        Fails::CloseOnNotify,
        Fails::DisconnectOnNotify,
        Fails::Silent,
    ] {
        let agent = ThreadServer::start(move |sock| serve(sock, fails));
        let logged = match fails {
            Fails::Http => "does not speak SPOP",
            _ => "",
        };
        let (theirs, ours, log) = both(agent.addr, logged);
        assert_eq!(
            ours, theirs,
            "{fails:?}: the gateway's code is not HAProxy's\n{log}"
        );
        if fails == Fails::Http {
            assert!(
                log.contains("the peer does not speak SPOP (its first bytes look like HTTP)"),
                "{log}"
            );
        }
        seen.push((fails, theirs));
    }
    // What HAProxy 2.6 records, as docs/errors.md says: 1 when no connection could be made, 256 +
    // the status when the connection failed with the message on it.
    let expected = [
        (Fails::Http, "1"),
        (Fails::CloseOnHello, "1"),
        (Fails::RefuseHello, "1"),
        (Fails::CloseOnNotify, "257"),
        (Fails::DisconnectOnNotify, "259"),
        (Fails::Silent, "1"),
    ];
    let seen: Vec<(Fails, &str)> = seen.iter().map(|(f, c)| (*f, c.as_str())).collect();
    assert_eq!(seen, expected);
}
