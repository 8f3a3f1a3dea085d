//! Issue 19 §1: logs are written exactly when HAProxy writes them, and writing them never stops
//! traffic.
//!
//! - The same configurations run under HAProxy 2.6 and the gateway, with an SPOE agent on every
//!   request: both write the same number of access lines, `Connect from` lines and SPOE lines
//!   (none without a `log` line in the proxy, SPOE lines only for an agent with `log`).
//! - A gateway whose stdout is a pipe nobody reads serves every request; the lines it could not
//!   write are counted (`haproxy_process_dropped_logs_total`, one line on stderr), and every line
//!   is either read from the pipe later or counted as dropped.
//! - With both its stdout and stderr stuck, it still stops on SIGTERM, at once.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock, and spawn helpers that end with the test"
)]

mod gateway_support;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{ChildStderr, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use gateway_support::{
    AgentProc, ChildGuard, Conn, GatewayProc, PortTaken, SPOE, START_TIMEOUT, Signal, claim_port,
    local, metric_sum, wait_until,
};
use spoe_interop::Haproxy;

// ===== which lines, differential =====

/// One configuration: what it adds to the skeleton, and the lines two requests must give.
struct Case {
    name: &'static str,
    global: &'static str,
    defaults: &'static str,
    frontend: &'static str,
    agent: &'static str,
    /// Access lines (`"GET /`), `Connect from` lines, SPOE lines.
    expected: [usize; 3],
}

const LOG: &str = "    log stdout format raw local0\n";

const CASES: &[Case] = &[
    Case {
        name: "no log line anywhere",
        global: "",
        defaults: "    option httplog\n",
        frontend: "",
        agent: "",
        expected: [0, 0, 0],
    },
    Case {
        name: "a global log line that no proxy uses",
        global: LOG,
        defaults: "    option httplog\n",
        frontend: "",
        agent: "",
        expected: [0, 0, 0],
    },
    Case {
        name: "log global and option httplog",
        global: LOG,
        defaults: "    log global\n    option httplog\n",
        frontend: "",
        agent: "",
        expected: [2, 0, 0],
    },
    Case {
        name: "log global without a log format",
        global: LOG,
        defaults: "    log global\n",
        frontend: "",
        agent: "",
        expected: [0, 2, 0],
    },
    Case {
        name: "the agent's log global",
        global: LOG,
        defaults: "    option httplog\n",
        frontend: "",
        agent: "    log global\n",
        expected: [0, 0, 2],
    },
    Case {
        name: "no log in the frontend, the agent's own log line",
        global: LOG,
        defaults: "    log global\n    option httplog\n",
        frontend: "    no log\n",
        agent: "    log stdout format raw local1\n",
        expected: [0, 0, 2],
    },
    Case {
        name: "option dontlog-normal",
        global: LOG,
        defaults: "    log global\n    option httplog\n",
        frontend: "",
        agent: "    log global\n    option dontlog-normal\n",
        expected: [2, 0, 0],
    },
];

fn haproxy_cfg(case: &Case, port: u16, mark: u16, agent: SocketAddr) -> String {
    format!(
        "global\n{}defaults\n    mode http\n{}    timeout client 5s\n    timeout server 5s\n    \
         timeout connect 1s\n\
         frontend web\n    bind 127.0.0.1:{port}\n{}    filter spoe engine e config spoe.conf\n    \
         http-request return status 200 content-type text/plain string ok\n\
         frontend mark\n    bind 127.0.0.1:{mark}\n    no log\n    log stdout format raw local0\n    \
         option httplog\n    http-request return status 200 content-type text/plain string mark\n\
         backend agents\n    mode tcp\n    server a {agent}\n",
        case.global, case.defaults, case.frontend
    )
}

fn spoe_conf(case: &Case) -> String {
    format!(
        "[e]\nspoe-agent a\n    messages m\n    option var-prefix e\n    timeout hello 2s\n    \
         timeout idle 30s\n    timeout processing 2s\n    use-backend agents\n{}\
         spoe-message m\n    args p=path\n    event on-frontend-http-request\n",
        case.agent
    )
}

/// Counts of access, `Connect from` and SPOE lines in `text`.
fn counts(text: &str) -> [usize; 3] {
    let lines: Vec<&str> = text.lines().collect();
    [
        lines.iter().filter(|l| l.contains("\"GET /x")).count(),
        lines.iter().filter(|l| l.contains("Connect from ")).count(),
        lines.iter().filter(|l| l.contains("SPOE: [a]")).count(),
    ]
}

/// Two requests to `port` (each on its own connection, waited for until it closes, so its line
/// is written), then one to the `mark` frontend; returns once the mark's line is in `out()`:
/// lines go out in order, so every line of the two requests is there too.
fn two_requests_then_mark(port: u16, mark: u16, out: impl Fn() -> String) {
    for _ in 0..2 {
        let mut c = Conn::connect(local(port)).unwrap();
        let r = c
            .request("GET", "/x", &[("connection", "close")], b"")
            .unwrap();
        assert_eq!(r.status, 200);
        assert!(c.closed_within(Duration::from_secs(5)));
    }
    let mut c = Conn::connect(local(mark)).unwrap();
    let r = c
        .request("GET", "/mark", &[("connection", "close")], b"")
        .unwrap();
    assert_eq!(r.status, 200);
    assert!(
        wait_until(START_TIMEOUT, || out().contains("\"GET /mark")),
        "no line for the mark request:\n{}",
        out()
    );
}

#[test]
fn lines_are_written_exactly_where_haproxy_writes_them() {
    let agent = AgentProc::echo(&[]);
    let mut failures = Vec::new();
    for case in CASES {
        let files = [("spoe.conf", spoe_conf(case))];
        let files: Vec<(&str, &str)> = files.iter().map(|(n, c)| (*n, c.as_str())).collect();
        let marks = std::cell::Cell::new(0);
        let (haproxy, hap_port) = Haproxy::start_on_port(
            |port| {
                marks.set(port + 1);
                haproxy_cfg(case, port, port + 1, agent.addr)
            },
            &files,
        );
        let hap_mark = marks.get();
        two_requests_then_mark(hap_port, hap_mark, || haproxy.log());
        let (gw, addr) = GatewayProc::start_on_port(
            |port| {
                marks.set(port + 1);
                haproxy_cfg(case, port, port + 1, agent.addr)
            },
            &files,
        );
        let out = || gw.out();
        two_requests_then_mark(addr.port(), marks.get(), out);
        let (hap, ours) = (counts(&haproxy.log()), counts(&out()));
        if hap != case.expected || ours != case.expected {
            failures.push(format!(
                "{}: [access, connect, spoe] expected {:?}, haproxy {hap:?}, gateway {ours:?}\n\
                 --- haproxy:\n{}\n--- gateway stdout:\n{}\n--- gateway stderr:\n{}",
                case.name,
                case.expected,
                haproxy.log(),
                out(),
                gw.log()
            ));
        }
        // Whatever the case, the gateway's own messages stay on stderr, and its request lines
        // never reach it.
        assert!(gw.log().contains("listening"), "{}", gw.log());
        assert_eq!(counts(&gw.log()), [0, 0, 0], "{}", gw.log());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ===== a log reader that stops reading =====

/// The gateway with stdout and stderr as pipes: stderr is read until it says it listens, then
/// left alone (or kept read, by the caller); stdout is never read until the caller does.
struct Piped {
    child: ChildGuard,
    addr: SocketAddr,
    stdout: ChildStdout,
    stderr: BufReader<ChildStderr>,
    /// What stderr said up to the `listening` line.
    said: String,
    _dir: tempfile::TempDir,
}

fn start_piped(config: impl Fn(u16) -> String, rust_log: &str) -> Piped {
    let (p, _) = claim_port(|port| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("haproxy.cfg"), config(port)).unwrap();
        let mut child = ChildGuard::spawn(
            Command::new(SPOE)
                .args(["gateway", "-f", "haproxy.cfg"])
                .current_dir(dir.path())
                .env("RUST_LOG", rust_log)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        )
        .unwrap();
        let stdout = child.take_stdout().unwrap();
        let mut stderr = BufReader::new(child.take_stderr().unwrap());
        let addr = local(port);
        let mut said = String::new();
        // Bounded: the gateway says it listens, or exits (EOF), within its start-up.
        loop {
            let mut line = String::new();
            if stderr.read_line(&mut line).unwrap_or(0) == 0 {
                if said.contains("Address already in use") {
                    return Err(PortTaken);
                }
                panic!("spoe gateway exited before listening:\n{said}");
            }
            said.push_str(&line);
            if line.contains(&format!("listening addr={addr}")) {
                break;
            }
        }
        Ok(Piped {
            child,
            addr,
            stdout,
            stderr,
            said,
            _dir: dir,
        })
    });
    p
}

/// The length of the requests' path: about 8 KiB lines, so that a few hundred fill what the
/// gateway holds for a reader (its 2 MiB queue and the pipe's 64 KiB).
const LONG: usize = 8000;

/// `web` logs every request; `stats` (the next port) serves the metrics and logs nothing, so
/// that the lines counted are the requests' (`tune.http.logurilen`: their whole request line,
/// which HAProxy cuts at 1023 bytes by default).
fn stuck_cfg(port: u16) -> String {
    format!(
        "global\n    log stdout len 65535 format raw local0\n    tune.http.logurilen 9000\ndefaults\n    mode http\n    \
         timeout client 5s\n    timeout server 5s\n    timeout connect 1s\n\
         frontend web\n    bind 127.0.0.1:{port}\n    log global\n    option httplog\n    \
         http-request return status 200 content-type text/plain string ok\n\
         frontend stats\n    bind 127.0.0.1:{}\n    \
         http-request use-service prometheus-exporter\n",
        port + 1
    )
}

/// `n` requests on 4 keep-alive connections with a path of [`LONG`] bytes; how many got a 200.
fn load(addr: SocketAddr, n: usize) -> usize {
    let ok = Arc::new(AtomicUsize::new(0));
    let path = format!("/{}", "p".repeat(LONG));
    thread::scope(|s| {
        for _ in 0..4 {
            let (ok, path) = (ok.clone(), path.as_str());
            s.spawn(move || {
                let mut c = Conn::connect(addr).unwrap();
                for _ in 0..n / 4 {
                    if c.request("GET", path, &[], b"")
                        .is_ok_and(|r| r.status == 200)
                    {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    ok.load(Ordering::Relaxed)
}

/// The metrics, from the `stats` frontend next to `web` at `addr`.
fn scrape(addr: SocketAddr) -> String {
    let r = gateway_support::get(local(addr.port() + 1), "/metrics", &[]).unwrap();
    assert_eq!(r.status, 200);
    String::from_utf8_lossy(&r.body).into_owned()
}

#[test]
fn a_log_reader_that_stops_reading_costs_lines_never_requests() {
    let mut gw = start_piped(stuck_cfg, "info");
    // stderr is read all along (the drop report is awaited there); stdout is not, for now.
    let said = Arc::new(std::sync::Mutex::new(std::mem::take(&mut gw.said)));
    let mut stderr = gw.stderr;
    let reader = {
        let said = said.clone();
        thread::spawn(move || {
            let mut line = String::new();
            while stderr.read_line(&mut line).unwrap_or(0) > 0 {
                said.lock().unwrap().push_str(&std::mem::take(&mut line));
            }
        })
    };
    const N: usize = 1200;
    let started = Instant::now();
    assert_eq!(load(gw.addr, N), N, "every request is answered");
    let took = started.elapsed();
    let metrics = scrape(gw.addr);
    let dropped = metric_sum(&metrics, "haproxy_process_dropped_logs_total", "");
    // What the gateway holds for a stuck reader: its queue (2 MiB, about 260 of these lines),
    // the batch its writer is blocked on (as much), and the pipe (64 KiB).
    assert!(
        dropped >= 600.0,
        "{N} lines of 8 KiB, the reader stuck: the rest are dropped (took {took:?})\n{metrics}"
    );
    assert_eq!(
        metric_sum(&metrics, "spoe_log_lines_dropped_total", "sink=\"stdout\""),
        dropped
    );
    // One line on stderr says so (within the report period).
    let report = || {
        said.lock()
            .unwrap()
            .lines()
            .any(|l| l.contains("log line(s) dropped on stdout") && l.contains("WARN"))
    };
    assert!(
        wait_until(Duration::from_secs(12), report),
        "no report of the dropped lines on stderr:\n{}",
        said.lock().unwrap()
    );
    // The reader comes back: every line is either read or was counted as dropped.
    let mut stdout = gw.stdout;
    let read = Arc::new(AtomicUsize::new(0));
    let drain = {
        let read = read.clone();
        thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            let mut bytes = Vec::new();
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                bytes.extend_from_slice(&buf[..n]);
                let lines = bytes.iter().filter(|&&b| b == b'\n').count();
                read.store(lines, Ordering::Relaxed);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout_counts = |m: &str| {
        (
            metric_sum(m, "spoe_log_lines_written_total", "sink=\"stdout\""),
            metric_sum(m, "spoe_log_lines_dropped_total", "sink=\"stdout\""),
        )
    };
    let settled = wait_until(START_TIMEOUT, || {
        let (written, dropped) = stdout_counts(&scrape(gw.addr));
        written + dropped >= N as f64 && read.load(Ordering::Relaxed) as f64 >= written
    });
    let (written, dropped) = stdout_counts(&scrape(gw.addr));
    assert!(settled, "written {written}, dropped {dropped}");
    gw.child.signal(Signal::TERM).unwrap();
    assert!(
        gw.child
            .wait_timeout(Duration::from_secs(10))
            .unwrap()
            .is_some()
    );
    let text = drain.join().unwrap();
    let _ = reader.join();
    // Every request's line was written whole, and read here, or counted as dropped.
    assert_eq!(written + dropped, N as f64);
    assert_eq!(text.lines().count() as f64, written, "lines read");
    assert!(
        text.lines()
            .all(|l| l.contains(" \"GET /pp") && l.ends_with("HTTP/1.1\"")),
        "every line read is a whole request line"
    );
}

#[test]
fn a_gateway_whose_stdout_and_stderr_are_stuck_stops_at_once_on_sigterm() {
    // Debug level: every request also makes tracing lines for the stuck stderr.
    let mut gw = start_piped(stuck_cfg, "debug");
    assert_eq!(load(gw.addr, 600), 600, "every request is answered");
    let stopping = Instant::now();
    gw.child.signal(Signal::TERM).unwrap();
    let exited = gw.child.wait_timeout(Duration::from_secs(10)).unwrap();
    assert!(
        exited.is_some_and(|s| s.success()),
        "exit {exited:?} after {:?}",
        stopping.elapsed()
    );
    // Only the bounded wait for the log lines (1 s per sink) is added to the stop.
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "{:?}",
        stopping.elapsed()
    );
    drop(gw.stdout);
}
