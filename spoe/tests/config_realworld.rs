//! Real-world `spoe.conf` files (Coraza, CrowdSec, HAProxy's doc/SPOE.txt, and more), parsed
//! with our parser and checked with `haproxy -c`: HAProxy must accept exactly the files we
//! accept.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use spoe::config::{ConfigWarningKind, Event, LogTarget, SpoeConfig};
use spoe::expr::{Fetch, FetchKind, Sample};

/// `(file under tests/data/valid, engine)`.
const VALID: &[(&str, Option<&str>)] = &[
    ("coraza.conf", Some("coraza")),
    ("coraza-groups.conf", Some("coraza")),
    ("crowdsec.conf", Some("crowdsec")),
    ("iprep.conf", Some("ip-reputation")),
    ("check-client-ip.conf", None),
    ("multi-engine.conf", Some("waf")),
    ("multi-engine.conf", Some("audit")),
];

/// `(file under tests/data/invalid, engine, our first error)`.
const INVALID: &[(&str, Option<&str>, &str)] = &[
    (
        "bad-duration.conf",
        None,
        "parsing [bad-duration.conf:6:24] : 'timeout processing' expects a duration such as 500ms, got '5x'",
    ),
    (
        "undefined-message.conf",
        Some("coraza"),
        "parsing [undefined-message.conf:3:25] : SPOE agent 'coraza-agent' try to use undefined SPOE message 'coraza-res'",
    ),
    (
        "no-backend.conf",
        None,
        "parsing [no-backend.conf:1:1] : no backend declared for SPOE agent 'iprep-agent' (missing 'use-backend')",
    ),
    (
        "default-var-prefix.conf",
        Some("crowdsec"),
        "parsing [default-var-prefix.conf:2:1] : invalid variable prefix 'crowdsec-agent' for SPOE agent 'crowdsec-agent'. Use 'option var-prefix' to set it. Only [a-zA-Z0-9_.] chars are supported",
    ),
    (
        "response-fetch-at-request.conf",
        None,
        "parsing [response-fetch-at-request.conf:9:27] : SPOE message 'log-exchange': argument 'status' uses 'status', which needs the HTTP response, not available at event 'on-frontend-http-request'",
    ),
    (
        "unknown-fetch.conf",
        None,
        "parsing [unknown-fetch.conf:9:26] : 'args' : unknown fetch method 'req.header'",
    ),
    (
        "two-agents.conf",
        None,
        "parsing [two-agents.conf:6:1] : another spoe-agent section previously defined at two-agents.conf:1:1",
    ),
    (
        "bad-acl.conf",
        Some("ip-reputation"),
        "parsing [bad-acl.conf:12:40] : 'event on-client-session' condition : '10.0.0.0/33' is not a valid IPv4 or IPv6 address",
    ),
];

fn data(dir: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(dir)
        .join(name)
}

/// Parses with spans naming the file alone (as HAProxy names it), `-f` files read next to it.
fn parse(
    dir: &str,
    name: &str,
    engine: Option<&str>,
) -> Result<SpoeConfig, spoe::config::ConfigErrors> {
    let path = data(dir, name);
    let text = std::fs::read_to_string(&path).unwrap();
    let options = spoe::config::ParseOptions {
        env: Some(Default::default()),
        base_dir: path.parent().map(Path::to_owned),
        ..spoe::config::ParseOptions::default()
    };
    SpoeConfig::parse_str_with(&text, name, engine, &options).map(|(c, _)| c)
}

fn valid(name: &str, engine: Option<&str>) -> SpoeConfig {
    parse("valid", name, engine).unwrap_or_else(|e| panic!("{name}:\n{e}"))
}

/// A `haproxy.cfg` loading `spoe.conf` in a frontend, with every agents' backend the files use.
fn haproxy_cfg(engine: Option<&str>) -> String {
    let engine = engine.map_or(String::new(), |e| format!("engine {e} "));
    format!(
        "defaults
    mode http
    timeout connect 1s
    timeout client 1s
    timeout server 1s

frontend fe
    bind 127.0.0.1:8080
    filter spoe {engine}config spoe.conf
    default_backend be

backend be
    server s1 127.0.0.1:8081

backend agents
    mode tcp
    server a1 127.0.0.1:12345

backend coraza-spoa
    mode tcp
    server a1 127.0.0.1:12345

backend crowdsec-spoa
    mode tcp
    server a1 127.0.0.1:12345
"
    )
}

fn haproxy_accepts(dir: &str, name: &str, engine: Option<&str>) -> (bool, String) {
    let text = std::fs::read_to_string(data(dir, name)).unwrap();
    let whitelist = std::fs::read_to_string(data("valid", "whitelist.lst")).unwrap();
    spoe_interop::haproxy_check_with_files(
        &haproxy_cfg(engine),
        &[("spoe.conf", &text), ("whitelist.lst", &whitelist)],
    )
}

#[test]
fn haproxy_accepts_exactly_what_we_accept() {
    for (name, engine) in VALID {
        assert!(parse("valid", name, *engine).is_ok(), "{name} should parse");
        let (ok, output) = haproxy_accepts("valid", name, *engine);
        assert!(ok, "haproxy -c rejects {name} ({engine:?}):\n{output}");
    }
    for (name, engine, _) in INVALID {
        assert!(
            parse("invalid", name, *engine).is_err(),
            "{name} should fail"
        );
        let (ok, output) = haproxy_accepts("invalid", name, *engine);
        assert!(!ok, "haproxy -c accepts {name} ({engine:?}):\n{output}");
    }
}

#[test]
fn invalid_files_report_where() {
    for (name, engine, expected) in INVALID {
        let errors = parse("invalid", name, *engine).unwrap_err();
        assert_eq!(errors.errors[0].to_string(), *expected, "{name}");
    }
}

#[test]
fn coraza() {
    let config = valid("coraza.conf", Some("coraza"));
    assert_eq!(config.engine_id(), "coraza");
    let agent = &config.agent;
    assert_eq!(agent.id, "coraza-agent");
    assert_eq!(agent.engine.as_deref(), Some("coraza"));
    assert_eq!(agent.var_prefix.as_str(), "coraza");
    assert_eq!(
        agent.set_on_error.as_ref().map(|v| v.as_str()),
        Some("error")
    );
    assert_eq!(
        agent.txn_var(agent.set_on_error.as_ref().unwrap()),
        "txn.coraza.error"
    );
    assert_eq!(agent.timeout_hello, Some(Duration::from_secs(2)));
    assert_eq!(agent.timeout_idle, Some(Duration::from_secs(120)));
    assert_eq!(agent.timeout_processing, Some(Duration::from_millis(500)));
    assert_eq!(agent.use_backend.value, "coraza-spoa");
    assert!(matches!(agent.log[..], [LogTarget::Global(_)]));
    assert!(agent.pipelining);
    assert_eq!(agent.max_frame_size.get(), 16380);
    assert_eq!(agent.max_waiting_frames, 20);
    let names: Vec<&str> = agent.messages.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["coraza-req", "coraza-res"]);
    let req = &agent.messages[0];
    assert_eq!(req.event, Some(Event::OnFrontendHttpRequest));
    let args: Vec<&str> = req.args.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        args,
        [
            "app", "id", "src-ip", "src-port", "dst-ip", "dst-port", "method", "path", "query",
            "version", "headers", "body"
        ]
    );
    assert_eq!(
        req.args[0].expr.eval(&Stream),
        Some(Sample::str("sample_app"))
    );
    assert_eq!(agent.messages_for(Event::OnHttpResponse).count(), 1);
    let message = req.to_spop(&Stream);
    assert_eq!(message.name_str(), Some("coraza-req"));
    assert_eq!(message.args.len(), 12);
}

#[test]
fn coraza_with_groups() {
    let config = valid("coraza-groups.conf", Some("coraza"));
    let agent = &config.agent;
    assert!(agent.messages.is_empty());
    let group = agent.group("coraza-req").unwrap();
    assert_eq!(group.messages.len(), 1);
    assert_eq!(group.messages[0].event, None);
    // coraza-res is declared but no longer used: a warning, as the file's comment intends.
    let path = data("valid", "coraza-groups.conf");
    let (_, warnings) = SpoeConfig::from_file(&path, Some("coraza")).unwrap();
    assert!(
        warnings.iter().any(
            |w| matches!(&w.kind, ConfigWarningKind::Unused { name, .. } if name == "coraza-res")
        ),
        "{warnings:?}"
    );
}

#[test]
fn crowdsec() {
    let config = valid("crowdsec.conf", Some("crowdsec"));
    let agent = &config.agent;
    assert_eq!(agent.id, "crowdsec-agent");
    assert_eq!(agent.timeout_hello, Some(Duration::from_millis(200)));
    assert_eq!(agent.messages.len(), 1);
    assert_eq!(agent.messages[0].event, Some(Event::OnClientSession));
    let groups: Vec<&str> = agent.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(groups, ["crowdsec-http-body", "crowdsec-http-no-body"]);
    let body = &agent.groups[0].messages[0];
    assert_eq!(
        body.args[0].expr.eval(&Stream),
        Some(Sample::str("ban")),
        "remediation=var(txn.crowdsec.remediation)"
    );
}

#[test]
fn iprep_from_spoe_txt() {
    let config = valid("iprep.conf", Some("ip-reputation"));
    let message = &config.agent.messages[0];
    assert_eq!(message.name, "get-ip-reputation");
    // 192.0.2.7 is not whitelisted: the message is sent.
    assert!(message.should_send(&Stream));
    assert!(!message.should_send(&From(Ipv4Addr::new(10, 1, 2, 3))));
    assert!(!message.should_send(&From(Ipv4Addr::new(192, 168, 1, 1))));
}

#[test]
fn every_agent_option() {
    let config = valid("check-client-ip.conf", None);
    assert_eq!(config.engine_id(), "iprep-agent");
    let agent = &config.agent;
    assert_eq!(agent.set_process_time.as_ref().unwrap().as_str(), "ptime");
    assert_eq!(agent.set_total_time.as_ref().unwrap().as_str(), "ttime");
    assert!(agent.continue_on_error && agent.force_set_var && agent.dontlog_normal);
    assert!(!agent.pipelining);
    let names: Vec<&str> = agent
        .register_var_names
        .iter()
        .map(|v| v.as_str())
        .collect();
    assert_eq!(names, ["score", "reason"]);
    assert_eq!(agent.max_frame_size.get(), 4096);
    assert_eq!(agent.max_waiting_frames, 8);
    assert_eq!(agent.maxconnrate, Some(100));
    assert_eq!(agent.maxerrrate, Some(50));
    let LogTarget::Server(log) = &agent.log[0] else {
        panic!("{:?}", agent.log)
    };
    assert_eq!((log.facility, log.level, log.max_len), (16, 6, 2048));
    let message = &agent.messages[0];
    let args = message.eval_args(&Stream);
    assert_eq!(args[3], ("host", Some(Sample::str("example.com"))));
    assert_eq!(args[5], ("path", Some(Sample::str("/api/x y"))));
    // !local api || big || { method POST PUT } METH_GET: a GET to /api/ from 192.0.2.7.
    assert!(message.should_send(&Stream));
}

#[test]
fn one_file_several_engines() {
    let waf = valid("multi-engine.conf", Some("waf"));
    let audit = valid("multi-engine.conf", Some("audit"));
    assert_eq!(waf.agent.id, "waf-agent");
    assert_eq!(audit.agent.id, "audit-agent");
    assert_eq!(
        SpoeConfig::scopes(&std::fs::read_to_string(data("valid", "multi-engine.conf")).unwrap()),
        ["waf", "audit"]
    );
    // Without an engine name, only sections outside any scope count: there are none.
    let errors = parse("valid", "multi-engine.conf", None).unwrap_err();
    assert_eq!(
        errors.to_string(),
        "parsing [multi-engine.conf] : no spoe-agent section found outside of any [scope]"
    );
    let check = &waf.agent.messages[0];
    assert!(check.should_send(&Stream));
}

/// A request from 192.0.2.7: `GET /api/x%20y`, host `Example.COM`.
struct Stream;

impl Fetch for Stream {
    fn fetch(&self, kind: &FetchKind) -> Option<Sample> {
        match kind {
            FetchKind::Src => Some(Sample::Ipv4(Ipv4Addr::new(192, 0, 2, 7))),
            FetchKind::SrcPort => Some(Sample::Int(40000)),
            FetchKind::Method => Some(Sample::str("GET")),
            FetchKind::Path => Some(Sample::str("/api/x%20y")),
            FetchKind::ReqHdr { name: Some(n), .. } if n.eq_ignore_ascii_case("host") => {
                Some(Sample::str("Example.COM"))
            }
            FetchKind::ReqHdrCnt { .. } => Some(Sample::Int(0)),
            FetchKind::Var { var, .. } if var.to_string() == "txn.crowdsec.remediation" => {
                Some(Sample::str("ban"))
            }
            _ => None,
        }
    }
}

/// Any request from `self.0`.
struct From(Ipv4Addr);

impl Fetch for From {
    fn fetch(&self, kind: &FetchKind) -> Option<Sample> {
        match kind {
            FetchKind::Src => Some(Sample::Ipv4(self.0)),
            _ => None,
        }
    }
}
