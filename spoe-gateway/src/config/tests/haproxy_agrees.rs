//! The gateway's parser and HAProxy 2.6 (`haproxy -c`) agree: configurations that exercise
//! every supported directive and action are accepted by both, and invalid ones are rejected by
//! both. HAProxy runs in a temporary directory holding copies of the files of `tests/data/`, so
//! the configurations name them relatively, and the gateway resolves them from `tests/data/`
//! (both use HAProxy's rule: relative to the current directory).

use std::path::{Path, PathBuf};

use spoe::config::ConfigWarning;

use crate::model::{
    Balance, GatewayConfig, HttpAction, LogFormatPart, Mode, RedirectKind, Reply, ReturnBody,
};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

const DATA_FILES: &[&str] = &["agents.conf", "http-backend.conf", "503.http"];

fn haproxy(config: &str) -> (bool, String) {
    let contents: Vec<(&str, String)> = DATA_FILES
        .iter()
        .map(|name| {
            let text = std::fs::read_to_string(data_dir().join(name)).expect("read test data");
            (*name, text)
        })
        .collect();
    let files: Vec<(&str, &str)> = contents.iter().map(|(n, t)| (*n, t.as_str())).collect();
    spoe_interop::haproxy_check_with_files(config, &files)
}

pub(super) fn ours(config: &str) -> Result<GatewayConfig, String> {
    ours_with_warnings(config).map(|(c, _)| c)
}

fn ours_with_warnings(config: &str) -> Result<(GatewayConfig, Vec<ConfigWarning>), String> {
    GatewayConfig::parse_str(config, "haproxy.cfg", &data_dir(), None).map_err(|e| e.to_string())
}

/// Both accept `config`, and every warning HAProxy gives, we give at the same line; returns
/// ours.
#[track_caller]
pub(super) fn both_accept(config: &str) -> GatewayConfig {
    let (accepted, output) = haproxy(config);
    assert!(
        accepted,
        "haproxy rejected:\n{output}\n--- config ---\n{config}"
    );
    let (c, warnings) = match ours_with_warnings(config) {
        Ok(c) => c,
        Err(e) => panic!("the gateway rejected:\n{e}\n--- config ---\n{config}"),
    };
    for w in spoe_interop::haproxy_warnings(&output) {
        let found = w.place(config, "haproxy.cfg").is_some_and(|(file, line)| {
            warnings
                .iter()
                .any(|o| o.span.file.ends_with(&file) && o.span.line == line)
        });
        let ours: Vec<String> = warnings.iter().map(ToString::to_string).collect();
        assert!(
            found,
            "haproxy warns \"{}\", we do not:\n{}\n--- config ---\n{config}",
            w.text,
            ours.join("\n")
        );
    }
    c
}

/// Both reject `config`; returns our first error.
#[track_caller]
pub(super) fn both_reject(config: &str) -> String {
    let (accepted, output) = haproxy(config);
    assert!(
        !accepted,
        "haproxy accepted:\n{output}\n--- config ---\n{config}"
    );
    match ours(config) {
        Ok(_) => panic!("the gateway accepted:\n{config}"),
        Err(e) => e.lines().next().unwrap_or_default().to_owned(),
    }
}

const DEFAULTS: &str = "\
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
";

pub(super) fn with_defaults(body: &str) -> String {
    format!("{DEFAULTS}{body}")
}

fn text_of(parts: &[LogFormatPart]) -> String {
    parts
        .iter()
        .map(|p| match p {
            LogFormatPart::Text(t) => t.clone(),
            LogFormatPart::Sample(e) => format!("%[{}]", e.text()),
        })
        .collect()
}

#[test]
fn minimal() {
    let c = both_accept(&with_defaults(
        "\
frontend web
    bind 127.0.0.1:8080
    default_backend app
backend app
    server s1 127.0.0.1:9000
",
    ));
    assert_eq!(c.frontends.len(), 1);
    assert_eq!(c.frontends[0].default_backend.as_deref(), Some("app"));
    assert_eq!(c.backends[0].mode, Mode::Http);
    assert_eq!(c.backends[0].servers[0].addr.to_string(), "127.0.0.1:9000");
    assert_eq!(
        c.frontends[0].timeouts.client,
        Some(std::time::Duration::from_secs(30))
    );
    assert_eq!(c.files, [PathBuf::from("haproxy.cfg")]);
}

#[test]
fn binds_listen_and_servers() {
    let c = both_accept(&with_defaults(
        "\
    default-server inter 3s rise 3
listen app
    bind :8080
    bind *:8081
    bind 127.0.0.1:8082,[::1]:8083
    bind :::8084
    bind ipv4@127.0.0.1:8085-8086
    maxconn 500
    balance leastconn
    default-server fall 5
    server s1 127.0.0.1:9001 check
    server s2 127.0.0.1:9002 check inter 500ms rise 1 fall 1 weight 10 maxconn 20
    server s3 localhost:9003 no-check weight 0 pool-max-conn -1 pool-purge-delay 0
    server s4 127.0.0.1:9004 pool-max-conn 8 pool-purge-delay 10s
",
    ));
    let binds: Vec<String> = c.frontends[0]
        .binds
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        binds,
        [
            "0.0.0.0:8080",
            "0.0.0.0:8081",
            "127.0.0.1:8082",
            "[::1]:8083",
            "[::]:8084",
            "127.0.0.1:8085",
            "127.0.0.1:8086"
        ]
    );
    assert_eq!(c.frontends[0].maxconn, Some(500));
    // A listen routes to its own servers.
    assert_eq!(c.frontends[0].default_backend.as_deref(), Some("app"));
    let b = c.backend("app").unwrap();
    assert_eq!(b.balance, Balance::LeastConn);
    let s1 = &b.servers[0];
    assert!(s1.check);
    assert_eq!(
        (
            s1.inter.as_millis(),
            s1.rise,
            s1.fall,
            s1.weight,
            s1.maxconn
        ),
        (3000, 3, 5, 1, None)
    );
    let s2 = &b.servers[1];
    assert_eq!(
        (
            s2.inter.as_millis(),
            s2.rise,
            s2.fall,
            s2.weight,
            s2.maxconn
        ),
        (500, 1, 1, 10, Some(20))
    );
    assert!(!b.servers[2].check);
    assert_eq!(b.servers[2].weight, 0);
    assert_eq!(
        (b.servers[2].pool_max_conn, b.servers[2].pool_purge_delay),
        (None, std::time::Duration::ZERO)
    );
    assert_eq!(
        (b.servers[3].pool_max_conn, b.servers[3].pool_purge_delay),
        (Some(8), std::time::Duration::from_secs(10))
    );
}

#[test]
fn acls_conditions_and_routing() {
    let c = both_accept(&with_defaults(
        "\
frontend web
    bind :8080
    acl api path_beg /api/
    acl api hdr(host) -i api.example.com
    acl static path_end .css .js
    acl admin path_beg -i /admin
    acl internal src 10.0.0.0/8 127.0.0.1
    http-request deny if admin !internal
    http-request deny deny_status 405 if !METH_GET !{ method POST }
    use_backend api if api || { hdr_sub(user-agent) -i curl }
    use_backend static if static METH_GET or TRUE !LOCALHOST
    use_backend api unless { path / }
    default_backend app
backend app
    server s1 127.0.0.1:9000
backend api
    server s1 127.0.0.1:9001
backend static
    server s1 127.0.0.1:9002
",
    ));
    let f = &c.frontends[0];
    assert_eq!(f.use_backends.len(), 3);
    assert_eq!(f.use_backends[0].backend, "api");
    let cond = f.use_backends[0].cond.as_ref().unwrap();
    assert_eq!(cond.suites.len(), 2);
    let cond = f.use_backends[1].cond.as_ref().unwrap();
    assert_eq!(cond.suites.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2]);
    assert!(f.acls.find("api").is_some_and(|a| a.exprs.len() == 2));
    assert!(f.acls.find("METH_GET").is_some());
    assert!(matches!(
        f.http_request[1].action,
        HttpAction::Deny {
            status: 405,
            ref reply
        } if matches!(**reply, Reply::ProxyPage)
    ));
}

#[test]
fn http_request_actions() {
    let c = both_accept(&with_defaults(
        "\
frontend web
    bind :8080
    http-request use-service prometheus-exporter if { path /metrics }
    http-request return status 200 content-type text/plain string ok if { path /health }
    http-request return status 404 content-type application/json hdr X-Reason missing hdr X-From \"%[src]\" lf-string \"{\\\"path\\\":\\\"%[path]\\\"}\" if { path_beg /gone }
    http-request return status 204 if { path /empty }
    http-request redirect location https://example.com%[path] code 301 if { path_beg /old }
    http-request redirect prefix /v2 code 308 if { path_beg /v1 }
    http-request redirect prefix / if { path_beg /self }
    http-request deny deny_status 429 if { path_beg /slow }
    http-request deny if { path_beg /private }
    http-request set-header X-Client-IP %[src]
    http-request add-header X-Trace \"id=%[unique-id] 100%%\"
    http-request del-header X-Secret
    http-request del-header X-Other -m str
    http-request set-var(txn.host) req.hdr(host),lower
    http-request set-var(req.len) req.hdr_cnt(cookie) if { req.hdr(cookie) -m found }
    default_backend app
backend app
    server s1 127.0.0.1:9000
",
    ));
    let rules = &c.frontends[0].http_request;
    assert_eq!(rules.len(), 15);
    assert!(matches!(rules[0].action, HttpAction::PrometheusExporter));
    match &rules[2].action {
        HttpAction::Return { status, reply } => {
            let Reply::Built {
                content_type,
                headers,
                body: Some(ReturnBody::LogFormat(body)),
            } = &**reply
            else {
                panic!("{reply:?}");
            };
            assert_eq!(*status, 404);
            assert_eq!(content_type.as_deref(), Some("application/json"));
            assert_eq!(headers.len(), 2);
            assert_eq!(text_of(&headers[1].1.0), "%[src]");
            assert_eq!(text_of(&body.0), "{\"path\":\"%[path]\"}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        rules[3].action,
        HttpAction::Return {
            status: 204,
            ref reply
        } if matches!(**reply, Reply::Built { body: None, .. })
    ));
    match &rules[4].action {
        HttpAction::Redirect {
            kind, target, code, ..
        } => {
            assert_eq!((*kind, *code), (RedirectKind::Location, 301));
            assert_eq!(text_of(&target.0), "https://example.com%[path]");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        rules[5].action,
        HttpAction::Redirect {
            kind: RedirectKind::Prefix,
            code: 308,
            ..
        }
    ));
    assert!(matches!(
        rules[8].action,
        HttpAction::Deny {
            status: 403,
            ref reply
        } if matches!(**reply, Reply::ProxyPage)
    ));
    match &rules[10].action {
        HttpAction::AddHeader { name, value } => {
            assert_eq!(name, "X-Trace");
            assert_eq!(text_of(&value.0), "id=%[unique-id] 100%");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(&rules[12].action, HttpAction::DelHeader { name } if name == "X-Other"));
    assert_eq!(c.var_names(), ["req.len", "txn.host"]);
}

#[test]
fn http_response_actions() {
    let c = both_accept(&with_defaults(
        "\
frontend web
    bind :8080
    http-response set-header X-Status %[status] if { status ge 500 }
    http-response add-header Via gateway
    http-response del-header Server
    http-response set-var(txn.ctype) res.hdr(content-type) unless { res.hdr(content-type) -m len 0 }
    http-response set-header X-Copy \"%[var(txn.ctype)]\"
    default_backend app
backend app
    http-response set-header X-Backend app
    server s1 127.0.0.1:9000
",
    ));
    assert_eq!(c.frontends[0].http_response.len(), 5);
    assert_eq!(c.backends[0].http_response.len(), 1);
    assert_eq!(c.var_names(), ["txn.ctype"]);
}

#[test]
fn spoe_filters_and_groups() {
    let c = both_accept(&with_defaults(
        "\
frontend web
    bind :8080
    filter spoe engine ip config agents.conf
    filter spoe engine waf config agents.conf
    http-request send-spoe-group ip req-group if { path_beg /check }
    http-request deny if { var(txn.waf.block) -m bool }
    http-response send-spoe-group ip resp-group
    default_backend app
backend app
    filter spoe engine ip config agents.conf
    http-request send-spoe-group ip req-group
    server s1 127.0.0.1:9000
backend agents
    mode tcp
    option spop-check
    server a1 127.0.0.1:12345 check
backend waf-agents
    mode tcp
    balance roundrobin
    server w1 127.0.0.1:12346
",
    ));
    let f = &c.frontends[0];
    assert_eq!(f.filters.len(), 2);
    assert_eq!(f.filters[0].engine.as_deref(), Some("ip"));
    assert_eq!(f.filters[0].config.agent.id, "ip-agent");
    assert_eq!(f.filters[1].config.agent.use_backend.value, "waf-agents");
    assert_eq!(
        &*f.filters[0].config.file,
        data_dir().join("agents.conf").as_path()
    );
    assert_eq!(c.backend("app").unwrap().filters.len(), 1);
    let agents = c.backend("agents").unwrap();
    assert_eq!(agents.mode, Mode::Tcp);
    assert!(agents.spop_check);
    assert_eq!(
        c.files,
        [PathBuf::from("haproxy.cfg"), data_dir().join("agents.conf")]
    );
    assert_eq!(c.var_names(), ["sess.ip.score", "txn.waf.block"]);
}

#[test]
fn defaults_apply_in_order() {
    let c = both_accept(
        "\
defaults base
    mode http
    timeout client 10s
    timeout connect 1s
    timeout server 10s
    balance leastconn
frontend web
    bind :8080
    default_backend app
backend app
    server s1 127.0.0.1:9000
defaults
    mode tcp
    timeout connect 2s
    timeout server 20s
backend agents
    option spop-check
    server a1 127.0.0.1:12345
frontend api from base
    bind :8081
    timeout client 5s
    timeout http-request 3s
    timeout http-keep-alive 1s
    default_backend api
backend api from base
    timeout queue 2s
    server s1 127.0.0.1:9001
",
    );
    let secs = |s| Some(std::time::Duration::from_secs(s));
    let app = c.backend("app").unwrap();
    assert_eq!(
        (app.mode, app.balance.clone()),
        (Mode::Http, Balance::LeastConn)
    );
    assert_eq!(app.timeouts.server, secs(10));
    // The second defaults section starts afresh: tcp, round robin, its own timeouts.
    let agents = c.backend("agents").unwrap();
    assert_eq!(
        (agents.mode, agents.balance.clone()),
        (Mode::Tcp, Balance::RoundRobin)
    );
    assert_eq!(
        (agents.timeouts.connect, agents.timeouts.server),
        (secs(2), secs(20))
    );
    assert_eq!(agents.timeouts.client, None);
    let api = &c.frontends[1];
    assert_eq!(api.timeouts.client, secs(5));
    assert_eq!(api.timeouts.http_request, secs(3));
    assert_eq!(api.timeouts.http_keep_alive, secs(1));
    assert_eq!(c.backend("api").unwrap().timeouts.queue, secs(2));
}

#[test]
fn global_and_ignored_directives() {
    let c = both_accept(
        "\
global
    maxconn 4096
    hard-stop-after 30s
    nbthread 4
    log stdout format raw local0 info
    pidfile gateway.pid
    daemon
defaults
    mode http
    log global
    option httplog
    option dontlognull
    option forwardfor
    option http-keep-alive
    option redispatch
    retries 3
    errorfile 503 503.http
    log-format \"%ci:%cp [%tr] %ft %b/%s %ST\"
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend web
    bind :8080
    unique-id-format %[src]:%[src_port]_%[uuid()]
    unique-id-header X-Unique-ID
    capture request header Host len 64
    default_backend app
backend app
    http-reuse safe
    server s1 127.0.0.1:9000
",
    );
    assert_eq!(c.global.maxconn, Some(4096));
    assert_eq!(
        c.global.hard_stop_after,
        Some(std::time::Duration::from_secs(30))
    );
    assert_eq!(c.global.nbthread, Some(4));
    assert_eq!(c.global.logs[0].address, spoe::config::LogAddress::Fd(1));
}

#[test]
fn log_format_strings() {
    let c = both_accept(&with_defaults(
        "\
frontend web
    bind :8080
    http-request set-header X-A \"%[req.hdr(host),lower,regsub(\\.,-,g)]\"
    http-request set-header X-B \"%[src,ipmask(24)]/%[src_port]\"
    http-request set-header X-C \"%[path,field(2,/)] %[query] %% %[str(a]b)]\"
    http-request set-header X-D \"%[var(txn.missing,fallback)]\"
    http-request set-header X-E \"%[req.hdr_cnt(cookie),add(txn.extra)]\"
    http-request set-header X-F plain-text
    default_backend app
backend app
    server s1 127.0.0.1:9000
",
    ));
    let values: Vec<String> = c.frontends[0]
        .http_request
        .iter()
        .map(|r| match &r.action {
            HttpAction::SetHeader { value, .. } => text_of(&value.0),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        values,
        [
            "%[req.hdr(host),lower,regsub(\\.,-,g)]",
            "%[src,ipmask(24)]/%[src_port]",
            "%[path,field(2,/)] %[query] % %[str(a]b)]",
            "%[var(txn.missing,fallback)]",
            "%[req.hdr_cnt(cookie),add(txn.extra)]",
            "plain-text"
        ]
    );
    assert_eq!(c.var_names(), ["txn.extra", "txn.missing"]);
}

#[test]
fn invalid_configurations_are_rejected_by_both() {
    let cases: &[(&str, &str)] = &[
        (
            "frontend web\n    bind :70000\n    default_backend app\nbackend app\n",
            "parsing [haproxy.cfg:7:11] : 'bind' : invalid port '70000' in ':70000'",
        ),
        (
            "frontend web\n    bind :8080\n    use_backend nope if { path_beg /x }\n",
            "parsing [haproxy.cfg:8:17] : frontend 'web' : unable to find required use_backend: 'nope'",
        ),
        (
            "frontend web\n    bind :8080\n    frobnicate on\n",
            "parsing [haproxy.cfg:8:5] : unknown keyword 'frobnicate' in 'frontend' section",
        ),
        (
            "frontend web\n    bind :8080\n    timeout http-request 5x\n",
            "parsing [haproxy.cfg:8:26] : 'timeout http-request' expects a duration such as 500ms, got '5x'",
        ),
        (
            "frontend web\n    bind :8080\n    filter spoe engine ip config agents.conf\n    http-request send-spoe-group ip nope\nbackend agents\n    mode tcp\n",
            "parsing [haproxy.cfg:9:37] : unable to find SPOE group 'nope' into SPOE engine 'ip' configuration",
        ),
        (
            "frontend web\n    bind :8080\n    default_backend agents\nbackend agents\n    mode tcp\n",
            "parsing [haproxy.cfg:8:21] : http frontend 'web' (haproxy.cfg:6:1) tries to use incompatible tcp backend 'agents' (haproxy.cfg:9:1) as its default backend (see 'mode')",
        ),
        (
            "frontend web\n    bind :8080\n    filter spoe config http-backend.conf\n    default_backend app\nbackend app\n",
            "parsing [$DATA/http-backend.conf:6:17] : backend 'app' used by SPOE agent 'misrouted' does not support HTTP mode",
        ),
        (
            "frontend web\n    bind :8080\n    tcp-request content expect-proxy layer4\n",
            "parsing [haproxy.cfg:8:25] : 'expect-proxy layer4' is not allowed in 'tcp-request content' rules in frontend 'web'",
        ),
        (
            "frontend web\n    bind :8080\n    tcp-request connection expect-proxy layer7\n",
            "parsing [haproxy.cfg:8:41] : 'tcp-request connection expect-proxy' only supports 'layer4' in frontend 'web' (got 'layer7')",
        ),
        (
            "backend app\nbackend app\n",
            "parsing [haproxy.cfg:7:9] : backend 'app' has the same name as backend 'app' declared at haproxy.cfg:6:1",
        ),
        (
            "frontend web\n    bind :8080\n    http-request deny deny_status 418\n",
            "parsing [haproxy.cfg:8:35] : 'http-request deny' : status code '418' not handled by default with 'default-errorfiles' argument",
        ),
        (
            "frontend web\n    bind :8080\n    http-request set-var(txn.x) res.hdr(server)\n",
            "parsing [haproxy.cfg:8:33] : 'http-request set-var(txn.x)' : fetch method 'res.hdr' extracts information from 'HTTP response headers', none of which is available here",
        ),
        (
            "frontend web\n    bind :8080\n    http-request set-header X \"%[src\"\n",
            "parsing [haproxy.cfg:8:32] : 'http-request set-header' : missing ']' after 'src'",
        ),
        (
            "frontend web\n    bind :8080\n    acl bad hdr_beg(host) -m nope x\n",
            "parsing [haproxy.cfg:8:30] : error detected while parsing ACL 'bad' : unknown matching method 'nope' when parsing ACL expression",
        ),
    ];
    let dir = data_dir();
    for (body, expected) in cases {
        let first = both_reject(&with_defaults(body));
        assert_eq!(
            first.replace(dir.to_str().unwrap(), "$DATA"),
            *expected,
            "{body}"
        );
    }
}

#[test]
fn set_log_level_takes_a_level_name_or_silent() {
    let c = both_accept(&with_defaults(
        "\
frontend web
    bind :8080
    http-request set-log-level silent if { path /health }
    http-request set-log-level debug
    http-response set-log-level err if { status ge 500 }
    default_backend app
backend app
    server s1 127.0.0.1:9000
",
    ));
    use crate::model::HttpAction::SetLogLevel;
    let levels: Vec<_> = c.frontends[0]
        .http_request
        .iter()
        .chain(&c.frontends[0].http_response)
        .filter_map(|r| match r.action {
            SetLogLevel { level } => Some(level),
            _ => None,
        })
        .collect();
    assert_eq!(levels, [None, Some(7), Some(3)]);
    assert!(c.sets_log_level());
    for bad in ["loud", ""] {
        let e = both_reject(&with_defaults(&format!(
            "frontend web\n    bind :8080\n    http-request set-log-level {bad}\n    \
             default_backend app\nbackend app\n    server s1 127.0.0.1:9000\n"
        )));
        assert!(
            e.contains("expects exactly 1 argument (log level name or 'silent')"),
            "{e}"
        );
    }
}

#[test]
fn process_keywords_as_haproxy_reads_them() {
    let c = both_accept(&format!(
        "\
global
    daemon
    master-worker no-exit-on-failure
    user nobody
    group nogroup
    uid 1
    gid abc
    chroot /var/empty
    chroot /other
{}frontend web
    bind :8080
    http-request return status 200
",
        DEFAULTS
    ));
    let p = &c.global.process;
    // The first `user`/`chroot` stays; `gid abc` is only HAProxy's warning.
    assert!(p.daemon);
    assert_eq!((p.uid, p.gid), (65534, 65534));
    assert_eq!(p.chroot.as_deref(), Some(Path::new("/var/empty")));
    let numeric = both_accept(&format!(
        "global\n    uid 33\n    gid 34\n{}frontend web\n    bind :8080\n",
        DEFAULTS
    ));
    assert_eq!(
        (numeric.global.process.uid, numeric.global.process.gid),
        (33, 34)
    );
    for (line, ours) in [
        (
            "user no-such-user-here",
            "cannot find user id for 'no-such-user-here' (0:Success)",
        ),
        (
            "group no-such-group-here",
            "cannot find group id for 'no-such-group-here' (0:Success)",
        ),
        ("chroot", "'chroot' expects a directory as an argument."),
        ("uid", "'uid' expects an integer argument."),
        ("daemon now", "'daemon'"),
        (
            "master-worker exit",
            "'master-worker' only supports 'no-exit-on-failure' option.",
        ),
    ] {
        let error = both_reject(&format!(
            "global\n    {line}\n{DEFAULTS}frontend web\n    bind :8080\n"
        ));
        assert!(error.contains(ours), "{line}: {error}");
    }
}
