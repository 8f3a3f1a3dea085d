//! HAProxy's Lua scripts on the gateway, against HAProxy 2.6 (built with Lua 5.3): the same
//! `haproxy.cfg`, the same Lua files (`tests/lua/`: pages an SPOE agent's verdict selects,
//! CORS, JWT verification, redirect helpers, JSON services; written for this test in the style
//! of the scripts SPOE deployments use) and the same SPOE agent, run by both. Every request
//! must get the same status, headers, body and variables from both.
//!
//! Fails (never skips) when `haproxy` is missing: `spoe-interop` panics with the install command.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock"
)]

mod gateway_support;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use gateway_support::{AgentProc, Backend, GatewayProc, Resp, local, request};
use spoe_interop::Haproxy;

/// Every Lua file of the corpus, by name.
const SCRIPTS: &[(&str, &str)] = &[
    ("remediation.lua", include_str!("lua/remediation.lua")),
    ("cors.lua", include_str!("lua/cors.lua")),
    ("jwt.lua", include_str!("lua/jwt.lua")),
    ("redirect.lua", include_str!("lua/redirect.lua")),
    ("json_service.lua", include_str!("lua/json_service.lua")),
    ("failures.lua", include_str!("lua/failures.lua")),
];

/// The agent echoes what the request carries as the `txn.cs.*` verdict (the way a bouncer's
/// agent answers `remediation`, `origin` and a per-client `token`).
const SPOE_CONF: &str = "\
[cs]
spoe-agent cs-agent
    messages check
    option var-prefix cs
    timeout hello 2s
    timeout idle 30s
    timeout processing 2s
    use-backend agents
spoe-message check
    args remediation=req.hdr(x-remediation) origin=req.hdr(x-origin) token=req.hdr(x-cs-token) score=req.hdr(x-score) norm=path,lua.normalize_path
    event on-frontend-http-request if { req.hdr(x-remediation) -m found }
";

fn haproxy_cfg(port: u16, agent: SocketAddr, backend: SocketAddr) -> String {
    format!(
        r#"global
    lua-load remediation.lua
    lua-load cors.lua
    lua-load jwt.lua
    lua-load redirect.lua
    lua-load json_service.lua
    lua-load failures.lua
    tune.lua.session-timeout 300ms
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:{port}
    filter spoe engine cs config spoe.conf
    http-request lua.moved
    http-request redirect location %[lua.canonical_url(www.example.com)] code 301 if {{ path_beg /canon }}
    http-request set-header x-norm %[path,lua.normalize_path]
    http-request lua.remediate if {{ var(txn.cs.remediation) -m found }}
    http-request set-header x-captcha-passed %[var(txn.cs.captcha_passed)] if {{ var(txn.cs.captcha_passed) -m found }}
    http-request lua.cors "GET,PUT,POST" "example.com,*.example.org" "X-Custom,Authorization" if {{ path_beg /cors }}
    http-request lua.jwt_verify secret-key if {{ path_beg /private }}
    http-request deny deny_status 401 if {{ path_beg /private }} !{{ var(txn.jwt.valid) -m bool }}
    http-request set-header x-user %[var(txn.jwt.sub)] if {{ path_beg /private }}
    http-request use-service lua.status_json if {{ path_beg /status }}
    http-request use-service lua.echo_body if {{ path_beg /echo }}
    http-request lua.boom if {{ path /fail/boom }}
    http-request lua.spin if {{ path /fail/spin }}
    http-request set-header x-broken "%[lua.broken]" if {{ path /fail/fetch }}
    http-request use-service lua.broken_service if {{ path /fail/service }}
    http-request lua.deny_it if {{ path /fail/deny }}
    http-request set-var(txn.path) path
    http-response lua.res_rewrite if {{ var(txn.path) -m str /res/rewrite }}
    http-response lua.cors_response
    http-response set-header x-vars "captcha=%[var(txn.cs.captcha_passed)] valid=%[var(txn.jwt.valid)] sub=%[var(txn.jwt.sub)] scope=%[var(txn.jwt.scope)] hits=%[var(txn.hits)] boom=%[var(txn.before_boom)] spin=%[var(txn.before_spin)] norm=%[var(txn.cs.norm)]"
    http-response set-header x-jwt-reason %[var(txn.jwt.reason)] if {{ var(txn.jwt.reason) -m found }}
    default_backend main
backend main
    server s1 {backend}
backend agents
    mode tcp
    server a {agent}
"#
    )
}

/// Tokens signed with `secret-key` (the `jwt_sign_hs256` converter of `jwt.lua` makes them):
/// alice's expires in 2100, bob's expired in 1970; mallory's is signed with another key.
const ALICE: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsInNjb3BlIjoicmVhZCIsImV4cCI6NDEwMjQ0NDgwMH0.ieCBQMX8pTh1hxQSKNMHMx4GBlc5hHVHpYmMJBrY7Ws";
const BOB: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJib2IiLCJleHAiOjEwMDB9.OQUqrZ74cm0VamYwy0UoV4n7SAjmbR6Yn19tATMU4i0";
const MALLORY: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJtYWxsb3J5IiwiZXhwIjo0MTAyNDQ0ODAwfQ.CG2US5aZ4VGCcgv0NUmYDvKkrmAG39GNvAhSnVhlduc";

struct Case {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    body: &'static [u8],
    /// Off for HAProxy's built-in error pages, whose wording differs by design.
    compare_body: bool,
}

fn case(name: &'static str, path: &'static str, headers: &[(&'static str, &str)]) -> Case {
    Case {
        name,
        method: "GET",
        path,
        headers: headers.iter().map(|(n, v)| (*n, (*v).to_owned())).collect(),
        body: b"",
        compare_body: true,
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn corpus() -> Vec<Case> {
    vec![
        case(
            "ban page rendered from the agent's variables",
            "/page",
            &[
                ("x-remediation", "ban"),
                ("x-origin", "crowdsec<cs>"),
                ("x-request-id", "r-1"),
            ],
        ),
        case(
            "captcha page, the path escaped into it",
            "/pa%3Cge?x=1",
            &[("x-remediation", "captcha"), ("x-cs-token", "tok")],
        ),
        case(
            "captcha solved: the cookie matches the agent's token",
            "/page",
            &[
                ("x-remediation", "captcha"),
                ("x-cs-token", "tok"),
                ("cookie", "a=b; cs_captcha=tok"),
            ],
        ),
        case(
            "an unknown remediation is let through",
            "/page",
            &[("x-remediation", "throttle")],
        ),
        Case {
            method: "OPTIONS",
            ..case(
                "CORS preflight from an allowed origin is answered by Lua",
                "/cors/items",
                &[
                    ("origin", "https://app.example.org"),
                    ("access-control-request-method", "PUT"),
                ],
            )
        },
        Case {
            method: "OPTIONS",
            ..case(
                "CORS preflight from another origin: no grant",
                "/cors/items",
                &[
                    ("origin", "https://evil.test"),
                    ("access-control-request-method", "PUT"),
                ],
            )
        },
        case(
            "CORS: the response action grants an allowed origin",
            "/cors/items",
            &[("origin", "https://example.com")],
        ),
        case(
            "CORS: no grant for another origin",
            "/cors/items",
            &[("origin", "https://evil.test")],
        ),
        case(
            "JWT: a valid token",
            "/private/data",
            &[("authorization", &bearer(ALICE))],
        ),
        Case {
            compare_body: false,
            ..case(
                "JWT: an expired token",
                "/private/data",
                &[("authorization", &bearer(BOB))],
            )
        },
        Case {
            compare_body: false,
            ..case(
                "JWT: a forged signature",
                "/private/data",
                &[("authorization", &bearer(MALLORY))],
            )
        },
        Case {
            compare_body: false,
            ..case("JWT: no token", "/private/data", &[])
        },
        case(
            "a moved page (Lua's txn:done with a Location)",
            "/old-blog",
            &[],
        ),
        case(
            "a Lua fetch in a redirect's log-format",
            "/canon/a/b?q=1",
            &[],
        ),
        case("a Lua converter in a set-header", "//Docs//V2/", &[]),
        case(
            "a JSON service reads the request and the agent's variables",
            "/status?b=2&a=1&a=3",
            &[
                ("user-agent", "tester/1.0"),
                ("x-remediation", "none"),
                ("x-score", "42"),
            ],
        ),
        Case {
            method: "POST",
            body: b"one\ntwo\nthree",
            ..case(
                "a service reads the body line by line and streams its answer",
                "/echo",
                &[],
            )
        },
        case(
            "an action that fails: logged, the rules go on",
            "/fail/boom",
            &[],
        ),
        case(
            "an action that loops: stopped at tune.lua.session-timeout, the rules go on",
            "/fail/spin",
            &[],
        ),
        case("a fetch that fails gives no value", "/fail/fetch", &[]),
        Case {
            compare_body: false,
            ..case(
                "a service that fails before its head: 500",
                "/fail/service",
                &[],
            )
        },
        Case {
            compare_body: false,
            ..case("act.DENY: 403", "/fail/deny", &[])
        },
        case(
            "a response action rewrites the status and headers",
            "/res/rewrite",
            &[],
        ),
    ]
}

/// Status, the headers a client or a script acts on (`x-*`, `echo-x-*` from the backend,
/// content-type, location, set-cookie, cache-control, CORS's), values in order per name (the
/// order of different names is not compared: HAProxy emits a Lua table's in hash order), and
/// the body when the case says so.
type Comparable = (u16, BTreeMap<String, Vec<String>>, String);

fn comparable(resp: &Resp, compare_body: bool) -> Comparable {
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (n, v) in &resp.headers {
        let kept = n.starts_with("x-")
            || n.starts_with("echo-x-")
            || n.starts_with("access-control-")
            || ["content-type", "location", "set-cookie", "vary"].contains(&n.as_str())
            || (n == "cache-control" && compare_body);
        if kept {
            headers.entry(n.clone()).or_default().push(v.clone());
        }
    }
    let body = if compare_body {
        String::from_utf8_lossy(&resp.body).into_owned()
    } else {
        String::new()
    };
    (resp.status, headers, body)
}

fn send(addr: SocketAddr, c: &Case) -> Resp {
    let headers: Vec<(&str, &str)> = c.headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    request(addr, c.method, c.path, &headers, c.body)
        .unwrap_or_else(|e| panic!("{} {} to {addr} ({}): {e}", c.method, c.path, c.name))
}

#[test]
fn haproxys_lua_scripts_answer_the_same_on_the_gateway() {
    let agent = AgentProc::echo(&[]);
    let main = Backend::start("main");
    let mut files: Vec<(&str, &str)> = SCRIPTS.to_vec();
    files.push(("spoe.conf", SPOE_CONF));
    let (haproxy, hap_port) =
        Haproxy::start_on_port(|port| haproxy_cfg(port, agent.addr, main.addr), &files);
    let (gateway, gw_addr) =
        GatewayProc::start_on_port(|port| haproxy_cfg(port, agent.addr, main.addr), &files);

    let mut diffs = Vec::new();
    let mut seen = BTreeMap::new();
    for c in corpus() {
        let hap = comparable(&send(local(hap_port), &c), c.compare_body);
        let gw = comparable(&send(gw_addr, &c), c.compare_body);
        seen.insert(c.name, gw.clone());
        if hap != gw {
            diffs.push(format!(
                "case {:?} ({} {}):\n  haproxy: {hap:?}\n  gateway: {gw:?}",
                c.name, c.method, c.path
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} cases differ between HAProxy 2.6 and the gateway:\n{}\n--- gateway stderr:\n{}\n--- haproxy log:\n{}",
        diffs.len(),
        diffs.join("\n"),
        gateway.log(),
        haproxy.log()
    );
    // The corpus exercises the scripts (two proxies that did nothing would agree too).
    let vars = |name: &str| {
        seen[name]
            .1
            .get("x-vars")
            .cloned()
            .unwrap_or_default()
            .join("")
    };
    assert_eq!(seen["ban page rendered from the agent's variables"].0, 403);
    assert!(
        seen["ban page rendered from the agent's variables"]
            .2
            .contains("crowdsec&lt;cs&gt;")
    );
    assert_eq!(seen["JWT: a valid token"].1["echo-x-user"], ["alice"]);
    assert_eq!(seen["JWT: a forged signature"].0, 401);
    assert!(vars("an action that fails: logged, the rules go on").contains("boom=1"));
    assert!(
        vars("an action that loops: stopped at tune.lua.session-timeout, the rules go on")
            .contains("spin=1")
    );
    assert_eq!(seen["a service that fails before its head: 500"].0, 500);
    // A Lua converter in an SPOE message's argument.
    assert!(
        vars("a JSON service reads the request and the agent's variables").contains("norm=/status")
    );
    assert_eq!(
        seen["a response action rewrites the status and headers"].0,
        299
    );
    assert!(
        gateway
            .log()
            .contains("Lua function 'spin': execution timeout"),
        "{}",
        gateway.log()
    );
    assert_eq!(main.count() % 2, 0, "both proxies reach the backend alike");
    assert!(main.count() > 0);
}

/// `spoe check -f haproxy.cfg` in a directory holding `files`: (valid, output).
fn spoe_check(config: &str, files: &[(&str, &str)]) -> (bool, String) {
    let dir = tempfile::tempdir().expect("temporary directory");
    for (name, contents) in files {
        std::fs::write(dir.path().join(name), contents).expect("write file");
    }
    std::fs::write(dir.path().join("haproxy.cfg"), config).expect("write haproxy.cfg");
    let out = std::process::Command::new(gateway_support::SPOE)
        .args(["check", "-f", "haproxy.cfg"])
        .current_dir(dir.path())
        .output()
        .expect("run spoe check");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The corpus check: every Lua file of the corpus loads on both, alone, with `lua-load` and
/// with `lua-load-per-thread`; and a file that does not compile, or fails while it loads, is
/// refused by both.
#[test]
fn every_lua_file_loads_on_both_and_broken_ones_on_neither() {
    let config = |directive: &str, file: &str| {
        format!(
            "global\n    {directive} {file}\ndefaults\n    mode http\n    timeout connect 1s\n    \
             timeout client 1s\n    timeout server 1s\nfrontend fe\n    bind 127.0.0.1:8080\n    \
             default_backend be\nbackend be\n    server s 127.0.0.1:8081\n"
        )
    };
    for directive in ["lua-load", "lua-load-per-thread"] {
        for (name, _) in SCRIPTS {
            let cfg = config(directive, name);
            let (hap_ok, hap_out) = spoe_interop::haproxy_check_with_files(&cfg, SCRIPTS);
            let (gw_ok, gw_out) = spoe_check(&cfg, SCRIPTS);
            assert!(hap_ok, "haproxy refuses {directive} {name}:\n{hap_out}");
            assert!(gw_ok, "spoe check refuses {directive} {name}:\n{gw_out}");
        }
    }
    let broken: &[(&str, &str)] = &[
        (
            "syntax.lua",
            "core.register_action('x', { 'http-req' }, function(txn)\n",
        ),
        ("runtime.lua", "local t = nil\nprint(t.field)\n"),
        (
            "badkind.lua",
            "core.register_action('x', { 'smtp' }, function() end)\n",
        ),
    ];
    for (name, _) in broken {
        let cfg = config("lua-load", name);
        let (hap_ok, hap_out) = spoe_interop::haproxy_check_with_files(&cfg, broken);
        let (gw_ok, gw_out) = spoe_check(&cfg, broken);
        assert!(!hap_ok, "haproxy accepts {name}:\n{hap_out}");
        assert!(!gw_ok, "spoe check accepts {name}:\n{gw_out}");
    }
    // An action the files do not register is refused where it is used.
    let cfg = config("lua-load", "cors.lua").replace(
        "    default_backend be\n",
        "    http-request lua.nope\n    default_backend be\n",
    );
    assert!(!spoe_interop::haproxy_check_with_files(&cfg, SCRIPTS).0);
    let (ok, out) = spoe_check(&cfg, SCRIPTS);
    assert!(!ok && out.contains("lua.nope"), "{out}");
}
