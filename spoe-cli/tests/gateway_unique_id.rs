//! Differential test of `unique-id-format` and `unique-id-header`: the same `haproxy.cfg` run
//! by HAProxy 2.6 and by `spoe gateway -f`. The ID is built once per request from the
//! frontend's format (inherited from `defaults`), is what the `unique-id` fetch and an SPOE
//! message read, and reaches the server in the named header after every request rule; a
//! header without a format sends nothing. With `%[uuid()]` (what SPOE agents' examples use)
//! the values are random: both must give one version 4 UUID per request, the same in each
//! place. Fails (never skips) without `haproxy`.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock"
)]

mod gateway_support;

use std::net::SocketAddr;

use gateway_support::{AgentProc, Backend, Both, Resp, echo_message_conf, get};

fn spoe_conf() -> String {
    echo_message_conf("ids", "id=unique-id")
}

/// `format` is the `defaults` section's `unique-id-format`; the `plain` frontend has a
/// header and no format.
fn haproxy_cfg(port: u16, format: &str, agent: SocketAddr, server: SocketAddr) -> String {
    format!(
        r#"defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    unique-id-format {format}
    unique-id-header X-Unique-ID
frontend fe
    bind 127.0.0.1:{port}
    filter spoe engine e config spoe.conf
    http-request set-header x-seen-by-rules "%[req.hdr(x-unique-id)]"
    http-response set-header x-id "%[unique-id]"
    http-response set-header x-agent-id "%[var(txn.echo.id)]"
    default_backend app
backend app
    server s1 {server}
backend agents
    mode tcp
    server a {agent}
"#
    )
}

/// The headers both must agree on.
fn ids(r: &Resp) -> [Option<String>; 4] {
    [
        "x-id",
        "x-agent-id",
        "echo-x-unique-id",
        "echo-x-seen-by-rules",
    ]
    .map(|n| r.header(n).map(str::to_owned))
}

#[test]
fn a_deterministic_format_gives_the_same_ids() {
    let agent = AgentProc::echo(&[]);
    let server = Backend::start("app");
    let format = r#""%[req.hdr(x-req)]-%[path]""#;
    let cfg = |port| haproxy_cfg(port, format, agent.addr, server.addr);
    let both = Both::start_on(cfg, &[("spoe.conf", &spoe_conf())]);
    for (path, headers) in [
        ("/a", &[("x-req", "r1")][..]),
        (
            "/b/c?q=1",
            &[("x-req", "r2"), ("x-unique-id", "from-client")][..],
        ),
        ("/none", &[][..]),
    ] {
        let hap = get(both.hap_addr, path, headers).expect("haproxy");
        let gw = get(both.gw_addr, path, headers).expect("gateway");
        assert_eq!(
            ids(&gw),
            ids(&hap),
            "{path}\n--- gateway:\n{}\n--- haproxy:\n{}",
            both.gateway.log(),
            both.haproxy.log()
        );
    }
    // Not vacuous: the rules see the client's header only; the server gets the ID after it.
    let hap = get(both.hap_addr, "/b", &[("x-req", "r"), ("x-unique-id", "c")]).unwrap();
    assert_eq!(hap.header("x-id"), Some("r-/b"));
    assert_eq!(hap.header("x-agent-id"), Some("r-/b"));
    assert_eq!(hap.header("echo-x-seen-by-rules"), Some("c"));
}

fn is_uuid_v4(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() == 36
        && [8, 13, 18, 23].iter().all(|&i| b[i] == b'-')
        && b[14] == b'4'
        && matches!(b[19], b'8' | b'9' | b'a' | b'b')
        && s.chars()
            .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c))
}

#[test]
fn uuid_ids_are_one_per_request_and_the_same_everywhere() {
    let agent = AgentProc::echo(&[]);
    let server = Backend::start("app");
    let cfg = |port| haproxy_cfg(port, "%[uuid()]", agent.addr, server.addr);
    let both = Both::start_on(cfg, &[("spoe.conf", &spoe_conf())]);
    for (addr, _) in both.sides() {
        let first = get(addr, "/", &[]).expect("response");
        let second = get(addr, "/", &[]).expect("response");
        for r in [&first, &second] {
            let [id, agent_id, sent, _] = ids(r);
            let id = id.expect("x-id");
            assert!(is_uuid_v4(&id), "{addr}: {id}");
            assert_eq!(agent_id.as_deref(), Some(id.as_str()), "{addr}");
            assert_eq!(sent.as_deref(), Some(id.as_str()), "{addr}");
        }
        assert_ne!(first.header("x-id"), second.header("x-id"), "{addr}");
    }
}
