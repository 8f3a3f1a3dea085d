//! The command line tells the truth: host names resolve, errors carry their
//! real cause, `spoe bench` fails when messages fail and paces precisely,
//! `spoe gateway` refuses flags it would ignore.

mod cli_support;

use std::time::Duration;

use cli_support::{http_server, spoe, spoe_agent};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(60);

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout:?}"))
}

#[test]
fn host_names_resolve_in_listen_and_agent() {
    let (_agent, addr) = spoe_agent("localhost:0");
    let port = addr
        .strip_prefix("127.0.0.1:")
        .expect("localhost is 127.0.0.1");
    let out = spoe(
        &[
            "notify",
            "--agent",
            &format!("localhost:{port}"),
            "check",
            "a=int:1",
        ],
        LIMIT,
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(json(&out.stdout)["status"], 0);
}

#[test]
fn a_bad_address_says_what_is_expected() {
    let out = spoe(&["notify", "--agent", "localhost", "check"], LIMIT);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stderr.contains("expected HOST:PORT"), "{}", out.stderr);
}

#[test]
fn a_refused_connection_names_the_os_error() {
    // Port 1 (tcpmux) is privileged and unused on a test machine.
    let out = spoe(&["notify", "--agent", "127.0.0.1:1", "check"], LIMIT);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let v = json(&out.stdout);
    // HAProxy 2.6's status for an agent it cannot reach (docs/errors.md).
    assert_eq!(v["status"], 1);
    assert_eq!(
        v["cause"],
        "connecting to 127.0.0.1:1: Connection refused (os error 111)"
    );
    assert!(
        out.stderr.contains("Connection refused (os error 111)"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_missing_socket_names_the_os_error() {
    let dir = tempfile::tempdir().unwrap();
    let agent = format!("unix@{}", dir.path().join("none.sock").display());
    let out = spoe(&["notify", "--agent", &agent, "check"], LIMIT);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        out.stderr
            .contains("No such file or directory (os error 2)"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_http_server_is_named_for_what_it_is() {
    let (_server, addr) = http_server();
    let out = spoe(&["notify", "--agent", &addr, "check"], LIMIT);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let expected = "the peer does not speak SPOP (its first bytes look like HTTP";
    assert!(
        json(&out.stdout)["cause"]
            .as_str()
            .unwrap()
            .contains(expected),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains(expected), "{}", out.stderr);
    let out = spoe(&["conformance", "--agent", &addr], LIMIT);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stderr.contains(expected), "{}", out.stderr);
}

#[test]
fn bench_against_a_dead_agent_fails_counts_apart_and_backs_off() {
    let out = spoe(
        &[
            "bench",
            "--agent",
            "127.0.0.1:1",
            "-d",
            "1s",
            "--json",
            "check",
        ],
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let v = json(&out.stdout);
    assert_eq!(v["messages"], 0, "{v}");
    // No latency for messages that never got an answer.
    assert_eq!(v["latency_us"], Value::Null, "{v}");
    let failed = v["failed"].as_u64().unwrap();
    assert_eq!(v["errors"]["1"].as_u64(), Some(failed), "{v}");
    // The engine's back-off (100 ms, doubling) allows a handful of attempts
    // in a second, not hundreds of thousands.
    assert!((1..=10).contains(&failed), "{v}");
    assert_eq!(
        v["cause"],
        "connecting to 127.0.0.1:1: Connection refused (os error 111)"
    );
    assert!(
        out.stderr.contains("above --max-failures 1 %"),
        "{}",
        out.stderr
    );

    // A threshold of 100 % accepts it: the run is reported, exit 0.
    let out = spoe(
        &[
            "bench",
            "--agent",
            "127.0.0.1:1",
            "-d",
            "300ms",
            "--max-failures",
            "100",
            "check",
        ],
        LIMIT,
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        out.stdout
            .contains("latency      none (no message was answered)"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("failed       "), "{}", out.stdout);
    // Attempts are not connections (issue 24 §6).
    assert!(
        out.stdout.contains("connections  0 established of "),
        "{}",
        out.stdout
    );
}

/// `-d` is the run's length, whatever waits (issue 24 §6): against a peer
/// that never answers a HELLO, messages with a 30 s budget are cut at the
/// end of a 1 s run, reported as unfinished, and the run fails with the
/// diagnosis.
#[test]
fn bench_ends_at_its_duration_against_an_http_server() {
    let (_server, addr) = http_server();
    let out = spoe(
        &[
            "bench",
            "--agent",
            &addr,
            "-d",
            "1s",
            "--timeout",
            "30s",
            "--json",
            "check",
        ],
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let v = json(&out.stdout);
    assert_eq!(v["messages"], 0, "{v}");
    assert!(v["unfinished"].as_u64().unwrap() >= 1, "{v}");
    // The run's own clock: the 1 s asked, not a message's 30 s budget.
    assert!(v["duration_s"].as_f64().unwrap() < 10.0, "{v}");
    assert!(
        v["cause"]
            .as_str()
            .unwrap_or_default()
            .contains("does not speak SPOP"),
        "{v}"
    );
    assert!(
        out.stderr.contains("no message was answered"),
        "{}",
        out.stderr
    );
}

#[test]
fn bench_at_a_rate_reports_the_senders_lateness_apart() {
    let (_agent, addr) = spoe_agent("127.0.0.1:0");
    let out = spoe(
        &[
            "bench", "--agent", &addr, "--rate", "1000", "-n", "300", "--json", "check",
        ],
        LIMIT,
    );
    assert!(out.status.success(), "{out:?}");
    let v = json(&out.stdout);
    assert_eq!(v["mode"], "rate");
    assert_eq!(v["messages"], 300, "{v}");
    assert_eq!(v["failed"], 0, "{v}");
    let (latency, service, late) = (&v["latency_us"], &v["service_us"], &v["sender_lateness_us"]);
    for q in ["p50", "p90", "p99", "max"] {
        let (l, s, t) = (
            latency[q].as_u64().unwrap(),
            service[q].as_u64().unwrap(),
            late[q].as_u64().unwrap(),
        );
        // Per message, latency = lateness + service: so are the quantiles' bounds.
        assert!(
            s <= l && t <= l,
            "{q}: latency {l} service {s} lateness {t}: {v}"
        );
    }
}

#[test]
fn gateway_refuses_listen_with_a_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("haproxy.cfg");
    std::fs::write(
        &cfg,
        "frontend web\n    mode http\n    bind 127.0.0.1:0\n    default_backend app\nbackend app\n    mode http\n    server s1 127.0.0.1:1\n",
    )
    .unwrap();
    let out = spoe(
        &[
            "gateway",
            "-f",
            cfg.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        out.stderr
            .contains("'--config <CONFIG>' cannot be used with '--listen <LISTEN>'"),
        "{}",
        out.stderr
    );
}

#[test]
fn the_readme_decode_example_is_a_whole_frame() {
    let readme = include_str!("../../README.md");
    let hex = readme
        .lines()
        .find_map(|l| l.strip_prefix("spoe decode "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("README shows `spoe decode HEX`");
    let out = spoe(&["decode", hex], LIMIT);
    assert!(out.status.success(), "{out:?}");
    let v = json(&out.stdout);
    assert_eq!(v["type"], "NOTIFY", "{v}");
    assert_eq!(v["messages"][0]["name"], "check", "{v}");
    assert_eq!(v["messages"][0]["args"][0]["value"], "10.0.0.1", "{v}");
}

const CHECK_CFG: &str = "\
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend web
    bind 127.0.0.1:8080
    filter spoe engine e config spoe.conf
    option http-no-delay
    default_backend app
backend app
    server s1 127.0.0.1:9000
backend agents
    mode tcp
    server a1 127.0.0.1:12345
";

const CHECK_SPOE: &str = "\
[e]
spoe-agent a
    messages m
    use-backend agents
    timeout hello 1s
    timeout idle 30s
    timeout processing 500ms
spoe-message m
    args ip=src
    event on-frontend-http-request
";

/// `spoe check` on a haproxy.cfg and spoe.conf pair: (exit code, stderr lines).
fn check(cfg: &str, spoe_conf: &str) -> (Option<i32>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("haproxy.cfg"), cfg).unwrap();
    std::fs::write(dir.path().join("spoe.conf"), spoe_conf).unwrap();
    let cfg = dir.path().join("haproxy.cfg");
    // The spoe.conf path is relative to the working directory, as in HAProxy.
    let out = std::process::Command::new(cli_support::SPOE)
        .args(["check", "-f", cfg.to_str().unwrap()])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let lines = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_owned)
        .collect();
    (out.status.code(), lines)
}

#[test]
fn check_marks_warnings_and_shows_them_beside_errors() {
    // Valid: the warning is marked as one.
    let (code, lines) = check(CHECK_CFG, CHECK_SPOE);
    assert_eq!(code, Some(0), "{lines:#?}");
    let warning = "'option http-no-delay' is accepted and ignored";
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("[WARNING]") && l.contains(warning)),
        "{lines:#?}"
    );
    assert!(
        !lines.iter().any(|l| l.starts_with("[ALERT]")),
        "{lines:#?}"
    );

    // With an error, the warning is still shown, and marked apart from it.
    let broken = CHECK_CFG.replace("timeout client 5s", "timeout client 5x");
    let (code, lines) = check(&broken, CHECK_SPOE);
    assert_eq!(code, Some(1), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("[ALERT]") && l.contains("haproxy.cfg:4:")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("[WARNING]") && l.contains(warning)),
        "{lines:#?}"
    );
    assert!(
        lines
            .last()
            .unwrap()
            .ends_with("Fatal errors found in configuration: 1 error, 1 warning."),
        "{lines:#?}"
    );
}

#[test]
fn check_suggests_the_keyword_a_typo_meant() {
    let cfg = CHECK_CFG.replace("default_backend app", "default_backen app");
    let (code, lines) = check(&cfg, CHECK_SPOE);
    assert_eq!(code, Some(1), "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.contains(
            "unknown keyword 'default_backen' in 'frontend' section; did you mean 'default_backend' maybe ?"
        )),
        "{lines:#?}"
    );
    let spoe_conf = CHECK_SPOE.replace("timeout idle", "timout idle");
    let (code, lines) = check(CHECK_CFG, &spoe_conf);
    assert_eq!(code, Some(1), "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.contains(
            "parsing [spoe.conf:6:5] : unknown keyword 'timout' in spoe-agent section; did you mean 'timeout' maybe ?"
        )),
        "{lines:#?}"
    );
}

/// The `[ALERT]` lines about spoe.conf.
fn spoe_conf_errors(lines: &[String]) -> Vec<&String> {
    lines
        .iter()
        .filter(|l| l.starts_with("[ALERT]") && l.contains("parsing [spoe.conf"))
        .collect()
}

#[test]
fn one_typo_in_spoe_conf_is_one_error() {
    for (typo, expected) in [
        (
            ("spoe-agent a", "spoe-agnet a"),
            "parsing [spoe.conf:2:1] : unknown keyword 'spoe-agnet' out of section; did you mean 'spoe-agent' maybe ?",
        ),
        (
            ("use-backend agents", "use-backned agents"),
            "parsing [spoe.conf:4:5] : unknown keyword 'use-backned' in spoe-agent section; did you mean 'use-backend' maybe ?",
        ),
        (
            ("spoe-message m", "spoe-mesage m"),
            "parsing [spoe.conf:8:1] : unknown keyword 'spoe-mesage' in spoe-agent section; did you mean 'spoe-message' maybe ?",
        ),
    ] {
        let spoe_conf = CHECK_SPOE.replace(typo.0, typo.1);
        let (code, lines) = check(CHECK_CFG, &spoe_conf);
        assert_eq!(code, Some(1), "{lines:#?}");
        let errors = spoe_conf_errors(&lines);
        assert_eq!(errors.len(), 1, "{typo:?}: {lines:#?}");
        assert!(errors[0].ends_with(expected), "{typo:?}: {lines:#?}");
    }
}
