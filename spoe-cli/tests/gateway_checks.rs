//! Differential test of active health checks: the same `haproxy.cfg` (`option httpchk`,
//! `http-check send|expect|disable-on-404`, `timeout check`, `server ... check inter rise
//! fall backup`, `option allbackups`) run by HAProxy 2.6 and by `spoe gateway`, each with
//! its own servers whose health answer the test switches for both at once. Both must send
//! the same check request, log the same state changes (HAProxy's words: "Server bk/s1 is
//! DOWN, reason: Layer7 wrong status, code: 503, info: ..."), and send the clients'
//! requests to the same servers (backups only when no active server is up).
//!
//! Fails (never skips) when `haproxy` is missing.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock"
)]

mod gateway_support;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gateway_support::{GatewayProc, IO_TIMEOUT, ThreadServer, get, wait_until};
use spoe_interop::Haproxy;

/// How long a state change may take to show (checks run every 100 ms).
const CHANGE: Duration = Duration::from_secs(10);

/// Answers every request with the status the test sets (`x-srv: NAME`), and keeps the head
/// of each request whose path is `/health` (the checks).
struct Server {
    server: ThreadServer,
    checks: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(name: &'static str, status: Arc<AtomicU16>) -> Self {
        let checks = Arc::new(Mutex::new(Vec::new()));
        let seen = checks.clone();
        let server = ThreadServer::start(move |sock: TcpStream| {
            let _ = sock.set_read_timeout(Some(IO_TIMEOUT));
            let mut out = sock.try_clone().expect("clone socket");
            let mut reader = BufReader::new(sock);
            loop {
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    match reader.read_line(&mut line) {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    if line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                if head.starts_with("GET /health ") {
                    seen.lock().unwrap().push(head.clone());
                }
                let code = status.load(Ordering::SeqCst);
                let reason = match code {
                    200 => "OK",
                    404 => "Not Found",
                    500 => "Internal Server Error",
                    _ => "Service Unavailable",
                };
                let body = format!("{name}\n");
                let resp = format!(
                    "HTTP/1.1 {code} {reason}\r\nx-srv: {name}\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                if out.write_all(resp.as_bytes()).is_err() {
                    return;
                }
            }
        });
        Self { server, checks }
    }

    fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    fn check_requests(&self) -> Vec<String> {
        self.checks.lock().unwrap().clone()
    }
}

fn config(port: u16, s1: SocketAddr, b1: SocketAddr, b2: SocketAddr) -> String {
    format!(
        "global
    log stderr format short local0 info
defaults
    mode http
    log global
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    timeout check 2s
backend bk
    option httpchk
    option allbackups
    http-check disable-on-404
    http-check send meth GET uri /health ver HTTP/1.1 hdr host svc1.example.com
    http-check expect status 200
    default-server inter 100ms rise 1 fall 1
    server s1 {s1} check
    server b1 {b1} check backup
    server b2 {b2} check backup
frontend fe
    bind 127.0.0.1:{port}
    default_backend bk
"
    )
}

/// The state-change lines of a log, with the check durations (timing) blanked.
fn changes(log: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in log.lines() {
        // HAProxy writes each line twice (its own stderr warning, and the `log` line).
        if line.starts_with("[WARNING]") || line.starts_with("[ALERT]") {
            continue;
        }
        let Some(at) = line.find("Server bk/") else {
            continue;
        };
        let start = if line[..at].ends_with("Backup ") {
            at - 7
        } else {
            at
        };
        let Some(end) = line[start..].find(" in queue.") else {
            continue;
        };
        let text = &line[start..start + end + 10];
        let blanked = match text.split_once("check duration: ") {
            Some((a, b)) => {
                let rest = b.trim_start_matches(|c: char| c.is_ascii_digit());
                format!("{a}check duration: Nms{rest}")
            }
            None => text.to_owned(),
        };
        out.push(blanked);
    }
    out
}

/// The `x-srv` of a `GET /` through `addr`, or the status when no server answered.
fn served_by(addr: SocketAddr) -> String {
    let resp = get(addr, "/", &[]).unwrap_or_else(|e| panic!("GET / via {addr}: {e}"));
    resp.header("x-srv")
        .map_or_else(|| resp.status.to_string(), str::to_owned)
}

#[test]
fn http_checks_backups_and_their_log_lines_are_haproxys() {
    let s1_status = Arc::new(AtomicU16::new(200));
    let backup_status = Arc::new(AtomicU16::new(200));
    let start = |_| {
        (
            Server::start("s1", s1_status.clone()),
            Server::start("b1", backup_status.clone()),
            Server::start("b2", backup_status.clone()),
        )
    };
    let (hx_servers, gw_servers) = (start(()), start(()));
    let (hx, hx_port) = Haproxy::start_on_port(
        |port| {
            config(
                port,
                hx_servers.0.addr(),
                hx_servers.1.addr(),
                hx_servers.2.addr(),
            )
        },
        &[],
    );
    let (gw, gw_addr) = GatewayProc::start_on_port(
        |port| {
            config(
                port,
                gw_servers.0.addr(),
                gw_servers.1.addr(),
                gw_servers.2.addr(),
            )
        },
        &[],
    );
    let hx_addr: SocketAddr = ([127, 0, 0, 1], hx_port).into();
    let both = |what: &str, cond: &dyn Fn(&str) -> bool| {
        assert!(
            wait_until(CHANGE, || cond(&hx.log())),
            "haproxy: {what} not seen within {CHANGE:?}:\n{}",
            hx.log()
        );
        assert!(
            wait_until(CHANGE, || cond(&gw.log())),
            "gateway: {what} not seen within {CHANGE:?}:\n{}",
            gw.log()
        );
    };
    let count = |log: &str, text: &str| changes(log).iter().filter(|l| l.contains(text)).count();

    // Both check with the same request.
    assert!(
        wait_until(CHANGE, || !hx_servers.0.check_requests().is_empty()
            && !gw_servers.0.check_requests().is_empty()),
        "no check request reached s1"
    );
    assert_eq!(
        gw_servers.0.check_requests()[0],
        hx_servers.0.check_requests()[0],
        "the check requests differ (left: the gateway's)"
    );
    // Active server up: it takes the traffic, not the backups.
    for _ in 0..3 {
        assert_eq!(served_by(hx_addr), "s1");
        assert_eq!(served_by(gw_addr), "s1");
    }

    // s1 answers 503: DOWN, and both backups take the traffic (`allbackups`).
    s1_status.store(503, Ordering::SeqCst);
    both("s1 DOWN", &|l| count(l, "Server bk/s1 is DOWN") == 1);
    let mut hx_seen: Vec<String> = (0..4).map(|_| served_by(hx_addr)).collect();
    let mut gw_seen: Vec<String> = (0..4).map(|_| served_by(gw_addr)).collect();
    hx_seen.sort();
    gw_seen.sort();
    assert_eq!(hx_seen, ["b1", "b1", "b2", "b2"]);
    assert_eq!(gw_seen, hx_seen);

    // Back to 200: UP again, and the traffic goes back to s1.
    s1_status.store(200, Ordering::SeqCst);
    both("s1 UP", &|l| count(l, "Server bk/s1 is UP") == 1);
    assert_eq!(served_by(hx_addr), "s1");
    assert_eq!(served_by(gw_addr), "s1");

    // A 404 with `disable-on-404`: s1 is stopping (drained), the backups serve.
    s1_status.store(404, Ordering::SeqCst);
    both("s1 stopping", &|l| {
        count(l, "Server bk/s1 is stopping") == 1
    });
    assert!(served_by(hx_addr).starts_with('b'));
    assert!(served_by(gw_addr).starts_with('b'));

    // Everything fails (the backups first, so that s1's line counts the same servers in
    // both): no server, 503 from the proxies themselves.
    backup_status.store(500, Ordering::SeqCst);
    both("backups DOWN", &|l| {
        count(l, "Backup Server bk/b1 is DOWN") == 1 && count(l, "Backup Server bk/b2 is DOWN") == 1
    });
    s1_status.store(500, Ordering::SeqCst);
    both("s1 DOWN again", &|l| count(l, "Server bk/s1 is DOWN") == 2);
    assert_eq!(served_by(hx_addr), "503");
    assert_eq!(served_by(gw_addr), "503");

    // The same lines; the two backups' may come in either order.
    let mut hx_lines = changes(&hx.log());
    let mut gw_lines = changes(&gw.log());
    let in_order = |lines: &[String]| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l.starts_with("Server bk/s1"))
            .cloned()
            .collect()
    };
    assert_eq!(
        in_order(&gw_lines),
        in_order(&hx_lines),
        "s1's state changes differ (left: the gateway's)"
    );
    hx_lines.sort();
    gw_lines.sort();
    let backups = |lines: &[String]| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l.starts_with("Backup"))
            .map(|l| {
                // The counts in a backup's line depend on which of the two went first.
                l.split(". ").next().unwrap_or_default().to_owned()
            })
            .collect()
    };
    assert_eq!(backups(&gw_lines), backups(&hx_lines));
    // "backend bk has no server available!" each time the last server stopped taking
    // requests: when s1 drained with both backups down.
    let alerts = |log: &str| {
        log.lines()
            .filter(|l| !l.starts_with("[ALERT]") && l.contains("has no server available!"))
            .count()
    };
    assert_eq!(alerts(&gw.log()), alerts(&hx.log()));
    assert_eq!(alerts(&gw.log()), 1);
}
