//! `spoe gateway --quickstart` (the README's first command) and `spoe check -f`.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock, and spawn helpers that end with the test"
)]

mod gateway_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gateway_support::{ChildGuard, SPOE, Signal, claim_port, local};

#[test]
fn the_quickstart_serves_the_ip_score_and_stops_cleanly_on_sigterm() {
    // The quickstart's port is given on the command line: claimed by its own bind, retried
    // when taken.
    let ((mut child, out, err), port) = claim_port(|port| {
        let listen = local(port);
        let out = tempfile::NamedTempFile::new().unwrap();
        let err = tempfile::NamedTempFile::new().unwrap();
        let mut child = ChildGuard::spawn(
            Command::new(SPOE)
                .args(["gateway", "--quickstart", "--listen", &listen.to_string()])
                .env("RUST_LOG", "info")
                .stdin(Stdio::null())
                .stdout(out.reopen().unwrap())
                .stderr(err.reopen().unwrap()),
        )
        .unwrap();
        gateway_support::wait_listening(&mut child, listen, err.path())?;
        Ok((child, out, err))
    });
    let listen = local(port);
    let stdout = || std::fs::read_to_string(out.path()).unwrap_or_default();
    let stderr = || std::fs::read_to_string(err.path()).unwrap_or_default();
    let curl = format!("curl -i http://{listen}/hello");
    assert!(
        stdout().contains(&curl),
        "no `{curl}` line on stdout:\n{}\nstderr:\n{}",
        stdout(),
        stderr()
    );

    let r = gateway_support::get(listen, "/hello", &[]).unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    let body = String::from_utf8_lossy(&r.body);
    let score: i32 = body
        .lines()
        .find_map(|l| l.strip_prefix("x-ip-score: "))
        .unwrap_or_else(|| panic!("no x-ip-score line in the demo backend's body:\n{body}"))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("x-ip-score is not a number ({e}):\n{body}"));
    assert!((0..=100).contains(&score), "{score}");
    assert_eq!(
        score, 84,
        "the embedded ip-reputation agent's score of 127.0.0.1 (pinned by the demo's unit test)"
    );

    child.signal(Signal::TERM).unwrap();
    let t = Instant::now();
    let status = child
        .wait_timeout(Duration::from_secs(5))
        .unwrap()
        .unwrap_or_else(|| panic!("still running 5 s after SIGTERM:\n{}", stderr()));
    assert!(status.success(), "{status:?}\n{}", stderr());
    eprintln!("quickstart stopped {:?} after SIGTERM", t.elapsed());
}

/// Runs `spoe check -f haproxy.cfg` in a directory holding `files`.
fn check(files: &[(&str, &str)]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    for (name, contents) in files {
        std::fs::write(dir.path().join(name), contents).unwrap();
    }
    Command::new(SPOE)
        .args(["check", "-f", "haproxy.cfg"])
        .current_dir(dir.path())
        .output()
        .unwrap()
}

const VALID: &str = "\
defaults
    mode http
    timeout client 30s
    timeout server 30s
    timeout connect 1s
frontend fe
    bind 127.0.0.1:8080
    filter spoe engine e config spoe.conf
    http-request deny if { var(txn.e.score) -m int gt 90 }
    default_backend app
backend app
    server s1 127.0.0.1:9000
backend agents
    mode tcp
    server a 127.0.0.1:12345
";

const SPOE_CONF: &str = "\
[e]
spoe-agent a
    messages m
    option var-prefix e
    timeout hello 2s
    timeout idle 30s
    timeout processing 100ms
    use-backend agents
spoe-message m
    args ip=src
    event on-frontend-http-request
";

#[test]
fn check_accepts_a_valid_file() {
    let out = check(&[("haproxy.cfg", VALID), ("spoe.conf", SPOE_CONF)]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Configuration file is valid"),
        "{out:?}"
    );
}

#[test]
fn check_rejects_an_invalid_file_with_file_line_and_column() {
    let invalid = VALID.replace("timeout client 30s", "timeout client 30x");
    let out = check(&[("haproxy.cfg", &invalid), ("spoe.conf", SPOE_CONF)]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("parsing [haproxy.cfg:3:20]"),
        "want `parsing [haproxy.cfg:3:20]` (the bad value's line and column):\n{stderr}"
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("valid"),
        "{out:?}"
    );

    // An error in the spoe.conf a filter loads names that file.
    let bad_spoe = SPOE_CONF.replace("timeout processing 100ms", "timeout processing soon");
    let out = check(&[("haproxy.cfg", VALID), ("spoe.conf", &bad_spoe)]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("parsing [spoe.conf:7:"), "{stderr}");
}
