//! TLS and HTTP/2 on `bind`, proven with real clients and against HAProxy 2.6.
//!
//! The same `haproxy.cfg` (certificates by `crt` and `crt-list`, `crt-base`, `ca-base`,
//! `alpn h2,http/1.1`, `verify optional`, a crt-list line with its own `alpn`) runs on HAProxy
//! and on `spoe gateway`; both answer every request with an `http-request return` whose body is
//! the `ssl_*` fetches. For each SNI both must present the same certificate (`openssl
//! s_client`), and for each client (curl over HTTP/1.1 and HTTP/2, without a certificate, with
//! one the CA signed, with an untrusted one) both must give the same verdict and the same
//! `ssl_*` values. Then h2load, nghttp and headless Chromium load through the gateway over
//! HTTPS with HTTP/2, and a failed handshake is logged as HAProxy logs it.
//!
//! Fails (never skips) when `haproxy`, `curl`, `openssl`, `h2load`, `nghttp` or `chromium` is
//! missing (test.sh installs them).

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests drive real processes on the wall clock"
)]

mod gateway_support;

use std::io::Write as _;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gateway_support::{Backend, GatewayProc, START_TIMEOUT, closed_by_peer, rss_kib, wait_until};
use spoe_interop::Haproxy;
use spoe_interop::pki::TestPki;

/// What every request is answered with: the TLS facts as the proxy sees them.
const FACTS: &str = "fc=%[ssl_fc] sni=%[ssl_fc_sni] has_sni=%[ssl_fc_has_sni] \
proto=%[ssl_fc_protocol] cipher=%[ssl_fc_cipher] alpn=%[ssl_fc_alpn] used=%[ssl_c_used] \
verify=%[ssl_c_verify] s_dn=%[ssl_c_s_dn] i_dn=%[ssl_c_i_dn] cn=%[ssl_c_s_dn(CN)] \
serial=%[ssl_c_serial,hex] sha1=%[ssl_c_sha1,hex] ver=%[req.ver]";

/// The certificates: a default, one name, a wildcard (one name of it excluded), and one whose
/// crt-list line offers HTTP/1.1 only.
fn pki() -> TestPki {
    let mut pki = TestPki::new();
    pki.server("default.pem", &["default.example"]);
    pki.server("www.pem", &["www.example"]);
    pki.server("wild.pem", &["*.wild.example"]);
    pki.server("h1.pem", &["only-h1.example"]);
    pki.client("client.pem", "client one");
    pki.untrusted_client("untrusted.pem", "intruder");
    let dir = pki.dir().display().to_string();
    std::fs::write(
        pki.path("list.txt"),
        format!(
            "# the default certificate comes from 'crt' on the bind line\n\
             {dir}/www.pem\n\
             {dir}/wild.pem *.wild.example !secure.wild.example\n\
             \n\
             {dir}/h1.pem [alpn http/1.1] only-h1.example\n"
        ),
    )
    .expect("write crt-list");
    pki
}

fn config(dir: &Path, port: u16) -> String {
    let dir = dir.display();
    format!(
        r#"global
    crt-base {dir}
    ca-base {dir}
defaults
    mode http
    log stderr format raw local0
    option httplog
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port} ssl crt default.pem crt-list {dir}/list.txt alpn h2,http/1.1 ca-file ca.pem verify optional
    http-request return status 200 content-type text/plain lf-string "{FACTS}"
"#
    )
}

/// Runs a client command; panics naming it when it cannot start (not installed).
fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} (test.sh installs it): {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The subject of the certificate presented for `sni` (`None`: no SNI sent).
fn presented(port: u16, sni: Option<&str>) -> String {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &format!("127.0.0.1:{port}")]);
    match sni {
        Some(name) => cmd.args(["-servername", name]),
        None => cmd.arg("-noservername"),
    };
    let (_, out, err) = run(&mut cmd);
    out.lines()
        .find_map(|l| l.strip_prefix("subject="))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("no certificate: {err}"))
}

/// curl to `https://NAME:port/` (NAME resolved to 127.0.0.1), verifying the server with the CA:
/// (succeeded, body, HTTP version).
fn curl(pki: &TestPki, port: u16, name: &str, extra: &[&str]) -> (bool, String, String) {
    let ca = pki.ca();
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "10", "--cacert"])
        .arg(&ca)
        .args(["--resolve", &format!("{name}:{port}:127.0.0.1")])
        .args(["-w", "\n%{http_version}"])
        .args(extra)
        .arg(format!("https://{name}:{port}/"));
    let (ok, out, err) = run(&mut cmd);
    let (body, version) = out.rsplit_once('\n').unwrap_or((&out, ""));
    (ok, format!("{body}{err}"), version.to_owned())
}

#[test]
fn same_certificates_verdicts_and_ssl_values_as_haproxy() {
    let pki = pki();
    let (_haproxy, hport) = Haproxy::start_on_port(|port| config(pki.dir(), port), &[]);
    let (gw, gaddr) = GatewayProc::start_on_port(|port| config(pki.dir(), port), &[]);
    let gport = gaddr.port();

    for sni in [
        Some("www.example"),
        Some("WWW.Example"),
        Some("a.wild.example"),
        Some("secure.wild.example"),
        Some("deep.a.wild.example"),
        Some("only-h1.example"),
        Some("default.example"),
        Some("unknown.example"),
        None,
    ] {
        let theirs = presented(hport, sni);
        let ours = presented(gport, sni);
        assert!(theirs.contains("CN"), "HAProxy, SNI {sni:?}: {theirs}");
        assert_eq!(ours, theirs, "certificate presented for SNI {sni:?}");
    }

    let client = pki.path("client.pem").display().to_string();
    let untrusted = pki.path("untrusted.pem").display().to_string();
    let cases: [(&str, &str, Vec<&str>); 6] = [
        (
            "HTTP/2, no client certificate",
            "www.example",
            vec!["--http2"],
        ),
        (
            "HTTP/1.1, no client certificate",
            "www.example",
            vec!["--http1.1"],
        ),
        (
            "HTTP/2, a client certificate the CA signed",
            "a.wild.example",
            vec!["--http2", "--cert", &client],
        ),
        (
            "HTTP/1.1, an untrusted client certificate",
            "www.example",
            vec!["--http1.1", "--cert", &untrusted],
        ),
        (
            "HTTP/2 asked, the crt-list line offers http/1.1 only",
            "only-h1.example",
            vec!["--http2"],
        ),
        (
            "TLSv1.2 only",
            "www.example",
            vec!["--http2", "--tls-max", "1.2"],
        ),
    ];
    for (name, host, args) in &cases {
        let theirs = curl(&pki, hport, host, args);
        let ours = curl(&pki, gport, host, args);
        assert_eq!(
            ours.0, theirs.0,
            "{name}: verdict\nHAProxy: {theirs:?}\ngateway: {ours:?}"
        );
        if theirs.0 {
            assert_eq!(ours, theirs, "{name}: ssl_* values and protocol");
        }
    }
    // The values themselves (not only their agreement).
    let (ok, body, version) = curl(
        &pki,
        gport,
        "a.wild.example",
        &["--http2", "--cert", &client],
    );
    assert!(ok, "{body}");
    assert_eq!(version, "2", "{body}");
    for want in [
        "fc=1",
        "sni=a.wild.example",
        "proto=TLSv1.3",
        "alpn=h2",
        "used=1",
        "verify=0",
        "cn=client one",
        // (rcgen writes the CN first; HAProxy prints the same.)
        "s_dn=/CN=client one/C=FR/O=spoe tests",
        "i_dn=/CN=spoe test CA/C=FR/O=spoe tests",
        "ver=2.0",
    ] {
        assert!(body.contains(want), "missing {want:?} in {body}");
    }
    // The refused handshake is logged as HAProxy logs it.
    assert!(
        wait_until(START_TIMEOUT, || gw
            .log()
            .contains("fe/1: SSL client certificate not trusted")),
        "no handshake failure line:\n{}",
        gw.log()
    );
}

/// HTTP/2 requests reach an HTTP/1.1 server with the client's `:authority` as their `Host`,
/// and a reload reads renewed certificates (a broken one is refused, the old generation serves).
#[test]
fn h2_to_an_http1_server_and_certificates_renewed_by_reload() {
    let mut pki = pki();
    let backend = Backend::start("be");
    let cfg = |port: u16| {
        format!(
            "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
             frontend fe\n    bind 127.0.0.1:{port} ssl crt {}/www.pem alpn h2,http/1.1\n    default_backend be\n\
             backend be\n    server s1 {}\n",
            pki.dir().display(),
            backend.addr
        )
    };
    let (gw, gaddr) = GatewayProc::start_on_port(cfg, &[]);
    let port = gaddr.port();
    let (ok, body, version) = curl(&pki, port, "www.example", &["--http2", "-H", "x-probe: 1"]);
    assert!(
        ok && version == "2" && body.starts_with("be"),
        "{ok} {version} {body}"
    );
    let seen = backend.seen();
    let head = &seen.last().expect("the backend saw the request").head;
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("host: www.example:{port}")),
        "{head}"
    );
    assert!(head.starts_with("GET / HTTP/1.1"), "{head}");

    // Renewed: same name, new key and serial.
    let before = presented(port, Some("www.example"));
    let old_serial = serial(port);
    pki.server("www.pem", &["www.example"]);
    gw.reload();
    assert_eq!(presented(port, Some("www.example")), before);
    assert_ne!(
        serial(port),
        old_serial,
        "the reload did not read the renewed certificate"
    );
    // Broken: the reload is refused with the reason, the running generation keeps serving.
    std::fs::write(pki.path("www.pem"), "not a certificate").expect("break the certificate");
    gw.signal(gateway_support::Signal::USR2);
    assert!(
        wait_until(START_TIMEOUT, || gw
            .log()
            .contains("no certificate found in PEM file")),
        "no refused reload:\n{}",
        gw.log()
    );
    let (ok, body, _) = curl(&pki, port, "www.example", &["--http1.1"]);
    assert!(ok && body.starts_with("be"), "{body}");
}

/// HTTP/2 responses carry no `date` (HAProxy adds none; hyper would), and `%B` counts one
/// response the same over HTTP/2 as over HTTP/1.1, as HAProxy's does (its HTTP/1.1 head, with
/// the `date` hyper adds there).
#[test]
fn h2_responses_have_no_date_and_log_the_bytes_of_http1() {
    let pki = pki();
    let backend = Backend::start("be");
    let cfg = |port: u16| {
        format!(
            "defaults\n    mode http\n    log stderr format raw local0\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
             frontend fe\n    bind 127.0.0.1:{port} ssl crt {}/www.pem alpn h2,http/1.1\n    log-format \"bytes=%B %HV\"\n    default_backend be\n\
             backend be\n    server s1 {}\n",
            pki.dir().display(),
            backend.addr
        )
    };
    let (gw, gaddr) = GatewayProc::start_on_port(cfg, &[]);
    let port = gaddr.port();
    let (ok, head, version) = curl(&pki, port, "www.example", &["--http2", "-D", "-"]);
    assert!(ok && version == "2", "{ok} {version} {head}");
    assert!(head.contains("x-backend: be"), "{head}");
    assert!(!head.to_ascii_lowercase().contains("date:"), "{head}");
    let (ok, _, version) = curl(&pki, port, "www.example", &["--http1.1"]);
    assert!(ok && version == "1.1", "{ok} {version}");
    let bytes = |v: &str| {
        gw.log()
            .lines()
            .find_map(|l| l.strip_suffix(v)?.split("bytes=").nth(1).map(str::to_owned))
    };
    assert!(
        wait_until(START_TIMEOUT, || bytes(" HTTP/1.1").is_some()),
        "no access line:\n{}",
        gw.log()
    );
    let h2 = bytes(" HTTP/2.0").expect("the HTTP/2 request's access line");
    assert_eq!(Some(h2), bytes(" HTTP/1.1"), "{}", gw.log());
}

/// The serial number of the certificate presented for `www.example`.
fn serial(port: u16) -> String {
    let (_, out, _) = run(Command::new("sh").arg("-c").arg(format!(
        "openssl s_client -connect 127.0.0.1:{port} -servername www.example </dev/null 2>/dev/null | openssl x509 -noout -serial"
    )));
    out
}

#[test]
fn h2load_nghttp_and_chromium_through_the_gateway() {
    let pki = pki();
    let (gw, gaddr) = GatewayProc::start_on_port(|port| config(pki.dir(), port), &[]);
    let url = format!("https://127.0.0.1:{}/", gaddr.port());

    let (ok, out, err) =
        run(Command::new("h2load").args(["-n", "200", "-c", "4", "-m", "10", &url]));
    assert!(ok, "h2load: {out}{err}");
    assert!(out.contains("Application protocol: h2"), "{out}");
    assert!(out.contains("200 succeeded, 0 failed"), "{out}");
    assert!(out.contains("status codes: 200 2xx"), "{out}");

    let (ok, out, err) = run(Command::new("nghttp").args(["-v", &url]));
    assert!(ok, "nghttp: {out}{err}");
    assert!(out.contains("The negotiated protocol: h2"), "{out}");
    assert!(out.contains("alpn=h2") && out.contains("ver=2.0"), "{out}");

    let profile = tempfile::tempdir().expect("chromium profile");
    let netlog = profile.path().join("netlog.json");
    let host = "www.example";
    let (ok, out, err) = run(Command::new("chromium").args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--ignore-certificate-errors",
        &format!("--user-data-dir={}", profile.path().display()),
        &format!(
            "--host-resolver-rules=MAP {host} 127.0.0.1:{}",
            gaddr.port()
        ),
        &format!("--log-net-log={}", netlog.display()),
        "--dump-dom",
        &format!("https://{host}:{}/", gaddr.port()),
    ]));
    assert!(ok, "chromium: {out}{err}");
    assert!(
        out.contains("sni=www.example") && out.contains("alpn=h2") && out.contains("ver=2.0"),
        "chromium's page: {out}\n{err}"
    );
    let log = std::fs::read_to_string(&netlog).unwrap_or_default();
    assert!(
        log.contains("\"h2\""),
        "chromium's network log does not show h2 ({} bytes)",
        log.len()
    );
    assert!(
        wait_until(Duration::from_secs(5), || gw.log().contains("HTTP/2.0")),
        "no HTTP/2.0 access line:\n{}",
        gw.log()
    );
}

/// `http-request redirect scheme https unless { ssl_fc }`: clear-text requests are sent to
/// `https://HOST/PATH?QUERY` as HAProxy sends them; TLS ones are served.
#[test]
fn redirect_scheme_https_unless_ssl_fc_as_haproxy() {
    let pki = pki();
    let cfg = |port: u16| {
        format!(
            "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
             frontend fe\n    bind 127.0.0.1:{port}\n    bind 127.0.0.1:{} ssl crt {}/www.pem\n\
             \x20   http-request redirect scheme https code 301 unless {{ ssl_fc }}\n\
             \x20   http-request return status 200 content-type text/plain string served\n",
            port + 1,
            pki.dir().display()
        )
    };
    let (_haproxy, hport) = Haproxy::start_on_port(cfg, &[]);
    let (_gw, gaddr) = GatewayProc::start_on_port(cfg, &[]);
    let redirect = |port: u16| {
        let (ok, out, err) = run(Command::new("curl").args([
            "-sS",
            "--max-time",
            "10",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
            "-H",
            "host: www.example:8080",
            &format!("http://127.0.0.1:{port}/a/b?c=d"),
        ]));
        assert!(ok, "{err}");
        out
    };
    let theirs = redirect(hport);
    assert_eq!(theirs, "301 https://www.example:8080/a/b?c=d");
    assert_eq!(redirect(gaddr.port()), theirs);
    for port in [hport, gaddr.port()] {
        let (ok, body, _) = curl(&pki, port + 1, "www.example", &["--http1.1"]);
        assert!(ok && body == "served", "{body}");
    }
}

/// Connections that stall in the TLS handshake, 100 that send nothing and 100 that send the
/// first bytes of a ClientHello and no more: each is cut at `timeout client` (2 s here), as
/// HAProxy 2.6 cuts it, logged as HAProxy logs it, costs bounded memory, and other clients
/// are served meanwhile.
#[test]
fn stalled_handshakes_are_cut_at_timeout_client_as_in_haproxy() {
    let pki = pki();
    let cfg = |port: u16| config(pki.dir(), port).replace("timeout client 5s", "timeout client 2s");
    let (haproxy, hport) = Haproxy::start_on_port(cfg, &[]);
    let (gw, gaddr) = GatewayProc::start_on_port(cfg, &[]);
    // A TLS record header announcing a 512-byte ClientHello, and its first 4 bytes.
    const PARTIAL_HELLO: &[u8] = &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc];
    let mut report = String::new();
    let mut growth = Vec::new();
    for (name, port, pid) in [
        (
            "HAProxy",
            hport,
            haproxy
                .worker_pids()
                .first()
                .copied()
                .unwrap_or(haproxy.pid()),
        ),
        ("gateway", gaddr.port(), gw.child.id()),
    ] {
        let before = rss_kib(pid);
        let started = Instant::now();
        let mut held: Vec<TcpStream> = (0..200)
            .map(|i| {
                let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                if i % 2 == 1 {
                    s.write_all(PARTIAL_HELLO)
                        .expect("send a partial ClientHello");
                }
                s
            })
            .collect();
        let (ok, body, _) = curl(&pki, port, "www.example", &[]);
        assert!(
            ok && body.contains("fc=1"),
            "{name}: a fresh client meanwhile: {body}"
        );
        let grown = rss_kib(pid).saturating_sub(before);
        let limit = Duration::from_secs(8);
        while !held.is_empty() && started.elapsed() < limit {
            held.retain_mut(|s| !closed_by_peer(s));
        }
        let took = started.elapsed();
        report.push_str(&format!(
            "{name}: 200 stalled handshakes: RSS +{grown} KiB, all closed after {took:?}, {} open\n",
            held.len()
        ));
        assert!(
            held.is_empty(),
            "{name}: not closed within {limit:?}\n{report}"
        );
        assert!(
            took >= Duration::from_millis(1500),
            "{name}: closed before timeout client\n{report}"
        );
        growth.push(grown);
    }
    // At most HAProxy's growth, or 64 KiB per stalled handshake (room for the buffers of a
    // handshake that has begun), whichever is larger.
    assert!(
        growth[1] <= growth[0].max(200 * 64),
        "the gateway's memory\n{report}"
    );
    assert!(
        wait_until(START_TIMEOUT, || gw
            .log()
            .contains("fe/1: Timeout during SSL handshake")),
        "the gateway logs the cut handshakes as HAProxy does:\n{}",
        gw.log()
    );
    println!("{report}");
}

/// `crl-file` on a `bind` verifying client certificates: a certificate the CA's CRL revokes is
/// refused, another is served, by HAProxy 2.6 and the gateway alike.
#[test]
fn crl_file_refuses_revoked_client_certificates_as_haproxy() {
    let mut pki = TestPki::new();
    pki.server("site.pem", &["www.example"]);
    pki.client("good.pem", "good client");
    let (_, revoked) = pki.revocable_client("revoked.pem", "revoked client");
    pki.crl("crl.pem", &[revoked]);
    let dir = pki.dir().display().to_string();
    let cfg = |port: u16| {
        format!(
            "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
             frontend fe\n    bind 127.0.0.1:{port} ssl crt {dir}/site.pem ca-file {dir}/ca.pem crl-file {dir}/crl.pem verify required\n    \
             http-request return status 200 content-type text/plain lf-string \"cn=%[ssl_c_s_dn(CN)]\"\n"
        )
    };
    let (_haproxy, hport) = Haproxy::start_on_port(cfg, &[]);
    let (gw, gaddr) = GatewayProc::start_on_port(cfg, &[]);
    for (who, port) in [("HAProxy", hport), ("the gateway", gaddr.port())] {
        let good = pki.path("good.pem").display().to_string();
        let (ok, body, _) = curl(&pki, port, "www.example", &["--cert", &good]);
        assert!(
            ok && body.contains("cn=good client"),
            "{who}: {body}\n{}",
            gw.log()
        );
        let revoked = pki.path("revoked.pem").display().to_string();
        let (ok, body, _) = curl(&pki, port, "www.example", &["--cert", &revoked]);
        assert!(!ok, "{who} served a revoked certificate: {body}");
    }
}
