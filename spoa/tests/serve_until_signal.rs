//! `Server::serve_until_signal`: SIGTERM starts the runtime's drain (the
//! NOTIFY in flight is answered, then AGENT-DISCONNECT 0, then it returns
//! `Ok`), and a second signal stops waiting for a drain that would not end.
//!
//! The test signals its own process, so it is the only test in this binary:
//! tokio's handler takes SIGTERM once `serve_until_signal` has installed it
//! (before it accepts, so after a handshake it certainly has).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustix::process::{Signal, getpid, kill_process};
use spoa::spop::engine::{EngineEnd, EngineEvent};
use spoa::testing::{Engine, haproxy_hello};
use spoa::{Action, Actions, Addr, Config, Listener, Message, Request, Server, VarScope};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

/// An engine over TCP, after HAProxy 2.6's handshake.
async fn connect(addr: SocketAddr) -> Engine {
    let mut e = Engine::dial(&Addr::Tcp(addr)).await.unwrap();
    e.handshake(haproxy_hello()).await.unwrap();
    e
}

/// Waits until `addr` refuses connections: the listener is closed, the drain
/// has begun.
async fn wait_until_refused(addr: SocketAddr) {
    let refused = timeout(WAIT, async {
        while TcpStream::connect(addr).await.is_ok() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(refused.is_ok(), "the listener closes when the drain starts");
}

fn sigterm() {
    kill_process(getpid(), Signal::TERM).expect("kill(getpid(), SIGTERM)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_work_and_a_second_signal_stops_waiting() {
    // 1. One SIGTERM: the NOTIFY in flight is answered, then AGENT-DISCONNECT.
    let started = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let (s, r) = (started.clone(), release.clone());
    let server = Server::new(
        move |_req: Request| {
            let (s, r) = (s.clone(), r.clone());
            async move {
                s.notify_one();
                r.notified().await;
                Ok(vec![Action::set_var(VarScope::Transaction, "done", true)].into())
            }
        },
        Config::default(),
    )
    .unwrap();
    let listener = Listener::bind(&"127.0.0.1:0".parse::<Addr>().unwrap())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let Addr::Tcp(addr) = addr else {
        panic!("TCP listener, got {addr}")
    };
    let mut tasks = JoinSet::new();
    let agent = server.clone();
    tasks.spawn(async move { agent.serve_until_signal(listener).await });
    let mut engine = connect(addr).await;
    engine.send_notify(vec![Message::new("m")]).await.unwrap();
    timeout(WAIT, started.notified())
        .await
        .expect("handler started");
    sigterm();
    wait_until_refused(addr).await;
    // The drain has begun (no more accepts) and waits for the handler:
    // release it only now.
    release.notify_one();
    let (_, _, actions) = engine.recv_ack().await.expect("the in-flight ACK");
    assert_eq!(
        actions.var(VarScope::Transaction, "done"),
        Some(&spoa::TypedData::Bool(true))
    );
    let bye = engine.next_event().await.expect("AGENT-DISCONNECT");
    assert!(
        matches!(
            bye,
            Some(EngineEvent::Closing {
                end: EngineEnd::AgentDisconnect(_),
                ..
            })
        ),
        "{bye:?}"
    );
    let served = timeout(WAIT, tasks.join_next())
        .await
        .expect("serve_until_signal returns after the drain")
        .expect("a task")
        .expect("not panicked");
    assert!(served.is_ok(), "{served:?}");

    // 2. A handler that never ends and a long drain: the second signal
    // returns at once instead of waiting the 60s grace.
    let mut config = Config::default();
    config.drain_grace = Duration::from_secs(60);
    let stuck_started = Arc::new(Notify::new());
    let s = stuck_started.clone();
    let server = Server::new(
        move |_req: Request| {
            let s = s.clone();
            async move {
                s.notify_one();
                std::future::pending::<()>().await;
                Ok(Actions::new())
            }
        },
        config,
    )
    .unwrap();
    let listener = Listener::bind(&"127.0.0.1:0".parse::<Addr>().unwrap())
        .await
        .unwrap();
    let Addr::Tcp(addr) = listener.local_addr().unwrap() else {
        panic!("TCP listener")
    };
    let agent = server.clone();
    tasks.spawn(async move { agent.serve_until_signal(listener).await });
    let mut engine = connect(addr).await;
    engine.send_notify(vec![Message::new("m")]).await.unwrap();
    timeout(WAIT, stuck_started.notified())
        .await
        .expect("handler started");
    sigterm();
    wait_until_refused(addr).await;
    // Draining, and a second signal ends the wait.
    sigterm();
    let served = timeout(WAIT, tasks.join_next())
        .await
        .expect("serve_until_signal returns on the second signal, not after drain_grace")
        .expect("a task")
        .expect("not panicked");
    assert!(served.is_ok(), "{served:?}");
}
