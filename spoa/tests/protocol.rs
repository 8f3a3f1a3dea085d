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

use bytes::Bytes;
use spoa::testing::{Echo, Engine, RunningAgent};
use spoa::{Actions, Addr, Config, ConnectionEnd, HandlerError, Request, Server};
use spop::{
    Action, Body, Capabilities, Disconnect, Flags, Frame, FrameHeader, FrameType, HaproxyHello, Kv,
    Message, Status, TypedData, VarScope,
};
use tokio::sync::{Barrier, Notify, Semaphore};
use tokio::time::timeout;

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

fn echo_server(config: Config) -> Server<Echo> {
    Server::new(Echo, config).unwrap()
}

/// An engine connected to `server` over an in-memory pipe, after HAProxy
/// 2.6's handshake offering `mfs`.
async fn connected<H: spoa::Handler>(server: &Server<H>, mfs: u32) -> Engine {
    Engine::connect_with(server, hello(mfs)).await.unwrap()
}

fn notify(stream_id: u64, frame_id: u64, value: impl Into<TypedData>) -> Frame {
    Frame::notify(stream_id, frame_id, vec![Message::new("m").arg("v", value)])
}

async fn ack(e: &mut Engine) -> (u64, u64, Vec<Action>) {
    let (s, f, actions) = e.recv_ack().await.unwrap();
    (s, f, actions.into_vec())
}

#[tokio::test]
async fn handshake_answers_version_size_and_capabilities() {
    let mut cfg = Config::default();
    cfg.max_frame_size = 4096;
    let e = connected(&echo_server(cfg), 16380).await;
    let answer = e.agent_hello();
    assert_eq!(answer.version, spop::Version::V2_0);
    assert_eq!(answer.max_frame_size, 4096);
    assert_eq!(
        answer.capabilities.to_string(),
        "pipelining,fragmentation",
        "pipelining announced; async never; fragmentation to an engine that announced async (HAProxy <= 3.0)"
    );
    // The engine's smaller offer wins.
    let e2 = connected(&echo_server(Config::default()), 1024).await;
    assert_eq!(e2.agent_hello().max_frame_size, 1024);
}

#[tokio::test]
async fn health_check_is_answered_then_closed() {
    let mut e = Engine::open(&echo_server(Config::default()));
    let mut h = hello(16380);
    h.healthcheck = true;
    e.handshake(h).await.unwrap();
    e.expect_closed().await.unwrap();
    assert_eq!(e.end().await.unwrap(), ConnectionEnd::HealthCheck);
}

/// Every refusal of a HELLO and its status is the state machine's
/// (`spop::agent`'s unit tests have the whole table); here the runtime sends
/// it and ends the connection with it.
#[tokio::test]
async fn bad_hellos_get_the_matching_status() {
    let without_capabilities: Vec<Kv> = hello(16380)
        .to_kv()
        .into_iter()
        .filter(|kv| kv.name != "capabilities".as_bytes())
        .collect();
    let mut unsupported = hello(16380);
    unsupported.supported_versions = "1.0".into();
    for (kv, status) in [
        (without_capabilities, Status::NO_CAPABILITIES),
        (unsupported.to_kv(), Status::BAD_VERSION),
    ] {
        let mut e = Engine::open(&echo_server(Config::default()));
        e.send(&Frame::haproxy_hello_kv(kv)).await.unwrap();
        e.expect_disconnect(status).await.unwrap();
        assert!(
            matches!(e.end().await.unwrap(), ConnectionEnd::Refused { status: s, .. } if s == status)
        );
    }
}

#[tokio::test]
async fn a_notify_before_the_hello_is_invalid() {
    let mut e = Engine::open(&echo_server(Config::default()));
    e.send(&notify(1, 1, 5i64)).await.unwrap();
    e.expect_disconnect(Status::INVALID_FRAME).await.unwrap();
}

#[tokio::test]
async fn length_prefixes_are_checked_before_anything_is_buffered() {
    for (bytes, status) in [
        (vec![0xff, 0xff, 0xff, 0xff], Status::FRAME_TOO_BIG),
        (vec![0x00, 0x00, 0x3f, 0xfd], Status::FRAME_TOO_BIG),
        (vec![0, 0, 0, 0], Status::INVALID_FRAME),
    ] {
        let mut e = Engine::open(&echo_server(Config::default()));
        e.send_raw(&bytes).await.unwrap();
        e.expect_disconnect(status).await.unwrap();
    }
    // After the handshake the negotiated (smaller) size is the bound.
    let mut e = connected(&echo_server(Config::default()), 512).await;
    e.send(&notify(1, 1, TypedData::binary(vec![0u8; 600])))
        .await
        .unwrap();
    e.expect_disconnect(Status::FRAME_TOO_BIG).await.unwrap();
}

/// Which frames are refused after the handshake, and with what, is the state
/// machine's (`spop::agent`'s unit tests have the table); here the runtime
/// sends the status and closes.
#[tokio::test]
async fn garbage_and_invalid_frames_after_the_handshake() {
    let mut e = connected(&echo_server(Config::default()), 16380).await;
    // NOTIFY whose typed data uses reserved type 12.
    e.send_raw(&[0, 0, 0, 12, 3, 0, 0, 0, 1, 1, 1, 1, b'm', 1, 0, 0x0c])
        .await
        .unwrap();
    e.expect_disconnect(Status::INVALID_FRAME).await.unwrap();
    assert!(matches!(
        e.end().await.unwrap(),
        ConnectionEnd::Refused { status, .. } if status == Status::INVALID_FRAME
    ));
}

#[tokio::test]
async fn unknown_frame_types_are_skipped() {
    let mut e = connected(&echo_server(Config::default()), 16380).await;
    e.send_raw(&[0, 0, 0, 9, 42, 0, 0, 0, 1, 0, 0, 0xde, 0xad])
        .await
        .unwrap();
    e.send(&notify(3, 4, 7i64)).await.unwrap();
    let (sid, fid, actions) = ack(&mut e).await;
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
            Ok::<_, HandlerError>(Echo::actions(&req))
        }
    };
    let mut e = connected(&Server::new(handler, Config::default()).unwrap(), 16380).await;
    for i in 0..10u64 {
        e.send(&notify(i, i + 100, i as i64)).await.unwrap();
    }
    let mut seen = Vec::new();
    for _ in 0..10 {
        let (sid, fid, actions) = ack(&mut e).await;
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
    let mut e = connected(&Server::new(handler, cfg).unwrap(), 16380).await;
    for i in 0..5u64 {
        e.send(&notify(i, 1, 0i64)).await.unwrap();
    }
    // Paused clock: returns once every task waits (see the test's attribute).
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        started.load(Ordering::SeqCst),
        2,
        "only two handlers may start"
    );
    release.add_permits(1);
    ack(&mut e).await;
    // Paused clock: returns once every task waits (see the test's attribute).
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(started.load(Ordering::SeqCst), 3, "one ACK frees one slot");
    release.add_permits(4);
    for _ in 0..4 {
        ack(&mut e).await;
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
            _ => Ok(Echo::actions(&req)),
        }
    };
    let server = Server::new(handler, fallback_config()).unwrap();
    let metrics = server.metrics().clone();
    let mut e = connected(&server, 16380).await;
    for v in 1..=4i64 {
        e.send(&notify(v as u64, 1, v)).await.unwrap();
    }
    let mut got = std::collections::BTreeMap::new();
    for _ in 0..4 {
        let (sid, _, actions) = ack(&mut e).await;
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
    e.send(&notify(9, 9, 9i64)).await.unwrap();
    assert_eq!(ack(&mut e).await.0, 9);
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
    let mut e = connected(&Server::new(handler, fallback_config()).unwrap(), 1024).await;
    e.send(&notify(1, 1, 0i64)).await.unwrap();
    let (_, _, actions) = ack(&mut e).await;
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
            Ok::<_, HandlerError>(Echo::actions(&req))
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
    let mut e = connected(&Server::new(handler, Config::default()).unwrap(), 16380).await;
    e.send(&notify(1, 1, 1i64)).await.unwrap();
    e.send(&notify(2, 1, 2i64)).await.unwrap();
    e.send(&Frame::haproxy_disconnect(&Disconnect::new(Status::NORMAL)))
        .await
        .unwrap();
    // Paused clock: returns once every task waits (see the test's attribute).
    tokio::time::sleep(Duration::from_millis(50)).await;
    release.add_permits(10);
    let mut acks = vec![ack(&mut e).await.0, ack(&mut e).await.0];
    acks.sort_unstable();
    assert_eq!(acks, vec![1, 2]);
    e.expect_disconnect(Status::NORMAL).await.unwrap();
    assert!(
        matches!(e.end().await.unwrap(), ConnectionEnd::EngineDisconnect(d) if d.status == Status::NORMAL)
    );
}

// Paused clock: each sleep below returns only once every task is idle (the agent has read
// what was sent), however slow the machine.
#[tokio::test(start_paused = true)]
async fn shutdown_drains_then_says_goodbye() {
    let (release, handler) = gated_echo();
    let mut e = connected(&Server::new(handler, Config::default()).unwrap(), 16380).await;
    e.send(&notify(1, 1, 1i64)).await.unwrap();
    // Paused clock: returns once every task waits (see the test's attribute).
    tokio::time::sleep(Duration::from_millis(50)).await;
    e.stop_agent();
    // Paused clock: returns once every task waits (see the test's attribute).
    tokio::time::sleep(Duration::from_millis(50)).await;
    release.add_permits(10);
    assert_eq!(ack(&mut e).await.0, 1);
    e.expect_disconnect(Status::NORMAL).await.unwrap();
    assert_eq!(e.end().await.unwrap(), ConnectionEnd::Shutdown);
}

#[tokio::test]
async fn fragmented_notify_is_reassembled() {
    let mut e = connected(&echo_server(Config::default()), 16380).await;
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
        .await
        .unwrap();
    e.send(&frag(FrameType::UNSET, false, &payload[1000..2000]))
        .await
        .unwrap();
    e.send(&frag(FrameType::UNSET, true, &payload[2000..]))
        .await
        .unwrap();
    let (sid, fid, actions) = ack(&mut e).await;
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
        .await
        .unwrap();
    e.send(&notify(7, 7, 1i64)).await.unwrap();
    e.expect_disconnect(Status::INTERLACED_FRAMES)
        .await
        .unwrap();

    let mut cfg = Config::default();
    cfg.reassembly_limit = 2048;
    let mut e = connected(&echo_server(cfg), 16380).await;
    e.send(&frag(FrameType::NOTIFY, false, &payload[..1500]))
        .await
        .unwrap();
    e.send(&frag(FrameType::UNSET, false, &payload[1500..]))
        .await
        .unwrap();
    e.expect_disconnect(Status::FRAME_TOO_BIG).await.unwrap();
}

#[tokio::test]
async fn close_after_the_last_ack_is_a_normal_close() {
    let mut e = connected(&echo_server(Config::default()), 16380).await;
    e.send(&notify(1, 1, 1i64)).await.unwrap();
    ack(&mut e).await;
    e.close().await.unwrap();
    assert_eq!(e.end().await.unwrap(), ConnectionEnd::Closed);
}

#[tokio::test(start_paused = true)]
async fn silent_engine_times_out_the_hello() {
    let mut e = Engine::open(&echo_server(Config::default()));
    e.expect_disconnect(Status::TIMEOUT).await.unwrap();
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
    let mut e = connected(&Server::new(handler, cfg).unwrap(), 16380).await;
    e.send(&notify(1, 1, 1i64)).await.unwrap();
    timeout(WAIT, started.notified()).await.unwrap();
    e.close().await.unwrap();
    assert_eq!(
        e.end().await.unwrap(),
        ConnectionEnd::ClosedInFlight { in_flight: 1 }
    );
}

#[tokio::test]
async fn serves_tcp_and_unix_listeners_and_stops_on_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.sock");
    for addr in [
        "127.0.0.1:0".parse::<Addr>().unwrap(),
        Addr::Unix(path.clone()),
    ] {
        let agent = RunningAgent::start_on(&echo_server(Config::default()), &addr)
            .await
            .unwrap();
        let mut e = Engine::dial(agent.addr()).await.unwrap();
        e.handshake(hello(16380)).await.unwrap();
        e.send(&notify(1, 2, 3i64)).await.unwrap();
        assert_eq!(
            ack(&mut e).await,
            (
                1,
                2,
                vec![Action::set_var(VarScope::Transaction, "v", 3i64)]
            )
        );
        // Stopping: AGENT-DISCONNECT 0 to the open connection, then serve returns.
        agent.stop().await.unwrap();
        e.expect_disconnect(Status::NORMAL).await.unwrap();
    }
    assert!(
        !path.exists(),
        "the socket file is removed when the listener goes"
    );
}
