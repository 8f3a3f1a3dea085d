//! `SpoeLayer` reaching an agent behind TLS with `AgentTls` (HAProxy's
//! `server ... ssl verify required ca-file`): `spoe agent --example echo` behind HAProxy 2.6
//! terminating TLS in `mode tcp` with a certificate a test CA signed. The verdict comes back
//! through TLS; a CA that did not sign the agent's certificate, or a name it does not carry,
//! fails the connection, and the failure variable says so (never a silent plain-text
//! fallback).

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real processes on the wall clock"
)]

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use spoe::ProcessStatus;
use spoe_http::{AgentTls, SpoeLayer};
use spoe_interop::Haproxy;
use spoe_interop::pki::TestPki;
use support::{BOT, HUMAN, echo_conf, spoe_agent};

mod support;

/// HAProxy terminating TLS for `agent` with `cert` (chain and key in one PEM file).
async fn tls_front(cert: std::path::PathBuf, agent: String) -> (Haproxy, SocketAddr) {
    let (haproxy, port) = tokio::task::spawn_blocking(move || {
        Haproxy::start_on_port(
            |port| {
                format!(
                    "\
defaults
    mode tcp
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend agents_tls
    bind 127.0.0.1:{port} ssl crt {}
    default_backend agent
backend agent
    server a {agent}
",
                    cert.display()
                )
            },
            &[],
        )
    })
    .await
    .expect("start HAProxy");
    (haproxy, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// A fail-open layer on `echo_conf` whose messages wait at most `processing`.
fn layer(agent: SocketAddr, tls: AgentTls, processing: &str) -> SpoeLayer {
    SpoeLayer::builder()
        .config_str(&echo_conf(processing, "1", false), "spoe.conf", Some("bot"))
        .agent(spoe::Addr::Tcp(agent))
        .connector(Arc::new(tls))
        .fail_open()
        .var_names(["txn.bot.bot", "txn.bot.gen"])
        .build()
        .expect("layer")
}

fn head(ua: &str) -> http::request::Parts {
    http::Request::get("/")
        .header("user-agent", ua)
        .body(())
        .expect("request")
        .into_parts()
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_reaches_an_agent_behind_tls_and_refuses_a_certificate_it_cannot_verify() {
    let mut pki = TestPki::new();
    let cert = pki.server("agent.pem", &["agent.spoe.test", "127.0.0.1"]);
    let (agent, _metrics) = spoe_agent(&[]);
    let (_haproxy, front) = tls_front(cert, agent.found.clone()).await;

    // Verified for the agent's IP address (the default), then for a DNS name it carries.
    let by_ip = layer(front, AgentTls::with_ca_file(pki.ca()).expect("ca"), "5s");
    let by_name = layer(
        front,
        AgentTls::with_ca_file(pki.ca())
            .expect("ca")
            .server_name("agent.spoe.test")
            .expect("name"),
        "5s",
    );
    for spoe in [&by_ip, &by_name] {
        let bot = spoe
            .request(&head(BOT), None, Bytes::new())
            .await
            .expect("fail open lets the request through");
        assert_eq!(bot.failure(), None, "the agent answered through TLS");
        assert_eq!(bot.get::<bool>("txn.bot.bot"), Some(true));
        assert_eq!(bot.get::<String>("txn.bot.gen").as_deref(), Some("1"));
        let human = spoe
            .request(&head(HUMAN), None, Bytes::new())
            .await
            .expect("request");
        assert_eq!(human.failure(), None);
        assert_eq!(human.get::<bool>("txn.bot.bot"), None);
    }

    // Another CA, or a name the certificate does not carry: no connection, the failure and
    // the set-on-error variable say so, and no verdict arrives.
    let other_ca = TestPki::new();
    let refused = [
        AgentTls::with_ca_file(other_ca.ca()).expect("ca"),
        AgentTls::with_ca_file(pki.ca())
            .expect("ca")
            .server_name("elsewhere.spoe.test")
            .expect("name"),
    ];
    for tls in refused {
        let what = format!("{tls:?}");
        let spoe = layer(front, tls, "300ms");
        let vars = spoe
            .request(&head(BOT), None, Bytes::new())
            .await
            .expect("fail open");
        let failure = vars.failure();
        assert!(
            failure.is_some_and(|s| s != ProcessStatus::OK),
            "{what}: the failure is visible, got {failure:?}"
        );
        assert!(
            vars.get::<i64>("txn.bot.error").is_some_and(|e| e > 0),
            "{what}: set-on-error names it"
        );
        assert_eq!(vars.get::<bool>("txn.bot.bot"), None, "{what}: no verdict");
    }

    // A CA file without a certificate is an error naming the file.
    let empty = pki.path("empty.pem");
    std::fs::write(&empty, "").expect("write");
    let e = AgentTls::with_ca_file(&empty).expect_err("no certificate");
    assert!(e.to_string().contains("empty.pem"), "{e}");
}
