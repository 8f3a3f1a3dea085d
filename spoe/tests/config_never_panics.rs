//! Whatever the text, the `spoe.conf` parser and the expression language return errors, never
//! panic; whatever a host returns, evaluation never panics.

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use spoe::config::reader::Word;
use spoe::config::{ParseOptions, Span, SpoeConfig};
use spoe::expr::{Fetch, FetchKind, Sample, SampleExpr};

fn options() -> ParseOptions {
    ParseOptions {
        env: Some([("X".to_owned(), "a b".to_owned())].into_iter().collect()),
        base_dir: Some(Path::new("/nonexistent-spoe-test-dir").to_owned()),
        ..ParseOptions::default()
    }
}

const TOKENS: &[&str] = &[
    "spoe-agent",
    "spoe-message",
    "spoe-group",
    "[e]",
    "[",
    "]",
    "args",
    "event",
    "acl",
    "messages",
    "groups",
    "timeout",
    "hello",
    "processing",
    "option",
    "var-prefix",
    "async",
    "use-backend",
    "log",
    "global",
    "no",
    "default",
    "if",
    "unless",
    "{",
    "}",
    "!",
    "or",
    "||",
    "src",
    "path_beg",
    "req.hdr(host),lower",
    "x=src,ipmask(24)",
    "var(txn.a,b)",
    "str(\"a b\")",
    "\"",
    "'",
    "\\",
    "\\x4",
    "$",
    "\"${X}\"",
    "\"${X[*]}\"",
    "\"${X-d}\"",
    "#",
    "-m",
    "-f",
    "-i",
    "-u",
    "--",
    "5x",
    "500ms",
    "2147483648",
    ".if",
    ".else",
    ".endif",
    ".warning",
    "1",
    "on-client-session",
    "on-http-response",
    "max-frame-size",
    "register-var-names",
    "a",
    "m",
    "g",
    "e",
    ",",
    "(",
    ")",
    "=",
    "int(",
    "bin(0g)",
    "field(0,:)",
    "regsub((,x)",
    "\u{e9}",
    "\r",
    "\t",
    "\0",
];

fn line() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(TOKENS).prop_map(str::to_owned),
            1 => "[ -~]{0,12}",
        ],
        0..10,
    )
    .prop_map(|words| words.join(" "))
}

/// Returns something for every fetch, of a type chosen by the fetch.
struct Everything;

impl Fetch for Everything {
    fn fetch(&self, kind: &FetchKind) -> Option<Sample> {
        Some(match kind {
            FetchKind::Src | FetchKind::Dst => Sample::Ipv4(Ipv4Addr::new(10, 0, 0, 1)),
            FetchKind::SrcPort | FetchKind::DstPort | FetchKind::Status => Sample::Int(-1),
            FetchKind::ReqBody | FetchKind::ReqHdrsBin => Sample::bin(vec![0u8, 255, 10]),
            FetchKind::ReqProtoHttp | FetchKind::SslFc => Sample::Bool(true),
            _ => Sample::str("a,b;c/d.e:f\r\n%41"),
        })
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text(text in "(?s).{0,300}") {
        let _ = SpoeConfig::parse_str_with(&text, "f.conf", None, &options());
        let _ = SpoeConfig::parse_str_with(&text, "f.conf", Some("e"), &options());
        let _ = SpoeConfig::scopes(&text);
    }

    #[test]
    fn config_like_text(lines in prop::collection::vec(line(), 0..25)) {
        let text = lines.join("\n") + "\n";
        for engine in [None, Some("e")] {
            if let Ok((config, _)) = SpoeConfig::parse_str_with(&text, "f.conf", engine, &options()) {
                for message in &config.agent.messages {
                    let _ = message.should_send(&Everything);
                    let _ = message.to_spop(&Everything);
                }
            }
        }
    }

    #[test]
    fn expressions(words in prop::collection::vec(prop::sample::select(TOKENS), 1..6)) {
        let text = words.concat();
        let word = Word::synthetic(text, Span::new(Arc::from(Path::new("f")), 1, 1));
        if let Ok(expr) = SampleExpr::parse(&word) {
            let _ = expr.eval(&Everything);
            let _ = expr.eval_all(&Everything);
        }
    }
}
