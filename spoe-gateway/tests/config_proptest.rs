//! The `haproxy.cfg` parser never panics: on arbitrary text, and on text built from its own
//! keywords with hostile arguments (quotes, `%[`, braces, huge numbers, odd addresses).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use spoe_gateway::config::GatewayConfig;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn parse(text: &str) {
    let env = BTreeMap::from([("X".to_owned(), "a b".to_owned())]);
    match GatewayConfig::parse_str(text, "p.cfg", &data_dir(), Some(env)) {
        Ok((config, warnings)) => {
            let _ = config.var_names();
            for w in warnings {
                let _ = w.to_string();
            }
        }
        Err(errors) => {
            assert!(!errors.is_empty());
            let _ = errors.to_string();
        }
    }
}

const WORDS: &[&str] = &[
    "global",
    "defaults",
    "frontend",
    "backend",
    "listen",
    "web",
    "app",
    "agents",
    "from",
    "mode",
    "http",
    "tcp",
    "bind",
    ":8080",
    "*:80",
    "[::1]:81",
    "127.0.0.1:9000-9001",
    ":70000",
    "ipv6@:80",
    "localhost:80",
    "timeout",
    "client",
    "server",
    "connect",
    "5s",
    "0",
    "25d",
    "1mx",
    "maxconn",
    "nbthread",
    "hard-stop-after",
    "log",
    "stdout",
    "stderr",
    "local0",
    "info",
    "format",
    "raw",
    "default_backend",
    "use_backend",
    "if",
    "unless",
    "!",
    "||",
    "or",
    "{",
    "}",
    "acl",
    "path_beg",
    "/x",
    "-i",
    "-m",
    "str",
    "found",
    "src",
    "req.hdr(host)",
    "res.hdr(x)",
    "status",
    "var(txn.a.b)",
    "http-request",
    "http-response",
    "deny",
    "deny_status",
    "403",
    "418",
    "return",
    "content-type",
    "hdr",
    "string",
    "lf-string",
    "set-header",
    "add-header",
    "del-header",
    "X-A",
    "%[src]",
    "%[",
    "%%",
    "%ci",
    "%{+Q}",
    "%[str(a]b)]",
    "%[var(txn.x),add(txn.y)]",
    "set-var(txn.x)",
    "set-var(",
    "set-var(foo)",
    "send-spoe-group",
    "ip",
    "req-group",
    "resp-group",
    "redirect",
    "location",
    "prefix",
    "code",
    "301",
    "use-service",
    "prometheus-exporter",
    "filter",
    "spoe",
    "engine",
    "config",
    "agents.conf",
    "missing.conf",
    "option",
    "spop-check",
    "httplog",
    "no",
    "default",
    "balance",
    "roundrobin",
    "leastconn",
    "s1",
    "check",
    "inter",
    "rise",
    "fall",
    "weight",
    "300",
    "99999999999999999999999",
    "\"",
    "'",
    "\\",
    "#",
    "\"${X}\"",
    "\"${X[*]}\"",
    "\\x41",
    "\"\"",
    ".if",
    ".endif",
    "[scope]",
    "default-server",
    "default-path",
    "origin",
    "é",
    "\t",
];

/// Words that start lines: sections and directives.
const KEYWORDS: &[&str] = &[
    "global",
    "defaults",
    "frontend web",
    "backend app",
    "backend agents",
    "listen app",
    "mode",
    "bind",
    "timeout",
    "maxconn",
    "nbthread",
    "hard-stop-after",
    "log",
    "default_backend",
    "use_backend",
    "acl",
    "http-request",
    "http-response",
    "filter spoe",
    "option",
    "no option",
    "balance",
    "server s1",
    "default-server",
    "default-path",
    "daemon",
    "retries",
    "errorfile",
    "userlist",
    "[ip]",
    ".if",
    ".endif",
    "frobnicate",
];

fn line() -> impl Strategy<Value = String> {
    (
        0usize..3,
        prop::sample::select(KEYWORDS),
        prop::collection::vec(prop::sample::select(WORDS), 0..8),
    )
        .prop_map(|(indent, keyword, words)| {
            format!("{}{keyword} {}", "    ".repeat(indent), words.join(" "))
        })
}

fn document() -> impl Strategy<Value = String> {
    (prop::collection::vec(line(), 0..30), any::<bool>()).prop_map(|(lines, final_lf)| {
        let mut text = lines.join("\n");
        if final_lf {
            text.push('\n');
        }
        text
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,400}") {
        parse(&text);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        parse(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn keyword_soup_never_panics(text in document()) {
        parse(&text);
    }
}

/// Documents the gateway must accept: a valid skeleton whose parts vary among valid choices
/// (the keyword soup above is almost never valid: in a deterministic sample of 2000, none of
/// three lines or more was accepted).
fn structured_document() -> impl Strategy<Value = String> {
    let bind = prop::sample::select(vec![":8080", "127.0.0.1:80", "[::1]:8443", "*:8081"]);
    let rule = prop::sample::select(vec![
        "http-request set-header X-A %[src]",
        "http-request del-header x-b",
        "http-request return status 204 if { path /health }",
        "http-request set-var(txn.k) req.hdr(host)",
        "http-response set-header X-C \"%[var(txn.k)]\"",
        "acl is_api path_beg /api",
        "option forwardfor",
    ]);
    let server = prop::sample::select(vec![
        "localhost:80 check",
        "127.0.0.1:8080 weight 3",
        "[::1]:80 maxconn 10",
    ]);
    (
        bind,
        prop::collection::vec(rule, 0..6),
        prop::collection::vec(server, 1..4),
    )
        .prop_map(|(bind, rules, servers)| {
            let rules: String = rules.iter().map(|r| format!("    {r}\n")).collect();
            let servers: String = servers
                .iter()
                .enumerate()
                .map(|(i, s)| format!("    server s{i} {s}\n"))
                .collect();
            format!(
                "defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 1s\n\
                 frontend web\n    bind {bind}\n{rules}    default_backend app\nbackend app\n{servers}"
            )
        })
}

#[test]
fn accepted_structured_documents_exist() {
    // Every document of a deterministic sample of `structured_document()` is accepted whole:
    // documents made of the soup's keywords do reach the lowering and its checks.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = structured_document();
    for _ in 0..200 {
        let text = strategy
            .new_tree(&mut runner)
            .expect("a document")
            .current();
        let env = BTreeMap::from([("X".to_owned(), "a b".to_owned())]);
        if let Err(e) = GatewayConfig::parse_str(&text, "p.cfg", &data_dir(), Some(env)) {
            panic!("refused:\n{text}\n{e}");
        }
    }
}
