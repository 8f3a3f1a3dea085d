//! The keyword audit (issue 19 §2): every keyword the gateway accepts either runs, each model
//! field it fills read at run time by the file its row names, or says plainly that it is
//! ignored. The model is the gateway's own, so the compiler's dead-code lint also reports a
//! field nothing reads; this test keeps the tables true to the model and to the parser.

use std::path::Path;

use crate::config::GatewayConfig;
use crate::config::keywords::{Keyword, Use};

fn source(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Each `Runs` row names a field of the model and a file that reads it.
fn runs_are_read<H>(table: &[Keyword<H>], failures: &mut Vec<String>) {
    let model = source("model.rs");
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

/// The configuration `probe` makes of each row (of each `Ignored` row only, unless `all`) is
/// accepted; an `Ignored` row's warning gives its reason.
fn rows_parse<H>(
    table: &[Keyword<H>],
    all: bool,
    probe: impl Fn(&str) -> String,
    failures: &mut Vec<String>,
) {
    for keyword in table {
        if !all && !matches!(keyword.uses, Use::Ignored(_)) {
            continue;
        }
        let text = probe(keyword.name);
        match GatewayConfig::parse_str(&text, "t.cfg", Path::new("."), None) {
            Err(e) => failures.push(format!("'{}' is refused:\n{e}\n{text}", keyword.name)),
            Ok((_, warnings)) => {
                if let Use::Ignored(reason) = keyword.uses
                    && !warnings.iter().any(|w| w.to_string().contains(reason))
                {
                    failures.push(format!(
                        "'{}' is ignored without saying so: {warnings:?}",
                        keyword.name
                    ));
                }
            }
        }
    }
}

const LISTEN: &str = "listen l\n    mode http\n    bind :80\n    timeout client 1s\n    \
                      timeout server 1s\n    timeout connect 1s\n    server s 127.0.0.1:1\n";

#[test]
fn every_keyword_runs_or_says_it_is_ignored() {
    let mut failures = Vec::new();
    runs_are_read(crate::config::global::KEYWORDS, &mut failures);
    runs_are_read(crate::config::proxy::KEYWORDS, &mut failures);
    runs_are_read(crate::config::proxy::TIMEOUTS, &mut failures);
    runs_are_read(crate::config::proxy::OPTIONS, &mut failures);
    runs_are_read(crate::config::proxy::SERVER_SETTINGS, &mut failures);
    rows_parse(
        crate::config::proxy::KEYWORDS,
        false,
        |name| format!("{LISTEN}    {name} 1\n"),
        &mut failures,
    );
    rows_parse(
        crate::config::proxy::TIMEOUTS,
        true,
        |name| format!("{LISTEN}    timeout {name} 1s\n"),
        &mut failures,
    );
    rows_parse(
        crate::config::proxy::OPTIONS,
        true,
        |name| format!("{LISTEN}    option {name}\n"),
        &mut failures,
    );
    rows_parse(
        crate::config::proxy::SERVER_SETTINGS,
        true,
        |name| {
            let value = if name.contains("check") { "" } else { " 1" };
            format!("{LISTEN}    server s2 127.0.0.1:2 {name}{value}\n")
        },
        &mut failures,
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
