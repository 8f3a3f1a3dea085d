//! The example servers (`axum_server`, `hyper_server`, `tonic_server`) as processes, each
//! against real agents: `spoe agent --example echo`, the PyPI agent `haproxyspoa` (the
//! bot-blocker in `haproxyspoa_bot.py`), and the Redis-backed `rate_limit` agent of
//! `spoa/examples` with a real `redis-server`. Each shows the verdict applied, the deadline
//! held with a silent agent, the failure variable set with a dead agent, and nothing stalled
//! by a reload.
//!
//! The gRPC server is called with tonic's health client; its answers are mapped to the HTTP
//! statuses the other servers give (OK 200, PERMISSION_DENIED 403, RESOURCE_EXHAUSTED 429,
//! UNAVAILABLE 503). `spoe` and `rate_limit` are the binaries `cargo test --workspace`
//! builds; a missing one fails the test with the command that builds it, as a missing
//! `redis-server` or `.venv` does.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real processes on the wall clock, and run clients on threads that end with the test"
)]

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use spoe_interop::processes::{Redis, Reporting, SilentAgent};
use spoe_interop::{RefusedPort, Signal, http_get};
use support::{
    BOT, BOT_CONF, HUMAN, RATE_CONF, echo_conf, haproxyspoa_bot, rate_limit_agent, spoe_agent,
    wait_in_flight,
};

mod support;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Axum,
    Hyper,
    Tonic,
}

impl Kind {
    fn binary(self) -> &'static str {
        match self {
            Self::Axum => env!("CARGO_BIN_EXE_axum_server"),
            Self::Hyper => env!("CARGO_BIN_EXE_hyper_server"),
            Self::Tonic => env!("CARGO_BIN_EXE_tonic_server"),
        }
    }
}

/// What a server answered: an HTTP status (gRPC codes mapped), and the headers (HTTP only).
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An example server process.
struct Server {
    proc: Reporting,
    addr: SocketAddr,
    kind: Kind,
    runtime: tokio::runtime::Runtime,
    _conf: tempfile::TempDir,
}

impl Server {
    /// Starts the `kind` server on `spoe_conf` (engine `bot` unless `args` says otherwise)
    /// with `agent`.
    fn start(kind: Kind, agent: &str, spoe_conf: &str, args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let conf = dir.path().join("spoe.conf");
        std::fs::write(&conf, spoe_conf).expect("write spoe.conf");
        let proc = Reporting::start(
            Command::new(kind.binary())
                .arg("127.0.0.1:0")
                .arg(agent)
                .arg(&conf)
                .args(args)
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                .stderr(Stdio::inherit()),
            |l| l.strip_prefix("listening on ").map(str::to_owned),
        );
        let addr = proc.found.parse().expect("an address");
        Self {
            proc,
            addr,
            kind,
            runtime: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("a runtime"),
            _conf: dir,
        }
    }

    fn conf(&self) -> std::path::PathBuf {
        self._conf.path().join("spoe.conf")
    }

    /// One request (one gRPC health check) with this User-Agent.
    fn call(&self, ua: &str) -> Answer {
        match self.kind {
            Kind::Axum | Kind::Hyper => {
                let (status, headers, _) = http_get(self.addr, "/", &[("User-Agent", ua)])
                    .unwrap_or_else(|e| panic!("GET http://{}/: {e}", self.addr));
                Answer { status, headers }
            }
            Kind::Tonic => {
                let status = self.runtime.block_on(grpc_check(self.addr, ua));
                Answer {
                    status,
                    headers: Vec::new(),
                }
            }
        }
    }

    /// Rewrites `spoe.conf`, sends SIGHUP, and waits for `generation N`.
    fn reload(&self, spoe_conf: &str, generation: u64) {
        std::fs::write(self.conf(), spoe_conf).expect("write spoe.conf");
        self.proc.child.signal(Signal::HUP).expect("SIGHUP");
        let line = self
            .proc
            .wait_line(Duration::from_secs(10), |l| {
                l.starts_with("generation ") || l.starts_with("reload refused")
            })
            .expect("the server printed nothing after SIGHUP");
        assert_eq!(line, format!("generation {generation}"));
    }
}

/// A gRPC health check through tonic, its status as HTTP's.
async fn grpc_check(addr: SocketAddr, ua: &str) -> u16 {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .user_agent(ua)
        .expect("user agent")
        .timeout(Duration::from_secs(5));
    let channel = endpoint
        .connect()
        .await
        .expect("connect to the gRPC server");
    let answer = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await;
    match answer {
        Ok(_) => 200,
        Err(s) => match s.code() {
            tonic::Code::PermissionDenied => 403,
            tonic::Code::ResourceExhausted => 429,
            tonic::Code::Unavailable => 503,
            other => panic!("unexpected gRPC status {other:?}: {s}"),
        },
    }
}

/// The verdict of `spoe agent`'s echo, and a reload with requests in flight: they finish on
/// the old `spoe.conf`, new requests use the new one, none fails.
fn echo_agent_and_reload(kind: Kind) {
    let (agent, metrics) = spoe_agent(&["--delay", "300ms"]);
    let server = Server::start(
        kind,
        &agent.found,
        &echo_conf("2s", "one", false),
        &["--engine", "bot", "--deny-if", "txn.bot.bot"],
    );
    assert_eq!(server.call(BOT).status, 403, "{kind:?}: a bot is denied");
    let human = server.call(HUMAN);
    assert_eq!(human.status, 200, "{kind:?}: a human passes");
    if kind != Kind::Tonic {
        assert_eq!(human.header("x-var-txn.bot.gen"), Some("one"), "{human:?}");
        assert_eq!(human.header("x-var-txn.bot.bot"), None, "{human:?}");
    }

    // Requests in flight (the agent holds each answer 300 ms) across a reload.
    let in_flight = 3;
    let answers = thread::scope(|s| {
        let calls: Vec<_> = (0..in_flight)
            .map(|_| s.spawn(|| server.call(HUMAN)))
            .collect();
        wait_in_flight(metrics, in_flight);
        server.reload(&echo_conf("2s", "two", true), 1);
        calls
            .into_iter()
            .map(|c| c.join().expect("client thread"))
            .collect::<Vec<_>>()
    });
    for a in &answers {
        assert_eq!(
            a.status, 200,
            "{kind:?}: a request in flight during the reload: {a:?}"
        );
        if kind != Kind::Tonic {
            assert_eq!(a.header("x-var-txn.bot.gen"), Some("one"), "{a:?}");
        }
    }
    // The new spoe.conf denies everyone.
    assert_eq!(server.call(HUMAN).status, 403, "{kind:?}: after the reload");
    // An invalid spoe.conf keeps the running one.
    std::fs::write(server.conf(), "spoe-agent broken\n    nonsense\n").expect("write");
    server.proc.child.signal(Signal::HUP).expect("SIGHUP");
    let refused = server
        .proc
        .wait_line(Duration::from_secs(10), |l| l.starts_with("reload refused"));
    assert!(refused.is_some(), "an invalid spoe.conf is refused");
    assert_eq!(
        server.call(HUMAN).status,
        403,
        "{kind:?}: the last good generation runs"
    );
}

/// The PyPI agent haproxyspoa, as the bot-blocker.
fn haproxyspoa_agent(kind: Kind) {
    let agent = haproxyspoa_bot();
    let server = Server::start(
        kind,
        &agent.found,
        BOT_CONF,
        &["--engine", "bot", "--deny-if", "txn.bot.bot"],
    );
    assert_eq!(
        server.call(BOT).status,
        403,
        "{kind:?}: haproxyspoa says bot"
    );
    let human = server.call(HUMAN);
    assert_eq!(human.status, 200, "{kind:?}: haproxyspoa says human");
    if kind != Kind::Tonic {
        assert!(
            matches!(human.header("x-var-txn.bot.bot"), Some("0" | "false")),
            "the agent's variable reaches the handler: {human:?}"
        );
    }
}

/// The Redis-backed rate limiter: two requests, then 429 (the limit lives in Redis).
fn redis_rate_limit_agent(kind: Kind) {
    let redis = Redis::start();
    let agent = rate_limit_agent(&redis);
    let server = Server::start(
        kind,
        &agent.found,
        RATE_CONF,
        &["--engine", "rl", "--deny-unless", "txn.rl.allowed"],
    );
    assert_eq!(server.call(HUMAN).status, 200, "{kind:?}: first token");
    assert_eq!(server.call(HUMAN).status, 200, "{kind:?}: second token");
    assert_eq!(server.call(HUMAN).status, 429, "{kind:?}: over the limit");
}

/// A silent agent: the message times out at `timeout processing` and the request goes on
/// (fail open) with `txn.bot.error` = 1; a dead agent: the error variable holds the
/// connection's failure, and a fail-closed server answers 503.
fn silent_and_dead_agents(kind: Kind) {
    let silent = SilentAgent::start().expect("a silent agent");
    let conf = echo_conf("300ms", "one", false);
    let silent_addr = silent.addr().to_string();
    if kind == Kind::Tonic {
        // The gRPC status says whether the error variable was set.
        let server = Server::start(
            kind,
            &silent_addr,
            &conf,
            &["--engine", "bot", "--deny-if", "txn.bot.error"],
        );
        assert_eq!(
            server.call(HUMAN).status,
            403,
            "the timeout set txn.bot.error"
        );
    } else {
        let server = Server::start(kind, &silent_addr, &conf, &["--engine", "bot"]);
        let started = Instant::now();
        let a = server.call(HUMAN);
        assert_eq!(a.status, 200, "fail open: {a:?}");
        assert_eq!(
            a.header("x-var-txn.bot.error"),
            Some("1"),
            "status 1 is a processing timeout: {a:?}"
        );
        assert_eq!(a.header("x-spoe-failure"), Some("1"), "{a:?}");
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "the answer waited for the deadline"
        );
    }
    assert!(silent.connections() >= 1, "the agent was reached");

    let dead = RefusedPort::new();
    let dead_addr = dead.addr().to_string();
    let server = Server::start(
        kind,
        &dead_addr,
        &conf,
        &["--engine", "bot", "--deny-if", "txn.bot.error"],
    );
    assert_eq!(
        server.call(HUMAN).status,
        403,
        "{kind:?}: the dead agent set txn.bot.error"
    );
    let closed = Server::start(
        kind,
        &dead_addr,
        &conf,
        &["--engine", "bot", "--fail-closed"],
    );
    assert_eq!(closed.call(HUMAN).status, 503, "{kind:?}: fail closed");
}

fn every_scenario(kind: Kind) {
    echo_agent_and_reload(kind);
    haproxyspoa_agent(kind);
    redis_rate_limit_agent(kind);
    silent_and_dead_agents(kind);
}

#[test]
fn axum_server_with_real_agents() {
    every_scenario(Kind::Axum);
}

#[test]
fn hyper_server_with_real_agents() {
    every_scenario(Kind::Hyper);
}

#[test]
fn tonic_server_with_real_agents() {
    every_scenario(Kind::Tonic);
}
