//! The Pingora proxy (`src/main.rs`) as a process in front of an upstream, against the same
//! real agents as the other example servers (`examples/tests/agents.rs`, whose helpers this
//! file includes): `spoe agent --example echo` (the verdict, and a reload with requests in
//! flight), the PyPI agent `haproxyspoa`, the Redis-backed `rate_limit` agent, a silent agent
//! (the deadline) and a dead one (the failure status).
//!
//! `spoe` and `rate_limit` come from the workspace's `target/` (`cargo test --workspace`
//! builds them); `test.sh` runs these tests after the workspace's.

#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use spoe_interop::processes::{Redis, Reporting, SilentAgent};
use spoe_interop::{RefusedPort, Signal, claim_port, http_get};
use support::{
    BOT, BOT_CONF, HUMAN, RATE_CONF, echo_conf, haproxyspoa_bot, rate_limit_agent, spoe_agent,
    wait_in_flight,
};

#[path = "../../tests/support/mod.rs"]
mod support;

/// The upstream: answers `ok` to every request (HTTP/1.1, one request per connection).
fn upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind upstream");
    let addr = listener.local_addr().expect("upstream address");
    // Lives as long as the test process; each connection is short.
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { break };
            thread::spawn(move || {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let (mut buf, mut chunk) = (Vec::new(), [0u8; 4096]);
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: close\r\n\r\nok\n",
                );
            });
        }
    });
    addr
}

/// The proxy process, on a claimed port (Pingora cannot listen on port 0 and report it).
struct Proxy {
    proc: Reporting,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Proxy {
    fn start(agent: &str, spoe_conf: &str, engine: &str, rule: &str) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let conf = dir.path().join("spoe.conf");
        std::fs::write(&conf, spoe_conf).expect("write spoe.conf");
        let up = upstream();
        let (proc, port) = claim_port(|port| {
            let proc = Reporting::start(
                Command::new(env!("CARGO_BIN_EXE_spoe-pingora-example"))
                    .arg(format!("127.0.0.1:{port}"))
                    .arg(up.to_string())
                    .arg(agent)
                    .arg(&conf)
                    .args([engine, rule])
                    .stdin(Stdio::null())
                    .stderr(Stdio::null()),
                |l| l.strip_prefix("listening on ").map(str::to_owned),
            );
            // It printed before binding: wait for the port, or see it die (taken).
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut proc = proc;
            loop {
                if std::net::TcpStream::connect(addr).is_ok() {
                    return Ok(proc);
                }
                if proc.child.try_wait().ok().flatten().is_some() || Instant::now() >= deadline {
                    return Err(spoe_interop::PortTaken);
                }
                // Poll interval of a bounded wait on the proxy's listener.
                thread::sleep(Duration::from_millis(10));
            }
        });
        Self {
            proc,
            addr: format!("127.0.0.1:{port}").parse().expect("address"),
            dir,
        }
    }

    fn call(&self, ua: &str) -> (u16, Vec<(String, String)>) {
        let (status, headers, _) = http_get(self.addr, "/", &[("User-Agent", ua)])
            .unwrap_or_else(|e| panic!("GET http://{}/: {e}", self.addr));
        (status, headers)
    }

    fn reload(&self, spoe_conf: &str, generation: u64) {
        std::fs::write(self.dir.path().join("spoe.conf"), spoe_conf).expect("write spoe.conf");
        self.proc.child.signal(Signal::HUP).expect("SIGHUP");
        let line = self
            .proc
            .wait_line(Duration::from_secs(10), |l| {
                l.starts_with("generation ") || l.starts_with("reload refused")
            })
            .expect("the proxy printed nothing after SIGHUP");
        assert_eq!(line, format!("generation {generation}"));
    }
}

fn failure(headers: &[(String, String)]) -> Option<&str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-spoe-failure"))
        .map(|(_, v)| v.as_str())
}

#[test]
fn pingora_proxy_with_real_agents() {
    // spoe agent: the verdict, then a reload with requests in flight.
    let (agent, metrics) = spoe_agent(&["--delay", "300ms"]);
    let proxy = Proxy::start(&agent.found, &echo_conf("2s", "one", false), "bot", "deny-if:txn.bot.bot");
    assert_eq!(proxy.call(BOT).0, 403, "a bot is denied");
    assert_eq!(proxy.call(HUMAN).0, 200, "a human passes");
    let answers = thread::scope(|s| {
        let calls: Vec<_> = (0..3).map(|_| s.spawn(|| proxy.call(HUMAN))).collect();
        wait_in_flight(metrics, 3);
        proxy.reload(&echo_conf("2s", "two", true), 1);
        calls
            .into_iter()
            .map(|c| c.join().expect("client"))
            .collect::<Vec<_>>()
    });
    for (status, _) in &answers {
        assert_eq!(*status, 200, "a request in flight during the reload");
    }
    assert_eq!(proxy.call(HUMAN).0, 403, "the new spoe.conf denies everyone");

    // haproxyspoa as the bot-blocker.
    let agent = haproxyspoa_bot();
    let proxy = Proxy::start(&agent.found, BOT_CONF, "bot", "deny-if:txn.bot.bot");
    assert_eq!(proxy.call(BOT).0, 403);
    assert_eq!(proxy.call(HUMAN).0, 200);

    // The Redis-backed rate limiter.
    let redis = Redis::start();
    let agent = rate_limit_agent(&redis);
    let proxy = Proxy::start(&agent.found, RATE_CONF, "rl", "deny-unless:txn.rl.allowed");
    assert_eq!(proxy.call(HUMAN).0, 200);
    assert_eq!(proxy.call(HUMAN).0, 200);
    assert_eq!(proxy.call(HUMAN).0, 429, "over the limit");

    // A silent agent: the deadline (status 1, fail open); a dead one: 1 too, as HAProxy 2.6
    // records an agent it cannot reach (docs/errors.md).
    let silent = SilentAgent::start().expect("silent agent");
    let proxy = Proxy::start(&silent.addr().to_string(), &echo_conf("300ms", "one", false), "bot", "deny-if:txn.bot.bot");
    let (status, headers) = proxy.call(HUMAN);
    assert_eq!((status, failure(&headers)), (200, Some("1")));
    let dead = RefusedPort::new();
    let proxy = Proxy::start(&dead.addr().to_string(), &echo_conf("300ms", "one", false), "bot", "deny-if:txn.bot.bot");
    let (status, headers) = proxy.call(HUMAN);
    assert_eq!((status, failure(&headers)), (200, Some("1")));
}
