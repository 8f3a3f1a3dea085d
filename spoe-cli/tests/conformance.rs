//! `spoe conformance` against our agent and the PyPI reference agent
//! haproxyspoa: every cell of docs/conformance.md's results table is checked,
//! and the case table there is `spoe conformance --list`.

#![allow(
    clippy::disallowed_types,
    reason = "tests wait on real processes on the wall clock"
)]

mod cli_support;

use std::collections::BTreeMap;
use std::time::Duration;

use cli_support::{haproxyspoa_agent, spoe, spoe_agent};
use serde_json::Value;

const DOC: &str = include_str!("../../docs/conformance.md");

/// A whole run's bound: ~50 cases, a few of which wait out their 2 s deadline.
const RUN_LIMIT: Duration = Duration::from_secs(240);

/// The documented outcome of each case for the peer in `column` (2: spoe
/// agent 2.6, 3: spoe agent 3.x, 4: haproxyspoa 2.6, 5: haproxyspoa 3.x).
fn documented(column: usize) -> BTreeMap<String, String> {
    let results = DOC
        .split("## Results")
        .nth(1)
        .expect("docs/conformance.md has a Results section");
    results
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (
                cells[1].trim_matches('`').to_owned(),
                cells[column + 1].to_owned(),
            )
        })
        .collect()
}

/// Runs the kit against `agent` and returns (exit code, case id -> outcome, report).
fn conformance(agent: &str, haproxy: &str) -> (Option<i32>, BTreeMap<String, String>, Value) {
    let out = spoe(
        &[
            "conformance",
            "--agent",
            agent,
            "--haproxy",
            haproxy,
            "--timeout",
            "2s",
            "--budget",
            "2s",
            "--json",
        ],
        RUN_LIMIT,
    );
    let report: Value =
        serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    let outcomes = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (out.status.code(), outcomes, report)
}

fn assert_matches_doc(got: &BTreeMap<String, String>, column: usize, report: &Value) {
    let expected = documented(column);
    assert!(expected.len() >= 25, "{expected:?}");
    for (id, want) in &expected {
        let case = report["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id.as_str());
        assert_eq!(
            got.get(id),
            Some(want),
            "case {id}: docs/conformance.md says {want}; the run saw {case:?}"
        );
    }
    assert_eq!(got.len(), expected.len(), "cases run vs documented");
}

#[test]
fn our_agent_passes_every_required_case_as_haproxy_2_6_and_3x() {
    // A host name, resolved, and port 0, read back.
    let (_agent, addr) = spoe_agent("localhost:0");
    for (haproxy, column) in [("2.6", 2), ("3.x", 3)] {
        let (code, got, report) = conformance(&addr, haproxy);
        assert_eq!(code, Some(0), "{report}");
        assert_eq!(report["passed"], true);
        assert_eq!(report["summary"]["fail"], 0, "{report}");
        assert!(got.len() >= 25);
        assert_matches_doc(&got, column, &report);
    }
}

#[test]
fn our_agent_over_a_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.sock");
    let (_agent, addr) = spoe_agent(&format!("unix:{}", path.display()));
    let (code, got, report) = conformance(&addr, "3.x");
    assert_eq!(code, Some(0), "{report}");
    // Every case runs over the socket; only the reset cannot.
    assert_eq!(got["teardown-reset-after-ack"], "skip", "{report}");
    assert_eq!(got["limits-length-above-64k"], "pass", "{report}");
}

#[test]
fn haproxyspoa_gets_the_documented_verdicts() {
    let (_agent, addr) = haproxyspoa_agent();
    // Both HAProxy generations at once against the one agent.
    let runs: Vec<_> = [("2.6", 4), ("3.x", 5)]
        .into_iter()
        .map(|(haproxy, column)| {
            let addr = addr.clone();
            std::thread::spawn(move || (conformance(&addr, haproxy), column))
        })
        .collect();
    for run in runs {
        let ((code, got, report), column) = run.join().unwrap();
        // It always answers max-frame-size 16380, whatever was offered.
        assert_eq!(got["handshake-frame-size-below"], "fail", "{report}");
        assert_eq!(code, Some(1), "required cases fail: exit 1; {report}");
        assert_eq!(report["passed"], false);
        assert_matches_doc(&got, column, &report);
    }
}

#[test]
fn list_is_the_documented_case_table() {
    let out = spoe(&["conformance", "--list"], Duration::from_secs(30));
    assert!(out.status.success(), "{out:?}");
    let rows: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("| `"))
        .collect();
    assert!(rows.len() >= 25, "{}", out.stdout);
    for row in &rows {
        assert!(DOC.contains(row), "docs/conformance.md lacks the row {row}");
    }
    let groups: std::collections::BTreeSet<&str> = rows
        .iter()
        .map(|r| r.split('|').nth(2).unwrap().trim())
        .collect();
    assert_eq!(
        groups.into_iter().collect::<Vec<_>>(),
        [
            "data",
            "handshake",
            "limits",
            "pipelining",
            "teardown",
            "timing",
            "versions"
        ]
    );
}

#[test]
fn only_one_group_runs_that_group() {
    let (_agent, addr) = spoe_agent("127.0.0.1:0");
    let out = spoe(
        &["conformance", "--agent", &addr, "--only", "teardown"],
        RUN_LIMIT,
    );
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("PASS"))
        .collect();
    assert_eq!(lines.len(), 4, "{}", out.stdout);
    assert!(!out.stdout.contains("WARN  the handler"), "{}", out.stdout);
    assert!(
        lines.iter().all(|l| l.contains("teardown-")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("SPOE.txt 3.2.3, 3.2.8, 3.2.9"),
        "{}",
        out.stdout
    );
}

#[test]
fn nothing_listening_is_one_line_with_the_os_error() {
    // Port 1 (tcpmux) is privileged and unused on a test machine.
    let out = spoe(
        &["conformance", "--agent", "127.0.0.1:1"],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        out.stderr
            .contains("connecting to 127.0.0.1:1: Connection refused"),
        "{}",
        out.stderr
    );
    // Once (issue 24 §6), not once per link of the error chain.
    assert_eq!(
        out.stderr.matches("Connection refused").count(),
        1,
        "{}",
        out.stderr
    );
}

/// An agent whose handler fails every message passes the protocol's cases,
/// and the report says that its verdicts were not delivered (issue 24 §3).
#[test]
fn a_failing_handler_is_warned_about() {
    let (_agent, addr) = cli_support::spawn_reporting(
        std::process::Command::new(cli_support::SPOE)
            .args(["agent", "--listen", "127.0.0.1:0", "--example", "fail"])
            .stderr(std::process::Stdio::null()),
        |l| {
            l.strip_prefix("spoe agent: listening on ")
                .map(str::to_owned)
        },
    );
    let out = spoe(
        &[
            "conformance",
            "--agent",
            &addr,
            "--only",
            "data",
            "--message",
            "check-ua",
        ],
        RUN_LIMIT,
    );
    assert!(out.status.success(), "{out:?}");
    let warn = out
        .stdout
        .lines()
        .find(|l| l.starts_with("WARN  the handler answered"))
        .unwrap_or_else(|| panic!("no warning about the handler:\n{}", out.stdout));
    assert!(
        warn.contains("with the error variable txn.error: ")
            && warn.contains(" x 10 (handler_error)"),
        "{warn}"
    );
    let out = spoe(
        &["conformance", "--agent", &addr, "--only", "data", "--json"],
        RUN_LIMIT,
    );
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    let acks = v["verdicts"]["acks"].as_u64().unwrap();
    assert!(acks > 0, "{v}");
    assert_eq!(
        v["verdicts"]["with_error_var"]["10"].as_u64(),
        Some(acks),
        "{v}"
    );
    assert!(
        out.stderr.contains("warning: the handler answered"),
        "{}",
        out.stderr
    );
}
