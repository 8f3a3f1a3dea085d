//! Lines to sections: scopes, section keywords, `no`/`default` modifiers and the
//! preprocessor, as HAProxy's `readcfgfile()` (`src/cfgparse.c`) drives the SPOE section
//! parsers of `src/flt_spoe.c`.
//!
//! HAProxy reads every line of the file, whatever the scope, but the SPOE section parsers
//! ignore lines outside the selected scope: with `engine NAME`, only the lines after `[NAME]`
//! (until the next scope line); without it, only the lines before any scope line. Tokenizing
//! errors, stray keywords before any section and misused `no`/`default` are reported in every
//! scope, as HAProxy does.

use std::path::Path;
use std::sync::Arc;

use super::error::{ConfigErrorKind, ConfigWarningKind, Diagnostics, SectionKind};
use super::keywords::{AGENT_KEYWORDS, MESSAGE_KEYWORDS};
use super::lexer::{LexContext, LexedLine, Word, lex_line, split_lines};
use super::preproc::Preprocessor;
use super::span::Span;

/// `no` or `default` before a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Modifier {
    None,
    No,
    Default,
}

/// One statement inside a section.
#[derive(Debug, Clone)]
pub(crate) struct Directive {
    pub(crate) modifier: Modifier,
    /// Keyword first; never empty; no empty word.
    pub(crate) words: Vec<Word>,
}

impl Directive {
    pub(crate) fn keyword(&self) -> &str {
        self.words[0].as_str()
    }

    pub(crate) fn span(&self) -> &Span {
        self.words[0].span()
    }

    /// The argument at `i` (the keyword is 0).
    pub(crate) fn arg(&self, i: usize) -> Option<&Word> {
        self.words.get(i)
    }
}

/// A section of the selected scope.
#[derive(Debug, Clone)]
pub(crate) struct Section {
    pub(crate) kind: SectionKind,
    /// The section line: keyword, name, and any extra word.
    pub(crate) header: Vec<Word>,
    pub(crate) directives: Vec<Directive>,
}

impl Section {
    pub(crate) fn span(&self) -> &Span {
        self.header[0].span()
    }

    pub(crate) fn name(&self) -> Option<&Word> {
        self.header.get(1)
    }
}

/// The sections of the selected scope, in file order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Document {
    pub(crate) sections: Vec<Section>,
}

/// Reads `text` and keeps the sections of scope `engine`.
pub(crate) fn parse_document(
    text: &str,
    file: &Arc<Path>,
    engine: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
    diags: &mut Diagnostics,
) -> Document {
    let mut doc = Document::default();
    let mut scope: Option<String> = None;
    let mut preproc = Preprocessor::default();
    // The section kind HAProxy's current section parser belongs to, whatever the scope.
    let mut current: Option<SectionKind> = None;
    let mut section_name: Option<String> = None;
    // The last in-scope section of each kind (HAProxy's curagent, curmsg, curgrp).
    let mut last: [Option<usize>; 3] = [None; 3];
    let slot = |k: SectionKind| match k {
        SectionKind::Agent => 0,
        SectionKind::Message => 1,
        SectionKind::Group => 2,
    };
    let mut last_line = 0;
    // After a line that cannot belong where it is (a keyword out of any
    // section, or a misspelt section keyword), the lines that follow belong
    // with it: they are skipped up to the next section, instead of each
    // repeating the first error.
    let mut skipping = false;

    for (number, raw, has_lf) in split_lines(text) {
        last_line = number;
        if !has_lf {
            let col = u32::try_from(raw.chars().count())
                .unwrap_or(u32::MAX)
                .saturating_add(1);
            diags.error(
                Span::new(file.clone(), number, col),
                ConfigErrorKind::MissingFinalNewline,
            );
        }
        let cx = LexContext {
            file,
            env,
            section: section_name.as_deref(),
        };
        let mut words = match lex_line(raw, number, &cx, diags) {
            LexedLine::Blank => continue,
            LexedLine::Scope(name) => {
                if let Some(name) = name {
                    scope = Some(name.value);
                }
                skipping = false;
                continue;
            }
            LexedLine::Words(words) => words,
        };
        if words[0].as_str().starts_with('.') {
            preproc.handle(&words, env, diags);
            continue;
        }
        if preproc.masked() {
            continue;
        }
        if let Some(pos) = words.iter().position(Word::is_empty) {
            if let Some(ignored) = words[pos..].iter().find(|w| !w.is_empty()) {
                diags.warn(
                    ignored.span().clone(),
                    ConfigWarningKind::AfterEmptyWord {
                        first_ignored: ignored.as_str().to_owned(),
                    },
                );
            }
            words.truncate(pos);
        }
        let in_scope = match (&scope, engine) {
            (None, None) => true,
            (Some(s), Some(e)) => s == e,
            _ => false,
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
                diags.error(span, ConfigErrorKind::ModifierNotSupported);
                continue;
            }
        }
        if let Some(kind) = SectionKind::from_keyword(words[0].as_str()) {
            skipping = false;
            current = Some(kind);
            section_name = Some(
                words
                    .get(1)
                    .map_or_else(|| words[0].as_str().to_owned(), |w| w.as_str().to_owned()),
            );
            if in_scope {
                doc.sections.push(Section {
                    kind,
                    header: words,
                    directives: Vec::new(),
                });
                last[slot(kind)] = Some(doc.sections.len() - 1);
            }
            continue;
        }
        if skipping {
            continue;
        }
        let Some(kind) = current else {
            diags.error(
                words[0].span().clone(),
                ConfigErrorKind::OutOfSection {
                    keyword: words[0].as_str().to_owned(),
                },
            );
            skipping = true;
            continue;
        };
        if misspelt_section(kind, words[0].as_str()) {
            diags.error(
                words[0].span().clone(),
                ConfigErrorKind::UnknownKeyword {
                    keyword: words[0].as_str().to_owned(),
                    section: kind,
                },
            );
            skipping = true;
            continue;
        }
        if !in_scope {
            continue;
        }
        match last[slot(kind)] {
            Some(i) => doc.sections[i]
                .directives
                .push(Directive { modifier, words }),
            None => orphan(kind, &words, diags),
        }
    }
    if last_line > 0 {
        preproc.finish(diags);
    }
    doc
}

/// A word that is no keyword of a `kind` section but a near miss of a section
/// keyword (`spoe-mesage`). Only in sections where an unknown keyword is an
/// error: in `spoe-message`, HAProxy ignores it with a warning, and so must we.
fn misspelt_section(kind: SectionKind, word: &str) -> bool {
    kind != SectionKind::Message
        && !kind.directives().contains(&word)
        && super::did_you_mean(word, SectionKind::KEYWORDS.iter().copied()).is_some()
}

/// Whether `e` is the first error of a line the parser could not place (a
/// keyword out of section, a misspelt section keyword): the errors that
/// would only follow from it (no agent, no backend, an undefined message)
/// are not reported again.
pub(crate) fn is_misplaced_line(e: &ConfigErrorKind) -> bool {
    match e {
        ConfigErrorKind::OutOfSection { .. } => true,
        ConfigErrorKind::UnknownKeyword { keyword, section } => misspelt_section(*section, keyword),
        _ => false,
    }
}

/// A line of the selected scope whose section began in another scope. HAProxy hands it to the
/// parser of that kind of section while no such section is current: a known keyword makes it
/// dereference a null pointer (it crashes), an unknown one gets the usual treatment.
fn orphan(kind: SectionKind, words: &[Word], diags: &mut Diagnostics) {
    let keyword = words[0].as_str();
    let span = words[0].span().clone();
    let known = match kind {
        SectionKind::Agent => AGENT_KEYWORDS.contains(&keyword),
        SectionKind::Message => MESSAGE_KEYWORDS.contains(&keyword),
        SectionKind::Group => keyword == "messages",
    };
    if known {
        diags.error(
            span,
            ConfigErrorKind::NoCurrentSection {
                keyword: keyword.to_owned(),
                section: kind,
            },
        );
    } else if kind == SectionKind::Message {
        diags.warn(
            span,
            ConfigWarningKind::UnknownMessageKeyword {
                keyword: keyword.to_owned(),
            },
        );
    } else {
        diags.error(
            span,
            ConfigErrorKind::UnknownKeyword {
                keyword: keyword.to_owned(),
                section: kind,
            },
        );
    }
}

/// The names of the `[scope]` lines of `text`, in order, without duplicates.
pub(crate) fn scope_names(text: &str) -> Vec<String> {
    let file: Arc<Path> = Arc::from(Path::new(""));
    let env = |_: &str| None;
    let mut diags = Diagnostics::default();
    let mut names: Vec<String> = Vec::new();
    for (number, raw, _) in split_lines(text) {
        let cx = LexContext {
            file: &file,
            env: &env,
            section: None,
        };
        if !raw.trim_start().starts_with('[') {
            continue;
        }
        if let LexedLine::Scope(Some(name)) = lex_line(raw, number, &cx, &mut diags)
            && !names.contains(&name.value)
        {
            names.push(name.value);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str, engine: Option<&str>) -> (Document, Diagnostics) {
        let file: Arc<Path> = Arc::from(Path::new("t.conf"));
        let mut diags = Diagnostics::default();
        let d = parse_document(text, &file, engine, &|_| None, &mut diags);
        (d, diags)
    }

    fn names(d: &Document) -> Vec<String> {
        d.sections
            .iter()
            .map(|s| {
                format!(
                    "{} {} ({})",
                    s.kind,
                    s.name().map_or("", Word::as_str),
                    s.directives.len()
                )
            })
            .collect()
    }

    const SCOPED: &str = "\
spoe-agent outside
  use-backend x
[one]
spoe-agent a1
  use-backend one
spoe-message m1
  args src
[two]
spoe-agent a2
  use-backend two
";

    #[test]
    fn scopes_select_sections() {
        let (d, diags) = doc(SCOPED, None);
        assert!(diags.errors.is_empty());
        assert_eq!(names(&d), ["spoe-agent outside (1)"]);
        let (d, _) = doc(SCOPED, Some("one"));
        assert_eq!(names(&d), ["spoe-agent a1 (1)", "spoe-message m1 (1)"]);
        let (d, _) = doc(SCOPED, Some("two"));
        assert_eq!(names(&d), ["spoe-agent a2 (1)"]);
        let (d, _) = doc(SCOPED, Some("three"));
        assert!(d.sections.is_empty());
        assert_eq!(scope_names(SCOPED), ["one", "two"]);
    }

    #[test]
    fn stray_keywords_and_modifiers() {
        let (_, diags) = doc(
            "[x]\nfoo bar\nspoe-agent a\n  no timeout hello 1s\n",
            Some("y"),
        );
        let errors: Vec<String> = diags.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            errors,
            [
                "parsing [t.conf:2:1] : unknown keyword 'foo' out of section",
                "parsing [t.conf:4:3] : negation/default currently supported only for options and log",
            ]
        );
        let (d, diags) = doc(
            "spoe-agent a\n  no option async\n  default option pipelining\n",
            None,
        );
        assert!(diags.errors.is_empty());
        assert_eq!(d.sections[0].directives[0].modifier, Modifier::No);
        assert_eq!(d.sections[0].directives[1].modifier, Modifier::Default);
        assert_eq!(d.sections[0].directives[1].keyword(), "option");
        // A line whose section is in another scope.
        let (_, diags) = doc("spoe-agent a\n[e]\n  use-backend b\n  bogus\n", Some("e"));
        let errors: Vec<String> = diags.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            errors,
            [
                "parsing [t.conf:3:3] : 'use-backend' belongs to no spoe-agent section of the selected scope",
                "parsing [t.conf:4:3] : unknown keyword 'bogus' in spoe-agent section",
            ]
        );
    }

    #[test]
    fn missing_final_newline_and_empty_words() {
        let (d, diags) = doc("spoe-agent a\n  messages m \"\" n", None);
        assert_eq!(
            diags.errors[0].to_string(),
            "parsing [t.conf:2:18] : missing LF on last line, file might have been truncated"
        );
        assert_eq!(d.sections[0].directives[0].words.len(), 2);
        assert_eq!(
            diags.warnings[0].to_string(),
            "parsing [t.conf:2:17] : 'n' and the words after it are ignored: they follow an \
             empty word, where HAProxy stops reading arguments"
        );
    }

    #[test]
    fn preprocessor_masks_lines() {
        let text = ".if 0\nspoe-agent hidden\n.else\nspoe-agent shown\n.endif\n";
        let (d, diags) = doc(text, None);
        assert!(diags.errors.is_empty());
        assert_eq!(names(&d), ["spoe-agent shown (0)"]);
    }
}
