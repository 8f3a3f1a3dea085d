//! Differential test of the `http-request`, `http-response` and `http-after-response` actions:
//! the same `haproxy.cfg` run by HAProxy 2.6 and by `spoe gateway -f`, the same requests sent to
//! both; what the client gets (status, headers, body) and what the server gets (request line,
//! headers) must be the same. Covers `deny` in its forms (error page, `deny_status`, `status`,
//! `hdr`, `content-type` + `string`; 502 by default on a response), `silent-drop` on both
//! sides, `redirect scheme|prefix|location` with `code`, `drop-query`, `append-slash`,
//! `allow`, `set-path|query|uri|method`, `replace-path`, `replace-header`, `replace-value`,
//! `set-status`, `http-response return`, the proxy keyword `redirect` (after the rules, its
//! target literal) and `http-after-response` on the server's and the proxy's own answers. Fails (never skips) without `haproxy`.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock"
)]

mod gateway_support;

use std::io::Read;
use std::net::SocketAddr;
use std::time::Duration;

use gateway_support::{Backend, Both, Conn};

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
    http-request deny deny_status 403 hdr waf-block "request" if {{ path_beg /deny-hdr }}
    http-request deny status 200 if {{ path_beg /deny-empty }}
    http-request deny deny_status 429 if {{ path_beg /deny-429 }}
    http-request deny if {{ path_beg /deny-plain }}
    http-request deny deny_status 418 content-type text/plain string "teapot" hdr x-why "%[path]" if {{ path_beg /deny-body }}
    http-request silent-drop if {{ path_beg /drop }}
    http-request redirect scheme https code 301 if {{ path_beg /scheme }}
    http-request redirect scheme https drop-query append-slash if {{ path_beg /slash }}
    http-request redirect prefix /new drop-query code 308 if {{ path_beg /prefix }}
    http-request redirect location /to-%[path,regsub(^/,)] if {{ path_beg /loc }}
    http-request set-var(txn.p) path
    http-request allow if {{ path_beg /allowed }}
    http-request set-header x-after-allow 1
    http-request replace-path /api(/?(.*)) /\2 if {{ path_beg /api }}
    http-request set-path /set%[path] if {{ path_beg /sp }}
    http-request set-query q=%[query] if {{ path_beg /sq }}
    http-request set-method PUT if {{ path_beg /put }}
    http-request set-uri /uri%[pathq] if {{ path_beg /su }}
    http-request replace-header x-in ^a(.*) b\1
    http-request replace-value x-list ^(.)=(.*) \2=\1
    http-response deny deny_status 403 hdr waf-block "response" if {{ var(txn.p) -m beg /rdeny-hdr }}
    http-response deny if {{ var(txn.p) -m beg /rdeny-plain }}
    http-response redirect location /moved code 303 if {{ var(txn.p) -m beg /rredir }}
    http-response silent-drop if {{ var(txn.p) -m beg /rdrop }}
    http-response set-status 201 if {{ var(txn.p) -m beg /status }}
    http-response return status 202 content-type text/plain string "replaced" if {{ var(txn.p) -m beg /rreturn }}
    http-response replace-header x-backend (.*) be-\1
    http-response replace-value echo-x-list ^(.*)$ [\1]
    http-response del-header x-drop
    redirect scheme https code 301 if {{ path_beg /kw-scheme }}
    redirect location /lit-%[path] if {{ path_beg /allowed/kw }}
    http-after-response set-header x-after "%[var(txn.p)]"
    http-after-response add-header x-after-add 1 if {{ var(txn.p) -m beg /rdeny }}
    http-after-response replace-header location ^/(.*) /after-\1
    default_backend app
backend app
    http-after-response set-header x-be-after 1
    server s1 {server}
"#
    )
}

/// The headers compared (the others are each proxy's own: `date`, `connection`...).
const HEADERS: &[&str] = &[
    "location",
    "content-type",
    "content-length",
    "waf-block",
    "x-why",
    "x-after",
    "x-after-add",
    "x-be-after",
    "x-backend",
    "x-drop",
    "echo-x-in",
    "echo-x-list",
    "echo-x-after-allow",
];

/// A client's answer: status, the compared headers in order, body.
type Answer = (u16, Vec<(String, String)>, String);

/// What one request gave: the client's answer (status, headers, body), or `None` when the
/// connection ended without one; and the request line and `x-` headers the server saw.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    answer: Option<Answer>,
    server_saw: Option<String>,
}

fn send(addr: SocketAddr, backend: &Backend, method: &str, target: &str) -> Outcome {
    let before = backend.seen().len();
    let mut conn = Conn::connect(addr).expect("connect");
    let headers = [
        ("x-in", "abc"),
        ("x-list", "a=1, b=2"),
        ("connection", "close"),
    ];
    // A dropped connection may stay silent (HAProxy in TCP repair mode) or be reset: no
    // answer either way, within a bound.
    conn.stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let answer = conn.request(method, target, &headers, b"").ok().map(|r| {
        let hs = HEADERS
            .iter()
            .flat_map(|n| {
                r.headers
                    .iter()
                    .filter(move |(k, _)| k == n)
                    .map(|(k, v)| (k.clone(), v.clone()))
            })
            .collect();
        (r.status, hs, String::from_utf8_lossy(&r.body).into_owned())
    });
    if answer.is_none() {
        let mut rest = Vec::new();
        let _ = conn.stream.read_to_end(&mut rest);
        assert!(rest.is_empty(), "{target}: partial answer {rest:?}");
    }
    let seen = backend.seen();
    let server_saw = seen.get(before).map(|s| {
        let mut lines = s.head.lines();
        let mut out = lines.next().unwrap_or_default().to_owned();
        let mut xs: Vec<&str> = lines.filter(|l| l.starts_with("x-")).collect();
        xs.sort_unstable();
        for x in xs {
            out.push('|');
            out.push_str(x);
        }
        out
    });
    Outcome { answer, server_saw }
}

const REQUESTS: &[(&str, &str)] = &[
    ("GET", "/plain?x=1"),
    ("GET", "/deny-hdr"),
    ("GET", "/deny-empty"),
    ("GET", "/deny-429"),
    ("GET", "/deny-plain"),
    ("GET", "/deny-body/x"),
    ("GET", "/drop"),
    ("GET", "/scheme/a?b=1"),
    ("GET", "/slash/a?b=1"),
    ("GET", "/prefix/a?b=1"),
    ("GET", "/loc/x"),
    ("GET", "/allowed/x"),
    ("GET", "/allowed/kw"),
    ("GET", "/kw-scheme/a?b"),
    ("GET", "/api/v1/users?id=2"),
    ("GET", "/api"),
    ("GET", "/sp/x?k=v"),
    ("GET", "/sq/x?k=v"),
    ("GET", "/sq/x"),
    ("GET", "/put/x"),
    ("GET", "/su/x?y"),
    ("GET", "/rdeny-hdr"),
    ("GET", "/rdeny-plain"),
    ("GET", "/rredir"),
    ("GET", "/rdrop"),
    ("GET", "/status"),
    ("GET", "/rreturn"),
];

#[test]
fn actions_answer_and_rewrite_as_haproxy() {
    let both = Both::start("app", haproxy_cfg);
    let (hap_all, differ) = both.compare(REQUESTS, |addr, backend, (method, target)| {
        send(addr, backend, method, target)
    });
    assert!(
        differ.is_empty(),
        "{}\n--- gateway stderr:\n{}",
        differ.join("\n"),
        both.gateway.log()
    );
    // Each request's access line: the same backend/server, status and termination state.
    let gw_out = || both.gateway.out();
    let requests: Vec<String> = REQUESTS.iter().map(|(m, t)| format!("{m} {t}")).collect();
    gateway_support::access::assert_same_fields(
        || both.haproxy.log(),
        gw_out,
        &requests,
        &[3, 5, 9],
    );
    // Not vacuous: what HAProxy did is what each rule says.
    let by = |t: &str| {
        let i = REQUESTS.iter().position(|(_, x)| *x == t).unwrap();
        &hap_all[i]
    };
    let status = |t: &str| by(t).answer.as_ref().map(|a| a.0);
    assert_eq!(status("/plain?x=1"), Some(200));
    assert_eq!(status("/deny-hdr"), Some(403));
    assert_eq!(status("/deny-empty"), Some(200));
    assert_eq!(status("/deny-429"), Some(429));
    assert_eq!(status("/deny-body/x"), Some(418));
    assert_eq!(by("/deny-body/x").answer.as_ref().unwrap().2, "teapot");
    assert_eq!(by("/drop").answer, None);
    assert_eq!(by("/drop").server_saw, None);
    assert_eq!(status("/scheme/a?b=1"), Some(301));
    assert_eq!(status("/rdeny-plain"), Some(502));
    assert_eq!(status("/kw-scheme/a?b"), Some(301));
    let location = |t: &str| {
        let a = by(t).answer.as_ref().unwrap();
        a.1.iter()
            .find(|(k, _)| k == "location")
            .map(|(_, v)| v.clone())
    };
    // The proxy keyword's target is literal, and runs after an `allow`.
    assert_eq!(
        location("/allowed/kw").as_deref(),
        Some("/after-lit-%[path]")
    );
    assert_eq!(by("/rdrop").answer, None);
    assert!(by("/rdrop").server_saw.is_some());
    assert_eq!(status("/status"), Some(201));
    assert_eq!(status("/rreturn"), Some(202));
    assert!(
        by("/api/v1/users?id=2")
            .server_saw
            .as_deref()
            .unwrap()
            .starts_with("GET /v1/users?id=2 ")
    );
}
