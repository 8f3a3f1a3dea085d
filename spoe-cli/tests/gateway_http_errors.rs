//! Differential test of `http-errors` sections, `errorfiles`, `http-error` and the payloads of
//! http replies (`return`/`deny` with `errorfile`, `errorfiles`, `default-errorfiles`, `file`,
//! `lf-file`): the same `haproxy.cfg` and files run by HAProxy 2.6 and by `spoe gateway -f`,
//! the same requests, the same status, headers and body. And the same refusals at `spoe
//! check` as at `haproxy -c`. Fails (never skips) without `haproxy`.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock"
)]

mod gateway_support;

use std::net::SocketAddr;

use gateway_support::{Backend, Both, RefusedPort, Resp, get};

const FILES: &[(&str, &str)] = &[
    (
        "site-503.http",
        "HTTP/1.1 503 Site Down\r\nContent-Type: text/plain\r\nX-Page: site-503\r\n\r\nsite down\n",
    ),
    (
        "site-404.http",
        "HTTP/1.1 404 Not Here\r\nContent-Type: text/plain\r\nX-Page: site-404\r\n\
         Content-Length: 9\r\n\r\nnot here\n",
    ),
    (
        "site-403.http",
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nX-Page: site-403\r\n\r\nsite 403\n",
    ),
    (
        "other-403.http",
        "HTTP/1.0 403 Forbidden\nContent-Type: text/html\nX-Page: other-403\n\n<p>other</p>\n",
    ),
    (
        "ok.http",
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Page: ok-file\r\n\r\nall good\n",
    ),
    ("body.txt", "a raw payload\n"),
    ("lf.txt", "path=%[path] method=%[method]\n"),
    (
        "lf-res.txt",
        "status=%[status] type=%[res.hdr(content-type)]\n",
    ),
];

fn haproxy_cfg(port: u16, dead: SocketAddr, live: SocketAddr) -> String {
    format!(
        r#"defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    # No retry: HAProxy would wait a second before each retry to the refused server.
    retries 0
    errorfiles site
frontend fe
    bind 127.0.0.1:{port}
    errorfiles other 403
    http-error status 429 content-type text/plain string "slow down" hdr X-Page http-error
    http-error status 400
    http-request deny if {{ path /deny }}
    http-request deny deny_status 429 if {{ path /many }}
    http-request deny deny_status 400 if {{ path /bad }}
    http-request return status 404 default-errorfiles if {{ path /nf }}
    http-request return status 403 errorfiles site if {{ path /section }}
    http-request return status 500 errorfiles site if {{ path /undeclared }}
    http-request return errorfile ok.http if {{ path /errorfile }}
    http-request return status 201 content-type text/plain file body.txt hdr X-Page file if {{ path /file }}
    http-request return content-type text/plain lf-file lf.txt if {{ path /lf }}
    http-request tarpit deny_status 503 errorfiles site if {{ path /tarpit }}
    use_backend be2 if {{ path_beg /be2 }}
    use_backend live if {{ path_beg /live }}
    default_backend down
backend down
    server s1 {dead}
backend be2
    http-error status 503 content-type text/plain string "be2 down"
    server s1 {dead}
backend live
    http-response return status 503 errorfiles site if {{ res.hdr(echo-x-want) section }}
    http-response return status 202 content-type text/plain lf-file lf-res.txt if {{ res.hdr(echo-x-want) lf }}
    http-response deny deny_status 404 default-errorfiles if {{ res.hdr(echo-x-want) deny }}
    server s1 {live}
http-errors site
    errorfile 503 site-503.http
    errorfile 404 site-404.http
    errorfile 403 site-403.http
http-errors other
    errorfile 403 other-403.http
"#
    )
}

/// What the client sees: status, the headers the pages have, the body.
fn seen(r: &Resp) -> (u16, Vec<Option<String>>, String) {
    r.seen(&["content-type", "x-page"])
}

#[test]
fn pages_and_payloads_are_haproxys() {
    let dead = RefusedPort::new();
    let live = Backend::start("live");
    let cfg = |port| haproxy_cfg(port, dead.addr(), live.addr);
    let both = Both::start_on(cfg, FILES);
    let requests = [
        ("/deny", ""),
        ("/many", ""),
        ("/bad", ""),
        ("/nf", ""),
        ("/section", ""),
        ("/undeclared", ""),
        ("/errorfile", ""),
        ("/file", ""),
        ("/lf", ""),
        ("/", ""),
        ("/be2", ""),
        ("/live", "section"),
        ("/live", "lf"),
        ("/live", "deny"),
        ("/live", "other"),
    ];
    for (path, want) in requests {
        let headers = [("x-want", want)];
        let headers = if want.is_empty() {
            &[][..]
        } else {
            &headers[..]
        };
        let hap = get(both.hap_addr, path, headers).unwrap_or_else(|e| panic!("{path}: {e}"));
        let gw = get(both.gw_addr, path, headers).unwrap_or_else(|e| panic!("{path} {want}: {e}"));
        assert_eq!(
            seen(&gw),
            seen(&hap),
            "{path} {want}: gateway vs HAProxy\n{}\n{}",
            both.gateway.log(),
            both.haproxy.log()
        );
    }
    // The pages came from the files and lines (both would also agree on HAProxy's own).
    let expect = [
        ("/deny", "<p>other</p>\n"),
        ("/many", "slow down"),
        ("/nf", "not here\n"),
        ("/section", "site 403\n"),
        ("/errorfile", "all good\n"),
        ("/file", "a raw payload\n"),
        ("/lf", "path=/lf method=GET\n"),
        ("/", "site down\n"),
        ("/be2", "be2 down"),
    ];
    for (path, body) in expect {
        let r = get(both.gw_addr, path, &[]).unwrap();
        assert_eq!(String::from_utf8_lossy(&r.body), body, "{path}");
    }
    for (want, body) in [
        ("section", "site down\n"),
        // HAProxy drops the server's response before it builds the reply: its fetches
        // are empty there.
        ("lf", "status= type=\n"),
        ("deny", "not here\n"),
    ] {
        let r = get(both.gw_addr, "/live", &[("x-want", want)]).unwrap();
        assert_eq!(String::from_utf8_lossy(&r.body), body, "{want}");
    }
}

#[test]
fn what_haproxy_refuses_is_refused_at_the_same_line() {
    let big = "x".repeat(20_000);
    let cases: &[(&str, &str)] = &[
        (
            "errorfiles nowhere",
            "unknown http-errors section 'nowhere'",
        ),
        (
            "errorfiles site 418",
            "errorfiles : status code '418' not handled.",
        ),
        (
            "http-request return status 403 errorfiles nowhere",
            "unknown http-errors section 'nowhere' referenced by an http reply",
        ),
        (
            "http-request return content-type text/plain file big.txt",
            "file 'big.txt' exceeds the buffer size (20000 > 16384)",
        ),
        (
            "http-request return file body.txt",
            "a content type must be defined when non-empty payload is configured",
        ),
        (
            "http-request return status 418 default-errorfiles",
            "status code '418' not handled by default with 'default-errorfiles' argument",
        ),
        (
            "http-error status 418 content-type text/plain string x",
            "http-error: status code '418' not handled.",
        ),
        (
            "http-error status 503 foo",
            "http-error : unknown keyword 'foo'.",
        ),
        (
            "http-error content-type text/plain string x",
            "expects at least a <status> as arguments",
        ),
    ];
    let mut files = FILES.to_vec();
    files.push(("big.txt", &big));
    for (line, expected) in cases {
        let cfg = format!(
            "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    \
             timeout server 1s\nfrontend fe\n    bind 127.0.0.1:1\n    {line}\n    \
             http-request return status 200\nhttp-errors site\n    errorfile 503 site-503.http\n"
        );
        let (hap_ok, hap_out) = spoe_interop::haproxy_check_with_files(&cfg, &files);
        assert!(!hap_ok, "{line}: haproxy accepted it");
        assert!(hap_out.contains(expected), "{line}: {hap_out}");
        let (code, text) = gateway_support::spoe_check_with_files(&cfg, &files);
        assert_eq!(code, Some(1), "{line}: {text}");
        assert!(text.contains(expected), "{line}: {text}");
        assert!(text.contains("haproxy.cfg:8:"), "{line}: {text}");
    }
}
