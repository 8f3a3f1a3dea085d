//! TLS and HTTP/2 towards servers (`server ... ssl ...`, `proto h2`), against HAProxy 2.6.
//!
//! The origin is an HAProxy whose TLS listeners answer with what the TLS connection carried
//! (`ssl_fc_sni`, `ssl_fc_alpn`, the client certificate's CN, the HTTP version). The same
//! front configuration, one backend per `server` line variant, runs on HAProxy and on
//! `spoe gateway`: for each variant both must succeed or fail alike (verification against
//! `ca-file`, with the name checked against `sni` or `verifyhost`, or not at all) and, when
//! they succeed, the origin must have seen the same SNI, ALPN, client certificate and HTTP
//! version. Then a gRPC call (Google's grpcio, client and server) goes through the gateway
//! end to end over HTTP/2, its trailers (status, trailing metadata) kept.
//!
//! Fails (never skips) when `haproxy` or the Python package `grpcio` is missing (test.sh
//! installs them).

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests drive real processes on the wall clock"
)]

mod gateway_support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use gateway_support::{Conn, GatewayProc, START_TIMEOUT, get, local};
use spoe_interop::pki::TestPki;
use spoe_interop::{ChildGuard, Haproxy};

/// What the origin answers: what the TLS connection (or the clear-text one) carried.
const SEEN: &str = "sni=%[ssl_fc_sni] alpn=%[ssl_fc_alpn] cn=%[ssl_c_s_dn(CN)] ver=%[req.ver]";

/// The origin: a TLS listener with a certificate for `origin.example` that asks for an
/// optional client certificate, and a clear-text HTTP/2 (prior knowledge) listener.
fn origin_config(pki: &TestPki, tls_port: u16, h2c_port: u16) -> String {
    let dir = pki.dir().display();
    format!(
        r#"defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend origin
    bind 127.0.0.1:{tls_port} ssl crt {dir}/origin.pem ca-file {dir}/ca.pem verify optional alpn h2,http/1.1
    http-request return status 200 content-type text/plain lf-string "{SEEN}"
frontend origin_h2c
    bind 127.0.0.1:{h2c_port} proto h2
    http-request return status 200 content-type text/plain lf-string "h2c ver=%[req.ver]"
"#
    )
}

/// The `server` line variants, each a backend `bN` reached at path `/N`: (what it shows,
/// settings, whether it must succeed).
fn variants(pki: &TestPki, other_ca: &TestPki) -> Vec<(&'static str, String, bool)> {
    let dir = pki.dir().display();
    let ca = format!("ca-file {dir}/ca.pem");
    let other = format!("ca-file {}", other_ca.ca().display());
    vec![
        (
            "verify none: no SNI, no ALPN",
            "ssl verify none".into(),
            true,
        ),
        (
            "verify required, no sni nor verifyhost: the chain only",
            format!("ssl verify required {ca}"),
            true,
        ),
        (
            "sni str(NAME): sent, and checked",
            format!("ssl verify required {ca} sni str(origin.example)"),
            true,
        ),
        (
            "sni naming another host: the name check fails",
            format!("ssl verify required {ca} sni str(other.example)"),
            false,
        ),
        (
            "verifyhost naming the certificate's host",
            format!("ssl verify required {ca} verifyhost origin.example"),
            true,
        ),
        (
            "verifyhost naming another host",
            format!("ssl verify required {ca} verifyhost other.example"),
            false,
        ),
        (
            "a CA that did not sign the server's certificate",
            format!("ssl verify required {other}"),
            false,
        ),
        (
            "crt: a client certificate (mutual TLS)",
            format!("ssl verify none crt {dir}/client.pem"),
            true,
        ),
        (
            "alpn h2,http/1.1: HTTP/2 chosen",
            "ssl verify none alpn h2,http/1.1".into(),
            true,
        ),
        (
            "alpn http/1.1 offered alone",
            "ssl verify none alpn http/1.1".into(),
            true,
        ),
        (
            "proto h2 on TLS, no ALPN",
            "ssl verify none proto h2".into(),
            true,
        ),
        (
            "TLSv1.2 only",
            "ssl verify none ssl-max-ver TLSv1.2".into(),
            true,
        ),
    ]
}

fn front_config(
    port: u16,
    tls_port: u16,
    h2c_port: u16,
    variants: &[(&str, String, bool)],
) -> String {
    let mut cfg = format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         frontend fe\n    bind 127.0.0.1:{port}\n"
    );
    for n in 0..variants.len() {
        cfg.push_str(&format!("    use_backend b{n} if {{ path /{n} }}\n"));
    }
    cfg.push_str("    default_backend h2c\n");
    for (n, (_, settings, _)) in variants.iter().enumerate() {
        cfg.push_str(&format!(
            "backend b{n}\n    server s 127.0.0.1:{tls_port} {settings}\n"
        ));
    }
    cfg.push_str(&format!(
        "backend h2c\n    server s 127.0.0.1:{h2c_port} proto h2\n"
    ));
    cfg
}

/// `GET path` through the proxy at `port`: (status, body).
fn through(port: u16, path: &str) -> (u16, String) {
    let r = get(local(port), path, &[]).unwrap_or_else(|e| panic!("GET {path}: {e}"));
    (r.status, String::from_utf8_lossy(&r.body).into_owned())
}

#[test]
fn tls_and_h2_to_servers_as_haproxy() {
    let mut pki = TestPki::new();
    pki.server("origin.pem", &["origin.example"]);
    pki.client("client.pem", "gateway one");
    let other_ca = TestPki::new();
    let (origin, tls_port) =
        Haproxy::start_on_port(|port| origin_config(&pki, port, port + 1), &[]);
    let h2c_port = tls_port + 1;
    let variants = variants(&pki, &other_ca);
    let (_haproxy, hport) = Haproxy::start_on_port(
        |port| front_config(port, tls_port, h2c_port, &variants),
        &[],
    );
    let (gw, gaddr) = GatewayProc::start_on_port(
        |port| front_config(port, tls_port, h2c_port, &variants),
        &[],
    );
    for (n, (what, _, succeeds)) in variants.iter().enumerate() {
        let path = format!("/{n}");
        let theirs = through(hport, &path);
        let ours = through(gaddr.port(), &path);
        assert_eq!(
            theirs.0 == 200,
            *succeeds,
            "{what}: HAProxy itself {theirs:?}"
        );
        assert_eq!(
            ours.0 == 200,
            *succeeds,
            "{what}: HAProxy {theirs:?}, gateway {ours:?}\n{}",
            gw.log()
        );
        if *succeeds {
            assert_eq!(ours, theirs, "{what}: what the origin saw");
        } else {
            assert_eq!(ours.0, theirs.0, "{what}: the status");
        }
    }
    // The values themselves, not only their agreement.
    let expect = [
        (0, "sni= alpn= cn= ver=1.1"),
        (2, "sni=origin.example alpn= cn= ver=1.1"),
        (7, "sni= alpn= cn=gateway one ver=1.1"),
        (8, "sni= alpn=h2 cn= ver=2.0"),
        (10, "sni= alpn= cn= ver=2.0"),
    ];
    for (n, body) in expect {
        assert_eq!(
            through(gaddr.port(), &format!("/{n}")),
            (200, body.to_owned()),
            "{}",
            variants[n].0
        );
    }
    assert_eq!(
        through(gaddr.port(), "/h2c"),
        (200, "h2c ver=2.0".to_owned())
    );
    drop(origin);
}

/// `GET path` with `Host: host` through the proxy at `port`, on a new connection:
/// (status, body).
fn through_host(port: u16, path: &str, host: &str) -> (u16, String) {
    let mut conn = Conn::connect(local(port)).unwrap_or_else(|e| panic!("connect: {e}"));
    conn.send_raw(
        format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n").as_bytes(),
    )
    .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let r = conn
        .read_response()
        .unwrap_or_else(|e| panic!("GET {path} (host {host}): {e}"));
    (r.status, String::from_utf8_lossy(&r.body).into_owned())
}

/// `sni req.hdr(host)`: the name is evaluated for each connection made to the server, and a
/// connection made for one name is never reused for another (HAProxy hashes the SNI into its
/// idle connections' key). The same requests through HAProxy 2.6 and the gateway, alternating
/// two hosts, must reach the origin with the same SNI; with `verify required` the name is
/// checked against the origin's certificate by both.
#[test]
fn sni_expression_per_request_as_haproxy() {
    let mut pki = TestPki::new();
    pki.server("origin.pem", &["origin.example", "a.example", "b.example"]);
    let (origin, tls_port) =
        Haproxy::start_on_port(|port| origin_config(&pki, port, port + 1), &[]);
    let ca = pki.ca().display().to_string();
    let config = |port: u16| {
        format!(
            "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
             frontend fe\n    bind 127.0.0.1:{port}\n    use_backend verified if {{ path /verified }}\n    \
             use_backend h2 if {{ path /h2 }}\n    default_backend any\n\
             backend any\n    server s 127.0.0.1:{tls_port} ssl verify none sni req.hdr(host)\n\
             backend h2\n    server s 127.0.0.1:{tls_port} ssl verify none alpn h2 sni req.hdr(host)\n\
             backend verified\n    server s 127.0.0.1:{tls_port} ssl verify required ca-file {ca} sni req.hdr(host),lower\n"
        )
    };
    let (_haproxy, hport) = Haproxy::start_on_port(config, &[]);
    let (gw, gaddr) = GatewayProc::start_on_port(config, &[]);
    let seen = |sni: &str| format!("sni={sni} alpn= cn= ver=1.1");
    let cases = [
        ("/any", "a.example", (200, seen("a.example"))),
        ("/any", "b.example", (200, seen("b.example"))),
        ("/any", "a.example", (200, seen("a.example"))),
        ("/any", "b.example", (200, seen("b.example"))),
        (
            "/h2",
            "a.example",
            (200, "sni=a.example alpn=h2 cn= ver=2.0".into()),
        ),
        (
            "/h2",
            "b.example",
            (200, "sni=b.example alpn=h2 cn= ver=2.0".into()),
        ),
        ("/verified", "origin.example", (200, seen("origin.example"))),
        ("/verified", "A.example", (200, seen("a.example"))),
        ("/verified", "other.example", (503, String::new())),
        ("/verified", "a.example", (200, seen("a.example"))),
        // A name with a port is no DNS name: HAProxy sends it, and no certificate matches it.
        ("/verified", "origin.example:443", (503, String::new())),
    ];
    for (path, host, want) in &cases {
        let theirs = through_host(hport, path, host);
        let ours = through_host(gaddr.port(), path, host);
        assert_eq!(theirs.0, want.0, "{path} host {host}: HAProxy {theirs:?}");
        assert_eq!(
            ours.0,
            want.0,
            "{path} host {host}: gateway {ours:?}\n{}",
            gw.log()
        );
        if want.0 == 200 {
            assert_eq!(
                theirs, *want,
                "{path} host {host}: what the origin saw from HAProxy"
            );
            assert_eq!(
                ours, *want,
                "{path} host {host}: what the origin saw from the gateway"
            );
        }
    }
    // Where rustls cannot do what OpenSSL does: a value that is no DNS name is not sent under
    // `verify none` (HAProxy sends it as it is).
    assert_eq!(
        through_host(gaddr.port(), "/any", "a.example:443"),
        (200, seen(""))
    );
    drop(origin);
}

/// A gRPC call through the gateway: the client speaks HTTP/2 (prior knowledge) to a
/// `bind ... proto h2` listener, the gateway to the gRPC server with `server ... proto h2`.
#[test]
fn grpc_through_the_gateway() {
    let python = python();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/grpc/echo.py");
    let mut server = ChildGuard::spawn(
        Command::new(&python)
            .args([script, "server"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
    )
    .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    let stdout = server.take_stdout().expect("the server's stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(port) = line.strip_prefix("port ") {
                let _ = tx.send(port.parse::<u16>().ok());
            }
        }
    });
    let grpc_port = rx
        .recv_timeout(START_TIMEOUT)
        .ok()
        .flatten()
        .expect("the gRPC server reports its port (is grpcio installed? test.sh installs it)");
    let (gw, gaddr) = GatewayProc::start_on_port(
        |port| {
            format!(
                "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
                 frontend fe\n    bind 127.0.0.1:{port} proto h2\n    default_backend grpc\n\
                 backend grpc\n    server s 127.0.0.1:{grpc_port} proto h2\n"
            )
        },
        &[],
    );
    let out = Command::new(&python)
        .args([script, "client", &gaddr.to_string()])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        gw.log()
    );
    assert!(
        text.contains("say reply=echo:hello code=OK x-trailer=kept"),
        "{text}\n{}",
        gw.log()
    );
    assert!(
        text.contains("fail code=NOT_FOUND details=no such thing: thing"),
        "{text}\n{}",
        gw.log()
    );
}

/// The Python with `grpcio` (test.sh's venv).
fn python() -> String {
    if let Ok(p) = std::env::var("SPOE_TEST_PYTHON") {
        return p;
    }
    let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python");
    assert!(
        std::path::Path::new(venv).exists(),
        "grpcio is not installed: run ./test.sh (it creates .venv with `pip install grpcio`)"
    );
    venv.to_owned()
}

/// The state of `haproxy_server_check_status` that is 1 for backend `backend`'s server.
fn check_state(exposition: &str, backend: &str) -> Option<String> {
    exposition.lines().find_map(|l| {
        let rest = l.strip_prefix("haproxy_server_check_status{")?;
        let (labels, value) = rest.split_once("} ")?;
        if !labels.contains(&format!("proxy=\"{backend}\"")) || value.trim() != "1" {
            return None;
        }
        let state = labels.split_once("state=\"")?.1;
        Some(state.split_once('"')?.0.to_owned())
    })
}

/// Health checks of `ssl` servers are TLS handshakes (`L6OK`, or `L6RSP` when the certificate
/// does not verify), `check-ssl` makes them TLS for a clear-text server too, and a plain check
/// stays a TCP connect (`L4OK`): the same states as HAProxy 2.6's on its exporter.
#[test]
fn health_checks_over_tls_as_haproxy() {
    let mut pki = TestPki::new();
    pki.server("origin.pem", &["origin.example"]);
    let other_ca = TestPki::new();
    let (origin, tls_port) =
        Haproxy::start_on_port(|port| origin_config(&pki, port, port + 1), &[]);
    let ca = pki.ca().display().to_string();
    let other = other_ca.ca().display().to_string();
    let backends = [
        (
            format!("ssl verify required ca-file {ca} check inter 100ms"),
            "L6OK",
        ),
        (
            format!("ssl verify required ca-file {other} check inter 100ms"),
            "L6RSP",
        ),
        ("check-ssl verify none check inter 100ms".to_owned(), "L6OK"),
        ("check inter 100ms".to_owned(), "L4OK"),
    ];
    let config = |port: u16| {
        let mut cfg = format!(
            "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
             frontend fe\n    bind 127.0.0.1:{port}\n    http-request use-service prometheus-exporter\n"
        );
        for (n, (settings, _)) in backends.iter().enumerate() {
            cfg.push_str(&format!(
                "backend c{n}\n    server s 127.0.0.1:{tls_port} {settings}\n"
            ));
        }
        cfg
    };
    let (_haproxy, hport) = Haproxy::start_on_port(config, &[]);
    let (gw, gaddr) = GatewayProc::start_on_port(config, &[]);
    let scrape = |addr| {
        let r = get(addr, "/metrics", &[]).unwrap_or_else(|e| panic!("GET /metrics: {e}"));
        String::from_utf8_lossy(&r.body).into_owned()
    };
    for (n, (settings, want)) in backends.iter().enumerate() {
        let backend = format!("c{n}");
        for (who, addr) in [("HAProxy", local(hport)), ("the gateway", gaddr)] {
            let mut last = None;
            let reached = gateway_support::wait_until(START_TIMEOUT, || {
                last = check_state(&scrape(addr), &backend);
                last.as_deref() == Some(*want)
            });
            assert!(
                reached,
                "{who}, server {settings}: check status {last:?}, expected {want}\n{}",
                gw.log()
            );
        }
    }
    drop(origin);
}
