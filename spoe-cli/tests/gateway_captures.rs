//! Captures, differentially against HAProxy 2.6 on the same file and requests: `capture
//! request|response header NAME len N`, `declare capture request|response len N`,
//! `http-request capture EXPR len N|id N`, `http-response capture EXPR id N`, the
//! `capture.req.hdr(N)`, `capture.res.hdr(N)`, `capture.req.method`, `capture.req.uri`,
//! `capture.req.ver` and `capture.res.ver` fetches (in rules, whose headers the client sees, and
//! in the access line), and `%hr`, `%hs`, `%hrl`, `%hsl` in the access line. Fails (never
//! skips) without `haproxy`.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock"
)]

mod gateway_support;

use std::net::SocketAddr;
use std::time::Duration;

use gateway_support::{Both, Conn, wait_until};

fn cfg(port: u16, app: SocketAddr) -> String {
    format!(
        r#"global
    log stdout format raw local0
defaults
    mode http
    log global
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    log-format "hr=%hr hs=%hs hrl=%hrl hsl=%hsl c0=%[capture.req.hdr(0)] c3=%[capture.req.hdr(3)] m=%[capture.req.method] u=%[capture.req.uri] v=%[capture.req.ver] rv=%[capture.res.ver] r0=%[capture.res.hdr(0)] r1=%[capture.res.hdr(1)] %{{+Q}}r"
    capture request header Host len 8
    capture request header User-Agent len 64
    declare capture request len 20
    declare capture response len 10
    capture response header X-Backend len 3
    http-request capture req.hdr(x-tag) len 5
    http-request capture path id 2
    http-request set-path /rewritten if {{ path /rewrite }}
    http-response capture res.hdr(x-backend),upper id 0
    http-response set-header X-Cap0 %[capture.req.hdr(0)]
    http-response set-header X-Cap2 %[capture.req.hdr(2)]
    http-response set-header X-Cap3 %[capture.req.hdr(3)]
    http-response set-header X-Method %[capture.req.method]
    http-response set-header X-Uri %[capture.req.uri]
    http-response set-header X-Ver %[capture.req.ver]
    http-response set-header X-Res0 %[capture.res.hdr(0)]
    http-response set-header X-Res1 %[capture.res.hdr(1)]
    default_backend app
backend app
    server app1 {app}
"#
    )
}

/// The requests both proxies get, each on its own connection.
const REQUESTS: &[&[u8]] = &[
    b"GET /a?x=1 HTTP/1.1\r\nhost: example.test\r\nuser-agent: curl/8\r\nx-tag: abcdefgh\r\n\r\n",
    b"GET /rewrite HTTP/1.1\r\nhost: h\r\nhost: h\r\n\r\n",
    b"POST /p HTTP/1.0\r\nhost: second.example\r\ncontent-length: 0\r\n\r\n",
];

/// The response headers the rules set.
const SET: &[&str] = &[
    "x-cap0", "x-cap2", "x-cap3", "x-method", "x-uri", "x-ver", "x-res0", "x-res1",
];

fn exchange(addr: SocketAddr, raw: &[u8]) -> Vec<(String, Option<String>)> {
    let mut c = Conn::connect(addr).expect("connect");
    c.send_raw(raw).expect("send");
    let resp = c.read_response().expect("a response");
    assert_eq!(resp.status, 200);
    SET.iter()
        .map(|h| ((*h).to_owned(), resp.header(h).map(str::to_owned)))
        .collect()
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("hr="))
        .map(str::to_owned)
        .collect()
}

#[test]
fn captures_as_haproxy() {
    let both = Both::start("app", cfg);
    let gw_out = || both.gateway.out();
    for raw in REQUESTS {
        let theirs = exchange(both.hap_addr, raw);
        let ours = exchange(both.gw_addr, raw);
        assert_eq!(ours, theirs, "{}", String::from_utf8_lossy(raw));
    }
    let n = REQUESTS.len();
    let logged = wait_until(Duration::from_secs(10), || {
        lines(&both.haproxy.log()).len() >= n && lines(&gw_out()).len() >= n
    });
    assert!(
        logged,
        "haproxy:\n{}\ngateway:\n{}\n{}",
        both.haproxy.log(),
        gw_out(),
        both.gateway.log()
    );
    assert_eq!(lines(&gw_out()), lines(&both.haproxy.log()));
    // What the lines say, so that a change on both sides is seen.
    let first = &lines(&both.haproxy.log())[0];
    assert!(
        first.starts_with("hr={example.|curl/8|/a|abcde} hs={APP|app} "),
        "{first}"
    );
}
