//! Differential test of the sample fetches real SPOE configurations send to their agents
//! (`pathq`, `url_ip`, `url_port`, `base32`, `base32+src`, `url32`, `url32+src`,
//! `req.hdr_names`, `fe_name`): the same `haproxy.cfg` run by HAProxy 2.6 and by
//! `spoe gateway -f`, the same raw requests, the same values in the response headers
//! (and, through an SPOE agent, the same typed values). Fails (never skips) without `haproxy`.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock"
)]

mod gateway_support;

use std::net::SocketAddr;

use gateway_support::{AgentProc, Both, Conn, Resp, echo_message_conf};

/// The agent echoes the message's arguments as `txn.echo.*` variables, with their SPOP types.
fn spoe_conf() -> String {
    echo_message_conf(
        "fetches",
        "ip=url_ip port=url_port b32=base32 b32s=base32+src u32s=url32+src pq=pathq fe=fe_name",
    )
}

fn haproxy_cfg(port: u16, agent: SocketAddr) -> String {
    format!(
        r#"defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
frontend fe_fetch
    bind 127.0.0.1:{port}
    filter spoe engine e config spoe.conf
    http-request set-var(txn.typed) str(ipv4) if {{ var(txn.echo.ip) -m ip 192.0.2.0/24 }}
    http-request return status 200 hdr x-direct "pathq=%[pathq] url_ip=%[url_ip] url_port=%[url_port] base32=%[base32] base32+src=%[base32+src,hex] url32=%[url32] url32+src=%[url32+src,hex] fe_name=%[fe_name]" hdr x-names "%[req.hdr_names]" hdr x-names-semi "%[req.hdr_names(;)]" hdr x-agent "ip=%[var(txn.echo.ip)] port=%[var(txn.echo.port)] b32=%[var(txn.echo.b32)] b32s=%[var(txn.echo.b32s),hex] u32s=%[var(txn.echo.u32s),hex] pq=%[var(txn.echo.pq)] fe=%[var(txn.echo.fe)] typed=%[var(txn.typed)]"
backend agents
    mode tcp
    server a {agent}
"#
    )
}

/// Raw requests: origin and absolute forms, a name where an address is expected, ports, no
/// `Host`, a `Host` with bytes from 0x80 (a C `char` is signed: the hashes must agree).
const REQUESTS: &[(&str, &[u8])] = &[
    (
        "origin form",
        b"GET /a/b?c=d&e HTTP/1.1\r\nhost: example.test\r\nx-one: 1\r\nuser-agent: t\r\n\r\n",
    ),
    (
        "absolute form with an IPv4 address and a port",
        b"GET http://192.0.2.9:8081/p?q=1 HTTP/1.1\r\nhost: 192.0.2.9:8081\r\n\r\n",
    ),
    (
        "absolute form, no port",
        b"GET http://192.0.2.10/ HTTP/1.1\r\nhost: 192.0.2.10\r\n\r\n",
    ),
    (
        "absolute form, https scheme",
        b"GET https://192.0.2.11/x HTTP/1.1\r\nhost: 192.0.2.11\r\n\r\n",
    ),
    (
        "absolute form with a name: no url_ip",
        b"GET http://example.test:81/n HTTP/1.1\r\nhost: example.test:81\r\n\r\n",
    ),
    (
        "absolute form with an IPv6 address: no url_ip",
        b"GET http://[2001:db8::1]:8080/six HTTP/1.1\r\nhost: [2001:db8::1]:8080\r\n\r\n",
    ),
    (
        "host with bytes from 0x80",
        b"GET /cafe-free HTTP/1.1\r\nhost: caf\xc3\xa9.test\r\n\r\n",
    ),
    ("HTTP/1.0 without host", b"GET /no-host HTTP/1.0\r\n\r\n"),
];

fn send(addr: SocketAddr, raw: &[u8]) -> Resp {
    let mut conn = Conn::connect(addr).expect("connect");
    conn.send_raw(raw).expect("send");
    conn.read_response().expect("response")
}

/// The `x-*` headers, sorted: what both must agree on.
fn values(resp: &Resp) -> Vec<(String, String)> {
    let mut v: Vec<_> = resp
        .headers
        .iter()
        .filter(|(n, _)| n.starts_with("x-"))
        .cloned()
        .collect();
    v.sort();
    v
}

#[test]
fn fetches_agree_with_haproxy() {
    let agent = AgentProc::echo(&[]);
    let both = Both::start_on(
        |port| haproxy_cfg(port, agent.addr),
        &[("spoe.conf", &spoe_conf())],
    );
    let mut diffs = Vec::new();
    for (name, raw) in REQUESTS {
        let hap = send(both.hap_addr, raw);
        let gw = send(both.gw_addr, raw);
        assert_eq!(hap.status, 200, "{name}: haproxy answered {hap:?}");
        if (gw.status, values(&gw)) != (hap.status, values(&hap)) {
            diffs.push(format!(
                "{name}:\n  haproxy {} {:?}\n  gateway {} {:?}",
                hap.status,
                values(&hap),
                gw.status,
                values(&gw)
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "{}\n--- gateway:\n{}\n--- haproxy:\n{}",
        diffs.join("\n"),
        both.gateway.log(),
        both.haproxy.log()
    );
    // The corpus is not vacuous: the values are there, typed (an IPv4 address to the agent).
    let hap = send(both.hap_addr, REQUESTS[1].1);
    let direct = hap.header("x-direct").unwrap_or_default();
    assert!(
        direct.contains("url_ip=192.0.2.9 url_port=8081"),
        "{direct}"
    );
    assert!(direct.contains("fe_name=fe_fetch"), "{direct}");
    let agent_seen = hap.header("x-agent").unwrap_or_default();
    assert!(
        agent_seen.contains("ip=192.0.2.9 port=8081"),
        "{agent_seen}"
    );
    assert!(agent_seen.ends_with("typed=ipv4"), "{agent_seen}");
}
