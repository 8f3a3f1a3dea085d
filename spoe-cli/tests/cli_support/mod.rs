//! Shared pieces of the command-line tests: processes that report the address
//! they bound (port 0, read back from their first line), the PyPI reference
//! agent, and running `spoe` with a bound on its run time.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

pub(crate) use spoe_interop::ChildGuard;

/// The `spoe` binary under test.
pub(crate) const SPOE: &str = env!("CARGO_BIN_EXE_spoe");

/// How long a process may take to report its address.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The Python with the PyPI agent `haproxyspoa` (test.sh creates `.venv`).
pub(crate) fn python() -> String {
    if let Ok(p) = std::env::var("SPOE_TEST_PYTHON") {
        return p;
    }
    let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python");
    assert!(
        std::path::Path::new(venv).exists(),
        "the reference agent haproxyspoa is not installed: run ./test.sh (it creates .venv with `pip install haproxyspoa`)"
    );
    venv.to_owned()
}

/// Starts `cmd` with stdout piped and returns the first value `find` extracts
/// from one of its stdout lines (the address it bound), within `START_TIMEOUT`.
pub(crate) fn spawn_reporting(
    cmd: &mut Command,
    find: impl Fn(&str) -> Option<String> + Send + 'static,
) -> (ChildGuard, String) {
    let mut child = ChildGuard::spawn(cmd.stdout(Stdio::piped())).unwrap();
    let stdout = child.take_stdout().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut seen = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(found) = find(&line) {
                let _ = tx.send(Ok(found));
                // Keep draining so the child never blocks on a full pipe.
                continue;
            }
            seen.push(line);
        }
        let _ = tx.send(Err(seen));
    });
    match rx.recv_timeout(START_TIMEOUT) {
        Ok(Ok(addr)) => (child, addr),
        Ok(Err(lines)) => panic!("{cmd:?} ended without reporting its address: {lines:?}"),
        Err(_) => panic!("{cmd:?} reported no address within {START_TIMEOUT:?}"),
    }
}

/// `spoe agent --example echo` on `listen` (port 0 or a unix path); its address.
pub(crate) fn spoe_agent(listen: &str) -> (ChildGuard, String) {
    spoe_agent_on(listen, &["--example", "echo"])
}

/// `spoe agent --listen LISTEN ARGS...` (its `--example` and options), stderr dropped; its
/// address.
pub(crate) fn spoe_agent_on(listen: &str, args: &[&str]) -> (ChildGuard, String) {
    spawn_reporting(
        Command::new(SPOE)
            .args(["agent", "--listen", listen])
            .args(args)
            .stderr(Stdio::null()),
        |l| {
            l.strip_prefix("spoe agent: listening on ")
                .map(str::to_owned)
        },
    )
}

/// The PyPI agent haproxyspoa 0.0.1 with an echo handler for `conformance`.
pub(crate) fn haproxyspoa_agent() -> (ChildGuard, String) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../spoe-conformance/peers/haproxyspoa_agent.py"
    );
    spawn_reporting(
        Command::new(python()).arg(script).stderr(Stdio::null()),
        |l| l.strip_prefix("listening on ").map(str::to_owned),
    )
}

/// Python's own HTTP server (`python -m http.server`) on port 0.
pub(crate) fn http_server() -> (ChildGuard, String) {
    spawn_reporting(
        Command::new(python())
            .args(["-u", "-m", "http.server", "-b", "127.0.0.1", "0"])
            .stderr(Stdio::null()),
        |l| {
            // "Serving HTTP on 127.0.0.1 port 41613 (http://127.0.0.1:41613/) ..."
            let port = l.split(" port ").nth(1)?.split_whitespace().next()?;
            Some(format!("127.0.0.1:{port}"))
        },
    )
}

/// What a finished `spoe` run printed.
#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs `spoe ARGS`, killing it after `limit`.
pub(crate) fn spoe(args: &[&str], limit: Duration) -> Output {
    let mut child = ChildGuard::spawn(
        Command::new(SPOE)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
    .unwrap();
    let stdout = child.take_stdout().unwrap();
    let stderr = child.take_stderr().unwrap();
    let read = |mut r: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let (out, err) = (read(Box::new(stdout)), read(Box::new(stderr)));
    let status = child
        .wait_timeout(limit)
        .unwrap()
        .unwrap_or_else(|| panic!("spoe {args:?} still running after {limit:?}"));
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}
