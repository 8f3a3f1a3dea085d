//! No silent success, and the limits of a production agent, seen from a raw
//! engine: the error variable for every verdict the runtime cannot deliver,
//! its metric and rate-limited log line; max connections, idle timeout,
//! listen backlog, the drain count; the HAProxy 3.1+ details (fragmentation
//! announced only on request, a reset after the last ACK is a normal end);
//! and what a blocking handler does.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets on the wall clock, and spawn helpers that end with the test"
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use spoa::testing::{Echo, Engine, RunningAgent};
use spoa::{
    Actions, Config, ConnectionEnd, ErrorCause, ErrorVar, Fragmentation, HandlerError, Request,
    Server,
};
use spop::{
    Action, Body, Capabilities, Disconnect, Frame, FrameType, HaproxyHello, Message, Status,
    TypedData, VarScope,
};
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(10);

fn hello_with(capabilities: &str, mfs: u32) -> HaproxyHello {
    let mut h = spoa::testing::haproxy_hello();
    h.capabilities = Capabilities::parse(capabilities);
    h.max_frame_size = mfs;
    h
}

/// HAProxy 2.6's HELLO.
fn hello() -> HaproxyHello {
    hello_with("pipelining,async", 16380)
}

/// An engine on one end of an in-memory connection served by `server`,
/// after HAProxy 2.6's handshake.
async fn start<H: spoa::Handler>(server: &Server<H>) -> Engine {
    Engine::connect_with(server, hello()).await.unwrap()
}

/// The next ACK's stream-id and actions.
async fn ack(e: &mut Engine) -> (u64, Vec<Action>) {
    let (s, _, actions) = e.recv_ack().await.unwrap();
    (s, actions.into_vec())
}

fn notify(stream_id: u64, value: impl Into<TypedData>) -> Frame {
    Frame::notify(stream_id, 1, vec![Message::new("m").arg("v", value)])
}

fn ack_of(f: &Frame) -> (u64, Vec<Action>) {
    let Body::Ack(actions) = &f.body else {
        panic!("expected ACK, got {f:?}")
    };
    (f.header.stream_id, actions.clone())
}

fn error_var(code: i32) -> Action {
    Action::set_var(VarScope::Transaction, "error", code)
}

/// Errors on 1, panics on 2, sleeps an hour on 3, echoes otherwise.
async fn misbehaving(req: Request) -> Result<Actions, HandlerError> {
    match req.messages[0].get("v").and_then(TypedData::as_i64) {
        Some(1) => Err("backend down".into()),
        Some(2) => panic!("handler bug"),
        Some(3) => {
            // The handler's own work: far past any budget.
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(Actions::new())
        }
        _ => Ok(Echo::actions(&req)),
    }
}

fn metric(server_text: &str, sample: &str) -> f64 {
    server_text
        .lines()
        .find_map(|l| l.strip_prefix(sample)?.trim().parse().ok())
        .unwrap_or(0.0)
}

// ===== the error variable =====

/// With the default settings (no fallback configured), a handler that fails,
/// panics or overruns its budget is answered with `txn.error` = 10, 11, 12,
/// never an empty ACK; each cause is counted.
#[tokio::test(start_paused = true)]
async fn undelivered_verdicts_carry_the_error_variable_by_default() {
    let mut cfg = Config::default();
    cfg.handler_timeout = Duration::from_millis(200);
    let server = Server::new(misbehaving, cfg).unwrap();
    let mut e = start(&server).await;
    for v in 1..=4i64 {
        e.send(&notify(v as u64, v)).await.unwrap();
    }
    let mut got = std::collections::BTreeMap::new();
    for _ in 0..4 {
        let (sid, actions) = ack(&mut e).await;
        got.insert(sid, actions);
    }
    assert_eq!(got[&1], vec![error_var(10)], "handler error");
    assert_eq!(got[&2], vec![error_var(11)], "panic");
    assert_eq!(got[&3], vec![error_var(12)], "budget overrun");
    assert_eq!(
        got[&4],
        vec![Action::set_var(VarScope::Transaction, "v", 4i64)]
    );
    let text = server.metrics().encode_text();
    for (cause, code) in [
        ("handler_error", 10),
        ("handler_panic", 11),
        ("budget_overrun", 12),
    ] {
        assert_eq!(
            metric(
                &text,
                &format!("spoa_undelivered_verdicts_total{{cause=\"{cause}\",code=\"{code}\"}}")
            ),
            1.0,
            "{text}"
        );
    }
    assert_eq!(
        metric(
            &text,
            "spoa_undelivered_verdicts_total{cause=\"ack_too_big\",code=\"13\"}"
        ),
        0.0,
        "{text}"
    );
}

/// The case: the NOTIFY fits in a 256-byte frame, the echoed ACK does
/// not. The answer is `txn.error` = 13, not an empty ACK; and when fallback
/// actions are configured but do not fit either, the error variable alone.
#[tokio::test]
async fn an_ack_too_big_for_the_frame_is_error_13() {
    let path = "/".repeat(140);
    let args: Vec<(&str, TypedData)> = vec![
        ("s", "hello".into()),
        ("n", (-42i64).into()),
        ("big", 5_000_000_000i64.into()),
        ("b", true.into()),
        ("ip4", std::net::Ipv4Addr::LOCALHOST.into()),
        ("ip6", std::net::Ipv6Addr::LOCALHOST.into()),
        ("bin", TypedData::binary(vec![0xca, 0xfe])),
        ("path", path.as_str().into()),
        ("method", "GET".into()),
    ];
    let mut msg = Message::new("echo");
    for (n, v) in args {
        msg = msg.arg(n, v);
    }
    let request = Frame::notify(7, 3, vec![msg]);
    assert!(request.frame_len() <= 256, "the NOTIFY itself fits");

    for fallback in [
        vec![],
        vec![Action::set_var(
            VarScope::Transaction,
            "huge",
            TypedData::binary(vec![0; 300]),
        )],
    ] {
        let mut cfg = Config::default();
        cfg.fallback_actions = fallback;
        let server = Server::new(Echo, cfg).unwrap();
        let mut e = Engine::connect_with(&server, hello_with("pipelining,async", 256))
            .await
            .unwrap();
        e.send(&request).await.unwrap();
        let (s, f, actions) = e.recv_ack().await.unwrap();
        assert_eq!((s, f), (7, 3));
        assert_eq!(actions.into_vec(), vec![error_var(13)]);
        assert!(
            server
                .metrics()
                .encode_text()
                .contains("spoa_undelivered_verdicts_total{cause=\"ack_too_big\",code=\"13\"} 1"),
        );
    }
}

/// Fail-open is explicit: `error_var: None` sends only the fallback actions;
/// the variable's scope and name are configurable.
#[tokio::test]
async fn fail_open_and_a_custom_error_variable() {
    let fallback = Action::set_var(VarScope::Transaction, "verdict", "allow");
    let mut cfg = Config::default();
    cfg.error_var = None;
    cfg.fallback_actions = vec![fallback.clone()];
    let server = Server::new(misbehaving, cfg).unwrap();
    let mut e = start(&server).await;
    e.send(&notify(1, 1i64)).await.unwrap();
    assert_eq!(ack(&mut e).await.1, vec![fallback]);

    let mut cfg = Config::default();
    cfg.error_var = Some(ErrorVar::new(VarScope::Session, "agent_failed"));
    let server = Server::new(misbehaving, cfg).unwrap();
    let mut e = start(&server).await;
    e.send(&notify(1, 1i64)).await.unwrap();
    assert_eq!(
        ack(&mut e).await.1,
        vec![Action::set_var(
            VarScope::Session,
            "agent_failed",
            ErrorCause::HandlerError.code()
        )]
    );

    let mut cfg = Config::default();
    cfg.error_var = Some(ErrorVar::new(VarScope::Transaction, "x".repeat(65)));
    assert!(
        Server::new(misbehaving, cfg).is_err(),
        "a name HAProxy cannot set is refused"
    );
}

/// Log lines written while `f` runs on this thread (current-thread runtime).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + 'static {
        let sink = self.clone();
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || sink.clone())
            .finish()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every undelivered verdict is logged with its stream and frame ids and
/// cause, at most once per 5 s per cause; the next line says how many were
/// left out.
#[tokio::test(start_paused = true)]
async fn undelivered_verdicts_are_logged_rate_limited_with_their_ids() {
    let logs = Captured::default();
    let _guard = tracing::subscriber::set_default(logs.subscriber());
    let server = Server::new(misbehaving, Config::default()).unwrap();
    let mut e = start(&server).await;
    for sid in 10..15 {
        e.send(&Frame::notify(
            sid,
            77,
            vec![Message::new("m").arg("v", 1i64)],
        ))
        .await
        .unwrap();
        assert_eq!(ack(&mut e).await.1, vec![error_var(10)]);
    }
    let lines: Vec<String> = logs
        .text()
        .lines()
        .filter(|l| l.contains("verdict not delivered:"))
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    for field in [
        "WARN",
        "stream_id=10",
        "frame_id=77",
        "cause=\"handler_error\"",
        "code=10",
        "error=\"backend down\"",
        "suppressed=0",
    ] {
        assert!(lines[0].contains(field), "{field} in {}", lines[0]);
    }
    // When the interval ends, the 4 left out are counted in a line of their
    // own, whether or not another comes (issue 24 §3).
    tokio::time::advance(Duration::from_secs(5)).await;
    tokio::task::yield_now().await;
    let text = logs.text();
    let summary = text
        .lines()
        .find(|l| l.contains("verdicts not delivered (handler_error, code 10)"))
        .unwrap_or_else(|| panic!("no summary line:\n{text}"));
    assert!(
        summary.contains("4 more in the last 5s") && summary.contains("suppressed=4"),
        "{summary}"
    );
    e.send(&Frame::notify(
        20,
        1,
        vec![Message::new("m").arg("v", 1i64)],
    ))
    .await
    .unwrap();
    ack(&mut e).await;
    let text = logs.text();
    let last = text
        .lines()
        .rfind(|l| l.contains("verdict not delivered:"))
        .unwrap();
    // Those were reported: the next line does not count them again.
    assert!(
        last.contains("stream_id=20") && last.contains("suppressed=0"),
        "{last}"
    );
}

// ===== limits =====

/// An engine connected over TCP to `agent`, nothing sent yet.
async fn connect(agent: &RunningAgent) -> Engine {
    Engine::dial(agent.addr()).await.unwrap()
}

/// Beyond `max_connections`, a connection waits after its HELLO for a slot
/// (`over_limit_wait`): it is served when another ends in time, else gets
/// AGENT-DISCONNECT 13 (resource allocation error) and is closed; health
/// checks are answered anyway.
#[tokio::test]
async fn connections_beyond_the_limit_wait_for_a_slot_then_get_disconnect_13() {
    // Nobody leaves: refused after the wait.
    let mut cfg = Config::default();
    cfg.max_connections = 2;
    cfg.over_limit_wait = Duration::from_millis(100);
    let server = Server::new(Echo, cfg).unwrap();
    let agent = RunningAgent::start(&server).await.unwrap();
    let mut a = connect(&agent).await;
    a.handshake(hello()).await.unwrap();
    let mut b = connect(&agent).await;
    b.handshake(hello()).await.unwrap();
    let mut c = connect(&agent).await;
    c.send(&Frame::haproxy_hello(&hello())).await.unwrap();
    c.expect_disconnect(Status::RESOURCE).await.unwrap();
    let mut check = connect(&agent).await;
    let mut h = hello();
    h.healthcheck = true;
    check.send(&Frame::haproxy_hello(&h)).await.unwrap();
    assert_eq!(
        check.recv().await.unwrap().unwrap().header.frame_type,
        FrameType::AGENT_HELLO
    );
    // The served connections still work.
    a.send(&notify(1, 1i64)).await.unwrap();
    assert_eq!(ack(&mut a).await.0, 1);
    let text = server.metrics().encode_text();
    assert_eq!(
        metric(&text, "spoa_connections_over_limit_total"),
        2.0,
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "spoa_disconnects_total{direction=\"sent\",status=\"13\"}"
        ),
        1.0,
        "{text}"
    );
    drop((a, b));
    agent.stop().await.unwrap();

    // One leaves while the third waits: the third is served.
    let mut cfg = Config::default();
    cfg.max_connections = 2;
    cfg.over_limit_wait = WAIT;
    let server = Server::new(Echo, cfg).unwrap();
    let agent = RunningAgent::start(&server).await.unwrap();
    let mut a = connect(&agent).await;
    a.handshake(hello()).await.unwrap();
    let mut b = connect(&agent).await;
    b.handshake(hello()).await.unwrap();
    let mut c = connect(&agent).await;
    c.send(&Frame::haproxy_hello(&hello())).await.unwrap();
    a.send(&Frame::haproxy_disconnect(&Disconnect::new(Status::NORMAL)))
        .await
        .unwrap();
    a.expect_disconnect(Status::NORMAL).await.unwrap();
    assert_eq!(
        c.recv().await.unwrap().unwrap().header.frame_type,
        FrameType::AGENT_HELLO,
        "served once a slot is free"
    );
    c.send(&notify(3, 3i64)).await.unwrap();
    assert_eq!(ack_of(&c.recv().await.unwrap().unwrap()).0, 3);
    drop((b, c));
    agent.stop().await.unwrap();
}

/// After the handshake, a connection with no frame and no handler running
/// for `idle_timeout` gets AGENT-DISCONNECT 2 and is closed; a frame, or a
/// handler still running, keeps it open.
#[tokio::test(start_paused = true)]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    let slow = |req: Request| async move {
        if req.messages[0].get("v").and_then(TypedData::as_i64) == Some(1) {
            // The handler's own work, longer than idle_timeout (paused clock).
            tokio::time::sleep(Duration::from_secs(8)).await;
        }
        Ok::<_, HandlerError>(Actions::new())
    };
    let mut cfg = Config::default();
    cfg.idle_timeout = Duration::from_secs(5);
    cfg.handler_timeout = Duration::from_secs(60);
    let server = Server::new(slow, cfg).unwrap();
    let mut e = start(&server).await;
    let t0 = Instant::now();
    // Time passing is what is tested: less than idle_timeout (paused clock).
    tokio::time::sleep(Duration::from_secs(4)).await;
    e.send(&notify(1, 2i64)).await.unwrap();
    ack(&mut e).await;
    // A handler running longer than the idle timeout.
    e.send(&notify(2, 1i64)).await.unwrap();
    ack(&mut e).await;
    assert!(t0.elapsed() >= Duration::from_secs(12));
    let acked = Instant::now();
    e.expect_disconnect(Status::TIMEOUT).await.unwrap();
    assert!(
        acked.elapsed() >= Duration::from_secs(5),
        "{:?}",
        acked.elapsed()
    );
    assert_eq!(e.end().await.unwrap(), ConnectionEnd::IdleTimeout);
    assert!(
        server
            .metrics()
            .encode_text()
            .contains("spoa_connection_ends_total{end=\"idle_timeout\"} 1")
    );
}

/// Connections queued by the kernel but not yet accepted, per
/// `/proc/net/tcp` (`rx_queue` of a listening socket is its accept queue).
fn accept_queue(port: u16) -> usize {
    let text = std::fs::read_to_string("/proc/net/tcp").unwrap();
    text.lines()
        .skip(1)
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let local_port = u16::from_str_radix(f[1].rsplit(':').next()?, 16).ok()?;
            let rx = f[4].split(':').nth(1)?;
            (local_port == port && f[3] == "0A").then(|| usize::from_str_radix(rx, 16).unwrap())
        })
        .unwrap_or(0)
}

/// `Listener::bind` queues at least 1024 connections (it was 128): 300
/// connections made while nobody accepts all complete.
#[tokio::test]
async fn the_listen_backlog_holds_300_pending_connections() {
    let listener = spoa::Listener::bind(&"127.0.0.1:0".parse::<spoa::Addr>().unwrap())
        .await
        .unwrap();
    let spoa::Addr::Tcp(addr) = listener.local_addr().unwrap() else {
        unreachable!()
    };
    const N: usize = 300;
    // Blocking connects on a helper thread, until the first that fails: past
    // a full backlog the kernel drops the SYN and the connect waits for the
    // timeout.
    let clients = tokio::task::spawn_blocking(move || {
        (0..N)
            .map_while(|_| std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok())
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert_eq!(clients.len(), N, "connections made while nobody accepts");
    // The last handshakes may still be finishing in the kernel.
    let queued = timeout(WAIT, async {
        loop {
            let queued = accept_queue(addr.port());
            if queued >= N {
                return queued;
            }
            // Poll interval of a bounded wait on the kernel's accept queue (no event to wait on).
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| accept_queue(addr.port()));
    assert_eq!(queued, N, "connections queued while nobody accepts");
    drop(listener);
}

// ===== drain =====

/// The drain line counts the connections open when the stop came, not the
/// ones left after cancelling them.
#[test]
fn the_drain_line_counts_connections_before_cancelling_them() {
    let logs = Captured::default();
    let dispatch = tracing::Dispatch::new(logs.subscriber());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || {
            // Kept for the thread's life.
            std::mem::forget(tracing::dispatcher::set_default(&dispatch));
        })
        .build()
        .unwrap();
    rt.block_on(async {
        let server = Server::new(Echo, Config::default()).unwrap();
        let agent = RunningAgent::start(&server).await.unwrap();
        let mut peers = Vec::new();
        for _ in 0..20 {
            let mut p = connect(&agent).await;
            p.handshake(hello()).await.unwrap();
            peers.push(p);
        }
        // Each connection drains on its own: the stop returns without the
        // engines reading.
        agent.stop().await.unwrap();
        for p in &mut peers {
            p.expect_disconnect(Status::NORMAL).await.unwrap();
        }
    });
    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains("draining connections"))
        .unwrap_or_else(|| panic!("no drain line in:\n{text}"));
    assert!(line.contains("connections=20"), "{line}");
}

// ===== HAProxy 3.1+ details =====

/// `fragmentation` is not announced to HAProxy 3.1+ (which announces
/// `pipelining` only and never sends fragments), and is announced to
/// engines that announce `fragmentation` or `async` (HAProxy 2.4-3.0, which
/// fragment by default); `Always` and `Never` override.
#[tokio::test]
async fn fragmentation_is_not_announced_to_31_engines() {
    // The whole table is the state machine's unit test (`spop::agent`);
    // here, that the runtime passes its setting on.
    for (policy, offered, answered) in [
        (Fragmentation::Auto, "pipelining", "pipelining"),
        (
            Fragmentation::Auto,
            "pipelining,async",
            "pipelining,fragmentation",
        ),
        (
            Fragmentation::Always,
            "pipelining",
            "pipelining,fragmentation",
        ),
        (
            Fragmentation::Never,
            "pipelining,fragmentation",
            "pipelining",
        ),
    ] {
        let mut cfg = Config::default();
        cfg.fragmentation = policy;
        let server = Server::new(Echo, cfg).unwrap();
        let e = Engine::connect_with(&server, hello_with(offered, 16380))
            .await
            .unwrap();
        let caps = e.agent_hello().capabilities.to_string();
        assert_eq!(caps, answered, "{policy:?}, engine offers {offered:?}");
    }
}

/// HAProxy 3.1+ resets the connection right after an ACK: a normal end,
/// counted as `reset`, logged at no level above DEBUG.
#[tokio::test]
async fn a_reset_after_the_last_ack_is_a_normal_end() {
    let logs = Captured::default();
    let _guard = tracing::subscriber::set_default(logs.subscriber());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::new(Echo, Config::default()).unwrap();
    // SO_LINGER 0: dropping the engine sends RST.
    let mut e = Engine::dial_resettable(addr).await.unwrap();
    let (sock, peer) = listener.accept().await.unwrap();
    let task = tokio::spawn({
        let server = server.clone();
        async move {
            server
                .serve_connection(sock, Some(peer), CancellationToken::new())
                .await
        }
    });
    e.handshake(hello_with("pipelining", 16380)).await.unwrap();
    e.send(&notify(1, 1i64)).await.unwrap();
    ack(&mut e).await;
    drop(e);
    assert_eq!(
        timeout(WAIT, task).await.unwrap().unwrap(),
        ConnectionEnd::Reset
    );
    let text = server.metrics().encode_text();
    assert!(
        text.contains("spoa_connection_ends_total{end=\"reset\"} 1"),
        "{text}"
    );
    let logs = logs.text();
    assert!(
        !logs.contains("WARN") && !logs.contains("ERROR") && !logs.contains(" INFO "),
        "{logs}"
    );
}

// ===== blocking handlers =====

/// What a handler that blocks its thread does (documented on `Handler`): it
/// stalls every other handler of its connection, and its budget cannot fire.
/// The `spawn_blocking` pattern keeps the connection answering and the
/// budget working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_handler_stalls_its_connection_and_spawn_blocking_does_not() {
    let mut cfg = Config::default();
    cfg.handler_timeout = Duration::from_millis(100);
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let rx = Arc::new(Mutex::new(rx));

    // v = 1 blocks the thread for 500 ms, far beyond the 100 ms budget.
    let blocking = |req: Request| async move {
        if req.messages[0].get("v").and_then(TypedData::as_i64) == Some(1) {
            std::thread::sleep(Duration::from_millis(500));
        }
        Ok::<_, HandlerError>(Echo::actions(&req))
    };
    let server = Server::new(blocking, cfg.clone()).unwrap();
    let mut e = start(&server).await;
    e.send(&notify(1, 1i64)).await.unwrap();
    e.send(&notify(2, 2i64)).await.unwrap();
    let first = ack(&mut e).await;
    let second = ack(&mut e).await;
    assert_eq!(
        (first.0, second.0),
        (1, 2),
        "the fast handler waited behind the blocking one"
    );
    assert_eq!(
        first.1,
        vec![Action::set_var(VarScope::Transaction, "v", 1i64)],
        "the budget could not fire: the late verdict went out as a success"
    );

    // The same work through spawn_blocking: v = 2 is answered while v = 1
    // still blocks its own thread, and v = 1 overruns its budget (error 12).
    let offloaded = move |req: Request| {
        let rx = rx.clone();
        async move {
            if req.messages[0].get("v").and_then(TypedData::as_i64) == Some(1) {
                tokio::task::spawn_blocking(move || {
                    let _ = rx.lock().unwrap().recv_timeout(WAIT);
                })
                .await?;
            }
            Ok::<_, HandlerError>(Echo::actions(&req))
        }
    };
    let server = Server::new(offloaded, cfg).unwrap();
    let mut e = start(&server).await;
    e.send(&notify(1, 1i64)).await.unwrap();
    e.send(&notify(2, 2i64)).await.unwrap();
    let first = ack(&mut e).await;
    assert_eq!(first.0, 2, "answered while the other handler blocks");
    let second = ack(&mut e).await;
    assert_eq!(second, (1, vec![error_var(12)]), "the budget fired");
    tx.send(()).unwrap();
}
