//! `spoe check` warns where users lose traffic silently (issue 19 §5), gives every warning
//! HAProxy 2.6 gives on the same files, and reports one typo as one error.

use std::collections::BTreeMap;
use std::path::Path;

use spoe::config::{ConfigError, ConfigWarning};
use spoe_gateway::config::GatewayConfig;

/// Files written into a fresh directory; `haproxy.cfg` is the one read.
type Files<'a> = &'a [(&'a str, &'a str)];

/// Our errors and warnings for `files`, spans naming files by their plain names.
fn ours(files: Files<'_>) -> (Vec<ConfigError>, Vec<ConfigWarning>) {
    let dir = tempfile::tempdir().expect("temporary directory");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write file");
    }
    let text = files
        .iter()
        .find(|(n, _)| *n == "haproxy.cfg")
        .map(|(_, t)| *t)
        .expect("a haproxy.cfg");
    let strip = |mut e: String| {
        e = e.replace(&format!("{}/", dir.path().display()), "");
        e
    };
    let (errors, warnings) =
        match GatewayConfig::parse_str(text, "haproxy.cfg", dir.path(), Some(BTreeMap::new())) {
            Ok((_, warnings)) => (Vec::new(), warnings),
            Err(e) => (e.errors, e.warnings),
        };
    let fix_e = |mut e: ConfigError| {
        e.span.file = Path::new(&strip(e.span.file.display().to_string())).into();
        e
    };
    let fix_w = |mut w: ConfigWarning| {
        w.span.file = Path::new(&strip(w.span.file.display().to_string())).into();
        w
    };
    (
        errors.into_iter().map(fix_e).collect(),
        warnings.into_iter().map(fix_w).collect(),
    )
}

fn texts<T: ToString>(items: &[T]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

const HAPROXY_CFG: &str = "\
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 1s
frontend web
    bind 127.0.0.1:8080
    filter spoe engine e config spoe.conf
    http-request send-spoe-group e check
    http-request deny if { var(txn.iprep.score) -m int gt 50 }
    default_backend app
backend app
    server s1 127.0.0.1:9000
backend agents
    mode tcp
    server a1 127.0.0.1:12345
";

const SPOE_CONF: &str = "\
[e]
spoe-agent a
    messages on-session
    groups check
    option var-prefix iprep
    timeout hello 1s
    timeout idle 10s
    timeout processing 100ms
    use-backend agents
spoe-message on-session
    args ip=src
    event on-client-session
spoe-message checked
    args path=path
spoe-group check
    messages checked
";

/// `(what changes, from, to)` applied to [`SPOE_CONF`] or [`HAPROXY_CFG`].
fn variant(base: &str, from: &str, to: &str) -> String {
    assert!(base.contains(from), "{from:?} not in the base file");
    base.replacen(from, to, 1)
}

fn warnings_of(haproxy_cfg: &str, spoe_conf: &str) -> Vec<String> {
    let (errors, warnings) = ours(&[("haproxy.cfg", haproxy_cfg), ("spoe.conf", spoe_conf)]);
    assert!(errors.is_empty(), "{}", texts(&errors).join("\n"));
    texts(&warnings)
}

#[test]
fn a_configuration_that_sends_everything_has_no_warning() {
    assert_eq!(warnings_of(HAPROXY_CFG, SPOE_CONF), Vec::<String>::new());
}

#[test]
fn each_silent_loss_has_its_warning() {
    let cases: Vec<(&str, String, String, Vec<&str>)> = vec![
        (
            "a group no rule sends, and the message only it carries",
            variant(
                HAPROXY_CFG,
                "    http-request send-spoe-group e check\n",
                "",
            ),
            SPOE_CONF.to_owned(),
            vec![
                "parsing [spoe.conf:13:1] : SPOE message 'checked' is never sent: the agent does not send it on an event, and only group 'check' carries it, which nothing sends",
                "parsing [spoe.conf:15:1] : SPOE group 'check' is never sent: no 'send-spoe-group e check' rule names it, so its messages never reach SPOE agent 'a'",
            ],
        ),
        (
            "an agent whose only way in is a group nothing sends",
            variant(
                HAPROXY_CFG,
                "    http-request send-spoe-group e check\n",
                "",
            ),
            variant(SPOE_CONF, "    messages on-session\n", ""),
            vec![
                "parsing [spoe.conf:2:1] : SPOE agent 'a' receives nothing: it sends no message on an event, and no 'send-spoe-group' rule sends any of its groups",
                "parsing [spoe.conf:9:1] : spoe-message 'on-session' is not used by SPOE agent 'a'",
                "parsing [spoe.conf:12:1] : SPOE message 'checked' is never sent: the agent does not send it on an event, and only group 'check' carries it, which nothing sends",
                "parsing [spoe.conf:14:1] : SPOE group 'check' is never sent: no 'send-spoe-group e check' rule names it, so its messages never reach SPOE agent 'a'",
            ],
        ),
        (
            "an agent whose messages have no event",
            HAPROXY_CFG.replace("    http-request send-spoe-group e check\n", ""),
            variant(
                &variant(SPOE_CONF, "    groups check\n", ""),
                "    event on-client-session\n",
                "",
            ),
            vec![
                "parsing [spoe.conf:2:1] : SPOE agent 'a' receives nothing: none of its messages has an 'event', and it uses no group",
                "parsing [spoe.conf:9:1] : ignore SPOE message 'on-session' without event",
                "parsing [spoe.conf:11:1] : spoe-message 'checked' is not used by SPOE agent 'a'",
                "parsing [spoe.conf:13:1] : spoe-group 'check' is not used by SPOE agent 'a'",
            ],
        ),
        (
            "timeout processing beyond the frontend's timeout client",
            variant(
                HAPROXY_CFG,
                "    timeout client 5s\n",
                "    timeout client 2s\n",
            ),
            variant(SPOE_CONF, "processing 100ms", "processing 3s"),
            vec![
                "parsing [spoe.conf:8:5] : 'timeout processing' (3s) of SPOE agent 'a' is longer than 'timeout client' (2s) of frontend 'web': a request can wait on the agent longer than the stream's own timeouts allow; keep the agent's budget below them",
            ],
        ),
        (
            "timeout processing beyond the backend's timeout server",
            variant(
                HAPROXY_CFG,
                "    timeout server 5s\n",
                "    timeout server 1500ms\n",
            ),
            variant(SPOE_CONF, "processing 100ms", "processing 2s"),
            vec![
                "parsing [spoe.conf:8:5] : 'timeout processing' (2s) of SPOE agent 'a' is longer than 'timeout server' (1500ms) of frontend 'web': a request can wait on the agent longer than the stream's own timeouts allow; keep the agent's budget below them",
            ],
        ),
        (
            "a budget of seconds",
            variant(
                &variant(HAPROXY_CFG, "timeout client 5s", "timeout client 1m"),
                "timeout server 5s",
                "timeout server 1m",
            ),
            variant(SPOE_CONF, "processing 100ms", "processing 10s"),
            vec![
                "parsing [spoe.conf:8:5] : 'timeout processing' (10s) of SPOE agent 'a': when the agent is slow or gone, a request waits that long on each of the 2 event(s) that send to it, up to 20s in all",
            ],
        ),
        (
            "a typo in the rule's variable prefix",
            variant(HAPROXY_CFG, "var(txn.iprep.score)", "var(txn.ipreq.score)"),
            SPOE_CONF.to_owned(),
            vec![
                "parsing [haproxy.cfg:10:28] : variable 'txn.ipreq.score' is read here but nothing sets it: no 'set-var' names it and no SPOE agent uses the prefix 'ipreq'; did you mean 'iprep', the 'option var-prefix' of SPOE agent 'a' ?",
            ],
        ),
        (
            "a typo in var-prefix",
            HAPROXY_CFG.to_owned(),
            variant(SPOE_CONF, "var-prefix iprep", "var-prefix iprpe"),
            vec![
                "parsing [haproxy.cfg:10:28] : variable 'txn.iprep.score' is read here but nothing sets it: no 'set-var' names it and no SPOE agent uses the prefix 'iprep'; did you mean 'iprpe', the 'option var-prefix' of SPOE agent 'a' ?",
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (name, cfg, conf, expected) in cases {
        let got = warnings_of(&cfg, &conf);
        if got != expected {
            failures.push(format!(
                "{name}:\n  expected {expected:#?}\n       got {got:#?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A variable some rule sets, or one the agent sets under its prefix, is no typo.
#[test]
fn variables_someone_sets_are_not_typos() {
    let cfg = variant(
        HAPROXY_CFG,
        "    http-request deny",
        "    http-request set-var(txn.ipreq.score) int(1)\n    http-request deny",
    );
    let cfg = variant(&cfg, "var(txn.iprep.score)", "var(txn.ipreq.score)");
    assert_eq!(warnings_of(&cfg, SPOE_CONF), Vec::<String>::new());
}

/// Each typo gives one error, its own, and nothing that follows from it.
#[test]
fn one_typo_is_one_error() {
    let spoe = |from: &str, to: &str| (HAPROXY_CFG.to_owned(), variant(SPOE_CONF, from, to));
    let cfg = |from: &str, to: &str| (variant(HAPROXY_CFG, from, to), SPOE_CONF.to_owned());
    let cases = [
        (
            spoe("    option var-prefix", "    optoin var-prefix"),
            "parsing [spoe.conf:5:5] : unknown keyword 'optoin' in spoe-agent section; did you mean 'option' maybe ?",
        ),
        (
            spoe("var-prefix iprep", "var-prefx iprep"),
            "parsing [spoe.conf:5:12] : option 'var-prefx' is not supported; did you mean 'var-prefix' maybe ?",
        ),
        (
            spoe("processing 100ms", "processing 5x"),
            "parsing [spoe.conf:8:24] : 'timeout processing' expects a duration such as 500ms, got '5x'",
        ),
        (
            spoe("    timeout idle", "    timout idle"),
            "parsing [spoe.conf:7:5] : unknown keyword 'timout' in spoe-agent section; did you mean 'timeout' maybe ?",
        ),
        (
            spoe("    messages on-session", "    mesages on-session"),
            "parsing [spoe.conf:3:5] : unknown keyword 'mesages' in spoe-agent section; did you mean 'messages' maybe ?",
        ),
        (
            spoe("    use-backend", "    use-backnd"),
            "parsing [spoe.conf:9:5] : unknown keyword 'use-backnd' in spoe-agent section; did you mean 'use-backend' maybe ?",
        ),
        (
            spoe("    event on-client", "    evnet on-client"),
            "parsing [spoe.conf:12:5] : unknown keyword 'evnet' in spoe-message section; did you mean 'event' maybe ?",
        ),
        (
            spoe("on-client-session", "on-client-sesion"),
            "parsing [spoe.conf:12:11] : unknown event 'on-client-sesion'; did you mean 'on-client-session' maybe ?",
        ),
        (
            spoe("spoe-message checked", "spoe-mesage checked"),
            "parsing [spoe.conf:13:1] : unknown keyword 'spoe-mesage' in spoe-message section; did you mean 'spoe-message' maybe ?",
        ),
        (
            spoe("spoe-group check", "spoe-grop check"),
            "parsing [spoe.conf:15:1] : unknown keyword 'spoe-grop' in spoe-message section; did you mean 'spoe-group' maybe ?",
        ),
        (
            cfg("engine e config", "engine ee config"),
            "parsing [spoe.conf] : no spoe-agent section found in scope [ee]",
        ),
        (
            cfg("\nbackend app\n", "\nbacknd app\n"),
            "parsing [haproxy.cfg:12:1] : unknown keyword 'backnd' in 'frontend' section; did you mean 'backend' maybe ? (the lines up to the next section are skipped)",
        ),
        (
            cfg("\nbackend agents\n", "\nbacknd agents\n"),
            "parsing [haproxy.cfg:14:1] : unknown keyword 'backnd' in 'backend' section; did you mean 'backend' maybe ? (the lines up to the next section are skipped)",
        ),
        (
            cfg("    mode http\n", "    mode htp\n"),
            "parsing [haproxy.cfg:2:10] : unknown proxy mode 'htp'",
        ),
        (
            cfg("    mode tcp\n", "    mod tcp\n"),
            "parsing [haproxy.cfg:15:5] : unknown keyword 'mod' in 'backend' section; did you mean 'mode' maybe ?",
        ),
        (
            cfg("timeout client 5s", "timeout client 5x"),
            "parsing [haproxy.cfg:3:20] : 'timeout client' expects a duration such as 500ms, got '5x'",
        ),
        (
            cfg("default_backend app", "defaut_backend app"),
            "parsing [haproxy.cfg:11:5] : unknown keyword 'defaut_backend' in 'frontend' section; did you mean 'default_backend' maybe ?",
        ),
    ];
    let mut failures = Vec::new();
    for ((cfg, conf), expected) in cases {
        let (errors, warnings) = ours(&[("haproxy.cfg", &cfg), ("spoe.conf", &conf)]);
        let errors = texts(&errors);
        if errors != [expected] || !warnings.is_empty() {
            failures.push(format!(
                "expected {expected:#?}\n     got {errors:#?}\nwarnings {:#?}",
                texts(&warnings)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Configurations rich in what HAProxy 2.6 warns about.
const WARNED: &[(&str, &[(&str, &str)])] = &[
    (
        "proxies and agents",
        &[
            (
                "haproxy.cfg",
                "\
global
    maxconn 100
frontend fe
    mode http
    bind 127.0.0.1:8080
    filter spoe config w.conf
    http-request deny
    http-request set-header x y
    timeout server 3s
    balance roundrobin
    default_backend be
backend be
    mode http
    timeout client 3s
    server s1 127.0.0.1:8081
    http-request set-header x y
backend agents
    mode tcp
    server a1 127.0.0.1:12345
listen nob
    mode http
    server s 127.0.0.1:1
backend tcpish
    mode tcp
    timeout connect 1s
    timeout tunnel 1m
    server s 127.0.0.1:1
",
            ),
            (
                "w.conf",
                "\
spoe-agent a
    messages m1 m3
    groups g1
    use-backend agents
spoe-message m1
    args ip=src
    event on-frontend-http-request
spoe-message m2
    args ip=src
spoe-message m3
    args ip=src
spoe-group g1
    messages m2
spoe-group g9
    messages m2
",
            ),
        ],
    ),
    (
        "rules, conditions, capabilities",
        &[(
            "haproxy.cfg",
            "\
defaults
    mode http
    timeout client 1s
    timeout server 1s
    timeout connect 1s
frontend fe
    bind 127.0.0.1:8080
    acl ok res.hdr(x) -m found
    http-request deny if ok
    http-request return status 200
    http-request deny
    http-response set-header x y
    option httplog
    default_backend be
backend be
    option httplog
    maxconn 10
    bind :80
    server s 127.0.0.1:1
",
        )],
    ),
];

#[test]
fn every_warning_haproxy_gives_we_give() {
    let mut failures = Vec::new();
    for (name, files) in WARNED {
        let cfg = files[0].1;
        let (accepted, output) = spoe_interop::haproxy_check_with_files(cfg, &files[1..]);
        assert!(accepted, "{name}: haproxy rejects it:\n{output}");
        let (errors, warnings) = ours(files);
        assert!(errors.is_empty(), "{name}: {}", texts(&errors).join("\n"));
        let theirs = spoe_interop::haproxy_warnings(&output);
        assert!(
            !theirs.is_empty(),
            "{name}: haproxy gives no warning:\n{output}"
        );
        for w in &theirs {
            let found = w.place(cfg, "haproxy.cfg").is_some_and(|(file, line)| {
                warnings
                    .iter()
                    .any(|o| o.span.file.ends_with(&file) && o.span.line == line)
            });
            if !found {
                failures.push(format!(
                    "{name}: haproxy warns \"{}\" ({:?}), we do not:\n{}",
                    w.text,
                    w.place(cfg, "haproxy.cfg"),
                    texts(&warnings).join("\n")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
