//! Differential test of a dynamic `use_backend` name (`use_backend %[var(txn.be)]`): the same
//! `haproxy.cfg` run by HAProxy 2.6 and by `spoe gateway -f`. The name is built for each
//! request; a name that is an HTTP backend's routes there, any other sends the request to
//! `default_backend` (no later rule is tried). Fails (never skips) without `haproxy`.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock"
)]

mod gateway_support;

use gateway_support::{GatewayProc, get, local};
use spoe_interop::Haproxy;

fn haproxy_cfg(port: u16) -> String {
    format!(
        r#"defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:{port}
    http-request set-var(txn.be) req.hdr(x-be)
    use_backend be_%[var(txn.be),lower] if {{ var(txn.be) -m found }}
    use_backend be_b if {{ path /never-reached-after-a-dynamic-miss }}
    default_backend be_default
backend be_a
    http-request return status 200 content-type text/plain string a
backend be_b
    http-request return status 200 content-type text/plain string b
backend be_default
    http-request return status 200 content-type text/plain string default
"#
    )
}

#[test]
fn the_name_is_built_per_request_and_a_miss_goes_to_the_default() {
    let (haproxy, hap_port) = Haproxy::start_on_port(haproxy_cfg, &[]);
    let (gateway, gw_addr) = GatewayProc::start_on_port(haproxy_cfg, &[]);
    let cases: &[(Option<&str>, &str, &str)] = &[
        (Some("a"), "/", "a"),
        (Some("B"), "/", "b"),
        (None, "/", "default"),
        (Some("nosuch"), "/", "default"),
        (
            Some("nosuch"),
            "/never-reached-after-a-dynamic-miss",
            "default",
        ),
    ];
    for (be, path, expected) in cases {
        let headers: Vec<(&str, &str)> = be.iter().map(|b| ("x-be", *b)).collect();
        let hap = get(local(hap_port), path, &headers).unwrap();
        let gw = get(gw_addr, path, &headers).unwrap();
        let body = |r: &gateway_support::Resp| String::from_utf8_lossy(&r.body).into_owned();
        assert_eq!(
            (gw.status, body(&gw)),
            (hap.status, body(&hap)),
            "x-be {be:?} {path}\n{}\n{}",
            gateway.log(),
            haproxy.log()
        );
        assert_eq!(body(&gw), *expected, "x-be {be:?} {path}");
    }
}
