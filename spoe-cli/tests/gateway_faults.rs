//! `spoe gateway` under faults (docs/fault-plan.md): an agent that dies mid-message (F3), no agent
//! at all (F10), malformed HTTP (F13) and a slow client (F15).
//!
//! Timing follows the plan: coarse bounds over real sockets, with stream timeouts (`timeout
//! client/server 30s`) far above the bound under test, so a hang is unambiguous.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock, and spawn helpers that end with the test"
)]

mod gateway_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use gateway_support::{AgentProc, Backend, Conn, GatewayProc, RefusedPort, Resp, StopOnDrop};
use spop::{AgentHello, Body, Capabilities, Frame, FrameDecoder, HaproxyHello};

/// spoe.conf: one message per request, errors in `txn.echo.err`.
fn spoe_conf(processing: &str) -> String {
    spoe_interop::echo_spoe_conf("s=str(hello) uid=req.hdr(x-id)", processing, false)
}

/// haproxy.cfg: `/ret...` is answered by the gateway itself with the SPOE error and echoed
/// value as headers; everything else goes to `backend` with `x-err` added.
fn haproxy_cfg(port: u16, agent: SocketAddr, backend: SocketAddr, extra_defaults: &str) -> String {
    format!(
        r#"global
    log stdout format raw local0
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
{extra_defaults}
frontend fe
    bind 127.0.0.1:{port}
    filter spoe engine e config spoe.conf
    http-request return status 200 hdr x-err "%[var(txn.echo.err)]" hdr x-s "%[var(txn.echo.s)]" if {{ path_beg /ret }}
    http-request set-header x-err "%[var(txn.echo.err)]"
    default_backend be
backend be
    server s1 {backend}
backend agents
    mode tcp
    server a {agent}
"#
    )
}

/// A gateway on a port it claims by binding it, running [`haproxy_cfg`] (with `extra_defaults`) and [`spoe_conf`]
/// (with `processing`), its agent at `agent`, in front of a new backend; and its address.
fn start_gateway(
    agent: SocketAddr,
    processing: &str,
    extra_defaults: &str,
) -> (Backend, GatewayProc, SocketAddr) {
    let backend = Backend::start("be");
    let (gw, addr) = GatewayProc::start_on_port(
        |port| haproxy_cfg(port, agent, backend.addr, extra_defaults),
        &[("spoe.conf", &spoe_conf(processing))],
    );
    (backend, gw, addr)
}

// ===== a raw agent that breaks after the handshake =====

#[derive(Clone, Copy, Debug)]
enum Break {
    /// Close the connection (FIN) as soon as a NOTIFY arrives.
    CloseOnNotify,
    /// Answer a NOTIFY with the first 6 bytes of an ACK frame (length prefix and part of the
    /// header), then close: the engine sees a truncated frame.
    HalfAckThenClose,
    /// Answer a NOTIFY with a zero-length frame (a protocol error) and keep the connection open.
    GarbageOnNotify,
}

/// An SPOP agent on `std::net` that completes the HELLO handshake, then breaks as told.
struct RawAgent {
    addr: SocketAddr,
    notifies: Arc<AtomicUsize>,
    accepts: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl RawAgent {
    fn start(how: Break) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let notifies = Arc::new(AtomicUsize::new(0));
        let accepts = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (notifies, accepts, stop) = (notifies.clone(), accepts.clone(), stop.clone());
            thread::spawn(move || {
                for sock in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let Ok(sock) = sock else { continue };
                    accepts.fetch_add(1, Ordering::SeqCst);
                    let notifies = notifies.clone();
                    thread::spawn(move || raw_agent_conn(sock, how, &notifies));
                }
            })
        };
        Self {
            addr,
            notifies,
            accepts,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for RawAgent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn raw_agent_conn(mut sock: TcpStream, how: Break, notifies: &AtomicUsize) {
    let _ = sock.set_read_timeout(Some(Duration::from_secs(30)));
    let mut decoder = FrameDecoder::new(16380);
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Ok(n) = sock.read(&mut chunk) else { return };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        while let Ok(Some(frame)) = decoder.decode(&mut buf) {
            match frame.body {
                Body::HaproxyHello(kv) => {
                    let hello = HaproxyHello::from_kv(&kv).expect("valid HAPROXY-HELLO");
                    let answer =
                        AgentHello::answer(&hello, 16380, Capabilities::parse("pipelining"))
                            .expect("acceptable HAPROXY-HELLO");
                    let mut out = BytesMut::new();
                    Frame::agent_hello(&answer).encode(&mut out);
                    if sock.write_all(&out).is_err() {
                        return;
                    }
                }
                Body::Notify(_) => {
                    notifies.fetch_add(1, Ordering::SeqCst);
                    if let Break::GarbageOnNotify = how {
                        if sock.write_all(&[0, 0, 0, 0]).is_err() {
                            return;
                        }
                        // The gateway closes (HAPROXY-DISCONNECT, then FIN).
                        continue;
                    }
                    if let Break::HalfAckThenClose = how {
                        let mut out = BytesMut::new();
                        Frame::ack(frame.header.stream_id, frame.header.frame_id, vec![])
                            .encode(&mut out);
                        let _ = sock.write_all(&out[..6]);
                    }
                    // Dropping the socket closes it (FIN).
                    return;
                }
                _ => return,
            }
        }
    }
}

/// `GET path` on a new connection; the response and how long it took.
fn timed_get(addr: SocketAddr, path: &str) -> (Resp, Duration) {
    let t = Instant::now();
    let r = gateway_support::get(addr, path, &[])
        .unwrap_or_else(|e| panic!("GET {path} from {addr}: {e}"));
    (r, t.elapsed())
}

/// F3: the agent closes its connection mid-message. HAProxy 2.6 fails the message at once with
/// an I/O error (set-on-error = 256 + 1) instead of waiting for `timeout processing`; so must the
/// gateway, and the HTTP request goes on.
fn agent_dies_mid_message(how: Break) {
    let agent = RawAgent::start(how);
    let (_backend, gw, addr) = start_gateway(agent.addr, "5s", "");
    for i in 0..3 {
        let (r, took) = timed_get(addr, &format!("/ret/{i}"));
        assert_eq!(r.status, 200, "{how:?} request {i}: {r:?}");
        assert_eq!(
            r.header("x-err"),
            Some("257"),
            "{how:?} request {i}: set-on-error must be 257 (I/O error); {r:?}\n{}",
            gw.log()
        );
        assert!(
            took < Duration::from_secs(1),
            "{how:?} request {i} took {took:?} (timeout processing is 5s: the failure must be \
             immediate)\n{}",
            gw.log()
        );
    }
    // The request continues to the backend after the failure, with the error visible there too.
    let (r, took) = timed_get(addr, "/to-backend");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("echo-x-err"), Some("257"), "{r:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert!(
        agent.notifies.load(Ordering::SeqCst) >= 4,
        "every request reached the agent: {} NOTIFY, {} connections",
        agent.notifies.load(Ordering::SeqCst),
        agent.accepts.load(Ordering::SeqCst)
    );
}

#[test]
fn an_agent_closing_on_notify_fails_the_message_at_once_with_257() {
    agent_dies_mid_message(Break::CloseOnNotify);
}

#[test]
fn an_agent_closing_mid_ack_frame_fails_the_message_at_once_with_257() {
    agent_dies_mid_message(Break::HalfAckThenClose);
}

/// Issue 11 §5: an agent that completes HELLO and answers every NOTIFY with garbage. Requests
/// keep failing at once with the error in `set-on-error`, but the gateway backs off instead of
/// reconnecting for every request (it opened one agent connection per request, each with its
/// WARN line), and the WARN is rate-limited to one line per agent server and engine per 10 s.
#[test]
fn an_agent_breaking_the_protocol_after_hello_is_backed_off_with_one_warn_line() {
    let agent = RawAgent::start(Break::GarbageOnNotify);
    let backend = Backend::start("be");
    let workers = 2;
    let (gw, addr) = GatewayProc::start_on_port(
        |port| {
            format!(
                "global\n    nbthread {workers}\n{}",
                haproxy_cfg(port, agent.addr, backend.addr, "")
            )
        },
        &[("spoe.conf", &spoe_conf("5s"))],
    );
    let until = Instant::now() + Duration::from_secs(2);
    let mut requests = 0;
    while Instant::now() < until {
        let (r, took) = timed_get(addr, &format!("/ret/{requests}"));
        assert_eq!(r.status, 200, "{r:?}");
        let err = r.header("x-err").unwrap_or_default();
        assert!(
            err.parse::<u32>().is_ok_and(|e| e > 256),
            "set-on-error holds a connection error: {r:?}\n{}",
            gw.log()
        );
        assert!(
            took < Duration::from_secs(1),
            "request {requests} took {took:?} (timeout processing is 5s: it must fail at once)"
        );
        requests += 1;
    }
    let accepts = agent.accepts.load(Ordering::SeqCst);
    // Per engine, 2 s of back-off from 100 ms (+-25 %) doubling: at most 5 attempts.
    assert!(
        accepts <= workers * 6,
        "{accepts} agent connections for {requests} requests in 2 s\n{}",
        gw.log()
    );
    let log = gw.log();
    let warns = log.lines().filter(|l| l.contains("protocol error")).count();
    assert!(
        (1..=workers).contains(&warns),
        "{warns} protocol-error WARN lines for {accepts} broken connections:\n{log}"
    );
}

/// utime + stime of `pid`, in clock ticks (1/100 s on Linux).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = &stat[stat.rfind(')').expect("comm field") + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after "pid (comm) ".
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// F10: nothing listens on the agent's address. The gateway starts and serves; each request gets
/// HAProxy 2.6's status for an agent it cannot reach (1: it reconnects until `timeout
/// processing`, docs/errors.md) at once; the log says why, once; and idling with a dead agent
/// costs no CPU (no reconnect loop).
#[test]
fn no_agent_listening_the_gateway_serves_with_1_fast_and_idles() {
    let dead_agent = RefusedPort::new();
    let (backend, gw, addr) = start_gateway(dead_agent.addr(), "5s", "");
    for i in 0..3 {
        let (r, took) = timed_get(addr, &format!("/ret/{i}"));
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.header("x-err"), Some("1"), "{r:?}\n{}", gw.log());
        assert!(took < Duration::from_secs(1), "request {i} took {took:?}");
    }
    let (r, _) = timed_get(addr, "/to-backend");
    assert_eq!((r.status, r.header("echo-x-err")), (200, Some("1")));
    assert_eq!(backend.count(), 1);
    // One line for the change, with the OS error, whatever the number of workers and attempts.
    let log = gw.log();
    let unreachable: Vec<&str> = log.lines().filter(|l| l.contains("unreachable")).collect();
    assert_eq!(unreachable.len(), 1, "{log}");
    assert!(unreachable[0].contains("Connection refused"), "{log}");

    let before = cpu_ticks(gw.child.id());
    // Not a barrier: the window over which idle CPU is measured.
    thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(gw.child.id()) - before;
    assert!(
        used < 20,
        "the gateway used {used} CPU ticks (1/100 s) in 2 s of idling with a dead agent"
    );
}

// ===== F13: malformed HTTP =====

/// Sends `raw` on a new connection and returns the status of the answer (if any) and whether
/// the gateway then closed the connection.
fn send_malformed(addr: SocketAddr, raw: &[u8]) -> (Option<u16>, bool) {
    let mut c = Conn::connect(addr).unwrap();
    // The gateway may answer and close before it has read everything: a write error is fine.
    let _ = c.send_raw(raw);
    let status = c.read_response().ok().map(|r| r.status);
    (status, c.closed_within(Duration::from_secs(2)))
}

/// F13: each malformed request gets 400 (or 431) and the connection closes; no NOTIFY reaches the
/// agent and no request reaches the backend.
#[test]
fn malformed_requests_get_400_and_close_without_notify_or_backend_request() {
    let agent = AgentProc::echo(&[]);
    let (backend, gw, addr) = start_gateway(agent.addr, "2s", "");
    let ok_notifies = || agent.metric("spoa_messages_total", "outcome=\"ok\"");

    // Control: a good request is counted by both, so "unchanged" below means something.
    let r = gateway_support::get(addr, "/", &[]).unwrap();
    assert_eq!((r.status, r.header("echo-x-err")), (200, Some("")), "{r:?}");
    assert!(wait_for(|| ok_notifies() == 1.0), "{}", agent.log());
    assert_eq!(backend.count(), 1);

    let many_headers: String = (0..120).map(|i| format!("x-h{i}: v\r\n")).collect();
    // HAProxy's default tune.bufsize is 16 KiB: a 64 KiB header block is 4 times what HAProxy
    // accepts.
    let big_header = format!("x-big: {}\r\n", "a".repeat(64 * 1024));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "bad request line (extra token)",
            b"GET / HTTP/1.1 extra\r\nhost: a\r\n\r\n".to_vec(),
        ),
        (
            "bad method token",
            b"G@T / HTTP/1.1\r\nhost: a\r\n\r\n".to_vec(),
        ),
        (
            "not HTTP at all",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n".to_vec(),
        ),
        (
            "two conflicting Content-Length",
            b"POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabcd"
                .to_vec(),
        ),
        (
            "Transfer-Encoding without chunked last",
            b"POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: gzip\r\n\r\nabcd".to_vec(),
        ),
        (
            "more than 100 header fields",
            format!("GET / HTTP/1.1\r\nhost: a\r\n{many_headers}\r\n").into_bytes(),
        ),
        (
            "64 KiB header block",
            format!("GET / HTTP/1.1\r\nhost: a\r\n{big_header}\r\n").into_bytes(),
        ),
        (
            "1 MiB unterminated header block",
            format!(
                "GET / HTTP/1.1\r\nhost: a\r\nx-big: {}",
                "a".repeat(1 << 20)
            )
            .into_bytes(),
        ),
    ];
    let mut wrong = Vec::new();
    for (name, raw) in &cases {
        let (status, closed) = send_malformed(addr, raw);
        if !matches!(status, Some(400 | 431)) || !closed {
            wrong.push(format!(
                "{name}: status {status:?}, connection closed: {closed}"
            ));
        }
    }
    // A second good request, after them all: once the agent and the backend have counted it
    // (the event waited for), anything a malformed request wrongly sent before it has been
    // counted as well, and would show as a third.
    let r = gateway_support::get(addr, "/", &[]).unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    let counted = wait_for(|| ok_notifies() >= 2.0 && backend.count() >= 2);
    let notified = ok_notifies();
    assert!(
        counted && wrong.is_empty() && notified == 2.0 && backend.count() == 2,
        "malformed requests must get 400/431 and a close, with no NOTIFY and no backend \
         request:\n  {}\nNOTIFY answered by the agent: {notified} (2 expected), backend \
         requests: {} (2 expected)\n--- gateway stderr:\n{}",
        wrong.join("\n  "),
        backend.count(),
        gw.log()
    );

    // A bad chunk size is in the body, which streams: the head is valid and its SPOE event
    // runs before the body is read (as in HAProxy when the body arrives after the head), then
    // the body's error answers 400, closes, and no request reaches the backend.
    let (status, closed) = send_malformed(
        addr,
        b"POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    );
    // A third good request as the sentinel: once the backend counted it, a request the bad
    // chunk wrongly sent would have been counted before it.
    let r = gateway_support::get(addr, "/", &[]).unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        wait_for(|| backend.count() >= 3),
        "the sentinel reached the backend"
    );
    assert!(
        status == Some(400) && closed && backend.count() == 3,
        "bad chunk size: status {status:?}, closed {closed}, backend requests {} (3 expected: \
         the two good ones and the sentinel)\n--- gateway stderr:\n{}",
        backend.count(),
        gw.log()
    );
}

/// Access-log lines (`option httplog`, `log stdout`) the gateway has written so far.
fn access_lines(gw: &GatewayProc) -> Vec<String> {
    gw.out()
        .lines()
        .filter(|l| l.contains(" HTTP/1.1\"") || l.contains("<BADREQ>"))
        .map(str::to_owned)
        .collect()
}

/// F13: a refused request still gets its access-log line, with the status it was answered
/// (HAProxy logs it as `<BADREQ>` with termination state `PR--`), so that an operator sees the
/// 400s and 431s the clients got.
#[test]
fn malformed_requests_get_an_access_log_line() {
    let agent = AgentProc::echo(&[]);
    let (_backend, gw, addr) =
        start_gateway(agent.addr, "2s", "    log global\n    option httplog\n");
    let cases: [(&str, &[u8]); 3] = [
        (
            "bad request line",
            b"GET / HTTP/1.1 extra\r\nhost: a\r\n\r\n",
        ),
        (
            "two conflicting Content-Length",
            b"POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabcd",
        ),
        (
            "bad chunk size",
            b"POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
        ),
    ];
    let mut missing = Vec::new();
    for (name, raw) in cases {
        let before = access_lines(&gw).len();
        let (status, _) = send_malformed(addr, raw);
        let status = status.unwrap_or_else(|| panic!("{name}: no answer"));
        let logged = gateway_support::wait_until(Duration::from_secs(2), || {
            access_lines(&gw).len() > before
        });
        let line = access_lines(&gw).get(before).cloned();
        if !logged
            || !line
                .as_deref()
                .is_some_and(|l| l.contains(&format!(" {status} ")))
        {
            missing.push(format!("{name} (answered {status}): {line:?}"));
        }
    }
    assert!(
        missing.is_empty(),
        "refused requests without an access-log line carrying their status:\n  {}\n--- gateway \
         stderr:\n{}",
        missing.join("\n  "),
        gw.log()
    );
}

/// `Content-Length` together with `Transfer-Encoding: chunked`. The plan asked for a 400; HAProxy
/// 2.6.12 (measured) and RFC 9112 section 6.3 instead process the message by its
/// Transfer-Encoding, drop the Content-Length before forwarding, and close the connection after
/// the response. That is the safe behaviour asserted here (no smuggling: the backend gets exactly
/// the decoded body with a length that matches it, and nothing else can follow on that client
/// connection).
#[test]
fn content_length_with_chunked_is_framed_by_chunked_and_the_connection_closes() {
    let agent = AgentProc::echo(&[]);
    let (_backend, _gw, addr) = start_gateway(agent.addr, "2s", "");
    for raw in [
        &b"POST /a HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"[..],
        &b"POST /b HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\ncontent-length: 30\r\n\r\n5\r\nhello\r\n0\r\n\r\n"[..],
    ] {
        let mut c = Conn::connect(addr).unwrap();
        c.send_raw(raw).unwrap();
        let r = c.read_response().unwrap();
        match r.status {
            400 => {}
            200 => {
                assert_eq!(r.header("x-req-body-len"), Some("5"), "{r:?}");
                assert!(
                    matches!(r.header("x-req-cl"), Some("5" | "none")),
                    "a stale Content-Length reached the backend: {r:?}"
                );
            }
            other => panic!("status {other}: {r:?}"),
        }
        assert!(
            c.closed_within(Duration::from_secs(2)),
            "the connection must close after a request with both Content-Length and \
             Transfer-Encoding (RFC 9112 6.3)"
        );
    }
}

// ===== F15: slow client =====

/// How long the stalled client waits in silence before it gives up on the gateway.
const SLOW_READ_TIMEOUT: Duration = Duration::from_secs(10);

fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
    gateway_support::wait_until(Duration::from_secs(5), &mut cond)
}

/// F15: a client sends half a request head and stalls. The gateway cuts it after `timeout
/// http-request` (500 ms here) with the 408 page, while another client is served normally
/// meanwhile.
#[test]
fn a_stalled_request_head_is_cut_at_timeout_http_request_while_others_are_served() {
    let agent = AgentProc::echo(&[]);
    let (_backend, _gw, addr) = start_gateway(agent.addr, "2s", "    timeout http-request 500ms");

    let stop = AtomicBool::new(false);
    let served = AtomicUsize::new(0);
    let (cut_after, answer) = thread::scope(|s| {
        let _stop = StopOnDrop(&stop);
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                let r = gateway_support::get(addr, "/ret/normal", &[]).expect("normal client");
                assert_eq!(r.status, 200);
                served.fetch_add(1, Ordering::Relaxed);
                // Not a barrier: pacing, so this client does not starve the machine.
                thread::sleep(Duration::from_millis(20));
            }
        });
        let mut slow = TcpStream::connect(addr).unwrap();
        slow.set_read_timeout(Some(SLOW_READ_TIMEOUT)).unwrap();
        let t = Instant::now();
        slow.write_all(b"GET /ret/slow HTTP/1.1\r\nhost: a\r\nx-half: ")
            .unwrap();
        let mut answer = Vec::new();
        // Returns at EOF (or reset), or after SLOW_READ_TIMEOUT of silence (then the assertion
        // below fails).
        let _ = slow.read_to_end(&mut answer);
        (t.elapsed(), answer)
    });
    let answer = String::from_utf8_lossy(&answer);
    // HAProxy sends its 408 page: a client (or a log reader) must see why it was cut.
    assert!(
        answer.starts_with("HTTP/1.1 408") && answer.contains("connection: close"),
        "a stalled head gets the 408 page and a close, got {answer:?}"
    );
    // Cut by the gateway (not by our read timeout), and not before its timeout.
    assert!(
        (Duration::from_millis(400)..SLOW_READ_TIMEOUT).contains(&cut_after),
        "the stalled connection was cut after {cut_after:?} (timeout http-request 500ms)"
    );
    // Correctness, not speed: the other client got answers (each a 200, asserted in its
    // thread) while the slow one stalled.
    let served = served.load(Ordering::Relaxed);
    assert!(served > 0, "no normal request was served meanwhile");
}
