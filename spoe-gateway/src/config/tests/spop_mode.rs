//! `mode spop`, HAProxy 3.1's mode of the SPOE agents' backend (3.1 also turns a `mode tcp`
//! agents' backend into it): the two spellings make the same gateway, and what 3.1 refuses
//! (`mode spop` in a frontend, a frontend routing to the agents' backend) is refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::model::GatewayConfig;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn parse(text: &str) -> Result<GatewayConfig, String> {
    GatewayConfig::parse_str(text, "haproxy.cfg", &data_dir(), Some(BTreeMap::new()))
        .map(|(c, _)| c)
        .map_err(|e| e.to_string())
}

/// A 2.6 file (`mode tcp`) or its 3.1 spelling (`mode spop`) for the agents' backend.
fn agents_file(mode: &str) -> String {
    format!(
        "\
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend web
    bind :8080
    filter spoe engine ip config agents.conf
    default_backend app
backend app
    server s1 127.0.0.1:8081
backend agents
    mode {mode}
    option spop-check
    timeout connect 1s
    server a1 127.0.0.1:12345 check inter 2s
"
    )
}

#[test]
fn mode_spop_makes_the_same_gateway_as_mode_tcp() {
    let tcp = parse(&agents_file("tcp")).unwrap();
    let spop = parse(&agents_file("spop")).unwrap();
    // Same lines at the same places: the whole model must be the same.
    assert_eq!(format!("{spop:?}"), format!("{tcp:?}"));
    let agents = spop.backends.iter().find(|b| b.name == "agents").unwrap();
    assert_eq!(agents.mode, crate::model::Mode::Tcp);
    assert!(agents.spop_check);
}

#[test]
fn mode_spop_in_defaults_serves_backends_and_listen_without_bind() {
    let text = "\
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend web
    bind :8080
    filter spoe engine ip config agents.conf
    default_backend app
backend app
    server s1 127.0.0.1:8081
defaults spop
    mode spop
listen agents
    server a1 127.0.0.1:12345
";
    let c = parse(text).unwrap();
    assert!(c.backends.iter().any(|b| b.name == "agents"));
}

#[test]
fn what_haproxy_3_1_refuses_is_refused() {
    let cases: &[(&str, &str)] = &[
        (
            "frontend web\n    mode spop\n    bind :8080\n",
            "parsing [haproxy.cfg:2:10] : unknown proxy mode 'spop' ('mode spop' is for the backend of SPOE agents, HAProxy 3.1+)",
        ),
        (
            "frontend web\n    mode tcp\n    bind :8080\n    default_backend agents\nbackend agents\n    mode spop\n    server a1 127.0.0.1:12345\n",
            "parsing [haproxy.cfg:4:21] : tcp frontend 'web' (haproxy.cfg:1:1) tries to use incompatible spop backend 'agents' (haproxy.cfg:5:1) as its default backend (see 'mode')",
        ),
        (
            "frontend web\n    mode http\n    bind :8080\n    use_backend agents if { path /x }\n    default_backend app\nbackend app\n    mode http\nbackend agents\n    mode spop\n",
            "parsing [haproxy.cfg:4:17] : http frontend 'web' (haproxy.cfg:1:1) tries to use incompatible spop backend 'agents' (haproxy.cfg:8:1) in a 'use_backend' rule (see 'mode')",
        ),
        (
            "defaults\n    mode spop\nlisten agents\n    bind :8080\n    server a1 127.0.0.1:12345\n",
            "parsing [haproxy.cfg:3:1] : listen 'agents' : 'mode spop' is for the backend of SPOE agents only; the gateway runs no SPOP frontend",
        ),
        (
            "frontend web\n    mode http\n    bind :8080\n    filter spoe engine ip config agents.conf\n    default_backend app\nbackend app\n    mode http\nbackend agents\n    mode http\n",
            "does not support HTTP mode",
        ),
    ];
    for (text, expected) in cases {
        let err = parse(text).expect_err(text);
        assert!(
            err.contains(expected),
            "for:\n{text}\nexpected: {expected}\ngot: {err}"
        );
    }
}

#[test]
fn haproxy_2_6_knows_no_mode_spop() {
    // The differential base: 2.6 refuses the 3.1 spelling, so the gateway's meaning is 3.1's.
    let (accepted, output) = spoe_interop::haproxy_check_with_files(
        "backend agents\n    mode spop\n    server a1 127.0.0.1:12345\n",
        &[],
    );
    assert!(!accepted, "{output}");
    assert!(output.contains("unknown proxy mode 'spop'"), "{output}");
}
