//! HAProxy's configuration preprocessor: `.if` / `.elif` / `.else` / `.endif` blocks and the
//! `.warning`, `.notice`, `.diag`, `.alert` messages (`readcfgfile()` in `src/cfgparse.c`,
//! `src/cfgcond.c`).
//!
//! Conditions support numbers (non-zero is true), `!`, `&&`, `||`, parentheses and HAProxy
//! 2.6's predicates:
//!
//! - `defined(VAR)`: the environment variable is set (even empty);
//! - `feature(NAME)`: `NAME` is one of the host's features ([`super::Input::features`]; the
//!   gateway's are the HAProxy build features it has an equivalent of);
//! - `streq(A,B)`, `strneq(A,B)`;
//! - `version_atleast(V)`, `version_before(V)`: compared with [`HAPROXY_VERSION`], the version
//!   whose behaviour this reader follows, as HAProxy's `compare_current_version()` compares
//!   (`2.6` is `2.6.0`; `-devN` < `-rcN` = `-preN` < release; an unparsable version counts as
//!   newer for `version_before` and older for `version_atleast`, as in HAProxy);
//! - `openssl_version_atleast(V)`, `openssl_version_before(V)`: an error, as in an HAProxy
//!   built without OpenSSL (this reader has none);
//! - `ssllib_name_startswith(S)`: false (no OpenSSL), as in such an HAProxy.

use super::lexer::Word;
use crate::config::error::{ConfigErrorKind, ConfigWarningKind, Diagnostics};
use crate::config::span::Span;
use crate::expr::{ArgType, ArgValue, parse_arg_list};

/// The HAProxy version `.if version_atleast()` and `version_before()` compare with: the one
/// whose behaviour the readers and the differential tests follow.
pub const HAPROXY_VERSION: &str = "2.6.12";

/// HAProxy's `MAXNESTEDCONDS`.
const MAX_NESTED: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In a taken `.if`/`.elif`/`.else` branch.
    Take,
    /// In a branch not taken; a later `.elif`/`.else` may be.
    Drop,
    /// A previous branch was taken, or the whole block is inside a masked block.
    Skip,
    /// After `.else` (no more `.elif`/`.else` allowed).
    ElseTake,
    ElseDrop,
}

/// The state of nested `.if` blocks while a file is read.
#[derive(Debug, Default)]
pub(crate) struct Preprocessor {
    stack: Vec<(State, Span)>,
}

impl Preprocessor {
    /// Whether lines are currently masked out.
    pub(crate) fn masked(&self) -> bool {
        self.stack
            .last()
            .is_some_and(|(s, _)| !matches!(s, State::Take | State::ElseTake))
    }

    /// Handles a line starting with `.`. Returns `true` when the line was a preprocessor
    /// directive (consumed), `false` when it should be handled as a regular keyword (never for
    /// lines starting with `.`: unknown ones are errors).
    pub(crate) fn handle(
        &mut self,
        words: &[Word],
        env: &dyn Fn(&str) -> Option<String>,
        features: &[&str],
        diags: &mut Diagnostics,
    ) {
        let host = Host { env, features };
        let keyword = words[0].as_str();
        let span = words[0].span().clone();
        let block_error = |diags: &mut Diagnostics, msg: String| {
            diags.error(span.clone(), ConfigErrorKind::ConditionalBlock(msg));
        };
        match keyword {
            ".if" => {
                if self.stack.len() + 1 >= MAX_NESTED {
                    block_error(diags, format!("too many nested '.if', max is {MAX_NESTED}"));
                    return;
                }
                let state = if self.masked() {
                    State::Skip
                } else {
                    match eval(words, &host) {
                        Ok(true) => State::Take,
                        Ok(false) => State::Drop,
                        Err(msg) => {
                            block_error(diags, format!("{msg} in '.if'"));
                            State::Skip
                        }
                    }
                };
                self.stack.push((state, span.clone()));
            }
            ".elif" => {
                let Some(state) = self.stack.last().map(|(s, _)| *s) else {
                    block_error(diags, "lone '.elif' with no matching '.if'".to_owned());
                    return;
                };
                let next = match state {
                    State::ElseTake | State::ElseDrop => {
                        block_error(diags, "'.elif' after '.else' is not permitted".to_owned());
                        return;
                    }
                    State::Take | State::Skip => State::Skip,
                    State::Drop => match eval(words, &host) {
                        Ok(true) => State::Take,
                        Ok(false) => State::Drop,
                        Err(msg) => {
                            block_error(diags, format!("{msg} in '.elif'"));
                            State::Skip
                        }
                    },
                };
                if let Some(top) = self.stack.last_mut() {
                    top.0 = next;
                }
            }
            ".else" | ".endif" => {
                if let Some(extra) = words.get(1).filter(|w| !w.is_empty()) {
                    block_error(
                        diags,
                        format!("Unexpected argument '{}' for '{keyword}'", extra.as_str()),
                    );
                    return;
                }
                let Some(state) = self.stack.last().map(|(s, _)| *s) else {
                    block_error(diags, format!("lone '{keyword}' with no matching '.if'"));
                    return;
                };
                if keyword == ".endif" {
                    self.stack.pop();
                    return;
                }
                let next = match state {
                    State::ElseTake | State::ElseDrop => {
                        block_error(diags, "'.else' after '.else' is not permitted".to_owned());
                        return;
                    }
                    State::Drop => State::ElseTake,
                    State::Take | State::Skip => State::ElseDrop,
                };
                if let Some(top) = self.stack.last_mut() {
                    top.0 = next;
                }
            }
            _ if self.masked() => {}
            ".alert" | ".warning" | ".notice" | ".diag" => {
                if let Some(extra) = words.get(2).filter(|w| !w.is_empty()) {
                    block_error(
                        diags,
                        format!(
                            "Unexpected argument '{}' for '{keyword}'. Use quotes if the message should contain spaces",
                            extra.as_str()
                        ),
                    );
                    return;
                }
                let message = words
                    .get(1)
                    .map(|w| w.as_str().to_owned())
                    .unwrap_or_default();
                match keyword {
                    ".alert" => diags.error(span, ConfigErrorKind::Alert(message)),
                    ".warning" => diags.warn(span, ConfigWarningKind::Message(message)),
                    _ => diags.warn(span, ConfigWarningKind::Notice(message)),
                }
            }
            other => diags.error(span, ConfigErrorKind::UnknownDotDirective(other.to_owned())),
        }
    }

    /// Reports blocks still open at the end of the file.
    pub(crate) fn finish(&self, diags: &mut Diagnostics) {
        if let Some((_, span)) = self.stack.last() {
            diags.error(
                span.clone(),
                ConfigErrorKind::ConditionalBlock("non-terminated '.if' block".to_owned()),
            );
        }
    }
}

/// What conditions ask of the host.
struct Host<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    features: &'a [&'a str],
}

/// Evaluates the condition made of the words after `.if`/`.elif`, re-joined with spaces.
fn eval(words: &[Word], host: &Host<'_>) -> Result<bool, String> {
    let text = words[1..]
        .iter()
        .map(Word::as_str)
        .collect::<Vec<_>>()
        .join(" ");
    let mut p = CondParser {
        text: &text,
        pos: 0,
        host,
        depth: 0,
    };
    let value = p.or()?;
    p.skip_blanks();
    if let Some(c) = p.rest().chars().next() {
        return Err(format!(
            "unexpected character '{c}' at the end of conditional expression '{text}'"
        ));
    }
    Ok(value)
}

struct CondParser<'a> {
    text: &'a str,
    pos: usize,
    host: &'a Host<'a>,
    depth: usize,
}

impl CondParser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn skip_blanks(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start_matches([' ', '\t']).len();
    }

    fn or(&mut self) -> Result<bool, String> {
        let mut value = self.and()?;
        loop {
            self.skip_blanks();
            if !self.rest().starts_with("||") {
                return Ok(value);
            }
            self.pos += 2;
            value |= self.and()?;
        }
    }

    fn and(&mut self) -> Result<bool, String> {
        let mut value = self.term()?;
        loop {
            self.skip_blanks();
            if !self.rest().starts_with("&&") {
                return Ok(value);
            }
            self.pos += 2;
            value &= self.term()?;
        }
    }

    fn term(&mut self) -> Result<bool, String> {
        self.depth += 1;
        if self.depth > 64 {
            return Err("too deeply nested conditional expression".to_owned());
        }
        self.skip_blanks();
        let mut negate = false;
        while self.rest().starts_with('!') {
            negate = !negate;
            self.pos += 1;
            self.skip_blanks();
        }
        let value = self.primary()?;
        self.depth -= 1;
        Ok(value != negate)
    }

    fn primary(&mut self) -> Result<bool, String> {
        let text = self.text;
        let rest = &text[self.pos..];
        if rest.is_empty() {
            return Err(format!("unparsable conditional expression '{}'", self.text));
        }
        if rest.starts_with('(') {
            self.pos += 1;
            let value = self.or()?;
            self.skip_blanks();
            if !self.rest().starts_with(')') {
                return Err(format!(
                    "expected ')' after conditional expression '{}'",
                    self.text
                ));
            }
            self.pos += 1;
            return Ok(value);
        }
        if let Some(n) = strtol_prefix(rest) {
            self.pos += n.1;
            return Ok(n.0 != 0);
        }
        let name_len = rest.find([' ', '(']).unwrap_or(rest.len());
        let name = &rest[..name_len];
        let arity = match name {
            "defined"
            | "feature"
            | "version_atleast"
            | "version_before"
            | "openssl_version_atleast"
            | "openssl_version_before"
            | "ssllib_name_startswith" => 1,
            "streq" | "strneq" => 2,
            _ => return Err(format!("unparsable conditional expression '{rest}'")),
        };
        let spec: &[ArgType] = if arity == 1 {
            &[ArgType::Str]
        } else {
            &[ArgType::Str, ArgType::Str]
        };
        let parsed =
            parse_arg_list(self.text, self.pos + name_len, spec, spec.len()).map_err(|f| {
                format!(
                    "{} in argument {} of predicate '{name}' used in conditional expression",
                    f.error,
                    f.position + 1
                )
            })?;
        let args: Vec<String> = parsed
            .values
            .into_iter()
            .map(|(v, _)| match v {
                ArgValue::Str(s) => s,
                _ => String::new(),
            })
            .collect();
        self.pos = parsed.end;
        let version = |v: &str| compare_version(v);
        Ok(match name {
            "defined" => (self.host.env)(&args[0]).is_some(),
            "feature" => self.host.features.contains(&args[0].as_str()),
            "streq" => args[0] == args[1],
            "strneq" => args[0] != args[1],
            "version_atleast" => version(&args[0]) <= 0,
            "version_before" => version(&args[0]) > 0,
            "ssllib_name_startswith" => false,
            _ => {
                return Err(format!(
                    "predicate '{name}' cannot be evaluated: this build has no OpenSSL"
                ));
            }
        })
    }
}

/// HAProxy's `split_version()`: `a.b.c.d-{dev|rc|pre}N-commit` as seven numbers; `None`
/// when it does not parse.
fn split_version(version: &str) -> Option<[u64; 7]> {
    let mut v = [0, 0, 0, 0, 3, 0, 0];
    if version.is_empty() {
        return None;
    }
    // strtol(p, &end, 10) from `at`: the value and the index of the first byte not read.
    let number = |at: usize| -> (u64, usize) {
        let b = version.as_bytes();
        let mut i = at;
        while b.get(i).is_some_and(|c| matches!(c, b' ' | b'\t')) {
            i += 1;
        }
        let sign = usize::from(matches!(b.get(i), Some(b'+' | b'-')));
        let digits = b[(i + sign).min(b.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if digits == 0 {
            return (0, at);
        }
        let end = i + sign + digits;
        let n: i64 = version[i..end].parse().unwrap_or(i64::MAX);
        // Stored in an unsigned int, as HAProxy does.
        (n as u64 & u64::from(u32::MAX), end)
    };
    let b = version.as_bytes();
    let mut p = 0;
    let mut tag = false;
    for slot in 0..4 {
        let (n, end) = number(p);
        v[slot] = n;
        match b.get(end) {
            None => return Some(v),
            Some(b'-') => {
                p = end + 1;
                tag = true;
                break;
            }
            Some(b'.') if slot < 3 => p = end + 1,
            _ => return None,
        }
    }
    if !tag {
        return None;
    }
    // The tag, then the commit number.
    let rest = &version[p..];
    let tagged = [("dev", 1), ("rc", 2), ("pre", 2)]
        .into_iter()
        .find(|(t, _)| rest.starts_with(t) && !rest.starts_with(|c: char| c.is_ascii_digit()));
    if let Some((t, value)) = tagged {
        v[4] = value;
        let (n, end) = number(p + t.len());
        v[5] = n;
        match b.get(end) {
            None => return Some(v),
            Some(b'-') => p = end + 1,
            _ => return None,
        }
    }
    let commit = match version[p..].rfind('-') {
        Some(dash) => {
            let s = &version[p + dash + 1..];
            if s.is_empty() {
                return None;
            }
            s
        }
        None => &version[p..],
    };
    v[6] = commit.parse::<u64>().unwrap_or(0);
    Some(v)
}

/// HAProxy's `compare_current_version()`: -1 when `version` is older than
/// [`HAPROXY_VERSION`], 0 when equal, 1 when newer, -3 when it does not parse.
fn compare_version(version: &str) -> i32 {
    let Some(other) = split_version(version) else {
        return -3;
    };
    let current = split_version(HAPROXY_VERSION).unwrap_or_default();
    match other.cmp(&current) {
        std::cmp::Ordering::Less => -1,
        std::cmp::Ordering::Equal => 0,
        std::cmp::Ordering::Greater => 1,
    }
}

/// C's `strtol(text, &end, 0)` on a prefix: sign, `0x` hexadecimal, `0` octal, decimal.
/// Returns the value and the length used, or `None` when no digit was read.
fn strtol_prefix(text: &str) -> Option<(i64, usize)> {
    let b = text.as_bytes();
    let mut i = 0;
    let neg = match b.first() {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let (radix, start) = if b.get(i) == Some(&b'0')
        && matches!(b.get(i + 1), Some(b'x' | b'X'))
        && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
    {
        (16, i + 2)
    } else if b.get(i) == Some(&b'0') {
        (8, i)
    } else {
        (10, i)
    };
    let digits = b[start..]
        .iter()
        .take_while(|c| (**c as char).is_digit(radix))
        .count();
    if digits == 0 {
        return None;
    }
    let value = i64::from_str_radix(&text[start..start + digits], radix).unwrap_or(i64::MAX);
    Some((if neg { -value } else { value }, start + digits))
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::super::lexer::{LexContext, LexedLine, lex_line};
    use super::*;

    fn words(line: &str) -> Vec<Word> {
        let file: Arc<Path> = Arc::from(Path::new("t.conf"));
        let env = |n: &str| (n == "SET").then(|| "yes".to_owned());
        let cx = LexContext {
            file: &file,
            env: &env,
            section: None,
        };
        let mut diags = Diagnostics::default();
        match lex_line(line, 1, &cx, &mut diags) {
            LexedLine::Words(w) => w,
            other => panic!("{other:?}"),
        }
    }

    fn cond(text: &str) -> Result<bool, String> {
        let env = |n: &str| (n == "SET").then(|| "yes".to_owned());
        let host = Host {
            env: &env,
            features: &["THREAD", "PROMEX"],
        };
        eval(&words(&format!(".if {text}")), &host)
    }

    #[test]
    fn conditions() {
        assert_eq!(cond("1"), Ok(true));
        assert_eq!(cond("0"), Ok(false));
        assert_eq!(cond("0x10"), Ok(true));
        assert_eq!(cond("!0"), Ok(true));
        assert_eq!(cond("defined(SET)"), Ok(true));
        assert_eq!(cond("defined(UNSET)"), Ok(false));
        assert_eq!(cond("! defined(UNSET) && streq(a,a)"), Ok(true));
        assert_eq!(cond("streq(a,b) || strneq(a,b)"), Ok(true));
        assert_eq!(cond(r#"streq("${SET}",yes)"#), Ok(true));
        assert_eq!(cond("(0 || 1) && !(1 && 0)"), Ok(true));
        assert_eq!(cond("feature(THREAD) && !feature(OPENSSL)"), Ok(true));
        assert_eq!(cond("feature(+THREAD) || feature(thread)"), Ok(false));
        assert_eq!(cond("version_atleast(2.6)"), Ok(true));
        assert_eq!(cond("version_atleast(2.6.12)"), Ok(true));
        assert_eq!(cond("version_atleast(2.6.13)"), Ok(false));
        assert_eq!(cond("version_before(2.7-dev1)"), Ok(true));
        assert_eq!(cond("version_before(2.6.12-1)"), Ok(true));
        assert_eq!(
            cond("version_atleast(2.6-rc1) && version_before(3)"),
            Ok(true)
        );
        // HAProxy's quirk: an unparsable version is "older" for atleast, not "newer".
        assert_eq!(cond("version_atleast(x.y)"), Ok(true));
        assert_eq!(cond("version_before(x.y)"), Ok(false));
        assert_eq!(cond("ssllib_name_startswith(OpenSSL)"), Ok(false));
        assert!(
            cond("openssl_version_atleast(1.1.1)")
                .unwrap_err()
                .contains("no OpenSSL")
        );
        assert!(cond("bogus").unwrap_err().starts_with("unparsable"));
        assert!(
            cond("1 2")
                .unwrap_err()
                .starts_with("unexpected character '2'")
        );
        assert!(cond("(1").unwrap_err().starts_with("expected ')'"));
    }

    #[test]
    fn blocks() {
        let env = |_: &str| None;
        let mut pp = Preprocessor::default();
        let mut diags = Diagnostics::default();
        pp.handle(&words(".if 0"), &env, &[], &mut diags);
        assert!(pp.masked());
        pp.handle(&words(".if 1"), &env, &[], &mut diags);
        assert!(pp.masked());
        pp.handle(&words(".else"), &env, &[], &mut diags);
        assert!(pp.masked());
        pp.handle(&words(".endif"), &env, &[], &mut diags);
        pp.handle(&words(".elif 1"), &env, &[], &mut diags);
        assert!(!pp.masked());
        pp.handle(&words(".else"), &env, &[], &mut diags);
        assert!(pp.masked());
        pp.handle(&words(".endif"), &env, &[], &mut diags);
        assert!(!pp.masked());
        assert!(diags.errors.is_empty());
        pp.handle(&words(".endif"), &env, &[], &mut diags);
        pp.handle(&words(".warning hello"), &env, &[], &mut diags);
        pp.handle(&words(".bogus"), &env, &[], &mut diags);
        let errors: Vec<String> = diags.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            errors,
            [
                "parsing [t.conf:1:1] : lone '.endif' with no matching '.if'",
                "parsing [t.conf:1:1] : unknown directive '.bogus'",
            ]
        );
        assert_eq!(
            diags.warnings[0].to_string(),
            "parsing [t.conf:1:1] : 'hello'"
        );
        pp.handle(&words(".if 1"), &env, &[], &mut diags);
        pp.finish(&mut diags);
        assert!(
            diags.errors[2]
                .to_string()
                .ends_with("non-terminated '.if' block")
        );
    }
}
