//! What the `haproxy.cfg` parser builds: paths, environment, `listen` halves, defaults, the
//! bundled quickstart, and the variable names it collects.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::model::{GatewayConfig, HttpAction, Mode};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn parse(text: &str) -> GatewayConfig {
    match GatewayConfig::parse_str(text, "haproxy.cfg", &data_dir(), Some(BTreeMap::new())) {
        Ok((c, _)) => c,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn bundled_quickstart_parses() {
    // The quickstart is the `spoe` command's (`spoe gateway --quickstart`).
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../spoe-cli/quickstart");
    let text = std::fs::read_to_string(dir.join("haproxy.cfg")).unwrap();
    let env = BTreeMap::from([
        ("SPOE_LISTEN".to_owned(), "127.0.0.1:8080".to_owned()),
        (
            "SPOE_QUICKSTART_DIR".to_owned(),
            dir.to_str().unwrap().to_owned(),
        ),
        ("SPOE_DEMO_ADDR".to_owned(), "127.0.0.1:9000".to_owned()),
        ("SPOE_AGENT_ADDR".to_owned(), "127.0.0.1:12345".to_owned()),
    ]);
    let (c, warnings) = GatewayConfig::parse_str(&text, "haproxy.cfg", &dir, Some(env)).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(c.global.logs[0].address, spoe::config::LogAddress::Fd(2));
    assert!(
        c.frontends
            .iter()
            .all(|f| f.access_format.is_some() && f.logs == c.global.logs)
    );
    let web = &c.frontends[0];
    assert_eq!(web.binds[0].to_string(), "127.0.0.1:8080");
    assert_eq!(web.filters[0].config.engine_id(), "iprep");
    assert_eq!(web.http_request.len(), 3);
    assert_eq!(c.backend("agents").unwrap().mode, Mode::Tcp);
    assert_eq!(c.backend("demo").unwrap().mode, Mode::Http);
    assert_eq!(c.var_names(), ["sess.iprep.ip_score", "txn.iprep.error"]);
}

#[test]
fn from_file_with_default_path_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("conf")).unwrap();
    std::fs::copy(
        data_dir().join("agents.conf"),
        dir.path().join("conf/agents.conf"),
    )
    .unwrap();
    let cfg = dir.path().join("conf/haproxy.cfg");
    std::fs::write(
        &cfg,
        "\
global
    default-path config
defaults
    mode http
frontend web
    bind :8080
    filter spoe engine ip config agents.conf
backend agents
    mode tcp
",
    )
    .unwrap();
    let (c, _) = GatewayConfig::from_file(&cfg).unwrap();
    assert_eq!(c.files, [cfg, dir.path().join("conf").join("agents.conf")]);
    assert_eq!(
        &*c.frontends[0].filters[0].config.file,
        dir.path().join("conf/agents.conf").as_path()
    );
}

#[test]
fn default_path_origin_and_environment() {
    let text = "\
global
    default-path origin .
defaults
    mode http
frontend web
    bind \"${ADDR}\"
    bind \"${PORTS[*]}\"
    http-request set-header X-Env \"${GREETING-hello}\"
backend agents
    mode tcp
";
    let env = BTreeMap::from([
        ("ADDR".to_owned(), "127.0.0.1:8080".to_owned()),
        ("PORTS".to_owned(), ":81 extra".to_owned()),
    ]);
    let result = GatewayConfig::parse_str(text, "haproxy.cfg", &data_dir(), Some(env));
    // `${PORTS[*]}` expands to two words: `extra` is read as a bind option, which HAProxy has not.
    let errors = result.unwrap_err();
    assert_eq!(
        errors.to_string(),
        "parsing [haproxy.cfg:7:11] : 'bind' : unknown keyword 'extra'"
    );
    let env = BTreeMap::from([
        ("ADDR".to_owned(), "127.0.0.1:8080".to_owned()),
        ("PORTS".to_owned(), ":81".to_owned()),
    ]);
    let (c, _) = GatewayConfig::parse_str(text, "haproxy.cfg", &data_dir(), Some(env)).unwrap();
    let binds: Vec<String> = c.frontends[0]
        .binds
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(binds, ["127.0.0.1:8080", "0.0.0.0:81"]);
    match &c.frontends[0].http_request[0].action {
        HttpAction::SetHeader { value, .. } => {
            assert!(matches!(&value.0[..], [crate::model::LogFormatPart::Text(t)] if t == "hello"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn listen_halves() {
    let c = parse(
        "\
defaults
    mode http
listen app
    bind :8080
    acl api path_beg /api
    http-request set-header X-Api 1 if api
    filter spoe engine ip config agents.conf
    server s1 127.0.0.1:9000
listen agents
    mode tcp
    server a1 127.0.0.1:12345
",
    );
    assert_eq!(c.frontends.len(), 1);
    assert_eq!(c.backends.len(), 2);
    let fe = &c.frontends[0];
    assert_eq!(fe.default_backend.as_deref(), Some("app"));
    assert_eq!((fe.http_request.len(), fe.filters.len()), (1, 1));
    assert!(fe.acls.find("api").is_some());
    let be = c.backend("app").unwrap();
    assert_eq!(be.servers.len(), 1);
    assert!(be.http_request.is_empty() && be.filters.is_empty() && be.acls.is_empty());
    assert_eq!(c.backend("agents").unwrap().mode, Mode::Tcp);
}

#[test]
fn timeouts_zero_and_inheritance() {
    let c = parse(
        "\
defaults
    mode http
    timeout client 10s
    timeout server 0
    maxconn 100
    default_backend app
frontend web
    bind :8080
    timeout client 0
backend app
    timeout connect 1500us
",
    );
    let fe = &c.frontends[0];
    assert_eq!(fe.timeouts.client, None);
    assert_eq!(fe.maxconn, Some(100));
    assert_eq!(fe.default_backend.as_deref(), Some("app"));
    let be = c.backend("app").unwrap();
    assert_eq!(be.timeouts.server, None);
    assert_eq!(
        be.timeouts.connect,
        Some(std::time::Duration::from_millis(2))
    );
    assert_eq!(be.timeouts.client, Some(std::time::Duration::from_secs(10)));
}

#[test]
fn rules_keep_their_order_and_spans() {
    let c = parse(
        "\
defaults
    mode http
frontend web
    bind :8080
    http-request deny if { path /a }
    http-request set-header A b
    http-response del-header Server
backend app
    http-request add-header B c
",
    );
    let fe = &c.frontends[0];
    let lines: Vec<u32> = fe.http_request.iter().map(|r| r.span.line).collect();
    assert_eq!(lines, [5, 6]);
    assert!(fe.http_request[0].cond.is_some());
    assert_eq!(fe.http_response[0].span.line, 7);
    assert_eq!(c.backend("app").unwrap().http_request[0].span.line, 9);
}

#[test]
fn variable_names_from_every_place() {
    let c = parse(
        "\
defaults
    mode http
frontend web
    bind :8080
    filter spoe engine ip config agents.conf
    acl blocked var(txn.ip.blocked) -m bool
    http-request deny if blocked || { var(sess.flag) -m found }
    http-request set-var(txn.a.b) var(txn.c.d),concat(,txn.e,)
    http-request set-var(proc.n) int(1),add(txn.f),mul(txn.g)
    http-request return status 200 content-type text/plain hdr X \"%[var(txn.h)]\" lf-string \"%[var(txn.i)]\" if { path /x }
    http-request redirect location \"%[var(txn.j)]\" if { path /y }
    http-response add-header Y \"%[var(res.k)]\"
    default_backend app
backend app
    http-request set-var(req.l) str(x)
backend agents
    mode tcp
",
    );
    assert_eq!(
        c.var_names(),
        [
            "proc.n",
            "req.l",
            "res.k",
            "sess.flag",
            "sess.ip.score",
            "txn.a.b",
            "txn.c.d",
            "txn.e",
            "txn.f",
            "txn.g",
            "txn.h",
            "txn.i",
            "txn.ip.blocked",
            "txn.j",
        ]
    );
}

#[test]
fn server_pool_settings_defaults_and_inheritance() {
    use crate::model::{DEFAULT_POOL_MAX_CONN, DEFAULT_POOL_PURGE_DELAY};
    use std::time::Duration;
    let c = parse(
        "\
defaults
    mode http
    default-server pool-purge-delay 2s
backend app
    server plain 127.0.0.1:80
    server unlimited 127.0.0.1:81 pool-max-conn -1 pool-purge-delay 0
    default-server pool-max-conn 3
    server three 127.0.0.1:82
backend other
    server plain 127.0.0.1:83
",
    );
    let servers = &c.backend("app").unwrap().servers;
    let got: Vec<_> = servers
        .iter()
        .map(|s| (s.name.as_str(), s.pool_max_conn, s.pool_purge_delay))
        .collect();
    assert_eq!(
        got,
        vec![
            ("plain", Some(DEFAULT_POOL_MAX_CONN), Duration::from_secs(2)),
            ("unlimited", None, Duration::ZERO),
            ("three", Some(3), Duration::from_secs(2)),
        ]
    );
    let other = &c.backend("other").unwrap().servers[0];
    assert_eq!(
        (other.pool_max_conn, other.pool_purge_delay),
        (Some(DEFAULT_POOL_MAX_CONN), Duration::from_secs(2))
    );
    assert_eq!(DEFAULT_POOL_PURGE_DELAY, Duration::from_secs(5));
}

#[test]
fn http_buffer_request_and_tune_bufsize() {
    let c = parse(
        "\
global
    tune.bufsize 4096
defaults
    mode http
    option http-buffer-request
frontend on
    bind :1
    default_backend off
frontend also_on
    bind :2
    default_backend off
backend off
    no option http-buffer-request
    server s 127.0.0.1:3
",
    );
    assert_eq!(c.global.bufsize, 4096);
    assert!(c.frontends.iter().all(|f| f.http_buffer_request));
    assert!(!c.backend("off").unwrap().http_buffer_request);

    let c = parse("defaults\n    mode http\nfrontend f\n    bind :1\n");
    assert_eq!(c.global.bufsize, 16384, "HAProxy's default");
    assert!(!c.frontends[0].http_buffer_request, "off unless asked for");

    let err = GatewayConfig::parse_str(
        "global\n    tune.bufsize 10\n",
        "h.cfg",
        &data_dir(),
        Some(BTreeMap::new()),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("tune.bufsize") && err.contains("10"), "{err}");
}

#[test]
fn option_httplog_and_the_log_lines_reach_the_model() {
    use spoe::config::LogAddress;

    use crate::model::GatewayConfig;
    let text = "\
global
    log stdout format rfc5424 local3 notice
    log stderr len 200 local0 info err
defaults
    mode http
    log global
    option httplog
    timeout client 1s
    timeout server 1s
    timeout connect 1s
frontend web
    bind :80
    default_backend be
listen other
    bind :81
    no log
    log stdout format raw local7
    server s 127.0.0.1:82
frontend quiet
    bind :83
    no log
    default_backend be
backend be
    server s 127.0.0.1:81
";
    let (config, _) = GatewayConfig::parse_str(text, "gw.cfg", Path::new("."), None).unwrap();
    assert!(config.frontends.iter().all(|f| f.access_format.is_some()));
    let global = &config.global.logs;
    assert_eq!(global.len(), 2);
    assert_eq!(global[0].address, LogAddress::Fd(1));
    assert_eq!(global[0].format.as_deref(), Some("rfc5424"));
    assert_eq!((global[0].facility, global[0].level), (19, 5));
    assert_eq!(global[1].address, LogAddress::Fd(2));
    assert_eq!(
        (global[1].max_len, global[1].level, global[1].min_level),
        (200, 6, 3)
    );
    let logs = |name: &str| {
        let f = config.frontends.iter().find(|f| f.name == name).unwrap();
        f.logs.clone()
    };
    // `log global` in `defaults`: the global lines, inherited.
    assert_eq!(&logs("web"), global);
    // `no log` forgets what came before it, not what comes after.
    let other = logs("other");
    assert_eq!(other.len(), 1);
    assert_eq!(other[0].format.as_deref(), Some("raw"));
    assert_eq!(other[0].facility, 23);
    assert!(logs("quiet").is_empty());
    // Without `log global` a proxy logs nothing, whatever `global` says.
    let plain = text.replace("    log global\n", "");
    let (config, _) = GatewayConfig::parse_str(&plain, "gw.cfg", Path::new("."), None).unwrap();
    assert!(
        config
            .frontends
            .iter()
            .find(|f| f.name == "web")
            .unwrap()
            .logs
            .is_empty()
    );
}
