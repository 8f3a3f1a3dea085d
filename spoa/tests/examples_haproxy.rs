//! The examples in `spoa/examples/` as processes behind a real HAProxy 2.6:
//! `block_list` and `bot_blocker` decide what HAProxy does with a request and
//! stop on SIGTERM with a drain and exit status 0; `rate_limit` holds one limit
//! across two agent processes through a real `redis-server`, and never allows
//! a request when Redis is down.
//!
//! The example binaries are the ones `cargo test` (or
//! `cargo build -p spoa --examples`) builds in `target/<profile>/examples/`;
//! a missing or stale one fails the test with the command that builds it.
//! Nothing binds a guessed port: agents bind `127.0.0.1:0` and print the
//! address, HAProxy's frontend and Redis listen on Unix sockets in their
//! temporary directories. Every wait is bounded; every process dies with its
//! guard. A missing `haproxy` or `redis-server` fails the test.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real processes on the wall clock"
)]

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use spoe_interop::processes::Redis;
use spoe_interop::{ChildGuard, Haproxy, HttpResponse, Signal, http_get_unix};

/// How long a process may take to start (print its address, open its socket).
const START: Duration = Duration::from_secs(20);
/// How long an agent may take to drain and exit after SIGTERM.
const STOP: Duration = Duration::from_secs(10);

// ===== processes =====

/// `target/<profile>/examples/<name>`, next to this test's own binary
/// (`target/<profile>/deps/`); fails if missing or older than its source.
fn example_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test binary");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary in target/<profile>/deps");
    let path = profile_dir.join("examples").join(name);
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = manifest.join(format!("examples/{name}.rs"));
    let built = std::fs::metadata(&path).and_then(|m| m.modified());
    // The example, and the runtime and codec it is built from.
    let written = [source.clone()]
        .into_iter()
        .chain(rust_files(&manifest.join("src")))
        .chain(rust_files(&manifest.join("../spop/src")))
        .filter_map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .max()
        .expect("example source");
    match built {
        Ok(t) if t >= written => path,
        Ok(_) => panic!(
            "{} is older than its sources ({} or spoa/spop): run `cargo build -p spoa --examples` \
             (plain `cargo test` builds it)",
            path.display(),
            source.display()
        ),
        Err(e) => panic!(
            "{}: {e}: run `cargo build -p spoa --examples` (plain `cargo test` builds it)",
            path.display()
        ),
    }
}

/// The `.rs` files directly in `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "rs"))
                .collect()
        })
        .unwrap_or_default()
}

/// The first `n` lines of the file at `path`, polled until `START`; `None`
/// if the child exits first.
fn first_lines(child: &mut ChildGuard, path: &Path, n: usize) -> Option<Vec<String>> {
    let deadline = Instant::now() + START;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<String> = text
            .split_inclusive('\n')
            .filter(|l| l.ends_with('\n'))
            .map(|l| l.trim_end().to_owned())
            .collect();
        if lines.len() >= n {
            return Some(lines);
        }
        if Instant::now() >= deadline || child.try_wait().ok().flatten().is_some() {
            return None;
        }
        // Poll interval of a bounded wait (the child's output has no event to wait on).
        thread::sleep(Duration::from_millis(10));
    }
}

/// Polls `cond` every 10 ms until it holds or `limit` passes.
fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        // Poll interval of a bounded wait, not a barrier.
        thread::sleep(Duration::from_millis(10));
    }
}

/// A running example agent: its address, its metrics' address and its log
/// (stderr).
struct Example {
    child: ChildGuard,
    addr: SocketAddr,
    metrics: SocketAddr,
    stderr: tempfile::NamedTempFile,
}

impl Example {
    /// Starts `name ARGS...` (first argument `127.0.0.1:0`, metrics on a
    /// free port) and waits for its "NAME: listening on ADDR" and "NAME:
    /// metrics on http://ADDR/metrics" lines.
    fn start(name: &str, args: &[&str], rust_log: &str) -> Self {
        let path = example_path(name);
        let stdout = tempfile::NamedTempFile::new().expect("temporary file");
        let stderr = tempfile::NamedTempFile::new().expect("temporary file");
        let mut child = ChildGuard::spawn(
            Command::new(&path)
                .arg("127.0.0.1:0")
                .args(args)
                .env("RUST_LOG", rust_log)
                .env("METRICS_ADDR", "127.0.0.1:0")
                .stdin(Stdio::null())
                .stdout(stdout.reopen().expect("reopen"))
                .stderr(stderr.reopen().expect("reopen")),
        )
        .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", path.display()));
        let log = || std::fs::read_to_string(stderr.path()).unwrap_or_default();
        let lines = first_lines(&mut child, stdout.path(), 2).unwrap_or_else(|| {
            panic!(
                "{name} printed no addresses within {START:?} (exit: {:?}); stderr:\n{}",
                child.try_wait().ok().flatten(),
                log()
            )
        });
        let addr = lines[0]
            .strip_prefix(&format!("{name}: listening on "))
            .and_then(|a| a.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {:?}; stderr:\n{}", lines[0], log()));
        let metrics = lines[1]
            .strip_prefix(&format!("{name}: metrics on http://"))
            .and_then(|a| a.trim().strip_suffix("/metrics")?.parse().ok())
            .unwrap_or_else(|| panic!("unexpected second line {:?}; stderr:\n{}", lines[1], log()));
        Self {
            child,
            addr,
            metrics,
            stderr,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.stderr.path()).unwrap_or_default()
    }

    /// The sum of a metric's samples, scraped from its metrics endpoint.
    fn metric(&self, name: &str, labels: &str) -> f64 {
        let (status, headers, body) =
            spoe_interop::http_get(self.metrics, "/metrics", &[]).expect("GET /metrics");
        assert_eq!(status, 200);
        assert!(
            headers
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("content-type") && v.contains("openmetrics")),
            "{headers:?}"
        );
        spoe_interop::metric_sum(&String::from_utf8_lossy(&body), name, labels)
    }

    /// SIGTERM, then the exit status must be 0 (drained), within `STOP`.
    fn assert_stops_cleanly_on_sigterm(mut self) {
        self.child.signal(Signal::TERM).expect("send SIGTERM");
        let status = self.child.wait_timeout(STOP).expect("wait for the agent");
        let log = self.log();
        let status =
            status.unwrap_or_else(|| panic!("still running {STOP:?} after SIGTERM:\n{log}"));
        assert!(
            status.success(),
            "exit status after SIGTERM: {status} (143 = killed without a drain); stderr:\n{log}"
        );
        assert!(log.contains("SIGTERM: draining"), "stderr:\n{log}");
    }
}

// ===== HAProxy =====

/// haproxy.cfg with a frontend on the Unix socket `fe.sock` (in HAProxy's
/// directory), the SPOE filter of `spoe.conf`, the frontend's `rules`, and
/// backend `agents` with one server per address.
fn haproxy_cfg(rules: &str, agents: &[SocketAddr]) -> String {
    let mut servers = String::new();
    for (i, a) in agents.iter().enumerate() {
        servers.push_str(&format!("    server a{} {a}\n", i + 1));
    }
    format!(
        "\
global
    nbthread 1
    stats socket unix@admin.sock level admin
    log stderr format short local0 warning
defaults
    mode http
    log global
    timeout connect 1s
    timeout client 30s
    timeout server 30s
frontend fe
    bind unix@fe.sock
    filter spoe engine e config spoe.conf
{rules}
backend agents
    mode tcp
    balance roundrobin
{servers}"
    )
}

/// spoe.conf for engine `e`: `agent` with one `message` with `args`.
fn spoe_conf(prefix: &str, message: &str, args: &str) -> String {
    format!(
        "\
[e]
spoe-agent agent
    messages {message}
    option var-prefix {prefix}
    timeout hello 2s
    timeout idle 30s
    timeout processing 500ms
    use-backend agents
    log global
spoe-message {message}
    args {args}
    event on-frontend-http-request
"
    )
}

fn get(haproxy: &Haproxy, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    http_get_unix(&haproxy.dir().join("fe.sock"), path, headers)
        .unwrap_or_else(|e| panic!("GET {path}: {e}\nhaproxy log:\n{}", haproxy.log()))
}

fn header<'a>(resp: &'a HttpResponse, name: &str) -> &'a str {
    resp.1
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map_or("", |(_, v)| v.as_str())
}

/// One admin command on HAProxy's stats socket; returns its answer.
fn admin(haproxy: &Haproxy, command: &str) -> String {
    let mut s = UnixStream::connect(haproxy.dir().join("admin.sock")).expect("stats socket");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(format!("{command}\n").as_bytes())
        .expect("write command");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

// ===== the examples =====

#[test]
fn bot_blocker_denies_bots_behind_haproxy_and_drains_on_sigterm() {
    let agent = Example::start("bot_blocker", &[], "info");
    let haproxy = Haproxy::start_with_files(
        &haproxy_cfg(
            "    http-request deny if { var(txn.bot.bot) -m bool }\n    \
             http-request return status 200 hdr x-bot \"%[var(txn.bot.bot)]\"",
            &[agent.addr],
        ),
        &[(
            "spoe.conf",
            &spoe_conf("bot", "check-ua", "ua=req.hdr(user-agent)"),
        )],
    );
    for (ua, status) in [
        (Some("Googlebot/2.1 (+http://www.google.com/bot.html)"), 403),
        (Some("Mozilla/5.0 (compatible; bingBOT/2.0)"), 403),
        (Some("curl/8.5.0"), 200),
        (None, 200),
    ] {
        let headers: Vec<(&str, &str)> = ua.map(|u| ("User-Agent", u)).into_iter().collect();
        let resp = get(&haproxy, "/", &headers);
        assert_eq!(
            resp.0,
            status,
            "User-Agent {ua:?}; agent log:\n{}",
            agent.log()
        );
        if status == 200 {
            assert_eq!(
                header(&resp, "x-bot"),
                "0",
                "the agent answered, not a miss"
            );
        }
    }
    // Its metrics, served by `Server::serve_metrics`, counted the four verdicts.
    assert_eq!(agent.metric("spoa_messages_total", "outcome=\"ok\""), 4.0);
    agent.assert_stops_cleanly_on_sigterm();
}

#[test]
fn block_list_blocks_behind_haproxy_and_drains_on_sigterm() {
    let agent = Example::start("block_list", &[], "info");
    let haproxy = Haproxy::start_with_files(
        &haproxy_cfg(
            "    http-request deny hdr x-reason \"%[var(txn.block.reason)]\" if { var(txn.block.blocked) -m bool }\n    \
             http-request deny deny_status 503 if { var(txn.block.error) -m found }\n    \
             http-request return status 200 hdr x-blocked \"%[var(txn.block.blocked)]\"",
            &[agent.addr],
        ),
        // A Unix-socket frontend has no `src`: the client address comes from a
        // header, as behind another proxy.
        &[(
            "spoe.conf",
            &spoe_conf(
                "block",
                "check-request",
                "ip=req.hdr_ip(x-client-ip) path=path",
            ),
        )],
    );
    let fine = get(&haproxy, "/", &[("x-client-ip", "10.1.2.3")]);
    assert_eq!(fine.0, 200, "agent log:\n{}", agent.log());
    assert_eq!(header(&fine, "x-blocked"), "0");
    let doc = get(&haproxy, "/", &[("x-client-ip", "192.0.2.1")]);
    assert_eq!(doc.0, 403);
    assert_eq!(header(&doc, "x-reason"), "documentation address");
    let admin_area = get(&haproxy, "/admin/users", &[("x-client-ip", "10.1.2.3")]);
    assert_eq!(admin_area.0, 403);
    assert_eq!(header(&admin_area, "x-reason"), "admin area");
    // No address: the handler's typed lookup fails, the error path answers.
    let no_ip = get(&haproxy, "/", &[]);
    assert_eq!(no_ip.0, 503, "agent log:\n{}", agent.log());
    assert!(
        agent.log().contains(r#"argument \"ip\""#) || agent.log().contains(r#"argument "ip""#),
        "the handler's error is logged through tracing:\n{}",
        agent.log()
    );
    agent.assert_stops_cleanly_on_sigterm();
}

/// Capacity of the shared bucket (no refill during the test: 1 token per
/// 1000 s).
const LIMIT: usize = 4;

#[test]
fn rate_limit_holds_one_limit_across_two_agents_through_redis_and_fails_closed_without_it() {
    let mut redis = Redis::start();
    let url = redis.url();
    let limit = LIMIT.to_string();
    // DEBUG: the runtime logs each engine connection's start and end.
    let a1 = Example::start("rate_limit", &[&url, &limit, "0.001"], "debug");
    let a2 = Example::start("rate_limit", &[&url, &limit, "0.001"], "debug");
    let haproxy = Haproxy::start_with_files(
        &haproxy_cfg(
            "    http-request deny deny_status 429 hdr x-remaining \"%[var(txn.rl.remaining)]\" \
             hdr x-error \"%[var(txn.rl.error)]\" unless { var(txn.rl.allowed) -m bool }\n    \
             http-request return status 200 hdr x-remaining \"%[var(txn.rl.remaining)]\"",
            &[a1.addr, a2.addr],
        ),
        &[(
            "spoe.conf",
            &spoe_conf("rl", "rate-limit", "ip=req.hdr_ip(x-client-ip)"),
        )],
    );
    let client = [("x-client-ip", "203.0.113.9")];
    let logs = || {
        format!(
            "a1:\n{}\na2:\n{}\nhaproxy:\n{}",
            a1.log(),
            a2.log(),
            haproxy.log()
        )
    };

    // Phase 1: only a1 in service; the bucket's LIMIT tokens are spent there.
    admin(&haproxy, "set server agents/a2 state maint");
    for i in 0..LIMIT {
        let resp = get(&haproxy, "/", &client);
        assert_eq!(resp.0, 200, "request {i} through a1; {}", logs());
        assert_eq!(header(&resp, "x-remaining"), (LIMIT - 1 - i).to_string());
    }
    // Phase 2: only a2; a1's connections are cut (and seen closed by a1).
    admin(&haproxy, "set server agents/a2 state ready");
    admin(&haproxy, "set server agents/a1 state maint");
    admin(&haproxy, "shutdown sessions server agents/a1");
    let a1_closed = wait_until(START, || {
        let log = a1.log();
        log.matches("handshake done").count() == log.matches("connection ended").count()
    });
    assert!(a1_closed, "a1 still has an engine connection; {}", logs());
    for i in 0..LIMIT {
        let resp = get(&haproxy, "/", &client);
        assert_eq!(
            resp.0,
            429,
            "request {i} through a2 must find the bucket a1 emptied (a per-process limit would allow {} in total); {}",
            2 * LIMIT,
            logs()
        );
        assert_eq!(
            header(&resp, "x-remaining"),
            "0",
            "a2 answered, from Redis; {}",
            logs()
        );
    }
    assert!(
        a2.log().contains("handshake done"),
        "a2 served the engine; {}",
        logs()
    );
    // Another client has its own bucket.
    let other = get(&haproxy, "/", &[("x-client-ip", "203.0.113.10")]);
    assert_eq!(other.0, 200, "{}", logs());

    // Redis down: the handler fails, and the request is not allowed.
    redis.kill();
    for i in 0..2 {
        let resp = get(&haproxy, "/", &[("x-client-ip", "203.0.113.11")]);
        assert_eq!(
            resp.0,
            429,
            "request {i} with Redis down must be denied; {}",
            logs()
        );
        assert_eq!(header(&resp, "x-remaining"), "", "no decision was made");
        assert_eq!(
            header(&resp, "x-error"),
            spoa::ErrorCause::HandlerError.code().to_string(),
            "txn.rl.error carries the handler-error code; {}",
            logs()
        );
    }
    assert!(
        a2.log().contains("Redis token bucket"),
        "the handler's error (with its cause) is logged through tracing; {}",
        logs()
    );
    a1.assert_stops_cleanly_on_sigterm();
    a2.assert_stops_cleanly_on_sigterm();
}
