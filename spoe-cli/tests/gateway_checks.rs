//! Differential tests of what a backend does with its servers: active health checks, backups,
//! `retries`/`option redispatch`, `balance`. The health checks: the same `haproxy.cfg` (`option httpchk`,
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
    option log-health-checks
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

/// The state-change lines of a log (the `log` lines: HAProxy also writes each on its own
/// stderr, and the gateway through its tracing), with the check durations (timing) blanked.
fn changes(log: &str) -> Vec<String> {
    log_lines(log)
        .filter_map(|(_, text)| {
            let start = text.find("Server bk/")?;
            let start = if text[..start].ends_with("Backup ") {
                start - 7
            } else {
                start
            };
            let end = text[start..].find(" in queue.")?;
            Some(blank_duration(&text[start..start + end + 10]))
        })
        .collect()
}

/// The `log` lines written at `log stderr format short`: (`<level>`, text).
fn log_lines(log: &str) -> impl Iterator<Item = (&str, &str)> {
    log.lines().filter_map(|line| {
        let rest = line.strip_prefix('<')?;
        let (level, text) = rest.split_once('>')?;
        level
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then_some((level, text))
    })
}

fn blank_duration(text: &str) -> String {
    match text.split_once("check duration: ") {
        Some((a, b)) => {
            let rest = b.trim_start_matches(|c: char| c.is_ascii_digit());
            format!("{a}check duration: N{rest}")
        }
        None => text.to_owned(),
    }
}

/// `option log-health-checks`' lines about s1, each with its level, the durations blanked.
fn s1_health_lines(log: &str) -> Vec<String> {
    log_lines(log)
        .filter(|(_, text)| text.starts_with("Health check for server bk/s1 "))
        .map(|(level, text)| format!("<{level}>{}", blank_duration(text)))
        .collect()
}

/// The levels of the state-change lines about s1, in order.
fn s1_change_levels(log: &str) -> Vec<String> {
    log_lines(log)
        .filter(|(_, text)| text.starts_with("Server bk/s1 is"))
        .map(|(level, _)| level.to_owned())
        .collect()
}

/// The `x-srv` of a `GET /` through `addr`, or the status when no server answered.
fn served_by(addr: SocketAddr) -> String {
    served_by_path(addr, "/")
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
        gateway_support::wait_both_logs(CHANGE, what, || hx.log(), || gw.log(), cond);
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
    // At the same syslog levels (alert when going down, notice otherwise).
    assert_eq!(s1_change_levels(&gw.log()), s1_change_levels(&hx.log()));
    // `option log-health-checks`: a line for each check that changed the status or the
    // health, the same ones.
    let health = s1_health_lines(&hx.log());
    assert!(health.len() >= 5, "{health:?}");
    assert_eq!(
        s1_health_lines(&gw.log()),
        health,
        "s1's health check lines differ (left: the gateway's)"
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
        log_lines(log)
            .filter(|&line| line == ("0", "backend bk has no server available!"))
            .count()
    };
    assert_eq!(alerts(&gw.log()), alerts(&hx.log()));
    assert_eq!(alerts(&gw.log()), 1);
}

fn retry_config(port: u16, dead: SocketAddr, live: SocketAddr) -> String {
    format!(
        "defaults
    mode http
    timeout connect 100ms
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    http-request use-service prometheus-exporter if {{ path /metrics }}
    use_backend spread if {{ path_beg /spread }}
    default_backend same
backend same
    retries 2
    server dead {dead}
backend spread
    retries 3
    option redispatch
    server dead {dead}
    server live {live}
"
    )
}

/// `retries` and `option redispatch` as HAProxy 2.6: a refused connect is retried on the same
/// server `retries` times (each counted in `wretr`, the last failure in `econ`) before a 503;
/// with `option redispatch` in a round robin of several servers, the retry goes to another
/// server at once (counted in `wredis`), and the client gets its answer.
#[test]
fn failed_connects_are_retried_and_redispatched_as_haproxy_does() {
    let dead = gateway_support::RefusedPort::new();
    let live = Server::start("live", Arc::new(AtomicU16::new(200)));
    let (_hx, hx_port) =
        Haproxy::start_on_port(|port| retry_config(port, dead.addr(), live.addr()), &[]);
    let (_gw, gw_addr) =
        GatewayProc::start_on_port(|port| retry_config(port, dead.addr(), live.addr()), &[]);
    let hx_addr: SocketAddr = ([127, 0, 0, 1], hx_port).into();
    for addr in [hx_addr, gw_addr] {
        assert_eq!(served_by(addr), "503", "via {addr}");
        for _ in 0..4 {
            assert_eq!(served_by_path(addr, "/spread"), "live", "via {addr}");
        }
    }
    let metrics = |addr: SocketAddr| {
        let resp = get(addr, "/metrics", &[]).unwrap_or_else(|e| panic!("metrics via {addr}: {e}"));
        String::from_utf8_lossy(&resp.body).into_owned()
    };
    let (hx_m, gw_m) = (metrics(hx_addr), metrics(gw_addr));
    for (name, labels, want) in [
        (
            "haproxy_backend_retry_warnings_total",
            "proxy=\"same\"",
            2.0,
        ),
        (
            "haproxy_server_retry_warnings_total",
            "proxy=\"same\",server=\"dead\"",
            2.0,
        ),
        (
            "haproxy_backend_connection_errors_total",
            "proxy=\"same\"",
            1.0,
        ),
        (
            "haproxy_backend_retry_warnings_total",
            "proxy=\"spread\"",
            0.0,
        ),
        (
            "haproxy_backend_connection_errors_total",
            "proxy=\"spread\"",
            0.0,
        ),
    ] {
        let (h, g) = (
            spoe_interop::metric_sum(&hx_m, name, labels),
            spoe_interop::metric_sum(&gw_m, name, labels),
        );
        assert_eq!(g, h, "{name}{{{labels}}}: the gateway's, HAProxy's");
        assert_eq!(h, want, "{name}{{{labels}}}");
    }
    // How many requests first went to the dead server depends on where each round robin
    // stood: at least one did, and none failed.
    for m in [&hx_m, &gw_m] {
        let n = spoe_interop::metric_sum(
            m,
            "haproxy_backend_redispatch_warnings_total",
            "proxy=\"spread\"",
        );
        assert!((1.0..=4.0).contains(&n), "redispatches: {n}");
    }
}

/// The `x-srv` of a `GET path` through `addr`, or the status when no server answered.
fn served_by_path(addr: SocketAddr, path: &str) -> String {
    let resp = get(addr, path, &[]).unwrap_or_else(|e| panic!("GET {path} via {addr}: {e}"));
    resp.header("x-srv")
        .map_or_else(|| resp.status.to_string(), str::to_owned)
}

fn balance_config(port: u16, servers: &[SocketAddr]) -> String {
    let mut cfg = format!(
        "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    use_backend by_uri if {{ path_beg /uri }}
    use_backend by_hdr if {{ path_beg /hdr }}
    use_backend by_random if {{ path_beg /random }}
    default_backend by_source
"
    );
    for (name, algo) in [
        ("by_source", "source"),
        ("by_uri", "uri"),
        ("by_hdr", "hdr(x-user)"),
        ("by_random", "random"),
    ] {
        cfg.push_str(&format!("backend {name}\n    balance {algo}\n"));
        for (i, addr) in servers.iter().enumerate() {
            // Weights 1, 2, 3: the hash map interleaves them as HAProxy's does.
            cfg.push_str(&format!("    server s{i} {addr} weight {}\n", i + 1));
        }
    }
    cfg
}

/// `balance source|uri|hdr(NAME)` pick, for each key, the server HAProxy 2.6 picks (its
/// map-based hash over weighted servers); `balance random` spreads requests over every
/// server.
#[test]
fn hash_balancing_picks_haproxys_server_for_each_key() {
    let status = Arc::new(AtomicU16::new(200));
    let names = ["s0", "s1", "s2"];
    let start = || -> Vec<Server> {
        names
            .iter()
            .map(|n| Server::start(n, status.clone()))
            .collect()
    };
    let (hx_servers, gw_servers) = (start(), start());
    let addrs = |s: &[Server]| -> Vec<SocketAddr> { s.iter().map(Server::addr).collect() };
    let (_hx, hx_port) =
        Haproxy::start_on_port(|port| balance_config(port, &addrs(&hx_servers)), &[]);
    let (_gw, gw_addr) =
        GatewayProc::start_on_port(|port| balance_config(port, &addrs(&gw_servers)), &[]);
    let hx_addr: SocketAddr = ([127, 0, 0, 1], hx_port).into();
    let pick = |addr: SocketAddr, path: &str, headers: &[(&str, &str)]| {
        let resp =
            get(addr, path, headers).unwrap_or_else(|e| panic!("GET {path} via {addr}: {e}"));
        resp.header("x-srv").unwrap_or("none").to_owned()
    };
    let mut keys: Vec<(String, Vec<(&str, String)>)> = vec![("/".to_owned(), vec![])];
    for i in 0..12 {
        keys.push((format!("/uri/item-{i}?q={i}"), vec![]));
        keys.push((
            "/hdr".to_owned(),
            vec![("x-user", format!("user-{i}, other"))],
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (path, headers) in &keys {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let h = pick(hx_addr, path, &headers);
        let g = pick(gw_addr, path, &headers);
        assert_eq!(
            g, h,
            "GET {path} {headers:?}: the gateway's server, HAProxy's"
        );
        // The same key again: the same server.
        assert_eq!(pick(gw_addr, path, &headers), g);
        seen.insert(g);
    }
    assert_eq!(seen.len(), 3, "the keys reached only {seen:?}");
    let random: std::collections::BTreeSet<String> =
        (0..60).map(|_| pick(gw_addr, "/random", &[])).collect();
    assert_eq!(random.len(), 3, "balance random reached only {random:?}");
}

fn track_config(port: u16, s1: SocketAddr) -> String {
    format!(
        "global
    log stderr format short local0 info
defaults
    mode http
    log global
    timeout connect 1s
    timeout client 5s
    timeout server 5s
backend bk1
    option httpchk GET /health
    server s1 {s1} check inter 100ms rise 1 fall 1
backend bk2
    server s1 {s1} track bk1/s1
backend bk3
    server t1 {s1} track bk2/s1
frontend fe
    bind 127.0.0.1:{port}
    use_backend bk3 if {{ path_beg /bk3 }}
    default_backend bk2
"
    )
}

/// The state-change lines of the `log` lines about `backend`'s servers, durations blanked.
fn backend_changes(log: &str, backend: &str) -> Vec<String> {
    log_lines(log)
        .filter(|(_, text)| text.starts_with(&format!("Server {backend}/")))
        .map(|(level, text)| format!("<{level}>{}", blank_duration(text)))
        .collect()
}

/// `server ... track [BACKEND/]SERVER`, in a chain: the servers tracking a checked one go
/// DOWN and UP with it, each line saying "via" the server it follows, at HAProxy's levels,
/// and their backends stop and start serving with them.
#[test]
fn tracking_servers_follow_the_tracked_one_as_haproxy() {
    let hx_status = Arc::new(AtomicU16::new(200));
    let gw_status = Arc::new(AtomicU16::new(200));
    let hx_server = Server::start("s1", hx_status.clone());
    let gw_server = Server::start("s1", gw_status.clone());
    let (hx, hx_port) = Haproxy::start_on_port(|port| track_config(port, hx_server.addr()), &[]);
    let (gw, gw_addr) =
        GatewayProc::start_on_port(|port| track_config(port, gw_server.addr()), &[]);
    let hx_addr: SocketAddr = ([127, 0, 0, 1], hx_port).into();
    let seen = |what: &str, text: &str| {
        gateway_support::wait_both_logs(
            CHANGE,
            what,
            || hx.log(),
            || gw.log(),
            |l| l.contains(text),
        );
    };
    for addr in [hx_addr, gw_addr] {
        assert_eq!(served_by(addr), "s1");
        assert_eq!(served_by_path(addr, "/bk3"), "s1");
    }
    hx_status.store(503, Ordering::SeqCst);
    gw_status.store(503, Ordering::SeqCst);
    seen("bk3/t1 DOWN", "Server bk3/t1 is DOWN");
    for addr in [hx_addr, gw_addr] {
        assert_eq!(served_by(addr), "503", "via {addr}");
        assert_eq!(served_by_path(addr, "/bk3"), "503", "via {addr}");
    }
    hx_status.store(200, Ordering::SeqCst);
    gw_status.store(200, Ordering::SeqCst);
    seen("bk3/t1 UP", "Server bk3/t1 is UP");
    for addr in [hx_addr, gw_addr] {
        assert_eq!(served_by(addr), "s1");
    }
    for backend in ["bk1", "bk2", "bk3"] {
        let (h, g) = (
            backend_changes(&hx.log(), backend),
            backend_changes(&gw.log(), backend),
        );
        assert_eq!(h.len(), 2, "{h:?}");
        assert_eq!(g, h, "{backend}: left: the gateway's");
    }
}
