//! Lines to sections, as HAProxy's `readcfgfile()` (`src/cfgparse.c`) feeds its section
//! parsers: tokenizing (shared with `spoe.conf`), section keywords, `no`/`default` modifiers.

use std::path::Path;
use std::sync::Arc;

use spoe::config::host::{LexContext, LexedLine, Word, lex_line, split_lines};
use spoe::config::{ConfigErrorKind, ConfigWarningKind, Diagnostics, Span};

use super::diag::Diag;

/// The sections the gateway reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Global,
    Defaults,
    Frontend,
    Backend,
    Listen,
}

impl Kind {
    pub(super) fn keyword(self) -> &'static str {
        match self {
            Self::Global => "global",
            Self::Defaults => "defaults",
            Self::Frontend => "frontend",
            Self::Backend => "backend",
            Self::Listen => "listen",
        }
    }

    fn from_keyword(word: &str) -> Option<Self> {
        Some(match word {
            "global" => Self::Global,
            "defaults" => Self::Defaults,
            "frontend" => Self::Frontend,
            "backend" => Self::Backend,
            "listen" => Self::Listen,
            _ => return None,
        })
    }
}

/// Section keywords HAProxy has that the gateway does not read.
const UNSUPPORTED_SECTIONS: &[&str] = &[
    "userlist",
    "peers",
    "resolvers",
    "mailers",
    "program",
    "http-errors",
    "ring",
    "log-forward",
    "cache",
    "fcgi-app",
];

/// `no` or `default` before a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Modifier {
    None,
    No,
    Default,
}

/// One statement of a section.
#[derive(Debug, Clone)]
pub(super) struct Line {
    pub(super) modifier: Modifier,
    /// Keyword first; never empty; no empty word (HAProxy stops reading at the first one).
    pub(super) words: Vec<Word>,
}

impl Line {
    pub(super) fn keyword(&self) -> &str {
        self.words[0].as_str()
    }

    pub(super) fn span(&self) -> &Span {
        self.words[0].span()
    }

    pub(super) fn arg(&self, i: usize) -> Option<&Word> {
        self.words.get(i)
    }

    pub(super) fn arg_str(&self, i: usize) -> Option<&str> {
        self.words.get(i).map(Word::as_str)
    }
}

/// A section: its header line (keyword, name...) and its statements.
#[derive(Debug, Clone)]
pub(super) struct Section {
    pub(super) kind: Kind,
    pub(super) header: Vec<Word>,
    pub(super) lines: Vec<Line>,
}

impl Section {
    pub(super) fn span(&self) -> &Span {
        self.header[0].span()
    }
}

/// The text of `.warning "message"` and friends: the words after the keyword.
fn message_of(words: &[Word]) -> String {
    words[1..]
        .iter()
        .take_while(|w| !w.is_empty())
        .map(Word::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reads `text` into sections. Tokenizing errors, keywords out of any section, unsupported
/// sections and misused modifiers are reported here; everything else is the lowering's.
pub(super) fn parse_document(
    text: &str,
    file: &Arc<Path>,
    env: &dyn Fn(&str) -> Option<String>,
    diag: &mut Diag,
) -> Vec<Section> {
    let mut sections: Vec<Section> = Vec::new();
    // Inside a section the gateway does not read (its lines are skipped).
    let mut skipping = false;
    let mut section_name: Option<String> = None;
    // Depth of `.if` blocks (reported once, their content skipped).
    let mut cond_depth = 0usize;

    for (number, raw, has_lf) in split_lines(text) {
        if !has_lf {
            let col = u32::try_from(raw.chars().count())
                .unwrap_or(u32::MAX)
                .saturating_add(1);
            diag.error(
                Span::new(file.clone(), number, col),
                ConfigErrorKind::MissingFinalNewline,
            );
        }
        let cx = LexContext {
            file,
            env,
            section: section_name.as_deref(),
        };
        let mut lex_diags = Diagnostics::default();
        let lexed = lex_line(raw, number, &cx, &mut lex_diags);
        diag.absorb(lex_diags);
        let mut words = match lexed {
            LexedLine::Blank => continue,
            LexedLine::Scope(Some(name)) => {
                diag.ignored(
                    name.span,
                    format!("[{}]", name.value),
                    "scopes only select sections of SPOE files",
                );
                continue;
            }
            LexedLine::Scope(None) => continue,
            LexedLine::Words(words) => words,
        };
        let first = words[0].as_str();
        if first.starts_with('.') {
            match first {
                ".if" => {
                    if cond_depth == 0 {
                        diag.error_msg(
                            words[0].span().clone(),
                            "conditional blocks ('.if') are not supported in haproxy.cfg by the gateway",
                        );
                    }
                    cond_depth += 1;
                }
                ".endif" | ".elif" | ".else" if cond_depth == 0 => {
                    diag.error_msg(words[0].span().clone(), format!("'{first}' without '.if'"))
                }
                ".endif" => cond_depth -= 1,
                _ if cond_depth > 0 => {}
                ".warning" | ".notice" | ".diag" => diag.warn(
                    words[0].span().clone(),
                    ConfigWarningKind::Message(message_of(&words)),
                ),
                ".alert" => diag.error(
                    words[0].span().clone(),
                    ConfigErrorKind::Alert(message_of(&words)),
                ),
                _ => diag.error(
                    words[0].span().clone(),
                    ConfigErrorKind::UnknownDotDirective(first.to_owned()),
                ),
            }
            continue;
        }
        if cond_depth > 0 {
            continue;
        }
        if let Some(pos) = words.iter().position(Word::is_empty) {
            if let Some(ignored) = words[pos..].iter().find(|w| !w.is_empty()) {
                diag.warn(
                    ignored.span().clone(),
                    ConfigWarningKind::AfterEmptyWord {
                        first_ignored: ignored.as_str().to_owned(),
                    },
                );
            }
            words.truncate(pos);
        }
        if let Some(kind) = Kind::from_keyword(words[0].as_str()) {
            skipping = false;
            section_name = words.get(1).map(|w| w.as_str().to_owned());
            sections.push(Section {
                kind,
                header: words,
                lines: Vec::new(),
            });
            continue;
        }
        if UNSUPPORTED_SECTIONS.contains(&words[0].as_str()) {
            diag.error_msg(
                words[0].span().clone(),
                format!(
                    "'{}' sections are not supported by the gateway",
                    words[0].as_str()
                ),
            );
            skipping = true;
            section_name = words.get(1).map(|w| w.as_str().to_owned());
            continue;
        }
        if skipping {
            continue;
        }
        let Some(section) = sections.last_mut() else {
            diag.error(
                words[0].span().clone(),
                ConfigErrorKind::OutOfSection {
                    keyword: words[0].as_str().to_owned(),
                },
            );
            continue;
        };
        let modifier = match words[0].as_str() {
            "no" => Modifier::No,
            "default" => Modifier::Default,
            _ => Modifier::None,
        };
        if modifier != Modifier::None {
            let span = words[0].span().clone();
            words.remove(0);
            if !words
                .first()
                .is_some_and(|w| w.as_str() == "option" || w.as_str() == "log")
            {
                diag.error(span, ConfigErrorKind::ModifierNotSupported);
                continue;
            }
        }
        section.lines.push(Line { modifier, words });
    }
    sections
}
