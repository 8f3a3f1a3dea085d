//! Conditions: `if|unless [!]ACL [[!]ACL ...] [or|'||' ...]`, with anonymous `{ ... }` ACLs
//! (`build_acl_cond()`, `parse_acl_cond()` and `acl_exec_cond()` in `src/acl.c`).

use crate::config::Span;
use crate::config::reader::lexer::Word;

use super::acl::{AclContext, AclSet, ExprWarning};
use super::error::{ExprError, ExprErrorKind};
use super::fetch::Fetch;

/// Whether the condition is `if` or `unless`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polarity {
    /// `if`: true when the ACL expression is true.
    If,
    /// `unless`: true when it is false.
    Unless,
}

/// One ACL reference in a condition, possibly negated with `!`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Term {
    /// Index of the ACL in the [`AclSet`] the condition was parsed with.
    pub acl: usize,
    /// `!` before it.
    pub negated: bool,
}

/// A parsed condition: an OR of suites, each an AND of terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// `if` or `unless`.
    pub polarity: Polarity,
    /// The suites (separated by `or`/`||`), each a list of terms that must all hold.
    pub suites: Vec<Vec<Term>>,
    /// Where the condition starts (its `if`/`unless`).
    pub span: Span,
}

impl Condition {
    /// Parses `if|unless TERMS...`. Names resolve against `acls`, which grows with the
    /// predefined ACLs used and with anonymous `{ }` ACLs. Words after the first empty one are
    /// not read (HAProxy stops there).
    pub fn parse(
        words: &[Word],
        acls: &mut AclSet,
        cx: &AclContext<'_>,
    ) -> Result<(Self, Vec<ExprWarning>), ExprError> {
        let Some((first, rest)) = words.split_first() else {
            return Err(ExprError::new(
                Span::file(std::sync::Arc::from(std::path::Path::new(""))),
                ExprErrorKind::ConditionStart,
            ));
        };
        let polarity = match first.as_str() {
            "if" => Polarity::If,
            "unless" => Polarity::Unless,
            _ => {
                return Err(ExprError::new(
                    first.span().clone(),
                    ExprErrorKind::ConditionStart,
                ));
            }
        };
        let rest: Vec<&Word> = rest.iter().take_while(|w| !w.is_empty()).collect();
        let mut warnings = Vec::new();
        let mut suites: Vec<Vec<Term>> = Vec::new();
        let mut current: Option<Vec<Term>> = None;
        let mut negated = false;
        let mut i = 0;
        while let Some(&word) = rest.get(i) {
            let text = word.as_str();
            let name = text.trim_start_matches('!');
            if (text.len() - name.len()) % 2 == 1 {
                negated = !negated;
            }
            if name.is_empty() {
                i += 1;
                continue;
            }
            if name.eq_ignore_ascii_case("or") || name == "||" {
                if let Some(suite) = current.take() {
                    suites.push(suite);
                }
                negated = false;
                i += 1;
                continue;
            }
            let acl = if name == "{" {
                let Some(close) = rest[i + 1..].iter().position(|w| w.as_str() == "}") else {
                    return Err(ExprError::new(
                        word.span().clone(),
                        ExprErrorKind::MissingClosingBrace,
                    ));
                };
                let inner: Vec<Word> = rest[i + 1..i + 1 + close]
                    .iter()
                    .map(|w| (*w).clone())
                    .collect();
                let index = acls.parse_anonymous(&inner, word.span(), cx, &mut warnings)?;
                i += close + 1;
                index
            } else {
                let named = if name.len() == text.len() {
                    word.clone()
                } else {
                    Word::synthetic(name, word.span_at(text.len() - name.len()))
                };
                acls.resolve(&named, cx)?
            };
            current
                .get_or_insert_with(Vec::new)
                .push(Term { acl, negated });
            negated = false;
            i += 1;
        }
        if let Some(suite) = current {
            suites.push(suite);
        }
        Ok((
            Self {
                polarity,
                suites,
                span: first.span().clone(),
            },
            warnings,
        ))
    }

    /// Evaluates the condition against the stream `host` describes, with the ACLs it was
    /// parsed with. An empty condition (`if` alone) is false, so `unless` alone is true.
    pub fn eval<H: Fetch + ?Sized>(&self, host: &H, acls: &AclSet) -> bool {
        let result = self.suites.iter().any(|suite| {
            suite.iter().all(|term| {
                let value = acls.get(term.acl).is_some_and(|acl| acl.eval(host));
                value != term.negated
            })
        });
        match self.polarity {
            Polarity::If => result,
            Polarity::Unless => !result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polarity_applies_last() {
        struct Nothing;
        impl Fetch for Nothing {
            fn fetch(&self, _: &super::super::FetchKind) -> Option<super::super::Sample> {
                None
            }
        }
        let span = Span::file(std::sync::Arc::from(std::path::Path::new("t")));
        let acls = AclSet::new();
        let never = Condition {
            polarity: Polarity::If,
            suites: vec![vec![Term {
                acl: 99,
                negated: false,
            }]],
            span: span.clone(),
        };
        assert!(!never.eval(&Nothing, &acls), "a missing ACL never matches");
        let negated = Condition {
            polarity: Polarity::Unless,
            suites: vec![vec![Term {
                acl: 99,
                negated: true,
            }]],
            span,
        };
        assert!(!negated.eval(&Nothing, &acls));
    }
}
