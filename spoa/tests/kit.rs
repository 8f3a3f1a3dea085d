//! The agent kit seen from an author: typed arguments, the request's context
//! (budget, engine, peer), the router, and `spoa::testing` driving the whole
//! runtime path over an in-memory pipe. Uses only `spoa::` paths and tokio.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use spoa::spop::engine::{EngineEnd, EngineEvent};
use spoa::testing::{Echo, Engine, Haproxy, RunningAgent, call, haproxy_hello};
use spoa::{
    Action, Actions, Config, ConnectionEnd, EngineInfo, ErrorCause, HandlerError, Message, Request,
    Router, Server, TypedData, VarScope,
};
use tokio::sync::Notify;

fn set(name: &str, value: impl Into<TypedData>) -> Action {
    Action::set_var(VarScope::Transaction, name.to_owned(), value)
}

#[tokio::test]
async fn the_handler_sees_its_budget_the_engine_and_the_peer() {
    type Seen = (Duration, EngineInfo, Option<SocketAddr>);
    let seen: Arc<Mutex<Option<Seen>>> = Arc::default();
    let record = seen.clone();
    let mut config = Config::default();
    config.handler_timeout = Duration::from_millis(700);
    let server = Server::new(
        move |req: Request| {
            let record = record.clone();
            async move {
                *record.lock().unwrap() = Some((req.remaining(), (*req.engine).clone(), req.peer));
                Ok(Actions::new())
            }
        },
        config,
    )
    .unwrap();
    let mut hello = haproxy_hello();
    hello.max_frame_size = 4096;
    hello.engine_id = Some("engine-42".into());
    let mut engine = Engine::connect_with(&server, hello).await.unwrap();
    assert_eq!(engine.agent_hello().max_frame_size, 4096);
    engine.notify(vec![Message::new("m")]).await.unwrap();
    let (remaining, info, peer) = seen.lock().unwrap().clone().expect("handler ran");
    assert!(
        remaining > Duration::ZERO && remaining <= Duration::from_millis(700),
        "remaining budget {remaining:?} should be within the 700ms handler_timeout"
    );
    assert_eq!(info.engine_id.as_deref(), Some("engine-42"));
    assert_eq!(info.max_frame_size, 4096);
    assert!(info.capabilities.pipelining);
    assert_eq!(peer, None, "an in-memory pipe has no peer address");
    assert!(matches!(
        engine.disconnect().await.unwrap(),
        ConnectionEnd::EngineDisconnect(_)
    ));
}

#[tokio::test]
async fn a_typed_argument_error_names_the_argument_and_both_types() {
    async fn handler(req: Request) -> Result<Actions, HandlerError> {
        let ip: Ipv4Addr = req.arg("ip")?;
        let mut actions = Actions::new();
        actions.set_var(VarScope::Transaction, "private", ip.is_private());
        Ok(actions)
    }
    let ok = Request::builder()
        .message(Message::new("check").arg("ip", Ipv4Addr::new(10, 0, 0, 1)))
        .build();
    let actions = call(&handler, ok).await.unwrap();
    assert_eq!(
        actions.var(VarScope::Transaction, "private"),
        Some(&TypedData::Bool(true))
    );
    let bad = Request::builder()
        .message(Message::new("check").arg("ip", "10.0.0.1"))
        .build();
    let err = call(&handler, bad).await.unwrap_err().to_string();
    assert_eq!(
        err,
        r#"argument "ip" of message "check": expected IPV4, got STRING"#
    );
}

#[tokio::test(start_paused = true)]
async fn call_cancels_a_handler_past_its_budget() {
    let slow = |_req: Request| async {
        // The handler's own work: longer than its budget (paused clock).
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok(Actions::new())
    };
    let req = Request::builder().budget(Duration::from_millis(50)).build();
    let err = call(&slow, req).await.unwrap_err();
    assert!(err.to_string().contains("overran its budget"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn the_router_merges_actions_in_message_order_and_ignores_unrouted_messages() {
    let router = Router::new()
        .route("first", |_req: Request| async {
            // Finishes last: the order of the ACK must still be the frame's.
            tokio::time::sleep(Duration::from_millis(30)).await;
            Ok(vec![set("a", 1i64)].into())
        })
        .route("second", |req: Request| async move {
            let n: i64 = req.arg("n")?;
            assert_eq!(
                req.messages.len(),
                1,
                "a routed handler sees its message only"
            );
            Ok(vec![set("b", n), set("c", 3i64)].into())
        });
    let server = Server::new(router, Config::default()).unwrap();
    let mut engine = Engine::connect(&server).await.unwrap();
    let actions = engine
        .notify(vec![
            Message::new("first"),
            Message::new("nobody-serves-this"),
            Message::new("second").arg("n", 2i64),
        ])
        .await
        .unwrap();
    assert_eq!(
        actions.into_vec(),
        vec![set("a", 1i64), set("b", 2i64), set("c", 3i64)]
    );
}

#[tokio::test]
async fn one_failing_routed_handler_fails_the_whole_notify() {
    let router = Router::new()
        .route("ok", |_req: Request| async {
            Ok(vec![set("ok", true)].into())
        })
        .route("fails", |_req: Request| async {
            Err::<Actions, HandlerError>("backend unavailable".into())
        });
    let server = Server::new(router, Config::default()).unwrap();
    let mut engine = Engine::connect(&server).await.unwrap();
    let actions = engine
        .notify(vec![Message::new("ok"), Message::new("fails")])
        .await
        .unwrap();
    assert_eq!(
        actions.var(VarScope::Transaction, "ok"),
        None,
        "no partial answer"
    );
    assert_eq!(
        actions.into_vec(),
        vec![set("error", ErrorCause::HandlerError.code())]
    );
}

#[tokio::test(start_paused = true)]
async fn an_overrun_takes_the_error_path_through_the_engine() {
    let mut config = Config::default();
    config.handler_timeout = Duration::from_millis(100);
    let server = Server::new(
        |_req: Request| async {
            // The handler's own work: longer than its budget (paused clock).
            tokio::time::sleep(Duration::from_secs(3)).await;
            Ok(vec![set("late", true)].into())
        },
        config,
    )
    .unwrap();
    let mut engine = Engine::connect(&server).await.unwrap();
    let actions = engine.notify(vec![Message::new("m")]).await.unwrap();
    assert_eq!(
        actions.into_vec(),
        vec![set("error", ErrorCause::BudgetOverrun.code())]
    );
}

#[tokio::test]
async fn pipelined_notifies_are_answered_as_they_finish() {
    let release = Arc::new(Notify::new());
    let gate = release.clone();
    let server = Server::new(
        move |req: Request| {
            let gate = gate.clone();
            async move {
                if req.message("slow").is_some() {
                    gate.notified().await;
                }
                Ok(vec![set("id", req.stream_id)].into())
            }
        },
        Config::default(),
    )
    .unwrap();
    let mut engine = Engine::connect(&server).await.unwrap();
    let (slow, _) = engine
        .send_notify(vec![Message::new("slow")])
        .await
        .unwrap();
    let (fast, _) = engine
        .send_notify(vec![Message::new("fast")])
        .await
        .unwrap();
    let (first, _, _) = engine.recv_ack().await.unwrap();
    assert_eq!(
        first, fast,
        "the fast NOTIFY is answered while the slow one runs"
    );
    release.notify_one();
    let (second, _, actions) = engine.recv_ack().await.unwrap();
    assert_eq!(second, slow);
    assert_eq!(actions.into_vec(), vec![set("id", slow)]);
}

#[tokio::test]
async fn a_graceful_stop_answers_in_flight_notifies_then_disconnects() {
    let started = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let (s, r) = (started.clone(), release.clone());
    let server = Server::new(
        move |_req: Request| {
            let (s, r) = (s.clone(), r.clone());
            async move {
                s.notify_one();
                r.notified().await;
                Ok(vec![set("done", true)].into())
            }
        },
        Config::default(),
    )
    .unwrap();
    let mut engine = Engine::connect(&server).await.unwrap();
    engine.send_notify(vec![Message::new("m")]).await.unwrap();
    started.notified().await;
    release.notify_one();
    let (events, end) = engine.shutdown().await.unwrap();
    let kinds: Vec<_> = events
        .iter()
        .map(|e| match e {
            EngineEvent::Ack { actions, .. } => format!("ACK {actions:?}"),
            EngineEvent::Closing {
                end: EngineEnd::AgentDisconnect(d),
                ..
            } => format!("AGENT-DISCONNECT {}", d.status.0),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    assert!(kinds[0].starts_with("ACK"), "{kinds:?}");
    assert_eq!(kinds[1], "AGENT-DISCONNECT 0");
    assert!(matches!(events[2], EngineEvent::Closed { .. }), "{kinds:?}");
    assert_eq!(end, ConnectionEnd::Shutdown);
}

#[tokio::test]
async fn the_kit_plays_haproxy_31_and_2x_ids() {
    let server = Server::new(Echo, Config::default()).unwrap();
    let mut engine = Engine::connect_as(&server, Haproxy::V3_1).await.unwrap();
    assert_eq!(
        engine.agent_hello().capabilities.to_string(),
        "pipelining",
        "no fragmentation announced to 3.1+"
    );
    engine
        .send_notify_with_ids(77, 2, vec![Message::new("m").arg("a", 1i64)])
        .await
        .unwrap();
    let (stream_id, frame_id, actions) = engine.recv_ack().await.unwrap();
    assert_eq!((stream_id, frame_id), (77, 2));
    assert_eq!(actions.into_vec(), vec![set("a", 1i64)]);

    let engine = Engine::connect_as(&server, Haproxy::V2_6).await.unwrap();
    assert_eq!(
        engine.agent_hello().capabilities.to_string(),
        "pipelining,fragmentation"
    );
}

#[tokio::test]
async fn a_running_agent_serves_on_a_port_the_test_gets_back() {
    let server = Server::new(Echo, Config::default()).unwrap();
    let agent = RunningAgent::start(&server).await.unwrap();
    let addr = agent.tcp_addr().expect("a loopback port");
    assert!(addr.ip().is_loopback() && addr.port() != 0);
    let mut engine = Engine::dial(agent.addr()).await.unwrap();
    engine.handshake(haproxy_hello()).await.unwrap();
    let actions = engine
        .notify(vec![Message::new("m").arg("x", 2i64)])
        .await
        .unwrap();
    assert_eq!(actions.into_vec(), vec![set("x", 2i64)]);
    engine.goodbye().await.unwrap();
    agent.stop().await.unwrap();
}
