//! Lines to sections, as HAProxy's `readcfgfile()` (`src/cfgparse.c`) feeds its section
//! parsers: tokenizing, the preprocessor, `no`/`default` modifiers, scopes, section keywords.

use std::path::Path;
use std::sync::Arc;

use super::lexer::{LexContext, LexedLine, Word, lex_line, split_lines};
use super::preproc::Preprocessor;
use crate::config::error::{ConfigErrorKind, ConfigWarningKind, Diagnostics};
use crate::config::span::{Span, Spanned};
use crate::config::suggest::did_you_mean;

/// `no` or `default` before a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Modifier {
    /// Neither.
    #[default]
    None,
    /// `no KEYWORD ...`.
    No,
    /// `default KEYWORD ...`.
    Default,
}

/// The keywords HAProxy 2.6 lets `no` and `default` precede (`readcfgfile()`).
const MODIFIED_KEYWORDS: &[&str] = &[
    "option",
    "log",
    "busy-polling",
    "set-dumpable",
    "strict-limits",
    "insecure-fork-wanted",
    "numa-cpu-mapping",
];

/// One statement: a keyword and its arguments, after quotes, escapes, variables and the
/// preprocessor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// `no` or `default` before the keyword (removed from `words`).
    pub modifier: Modifier,
    /// Keyword first; never empty; no empty word (HAProxy stops reading at the first one).
    pub words: Vec<Word>,
    /// The `[scope]` the line is written in, if any.
    pub scope: Option<Arc<str>>,
}

impl Line {
    /// The keyword.
    pub fn keyword(&self) -> &str {
        self.words[0].as_str()
    }

    /// Where the keyword is.
    pub fn span(&self) -> &Span {
        self.words[0].span()
    }

    /// The word at `i` (the keyword is 0).
    pub fn arg(&self, i: usize) -> Option<&Word> {
        self.words.get(i)
    }

    /// The text of the word at `i`.
    pub fn arg_str(&self, i: usize) -> Option<&str> {
        self.words.get(i).map(Word::as_str)
    }
}

/// A section: the line that opens it and the lines under it, up to the next section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section<K> {
    /// What the grammar calls the section keyword.
    pub kind: K,
    /// The section line: keyword, name, and any other word.
    pub header: Line,
    /// The statements of the section, in file order.
    pub lines: Vec<Line>,
}

impl<K> Section<K> {
    /// Where the section keyword is.
    pub fn span(&self) -> &Span {
        self.header.span()
    }

    /// The word after the section keyword (its name), if any.
    pub fn name(&self) -> Option<&Word> {
        self.header.arg(1)
    }
}

/// A file read into sections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document<K> {
    /// The sections, in file order (masked lines left out).
    pub sections: Vec<Section<K>>,
    /// Every valid `[scope]` line, in file order.
    pub scopes: Vec<Spanned<String>>,
    /// The lines refused because they belong to no section (out of any section, or a
    /// misspelt section keyword; reported), each the first of the lines skipped with it: what
    /// they would have declared (`backnd app`) is missing as a consequence, not a second error.
    pub misplaced: Vec<Line>,
}

impl<K> Default for Document<K> {
    fn default() -> Self {
        Self {
            sections: Vec::new(),
            scopes: Vec::new(),
            misplaced: Vec::new(),
        }
    }
}

/// What a file's grammar tells the reader.
pub trait Grammar {
    /// The kinds of sections.
    type Kind: Copy;

    /// The section a keyword opens, among every section keyword HAProxy knows in this file
    /// (including those the host does not run: their lines still belong to them).
    fn section(&self, keyword: &str) -> Option<Self::Kind>;

    /// The section keywords, for "did you mean" hints.
    fn section_keywords(&self) -> &[&'static str];

    /// The error for a line of a `kind` section that cannot belong there because it is a
    /// misspelt section keyword (`frontnd`); the lines after it, up to the next section, then
    /// belong with it and are skipped. `None` lets the line through.
    fn misplaced(&self, kind: Self::Kind, line: &Line) -> Option<ConfigErrorKind> {
        let _ = (kind, line);
        None
    }

    /// Called with each line of a `kind` section as it is read, before the next line is: for
    /// the directives that act while the file is read, as HAProxy runs each line when it
    /// reads it (`setenv` changes what the `"${VAR}"` of the lines after it expand to).
    fn line_read(&self, kind: Self::Kind, line: &Line) {
        let _ = (kind, line);
    }
}

/// What a read takes besides the grammar.
pub struct Input<'a> {
    /// The text.
    pub text: &'a str,
    /// The file's name in messages.
    pub file: &'a Arc<Path>,
    /// Looks up an environment variable.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The build features `.if feature(NAME)` finds (HAProxy's `+NAME` features).
    pub features: &'a [&'a str],
}

impl std::fmt::Debug for Input<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("file", &self.file)
            .field("features", &self.features)
            .finish_non_exhaustive()
    }
}

/// Reads `input` into sections. Tokenizing and preprocessor errors, misused modifiers, lines
/// out of any section and misplaced lines are reported in `diags`; what each line means is the
/// grammar's.
pub fn read<G: Grammar>(
    input: &Input<'_>,
    grammar: &G,
    diags: &mut Diagnostics,
) -> Document<G::Kind> {
    let file = input.file;
    let mut doc = Document::default();
    let mut preproc = Preprocessor::default();
    let mut scope: Option<Arc<str>> = None;
    // HAProxy's `$.SECTION`: the section's name, or its keyword.
    let mut section_name: Option<String> = None;
    // After a line that cannot belong where it is, the lines up to the next section belong
    // with it: they are skipped instead of each repeating the first error.
    let mut skipping = false;
    let mut last_line = 0;

    for (number, raw, has_lf) in split_lines(input.text) {
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
            env: input.env,
            section: section_name.as_deref(),
        };
        let mut words = match lex_line(raw, number, &cx, diags) {
            LexedLine::Blank => continue,
            LexedLine::Scope(name) => {
                if let Some(name) = name {
                    scope = Some(Arc::from(name.value.as_str()));
                    doc.scopes.push(name);
                }
                skipping = false;
                continue;
            }
            LexedLine::Words(words) => words,
        };
        if words[0].as_str().starts_with('.') {
            preproc.handle(&words, input.env, input.features, diags);
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
                .is_some_and(|w| MODIFIED_KEYWORDS.contains(&w.as_str()))
            {
                diags.error(span, ConfigErrorKind::ModifierNotSupported);
                continue;
            }
        }
        let line = Line {
            modifier,
            words,
            scope: scope.clone(),
        };
        if let Some(kind) = grammar.section(line.keyword()) {
            skipping = false;
            section_name = Some(line.arg_str(1).unwrap_or(line.keyword()).to_owned());
            doc.sections.push(Section {
                kind,
                header: line,
                lines: Vec::new(),
            });
            continue;
        }
        if skipping {
            continue;
        }
        let Some(section) = doc.sections.last_mut() else {
            diags.error(
                line.span().clone(),
                ConfigErrorKind::OutOfSection {
                    keyword: line.keyword().to_owned(),
                    did_you_mean: did_you_mean(
                        line.keyword(),
                        grammar.section_keywords().iter().copied(),
                    ),
                },
            );
            skipping = true;
            doc.misplaced.push(line);
            continue;
        };
        if let Some(error) = grammar.misplaced(section.kind, &line) {
            diags.error(line.span().clone(), error);
            skipping = true;
            doc.misplaced.push(line);
            continue;
        }
        grammar.line_read(section.kind, &line);
        section.lines.push(line);
    }
    if last_line > 0 {
        preproc.finish(diags);
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Test;

    impl Grammar for Test {
        type Kind = u8;

        fn section(&self, keyword: &str) -> Option<u8> {
            ["alpha", "beta"]
                .iter()
                .position(|k| *k == keyword)
                .and_then(|i| u8::try_from(i).ok())
        }

        fn section_keywords(&self) -> &[&'static str] {
            &["alpha", "beta"]
        }

        fn misplaced(&self, _: u8, line: &Line) -> Option<ConfigErrorKind> {
            (line.keyword() == "bta").then(|| ConfigErrorKind::Host("misplaced".to_owned()))
        }
    }

    fn read_str(text: &str) -> (Document<u8>, Vec<String>) {
        let file: Arc<Path> = Arc::from(Path::new("t.cfg"));
        let env = |name: &str| (name == "SET").then(|| "1".to_owned());
        let input = Input {
            text,
            file: &file,
            env: &env,
            features: &["THREAD"],
        };
        let mut diags = Diagnostics::default();
        let doc = read(&input, &Test, &mut diags);
        let mut messages: Vec<String> = diags.errors.iter().map(ToString::to_string).collect();
        messages.extend(diags.warnings.iter().map(|w| format!("W {w}")));
        (doc, messages)
    }

    fn shape(doc: &Document<u8>) -> Vec<String> {
        doc.sections
            .iter()
            .map(|s| {
                let lines: Vec<String> = s
                    .lines
                    .iter()
                    .map(|l| {
                        let words: Vec<&str> = l.words.iter().map(Word::as_str).collect();
                        format!("{:?}{}", l.modifier, words.join(" "))
                    })
                    .collect();
                format!(
                    "{} {}: {}",
                    s.kind,
                    s.name().map_or("", Word::as_str),
                    lines.join(", ")
                )
            })
            .collect()
    }

    #[test]
    fn sections_modifiers_and_masks() {
        let (doc, messages) = read_str(
            "alpha a\n  x 1\n  no option y\n.if defined(SET) && feature(THREAD)\n  z\n.else\n  hidden\n.endif\nbeta\n  x\"$.SECTION\" \"\" ignored\n",
        );
        assert_eq!(
            shape(&doc),
            ["0 a: Nonex 1, Nooption y, Nonez", "1 : Nonexbeta"]
        );
        assert_eq!(
            messages,
            [
                "W parsing [t.cfg:10:19] : 'ignored' and the words after it are ignored: they follow an empty word, where HAProxy stops reading arguments"
            ]
        );
    }

    #[test]
    fn one_typo_one_error() {
        let (doc, messages) =
            read_str("x 1\n  y\nalpha a\n  bta b\n  in-b\nbeta b\n  no timeout 1\n  kept\n");
        assert_eq!(shape(&doc), ["0 a: ", "1 b: Nonekept"]);
        let misplaced: Vec<&str> = doc.misplaced.iter().map(Line::keyword).collect();
        assert_eq!(misplaced, ["x", "bta"]);
        assert_eq!(
            messages,
            [
                "parsing [t.cfg:1:1] : unknown keyword 'x' out of section",
                "parsing [t.cfg:4:3] : misplaced",
                "parsing [t.cfg:7:3] : negation/default currently supported only for options, log, busy-polling, set-dumpable, strict-limits, insecure-fork-wanted and numa-cpu-mapping",
            ]
        );
        let (_, messages) = read_str("alpah\n");
        assert_eq!(
            messages,
            [
                "parsing [t.cfg:1:1] : unknown keyword 'alpah' out of section; did you mean 'alpha' maybe ?"
            ]
        );
    }

    #[test]
    fn scopes_mark_lines() {
        let (doc, _) = read_str("alpha a\n  x\n[s1]\n  y\nbeta b\n");
        assert_eq!(doc.scopes.len(), 1);
        assert_eq!(doc.sections[0].lines[0].scope, None);
        assert_eq!(doc.sections[0].lines[1].scope.as_deref(), Some("s1"));
        assert_eq!(doc.sections[1].header.scope.as_deref(), Some("s1"));
    }
}
