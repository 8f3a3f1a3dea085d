//! Differential test of `tcp-request content` rules in a `mode http` frontend: the same
//! `haproxy.cfg` run by HAProxy 2.6 and by `spoe gateway -f`, the same requests sent to both.
//! HAProxy runs the rules on each request (each is a stream), before its HTTP analysers and
//! `http-request` rules: `reject` closes the connection with no answer (a clean close, not a
//! reset), the server sees nothing, and the access line says `<BADREQ>`, no request time,
//! status -1, `PR--`; `accept` ends the list (the `http-request` rules still run); `set-var`
//! sets a variable the `http-request` rules read and goes on; a request on a kept-alive
//! connection is judged again. Fails (never skips) without `haproxy`.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock"
)]

mod gateway_support;

use std::io::{ErrorKind, Read};
use std::net::SocketAddr;
use std::time::Duration;

use gateway_support::{Backend, Both, Conn, wait_until};

fn haproxy_cfg(port: u16, server: SocketAddr) -> String {
    format!(
        r#"defaults
    mode http
    log stdout format raw local0
    option httplog
    timeout connect 1s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:{port}
    tcp-request content accept if {{ req.hdr(x-accept) -m found }}
    tcp-request content set-var(txn.flag) str(on) if {{ req.hdr(x-flag) -m found }}
    tcp-request content reject if {{ path_beg /tcp-reject }}
    tcp-request content reject if {{ req.hdr(x-block) -m found }} !{{ path_beg /deny }}
    http-request deny if {{ path_beg /deny }}
    http-request deny deny_status 429 if {{ var(txn.flag) -m str on }}
    default_backend app
backend app
    server s1 {server}
"#
    )
}

/// What a request got: the status, or how the connection ended without an answer.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Status(u16),
    Closed,
    Reset,
}

/// How `conn` ended after a request that got no answer.
fn ended(conn: &mut Conn) -> Answer {
    let mut rest = Vec::new();
    match conn.stream.read_to_end(&mut rest) {
        Ok(_) => {
            assert!(rest.is_empty(), "partial answer {rest:?}");
            Answer::Closed
        }
        Err(e) if e.kind() == ErrorKind::ConnectionReset => Answer::Reset,
        Err(e) => panic!("no answer and no end: {e}"),
    }
}

/// A request: its path and headers.
type Request<'a> = (&'a str, &'a [(&'a str, &'a str)]);

/// Sends the requests on one connection (kept alive), in order, until one gets no answer;
/// returns each answer and how many requests the server saw.
fn send(addr: SocketAddr, backend: &Backend, requests: &[Request<'_>]) -> Vec<Answer> {
    let mut conn = Conn::connect(addr).expect("connect");
    conn.stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let before = backend.seen().len();
    let mut answers = Vec::new();
    for (path, headers) in requests {
        match conn.request("GET", path, headers, b"") {
            Ok(r) => answers.push(Answer::Status(r.status)),
            Err(_) => {
                answers.push(ended(&mut conn));
                break;
            }
        }
    }
    let passed = answers
        .iter()
        .filter(|a| matches!(a, Answer::Status(s) if *s < 400))
        .count();
    assert_eq!(backend.seen().len() - before, passed, "{requests:?}");
    answers
}

/// Each connection's requests.
const CASES: &[&[Request<'static>]] = &[
    &[("/ok", &[])],
    &[("/tcp-reject", &[])],
    &[("/deny", &[("x-block", "1")])],
    &[("/ok", &[("x-block", "1")])],
    &[("/tcp-reject", &[("x-accept", "1")])],
    &[("/deny", &[("x-accept", "1")])],
    // `set-var` sets and goes on; after an `accept` nothing runs.
    &[("/ok", &[("x-flag", "1")])],
    &[("/ok", &[("x-accept", "1"), ("x-flag", "1")])],
    // Judged again on each request of a connection.
    &[
        ("/ok", &[]),
        ("/ok", &[]),
        ("/tcp-reject", &[]),
        ("/ok", &[]),
    ],
];

/// The fields of the access lines compared: frontend, backend/server, the request time
/// (`-1` or not), status, bytes of a request answered by nothing, termination state, request.
fn fields(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains(" fe "))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let t_request = f[4].split('/').next().unwrap_or_default();
            let bytes = if f[5] == "-1" { f[6] } else { "" };
            let request = l.rsplit_once(" \"").map(|(_, r)| r).unwrap_or_default();
            format!(
                "{} {} {} {} {bytes} {} {request}",
                f[2],
                f[3],
                t_request == "-1",
                f[5],
                f[9]
            )
        })
        .collect()
}

#[test]
fn tcp_content_rules_in_http_mode_as_haproxy() {
    let both = Both::start("app", haproxy_cfg);
    let mut hap_all = Vec::new();
    for case in CASES {
        let hap = send(both.hap_addr, &both.hap_backend, case);
        let gw = send(both.gw_addr, &both.gw_backend, case);
        assert_eq!(hap, gw, "{case:?}");
        hap_all.push(hap);
    }
    // Not vacuous: what HAProxy did is what the rules say.
    use Answer::{Closed, Status};
    assert_eq!(
        hap_all,
        [
            vec![Status(200)],
            vec![Closed],
            vec![Status(403)],
            vec![Closed],
            vec![Status(200)],
            vec![Status(403)],
            vec![Status(429)],
            vec![Status(200)],
            vec![Status(200), Status(200), Closed],
        ]
    );
    let lines: usize = hap_all.iter().map(Vec::len).sum();
    let gw_out = || both.gateway.out();
    assert!(
        wait_until(Duration::from_secs(10), || fields(&both.haproxy.log())
            .len()
            == lines
            && fields(&gw_out()).len() == lines),
        "--- haproxy:\n{}\n--- gateway:\n{}",
        both.haproxy.log(),
        gw_out()
    );
    assert_eq!(fields(&both.haproxy.log()), fields(&gw_out()));
}
