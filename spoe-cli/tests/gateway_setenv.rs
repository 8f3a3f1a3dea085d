//! Differential test of `setenv`, `presetenv`, `unsetenv` and `resetenv` at run time: the same
//! `haproxy.cfg` run by HAProxy 2.6 and by `spoe gateway -f`; `env()` in rules and in an SPOE
//! message, `"${VAR}"` in a header value and in a server's address must give the same answers.
//! Fails (never skips) without `haproxy`.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock"
)]

mod gateway_support;

use std::net::SocketAddr;

use gateway_support::{AgentProc, Backend, Both, Resp, echo_message_conf, get};

fn spoe_conf() -> String {
    echo_message_conf("envs", "greeting=env(GREETING) home=env(HOME)")
}

/// `reset` adds a `resetenv` keeping `PATH`, `GREETING` and `APP_ADDR` (both test processes have `PATH`
/// and `HOME`).
fn haproxy_cfg(port: u16, agent: SocketAddr, server: SocketAddr, reset: bool) -> String {
    let reset = if reset {
        "    resetenv PATH GREETING APP_ADDR\n"
    } else {
        ""
    };
    format!(
        r#"global
    setenv GREETING hello
    presetenv GREETING ignored
    presetenv OTHER other
    setenv APP_ADDR {server}
    setenv DROPPED soon-gone
    unsetenv DROPPED
{reset}defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:{port}
    filter spoe engine e config spoe.conf
    http-request return status 200 hdr x-env "greeting=%[env(GREETING)] other=%[env(OTHER)] dropped=%[env(DROPPED)] home-set=%[env(HOME),length] path-set=%[env(PATH),length]" hdr x-quoted "${{GREETING}}" hdr x-agent "%[var(txn.echo.greeting)] home-set=%[var(txn.echo.home),length]" if {{ path /env }}
    default_backend app
backend app
    server s1 "${{APP_ADDR}}"
backend agents
    mode tcp
    server a {agent}
"#
    )
}

fn seen(r: &Resp) -> Vec<Option<String>> {
    ["x-env", "x-quoted", "x-agent", "x-backend"]
        .iter()
        .map(|n| r.header(n).map(str::to_owned))
        .collect()
}

fn compare(reset: bool) {
    let agent = AgentProc::echo(&[]);
    let server = Backend::start("app");
    let cfg = |port| haproxy_cfg(port, agent.addr, server.addr, reset);
    let both = Both::start_on(cfg, &[("spoe.conf", &spoe_conf())]);
    for path in ["/env", "/to-the-server"] {
        let hap = get(both.hap_addr, path, &[]).expect("haproxy");
        let gw = get(both.gw_addr, path, &[]).expect("gateway");
        assert_eq!(
            seen(&gw),
            seen(&hap),
            "{path} (resetenv: {reset})\n--- gateway:\n{}\n--- haproxy:\n{}",
            both.gateway.log(),
            both.haproxy.log()
        );
    }
    // Not vacuous.
    let hap = get(both.hap_addr, "/env", &[]).unwrap();
    let env = hap.header("x-env").unwrap_or_default().to_owned();
    let other = if reset { "" } else { "other" };
    assert!(
        env.starts_with(&format!("greeting=hello other={other} dropped= ")),
        "{env}"
    );
    assert_eq!(env.contains("home-set= "), reset, "{env}");
    assert_eq!(hap.header("x-quoted"), Some("hello"));
    let to_server = get(both.hap_addr, "/to-the-server", &[]).unwrap();
    assert_eq!(to_server.header("x-backend"), Some("app"));
}

#[test]
fn setenv_family_agrees_with_haproxy() {
    compare(false);
}

#[test]
fn resetenv_agrees_with_haproxy() {
    compare(true);
}
