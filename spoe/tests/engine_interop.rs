//! The engine over real sockets: against our agent runtime (`spoa`), against
//! the third-party PyPI agent `haproxyspoa`, and against raw agents that
//! close mid-message with FIN or RST.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock, and spawn helpers that end with the test"
)]

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use spoa::testing::{Echo, RunningAgent};
use spoa::{Config, Server};
use spoe::{Addr, Engine, EngineSettings, ProcessStatus};
use spoe_interop::{ChildGuard, RefusedPort};
use spop::{
    Action, AgentHello, Body, Capabilities, Frame, HaproxyHello, Message, TypedData, VarScope,
};
use tokio::net::TcpListener;
use tokio::time::Instant;

fn settings(addr: SocketAddr, processing: Duration) -> EngineSettings {
    EngineSettings::new("interop", vec![Addr::Tcp(addr)], processing)
}

/// Our agent runtime serving the echo example on a loopback port.
async fn echo_agent() -> (RunningAgent, SocketAddr) {
    let server = Server::new(Echo, Config::default()).unwrap();
    let agent = RunningAgent::start(&server).await.unwrap();
    let addr = agent.tcp_addr().unwrap();
    (agent, addr)
}

/// Drains `engine` (every agent connection closes), then stops the agent,
/// which must exit cleanly.
async fn stop_after_drain(agent: RunningAgent, engine: &Engine) {
    engine.drain();
    tokio::time::timeout(Duration::from_secs(5), engine.drained())
        .await
        .unwrap();
    agent.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_against_our_agent_under_concurrency() {
    let (agent, addr) = echo_agent().await;
    let engine = Arc::new(Engine::start(settings(addr, Duration::from_secs(5))));
    let tasks: Vec<_> = (0..500i64)
        .map(|i| {
            let engine = engine.clone();
            tokio::spawn(async move {
                let msg = Message::new("check")
                    .arg("id", i)
                    .arg("neg", -i - 5_000_000_000)
                    .arg("ip", std::net::Ipv6Addr::LOCALHOST)
                    .arg("s", format!("value-{i}"))
                    .arg("b", TypedData::binary(vec![i as u8; 3]))
                    .arg("", true);
                (i, engine.process(&[msg]).await)
            })
        })
        .collect();
    for t in tasks {
        let (i, out) = t.await.unwrap();
        assert_eq!(out.status, ProcessStatus::OK, "message {i}");
        let t = VarScope::Transaction;
        assert_eq!(
            out.actions,
            vec![
                Action::set_var(t, "id", i),
                Action::set_var(t, "neg", -i - 5_000_000_000),
                Action::set_var(t, "ip", std::net::Ipv6Addr::LOCALHOST),
                Action::set_var(t, "s", format!("value-{i}")),
                Action::set_var(t, "b", TypedData::binary(vec![i as u8; 3])),
                Action::set_var(t, "arg5", true),
            ]
        );
    }
    // Pipelining: far fewer connections than messages.
    let opened = engine.stats().connections_opened();
    assert!(opened <= 30, "{opened} connections for 500 messages");
    stop_after_drain(agent, &engine).await;
}

/// Few slots, many callers on two threads: messages go straight to free
/// slots or wait in the dispatcher's queue, and every freed slot serves the
/// queue (a lost wake-up would leave a message to time out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn few_slots_many_callers_every_message_is_served() {
    let (agent, addr) = echo_agent().await;
    let mut s = settings(addr, Duration::from_secs(10));
    s.max_connections_per_server = 2;
    s.max_waiting_frames = 2;
    // Callers on both threads hand messages to connections themselves.
    s.direct_handoff = Some(true);
    let engine = Arc::new(Engine::start(s));
    let tasks: Vec<_> = (0..64i64)
        .map(|t| {
            let engine = engine.clone();
            tokio::spawn(async move {
                for n in 0..50i64 {
                    let i = t * 1000 + n;
                    let out = engine.process(&[Message::new("m").arg("id", i)]).await;
                    assert_eq!(out.status, ProcessStatus::OK, "message {i}");
                    assert_eq!(
                        out.actions,
                        vec![Action::set_var(VarScope::Transaction, "id", i)]
                    );
                }
            })
        })
        .collect();
    tokio::time::timeout(Duration::from_secs(60), async {
        for t in tasks {
            t.await.unwrap();
        }
    })
    .await
    .expect("3200 messages within 60 s");
    let opened = engine.stats().connections_opened();
    assert_eq!(opened, 2, "the pool stays within maxconn");
    stop_after_drain(agent, &engine).await;
}

/// A raw agent: completes the handshake, then on the first NOTIFY closes
/// the socket, with a reset when `rst`.
async fn closing_agent(rst: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        sock.set_nodelay(true).unwrap();
        if rst {
            // A zero linger makes the close a reset, which is the point here.
            sock.set_zero_linger().unwrap();
        }
        let (mut rd, mut wr) = spop_io::split(sock, 16380);
        let hello = rd.next().await.unwrap().unwrap();
        let Body::HaproxyHello(kv) = hello.body else {
            panic!()
        };
        let h = HaproxyHello::from_kv(&kv).unwrap();
        wr.send(&Frame::agent_hello(
            &AgentHello::answer(&h, 16380, Capabilities::parse("pipelining")).unwrap(),
        ))
        .await
        .unwrap();
        let _notify = rd.next().await.unwrap().unwrap();
        drop((rd, wr));
    });
    addr
}

#[tokio::test]
async fn agent_closing_mid_message_fails_it_at_once_fin_and_rst() {
    for rst in [false, true] {
        let addr = closing_agent(rst).await;
        let engine = Engine::start(settings(addr, Duration::from_secs(5)));
        let start = Instant::now();
        let out = engine.process(&[Message::new("m").arg("x", 1i64)]).await;
        assert_eq!(out.status, ProcessStatus(257), "rst={rst}");
        // Coarse bound over real sockets: far below the 5 s budget.
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "rst={rst}: {:?}",
            start.elapsed()
        );
    }
}

#[tokio::test]
async fn nothing_listening_fails_fast() {
    let closed = RefusedPort::new();
    let engine = Engine::start(settings(closed.addr(), Duration::from_secs(5)));
    let start = Instant::now();
    let out = engine.process(&[Message::new("m")]).await;
    // HAProxy 2.6's status for an agent it cannot reach (docs/errors.md),
    // recorded at once instead of at the 5 s deadline.
    assert_eq!(out.status, ProcessStatus::TIMEOUT);
    assert!(start.elapsed() < Duration::from_secs(1));
}

/// The PyPI agent `haproxyspoa`, installed by the test command into `.venv`.
fn python() -> String {
    if let Ok(p) = std::env::var("SPOE_TEST_PYTHON") {
        return p;
    }
    let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python");
    assert!(
        std::path::Path::new(venv).exists(),
        "the reference agent haproxyspoa is not installed: run ./test.sh (it creates .venv with `pip install haproxyspoa`)"
    );
    venv.to_owned()
}

const PY_AGENT: &str = r#"
import asyncio, ipaddress, socket
from haproxyspoa.spoa_server import SpoaServer
from haproxyspoa.payloads.ack import AckPayload, ActionVarScope

agent = SpoaServer()

@agent.handler("check-client-ip")
async def check(ip, **kwargs):
    score = sum(ip.packed) % 101 if isinstance(ip, (ipaddress.IPv4Address, ipaddress.IPv6Address)) else -1
    return AckPayload().set_var(ActionVarScope.SESSION, "ip_score", score).set_var(ActionVarScope.TRANSACTION, "name", kwargs.get("name", "?"))

# Port 0: the kernel picks it, and the first line of stdout tells the test.
sock = socket.socket()
sock.bind(("127.0.0.1", 0))
sock.listen(128)
print(sock.getsockname()[1], flush=True)

async def main():
    server = await asyncio.start_server(agent.handle_connection, sock=sock)
    await server.serve_forever()

asyncio.run(main())
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_against_the_pypi_agent_haproxyspoa() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("agent.py");
    std::fs::File::create(&script)
        .unwrap()
        .write_all(PY_AGENT.as_bytes())
        .unwrap();
    let mut agent = ChildGuard::spawn(
        Command::new(python())
            .arg(&script)
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    )
    .unwrap();
    // The port it bound, printed once it listens (EOF, and a failed parse, if it dies first).
    let stdout = agent.take_stdout().expect("piped stdout");
    let read = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).map(|_| line)
    });
    // If it hangs instead, the guard kills it when the test fails, which ends the read.
    let line = tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("haproxyspoa printed no port within 10 s")
        .unwrap()
        .unwrap();
    let port: u16 = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("agent's first line: {line:?}"));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let engine = Arc::new(Engine::start(settings(addr, Duration::from_secs(5))));
    let tasks: Vec<_> = (0..50u8)
        .map(|i| {
            let engine = engine.clone();
            tokio::spawn(async move {
                let ip = std::net::Ipv4Addr::new(10, 0, 0, i);
                let msg = Message::new("check-client-ip")
                    .arg("ip", ip)
                    .arg("name", format!("n{i}"));
                (ip, engine.process(&[msg]).await)
            })
        })
        .collect();
    for t in tasks {
        let (ip, out) = t.await.unwrap();
        assert_eq!(out.status, ProcessStatus::OK);
        let score = ip.octets().iter().map(|&b| i64::from(b)).sum::<i64>() % 101;
        assert_eq!(
            out.actions,
            vec![
                Action::set_var(VarScope::Session, "ip_score", score),
                Action::set_var(
                    VarScope::Transaction,
                    "name",
                    format!("n{}", ip.octets()[3])
                ),
            ]
        );
    }
    engine.drain();
    tokio::time::timeout(Duration::from_secs(5), engine.drained())
        .await
        .unwrap();
}
