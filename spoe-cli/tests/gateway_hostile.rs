//! Hostile and malformed requests, differential: the same raw bytes go to HAProxy 2.6 and to
//! `spoe gateway` running the same `haproxy.cfg` in front of the same backend. For each case both
//! must answer with the same status class (or both not at all) and handle the connection the same
//! way (closed, or kept alive and able to serve the next request). The differences by design
//! (`CONNECT`, and NUL in a header value) are listed with the gateway's exact answer.
//!
//! Fails (never skips) when `haproxy` is missing: `spoe-interop` panics with the install command.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock, and spawn helpers that end with the test"
)]

mod gateway_support;

use std::net::SocketAddr;
use std::thread;

use gateway_support::{Backend, Conn, GatewayProc, local};
use spoe_interop::Haproxy;

fn haproxy_cfg(port: u16, backend: SocketAddr) -> String {
    format!(
        r#"defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    timeout http-request 1s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    server s1 {backend}
"#
    )
}

/// What a client saw: the status class of the first answer (`None`: no answer), and whether
/// the connection then served another request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Outcome {
    class: Option<u16>,
    kept: bool,
}

/// Sends `raw` on a new connection, reads the answer, then tries a plain request on the same
/// connection.
fn outcome(addr: SocketAddr, raw: &[u8]) -> (Option<u16>, Outcome) {
    let mut c = Conn::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    // The proxy may answer and close before it read everything: a write error is fine.
    let _ = c.send_raw(raw);
    let status = c.read_response().ok().map(|r| r.status);
    let kept = status.is_some()
        && c.request("GET", "/probe", &[], b"")
            .is_ok_and(|r| r.status == 200);
    (
        status,
        Outcome {
            class: status.map(|s| s / 100),
            kept,
        },
    )
}

/// A case of the corpus.
struct Case {
    name: &'static str,
    raw: Vec<u8>,
    /// Where the gateway differs from HAProxy on purpose: why, and its exact answer
    /// (status, kept).
    differs: Option<(&'static str, Option<u16>, bool)>,
}

fn case(name: &'static str, raw: impl Into<Vec<u8>>) -> Case {
    Case {
        name,
        raw: raw.into(),
        differs: None,
    }
}

fn corpus() -> Vec<Case> {
    let many_headers: String = (0..120).map(|i| format!("x-h{i}: v\r\n")).collect();
    vec![
        case("a valid GET (control)", "GET / HTTP/1.1\r\nhost: a\r\n\r\n"),
        case(
            "bad request line (extra token)",
            "GET / HTTP/1.1 extra\r\nhost: a\r\n\r\n",
        ),
        case("bad method token", "G@T / HTTP/1.1\r\nhost: a\r\n\r\n"),
        case(
            "not HTTP at all (a TLS ClientHello)",
            &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"[..],
        ),
        case(
            "HTTP/2 preface on an HTTP/1 listener",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        ),
        case(
            "two conflicting Content-Length",
            "POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabcd",
        ),
        case(
            "negative Content-Length",
            "POST / HTTP/1.1\r\nhost: a\r\ncontent-length: -1\r\n\r\n",
        ),
        case(
            "Transfer-Encoding without chunked last",
            "POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: gzip\r\n\r\nabcd",
        ),
        case(
            "bad chunk size",
            "POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        ),
        case(
            "Content-Length and chunked (smuggling attempt)",
            "POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        ),
        case(
            "a chunked body, valid (control)",
            "POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        ),
        case(
            "more than 100 header fields",
            format!("GET / HTTP/1.1\r\nhost: a\r\n{many_headers}\r\n"),
        ),
        case(
            "64 KiB header block",
            format!(
                "GET / HTTP/1.1\r\nhost: a\r\nx-big: {}\r\n\r\n",
                "a".repeat(64 * 1024)
            ),
        ),
        case(
            "1 MiB unterminated header block",
            format!(
                "GET / HTTP/1.1\r\nhost: a\r\nx-big: {}",
                "a".repeat(1 << 20)
            ),
        ),
        case(
            "20 KiB URI",
            format!("GET /{} HTTP/1.1\r\nhost: a\r\n\r\n", "u".repeat(20 * 1024)),
        ),
        case("space in the URI", "GET /a b HTTP/1.1\r\nhost: a\r\n\r\n"),
        case(
            "space before the colon of a header",
            "GET / HTTP/1.1\r\nhost: a\r\nx-a : 1\r\n\r\n",
        ),
        case(
            "invalid character in a header name",
            "GET / HTTP/1.1\r\nhost: a\r\nx(a): 1\r\n\r\n",
        ),
        Case {
            differs: Some((
                "HAProxy 2.6 forwards it; RFC 9110 5.5 lets a recipient reject a field value with \
                 NUL, and the gateway (httparse) does: the safer of the two",
                Some(400),
                false,
            )),
            ..case(
                "NUL in a header value",
                &b"GET / HTTP/1.1\r\nhost: a\r\nx-a: 1\x002\r\n\r\n"[..],
            )
        },
        case(
            "two Host headers with different values",
            "GET / HTTP/1.1\r\nhost: public\r\nhost: admin.example\r\n\r\n",
        ),
        case(
            "two identical Host headers",
            "GET / HTTP/1.1\r\nhost: public\r\nhost: public\r\n\r\n",
        ),
        case(
            "absolute URI whose authority is not the Host",
            "GET http://admin.example/ HTTP/1.1\r\nhost: public\r\n\r\n",
        ),
        case(
            "absolute URI whose authority is the Host",
            "GET http://public/x HTTP/1.1\r\nhost: public\r\n\r\n",
        ),
        case("OPTIONS *", "OPTIONS * HTTP/1.1\r\nhost: a\r\n\r\n"),
        case("HTTP/1.1 without Host", "GET / HTTP/1.1\r\n\r\n"),
        case("HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n"),
        case(
            "stalled request head (timeout http-request)",
            "GET / HTTP/1.1\r\nhost: a\r\nx-half: ",
        ),
        Case {
            differs: Some((
                "HAProxy opens a tunnel to the server; the gateway has none and refuses",
                Some(501),
                false,
            )),
            ..case(
                "CONNECT",
                "CONNECT host:443 HTTP/1.1\r\nhost: host:443\r\n\r\n",
            )
        },
    ]
}

#[test]
fn hostile_requests_get_what_haproxy_gives_them() {
    let backend = Backend::start("be");
    let (haproxy, hap_port) = Haproxy::start_on_port(|port| haproxy_cfg(port, backend.addr), &[]);
    let (gateway, gw) = GatewayProc::start_on_port(|port| haproxy_cfg(port, backend.addr), &[]);
    let gw_port = gw.port();
    let corpus = corpus();
    let mut wrong = Vec::new();
    let mut kinds = std::collections::BTreeSet::new();
    for c in &corpus {
        // Both at once: the stalled cases wait for `timeout http-request` on each side.
        let (hap, gw) = thread::scope(|s| {
            let hap = s.spawn(|| outcome(local(hap_port), &c.raw));
            let gw = s.spawn(|| outcome(local(gw_port), &c.raw));
            (hap.join().unwrap(), gw.join().unwrap())
        });
        kinds.insert(hap.1);
        match c.differs {
            None if hap.1 != gw.1 => wrong.push(format!(
                "{}: haproxy {:?} {:?} | gateway {:?} {:?}",
                c.name, hap.0, hap.1, gw.0, gw.1
            )),
            Some((why, status, kept)) if (gw.0, gw.1.kept) != (status, kept) => {
                wrong.push(format!(
                    "{}: the gateway must answer {status:?} (kept: {kept}) because {why}; it \
                     answered {:?} (kept: {}); haproxy {:?} {:?}",
                    c.name, gw.0, gw.1.kept, hap.0, hap.1
                ));
            }
            _ => {}
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases differ from HAProxy 2.6:\n  {}\n--- gateway stderr:\n{}\n--- haproxy log:\n{}",
        wrong.len(),
        corpus.len(),
        wrong.join("\n  "),
        gateway.log(),
        haproxy.log()
    );
    // The corpus means something: HAProxy served some cases, refused others with a close.
    let served = Outcome {
        class: Some(2),
        kept: true,
    };
    assert!(kinds.contains(&served), "{kinds:?}");
    assert!(
        kinds.contains(&Outcome {
            class: Some(4),
            kept: false
        }),
        "{kinds:?}"
    );
}
