//! The sections of `spoe.conf` on top of the shared reader ([`super::reader`]): the scope
//! `filter spoe engine NAME` selects, and lines that belong to no section of it, as HAProxy's
//! `readcfgfile()` (`src/cfgparse.c`) drives the SPOE section parsers of `src/flt_spoe.c`.
//!
//! HAProxy reads every line of the file, whatever the scope, but the SPOE section parsers
//! ignore lines outside the selected scope: with `engine NAME`, only the lines after `[NAME]`
//! (until the next scope line); without it, only the lines before any scope line. Tokenizing
//! errors, stray keywords before any section and misused `no`/`default` are reported in every
//! scope, as HAProxy does.

use std::path::Path;
use std::sync::Arc;

use super::error::{ConfigErrorKind, Diagnostics, SectionKind};
use super::keywords::{AGENT_KEYWORDS, MESSAGE_KEYWORDS};
use super::reader::lexer::{LexContext, LexedLine, lex_line, split_lines};
use super::reader::{Grammar, Input, Line, Section, read};

/// The sections of `spoe.conf`.
#[derive(Debug, Clone, Copy)]
struct SpoeGrammar;

impl Grammar for SpoeGrammar {
    type Kind = SectionKind;

    fn section(&self, keyword: &str) -> Option<SectionKind> {
        SectionKind::from_keyword(keyword)
    }

    fn section_keywords(&self) -> &[&'static str] {
        SectionKind::KEYWORDS
    }

    fn misplaced(&self, kind: SectionKind, line: &Line) -> Option<ConfigErrorKind> {
        misspelt_section(kind, line.keyword()).then(|| ConfigErrorKind::UnknownKeyword {
            keyword: line.keyword().to_owned(),
            section: kind,
        })
    }
}

/// The sections of the selected scope, in file order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Document {
    pub(crate) sections: Vec<Section<SectionKind>>,
}

/// Reads `text` and keeps the sections of scope `engine`.
pub(crate) fn parse_document(
    input: &Input<'_>,
    engine: Option<&str>,
    diags: &mut Diagnostics,
) -> Document {
    let read = read(input, &SpoeGrammar, diags);
    let in_scope = |scope: &Option<Arc<str>>| scope.as_deref() == engine;
    let mut doc = Document::default();
    // The last in-scope section of each kind (HAProxy's curagent, curmsg, curgrp): a line of
    // the selected scope goes there, whatever section it is written under.
    let mut last: [Option<usize>; 3] = [None; 3];
    let slot = |k: SectionKind| match k {
        SectionKind::Agent => 0,
        SectionKind::Message => 1,
        SectionKind::Group => 2,
    };
    for section in read.sections {
        let kind = section.kind;
        let lines = if in_scope(&section.header.scope) {
            doc.sections.push(Section {
                kind,
                header: section.header,
                lines: Vec::new(),
            });
            last[slot(kind)] = Some(doc.sections.len() - 1);
            section.lines
        } else {
            section.lines
        };
        for line in lines.into_iter().filter(|l| in_scope(&l.scope)) {
            match last[slot(kind)] {
                Some(i) => doc.sections[i].lines.push(line),
                None => orphan(kind, &line, diags),
            }
        }
    }
    doc
}

/// A word that is no keyword of a `kind` section but a near miss of a section
/// keyword (`spoe-mesage`): the lines after it belong to the section it was meant
/// to open, not to the one above it.
fn misspelt_section(kind: SectionKind, word: &str) -> bool {
    !kind.directives().contains(&word)
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
fn orphan(kind: SectionKind, line: &Line, diags: &mut Diagnostics) {
    let keyword = line.keyword();
    let span = line.span().clone();
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
        super::directives::unknown_message_keyword(keyword, &span, diags);
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
    use super::super::reader::{Modifier, Word};
    use super::*;

    fn doc(text: &str, engine: Option<&str>) -> (Document, Diagnostics) {
        let file: Arc<Path> = Arc::from(Path::new("t.conf"));
        let mut diags = Diagnostics::default();
        let input = Input {
            text,
            file: &file,
            env: &|_| None,
            features: &[],
        };
        let d = parse_document(&input, engine, &mut diags);
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
                    s.lines.len()
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
                "parsing [t.conf:4:3] : negation/default currently supported only for options, log, busy-polling, set-dumpable, strict-limits, insecure-fork-wanted and numa-cpu-mapping",
            ]
        );
        let (d, diags) = doc(
            "spoe-agent a\n  no option async\n  default option pipelining\n",
            None,
        );
        assert!(diags.errors.is_empty());
        assert_eq!(d.sections[0].lines[0].modifier, Modifier::No);
        assert_eq!(d.sections[0].lines[1].modifier, Modifier::Default);
        assert_eq!(d.sections[0].lines[1].keyword(), "option");
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
        assert_eq!(d.sections[0].lines[0].words.len(), 2);
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
