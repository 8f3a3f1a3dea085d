//! OpenSSL cipher strings on a TLS `bind`, against HAProxy 2.6: the same `haproxy.cfg`
//! (`ssl-default-bind-ciphers` as an OpenSSL expression, `ssl-default-bind-ciphersuites`) runs on
//! HAProxy and on `spoe gateway`, and `openssl s_client` offering one suite (or several, to see
//! whose order wins) must get the same verdict and the same suite from both.
//!
//! Fails (never skips) when `haproxy` or `openssl` is missing (test.sh installs them).

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests drive real processes on the wall clock"
)]

mod gateway_support;

use std::process::{Command, Stdio};

use gateway_support::GatewayProc;
use spoe_interop::Haproxy;
use spoe_interop::pki::TestPki;

fn config(dir: &str, port: u16) -> String {
    format!(
        "global\n    ssl-default-bind-ciphers ECDH+AESGCM:!aNULL:!MD5:!DSS\n    \
         ssl-default-bind-ciphersuites TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256\n\
         defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         frontend fe\n    bind 127.0.0.1:{port} ssl crt {dir}/site.pem\n    \
         http-request return status 200\n"
    )
}

/// The suite `openssl s_client` negotiates with `args` (`(NONE)`: the handshake failed).
fn negotiated(port: u16, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl (test.sh installs it): {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.split_once("Cipher is ").map(|(_, c)| c.trim().to_owned()))
        .unwrap_or_else(|| "(NONE)".to_owned())
}

#[test]
fn a_client_offering_one_suite_gets_the_same_verdict_as_from_haproxy() {
    let mut pki = TestPki::new();
    // An ECDSA certificate: the ECDHE-ECDSA suites.
    pki.server("site.pem", &["www.example"]);
    let dir = pki.dir().display().to_string();
    let (_haproxy, hport) = Haproxy::start_on_port(|port| config(&dir, port), &[]);
    let (gw, gaddr) = GatewayProc::start_on_port(|port| config(&dir, port), &[]);
    let probes: &[(&[&str], &str)] = &[
        (
            &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"],
            "ECDHE-ECDSA-AES128-GCM-SHA256",
        ),
        (
            &["-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305"],
            "(NONE)",
        ),
        (
            &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256"],
            "(NONE)",
        ),
        // The server's order (OpenSSL's for the string: 256-bit first) wins.
        (
            &[
                "-tls1_2",
                "-cipher",
                "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384",
            ],
            "ECDHE-ECDSA-AES256-GCM-SHA384",
        ),
        (
            &["-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256"],
            "(NONE)",
        ),
        (
            &["-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"],
            "TLS_CHACHA20_POLY1305_SHA256",
        ),
        (
            &[
                "-tls1_3",
                "-ciphersuites",
                "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384",
            ],
            "TLS_AES_256_GCM_SHA384",
        ),
    ];
    let mut wrong = Vec::new();
    for (args, want) in probes {
        let theirs = negotiated(hport, args);
        let ours = negotiated(gaddr.port(), args);
        if theirs != *want || ours != *want {
            wrong.push(format!(
                "{args:?}: HAProxy {theirs}, the gateway {ours}, expected {want}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}\n{}", wrong.join("\n"), gw.log());
}
