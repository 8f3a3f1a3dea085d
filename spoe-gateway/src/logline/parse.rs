//! `log-format` strings as HAProxy 2.6 reads them (`parse_logformat_string()` with
//! `LOG_OPT_MANDATORY|LOG_OPT_MERGE_SPACES`, `src/log.c`): text, each space a separator (spaces
//! in a row print one), `%%`, `%VAR`, `%{+Q,-E}VAR`, `%[EXPR]` and `%{+Q}[EXPR]`, `%o` (options
//! for what follows). The errors are HAProxy's words.

use spoe::config::reader::Word;
use spoe::expr::{DataSource, SampleExpr};

use super::nodes::{Node, Opts, Var};

/// `%` names of HAProxy 2.6's table (`logformat_keywords[]`) and what each is here.
const VARS: &[(&str, Option<Var>)] = &[
    ("B", Some(Var::Bytes)),
    ("CC", Some(Var::CookieClient)),
    ("CS", Some(Var::CookieServer)),
    ("H", Some(Var::Hostname)),
    ("ID", Some(Var::UniqueId)),
    ("ST", Some(Var::Status)),
    ("T", Some(Var::DateGmt)),
    ("Ta", Some(Var::Ta)),
    ("Tc", Some(Var::Tc)),
    ("Th", Some(Var::Th)),
    ("Ti", Some(Var::Ti)),
    ("Tl", Some(Var::DateLocal)),
    ("Tq", Some(Var::Tq)),
    ("Tr", Some(Var::Tr)),
    ("TR", Some(Var::TR)),
    ("Td", Some(Var::Td)),
    ("Ts", Some(Var::Timestamp)),
    ("Tt", Some(Var::Tt)),
    ("Tu", Some(Var::Tu)),
    ("Tw", Some(Var::Tw)),
    ("U", None),
    ("ac", Some(Var::ActConn)),
    ("b", Some(Var::Backend)),
    ("bc", Some(Var::BeConn)),
    ("bi", None),
    ("bp", None),
    ("bq", Some(Var::BackendQueue)),
    ("ci", Some(Var::ClientIp)),
    ("cp", Some(Var::ClientPort)),
    ("f", Some(Var::Frontend)),
    ("fc", Some(Var::FeConn)),
    ("fi", Some(Var::FrontendIp)),
    ("fp", Some(Var::FrontendPort)),
    ("ft", Some(Var::FrontendXprt)),
    ("hr", Some(Var::HeadersRequest)),
    ("hrl", Some(Var::HeadersRequestList)),
    ("hs", Some(Var::HeadersResponse)),
    ("hsl", Some(Var::HeadersResponseList)),
    ("HM", Some(Var::HttpMethod)),
    ("HP", Some(Var::HttpPath)),
    ("HPO", Some(Var::HttpPathOnly)),
    ("HQ", Some(Var::HttpQuery)),
    ("HU", Some(Var::HttpUri)),
    ("HV", Some(Var::HttpVersion)),
    ("lc", Some(Var::LogCount)),
    ("ms", Some(Var::Millis)),
    ("pid", Some(Var::Pid)),
    ("r", Some(Var::Request)),
    ("rc", Some(Var::Retries)),
    ("rt", Some(Var::RequestCounter)),
    ("s", Some(Var::Server)),
    ("sc", Some(Var::SrvConn)),
    ("si", Some(Var::ServerIp)),
    ("sp", Some(Var::ServerPort)),
    ("sq", Some(Var::ServerQueue)),
    ("sslc", None),
    ("sslv", None),
    ("t", Some(Var::Date)),
    ("tr", Some(Var::DateRequest)),
    ("trg", Some(Var::DateRequestGmt)),
    ("trl", Some(Var::DateRequestLocal)),
    ("ts", Some(Var::Termination)),
    ("tsc", Some(Var::TerminationCookies)),
];

/// Reads the flags of `%{...}` into `opts` (`+Q`, `-E`..., separated by commas; unknown ones
/// are ignored, as by HAProxy).
fn apply_flags(flags: &str, mut opts: Opts) -> Opts {
    for flag in flags.split(',') {
        let (on, name) = match flag.as_bytes().first() {
            Some(b'+') => (true, &flag[1..]),
            Some(b'-') => (false, &flag[1..]),
            _ => continue,
        };
        let bit = match name {
            "M" => &mut opts.mandatory,
            "Q" => &mut opts.quote,
            "X" => &mut opts.hexa,
            "E" => &mut opts.escape,
            _ => continue,
        };
        *bit = on;
    }
    opts
}

/// The end of a `%[` expression starting at `start`: the first `]` outside parentheses and
/// quotes.
fn expr_end(text: &str, start: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let (mut depth, mut i, mut quote) = (0usize, start, None);
    while let Some(&c) = bytes.get(i) {
        match (quote, c) {
            (Some(_), b'\\') => i += 1,
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, b'\'' | b'"') if depth > 0 => quote = Some(c),
            (None, b'(') => depth += 1,
            (None, b')') => depth = depth.saturating_sub(1),
            (None, b']') if depth == 0 => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Parses `word`; the error is what HAProxy says after `failed to parse log-format : `.
pub(crate) fn parse(word: &Word) -> Result<(Vec<Node>, Vec<SampleExpr>), String> {
    let text = word.as_str();
    let bytes = text.as_bytes();
    let mut nodes = Vec::new();
    let mut samples = Vec::new();
    let mut defaults = Opts {
        mandatory: true,
        ..Opts::default()
    };
    let mut literal = String::new();
    let flush = |literal: &mut String, nodes: &mut Vec<Node>| {
        if !literal.is_empty() {
            nodes.push(Node::Text(std::mem::take(literal)));
        }
    };
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b' ' => {
                flush(&mut literal, &mut nodes);
                nodes.push(Node::Separator);
                i += 1;
            }
            b'%' => {
                let mut j = i + 1;
                let mut opts = defaults;
                let mut flags = None;
                if bytes.get(j) == Some(&b'{') {
                    let Some(close) = text[j..].find('}') else {
                        return Err(format!("truncated line after '{}'", &text[j + 1..]));
                    };
                    flags = Some(&text[j + 1..j + close]);
                    opts = apply_flags(&text[j + 1..j + close], opts);
                    j += close + 1;
                    match bytes.get(j) {
                        Some(b'[') => {}
                        Some(c) if c.is_ascii_alphanumeric() => {}
                        None => {
                            return Err(format!(
                                "truncated line after '{}'",
                                flags.unwrap_or_default()
                            ));
                        }
                        Some(_) => {
                            return Err(format!(
                                "parse argument modifier without variable name near '%{{{}}}'",
                                flags.unwrap_or_default()
                            ));
                        }
                    }
                }
                match bytes.get(j).copied() {
                    None => return Err("truncated line after '%'".to_owned()),
                    Some(b'%') if flags.is_none() => {
                        literal.push('%');
                        i = j + 1;
                    }
                    Some(b'[') => {
                        let start = j + 1;
                        let Some(end) = expr_end(text, start) else {
                            return Err(format!("missing ']' after '{}'", &text[start..]));
                        };
                        let inner = &text[start..end];
                        let expr = SampleExpr::parse(&word.slice(start..end)).map_err(|e| {
                            format!("failed to parse sample expression <{inner}> : {e}")
                        })?;
                        // What is left when the line is written (HAProxy's `fetch_cap[]` at
                        // `SMP_VAL_FE_LOG_END`): not the request's or response's headers, but
                        // what the transaction keeps (`method`, `status`, `capture.*`).
                        if !matches!(
                            expr.source(),
                            DataSource::Internal
                                | DataSource::Connection
                                | DataSource::Session
                                | DataSource::Request
                                | DataSource::Response
                        ) {
                            return Err(format!(
                                "sample fetch <{inner}> may not be reliably used here because it needs '{}' which is not available here",
                                expr.source().describe()
                            ));
                        }
                        flush(&mut literal, &mut nodes);
                        nodes.push(Node::Sample(samples.len(), opts));
                        samples.push(expr);
                        i = end + 1;
                    }
                    Some(c)
                        if c.is_ascii_alphabetic() || (flags.is_some() && c.is_ascii_digit()) =>
                    {
                        let len = bytes[j..]
                            .iter()
                            .position(|b| !b.is_ascii_alphanumeric())
                            .unwrap_or(bytes.len() - j);
                        let name = &text[j..j + len];
                        i = j + len;
                        if name == "o" {
                            defaults = opts;
                            continue;
                        }
                        let Some((_, var)) = VARS.iter().find(|(n, _)| *n == name) else {
                            return Err(format!(
                                "no such format variable '{name}'. If you wanted to emit the '%' character verbatim, you need to use '%%'"
                            ));
                        };
                        let Some(var) = var else {
                            return Err(format!(
                                "format variable '%{name}' is not supported by the gateway"
                            ));
                        };
                        flush(&mut literal, &mut nodes);
                        nodes.push(Node::Var(*var, opts));
                    }
                    Some(c) if c.is_ascii_digit() || c == b' ' || c == b'\t' => {
                        return Err(format!(
                            "unexpected variable name near '{}' at position {} line : '{text}'. Maybe you want to write a single '%', use the syntax '%%'",
                            char::from(c),
                            j
                        ));
                    }
                    // HAProxy drops a '%' before other punctuation.
                    Some(_) => i = j,
                }
            }
            _ => {
                let next = text[i..].find(['%', ' ']).map_or(text.len(), |p| i + p);
                literal.push_str(&text[i..next]);
                i = next;
            }
        }
    }
    flush(&mut literal, &mut nodes);
    Ok((nodes, samples))
}
