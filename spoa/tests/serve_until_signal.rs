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

use bytes::BytesMut;
use rustix::process::{Signal, getpid, kill_process};
use spoa::spop::FrameDecoder;
use spoa::testing::haproxy_hello;
use spoa::{
    Action, Actions, Body, Config, Frame, ListenAddr, Listener, Message, Request, Server, VarScope,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

/// A raw engine over TCP.
struct Tcp {
    io: TcpStream,
    buf: BytesMut,
    decoder: FrameDecoder,
}

impl Tcp {
    async fn connect(addr: SocketAddr) -> Self {
        let mut this = Self {
            io: TcpStream::connect(addr)
                .await
                .expect("connect to the agent"),
            buf: BytesMut::new(),
            decoder: FrameDecoder::new(u32::MAX),
        };
        this.send(&Frame::haproxy_hello(&haproxy_hello())).await;
        let hello = this.recv().await.expect("AGENT-HELLO");
        assert!(matches!(hello.body, Body::AgentHello(_)), "{hello:?}");
        this
    }

    async fn send(&mut self, frame: &Frame) {
        let mut b = BytesMut::new();
        frame.encode(&mut b);
        self.io.write_all(&b).await.expect("write");
    }

    async fn recv(&mut self) -> Option<Frame> {
        timeout(WAIT, async {
            loop {
                if let Some(f) = self.decoder.decode(&mut self.buf).expect("valid frame") {
                    return Some(f);
                }
                if self.io.read_buf(&mut self.buf).await.expect("read") == 0 {
                    return None;
                }
            }
        })
        .await
        .expect("the agent answers in time")
    }
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
    let listener = Listener::bind(&"127.0.0.1:0".parse::<ListenAddr>().unwrap())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let ListenAddr::Tcp(addr) = addr else {
        panic!("TCP listener, got {addr}")
    };
    let mut tasks = JoinSet::new();
    let agent = server.clone();
    tasks.spawn(async move { agent.serve_until_signal(listener).await });
    let mut engine = Tcp::connect(addr).await;
    engine
        .send(&Frame::notify(1, 1, vec![Message::new("m")]))
        .await;
    timeout(WAIT, started.notified())
        .await
        .expect("handler started");
    sigterm();
    wait_until_refused(addr).await;
    // The drain has begun (no more accepts) and waits for the handler:
    // release it only now.
    release.notify_one();
    let ack = engine.recv().await.expect("the in-flight ACK");
    let Body::Ack(actions) = ack.body else {
        panic!("expected the ACK, got {ack:?}")
    };
    assert_eq!(
        Actions::from(actions).var(VarScope::Transaction, "done"),
        Some(&spoa::TypedData::Bool(true))
    );
    let bye = engine.recv().await.expect("AGENT-DISCONNECT");
    assert!(matches!(bye.body, Body::AgentDisconnect(_)), "{bye:?}");
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
    let listener = Listener::bind(&"127.0.0.1:0".parse::<ListenAddr>().unwrap())
        .await
        .unwrap();
    let ListenAddr::Tcp(addr) = listener.local_addr().unwrap() else {
        panic!("TCP listener")
    };
    let agent = server.clone();
    tasks.spawn(async move { agent.serve_until_signal(listener).await });
    let mut engine = Tcp::connect(addr).await;
    engine
        .send(&Frame::notify(1, 1, vec![Message::new("m")]))
        .await;
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
