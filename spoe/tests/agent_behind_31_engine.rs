//! The agent runtime (`spoa`) behind this crate's engine, which behaves as HAProxy 3.1+ (HELLO
//! with `pipelining` only, FIN on every frame, no fragments, at most `max-waiting-frames` = 20
//! streams per connection, idle connections closed by the engine). HAProxy 3.x itself cannot be
//! installed here; these are the agent-side promises of issue 12 seen through a 3.1+-like peer:
//! pipelined streams all answered, a failing handler's verdict arriving as the error variable
//! (never an empty success), and the engine's idle close counted as a normal end and not logged
//! as a problem.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets on the wall clock, and spawn helpers that end with the test"
)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use spoa::testing::RunningAgent;
use spoa::{Actions, Config, HandlerError, Request, Server};
use spoe::{Addr, Engine, EngineSettings, ProcessStatus};
use spop::{Action, Message, TypedData, VarScope};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

/// Log lines of the runtime's worker threads.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Per engine connection (the engine's address), the handlers running now and the most seen.
#[derive(Default)]
struct InFlight(Mutex<HashMap<SocketAddr, (usize, usize)>>);

impl InFlight {
    fn enter(&self, peer: SocketAddr) {
        let mut m = self.0.lock().unwrap();
        let e = m.entry(peer).or_default();
        e.0 += 1;
        e.1 = e.1.max(e.0);
    }
    fn leave(&self, peer: SocketAddr) {
        self.0.lock().unwrap().get_mut(&peer).unwrap().0 -= 1;
    }
    fn max_per_connection(&self) -> usize {
        self.0
            .lock()
            .unwrap()
            .values()
            .map(|e| e.1)
            .max()
            .unwrap_or(0)
    }
}

#[test]
fn an_agent_behind_a_31_like_engine() {
    let logs = Captured::default();
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer({
                let logs = logs.clone();
                move || logs.clone()
            })
            .finish(),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || {
            // Kept for the thread's life.
            std::mem::forget(tracing::dispatcher::set_default(&dispatch));
        })
        .build()
        .unwrap();
    let in_flight = Arc::new(InFlight::default());
    let handler = {
        let in_flight = in_flight.clone();
        move |req: Request| {
            let in_flight = in_flight.clone();
            async move {
                let peer = req.peer.expect("TCP");
                in_flight.enter(peer);
                // Long enough for the engine to pipeline the other streams.
                tokio::time::sleep(Duration::from_millis(50)).await;
                in_flight.leave(peer);
                match req.messages[0].get("id").and_then(TypedData::as_i64) {
                    Some(0) => Err::<Actions, HandlerError>("no verdict for 0".into()),
                    _ => Ok(spoa::testing::Echo::actions(&req)),
                }
            }
        }
    };
    rt.block_on(async {
        let server = Server::new(handler, Config::default()).unwrap();
        let agent = RunningAgent::start(&server).await.unwrap();
        let addr = agent.tcp_addr().unwrap();

        let mut settings =
            EngineSettings::new("a31", vec![Addr::Tcp(addr)], Duration::from_secs(5));
        settings.timeout_idle = Duration::from_millis(300);
        let engine = Arc::new(Engine::start(settings));
        let tasks: Vec<_> = (0..100i64)
            .map(|i| {
                let engine = engine.clone();
                tokio::spawn(
                    async move { (i, engine.process(&[Message::new("m").arg("id", i)]).await) },
                )
            })
            .collect();
        for t in tasks {
            let (i, out) = t.await.unwrap();
            assert_eq!(out.status, ProcessStatus::OK, "message {i}");
            let want = if i == 0 {
                // The engine applies it like any variable: the stream can test it.
                vec![Action::set_var(VarScope::Transaction, "error", 10i32)]
            } else {
                vec![Action::set_var(VarScope::Transaction, "id", i)]
            };
            assert_eq!(out.actions, want, "message {i}");
        }
        let max = in_flight.max_per_connection();
        assert!(
            (2..=20).contains(&max),
            "streams in flight on one connection: {max} (pipelined, at most 20)"
        );

        // The engine closes its idle connections: normal ends, each counted.
        let opened = engine.stats().connections_opened() as f64;
        let ends = || {
            spoe_interop::metric_sum(
                &server.metrics().encode_text(),
                "spoa_connection_ends_total",
                "",
            )
        };
        timeout(WAIT, async {
            while ends() < opened {
                // Poll interval of a bounded wait on a metric (no event to wait on).
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{opened} connections, ends counted: {}",
                server.metrics().encode_text()
            )
        });
        let text = server.metrics().encode_text();
        let normal: f64 = ["engine_disconnect", "closed", "reset", "idle_timeout"]
            .iter()
            .map(|end| {
                spoe_interop::metric_sum(
                    &text,
                    "spoa_connection_ends_total",
                    &format!("end=\"{end}\""),
                )
            })
            .sum();
        assert_eq!(normal, opened, "{text}");
        agent.stop().await.unwrap();
    });
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let warnings: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "only the failing handler's line: {warnings:#?}"
    );
    assert!(
        warnings[0].contains("verdict not delivered"),
        "{}",
        warnings[0]
    );
}
