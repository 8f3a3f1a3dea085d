//! What the tests of the example servers share (`tests/agents.rs` here and
//! `examples/pingora/tests/agents.rs`): the agents they run and the `spoe.conf` each agent
//! needs.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real processes on the wall clock"
)]
// Each test file uses a part of this module.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use spoe_interop::processes::{Redis, Reporting, reference_python, workspace_binary};
use spoe_interop::{http_get, metric_sum};

/// `spoe agent --example echo` (with `--metrics`, and `extra` options): its address and
/// its metrics' address.
pub(crate) fn spoe_agent(extra: &[&str]) -> (Reporting, SocketAddr) {
    let spoe = workspace_binary("spoe", false, "cargo build -p spoe-cli");
    let agent = Reporting::start(
        Command::new(spoe)
            .args(["agent", "--listen", "127.0.0.1:0", "--example", "echo"])
            .args(["--metrics", "127.0.0.1:0"])
            .args(extra)
            .stdin(Stdio::null())
            .stderr(Stdio::null()),
        |l| {
            l.strip_prefix("spoe agent: listening on ")
                .map(str::to_owned)
        },
    );
    let metrics = agent
        .wait_line(Duration::from_secs(10), |l| {
            l.contains("metrics on http://")
        })
        .and_then(|l| {
            let a = l.split("http://").nth(1)?.trim_end_matches("/metrics");
            a.parse().ok()
        })
        .expect("spoe agent prints its metrics address");
    (agent, metrics)
}

/// For `spoe agent --example echo`: `check-ua` sends `bot=true` for a bot's User-Agent only
/// (the echo answers `txn.bot.bot`), `hello` sends `gen`, and `bot=true` for everyone when
/// `deny_all`.
pub(crate) fn echo_conf(processing: &str, generation: &str, deny_all: bool) -> String {
    let all = if deny_all { " bot=bool(1)" } else { "" };
    format!(
        "\
[bot]
spoe-agent bot-agent
    messages check-ua hello
    option var-prefix bot
    option set-on-error error
    register-var-names gen
    timeout hello 2s
    timeout idle 30s
    timeout processing {processing}
    use-backend agents
spoe-message check-ua
    args bot=bool(1)
    event on-frontend-http-request if {{ req.hdr(user-agent) -m sub -i bot }}
spoe-message hello
    args gen=str({generation}){all}
    event on-frontend-http-request
"
    )
}

/// The bot-blocker's `spoe.conf` (spoa's `bot_blocker` example documents it).
pub(crate) const BOT_CONF: &str = "\
[bot]
spoe-agent bot-agent
    messages check-ua
    option var-prefix bot
    option set-on-error error
    timeout hello 2s
    timeout idle 30s
    timeout processing 2s
    use-backend agents
spoe-message check-ua
    args ua=req.hdr(user-agent)
    event on-frontend-http-request
";

/// The rate limiter's (spoa's `rate_limit` example documents it).
pub(crate) const RATE_CONF: &str = "\
[rl]
spoe-agent rl-agent
    messages rate-limit
    option var-prefix rl
    option set-on-error error
    timeout hello 2s
    timeout idle 30s
    timeout processing 2s
    use-backend agents
spoe-message rate-limit
    args ip=src
    event on-frontend-http-request
";

pub(crate) const BOT: &str = "Googlebot/2.1";
pub(crate) const HUMAN: &str = "curl/8.0";

/// The PyPI agent haproxyspoa as the bot-blocker (`tests/haproxyspoa_bot.py`).
pub(crate) fn haproxyspoa_bot() -> Reporting {
    // This module serves examples/ and examples/pingora/ (which includes it by path).
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = ["tests/haproxyspoa_bot.py", "../tests/haproxyspoa_bot.py"]
        .iter()
        .map(|p| manifest.join(p))
        .find(|p| p.exists())
        .expect("examples/tests/haproxyspoa_bot.py");
    // It prints a traceback each time a connection closes: not the test's concern.
    Reporting::start(
        Command::new(reference_python())
            .arg(script)
            .stdin(Stdio::null())
            .stderr(Stdio::null()),
        |l| l.strip_prefix("listening on ").map(str::to_owned),
    )
}

/// spoa's Redis-backed `rate_limit` example (capacity 2, almost no refill) on `redis`.
pub(crate) fn rate_limit_agent(redis: &Redis) -> Reporting {
    let rate_limit = workspace_binary("rate_limit", true, "cargo build -p spoa --examples");
    Reporting::start(
        Command::new(rate_limit)
            .args(["127.0.0.1:0", &redis.url(), "2", "0.001"])
            // Its metrics listener too on a port of the system's choosing: tests run at once.
            .env("METRICS_ADDR", "127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stderr(Stdio::inherit()),
        |l| {
            l.strip_prefix("rate_limit: listening on ")
                .map(str::to_owned)
        },
    )
}

/// Waits until the agent whose metrics are at `metrics` handles `n` messages at once.
pub(crate) fn wait_in_flight(metrics: SocketAddr, n: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text =
            http_get(metrics, "/metrics", &[]).map(|r| String::from_utf8_lossy(&r.2).into_owned());
        if text.is_ok_and(|t| metric_sum(&t, "spoa_in_flight", "") >= f64::from(n)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the requests never reached the agent"
        );
        // Poll interval of a bounded wait on the agent's in-flight gauge.
        thread::sleep(Duration::from_millis(5));
    }
}
