//! `spoe notify` against `spoe agent`, and its failures.

mod cli_support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use spoe_interop::{RefusedPort, Signal};

use cli_support::{ChildGuard, SPOE, spoe_agent_on};

/// `spoe agent --example echo EXTRA...` on a port of its own; its address.
fn agent(extra: &[&str]) -> (ChildGuard, String) {
    spoe_agent_on("127.0.0.1:0", &[&["--example", "echo"], extra].concat())
}

fn notify(args: &[&str]) -> (Output, Value) {
    let out = Command::new(SPOE)
        .arg("notify")
        .args(args)
        .output()
        .unwrap();
    let line = String::from_utf8(out.stdout.clone()).unwrap();
    let json: Value = serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    (out, json)
}

#[test]
fn notify_prints_the_ack_as_decode_shapes_it() {
    let (_agent, addr) = agent(&[]);
    let (out, json) = notify(&[
        "--agent",
        &addr,
        "check",
        "ip=ipv4:10.0.0.1",
        "x=bin:cafe",
        "n=int:-5",
        "big=uint:5000000000",
        "s=str:hello",
        "b=bool:true",
        "v6=ipv6:2001:db8::1",
        "z=null",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(json["status"], 0);
    assert!(json["elapsed_ms"].as_f64().unwrap() >= 0.0);
    let actions = serde_json::to_string(&json["actions"]).unwrap();
    assert_eq!(
        actions,
        r#"[{"action":"SET-VAR","scope":"TRANSACTION","name":"ip","type":"IPV4","value":"10.0.0.1"},{"action":"SET-VAR","scope":"TRANSACTION","name":"x","type":"BINARY","value":"cafe"},{"action":"SET-VAR","scope":"TRANSACTION","name":"n","type":"INT64","value":-5},{"action":"SET-VAR","scope":"TRANSACTION","name":"big","type":"UINT64","value":5000000000},{"action":"SET-VAR","scope":"TRANSACTION","name":"s","type":"STRING","value":"hello"},{"action":"SET-VAR","scope":"TRANSACTION","name":"b","type":"BOOL","value":true},{"action":"SET-VAR","scope":"TRANSACTION","name":"v6","type":"IPV6","value":"2001:db8::1"},{"action":"SET-VAR","scope":"TRANSACTION","name":"z","type":"NULL","value":null}]"#
    );
    let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["status", "elapsed_ms", "actions"]);
}

#[test]
fn the_agent_answers_alike_on_one_thread_and_on_several() {
    for threads in ["1", "2"] {
        let (_agent, addr) = agent(&["--threads", threads]);
        let (out, json) = notify(&["--agent", &addr, "check", "s=str:hello", "n=int:7"]);
        assert!(out.status.success(), "--threads {threads}: {out:?}");
        let actions = serde_json::to_string(&json["actions"]).unwrap();
        assert_eq!(
            actions,
            r#"[{"action":"SET-VAR","scope":"TRANSACTION","name":"s","type":"STRING","value":"hello"},{"action":"SET-VAR","scope":"TRANSACTION","name":"n","type":"INT64","value":7}]"#,
            "--threads {threads}"
        );
    }
    let out = Command::new(SPOE)
        .args([
            "agent",
            "--listen",
            "127.0.0.1:0",
            "--example",
            "echo",
            "--threads",
            "0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "--threads 0 is refused");
}

#[test]
fn a_slow_agent_is_a_processing_timeout() {
    let (_agent, addr) = agent(&["--delay", "2s"]);
    let (out, json) = notify(&["--agent", &addr, "--timeout", "200ms", "check", "a=int:1"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json["status"], 1);
    assert_eq!(json["error"], "1 (processing timeout)");
    let ms = json["elapsed_ms"].as_f64().unwrap();
    assert!((200.0..2000.0).contains(&ms), "{ms}");
}

#[test]
/// Nothing listening: HAProxy 2.6's status for an agent it cannot reach, 1 (docs/errors.md).
fn nothing_listening_is_1() {
    let closed = RefusedPort::new();
    let addr = closed.addr().to_string();
    let (out, json) = notify(&["--agent", &addr, "check"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json["status"], 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("status 1 (processing timeout)"));
}

#[test]
fn bad_arguments_are_refused_with_a_reason() {
    let out = Command::new(SPOE)
        .args(["notify", "--agent", "127.0.0.1:1", "check", "ip=ipv4:nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"nope\" is not a valid IPv4 address"),
        "{err}"
    );
}

#[test]
fn the_agent_prints_where_it_listens_and_stops_cleanly_on_sigterm() {
    let mut child = ChildGuard::spawn(
        Command::new(SPOE)
            .args([
                "agent",
                "--listen",
                "127.0.0.1:0",
                "--example",
                "ip-reputation",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    )
    .unwrap();
    let stdout = child.take_stdout().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("spoe agent: listening on ")
        .unwrap()
        .to_owned();
    let (out, json) = notify(&["--agent", &addr, "check-client-ip", "ip=ipv4:127.0.0.1"]);
    assert!(out.status.success());
    assert_eq!(
        serde_json::to_string(&json["actions"]).unwrap(),
        r#"[{"action":"SET-VAR","scope":"SESSION","name":"ip_score","type":"INT32","value":84}]"#
    );
    child.signal(Signal::TERM).unwrap();
    let status = child
        .wait_timeout(Duration::from_secs(10))
        .unwrap()
        .expect("agent exits");
    assert!(status.success(), "{status:?}");
}
