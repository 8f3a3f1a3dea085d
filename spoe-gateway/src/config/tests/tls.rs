//! The TLS keywords of `haproxy.cfg` as `spoe check` reports them (`file:line:col`), with the
//! files they name read (certificates generated here, never committed), and the verdicts
//! compared with `haproxy -c` on the same text and files; and the certificate chosen for each
//! SNI from `crt`, a directory and `crt-list` filters.

use std::path::Path;

use crate::model::GatewayConfig;
use spoe_interop::pki::TestPki;

/// Errors and warnings as printed, the PKI directory written `$PKI`.
fn diagnostics(text: &str, dir: &Path) -> (Vec<String>, Vec<String>) {
    let norm = |s: String| s.replace(dir.to_str().expect("utf-8 path"), "$PKI");
    match GatewayConfig::parse_str(text, "haproxy.cfg", dir, None) {
        Ok((_, w)) => (
            Vec::new(),
            w.into_iter().map(|w| norm(w.to_string())).collect(),
        ),
        Err(e) => (
            e.errors.iter().map(|x| norm(x.to_string())).collect(),
            e.warnings.iter().map(|x| norm(x.to_string())).collect(),
        ),
    }
}

fn frontend(bind_options: &str) -> String {
    format!(
        "defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 1s\n\
         frontend fe\n    bind 127.0.0.1:8443 {bind_options}\n    http-request return status 200\n"
    )
}

fn pki() -> TestPki {
    let mut pki = TestPki::new();
    pki.server("www.pem", &["www.example"]);
    pki.server("other.pem", &["other.example"]);
    pki.expired_server("expired.pem", &["old.example"]);
    // A certificate with another one's key.
    let www = std::fs::read_to_string(pki.path("www.pem")).expect("www.pem");
    let other = std::fs::read_to_string(pki.path("other.pem")).expect("other.pem");
    let cert = &www[..www.find("-----BEGIN PRIVATE KEY-----").expect("key")];
    let key = &other[other.find("-----BEGIN PRIVATE KEY-----").expect("key")..];
    std::fs::write(pki.path("mismatch.pem"), format!("{cert}{key}")).expect("mismatch.pem");
    // A certificate whose key is beside it, as `FILE.key`.
    std::fs::write(pki.path("split.pem"), cert).expect("split.pem");
    let www_key = &www[www.find("-----BEGIN PRIVATE KEY-----").expect("key")..];
    std::fs::write(pki.path("split.pem.key"), www_key).expect("split.pem.key");
    pki
}

struct Case {
    name: &'static str,
    bind: &'static str,
    errors: &'static [&'static str],
    warnings: &'static [&'static str],
    /// Whether `haproxy -c` accepts the same text and files.
    haproxy_accepts: bool,
}

const CASES: &[Case] = &[
    Case {
        name: "a certificate and its key in one file, another with FILE.key, ALPN, versions",
        bind: "ssl crt www.pem crt split.pem alpn h2,http/1.1 ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.3",
        errors: &[],
        warnings: &[],
        haproxy_accepts: true,
    },
    Case {
        name: "an unreadable certificate",
        bind: "ssl crt missing.pem",
        errors: &[
            "parsing [haproxy.cfg:9:33] : 'bind' : unable to load SSL certificate from '$PKI/missing.pem': No such file or directory (os error 2)",
        ],
        warnings: &[],
        haproxy_accepts: false,
    },
    Case {
        name: "a key that is not the certificate's",
        bind: "ssl crt mismatch.pem",
        errors: &[
            "parsing [haproxy.cfg:9:33] : 'bind' : inconsistencies between private key and certificate loaded from PEM file '$PKI/mismatch.pem'",
        ],
        warnings: &[],
        haproxy_accepts: false,
    },
    Case {
        name: "an expired certificate (a warning, as HAProxy serves it)",
        bind: "ssl crt expired.pem",
        errors: &[],
        warnings: &[
            "parsing [haproxy.cfg:9:33] : 'bind' : certificate '$PKI/expired.pem' has expired",
        ],
        haproxy_accepts: true,
    },
    Case {
        name: "verify without a CA file",
        bind: "ssl crt www.pem verify required",
        errors: &[
            "parsing [haproxy.cfg:9:25] : 'bind' : verify is enabled but no CA file specified ('ca-file')",
        ],
        warnings: &[],
        haproxy_accepts: false,
    },
    Case {
        name: "an unknown version",
        bind: "ssl crt www.pem ssl-min-ver TLSv9",
        errors: &[
            "parsing [haproxy.cfg:9:53] : 'bind' : 'ssl-min-ver' : unknown version 'TLSv9' (expects SSLv3, TLSv1.0, TLSv1.1, TLSv1.2 or TLSv1.3)",
        ],
        warnings: &[],
        haproxy_accepts: false,
    },
    Case {
        name: "an unknown cipher",
        bind: "ssl crt www.pem ciphers NOT-A-CIPHER",
        errors: &[
            "parsing [haproxy.cfg:9:49] : 'bind' : 'ciphers' : unable to set SSL cipher list to 'NOT-A-CIPHER' (no cipher match)",
        ],
        warnings: &[],
        haproxy_accepts: false,
    },
    Case {
        name: "ecdhe: the curves when none are set",
        bind: "ssl crt www.pem ecdhe prime256v1",
        errors: &[],
        warnings: &[],
        haproxy_accepts: true,
    },
    Case {
        name: "an OpenSSL cipher expression",
        bind: "ssl crt www.pem ciphers ECDH+AESGCM:ECDH+CHACHA20:!aNULL:!MD5:!DSS",
        errors: &[],
        warnings: &[],
        haproxy_accepts: true,
    },
    Case {
        name: "an expression selecting suites rustls lacks too (a warning)",
        bind: "ssl crt www.pem ciphers ECDHE+AESGCM:DHE+AESGCM",
        errors: &[],
        warnings: &[
            "parsing [haproxy.cfg:9:49] : 'bind' : 'ciphers' : 4 of the suites OpenSSL selects are not implemented by the gateway's TLS library (rustls): DHE-DSS-AES256-GCM-SHA384, DHE-RSA-AES256-GCM-SHA384, DHE-DSS-AES128-GCM-SHA256, DHE-RSA-AES128-GCM-SHA256; a client offering only those cannot connect",
        ],
        haproxy_accepts: true,
    },
    Case {
        name: "only suites rustls lacks",
        bind: "ssl crt www.pem ciphers DHE+AESGCM",
        errors: &[
            "parsing [haproxy.cfg:9:49] : 'bind' : 'ciphers' : 'DHE+AESGCM' selects only suites the gateway's TLS library (rustls) does not implement (it implements ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305)",
        ],
        warnings: &[],
        haproxy_accepts: true,
    },
    Case {
        name: "a cipher string OpenSSL refuses",
        bind: "ssl crt www.pem ciphers HIGH:@FOO",
        errors: &[
            "parsing [haproxy.cfg:9:49] : 'bind' : 'ciphers' : unable to set SSL cipher list to 'HIGH:@FOO' (invalid command at '@FOO')",
        ],
        warnings: &[],
        haproxy_accepts: false,
    },
    Case {
        name: "TLS 1.3 suites naming none OpenSSL knows",
        bind: "ssl crt www.pem ciphersuites TLS_FOO",
        errors: &[
            "parsing [haproxy.cfg:9:54] : 'bind' : 'ciphersuites' : unable to set TLS 1.3 cipher suites to 'TLS_FOO' (no cipher match)",
        ],
        warnings: &[],
        haproxy_accepts: false,
    },
    Case {
        name: "an option the gateway does not have",
        bind: "ssl crt www.pem npn h2",
        errors: &[
            "parsing [haproxy.cfg:9:41] : 'bind' : option 'npn' is not supported by the gateway",
        ],
        warnings: &[],
        haproxy_accepts: true,
    },
];

#[test]
fn tls_keywords_as_spoe_check_reports_them_and_haproxy_agrees() {
    let pki = pki();
    let dir = pki.dir();
    let mut failures = Vec::new();
    for case in CASES {
        let text = format!(
            "global\n    crt-base {}\n{}",
            dir.display(),
            frontend(case.bind)
        );
        let (errors, warnings) = diagnostics(&text, dir);
        if errors != case.errors || warnings != case.warnings {
            failures.push(format!(
                "{}:\n  errors   {errors:#?}\n  warnings {warnings:#?}",
                case.name
            ));
        }
        let (accepted, output) = spoe_interop::haproxy_check(&text);
        if accepted != case.haproxy_accepts {
            failures.push(format!(
                "{}: haproxy -c says {accepted}:\n{output}",
                case.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_certificate_for_each_sni() {
    let mut pki = pki();
    pki.server("wild.pem", &["*.wild.example"]);
    std::fs::create_dir(pki.path("dir")).expect("mkdir");
    pki.server("dir/b.pem", &["b.example"]);
    pki.server("dir/a.pem", &["a.example"]);
    let d = pki.dir().display().to_string();
    std::fs::write(
        pki.path("list.txt"),
        format!("{d}/wild.pem *.wild.example !secure.wild.example\n{d}/other.pem [alpn http/1.1] alias.example\n"),
    )
    .expect("crt-list");
    let text = frontend(&format!(
        "ssl crt {d}/www.pem crt {d}/dir crt-list {d}/list.txt"
    ));
    let (config, _) = GatewayConfig::parse_str(&text, "haproxy.cfg", pki.dir(), None)
        .unwrap_or_else(|e| panic!("{e}"));
    let bind = config.frontends[0].bind_confs[0]
        .1
        .tls
        .clone()
        .expect("TLS bind");
    let chosen = |sni: Option<&str>| {
        bind.certificate_for(sni)
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
    };
    for (sni, want) in [
        (Some("www.example"), "www.pem"),
        (Some("A.EXAMPLE"), "a.pem"),
        (Some("b.example"), "b.pem"),
        (Some("x.wild.example"), "wild.pem"),
        (Some("secure.wild.example"), "www.pem"),
        (Some("alias.example"), "other.pem"),
        // A crt-list filter replaces the certificate's own names.
        (Some("other.example"), "www.pem"),
        (Some("nothing.example"), "www.pem"),
        (None, "www.pem"),
    ] {
        assert_eq!(chosen(sni).as_deref(), Some(want), "SNI {sni:?}");
    }
    let strict = frontend(&format!("ssl crt {d}/www.pem strict-sni"));
    let (config, _) = GatewayConfig::parse_str(&strict, "haproxy.cfg", pki.dir(), None)
        .unwrap_or_else(|e| panic!("{e}"));
    let bind = config.frontends[0].bind_confs[0]
        .1
        .tls
        .clone()
        .expect("TLS bind");
    assert!(bind.certificate_for(Some("nothing.example")).is_none());
    assert!(bind.certificate_for(None).is_none());
    assert!(bind.certificate_for(Some("www.example")).is_some());
}

/// `server ... ssl ...`: the verdicts of `haproxy -c` on the same text and files, with the
/// gateway's messages at `file:line:col`.
#[test]
fn server_tls_settings_as_spoe_check_reports_them_and_haproxy_agrees() {
    let mut pki = pki();
    pki.client("client.pem", "gateway one");
    let dir = pki.dir();
    let cases: &[(&str, &[&str], bool)] = &[
        ("ssl verify none", &[], true),
        (
            "ssl verify required ca-file ca.pem sni str(www.example) crt client.pem alpn h2,http/1.1",
            &[],
            true,
        ),
        ("ssl verify none proto h2 ssl-min-ver TLSv1.3", &[], true),
        ("proto h2", &[], true),
        (
            "ssl",
            &[
                "parsing [haproxy.cfg:10:29] : 'server s' : verify is enabled by default but no CA file specified. If you're running on a LAN where you're certain to trust the server's certificate, please set an explicit 'verify none' statement on the 'server' line",
            ],
            false,
        ),
        (
            "ssl verify required ca-file missing.pem",
            &[
                "parsing [haproxy.cfg:10:29] : 'server s' : unable to load SSL certificate from '$PKI/missing.pem': No such file or directory (os error 2)",
            ],
            false,
        ),
        (
            "ssl verify none crt missing.pem",
            &[
                "parsing [haproxy.cfg:10:29] : 'server s' : unable to load SSL certificate from '$PKI/missing.pem': No such file or directory (os error 2)",
            ],
            false,
        ),
        (
            "ssl verify optional",
            &[
                "parsing [haproxy.cfg:10:40] : 'server s' : 'verify' : expects 'none' or 'required', got 'optional'",
            ],
            false,
        ),
        ("ssl verify none sni req.hdr(host)", &[], true),
        ("ssl verify none sni ssl_fc_sni", &[], true),
        (
            "ssl verify none sni res.hdr(x)",
            &[
                "parsing [haproxy.cfg:10:49] : 'server s' : error detected while parsing sni expression :  fetch method 'res.hdr(x)' extracts information from 'HTTP response headers', none of which is available here.",
            ],
            false,
        ),
        (
            "ssl verify none proto h3",
            &[
                "parsing [haproxy.cfg:10:51] : 'server s' : 'proto' : unknown protocol 'h3' (the gateway speaks 'h1' and 'h2' to servers)",
            ],
            false,
        ),
    ];
    let mut failures = Vec::new();
    for (settings, want, haproxy_accepts) in cases {
        let text = format!(
            "global\n    ca-base {0}\n    crt-base {0}\n\
             defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 1s\n\
             backend be\n    server s 127.0.0.1:8443 {settings}\n\
             frontend fe\n    bind 127.0.0.1:8080\n    default_backend be\n",
            dir.display()
        );
        let (errors, _) = diagnostics(&text, dir);
        if errors != *want {
            failures.push(format!("{settings}:\n  errors {errors:#?}"));
        }
        let (accepted, output) = spoe_interop::haproxy_check(&text);
        if accepted != *haproxy_accepts {
            failures.push(format!("{settings}: haproxy -c says {accepted}:\n{output}"));
        }
    }
    // `ssl-server-verify none` and `ssl-default-server-*` are the server lines' defaults.
    let text = "global\n    ssl-server-verify none\n    ssl-default-server-options ssl-min-ver TLSv1.3 no-tls-tickets\n    \
                ssl-default-server-ciphersuites TLS_AES_128_GCM_SHA256\n\
                defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 1s\n\
                backend be\n    server s 127.0.0.1:8443 ssl\n\
                frontend fe\n    bind 127.0.0.1:8080\n    default_backend be\n";
    let (errors, _) = diagnostics(text, dir);
    if !errors.is_empty() || !spoe_interop::haproxy_check(text).0 {
        failures.push(format!("ssl-server-verify none:\n  errors {errors:#?}"));
    }
    // Towards the SPOE agents: TLS as towards any server; HTTP/2 refused, as by HAProxy.
    let agents = |settings: &str| {
        format!(
            "defaults\n    timeout client 5s\n    timeout server 5s\n    timeout connect 1s\n\
             backend agents\n    mode tcp\n    server a 127.0.0.1:12345 {settings}\n\
             frontend fe\n    mode http\n    bind 127.0.0.1:8080\n    http-request return status 200\n"
        )
    };
    let text = agents(&format!(
        "ssl verify required ca-file {}/ca.pem sni str(agent.example)",
        dir.display()
    ));
    let (errors, _) = diagnostics(&text, dir);
    if !errors.is_empty() || !spoe_interop::haproxy_check(&text).0 {
        failures.push(format!("agents over TLS:\n  errors {errors:#?}"));
    }
    let text = agents("proto h2");
    let (errors, _) = diagnostics(&text, dir);
    if errors
        != [
            "parsing [haproxy.cfg:7:12] : backend 'agents' : MUX protocol 'h2' is not usable for server 'a'",
        ]
        || spoe_interop::haproxy_check(&text).0
    {
        failures.push(format!("agents over h2:\n  errors {errors:#?}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `ssl-default-bind-ciphers` / `-server-ciphers` (and `-ciphersuites`) are checked where a TLS
/// `bind` or `server` uses them, as HAProxy 2.6 does: a string OpenSSL refuses passes in a
/// configuration with no TLS, and is an error at the line that uses it otherwise.
#[test]
fn default_cipher_strings_are_checked_where_they_are_used() {
    let pki = pki();
    let dir = pki.dir();
    let global = |extra: &str| {
        format!(
            "global\n    crt-base {}\n    ssl-default-bind-ciphers PROFILE=SYSTEM\n    \
             ssl-default-bind-ciphersuites TLS_FOO\n    ssl-default-server-ciphers PROFILE=SYSTEM\n{extra}",
            dir.display()
        )
    };
    let cases: &[(&str, String, &[&str], bool)] = &[
        ("no TLS", global(&frontend("")), &[], true),
        (
            "a TLS bind",
            global(&frontend("ssl crt www.pem")),
            &[
                "parsing [haproxy.cfg:12:25] : 'bind' : unable to set SSL cipher list to 'PROFILE=SYSTEM' (no cipher match) (from 'ssl-default-bind-ciphers')",
                "parsing [haproxy.cfg:12:25] : 'bind' : unable to set TLS 1.3 cipher suites to 'TLS_FOO' (no cipher match) (from 'ssl-default-bind-ciphersuites')",
            ],
            false,
        ),
        (
            "a TLS bind with its own lists",
            global(&frontend(
                "ssl crt www.pem ciphers ECDHE-RSA-AES128-GCM-SHA256 ciphersuites TLS_AES_128_GCM_SHA256",
            )),
            &[],
            true,
        ),
        (
            "a TLS server",
            global(
                "defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 1s\n\
                 listen l\n    bind 127.0.0.1:8080\n    server s 127.0.0.1:8443 ssl verify none\n",
            ),
            &[
                "parsing [haproxy.cfg:13:29] : 'server s' : unable to set SSL cipher list to 'PROFILE=SYSTEM' (no cipher match) (from 'ssl-default-server-ciphers')",
            ],
            false,
        ),
    ];
    let mut failures = Vec::new();
    for (name, text, want, haproxy_accepts) in cases {
        let (errors, _) = diagnostics(text, dir);
        if errors != *want {
            failures.push(format!("{name}:\n  errors {errors:#?}"));
        }
        let (accepted, output) = spoe_interop::haproxy_check(text);
        if accepted != *haproxy_accepts {
            failures.push(format!("{name}: haproxy -c says {accepted}:\n{output}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `ssl-dh-param-file`: read and checked as HAProxy does (RFC 7919's group from `openssl
/// genpkey` is valid, a certificate or a missing file is not), with HAProxy's message.
#[test]
fn dh_parameter_files_are_checked_as_haproxy() {
    let pki = pki();
    let dir = pki.dir();
    let dh = pki.path("dh.pem");
    let status = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-genparam",
            "-algorithm",
            "DH",
            "-pkeyopt",
            "group:ffdhe2048",
            "-out",
        ])
        .arg(&dh)
        .status()
        .unwrap_or_else(|e| panic!("cannot run openssl (test.sh installs it): {e}"));
    assert!(status.success(), "openssl genpkey -genparam");
    let mut failures = Vec::new();
    for (file, want) in [
        ("dh.pem", Vec::new()),
        (
            "www.pem",
            vec!["parsing [haproxy.cfg:2:5] : 'ssl-dh-param-file': unable to load DH parameters from file <$PKI/www.pem>.".to_owned()],
        ),
        (
            "missing.pem",
            vec!["parsing [haproxy.cfg:2:5] : 'ssl-dh-param-file': unable to load DH parameters from file <$PKI/missing.pem>.".to_owned()],
        ),
    ] {
        let text = format!(
            "global\n    ssl-dh-param-file {}/{file}\n{}",
            dir.display(),
            frontend("")
        );
        let (errors, warnings) = diagnostics(&text, dir);
        if errors != want || !warnings.is_empty() {
            failures.push(format!("{file}:\n  errors {errors:#?}\n  warnings {warnings:#?}"));
        }
        let (accepted, output) = spoe_interop::haproxy_check(&text);
        if accepted != want.is_empty() {
            failures.push(format!("{file}: haproxy -c says {accepted}:\n{output}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
