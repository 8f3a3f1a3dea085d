//! HAProxy's line tokenizer (`parse_line()` in `src/tools.c`).
//!
//! One physical line is one statement: HAProxy 2.6 has no line continuation. Words are separated
//! by unquoted blanks (space, tab, VT, FF). The rules, as HAProxy 2.6 applies them to
//! configuration files:
//!
//! - `#` outside quotes starts a comment; `\#` is a literal `#`.
//! - `'...'` keeps everything literally (no escape, no variable).
//! - `"..."` keeps blanks and `#`, and expands `$NAME`, `${NAME}`, `${NAME-default}`,
//!   `${NAME[*]}` (one word per blank-separated part of the value) and the pseudo-variables
//!   `$.LINE`, `$.FILE`, `$.SECTION`. An unset variable expands to nothing. `$` is literal
//!   outside double quotes.
//! - Outside single quotes, `\` escapes `\ `, `\\`, `\'`, `\"`, `\#`, `\t`, `\n`, `\r`, `\xHH`,
//!   and (inside double quotes) `\$`; any other `\c` stays as is.
//! - A `[name]` line (leading blanks allowed) opens a scope; it is not tokenized.
//! - A CR ends the line's content; a NUL byte is an error; the last line must end with LF.
//!
//! Every [`Word`] remembers the column of each of its bytes, so an error found deep inside a
//! word (a converter in a sample expression) points at the right column even after quotes were
//! removed.

use std::path::Path;
use std::sync::Arc;

use crate::config::error::{ConfigErrorKind, ConfigWarningKind, Diagnostics};
use crate::config::span::{Span, Spanned};

/// HAProxy's `MAX_LINE_ARGS`: a line with more words is rejected.
pub const MAX_LINE_ARGS: usize = 64;

/// One word of a configuration line, after quotes, escapes and variables were processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    text: String,
    span: Span,
    /// Source column of each byte of `text` (same length as `text`).
    cols: Vec<u32>,
}

impl Word {
    /// A word whose every byte maps to `span` (used for text that has no source of its own,
    /// such as HAProxy's predefined ACLs).
    pub fn synthetic(text: impl Into<String>, span: Span) -> Self {
        let text = text.into();
        let cols = vec![span.col; text.len()];
        Self { text, span, cols }
    }

    /// The word's text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Where the word starts.
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// Whether the word is empty (`""`, or an unset `"${VAR}"`). HAProxy treats the first empty
    /// word of a line as the end of its arguments.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Where the byte at `offset` of the word's text was written; past the end, one column after
    /// the last byte.
    pub fn span_at(&self, offset: usize) -> Span {
        let col = match self.cols.get(offset) {
            Some(&col) => col,
            None => self
                .cols
                .last()
                .map_or(self.span.col, |&c| c.saturating_add(1)),
        };
        Span {
            col,
            ..self.span.clone()
        }
    }

    /// The word's text with its span.
    pub fn spanned(&self) -> Spanned<String> {
        Spanned::new(self.text.clone(), self.span.clone())
    }

    /// The bytes `range` of the word's text as a word of its own, each byte keeping the column
    /// it was written at (so that an error deep inside points at the right column). Empty when
    /// `range` does not fall on character boundaries of the text.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Self {
        let span = self.span_at(range.start);
        match (self.text.get(range.clone()), self.cols.get(range)) {
            (Some(text), Some(cols)) => Self {
                text: text.to_owned(),
                span,
                cols: cols.to_vec(),
            },
            _ => Self {
                text: String::new(),
                span,
                cols: Vec::new(),
            },
        }
    }
}

/// Splits one line into words as the reader does (quotes, escapes, `"${VAR}"` read from
/// `env`), without the preprocessor or sections: for hosts and tests that read a single line of
/// HAProxy's syntax. A blank line is no word; the first error found is returned.
///
/// ```
/// use std::path::Path;
/// use std::sync::Arc;
/// use spoe::config::reader::split_line;
///
/// let file: Arc<Path> = Arc::from(Path::new("h.cfg"));
/// let words = split_line(r#"  set-header X "a b"  # note"#, &file, 7, &|_| None).unwrap();
/// let texts: Vec<&str> = words.iter().map(|w| w.as_str()).collect();
/// assert_eq!(texts, ["set-header", "X", "a b", ""]);
/// assert_eq!(words[2].span().to_string(), "h.cfg:7:16");
/// ```
///
/// # Errors
///
/// The first tokenizing error (an unmatched quote, a bad escape...).
pub fn split_line(
    raw: &str,
    file: &Arc<Path>,
    line: u32,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Word>, Box<crate::config::ConfigError>> {
    let cx = LexContext {
        file,
        env,
        section: None,
    };
    let mut diags = Diagnostics::default();
    match lex_line(raw, line, &cx, &mut diags) {
        _ if !diags.errors.is_empty() => Err(Box::new(diags.errors.swap_remove(0))),
        LexedLine::Words(words) => Ok(words),
        LexedLine::Blank | LexedLine::Scope(_) => Ok(Vec::new()),
    }
}

/// What one line holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LexedLine {
    /// Nothing but blanks and comments.
    Blank,
    /// A `[name]` scope line; `None` when it was invalid (the error is in the diagnostics).
    Scope(Option<Spanned<String>>),
    /// The words of a statement (never empty). The last words may be empty strings (HAProxy
    /// stops reading arguments at the first empty one).
    Words(Vec<Word>),
}

/// What the tokenizer needs besides the line itself.
pub(crate) struct LexContext<'a> {
    /// The file being read (for spans and `$.FILE`).
    pub(crate) file: &'a Arc<Path>,
    /// Looks up an environment variable.
    pub(crate) env: &'a dyn Fn(&str) -> Option<String>,
    /// The current section's name, for `$.SECTION`.
    pub(crate) section: Option<&'a str>,
}

impl std::fmt::Debug for LexContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LexContext")
            .field("file", &self.file)
            .field("section", &self.section)
            .finish_non_exhaustive()
    }
}

/// Splits `text` into lines as HAProxy's `fgets()` loop sees them: `(line number, content
/// without the LF, whether an LF ended it)`.
pub(crate) fn split_lines(text: &str) -> impl Iterator<Item = (u32, &str, bool)> {
    let mut rest = Some(text);
    let mut number: u32 = 0;
    std::iter::from_fn(move || {
        let current = rest?;
        if current.is_empty() {
            rest = None;
            return None;
        }
        number = number.saturating_add(1);
        match current.find('\n') {
            Some(i) => {
                rest = Some(&current[i + 1..]);
                Some((number, &current[..i], true))
            }
            None => {
                rest = None;
                Some((number, current, false))
            }
        }
    })
}

/// C's `isspace()` minus CR and LF, which end a line before this is asked.
fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | 0x0b | 0x0c)
}

/// Tokenizes one line (without its LF). Errors and warnings go to `diags`; a line with a
/// tokenizing error is returned as [`LexedLine::Blank`], as HAProxy skips it.
pub(crate) fn lex_line(
    raw: &str,
    line: u32,
    cx: &LexContext<'_>,
    diags: &mut Diagnostics,
) -> LexedLine {
    let bytes = raw.as_bytes();
    // 1-based character column of each byte offset (and one past the end).
    let mut col_of = Vec::with_capacity(bytes.len() + 1);
    let mut col: u32 = 0;
    for i in 0..bytes.len() {
        if raw.is_char_boundary(i) {
            col = col.saturating_add(1);
        }
        col_of.push(col.max(1));
    }
    col_of.push(col.saturating_add(1));
    let span_at = |i: usize| Span::new(cx.file.clone(), line, col_of.get(i).copied().unwrap_or(1));

    let mut i = 0;
    while i < bytes.len() && (is_blank(bytes[i]) || bytes[i] == b'\r') {
        i += 1;
    }
    if let Some(nul) = bytes.iter().position(|&b| b == 0) {
        diags.error(span_at(nul), ConfigErrorKind::StrayNul);
        return LexedLine::Blank;
    }
    if bytes.get(i) == Some(&b'[') {
        return LexedLine::Scope(lex_scope(raw, i, &span_at, diags));
    }

    let mut lexer = Lexer {
        cx,
        line,
        words: Vec::new(),
        cur: Vec::new(),
        cur_cols: Vec::new(),
        cur_start: None,
        too_many: false,
    };
    let mut squote = false;
    let mut dquote = false;
    let mut quote_at = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let here = col_of[i];
        match c {
            b'\r' | b'\n' => break,
            b'#' if !squote && !dquote => break,
            b'"' if !squote => {
                lexer.touch(here);
                dquote = !dquote;
                quote_at = i;
                i += 1;
            }
            b'\'' if !dquote => {
                lexer.touch(here);
                squote = !squote;
                quote_at = i;
                i += 1;
            }
            b'\\' if !squote => {
                let next = bytes.get(i + 1).copied();
                let (out, used) = match next {
                    Some(b' ') | Some(b'\\') | Some(b'#') | Some(b'\'') | Some(b'"') => {
                        (next.unwrap_or(b'\\'), 2)
                    }
                    Some(b'$') if dquote => (b'$', 2),
                    Some(b't') => (b'\t', 2),
                    Some(b'n') => (b'\n', 2),
                    Some(b'r') => (b'\r', 2),
                    Some(b'x') => {
                        let hex = bytes.get(i + 2..i + 4).and_then(|h| {
                            std::str::from_utf8(h)
                                .ok()
                                .and_then(|h| u8::from_str_radix(h, 16).ok())
                                .filter(|_| h.iter().all(u8::is_ascii_hexdigit))
                        });
                        match hex {
                            Some(v) => (v, 4),
                            None => {
                                diags.error(span_at(i), ConfigErrorKind::BadHexEscape);
                                return LexedLine::Blank;
                            }
                        }
                    }
                    _ => (b'\\', 1),
                };
                lexer.emit(out, here);
                i += used;
            }
            b'$' if dquote => match lexer.expand(bytes, i, &col_of, diags) {
                Some(next) => i = next,
                None => return LexedLine::Blank,
            },
            c if is_blank(c) && !squote && !dquote => {
                while i < bytes.len() && is_blank(bytes[i]) {
                    i += 1;
                }
                lexer.separate(col_of[i]);
            }
            c => {
                lexer.emit(c, here);
                i += 1;
            }
        }
    }
    if squote || dquote {
        diags.error(span_at(quote_at), ConfigErrorKind::UnmatchedQuote);
        return LexedLine::Blank;
    }
    lexer.finish();
    if lexer.too_many {
        diags.error(
            span_at(0),
            ConfigErrorKind::TooManyWords { max: MAX_LINE_ARGS },
        );
        return LexedLine::Blank;
    }
    let mut words = Vec::with_capacity(lexer.words.len());
    for (text, cols, start) in lexer.words {
        let span = Span::new(cx.file.clone(), line, start);
        let text = match String::from_utf8(text) {
            Ok(text) => text,
            Err(e) => {
                diags.warn(span.clone(), ConfigWarningKind::InvalidUtf8);
                String::from_utf8_lossy(e.as_bytes()).into_owned()
            }
        };
        // Lossy conversion may change the length; keep one column per byte.
        let mut cols = cols;
        cols.resize(text.len(), start);
        words.push(Word { text, span, cols });
    }
    if words.first().is_none_or(Word::is_empty) {
        // HAProxy skips a line whose first word is empty, even `"" foo`.
        return LexedLine::Blank;
    }
    LexedLine::Words(words)
}

/// `[name]` lines (`cfg_parse_scope()` in `src/cfgparse.c`).
fn lex_scope(
    raw: &str,
    open: usize,
    span_at: &dyn Fn(usize) -> Span,
    diags: &mut Diagnostics,
) -> Option<Spanned<String>> {
    let after = &raw[open + 1..];
    let close = match after.find(']') {
        Some(0) | None => {
            diags.error(span_at(open), ConfigErrorKind::EmptyScopeName);
            return None;
        }
        Some(close) => close,
    };
    let name = &after[..close];
    if let Some((at, ch)) = name.char_indices().find(|&(_, c)| !is_name_char(c)) {
        diags.error(
            span_at(open + 1 + at),
            ConfigErrorKind::ScopeNameChar { ch },
        );
        return None;
    }
    let tail_start = open + 1 + close + 1;
    let tail = &raw[tail_start..];
    let trimmed = tail.trim_start_matches(['\r', ' ', '\t', '\x0b', '\x0c']);
    if let Some(ch) = trimmed.chars().next()
        && ch != '#'
    {
        let at = tail_start + (tail.len() - trimmed.len());
        diags.error(span_at(at), ConfigErrorKind::AfterScope { ch });
        return None;
    }
    Some(Spanned::new(name.to_owned(), span_at(open)))
}

/// HAProxy's `invalid_char()`: names may hold `[A-Za-z0-9.:_-]`.
pub fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '_' | '-')
}

struct Lexer<'a, 'b> {
    cx: &'a LexContext<'b>,
    line: u32,
    words: Vec<(Vec<u8>, Vec<u32>, u32)>,
    cur: Vec<u8>,
    cur_cols: Vec<u32>,
    /// Column where the current word started (its first byte or quote).
    cur_start: Option<u32>,
    too_many: bool,
}

impl Lexer<'_, '_> {
    fn touch(&mut self, col: u32) {
        if self.cur_start.is_none() {
            self.cur_start = Some(col);
        }
    }

    fn emit(&mut self, b: u8, col: u32) {
        self.touch(col);
        self.cur.push(b);
        self.cur_cols.push(col);
    }

    /// An unquoted blank run: the current word ends, the next starts at `next_col`.
    fn separate(&mut self, next_col: u32) {
        let start = self.cur_start.take().unwrap_or(next_col);
        self.words.push((
            std::mem::take(&mut self.cur),
            std::mem::take(&mut self.cur_cols),
            start,
        ));
        // HAProxy counts the word a trailing blank opens, too.
        if self.words.len() >= MAX_LINE_ARGS {
            self.too_many = true;
        }
    }

    fn finish(&mut self) {
        let start = self.cur_start.take().unwrap_or(1);
        self.words.push((
            std::mem::take(&mut self.cur),
            std::mem::take(&mut self.cur_cols),
            start,
        ));
    }

    /// `$...` inside double quotes, at `bytes[at] == b'$'`. Returns the index after the
    /// reference, or `None` after reporting an error.
    fn expand(
        &mut self,
        bytes: &[u8],
        at: usize,
        col_of: &[u32],
        diags: &mut Diagnostics,
    ) -> Option<usize> {
        let dollar_col = col_of[at];
        let span = |i: usize| {
            Span::new(
                self.cx.file.clone(),
                self.line,
                col_of.get(i).copied().unwrap_or(1),
            )
        };
        let mut i = at + 1;
        let brace = (bytes.get(i) == Some(&b'{')).then(|| {
            i += 1;
            i - 1
        });
        match bytes.get(i) {
            Some(c) if c.is_ascii_alphabetic() || *c == b'_' || *c == b'.' => {}
            _ => {
                diags.error(span(i), ConfigErrorKind::BadVariableName);
                return None;
            }
        }
        let name_start = i;
        if bytes[i] == b'.' {
            i += 1;
        }
        while bytes
            .get(i)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            i += 1;
        }
        let name = String::from_utf8_lossy(&bytes[name_start..i]).into_owned();
        let mut value = if let Some(pseudo) = name.strip_prefix('.') {
            match pseudo {
                "LINE" => Some(self.line.to_string()),
                "FILE" => Some(self.cx.file.display().to_string()),
                "SECTION" => self.cx.section.map(str::to_owned),
                _ => {
                    diags.error(span(name_start), ConfigErrorKind::BadVariableName);
                    return None;
                }
            }
        } else {
            (self.cx.env)(&name)
        };
        let mut word_expand = false;
        if let Some(brace_at) = brace {
            if bytes.get(i) == Some(&b'[') {
                if bytes.get(i + 1..i + 3) != Some(b"*]".as_slice()) {
                    diags.error(span(i), ConfigErrorKind::BadWordExpansion);
                    return None;
                }
                word_expand = true;
                i += 3;
            }
            if bytes.get(i) == Some(&b'-') {
                let default_start = i + 1;
                let Some(len) = bytes[default_start..].iter().position(|&b| b == b'}') else {
                    diags.error(span(brace_at), ConfigErrorKind::UnmatchedBrace);
                    return None;
                };
                if value.is_none() {
                    value = Some(
                        String::from_utf8_lossy(&bytes[default_start..default_start + len])
                            .into_owned(),
                    );
                }
                i = default_start + len;
            }
            if bytes.get(i) != Some(&b'}') {
                diags.error(span(brace_at), ConfigErrorKind::UnmatchedBrace);
                return None;
            }
            i += 1;
        }
        if let Some(value) = value {
            let value = value.as_bytes();
            let mut j = 0;
            while j < value.len() {
                if word_expand && value[j].is_ascii_whitespace() {
                    self.separate(dollar_col);
                    self.cur_start = Some(dollar_col);
                    while j < value.len() && value[j].is_ascii_whitespace() {
                        j += 1;
                    }
                } else {
                    self.emit(value[j], dollar_col);
                    j += 1;
                }
            }
        }
        self.touch(dollar_col);
        Some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex_with(line: &str, env: &dyn Fn(&str) -> Option<String>) -> (LexedLine, Diagnostics) {
        let file: Arc<Path> = Arc::from(Path::new("t.conf"));
        let cx = LexContext {
            file: &file,
            env,
            section: Some("sec"),
        };
        let mut diags = Diagnostics::default();
        let lexed = lex_line(line, 3, &cx, &mut diags);
        (lexed, diags)
    }

    fn words(line: &str) -> Vec<String> {
        let env = |name: &str| match name {
            "FOO" => Some("foo".to_owned()),
            "LIST" => Some("a  b c".to_owned()),
            _ => None,
        };
        match lex_with(line, &env) {
            (LexedLine::Words(words), diags) => {
                assert!(diags.errors.is_empty(), "{:?}", diags.errors);
                words.into_iter().map(|w| w.text).collect()
            }
            (LexedLine::Blank, diags) => {
                assert!(diags.errors.is_empty(), "{:?}", diags.errors);
                vec![]
            }
            (other, _) => panic!("{other:?}"),
        }
    }

    fn error(line: &str) -> String {
        let (lexed, diags) = lex_with(line, &|_| None);
        assert_eq!(lexed, LexedLine::Blank);
        diags.errors[0].to_string()
    }

    #[test]
    fn splits_on_blanks_and_comments() {
        assert_eq!(words("  a b\tc   # comment"), ["a", "b", "c", ""]);
        assert_eq!(words("a#b"), ["a"]);
        assert_eq!(words("# only"), Vec::<String>::new());
        assert_eq!(words("   "), Vec::<String>::new());
        assert_eq!(words("a\rb"), ["a"]);
    }

    #[test]
    fn quotes() {
        assert_eq!(words(r#"a "b c" 'd e' f"g"h"#), ["a", "b c", "d e", "fgh"]);
        assert_eq!(words(r#""it's" 'say "hi"'"#), ["it's", r#"say "hi""#]);
        assert_eq!(words(r#"a "" b"#), ["a", "", "b"]);
        assert_eq!(words("'#not a comment'"), ["#not a comment"]);
    }

    #[test]
    fn escapes() {
        assert_eq!(words(r"a\ b c\\d \#e"), ["a b", r"c\d", "#e"]);
        assert_eq!(words(r#"\"q\" \'s\'"#), ["\"q\"", "'s'"]);
        assert_eq!(words(r"\t\n\r"), ["\t\n\r"]);
        assert_eq!(words(r"\x41\x62"), ["Ab"]);
        assert_eq!(words(r"\1 \d"), [r"\1", r"\d"]);
        assert_eq!(words(r"'\x41\ '"), [r"\x41\ "]);
        assert_eq!(words(r#""\$FOO" \$FOO"#), ["$FOO", r"\$FOO"]);
    }

    #[test]
    fn environment() {
        assert_eq!(
            words(r#""$FOO" "${FOO}x" $FOO '${FOO}'"#),
            ["foo", "foox", "$FOO", "${FOO}"]
        );
        assert_eq!(
            words(r#"x "${NOPE}" "${NOPE-dflt}" "${FOO-dflt}""#),
            ["x", "", "dflt", "foo"]
        );
        assert_eq!(words(r#"x "${LIST[*]}" y"#), ["x", "a", "b", "c", "y"]);
        assert_eq!(
            words(r#""$.LINE" "$.FILE" "$.SECTION""#),
            ["3", "t.conf", "sec"]
        );
    }

    #[test]
    fn columns() {
        let (LexedLine::Words(w), _) = lex_with(r#"  ab "c d"  'e'"#, &|_| None) else {
            panic!()
        };
        assert_eq!(w[0].span().col, 3);
        assert_eq!(w[1].span().col, 6);
        assert_eq!(w[1].span_at(2).col, 9);
        assert_eq!(w[2].span().col, 13);
        assert_eq!(w[2].span_at(0).col, 14);
        assert_eq!(w[2].span_at(5).col, 15);
        let (LexedLine::Words(w), _) = lex_with("é x", &|_| None) else {
            panic!()
        };
        assert_eq!(w[1].span().col, 3);
    }

    #[test]
    fn errors() {
        assert_eq!(error(r#"a "b"#), "parsing [t.conf:3:3] : unmatched quote");
        assert_eq!(error("a 'b"), "parsing [t.conf:3:3] : unmatched quote");
        assert_eq!(
            error(r"a \xg1"),
            "parsing [t.conf:3:3] : truncated or invalid hexadecimal sequence"
        );
        assert_eq!(
            error(r#""${FOO""#),
            "parsing [t.conf:3:3] : unmatched brace in environment variable name"
        );
        assert_eq!(
            error(r#""$5""#),
            "parsing [t.conf:3:3] : forbidden first char in environment variable name"
        );
        assert_eq!(
            error(r#""${FOO[x]}""#),
            "parsing [t.conf:3:7] : truncated or invalid word expansion sequence"
        );
        let many = vec!["w"; 64].join(" ");
        assert_eq!(words(&many).len(), 64);
        assert!(error(&format!("{many} x")).contains("too many words"));
        assert!(error(&format!("{many} ")).contains("too many words"));
    }

    #[test]
    fn scopes() {
        let scope = |line: &str| lex_with(line, &|_| None);
        assert_eq!(
            scope("  [abc] # c").0,
            LexedLine::Scope(Some(Spanned::new(
                "abc".to_owned(),
                Span::new(Arc::from(Path::new("t.conf")), 3, 3)
            )))
        );
        let (lexed, diags) = scope("[]");
        assert_eq!(lexed, LexedLine::Scope(None));
        assert_eq!(
            diags.errors[0].to_string(),
            "parsing [t.conf:3:1] : empty scope name is forbidden"
        );
        let (_, diags) = scope("[a b]");
        assert_eq!(
            diags.errors[0].to_string(),
            "parsing [t.conf:3:3] : character ' ' is not permitted in a scope name"
        );
        let (_, diags) = scope("[ab] x");
        assert_eq!(
            diags.errors[0].to_string(),
            "parsing [t.conf:3:6] : character 'x' is not permitted after scope declaration"
        );
    }

    #[test]
    fn split_lines_reports_missing_lf() {
        let lines: Vec<_> = split_lines("a\n\nb").collect();
        assert_eq!(lines, [(1, "a", true), (2, "", true), (3, "b", false)]);
        assert_eq!(split_lines("").count(), 0);
        assert_eq!(split_lines("x\n").collect::<Vec<_>>(), [(1, "x", true)]);
    }
}
