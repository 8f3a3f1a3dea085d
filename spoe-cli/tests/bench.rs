//! `spoe bench` against `spoe agent`: counts, percentiles and errors.

mod cli_support;

use std::process::Command;

use serde_json::Value;

use cli_support::{ChildGuard, SPOE, spoe_agent_on};

/// `spoe agent --example echo EXTRA...` on a port of its own; its address.
fn agent(extra: &[&str]) -> (ChildGuard, String) {
    spoe_agent_on("127.0.0.1:0", &[&["--example", "echo"], extra].concat())
}

fn bench(args: &[&str]) -> Value {
    let out = Command::new(SPOE).arg("bench").args(args).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_fixed_number_of_pipelined_messages() {
    let (_agent, addr) = agent(&[]);
    let v = bench(&[
        "--agent",
        &addr,
        "-c",
        "2",
        "-k",
        "8",
        "-n",
        "500",
        "--json",
        "check",
        "ip=ipv4:10.0.0.1",
        "p=str:/",
    ]);
    assert_eq!(v["messages"], 500);
    assert_eq!(v["errors"], serde_json::json!({}));
    assert_eq!(v["connections"], 2);
    let l = &v["latency_us"];
    let (p50, p99, max) = (
        l["p50"].as_u64().unwrap(),
        l["p99"].as_u64().unwrap(),
        l["max"].as_u64().unwrap(),
    );
    assert!(p50 > 0 && p50 <= p99 && p99 <= max, "{l}");
    assert!(v["msgs_per_sec"].as_f64().unwrap() > 0.0);
    assert_eq!(v["mode"], "closed-loop");
}

#[test]
fn constant_rate_and_timeouts_are_counted_as_errors() {
    let (_agent, addr) = agent(&["--delay", "300ms"]);
    let v = bench(&[
        "--agent",
        &addr,
        "--rate",
        "100",
        "-d",
        "500ms",
        "--timeout",
        "100ms",
        "--max-failures",
        "100",
        "--json",
        "check",
    ]);
    assert_eq!(v["mode"], "rate");
    assert_eq!(v["messages"], 0);
    // Correctness, not pacing (how many fit in 0.5 s depends on the machine): every message
    // sent timed out and was counted as status 1, and nothing else happened.
    let timeouts = v["errors"]["1"].as_u64().unwrap();
    assert!(timeouts > 0, "no message was sent: {v}");
    assert_eq!(
        v["errors"].as_object().unwrap().len(),
        1,
        "errors other than timeouts: {v}"
    );
}

#[test]
fn the_text_summary() {
    let (_agent, addr) = agent(&[]);
    let out = Command::new(SPOE)
        .args(["bench", "--agent", &addr, "-n", "100", "check"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let line = |key: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(key))
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(
        line("messages").split_whitespace().nth(1),
        Some("100"),
        "{text}"
    );
    assert_eq!(
        line("errors").split_whitespace().collect::<Vec<_>>(),
        ["errors", "none"],
        "{text}"
    );
    assert_eq!(
        line("connections")
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>(),
        ["connections", "1", "established,"],
        "{text}"
    );
}

/// `spoe bench` on an agent whose handler fails every message (issue 24 §3):
/// each ACK carries the error variable, and each is a failure, by code.
#[test]
fn acks_with_the_error_variable_are_failures_by_code() {
    let (_agent, addr) = spoe_agent_on("127.0.0.1:0", &["--example", "fail"]);
    let out = Command::new(SPOE)
        .args(["bench", "--agent", &addr, "-n", "40", "--json", "check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["messages"], 0, "{v}");
    assert_eq!(v["failed"], 40, "{v}");
    assert_eq!(v["agent_errors"], serde_json::json!({"10": 40}), "{v}");
    assert_eq!(v["errors"], serde_json::json!({}), "{v}");
    assert_eq!(v["error_var"], "txn.error", "{v}");
    // Reachable: no connection problem to diagnose.
    assert!(v.get("cause").is_none(), "{v}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "above --max-failures 1 %: 40 x error variable txn.error = 10 (handler_error)"
        ),
        "{stderr}"
    );

    // Past the threshold it is reported, exit 0; the text names the code.
    let out = Command::new(SPOE)
        .args([
            "bench",
            "--agent",
            &addr,
            "-n",
            "10",
            "--max-failures",
            "100",
            "check",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("errors       10 x error variable txn.error = 10 (handler_error)"),
        "{text}"
    );
    assert!(
        text.contains("failed       10 of 10 messages (100.00 %)"),
        "{text}"
    );

    // Another variable: these ACKs are successes.
    let v = bench(&[
        "--agent",
        &addr,
        "-n",
        "10",
        "--error-var",
        "txn.other",
        "--json",
        "check",
    ]);
    assert_eq!(v["messages"], 10, "{v}");
}
