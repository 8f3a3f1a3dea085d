//! SPOP over TLS, both sides (issue 18 §3): `spoe agent --tls-cert --tls-key --tls-client-ca`
//! serves TLS (mutual TLS with a client CA), and the engine reaches agents whose `server`
//! line in the agents' backend says `ssl [verify ...] [ca-file F] [crt F] [sni ...]`.
//!
//! Each case runs the same `haproxy.cfg` and `spoe.conf` through HAProxy 2.6 and through
//! `spoe gateway`, both towards our agent: the echoed variable when the handshake succeeds,
//! the same `set-on-error` value when it does not, and the failure visible where the one who
//! decides on it looks: the engine's log line naming the certificate's fault and its
//! `spoe_agent_connect_failures_total`, or the agent's log line and its
//! `spoa_connection_ends_total{end="tls_handshake"}`.
//!
//! Fails (never skips) when `haproxy` is missing.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests drive real processes on the wall clock"
)]

mod gateway_support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use gateway_support::{AgentProc, GatewayProc, Resp, get, local, metric_sum, wait_until};
use spoe_interop::Haproxy;
use spoe_interop::pki::TestPki;

/// spoe.conf: `txn.echo.s` = "hello" from the agent; errors in `txn.echo.err`. The processing
/// timeout bounds how long a request waits for an agent that cannot be reached.
fn spoe_conf() -> String {
    spoe_interop::echo_spoe_conf("s=str(hello)", "500ms", false)
}

/// haproxy.cfg: `/ret` answers with the echoed variable and the SPOE error as headers;
/// `/metrics` is the exporter; `server` is the agent's server line.
fn haproxy_cfg(port: u16, server: &str) -> String {
    format!(
        r#"global
    log stderr format short local0 warning
defaults
    mode http
    log global
    option dontlog-normal
    timeout connect 1s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:{port}
    filter spoe engine e config spoe.conf
    http-request use-service prometheus-exporter if {{ path /metrics }}
    http-request return status 200 hdr x-s "%[var(txn.echo.s)]" hdr x-err "%[var(txn.echo.err)]"
backend agents
    mode tcp
    {server}
"#
    )
}

/// What `/ret` answered: the echoed value and the SPOE error, when set.
type Echoed = (Option<String>, Option<String>);

/// `GET /ret` through a proxy, with the echoed value and the SPOE error.
fn echo(addr: SocketAddr) -> Echoed {
    let r: Resp = get(addr, "/ret", &[]).unwrap_or_else(|e| panic!("GET {addr}/ret: {e}"));
    assert_eq!(r.status, 200, "GET {addr}/ret");
    let value = |name| r.header(name).filter(|v| !v.is_empty()).map(str::to_owned);
    (value("x-s"), value("x-err"))
}

/// The gateway's metric `name` (summed over labels that contain `labels`).
fn gateway_metric(addr: SocketAddr, name: &str, labels: &str) -> f64 {
    let r = get(addr, "/metrics", &[]).unwrap_or_else(|e| panic!("GET /metrics: {e}"));
    metric_sum(&String::from_utf8_lossy(&r.body), name, labels)
}

/// The same configuration through HAProxy 2.6 and the gateway: (HAProxy's answer, the
/// gateway's answer, the gateway, its address).
fn both(server: &str) -> (Echoed, Echoed, GatewayProc, SocketAddr) {
    let files = [("spoe.conf", spoe_conf())];
    let files: Vec<(&str, &str)> = files.iter().map(|(n, c)| (*n, c.as_str())).collect();
    let (haproxy, hport) = Haproxy::start_on_port(|port| haproxy_cfg(port, server), &files);
    let theirs = echo(local(hport));
    drop(haproxy);
    let (gw, gaddr) = GatewayProc::start_on_port(|port| haproxy_cfg(port, server), &files);
    let ours = echo(gaddr);
    (theirs, ours, gw, gaddr)
}

fn agent(pki: &TestPki, cert: &str, client_ca: Option<&Path>) -> AgentProc {
    let cert = pki.path(cert).display().to_string();
    let mut args = vec!["--tls-cert".to_owned(), cert];
    if let Some(ca) = client_ca {
        args.extend(["--tls-client-ca".to_owned(), ca.display().to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    AgentProc::echo(&args)
}

fn pki() -> TestPki {
    let mut pki = TestPki::new();
    pki.server("agent.pem", &["agent.example"]);
    pki.expired_server("expired.pem", &["agent.example"]);
    pki.client("engine.pem", "engine one");
    pki
}

/// HAProxy 2.6 and the gateway reach our agent over TLS, verifying its certificate against
/// the CA and its name against the SNI, and presenting their client certificate to an agent
/// that requires one.
#[test]
fn haproxy_and_the_gateway_reach_our_agent_over_mutual_tls() {
    let pki = pki();
    let agent = agent(&pki, "agent.pem", Some(&pki.ca()));
    let dir = pki.dir().display();
    for settings in [
        format!("ssl verify required ca-file {dir}/ca.pem crt {dir}/engine.pem"),
        format!(
            "ssl verify required ca-file {dir}/ca.pem crt {dir}/engine.pem sni str(agent.example)"
        ),
    ] {
        let server = format!("server a {} {settings}", agent.addr);
        let (theirs, ours, gw, _) = both(&server);
        let hello = (Some("hello".to_owned()), None);
        assert_eq!(theirs, hello, "HAProxy 2.6, {settings}");
        assert_eq!(ours, hello, "the gateway, {settings}\n{}", gw.log());
    }
    assert_eq!(
        agent.metric("spoa_connection_ends_total", r#"end="tls_handshake""#),
        0.0,
        "no handshake failed\n{}",
        agent.log()
    );
}

/// Each certificate fault fails the agent's connections on both proxies alike (the same
/// `set-on-error` value), and says so on the side that refused.
#[test]
fn a_refused_handshake_is_visible_and_as_haproxy() {
    let pki = pki();
    let other = TestPki::new();
    let dir = pki.dir().display();
    let requiring = agent(&pki, "agent.pem", Some(&pki.ca()));
    let expired = agent(&pki, "expired.pem", None);
    // Its log's first line is the one this test reads (the agent's lines are rate-limited).
    let strict = agent(&pki, "agent.pem", Some(&pki.ca()));
    let cases = [
        (
            "a CA that did not sign the agent's certificate",
            format!(
                "server a {} ssl verify required ca-file {} crt {dir}/engine.pem",
                requiring.addr,
                other.ca().display()
            ),
            // Both test CAs have the same name: rustls finds the issuer by name, and its
            // signature does not match.
            "invalid peer certificate: BadSignature",
        ),
        (
            "an expired agent certificate",
            format!(
                "server a {} ssl verify required ca-file {dir}/ca.pem",
                expired.addr
            ),
            "invalid peer certificate: certificate expired",
        ),
        (
            "a name the agent's certificate does not carry",
            format!(
                "server a {} ssl verify required ca-file {dir}/ca.pem crt {dir}/engine.pem sni str(other.example)",
                requiring.addr
            ),
            "invalid peer certificate: certificate not valid for name",
        ),
        (
            "no client certificate for an agent that requires one",
            format!(
                "server a {} ssl verify required ca-file {dir}/ca.pem",
                strict.addr
            ),
            "",
        ),
    ];
    for (what, server, engine_says) in cases {
        let (theirs, ours, gw, gaddr) = both(&server);
        assert_eq!(theirs.0, None, "{what}: HAProxy 2.6 reached the agent");
        assert!(theirs.1.is_some(), "{what}: HAProxy 2.6 set no error");
        assert_eq!(ours, theirs, "{what}: the gateway\n{}", gw.log());
        assert!(
            gateway_metric(gaddr, "spoe_agent_connect_failures_total", "") >= 1.0,
            "{what}: counted"
        );
        if !engine_says.is_empty() {
            assert!(
                wait_until(Duration::from_secs(5), || gw.log().contains(engine_says)),
                "{what}: the gateway's log names the fault ({engine_says}):\n{}",
                gw.log()
            );
        }
    }
    // The agent refused the engines that came without a certificate, and said why.
    assert!(
        strict.metric("spoa_connection_ends_total", r#"end="tls_handshake""#) >= 2.0,
        "{}",
        strict.log()
    );
    let log = strict.log();
    assert!(
        log.contains("TLS handshake failed") && log.contains("peer sent no certificates"),
        "{log}"
    );
}
