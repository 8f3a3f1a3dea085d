//! The fault plan's engine scenarios (F1-F3, F5-F9, F14, F18, F19) against
//! scripted fake agents, with exact bounds under tokio's paused clock.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock, and spawn helpers that end with the test"
)]

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use spoe::{Engine, ProcessStatus};
use spop::{Action, Kv, Status, TypedData, VarScope};
use support::{FakeAgents, Hello, Reply, Script, echoed, msg, settings, statuses};
use tokio::time::{Instant, sleep};

const PROCESSING: Duration = Duration::from_millis(500);

fn engine(agents: &Arc<FakeAgents>) -> Engine {
    Engine::with_connector(settings(PROCESSING), agents.clone())
}

#[tokio::test(start_paused = true)]
async fn normal_exchange() {
    let agents = FakeAgents::same(Script::replies(vec![Reply::Echo]));
    let e = engine(&agents);
    let out = e.process(&msg(7)).await;
    assert_eq!(out.status, ProcessStatus::OK);
    assert_eq!(out.actions, echoed(7));
    assert!(out.timings.queue.is_some() && out.timings.wait.is_some());
}

#[tokio::test(start_paused = true)]
async fn f1_slow_agent_fails_exactly_at_the_deadline_and_the_late_ack_is_dropped() {
    let agents = FakeAgents::same(Script::replies(vec![
        Reply::Delay(Duration::from_secs(2)),
        Reply::Echo,
    ]));
    let e = engine(&agents);
    let start = Instant::now();
    let out = e.process(&msg(1)).await;
    assert_eq!(out.status, ProcessStatus::TIMEOUT);
    assert_eq!(
        start.elapsed(),
        PROCESSING,
        "fails at queued_at + timeout processing, not later"
    );
    assert_eq!(out.timings.total, PROCESSING);
    // The late ACK arrives at 2 s: dropped, counted, and the connection stays.
    // Paused clock: virtual time, advanced once every task waits; not a barrier.
    sleep(Duration::from_secs(2)).await;
    assert_eq!(e.stats().late_acks(), 1);
    let out = e.process(&msg(2)).await;
    assert_eq!(out.status, ProcessStatus::OK);
    assert_eq!(out.actions, echoed(2), "no misattribution of the late ACK");
    assert_eq!(agents.seen.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn f1_other_pipelined_streams_are_unaffected() {
    let agents = FakeAgents::same(Script::replies(vec![
        Reply::Delay(Duration::from_secs(2)),
        Reply::Delay(Duration::from_millis(100)),
    ]));
    let e = Arc::new(engine(&agents));
    let slow = tokio::spawn({
        let e = e.clone();
        async move { e.process(&msg(1)).await }
    });
    tokio::task::yield_now().await;
    let start = Instant::now();
    let fast = e.process(&msg(2)).await;
    assert_eq!(fast.status, ProcessStatus::OK);
    assert_eq!(fast.actions, echoed(2));
    assert!(start.elapsed() <= Duration::from_millis(101));
    assert_eq!(slow.await.unwrap().status, ProcessStatus::TIMEOUT);
}

#[tokio::test(start_paused = true)]
async fn f2_silent_agent_every_message_fails_at_its_deadline_then_the_connection_is_closed() {
    let agents = FakeAgents::same(Script::replies(vec![Reply::Silent]));
    let mut s = settings(PROCESSING);
    s.max_waiting_frames = 3;
    let e = Arc::new(Engine::with_connector(s, agents.clone()));
    let start = Instant::now();
    let tasks: Vec<_> = (0..3)
        .map(|i| {
            let e = e.clone();
            tokio::spawn(async move { e.process(&msg(i)).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().status, ProcessStatus::TIMEOUT);
    }
    assert_eq!(start.elapsed(), PROCESSING);
    // Paused clock: virtual time, advanced once every task waits; not a barrier.
    sleep(Duration::from_millis(10)).await;
    assert_eq!(
        statuses(&agents.seen),
        vec![Status::TIMEOUT],
        "HAPROXY-DISCONNECT 2 after every slot timed out"
    );
}

#[tokio::test(start_paused = true)]
async fn f18_an_agent_that_stops_reading_fails_every_message_at_its_own_deadline() {
    // The agent reads the first NOTIFY and then nothing: the engine's writes
    // fill the 4 KiB between them and stall. Messages queued 100 ms apart
    // must each fail at their own queued time + `timeout processing`, while
    // the connection is stuck in a write: a stalled write stretches no
    // deadline, neither of the messages it carries nor of those before it.
    let agents = FakeAgents::with_buffer(Script::replies(vec![Reply::StopReading]), 4096);
    let e = Arc::new(engine(&agents));
    let big = || vec![spop::Message::new("m").arg("v", "x".repeat(3000))];
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..6u32 {
        let e = e.clone();
        let msgs = big();
        tasks.push(tokio::spawn(async move {
            // Not a barrier: the messages' queue times, 100 ms apart (paused clock).
            sleep(Duration::from_millis(100) * i).await;
            let queued = Instant::now();
            let out = e.process(&msgs).await;
            (out.status, queued.elapsed())
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        let (status, took) = t.await.unwrap();
        assert_eq!(status, ProcessStatus::TIMEOUT, "message {i}");
        assert_eq!(took, PROCESSING, "message {i} failed at its own deadline");
    }
    assert_eq!(start.elapsed(), Duration::from_millis(500) + PROCESSING);
}

#[tokio::test(start_paused = true)]
async fn f3_agent_closing_mid_message_fails_it_at_once_with_257() {
    let agents = FakeAgents::same(Script::replies(vec![Reply::Close]));
    let e = engine(&agents);
    let start = Instant::now();
    let out = e.process(&msg(1)).await;
    assert_eq!(out.status, ProcessStatus(257));
    assert_eq!(start.elapsed(), Duration::ZERO, "no timer wait");
}

#[tokio::test(start_paused = true)]
async fn f3_a_failure_on_a_reused_connection_is_retried_elsewhere() {
    // First connection answers once, then closes on the next NOTIFY; the
    // retry lands on a fresh connection that answers.
    let agents = FakeAgents::new(|i| {
        if i == 0 {
            Script::replies(vec![Reply::Echo, Reply::Close])
        } else {
            Script::replies(vec![Reply::Echo])
        }
    });
    let e = engine(&agents);
    assert_eq!(e.process(&msg(1)).await.status, ProcessStatus::OK);
    let out = e.process(&msg(2)).await;
    assert_eq!(out.status, ProcessStatus::OK);
    assert_eq!(out.actions, echoed(2));
    assert_eq!(e.stats().retries(), 1);
    assert_eq!(agents.seen.connections.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn f5_oversized_and_zero_length_frames_from_the_agent() {
    for (bytes, status) in [
        (vec![0xffu8, 0xff, 0xff, 0xff], Status::FRAME_TOO_BIG),
        (vec![0, 0, 0, 0], Status::INVALID_FRAME),
    ] {
        let agents = FakeAgents::same(Script::replies(vec![Reply::Raw(bytes)]));
        let e = engine(&agents);
        let out = e.process(&msg(1)).await;
        assert_eq!(out.status, ProcessStatus::connection(status));
        // Paused clock: virtual time, advanced once every task waits; not a barrier.
        sleep(Duration::from_millis(10)).await;
        assert_eq!(statuses(&agents.seen), vec![status]);
    }
}

#[tokio::test(start_paused = true)]
async fn f5_a_message_too_big_for_the_negotiated_frame_fails_with_3() {
    let agents = FakeAgents::same(Script {
        hello: Hello::Custom(vec![
            Kv::new("version", "2.0"),
            Kv::new("max-frame-size", 256u32),
        ]),
        replies: vec![Reply::Echo],
    });
    let e = engine(&agents);
    let big = vec![spop::Message::new("m").arg("b", TypedData::binary(vec![0u8; 300]))];
    assert_eq!(e.process(&big).await.status, ProcessStatus::TOO_BIG);
    assert_eq!(
        e.process(&msg(1)).await.status,
        ProcessStatus::OK,
        "the connection is still usable"
    );
}

#[tokio::test(start_paused = true)]
async fn f6_an_ack_with_unknown_ids_closes_with_12_and_never_misapplies() {
    let agents = FakeAgents::same(Script::replies(vec![Reply::WrongIds]));
    let e = engine(&agents);
    let out = e.process(&msg(1)).await;
    assert_eq!(
        out.status,
        ProcessStatus::connection(Status::FRAME_ID_NOT_FOUND)
    );
    assert!(out.actions.is_empty());
    // Paused clock: virtual time, advanced once every task waits; not a barrier.
    sleep(Duration::from_millis(10)).await;
    assert_eq!(statuses(&agents.seen), vec![Status::FRAME_ID_NOT_FOUND]);
}

#[tokio::test(start_paused = true)]
async fn f7_unknown_action_types_are_passed_on_after_the_known_ones() {
    let agents = FakeAgents::same(Script::replies(vec![Reply::UnknownAction]));
    let e = engine(&agents);
    let out = e.process(&msg(1)).await;
    assert_eq!(out.status, ProcessStatus::OK);
    assert_eq!(
        out.actions[0],
        Action::set_var(VarScope::Transaction, "a", true)
    );
    assert!(matches!(
        out.actions[1],
        Action::Unknown { action_type: 9, .. }
    ));
}

#[tokio::test(start_paused = true)]
async fn f8_empty_ack_succeeds_at_once_non_fin_and_bad_data_close() {
    let agents = FakeAgents::same(Script::replies(vec![Reply::EmptyAck]));
    let e = engine(&agents);
    let start = Instant::now();
    let out = e.process(&msg(1)).await;
    assert_eq!((out.status, out.actions.len()), (ProcessStatus::OK, 0));
    assert_eq!(start.elapsed(), Duration::ZERO);

    let agents = FakeAgents::same(Script::replies(vec![Reply::NonFin]));
    let out = engine(&agents).process(&msg(1)).await;
    assert_eq!(
        out.status,
        ProcessStatus::connection(Status::FRAGMENTATION_NOT_SUPPORTED)
    );

    // ACK, FIN, ids 0/1, SET-VAR with reserved data type 12.
    let bad = vec![0, 0, 0, 13, 103, 0, 0, 0, 1, 1, 1, 1, 3, 2, 1, b'x', 0x0c];
    let agents = FakeAgents::same(Script::replies(vec![Reply::Raw(bad)]));
    let out = engine(&agents).process(&msg(1)).await;
    assert_eq!(out.status, ProcessStatus::connection(Status::INVALID_FRAME));
}

#[tokio::test(start_paused = true)]
async fn f9_refused_handshakes_fail_fast_and_back_off() {
    let agents = FakeAgents::same(Script {
        hello: Hello::Refuse(Status::BAD_VERSION),
        replies: vec![],
    });
    let e = engine(&agents);
    let start = Instant::now();
    let out = e.process(&msg(1)).await;
    // HAProxy 2.6 records 1 for a refused handshake (it reconnects until
    // `timeout processing`); the engine records the same, at once.
    assert_eq!(out.status, ProcessStatus::TIMEOUT);
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "fails fast, not at the deadline"
    );
    // Keep asking for 10 s: attempts are spaced by an exponential backoff.
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        let _ = e.process(&msg(1)).await;
        // Paused clock: virtual time, advanced once every task waits; not a barrier.
        sleep(Duration::from_millis(10)).await;
    }
    let attempts = agents.seen.connections.load(Ordering::SeqCst);
    assert!(
        (5..=10).contains(&attempts),
        "{attempts} connection attempts in 10 s"
    );
    let times = agents.seen.connect_times.lock().unwrap().clone();
    for w in times.windows(3) {
        assert!(
            w[2] - w[1] >= w[1] - w[0],
            "backoff never shrinks: {times:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn f9_bad_agent_hellos_map_to_their_status() {
    let cases = [
        (
            vec![Kv::new("max-frame-size", 16380u32)],
            Status::NO_VERSION,
        ),
        (
            vec![
                Kv::new("version", "3.0"),
                Kv::new("max-frame-size", 16380u32),
            ],
            Status::BAD_VERSION,
        ),
        (vec![Kv::new("version", "2.0")], Status::NO_FRAME_SIZE),
        (
            vec![
                Kv::new("version", "2.0"),
                Kv::new("max-frame-size", 70000u32),
            ],
            Status::BAD_FRAME_SIZE,
        ),
    ];
    for (kv, status) in cases {
        let agents = FakeAgents::same(Script {
            hello: Hello::Custom(kv),
            replies: vec![],
        });
        let out = engine(&agents).process(&msg(1)).await;
        // The agent is told why (HAPROXY-DISCONNECT), the message gets
        // HAProxy's status for a failed handshake: 1.
        assert_eq!(out.status, ProcessStatus::TIMEOUT);
        // Paused clock: virtual time, advanced once every task waits; not a barrier.
        sleep(Duration::from_millis(10)).await;
        assert_eq!(statuses(&agents.seen), vec![status]);
    }
}

#[tokio::test(start_paused = true)]
async fn f9_no_hello_is_bounded_by_the_message_deadline() {
    let agents = FakeAgents::same(Script {
        hello: Hello::Silent,
        replies: vec![],
    });
    let mut s = settings(PROCESSING);
    s.timeout_hello = Duration::from_secs(10);
    let e = Engine::with_connector(s, agents.clone());
    let start = Instant::now();
    assert_eq!(e.process(&msg(1)).await.status, ProcessStatus::TIMEOUT);
    assert_eq!(start.elapsed(), PROCESSING);
}

#[tokio::test(start_paused = true)]
async fn f9_without_pipelining_one_stream_per_connection() {
    let agents = FakeAgents::same(Script {
        hello: Hello::NoPipelining,
        replies: vec![Reply::Delay(Duration::from_millis(50))],
    });
    let e = Arc::new(engine(&agents));
    let tasks: Vec<_> = (0..5)
        .map(|i| {
            let e = e.clone();
            tokio::spawn(async move { e.process(&msg(i)).await })
        })
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        let out = t.await.unwrap();
        assert_eq!(out.status, ProcessStatus::OK);
        assert_eq!(out.actions, echoed(i as i64));
    }
    assert_eq!(agents.seen.max_in_flight.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn f14_many_streams_respect_per_connection_and_pool_limits() {
    let agents = FakeAgents::same(Script::replies(vec![Reply::Delay(Duration::from_millis(
        50,
    ))]));
    let mut s = settings(Duration::from_secs(2));
    s.max_connections_per_server = 10;
    let e = Arc::new(Engine::with_connector(s, agents.clone()));
    let start = Instant::now();
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let e = e.clone();
            tokio::spawn(async move { (i, e.process(&msg(i)).await) })
        })
        .collect();
    for t in tasks {
        let (i, out) = t.await.unwrap();
        assert_eq!(out.status, ProcessStatus::OK, "message {i}");
        assert_eq!(out.actions, echoed(i));
    }
    assert!(agents.seen.max_in_flight.load(Ordering::SeqCst) <= 20);
    assert!(agents.seen.connections.load(Ordering::SeqCst) <= 10);
    // 10 connections x 20 streams per 50 ms: 1000 messages need 250 ms.
    assert!(
        start.elapsed() <= Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn f14_queue_overflow_fails_fast_with_2() {
    let agents = FakeAgents::same(Script::replies(vec![Reply::Delay(Duration::from_millis(
        100,
    ))]));
    let mut s = settings(Duration::from_secs(2));
    s.max_queue = 10;
    s.max_connections_per_server = 1;
    s.max_waiting_frames = 1;
    let e = Arc::new(Engine::with_connector(s, agents.clone()));
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let e = e.clone();
            tokio::spawn(async move { e.process(&msg(i)).await.status })
        })
        .collect();
    let mut by_status = std::collections::BTreeMap::new();
    for t in tasks {
        *by_status.entry(t.await.unwrap()).or_insert(0) += 1;
    }
    assert!(
        by_status
            .get(&ProcessStatus::RESOURCE)
            .copied()
            .unwrap_or(0)
            > 0,
        "{by_status:?}"
    );
    assert!(
        !by_status.contains_key(&ProcessStatus::TIMEOUT),
        "{by_status:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn f19_a_cancelled_caller_frees_its_slot_and_gets_nothing_applied() {
    let agents = FakeAgents::same(Script::replies(vec![Reply::Delay(Duration::from_millis(
        200,
    ))]));
    let mut s = settings(PROCESSING);
    s.max_waiting_frames = 1;
    s.max_connections_per_server = 1;
    let e = Arc::new(Engine::with_connector(s, agents.clone()));
    // The client goes away after 50 ms.
    let r = tokio::time::timeout(Duration::from_millis(50), e.process(&msg(1))).await;
    assert!(r.is_err());
    // The single slot frees when the ACK arrives; the next message is served.
    let out = e.process(&msg(2)).await;
    assert_eq!(out.status, ProcessStatus::OK);
    assert_eq!(out.actions, echoed(2));
    assert_eq!(agents.seen.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn idle_connections_are_closed_with_haproxy_disconnect() {
    let agents = FakeAgents::same(Script::replies(vec![Reply::Echo]));
    let e = engine(&agents);
    assert_eq!(e.process(&msg(1)).await.status, ProcessStatus::OK);
    // Paused clock: virtual time, advanced once every task waits; not a barrier.
    sleep(Duration::from_secs(31)).await;
    assert_eq!(statuses(&agents.seen), vec![Status::NORMAL]);
    assert_eq!(e.stats().connections(), 0);
}

#[tokio::test(start_paused = true)]
async fn drain_closes_idle_connections_at_once_and_busy_ones_after_their_ack() {
    let agents = FakeAgents::same(Script::replies(vec![
        Reply::Echo,
        Reply::Delay(Duration::from_millis(300)),
    ]));
    let e = Arc::new(engine(&agents));
    assert_eq!(e.process(&msg(1)).await.status, ProcessStatus::OK);
    let busy = tokio::spawn({
        let e = e.clone();
        async move { e.process(&msg(2)).await }
    });
    // Paused clock: virtual time, advanced once every task waits; not a barrier.
    sleep(Duration::from_millis(10)).await;
    let start = Instant::now();
    e.drain();
    let out = busy.await.unwrap();
    assert_eq!(out.status, ProcessStatus::OK, "in-flight message finishes");
    tokio::time::timeout(PROCESSING, e.drained())
        .await
        .expect("drain ends within timeout processing");
    assert!(start.elapsed() < PROCESSING);
    assert_eq!(statuses(&agents.seen), vec![Status::NORMAL]);
    // A late event (a request still running through a reload) is served
    // on a fresh connection, which closes again once idle.
    let out = e.process(&msg(3)).await;
    assert_eq!((out.status, out.actions), (ProcessStatus::OK, echoed(3)));
    tokio::time::timeout(PROCESSING, e.drained())
        .await
        .expect("drained again");
    assert_eq!(e.stats().connections(), 0);
}

#[tokio::test(start_paused = true)]
async fn agent_disconnect_mid_flight_fails_or_retries() {
    let agents = FakeAgents::new(|i| {
        if i == 0 {
            Script::replies(vec![Reply::Disconnect(Status::RESOURCE)])
        } else {
            Script::replies(vec![Reply::Echo])
        }
    });
    let e = engine(&agents);
    // Fresh connection: no retry, the agent's status is reported.
    assert_eq!(
        e.process(&msg(1)).await.status,
        ProcessStatus::connection(Status::RESOURCE)
    );
    assert_eq!(e.process(&msg(2)).await.status, ProcessStatus::OK);
}

#[tokio::test(start_paused = true)]
async fn counters_follow_the_engine() {
    let agents = FakeAgents::same(Script::replies(vec![Reply::Delay(Duration::from_millis(
        100,
    ))]));
    let e = Arc::new(engine(&agents));
    let t = tokio::spawn({
        let e = e.clone();
        async move { e.process(&msg(1)).await }
    });
    // Paused clock: virtual time, advanced once every task waits; not a barrier.
    sleep(Duration::from_millis(50)).await;
    let c = e.stats().log_counters();
    assert_eq!(
        (c.applets, c.idles, c.waiting, c.sending),
        (1, 0, 1, 0),
        "{c:?}"
    );
    assert_eq!(t.await.unwrap().status, ProcessStatus::OK);
    let _ = e.process(&msg(2)).await;
    let agents2 = FakeAgents::same(Script::replies(vec![Reply::Close]));
    let e2 = engine(&agents2);
    let _ = e2.process(&msg(1)).await;
    let c = e.stats().log_counters();
    assert_eq!(
        (c.applets, c.idles, c.waiting, c.processed, c.errors),
        (1, 1, 0, 2, 0),
        "{c:?}"
    );
    let c2 = e2.stats().log_counters();
    assert_eq!((c2.processed, c2.errors), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn maxconnrate_limits_new_connections_per_second() {
    let agents = FakeAgents::same(Script::replies(vec![Reply::Delay(Duration::from_millis(
        100,
    ))]));
    let mut s = settings(Duration::from_secs(5));
    s.max_connection_rate = Some(2);
    s.max_waiting_frames = 1;
    let e = Arc::new(Engine::with_connector(s, agents.clone()));
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let e = e.clone();
            tokio::spawn(async move { e.process(&msg(i)).await.status })
        })
        .collect();
    // Paused clock: virtual time, advanced once every task waits; not a barrier.
    sleep(Duration::from_millis(500)).await;
    assert_eq!(
        agents.seen.connections.load(Ordering::SeqCst),
        2,
        "two connections in the first second"
    );
    for t in tasks {
        assert_eq!(t.await.unwrap(), ProcessStatus::OK);
    }
}

#[tokio::test(start_paused = true)]
async fn maxerrrate_skips_processing_once_reached() {
    let agents = FakeAgents::same(Script::replies(vec![Reply::Close]));
    let mut s = settings(PROCESSING);
    s.max_error_rate = Some(3);
    let e = engine_with(s, &agents);
    for _ in 0..3 {
        assert_eq!(e.process(&msg(1)).await.status, ProcessStatus(257));
        // Paused clock: virtual time, advanced once every task waits; not a barrier.
        sleep(Duration::from_millis(200)).await;
    }
    let before = agents.seen.notifies.load(Ordering::SeqCst);
    let out = e.process(&msg(1)).await;
    assert_eq!(
        (out.status, out.actions.len()),
        (ProcessStatus::OK, 0),
        "skipped, as HAProxy does"
    );
    assert_eq!(
        agents.seen.notifies.load(Ordering::SeqCst),
        before,
        "nothing sent"
    );
    assert_eq!(e.stats().skipped(), 1);
    // Paused clock: virtual time, advanced once every task waits; not a barrier.
    sleep(Duration::from_secs(3)).await;
    assert_eq!(
        e.process(&msg(1)).await.status,
        ProcessStatus(257),
        "processing resumes"
    );
}

fn engine_with(s: spoe::EngineSettings, agents: &Arc<FakeAgents>) -> Engine {
    Engine::with_connector(s, agents.clone())
}

#[tokio::test(start_paused = true)]
async fn spop_check_takes_a_failing_server_out_and_back() {
    use std::sync::atomic::AtomicBool;
    let healthy = Arc::new(AtomicBool::new(true));
    let h = healthy.clone();
    let agents = FakeAgents::new(move |_| {
        if h.load(Ordering::SeqCst) {
            Script::replies(vec![Reply::Echo])
        } else {
            Script {
                hello: Hello::Refuse(Status::BAD_VERSION),
                replies: vec![],
            }
        }
    });
    let mut s = settings(PROCESSING);
    s.timeout_idle = Duration::from_millis(50);
    s.health_check = Some(spoe::HealthCheck {
        inter: Duration::from_millis(100),
        rise: 2,
        fall: 2,
        timeout: Duration::from_millis(50),
    });
    let e = Engine::with_connector(s, agents.clone());
    assert_eq!(e.process(&msg(1)).await.status, ProcessStatus::OK);
    healthy.store(false, Ordering::SeqCst);
    // Paused clock: virtual time, advanced once every task waits; not a barrier.
    sleep(Duration::from_millis(250)).await;
    // Down after two failed checks: no connection is even tried.
    let before = agents.seen.connections.load(Ordering::SeqCst);
    let start = Instant::now();
    let out = e.process(&msg(2)).await;
    // HAProxy 2.6 cannot connect to a down server either: 1, at its deadline.
    assert_eq!(out.status, ProcessStatus::TIMEOUT);
    assert_eq!(start.elapsed(), Duration::ZERO, "fails fast");
    assert_eq!(
        agents.seen.connections.load(Ordering::SeqCst),
        before,
        "no connection to a down server"
    );
    healthy.store(true, Ordering::SeqCst);
    // Paused clock: virtual time, advanced once every task waits; not a barrier.
    sleep(Duration::from_millis(250)).await;
    assert_eq!(
        e.process(&msg(3)).await.status,
        ProcessStatus::OK,
        "up again after two good checks"
    );
}

/// Sends a request every 10 ms for `run` of simulated time; every one must end at once (no wait
/// for `timeout processing`), with OK or a connection status. Returns how many failed.
async fn requests_every_10ms(e: &Engine, run: Duration) -> usize {
    let until = Instant::now() + run;
    let mut failed = 0;
    while Instant::now() < until {
        let start = Instant::now();
        let out = e.process(&msg(1)).await;
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "fails fast, not at the deadline: {out:?}"
        );
        if out.status != ProcessStatus::OK {
            assert!(out.status.0 > 256, "a connection status: {out:?}");
            failed += 1;
        }
        // Requests are paced on the paused clock: what is tested is how many connections 10 s of them open.
        sleep(Duration::from_millis(10)).await;
    }
    failed
}

/// Issue 11 §5: an agent that answers HELLO and then sends garbage, an oversized frame, an ACK
/// with unknown ids or a duplicate ACK is disconnected with the right status, and its server backs
/// off exponentially (as for refused handshakes) instead of being reconnected for every request:
/// 1000 requests in 10 s used to open about 1000 connections (500 with the duplicate ACK).
#[tokio::test(start_paused = true)]
async fn f20_an_agent_that_breaks_after_hello_is_backed_off_and_requests_fail_fast() {
    let cases = [
        (
            "garbage",
            Reply::Raw(vec![0, 0, 0, 0]),
            Status::INVALID_FRAME,
        ),
        (
            "oversized frame",
            Reply::Raw(vec![0xff, 0xff, 0xff, 0xff]),
            Status::FRAME_TOO_BIG,
        ),
        ("unknown ids", Reply::WrongIds, Status::FRAME_ID_NOT_FOUND),
        (
            "duplicate ACK",
            Reply::DuplicateAck,
            Status::FRAME_ID_NOT_FOUND,
        ),
    ];
    for (what, reply, status) in cases {
        let agents = FakeAgents::same(Script::replies(vec![reply]));
        let e = engine(&agents);
        let failed = requests_every_10ms(&e, Duration::from_secs(10)).await;
        let connections = agents.seen.connections.load(Ordering::SeqCst);
        assert!(
            (4..=12).contains(&connections),
            "{what}: {connections} connections in 10 s"
        );
        assert!(failed >= 900, "{what}: only {failed} requests failed");
        assert_eq!(e.stats().protocol_errors(), connections as u64, "{what}");
        // Requests are paced on the paused clock: what is tested is how many connections they open.
        sleep(Duration::from_millis(10)).await;
        assert!(
            statuses(&agents.seen).iter().all(|s| *s == status),
            "{what}: HAPROXY-DISCONNECT {status}: {:?}",
            statuses(&agents.seen)
        );
        let times = agents.seen.connect_times.lock().unwrap().clone();
        for w in times.windows(3) {
            assert!(
                w[2] - w[1] >= w[1] - w[0],
                "{what}: backoff never shrinks: {times:?}"
            );
        }
    }
}

/// Healthy traffic resets the back-off: after three broken connections, one that answers for 7 s
/// (longer than `backoff_max`) and then sends garbage is replaced at once, and the message it
/// broke is retried on the new connection and succeeds.
#[tokio::test(start_paused = true)]
async fn f20_healthy_traffic_resets_the_protocol_error_backoff() {
    let agents = FakeAgents::new(|i| match i {
        0..=2 => Script::replies(vec![Reply::Raw(vec![0, 0, 0, 0])]),
        3 => {
            let mut replies = vec![Reply::Echo; 700];
            replies.push(Reply::Raw(vec![0, 0, 0, 0]));
            Script::replies(replies)
        }
        _ => Script::replies(vec![Reply::Echo]),
    });
    let e = engine(&agents);
    let mut failed = 0;
    while agents.seen.connections.load(Ordering::SeqCst) < 4 {
        failed += requests_every_10ms(&e, Duration::from_millis(10)).await;
    }
    assert!(
        failed > 3,
        "requests fail fast during the back-off too: {failed} failed"
    );
    let failed = requests_every_10ms(&e, Duration::from_secs(10)).await;
    assert_eq!(failed, 0, "no request fails once the agent is healthy");
    assert_eq!(agents.seen.connections.load(Ordering::SeqCst), 5);
    assert_eq!(e.stats().protocol_errors(), 4);
}

/// Log lines written while `body` runs (on this thread, as in a current-thread test runtime).
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The protocol-error WARN is rate-limited: one line per server per 10 s, each saying how many
/// were held back; held back and written together count every broken connection.
#[tokio::test(start_paused = true)]
async fn f20_the_protocol_error_warning_is_rate_limited_per_server() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer({
            let c = captured.clone();
            move || c.clone()
        })
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    let _log = tracing::subscriber::set_default(subscriber);
    // Other tests of this binary run on other threads with no subscriber: a callsite they
    // reached first may have its interest cached without this thread's subscriber (a race in
    // tracing's cache, seen once in a fresh-clone CI run: no line captured). Recompute it now
    // that this one is registered.
    tracing::callsite::rebuild_interest_cache();
    let agents = FakeAgents::same(Script::replies(vec![Reply::Raw(vec![0, 0, 0, 0])]));
    let mut s = settings(PROCESSING);
    s.backoff_max = Duration::from_millis(500);
    let e = Engine::with_connector(s, agents.clone());
    requests_every_10ms(&e, Duration::from_secs(25)).await;
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("protocol error"))
        .collect();
    let connections = agents.seen.connections.load(Ordering::SeqCst);
    assert!(connections >= 30, "{connections} connections:\n{text}");
    assert_eq!(lines.len(), 3, "one line per 10 s over 25 s:\n{text}");
    let suppressed: usize = lines
        .iter()
        .map(|l| {
            l.split("suppressed=")
                .nth(1)
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or_else(|| panic!("no suppressed=N in {l}"))
        })
        .sum();
    let held_back_at_the_end = connections - lines.len() - suppressed;
    assert!(
        held_back_at_the_end < connections / 2,
        "{connections} connections, {} lines, {suppressed} suppressed:\n{text}",
        lines.len()
    );
    assert!(lines.iter().all(|l| l.contains("WARN")), "{text}");
}
