//! Differential test of `monitor-uri`: the same `haproxy.cfg` run by HAProxy 2.6 and by
//! `spoe gateway -f`. A request whose path with its query is the URI (inherited from
//! `defaults`) is answered by the frontend itself with HAProxy's 200 page, before its rules,
//! agents and servers, on a connection that stays open, and is not logged; any other target
//! (another query, another path) goes on as usual; a URI that does not start with `/` is
//! compared with the whole target. Fails (never skips) without `haproxy`.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock"
)]

mod gateway_support;

use std::net::SocketAddr;
use std::time::Duration;

use gateway_support::{Both, Conn, Resp, wait_until};

/// `monitor` is the `defaults` section's `monitor-uri` line.
fn haproxy_cfg(port: u16, monitor: &str, server: SocketAddr) -> String {
    format!(
        r#"defaults
    mode http
    log stdout format raw local0
    option httplog
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    monitor-uri {monitor}
frontend fe
    bind 127.0.0.1:{port}
    http-request deny deny_status 403 if {{ req.hdr(x-deny) -m found }}
    http-response set-header x-rules ran
    default_backend app
backend app
    server s1 {server}
"#
    )
}

/// What the client sees: status, the headers HAProxy's page has, the body.
fn seen(r: &Resp) -> (u16, Vec<Option<String>>, String) {
    r.seen(&["content-length", "cache-control", "content-type", "x-rules"])
}

/// Sends `targets` in order on one kept-alive connection (each with `x-deny`: the rules would
/// refuse it) and returns what came back.
fn send(addr: SocketAddr, targets: &[&str]) -> Vec<(u16, Vec<Option<String>>, String)> {
    let mut conn = Conn::connect(addr).expect("connect");
    targets
        .iter()
        .map(|t| {
            let r = conn
                .request("GET", t, &[("x-deny", "1")], b"")
                .unwrap_or_else(|e| panic!("{t}: {e}"));
            seen(&r)
        })
        .collect()
}

fn compare(monitor: &str, targets: &[&str], monitored: &[bool]) {
    let both = Both::start("app", |port, server| haproxy_cfg(port, monitor, server));
    let hap = send(both.hap_addr, targets);
    let gw = send(both.gw_addr, targets);
    assert_eq!(gw, hap, "monitor-uri {monitor}");
    // Not vacuous: the monitored targets got the 200 page, the others the rules' 403.
    for ((t, m), (status, _, body)) in targets.iter().zip(monitored).zip(&hap) {
        let expected = if *m { 200 } else { 403 };
        assert_eq!(*status, expected, "{t}: {body}");
        assert_eq!(body.contains("Service ready."), *m, "{t}: {body}");
    }
    assert_eq!(both.hap_backend.count(), 0);
    assert_eq!(both.gw_backend.count(), 0);
    // Only the refused requests are logged, by both.
    let refused = monitored.iter().filter(|m| !**m).count();
    let gw_out = || both.gateway.out();
    let lines = |log: &str| {
        log.lines()
            .filter(|l| l.contains(" fe fe/<NOSRV> "))
            .count()
    };
    assert!(
        wait_until(Duration::from_secs(10), || lines(&both.haproxy.log())
            >= refused
            && lines(&gw_out()) >= refused),
        "--- haproxy:\n{}\n--- gateway:\n{}",
        both.haproxy.log(),
        gw_out()
    );
    for log in [both.haproxy.log(), gw_out()] {
        assert_eq!(lines(&log), refused, "{log}");
        for (t, m) in targets.iter().zip(monitored) {
            if *m {
                assert!(
                    !log.contains(&format!("GET {t} HTTP")),
                    "{t} logged:\n{log}"
                );
            }
        }
    }
}

#[test]
fn a_path_uri_answers_its_path_and_query_only() {
    compare(
        "/healthz",
        &[
            "/healthz",
            "/healthz?x=1",
            "/other",
            "/healthz",
            "http://test/healthz",
        ],
        &[true, false, false, true, true],
    );
}

#[test]
fn another_uri_is_compared_with_the_whole_target() {
    compare(
        "http://test/alive",
        &["/alive", "http://test/alive", "http://test/alive?x"],
        &[false, true, false],
    );
}
