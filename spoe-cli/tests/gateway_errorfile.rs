//! Differential test of `errorfile`: the same `haproxy.cfg` and error files run by HAProxy 2.6
//! and by `spoe gateway -f`. A page the proxy answers itself (a `deny`, no server) is the
//! file's response, status line, headers and body, in place of HAProxy's own page: the
//! backend's file once the request has a backend (even one it inherited from `defaults` over
//! the frontend's own), else the frontend's; a status without a file keeps HAProxy's page. Fails (never skips)
//! without `haproxy`.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock"
)]

mod gateway_support;

use std::net::SocketAddr;

use gateway_support::{Both, RefusedPort, Resp, get};

const FILES: &[(&str, &str)] = &[
    (
        "403.http",
        "HTTP/1.0 403 Forbidden\r\nCache-Control: no-cache\r\nConnection: close\r\n\
         Content-Type: text/html\r\n\r\n<html><body><h1>403 custom</h1>\nGo away.\n</body></html>\n",
    ),
    (
        "503.http",
        "HTTP/1.0 503 Service Unavailable\nCache-Control: no-cache\nConnection: close\n\
         Content-Type: text/html\n\n<html><body><h1>503 from defaults</h1></body></html>\n",
    ),
    (
        "frontend-503.http",
        "HTTP/1.1 503 Frontend Says No\r\nContent-Type: text/plain\r\nX-Page: frontend\r\n\r\nfrontend\n",
    ),
    (
        "backend-503.http",
        "HTTP/1.1 503 Backend Down\r\nContent-Type: text/plain\r\nX-Page: backend\r\n\
         Content-Length: 13\r\n\r\nbackend down\n",
    ),
];

fn haproxy_cfg(port: u16, dead: SocketAddr) -> String {
    format!(
        r#"defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    # No retry: HAProxy would wait a second before each retry to the refused server.
    retries 0
    errorfile 403 403.http
    errorfile 503 503.http
frontend fe
    bind 127.0.0.1:{port}
    errorfile 503 frontend-503.http
    http-request deny if {{ path /deny }}
    http-request deny deny_status 429 if {{ path /many }}
    http-request deny deny_status 503 if {{ path /fe503 }}
    use_backend custom if {{ path_beg /custom }}
    default_backend down
backend down
    server s1 {dead}
backend custom
    errorfile 503 backend-503.http
    server s1 {dead}
"#
    )
}

/// What the client sees: status, the headers the files have, the body.
fn seen(r: &Resp) -> (u16, Vec<Option<String>>, String) {
    r.seen(&["content-type", "cache-control", "x-page"])
}

#[test]
fn pages_come_from_the_files_as_haproxy_sends_them() {
    let dead = RefusedPort::new();
    let both = Both::start_on(|port| haproxy_cfg(port, dead.addr()), FILES);
    for path in ["/deny", "/many", "/fe503", "/", "/custom/x"] {
        let hap = get(both.hap_addr, path, &[]).unwrap_or_else(|e| panic!("{path}: {e}"));
        let gw = get(both.gw_addr, path, &[]).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(
            seen(&gw),
            seen(&hap),
            "{path}: gateway vs HAProxy\n{}\n{}",
            both.gateway.log(),
            both.haproxy.log()
        );
    }
    // The files were used, not HAProxy's pages (which both would also agree on).
    let custom = get(both.gw_addr, "/custom/x", &[]).unwrap();
    assert_eq!(String::from_utf8_lossy(&custom.body), "backend down\n");
    let deny = get(both.gw_addr, "/deny", &[]).unwrap();
    assert!(String::from_utf8_lossy(&deny.body).contains("403 custom"));
}

#[test]
fn a_file_haproxy_refuses_is_refused() {
    for (line, file, expected) in [
        (
            "errorfile 418 403.http",
            None,
            "status code '418' not handled.",
        ),
        (
            "errorfile 403 nowhere.http",
            None,
            "error opening file 'nowhere.http'.",
        ),
        (
            "errorfile 403 bad.http",
            Some("HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\n\r\nab"),
            "payload size does not match the announced content-length",
        ),
    ] {
        let mut files = FILES.to_vec();
        if let Some(text) = file {
            files.push(("bad.http", text));
        }
        let cfg = format!(
            "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    \
             timeout server 1s\nfrontend fe\n    bind 127.0.0.1:1\n    {line}\n    \
             http-request return status 200\n"
        );
        let (hap_ok, hap_out) = spoe_interop::haproxy_check_with_files(&cfg, &files);
        assert!(!hap_ok, "{line}: haproxy accepted it");
        assert!(hap_out.contains(expected), "{line}: {hap_out}");
        let (code, text) = gateway_support::spoe_check_with_files(&cfg, &files);
        assert_eq!(code, Some(1), "{line}: {text}");
        assert!(text.contains(expected), "{line}: {text}");
    }
}
