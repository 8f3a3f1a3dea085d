//! The agent runtime seen from a raw engine: handshake, pipelining,
//! backpressure, guaranteed ACKs, drain, and every protocol error.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock, and spawn helpers that end with the test"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use spoa::{Actions, Config, ConnectionEnd, HandlerError, Request, Server};
use spop::{
    Action, Body, Capabilities, Disconnect, Flags, Frame, FrameDecoder, FrameHeader, FrameType,
    HaproxyHello, Kv, Message, Status, TypedData, VarScope,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::{Barrier, Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(10);

fn hello(mfs: u32) -> HaproxyHello {
    HaproxyHello {
        supported_versions: "2.0".into(),
        max_frame_size: mfs,
        capabilities: Capabilities::parse("pipelining,async"),
        healthcheck: false,
        engine_id: Some("test-engine".into()),
    }
}

/// A scripted engine on one end of an in-memory connection.
struct Engine {
    io: DuplexStream,
    buf: BytesMut,
    decoder: FrameDecoder,
    agent: JoinHandle<ConnectionEnd>,
    stop: CancellationToken,
}

impl Engine {
    fn start<H: spoa::Handler>(server: Server<H>) -> Self {
        let (a, b) = tokio::io::duplex(1 << 20);
        let stop = CancellationToken::new();
        let token = stop.clone();
        let agent = tokio::spawn(async move { server.serve_connection(b, None, token).await });
        Self {
            io: a,
            buf: BytesMut::new(),
            decoder: FrameDecoder::new(u32::MAX),
            agent,
            stop,
        }
    }

    async fn send(&mut self, frame: &Frame) {
        let mut b = BytesMut::new();
        frame.encode(&mut b);
        self.send_raw(&b).await;
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).await.expect("write to agent");
    }

    /// The next frame, or `None` at end of stream.
    async fn recv(&mut self) -> Option<Frame> {
        loop {
            if let Some(f) = self
                .decoder
                .decode(&mut self.buf)
                .expect("agent sent an invalid frame")
            {
                return Some(f);
            }
            let n = timeout(WAIT, self.io.read_buf(&mut self.buf))
                .await
                .expect("agent silent")
                .unwrap_or(0);
            if n == 0 {
                assert!(self.buf.is_empty(), "agent closed inside a frame");
                return None;
            }
        }
    }

    async fn handshake(&mut self) -> Frame {
        self.send(&Frame::haproxy_hello(&hello(16380))).await;
        let f = self.recv().await.expect("AGENT-HELLO");
        assert_eq!(f.header.frame_type, FrameType::AGENT_HELLO, "{f:?}");
        f
    }

    async fn expect_disconnect(&mut self, status: Status) {
        let f = self.recv().await.expect("AGENT-DISCONNECT");
        let Body::AgentDisconnect(kv) = &f.body else {
            panic!("expected AGENT-DISCONNECT {status}, got {f:?}")
        };
        let d = Disconnect::from_kv(kv).unwrap();
        assert_eq!(d.status, status, "{d:?}");
        assert_eq!(d.message, status.reason().unwrap());
        assert_eq!(
            self.recv().await,
            None,
            "connection closed after AGENT-DISCONNECT"
        );
    }

    async fn end(self) -> ConnectionEnd {
        timeout(WAIT, self.agent)
            .await
            .expect("connection task ends")
            .unwrap()
    }
}

fn echo_server(config: Config) -> Server<spoa::demo::Echo> {
    Server::new(spoa::demo::Echo, config).unwrap()
}

fn notify(stream_id: u64, frame_id: u64, value: impl Into<TypedData>) -> Frame {
    Frame::notify(stream_id, frame_id, vec![Message::new("m").arg("v", value)])
}

fn ack_of(f: &Frame) -> (u64, u64, Vec<Action>) {
    let Body::Ack(actions) = &f.body else {
        panic!("expected ACK, got {f:?}")
    };
    (f.header.stream_id, f.header.frame_id, actions.clone())
}

#[tokio::test]
async fn handshake_answers_version_size_and_capabilities() {
    let mut cfg = Config::default();
    cfg.max_frame_size = 4096;
    let mut e = Engine::start(echo_server(cfg));
    let f = e.handshake().await;
    let Body::AgentHello(kv) = &f.body else {
        unreachable!()
    };
    assert_eq!(
        spop::find(kv, "version").and_then(TypedData::as_str),
        Some("2.0")
    );
    assert_eq!(
        spop::find(kv, "max-frame-size"),
        Some(&TypedData::Uint32(4096))
    );
    assert_eq!(
        spop::find(kv, "capabilities").and_then(TypedData::as_str),
        Some("pipelining,fragmentation"),
        "pipelining announced; async never; fragmentation to an engine that announced async (HAProxy <= 3.0)"
    );
    // The engine's smaller offer wins.
    let mut e2 = Engine::start(echo_server(Config::default()));
    e2.send(&Frame::haproxy_hello(&hello(1024))).await;
    let f = e2.recv().await.unwrap();
    let Body::AgentHello(kv) = &f.body else {
        unreachable!()
    };
    assert_eq!(
        spop::find(kv, "max-frame-size"),
        Some(&TypedData::Uint32(1024))
    );
    drop(e);
}

#[tokio::test]
async fn health_check_is_answered_then_closed() {
    let mut e = Engine::start(echo_server(Config::default()));
    let mut h = hello(16380);
    h.healthcheck = true;
    e.send(&Frame::haproxy_hello(&h)).await;
    assert_eq!(
        e.recv().await.unwrap().header.frame_type,
        FrameType::AGENT_HELLO
    );
    assert_eq!(e.recv().await, None);
    assert_eq!(e.end().await, ConnectionEnd::HealthCheck);
}

#[tokio::test]
async fn bad_hellos_get_the_matching_status() {
    let base = hello(16380).to_kv();
    let without = |key: &str| -> Vec<Kv> {
        base.iter()
            .filter(|kv| kv.name != key.as_bytes())
            .cloned()
            .collect()
    };
    let with = |key: &'static str, v: TypedData| -> Vec<Kv> {
        let mut kv = without(key);
        kv.push(Kv::new(key, v));
        kv
    };
    let cases: Vec<(Vec<Kv>, Status)> = vec![
        (without("supported-versions"), Status::NO_VERSION),
        (without("max-frame-size"), Status::NO_FRAME_SIZE),
        (without("capabilities"), Status::NO_CAPABILITIES),
        (
            with("supported-versions", "1.0".into()),
            Status::BAD_VERSION,
        ),
        (
            with("max-frame-size", TypedData::Uint32(100)),
            Status::BAD_FRAME_SIZE,
        ),
        (
            with("supported-versions", TypedData::Uint32(2)),
            Status::INVALID_FRAME,
        ),
    ];
    for (kv, status) in cases {
        let mut e = Engine::start(echo_server(Config::default()));
        e.send(&Frame {
            header: FrameHeader {
                frame_type: FrameType::HAPROXY_HELLO,
                flags: Flags::FIN,
                stream_id: 0,
                frame_id: 0,
            },
            body: Body::HaproxyHello(kv),
        })
        .await;
        e.expect_disconnect(status).await;
        assert!(matches!(e.end().await, ConnectionEnd::Refused { status: s, .. } if s == status));
    }
}

#[tokio::test]
async fn a_notify_before_the_hello_is_invalid() {
    let mut e = Engine::start(echo_server(Config::default()));
    e.send(&notify(1, 1, 5i64)).await;
    e.expect_disconnect(Status::INVALID_FRAME).await;
}

#[tokio::test]
async fn length_prefixes_are_checked_before_anything_is_buffered() {
    for (bytes, status) in [
        (vec![0xff, 0xff, 0xff, 0xff], Status::FRAME_TOO_BIG),
        (vec![0x00, 0x00, 0x3f, 0xfd], Status::FRAME_TOO_BIG),
        (vec![0, 0, 0, 0], Status::INVALID_FRAME),
    ] {
        let mut e = Engine::start(echo_server(Config::default()));
        e.send_raw(&bytes).await;
        e.expect_disconnect(status).await;
    }
    // After the handshake the negotiated (smaller) size is the bound.
    let mut e = Engine::start(echo_server(Config::default()));
    e.send(&Frame::haproxy_hello(&hello(512))).await;
    e.recv().await.unwrap();
    e.send(&notify(1, 1, TypedData::binary(vec![0u8; 600])))
        .await;
    e.expect_disconnect(Status::FRAME_TOO_BIG).await;
}

#[tokio::test]
async fn garbage_and_invalid_frames_after_the_handshake() {
    let cases: Vec<(Vec<u8>, Status)> = vec![
        // NOTIFY whose typed data uses reserved type 12.
        (
            vec![0, 0, 0, 12, 3, 0, 0, 0, 1, 1, 1, 1, b'm', 1, 0, 0x0c],
            Status::INVALID_FRAME,
        ),
        // NOTIFY with a string running past the frame.
        (
            vec![0, 0, 0, 11, 3, 0, 0, 0, 1, 1, 1, 5, b'm', b'x', 0],
            Status::INVALID_FRAME,
        ),
        // An ACK sent to an agent.
        (
            vec![0, 0, 0, 7, 103, 0, 0, 0, 1, 1, 1],
            Status::INVALID_FRAME,
        ),
        // A second HAPROXY-HELLO.
        (vec![0, 0, 0, 7, 1, 0, 0, 0, 1, 0, 0], Status::INVALID_FRAME),
    ];
    for (bytes, status) in cases {
        let mut e = Engine::start(echo_server(Config::default()));
        e.handshake().await;
        e.send_raw(&bytes).await;
        e.expect_disconnect(status).await;
    }
}

#[tokio::test]
async fn unknown_frame_types_are_skipped() {
    let mut e = Engine::start(echo_server(Config::default()));
    e.handshake().await;
    e.send_raw(&[0, 0, 0, 9, 42, 0, 0, 0, 1, 0, 0, 0xde, 0xad])
        .await;
    e.send(&notify(3, 4, 7i64)).await;
    let (sid, fid, actions) = ack_of(&e.recv().await.unwrap());
    assert_eq!((sid, fid), (3, 4));
    assert_eq!(
        actions,
        vec![Action::set_var(VarScope::Transaction, "v", 7i64)]
    );
}

#[tokio::test]
async fn pipelined_notifies_run_concurrently_and_ack_as_they_finish() {
    // Every handler waits until all ten are running: this only completes if
    // the runtime really runs them at once.
    let barrier = Arc::new(Barrier::new(10));
    let handler = move |req: Request| {
        let b = barrier.clone();
        async move {
            b.wait().await;
            Ok::<_, HandlerError>(spoa::demo::Echo::actions(&req))
        }
    };
    let mut e = Engine::start(Server::new(handler, Config::default()).unwrap());
    e.handshake().await;
    for i in 0..10u64 {
        e.send(&notify(i, i + 100, i as i64)).await;
    }
    let mut seen = Vec::new();
    for _ in 0..10 {
        let (sid, fid, actions) = ack_of(&e.recv().await.unwrap());
        assert_eq!(fid, sid + 100);
        assert_eq!(
            actions,
            vec![Action::set_var(VarScope::Transaction, "v", sid as i64)]
        );
        seen.push(sid);
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..10).collect::<Vec<_>>());
}

// Paused clock: each sleep below returns only once every task is idle (the agent has read
// all it will read), however slow the machine.
#[tokio::test(start_paused = true)]
async fn reading_stops_at_the_in_flight_bound() {
    let started = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(Semaphore::new(0));
    let (s, rel) = (started.clone(), release.clone());
    let handler = move |_req: Request| {
        let (s, rel) = (s.clone(), rel.clone());
        async move {
            s.fetch_add(1, Ordering::SeqCst);
            rel.acquire().await.unwrap().forget();
            Ok::<_, HandlerError>(Actions::new())
        }
    };
    let mut cfg = Config::default();
    cfg.max_in_flight = 2;
    cfg.handler_timeout = Duration::from_secs(30);
    let mut e = Engine::start(Server::new(handler, cfg).unwrap());
    e.handshake().await;
    for i in 0..5u64 {
        e.send(&notify(i, 1, 0i64)).await;
    }
    // Paused clock: returns once every task waits (see the test's attribute).
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        started.load(Ordering::SeqCst),
        2,
        "only two handlers may start"
    );
    release.add_permits(1);
    ack_of(&e.recv().await.unwrap());
    // Paused clock: returns once every task waits (see the test's attribute).
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(started.load(Ordering::SeqCst), 3, "one ACK frees one slot");
    release.add_permits(4);
    for _ in 0..4 {
        ack_of(&e.recv().await.unwrap());
    }
    assert_eq!(started.load(Ordering::SeqCst), 5);
}

fn fallback_config() -> Config {
    let mut cfg = Config::default();
    cfg.fallback_actions = vec![Action::set_var(VarScope::Transaction, "agent_error", true)];
    cfg.handler_timeout = Duration::from_millis(200);
    cfg
}

#[tokio::test(start_paused = true)]
async fn failing_panicking_and_slow_handlers_still_get_an_ack() {
    let handler = |req: Request| async move {
        match req.messages[0].get("v").and_then(TypedData::as_i64) {
            Some(1) => Err::<Actions, HandlerError>("backend down".into()),
            Some(2) => panic!("handler bug"),
            Some(3) => {
                // Not a barrier: a handler that never answers in time (paused clock).
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(Actions::new())
            }
            _ => Ok(spoa::demo::Echo::actions(&req)),
        }
    };
    let server = Server::new(handler, fallback_config()).unwrap();
    let metrics = server.metrics().clone();
    let mut e = Engine::start(server);
    e.handshake().await;
    for v in 1..=4i64 {
        e.send(&notify(v as u64, 1, v)).await;
    }
    let mut got = std::collections::BTreeMap::new();
    for _ in 0..4 {
        let (sid, _, actions) = ack_of(&e.recv().await.unwrap());
        got.insert(sid, actions);
    }
    // The fallback actions, then the error variable with the cause's code.
    let fallback = |code: i32| {
        vec![
            Action::set_var(VarScope::Transaction, "agent_error", true),
            Action::set_var(VarScope::Transaction, "error", code),
        ]
    };
    assert_eq!(got[&1], fallback(10), "error");
    assert_eq!(got[&2], fallback(11), "panic");
    assert_eq!(got[&3], fallback(12), "timeout");
    assert_eq!(
        got[&4],
        vec![Action::set_var(VarScope::Transaction, "v", 4i64)]
    );
    // The connection survived all three.
    e.send(&notify(9, 9, 9i64)).await;
    assert_eq!(ack_of(&e.recv().await.unwrap()).0, 9);
    let text = metrics.encode_text();
    for outcome in ["ok", "error", "panic", "timeout"] {
        assert!(
            text.contains(&format!("spoa_messages_total{{outcome=\"{outcome}\"}}")),
            "{outcome}: {text}"
        );
    }
}

#[tokio::test]
async fn an_answer_too_big_for_a_frame_falls_back() {
    let handler = |_req: Request| async move {
        let mut a = Actions::new();
        a.set_var(
            VarScope::Transaction,
            "big",
            TypedData::binary(vec![0u8; 2000]),
        );
        Ok::<_, HandlerError>(a)
    };
    let mut e = Engine::start(Server::new(handler, fallback_config()).unwrap());
    e.send(&Frame::haproxy_hello(&hello(1024))).await;
    e.recv().await.unwrap();
    e.send(&notify(1, 1, 0i64)).await;
    let (_, _, actions) = ack_of(&e.recv().await.unwrap());
    assert_eq!(
        actions,
        vec![
            Action::set_var(VarScope::Transaction, "agent_error", true),
            Action::set_var(VarScope::Transaction, "error", 13i32),
        ]
    );
}

/// An echo handler that answers only when `release` gets permits.
fn gated_echo() -> (Arc<Semaphore>, impl spoa::Handler) {
    let release = Arc::new(Semaphore::new(0));
    let rel = release.clone();
    let handler = move |req: Request| {
        let rel = rel.clone();
        async move {
            rel.acquire().await.unwrap().forget();
            Ok::<_, HandlerError>(spoa::demo::Echo::actions(&req))
        }
    };
    (release, handler)
}

// Paused clock: the sleep below returns only once every task is idle, so the agent has read
// the DISCONNECT (and is waiting on its handlers) before they are released, however slow the
// machine.
#[tokio::test(start_paused = true)]
async fn haproxy_disconnect_finishes_in_flight_acks_first() {
    let (release, handler) = gated_echo();
    let mut e = Engine::start(Server::new(handler, Config::default()).unwrap());
    e.handshake().await;
    e.send(&notify(1, 1, 1i64)).await;
    e.send(&notify(2, 1, 2i64)).await;
    e.send(&Frame::haproxy_disconnect(&Disconnect::new(Status::NORMAL)))
        .await;
    // Paused clock: returns once every task waits (see the test's attribute).
    tokio::time::sleep(Duration::from_millis(50)).await;
    release.add_permits(10);
    let mut acks = vec![
        ack_of(&e.recv().await.unwrap()).0,
        ack_of(&e.recv().await.unwrap()).0,
    ];
    acks.sort_unstable();
    assert_eq!(acks, vec![1, 2]);
    e.expect_disconnect(Status::NORMAL).await;
    assert!(
        matches!(e.end().await, ConnectionEnd::EngineDisconnect(d) if d.status == Status::NORMAL)
    );
}

// Paused clock: each sleep below returns only once every task is idle (the agent has read
// what was sent), however slow the machine.
#[tokio::test(start_paused = true)]
async fn shutdown_drains_then_says_goodbye() {
    let (release, handler) = gated_echo();
    let mut e = Engine::start(Server::new(handler, Config::default()).unwrap());
    e.handshake().await;
    e.send(&notify(1, 1, 1i64)).await;
    // Paused clock: returns once every task waits (see the test's attribute).
    tokio::time::sleep(Duration::from_millis(50)).await;
    e.stop.cancel();
    // Paused clock: returns once every task waits (see the test's attribute).
    tokio::time::sleep(Duration::from_millis(50)).await;
    release.add_permits(10);
    assert_eq!(ack_of(&e.recv().await.unwrap()).0, 1);
    e.expect_disconnect(Status::NORMAL).await;
    assert_eq!(e.end().await, ConnectionEnd::Shutdown);
}

#[tokio::test]
async fn fragmented_notify_is_reassembled() {
    let mut e = Engine::start(echo_server(Config::default()));
    e.handshake().await;
    let msg = Message::new("m").arg("path", "/".repeat(3000));
    let mut payload = Vec::new();
    msg.encode(&mut payload);
    let frag = |t: FrameType, fin: bool, part: &[u8]| Frame {
        header: FrameHeader {
            frame_type: t,
            flags: if fin { Flags::FIN } else { Flags(0) },
            stream_id: 5,
            frame_id: 6,
        },
        body: Body::Fragment(Bytes::copy_from_slice(part)),
    };
    e.send(&frag(FrameType::NOTIFY, false, &payload[..1000]))
        .await;
    e.send(&frag(FrameType::UNSET, false, &payload[1000..2000]))
        .await;
    e.send(&frag(FrameType::UNSET, true, &payload[2000..]))
        .await;
    let (sid, fid, actions) = ack_of(&e.recv().await.unwrap());
    assert_eq!((sid, fid), (5, 6));
    assert_eq!(
        actions,
        vec![Action::set_var(
            VarScope::Transaction,
            "path",
            "/".repeat(3000)
        )]
    );

    // Interlaced fragments are refused with 11, oversized payloads with 3.
    e.send(&frag(FrameType::NOTIFY, false, &payload[..10]))
        .await;
    e.send(&notify(7, 7, 1i64)).await;
    e.expect_disconnect(Status::INTERLACED_FRAMES).await;

    let mut cfg = Config::default();
    cfg.reassembly_limit = 2048;
    let mut e = Engine::start(echo_server(cfg));
    e.handshake().await;
    e.send(&frag(FrameType::NOTIFY, false, &payload[..1500]))
        .await;
    e.send(&frag(FrameType::UNSET, false, &payload[1500..]))
        .await;
    e.expect_disconnect(Status::FRAME_TOO_BIG).await;
}

#[tokio::test]
async fn close_after_the_last_ack_is_a_normal_close() {
    let mut e = Engine::start(echo_server(Config::default()));
    e.handshake().await;
    e.send(&notify(1, 1, 1i64)).await;
    ack_of(&e.recv().await.unwrap());
    let agent = e.agent;
    drop(e.io);
    assert_eq!(
        timeout(WAIT, agent).await.unwrap().unwrap(),
        ConnectionEnd::Closed
    );
}

#[tokio::test(start_paused = true)]
async fn silent_engine_times_out_the_hello() {
    let mut e = Engine::start(echo_server(Config::default()));
    e.expect_disconnect(Status::TIMEOUT).await;
}

#[tokio::test]
async fn a_closed_connection_cancels_its_handlers() {
    let started = Arc::new(Notify::new());
    let s = started.clone();
    let handler = move |_req: Request| {
        let s = s.clone();
        async move {
            s.notify_one();
            std::future::pending::<()>().await;
            Ok::<_, HandlerError>(Actions::new())
        }
    };
    let mut cfg = Config::default();
    cfg.handler_timeout = Duration::from_secs(3600);
    let mut e = Engine::start(Server::new(handler, cfg).unwrap());
    e.handshake().await;
    e.send(&notify(1, 1, 1i64)).await;
    timeout(WAIT, started.notified()).await.unwrap();
    let agent = e.agent;
    drop(e.io);
    assert_eq!(
        timeout(WAIT, agent).await.unwrap().unwrap(),
        ConnectionEnd::ClosedInFlight { in_flight: 1 }
    );
}

#[tokio::test]
async fn serves_tcp_and_unix_listeners_and_stops_on_the_token() {
    let dir = std::env::temp_dir().join(format!("spoa-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("agent.sock");
    for addr in [
        "127.0.0.1:0".parse::<spoa::ListenAddr>().unwrap(),
        spoa::ListenAddr::Unix(path.clone()),
    ] {
        let listener = spoa::Listener::bind(&addr).await.unwrap();
        let bound = listener.local_addr().unwrap();
        let server = echo_server(Config::default());
        let stop = CancellationToken::new();
        let serving = tokio::spawn({
            let stop = stop.clone();
            async move { server.serve(listener, stop).await }
        });
        let mut io: Box<dyn spop_io::Io> = match &bound {
            spoa::ListenAddr::Tcp(a) => Box::new(tokio::net::TcpStream::connect(a).await.unwrap()),
            spoa::ListenAddr::Unix(p) => {
                Box::new(tokio::net::UnixStream::connect(p).await.unwrap())
            }
        };
        let mut b = BytesMut::new();
        Frame::haproxy_hello(&hello(16380)).encode(&mut b);
        notify(1, 2, 3i64).encode(&mut b);
        io.write_all(&b).await.unwrap();
        let mut buf = BytesMut::new();
        let mut dec = FrameDecoder::new(u32::MAX);
        let mut frames = Vec::new();
        while frames.len() < 2 {
            if let Some(f) = dec.decode(&mut buf).unwrap() {
                frames.push(f);
                continue;
            }
            assert!(timeout(WAIT, io.read_buf(&mut buf)).await.unwrap().unwrap() > 0);
        }
        assert_eq!(frames[0].header.frame_type, FrameType::AGENT_HELLO);
        assert_eq!(
            ack_of(&frames[1]),
            (
                1,
                2,
                vec![Action::set_var(VarScope::Transaction, "v", 3i64)]
            )
        );
        // Stopping: AGENT-DISCONNECT 0 to the open connection, then serve returns.
        stop.cancel();
        let f = loop {
            if let Some(f) = dec.decode(&mut buf).unwrap() {
                break f;
            }
            assert!(timeout(WAIT, io.read_buf(&mut buf)).await.unwrap().unwrap() > 0);
        };
        assert_eq!(f.header.frame_type, FrameType::AGENT_DISCONNECT, "{addr}");
        timeout(WAIT, serving).await.unwrap().unwrap().unwrap();
    }
    assert!(
        !path.exists(),
        "the socket file is removed when the listener goes"
    );
    let _ = std::fs::remove_dir(&dir);
}

mod spop_io {
    pub(crate) trait Io:
        tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send
    {
    }
    impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}
}
