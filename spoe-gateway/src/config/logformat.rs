//! Log-format strings (`set-header NAME FMT`, `return hdr NAME FMT`, `lf-string FMT`,
//! `redirect location FMT`), as HAProxy's `parse_logformat_string()` (`src/log.c`) reads them:
//!
//! - plain text is kept as is;
//! - `%%` is one `%`;
//! - `%[EXPR]` is a sample expression (a fetch and its converters, the same language as `acl` and
//!   `args`); it ends at the first `]` outside its parentheses;
//! - a `%` at the end, or followed by a digit or a blank, is an error (HAProxy's);
//! - a `%` followed by any other punctuation is dropped, as HAProxy drops it (with a warning).
//!
//! Not supported, and reported as errors: `%{+Q}`-style flags and the `%ci`-style aliases of
//! HAProxy's access-log variables (each has a sample-fetch equivalent, suggested when known).
//!
//! A sample whose data does not exist where the string is evaluated (`%[res.hdr(x)]` in an
//! `http-request` rule, `%[req.hdr(x)]` in an `http-response` rule) is an error, as in HAProxy.

use spoe::config::reader::Word;
use spoe::expr::{DataSource, SampleExpr};

use super::diag::Diag;
use crate::model::{LogFormat, LogFormatPart};

/// Where a rule runs, which decides what data its expressions may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// `http-request` rules, `use_backend`.
    Request,
    /// `http-response` rules.
    Response,
}

impl Phase {
    /// Whether data from `source` exists in this phase (HAProxy's `fetch_cap[]`: request
    /// headers are gone when the response is processed, the response does not exist yet
    /// while the request is).
    pub(super) fn provides(self, source: DataSource) -> bool {
        match self {
            Self::Request => !matches!(
                source,
                DataSource::ResponseHeaders | DataSource::Response | DataSource::ResponseContent
            ),
            Self::Response => !matches!(
                source,
                DataSource::RequestHeaders | DataSource::RequestContent
            ),
        }
    }
}

/// `%XX` aliases of HAProxy's log variables that have a sample-fetch equivalent here.
const ALIASES: &[(&str, &str)] = &[
    ("ci", "src"),
    ("cp", "src_port"),
    ("fi", "dst"),
    ("fp", "dst_port"),
    ("ID", "unique-id"),
    ("HM", "method"),
    ("HP", "path"),
    ("HQ", "query"),
    ("HU", "url"),
    ("HV", "req.ver"),
    ("ST", "status"),
];

/// Parses the log-format string `word` of the directive `what` (`http-request set-header`,
/// named in error messages). Errors and warnings go to `diag`; `None` after an error.
pub(super) fn parse_log_format(
    word: &Word,
    phase: Phase,
    what: &str,
    diag: &mut Diag,
) -> Option<LogFormat> {
    let text = word.as_str();
    let bytes = text.as_bytes();
    let mut parts = Vec::new();
    let mut literal = String::new();
    let errors_before = diag.error_count();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            let next = text[i..].find('%').map_or(text.len(), |p| i + p);
            literal.push_str(&text[i..next]);
            i = next;
            continue;
        }
        let at = word.span_at(i);
        match bytes.get(i + 1).copied() {
            None => {
                diag.error_msg(at, format!("'{what}' : truncated line after '%'"));
                i += 1;
            }
            Some(b'%') => {
                literal.push('%');
                i += 2;
            }
            Some(b'[') => {
                let start = i + 2;
                let Some(end) = expr_end(text, start) else {
                    diag.error_msg(
                        at,
                        format!("'{what}' : missing ']' after '{}'", &text[start..]),
                    );
                    return None;
                };
                let inner = word.slice(start..end);
                match SampleExpr::parse(&inner) {
                    Ok(expr) if !phase.provides(expr.source()) => diag.error_msg(
                        word.span_at(start),
                        format!(
                            "'{what}' : sample fetch <{}> may not be reliably used here because it needs '{}' which is not available here",
                            &text[start..end],
                            expr.source().describe()
                        ),
                    ),
                    Ok(expr) => {
                        if !literal.is_empty() {
                            parts.push(LogFormatPart::Text(std::mem::take(&mut literal)));
                        }
                        parts.push(LogFormatPart::Sample(expr));
                    }
                    Err(e) => diag.expr(
                        format!(
                            "'{what}' : failed to parse sample expression <{}>",
                            &text[start..end]
                        ),
                        e,
                    ),
                }
                i = end + 1;
            }
            Some(b'{') => {
                let flags = text[i..].find('}').map_or(&text[i..], |p| &text[i..=i + p]);
                diag.error_msg(
                    at,
                    format!(
                        "'{what}' : log-format flags such as '{flags}' are not supported by the gateway"
                    ),
                );
                return None;
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let len = bytes[i + 1..]
                    .iter()
                    .position(|b| !b.is_ascii_alphanumeric())
                    .unwrap_or(bytes.len() - i - 1);
                let name = &text[i + 1..i + 1 + len];
                let hint = match ALIASES.iter().find(|(a, _)| *a == name) {
                    Some((_, fetch)) => format!("; use '%[{fetch}]' instead"),
                    None => "; use a sample expression such as '%[src]'".to_owned(),
                };
                diag.error_msg(
                    at,
                    format!(
                        "'{what}' : log-format variable '%{name}' is not supported by the gateway{hint}"
                    ),
                );
                i += 1 + len;
            }
            Some(c) if c.is_ascii_digit() || c == b' ' || c == b'\t' => {
                diag.error_msg(
                    at,
                    format!(
                        "'{what}' : unexpected variable name near '{}' at position {} line : '{text}'. Maybe you want to write a single '%', use the syntax '%%'",
                        char::from(c),
                        i + 1
                    ),
                );
                i += 2;
            }
            Some(_) => {
                diag.warn_msg(
                    at,
                    "a percent sign followed by a punctuation character is dropped (HAProxy drops it too); write '%%' for a literal one",
                );
                i += 1;
            }
        }
    }
    if diag.error_count() > errors_before {
        return None;
    }
    if !literal.is_empty() {
        parts.push(LogFormatPart::Text(literal));
    }
    Some(LogFormat(parts))
}

/// The index of the `]` closing a `%[` expression that starts at `start`: the first one
/// outside parentheses (arguments may hold quoted or escaped `]`).
fn expr_end(text: &str, start: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = start;
    while let Some(&c) = bytes.get(i) {
        match c {
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            b'\\' if depth > 0 => i += 1,
            b'\'' | b'"' if depth > 0 => {
                i += 1;
                while let Some(&q) = bytes.get(i) {
                    if q == c {
                        break;
                    }
                    if q == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b']' if depth == 0 => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use spoe::config::Span;

    use super::*;
    use crate::model::LogFormatPart;

    fn word(text: &str) -> Word {
        let file: Arc<Path> = Arc::from(Path::new("t.cfg"));
        let raw = format!("    set-header X '{text}'");
        spoe::config::reader::split_line(&raw, &file, 7, &|_| None).unwrap()[2].clone()
    }

    /// The parts as text: `"lit"` for text, `[expr]` for samples.
    fn parts(text: &str, phase: Phase) -> Result<String, (Vec<String>, Vec<String>)> {
        let mut diag = Diag::new(Arc::from(Path::new("t.cfg")));
        let parsed = parse_log_format(&word(text), phase, "set-header", &mut diag);
        let report = diag.finish();
        match parsed {
            Some(f) if report.errors.is_empty() && report.warnings.is_empty() => Ok(f
                .0
                .iter()
                .map(|p| match p {
                    LogFormatPart::Text(t) => format!("{t:?}"),
                    LogFormatPart::Sample(e) => format!("[{}]", e.text()),
                })
                .collect::<Vec<_>>()
                .join(" ")),
            _ => Err((
                report.errors.iter().map(ToString::to_string).collect(),
                report.warnings.iter().map(ToString::to_string).collect(),
            )),
        }
    }

    fn ok(text: &str) -> String {
        parts(text, Phase::Request).unwrap()
    }

    fn error(text: &str, phase: Phase) -> String {
        let (errors, _) = parts(text, phase).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors[0].clone()
    }

    #[test]
    fn text_and_samples() {
        assert_eq!(ok("plain text"), r#""plain text""#);
        assert_eq!(ok(""), "");
        assert_eq!(ok("%[src]"), "[src]");
        assert_eq!(
            ok("ip=%[src] host=%[req.hdr(host),lower]!"),
            r#""ip=" [src] " host=" [req.hdr(host),lower] "!""#
        );
        assert_eq!(ok("%[src]%[src_port]"), "[src] [src_port]");
        assert_eq!(ok("100%% sure"), r#""100% sure""#);
        assert_eq!(ok("%%[src]"), r#""%[src]""#);
        assert_eq!(ok("é%[src]ü"), r#""é" [src] "ü""#);
    }

    #[test]
    fn brackets_inside_arguments() {
        assert_eq!(ok("%[str(a]b)]"), "[str(a]b)]");
        assert_eq!(
            ok("<%[str(x),concat(\"]\")]>"),
            r#""<" [str(x),concat("]")] ">""#
        );
        assert_eq!(ok("%[var(txn.a.b)]"), "[var(txn.a.b)]");
    }

    #[test]
    fn phase_checks() {
        assert_eq!(
            parts("%[res.hdr(x)]", Phase::Response).unwrap(),
            "[res.hdr(x)]"
        );
        assert_eq!(parts("%[status]", Phase::Response).unwrap(), "[status]");
        assert_eq!(parts("%[method]", Phase::Response).unwrap(), "[method]");
        assert_eq!(
            error("x%[res.hdr(x)]", Phase::Request),
            "parsing [t.cfg:7:22] : 'set-header' : sample fetch <res.hdr(x)> may not be reliably used here \
             because it needs 'HTTP response headers' which is not available here"
        );
        assert_eq!(
            error("%[req.hdr(host)]", Phase::Response),
            "parsing [t.cfg:7:21] : 'set-header' : sample fetch <req.hdr(host)> may not be reliably used here \
             because it needs 'HTTP request headers' which is not available here"
        );
    }

    #[test]
    fn expression_errors_point_inside_the_expression() {
        // `    set-header X '` is 18 columns; the text starts at column 19.
        assert_eq!(
            error("ab%[req.hdr(host),nope]", Phase::Request),
            "parsing [t.cfg:7:37] : 'set-header' : failed to parse sample expression <req.hdr(host),nope> : \
             unknown converter 'nope'"
        );
        assert_eq!(
            error("%[nope]", Phase::Request),
            "parsing [t.cfg:7:21] : 'set-header' : failed to parse sample expression <nope> : \
             unknown fetch method 'nope'"
        );
        assert_eq!(
            error("%[]", Phase::Request),
            "parsing [t.cfg:7:21] : 'set-header' : failed to parse sample expression <> : missing fetch method"
        );
    }

    #[test]
    fn percent_errors() {
        assert_eq!(
            error("abc%", Phase::Request),
            "parsing [t.cfg:7:22] : 'set-header' : truncated line after '%'"
        );
        assert_eq!(
            error("x %[src", Phase::Request),
            "parsing [t.cfg:7:21] : 'set-header' : missing ']' after 'src'"
        );
        assert_eq!(
            error("50% off", Phase::Request),
            "parsing [t.cfg:7:21] : 'set-header' : unexpected variable name near ' ' at position 3 line : \
             '50% off'. Maybe you want to write a single '%', use the syntax '%%'"
        );
        assert_eq!(
            error("%ci:x", Phase::Request),
            "parsing [t.cfg:7:19] : 'set-header' : log-format variable '%ci' is not supported by the gateway; \
             use '%[src]' instead"
        );
        assert_eq!(
            error("%Tr", Phase::Request),
            "parsing [t.cfg:7:19] : 'set-header' : log-format variable '%Tr' is not supported by the gateway; \
             use a sample expression such as '%[src]'"
        );
        assert_eq!(
            error("%{+Q}[src]", Phase::Request),
            "parsing [t.cfg:7:19] : 'set-header' : log-format flags such as '%{+Q}' are not supported by the \
             gateway"
        );
    }

    #[test]
    fn dropped_percent_warns() {
        let (errors, warnings) = parts("a%-b", Phase::Request).unwrap_err();
        assert!(errors.is_empty());
        assert_eq!(
            warnings,
            [
                "parsing [t.cfg:7:20] : a percent sign followed by a punctuation character is \
              dropped (HAProxy drops it too); write '%%' for a literal one"
            ]
        );
        let mut diag = Diag::new(Arc::from(Path::new("t.cfg")));
        let f = parse_log_format(&word("a%-b"), Phase::Request, "set-header", &mut diag).unwrap();
        assert!(matches!(&f.0[..], [LogFormatPart::Text(t)] if t == "a-b"));
    }

    #[test]
    fn sub_words_keep_columns() {
        let w = word("xx%[src]");
        let sub = w.slice(4..7);
        assert_eq!(sub.as_str(), "src");
        assert_eq!(sub.span_at(0).col, 23);
        assert_eq!(sub.span_at(2).col, 25);
        let file: Arc<Path> = Arc::from(Path::new("t.cfg"));
        let synthetic = Word::synthetic("a\\b", Span::new(file, 1, 5));
        assert_eq!(synthetic.slice(1..3).span_at(1).col, 5);
    }
}
