//! The keyword audit (issue 19 §2): every keyword the gateway accepts either runs, each model
//! field it fills read at run time by the file its row names, or says plainly that it is
//! ignored. The model is the gateway's own, so the compiler's dead-code lint also reports a
//! field nothing reads; this test keeps the tables true to the model and to the parser.

use std::collections::BTreeMap;
use std::path::Path;

use crate::config::GatewayConfig;
use crate::config::keywords::{IGNORED_GLOBAL, IGNORED_OPTIONS, IGNORED_PROXY, Keyword, Use};

fn source(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Each `Runs` row names a field of the model and a file that reads it.
fn runs_are_read<H>(table: &[Keyword<H>], failures: &mut Vec<String>) {
    // The model, and the socket options it holds (`crate::sockopt`).
    let model = source("model.rs") + &source("sockopt.rs");
    for keyword in table {
        let Use::Runs(reads) = keyword.uses else {
            continue;
        };
        for (field, file) in reads {
            let Some((ty, name)) = field.split_once('.') else {
                failures.push(format!("'{}': '{field}' is not Type.field", keyword.name));
                continue;
            };
            let start = model
                .find(&format!("pub(crate) struct {ty} {{"))
                .or_else(|| model.find(&format!("pub struct {ty} {{")));
            let Some(start) = start else {
                failures.push(format!("'{}': no model type {ty}", keyword.name));
                continue;
            };
            let body = &model[start..start + model[start..].find("\n}").unwrap_or(0)];
            if !body.contains(&format!(" {name}: ")) {
                failures.push(format!("'{}': {ty} has no field {name}", keyword.name));
            }
            if !source(file).contains(&format!(".{name}")) {
                failures.push(format!("'{}': {file} does not read {field}", keyword.name));
            }
        }
    }
}

/// A configuration HAProxy 2.6 and the gateway accept without a warning, with `global` lines
/// and `listen` lines added.
fn probe(global: &str, listen: &str) -> String {
    format!(
        "global\n    log stdout local0\n{global}defaults\n    mode http\n    log global\n    \
         timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n\
         listen l\n    bind :80\n    server s 127.0.0.1:1\n{listen}"
    )
}

/// `text` (made for the keyword `name`) is accepted: with a warning that gives `reason` if
/// the keyword is ignored, with no warning at all if it runs.
fn accepted(name: &str, text: &str, reason: Option<&str>, failures: &mut Vec<String>) {
    match GatewayConfig::parse_str(text, "t.cfg", Path::new("."), Some(BTreeMap::new())) {
        Err(e) => failures.push(format!("'{name}' is refused:\n{e}\n{text}")),
        Ok((_, warnings)) => match reason {
            Some(reason) if !warnings.iter().any(|w| w.to_string().contains(reason)) => {
                failures.push(format!(
                    "'{name}' is ignored without saying so: {warnings:?}"
                ));
            }
            None if !warnings.is_empty() => {
                failures.push(format!("'{name}' runs, yet warns: {warnings:?}"));
            }
            _ => {}
        },
    }
}

/// The configuration `line` makes of each row (of each `Ignored` row only, unless `all`) is
/// accepted as [`accepted`] says.
fn rows_parse<H>(
    table: &[Keyword<H>],
    all: bool,
    line: impl Fn(&str) -> String,
    failures: &mut Vec<String>,
) {
    for keyword in table {
        let reason = match keyword.uses {
            Use::Ignored(reason) => Some(reason),
            _ if all => None,
            _ => continue,
        };
        accepted(
            keyword.name,
            &probe("", &line(keyword.name)),
            reason,
            failures,
        );
    }
}

#[test]
fn every_keyword_runs_or_says_it_is_ignored() {
    let mut failures = Vec::new();
    runs_are_read(crate::config::global::KEYWORDS, &mut failures);
    runs_are_read(crate::config::proxy::KEYWORDS, &mut failures);
    runs_are_read(crate::config::proxy::TIMEOUTS, &mut failures);
    runs_are_read(crate::config::proxy::OPTIONS, &mut failures);
    runs_are_read(crate::config::proxy::SERVER_SETTINGS, &mut failures);
    runs_are_read(crate::config::proxy::DNS_SETTINGS, &mut failures);
    for keyword in crate::config::proxy::DNS_SETTINGS {
        let name = keyword.name;
        let value = match name {
            "resolvers" => "dns",
            "resolve-prefer" => "ipv4",
            "resolve-opts" => "allow-dup-ip,ignore-weight",
            "resolve-net" => "10.0.0.0/8,fd00::/8",
            _ => "last,libc",
        };
        let resolvers = "resolvers dns\n    nameserver ns1 127.0.0.1:53\n";
        let text = probe(
            resolvers,
            &format!("    server s2 localhost:2 resolvers dns {name} {value}\n"),
        );
        accepted(name, &text, None, &mut failures);
    }
    rows_parse(
        crate::config::proxy::KEYWORDS,
        false,
        |name| format!("    {name} 1\n"),
        &mut failures,
    );
    rows_parse(
        crate::config::proxy::TIMEOUTS,
        true,
        |name| format!("    timeout {name} 1s\n"),
        &mut failures,
    );
    rows_parse(
        crate::config::proxy::OPTIONS,
        true,
        |name| {
            // The one option whose argument is mandatory.
            let arg = if name == "pgsql-check" {
                " user pg"
            } else {
                ""
            };
            format!("    option {name}{arg}\n")
        },
        &mut failures,
    );
    rows_parse(
        crate::config::proxy::SERVER_SETTINGS,
        true,
        |name| {
            let value = match name {
                "check" | "no-check" | "backup" | "no-backup" | "no-check-ssl" | "send-proxy"
                | "tfo" | "no-tfo" | "send-proxy-v2" | "no-send-proxy" | "no-send-proxy-v2"
                | "check-send-proxy" | "non-stick" | "stick" => "",
                "proxy-v2-options" => " authority send-proxy-v2",
                "cookie" => " one",
                "check-ssl" => " verify none",
                "inter" | "fastinter" | "downinter" | "pool-purge-delay" | "tcp-ut" => " 2s",
                "addr" | "source" => " 127.0.0.2",
                "on-marked-down" => " shutdown-sessions",
                "on-marked-up" => " shutdown-backup-sessions",
                _ => " 2",
            };
            if name == "track" {
                // A checked server to follow.
                return "    server s3 127.0.0.1:3 check\n    server s2 127.0.0.1:2 track s3\n"
                    .to_owned();
            }
            format!("    server s2 127.0.0.1:2 {name}{value}\n")
        },
        &mut failures,
    );
    // The TLS options, on a TLS bind with the files they name.
    let mut pki = spoe_interop::pki::TestPki::new();
    let pem = pki
        .server("www.pem", &["www.example"])
        .display()
        .to_string();
    let ca = pki.ca().display().to_string();
    let list = pki.path("list.txt");
    std::fs::write(&list, format!("{pem} www.example\n")).expect("crt-list");
    let list = list.display().to_string();
    let crl = pki.crl("crl.pem", &[]).display().to_string();
    for option in crate::config::proxy::bind::RUN_BIND_OPTIONS {
        let arg = match *option {
            "maxconn" => " 2".to_owned(),
            "name" => " web".to_owned(),
            "alpn" => " h2,http/1.1".to_owned(),
            "ca-file" => format!(" {ca} verify optional"),
            "ciphers" => " ECDHE-ECDSA-AES128-GCM-SHA256".to_owned(),
            "ciphersuites" => " TLS_AES_128_GCM_SHA256".to_owned(),
            "crt" => format!(" {pem}"),
            "crt-list" => format!(" {list}"),
            "crl-file" => format!(" {crl}"),
            "curves" => " X25519".to_owned(),
            "ecdhe" => " prime256v1".to_owned(),
            "proto" => " h2".to_owned(),
            "ssl-max-ver" => " TLSv1.3".to_owned(),
            "ssl-min-ver" => " TLSv1.2".to_owned(),
            "verify" => " none".to_owned(),
            "backlog" | "mss" | "id" | "nice" | "shards" | "uid" | "gid" => " 2".to_owned(),
            "process" => " all".to_owned(),
            "thread" => " 1".to_owned(),
            "tcp-ut" => " 30s".to_owned(),
            "interface" => " lo".to_owned(),
            "user" | "group" => " root".to_owned(),
            "mode" => " 600".to_owned(),
            _ => String::new(),
        };
        let tls = match *option {
            "maxconn" | "name" | "v6only" | "v4v6" | "proto" => String::new(),
            o if crate::config::keywords::arity(
                crate::config::keywords::BIND_SOCKET_KEYWORDS,
                o,
            )
            .is_some() =>
            {
                String::new()
            }
            "crt" | "crt-list" => " ssl".to_owned(),
            _ => format!(" ssl crt {pem}"),
        };
        let text = probe("", &format!("    bind [::1]:81{tls} {option}{arg}\n"));
        if *option != "process" {
            accepted(option, &text, None, &mut failures);
        }
    }
    // The global tuning keywords, each with a value HAProxy 2.6 takes.
    runs_are_read(crate::config::tunes::KEYWORDS, &mut failures);
    for keyword in crate::config::tunes::KEYWORDS {
        let value = match keyword.name {
            "set-dumpable" => "",
            "tune.ssl.keylog" => " off",
            "thread-group" => " 1 1",
            "tune.http.maxhdr" => " 50",
            "tune.ssl.maxrecord" | "tune.ssl.hard-maxrecord" => " 1400",
            _ => " 1",
        };
        let text = probe(&format!("    {}{value}\n", keyword.name), "");
        accepted(keyword.name, &text, None, &mut failures);
    }
    for (name, arg) in crate::config::tunes::MACHINERY {
        let value = match arg {
            crate::config::tunes::Arg::Flag => "",
            crate::config::tunes::Arg::Time => " 2s",
            crate::config::tunes::Arg::OnOff => " on",
            crate::config::tunes::Arg::Int | crate::config::tunes::Arg::Word => " 2",
        };
        let text = probe(&format!("    {name}{value}\n"), "");
        accepted(name, &text, None, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The keywords accepted with no effect, kept as lists of their own: each one warns with its
/// reason, whatever its arguments; an option that HAProxy lets a `no` negate is accepted
/// negated too (with the same warning), and refused negated otherwise.
#[test]
fn every_ignored_keyword_says_so() {
    let mut failures = Vec::new();
    for (name, reason) in IGNORED_GLOBAL {
        let text = probe(&format!("    {name} x\n"), "");
        accepted(name, &text, Some(reason), &mut failures);
    }
    for (name, reason) in IGNORED_PROXY {
        let text = probe("", &format!("    {name} x\n"));
        accepted(name, &text, Some(reason), &mut failures);
    }
    for (name, negatable, reason) in IGNORED_OPTIONS {
        accepted(
            name,
            &probe("", &format!("    option {name}\n")),
            Some(reason),
            &mut failures,
        );
        let negated = probe("", &format!("    no option {name}\n"));
        let parsed =
            GatewayConfig::parse_str(&negated, "t.cfg", Path::new("."), Some(BTreeMap::new()));
        match (negatable, parsed) {
            (true, _) => accepted(name, &negated, Some(reason), &mut failures),
            (false, Ok(_)) => failures.push(format!("'no option {name}' is accepted")),
            (false, Err(_)) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
