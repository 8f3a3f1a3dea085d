//! `spoe bench` against `spoe agent`: counts, percentiles and errors.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use spoe_interop::{ChildGuard, free_port, wait_for_port};

const SPOE: &str = env!("CARGO_BIN_EXE_spoe");

fn agent(extra: &[&str]) -> (ChildGuard, String) {
    let addr = format!("127.0.0.1:{}", free_port());
    let child = ChildGuard::spawn(
        Command::new(SPOE)
            .args(["agent", "--listen", &addr, "--example", "echo"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
    .unwrap();
    wait_for_port(addr.parse::<SocketAddr>().unwrap(), Duration::from_secs(10)).unwrap();
    (child, addr)
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
    let timeouts = v["errors"]["1"].as_u64().unwrap();
    assert!(
        (40..=60).contains(&timeouts),
        "about 50 messages in 0.5 s at 100/s: {v}"
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
    assert!(line("connections").contains("1 opened"), "{text}");
}
