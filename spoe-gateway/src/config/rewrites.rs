//! The actions that rewrite the message in place: `set-status`, `replace-header`,
//! `replace-value`, `set-method|path|pathq|query|uri`, `replace-path|pathq|uri`
//! (`parse_http_set_status()`, `parse_http_replace_header()`, `parse_set_req_line()`,
//! `parse_replace_uri()` in HAProxy's `src/http_act.c`).

use regex::Regex;
use spoe::config::reader::Word;

use super::actions::{ActionParser, Parsed};
use crate::model::{HttpAction, LinePart};

impl ActionParser<'_, '_> {
    /// `set-status N [reason TEXT]`.
    pub(super) fn set_status(&mut self) -> Parsed {
        let at = self.at.span().clone();
        let Some(word) = self.args.first() else {
            self.fail(&at, "expects 1 argument: <status>");
            return None;
        };
        let status = match word.as_str().parse::<u16>() {
            Ok(s) if (100..=999).contains(&s) => s,
            _ => {
                self.fail(
                    word.span(),
                    "expects an integer status code between 100 and 999",
                );
                return None;
            }
        };
        if self.args.get(1).map(Word::as_str) != Some("reason") {
            let action = HttpAction::SetStatus {
                status,
                reason: None,
            };
            return Some((action, 1, None));
        }
        let Some(reason) = self.args.get(2) else {
            let span = self.args[1].span().clone();
            self.fail(&span, "expects a reason string after 'reason'");
            return None;
        };
        let action = HttpAction::SetStatus {
            status,
            reason: Some(reason.as_str().to_owned()),
        };
        Some((action, 3, None))
    }

    /// `replace-header NAME REGEX FMT` / `replace-value NAME REGEX FMT`.
    pub(super) fn replace_header(&mut self, values: bool) -> Parsed {
        let (Some(name), Some(re), Some(fmt)) =
            (self.args.first(), self.args.get(1), self.args.get(2))
        else {
            let at = self.at.span().clone();
            self.fail(&at, "expects exactly 3 arguments");
            return None;
        };
        let regex = self.regex(re)?;
        let replace = self.log_format(fmt)?;
        let action = HttpAction::ReplaceHeader {
            name: name.as_str().to_owned(),
            regex,
            replace,
            values,
        };
        Some((action, 3, None))
    }

    /// `set-method|set-path|set-pathq|set-query|set-uri FMT`.
    pub(super) fn set_line(&mut self, part: LinePart) -> Parsed {
        let Some(fmt) = self.args.first().filter(|w| !w.as_str().is_empty()) else {
            let at = self.at.span().clone();
            self.fail(&at, "expects exactly 1 argument <format>");
            return None;
        };
        let value = self.log_format(fmt)?;
        Some((HttpAction::SetLine { part, value }, 1, None))
    }

    /// `replace-path|replace-pathq|replace-uri REGEX FMT`.
    pub(super) fn replace_line(&mut self, part: LinePart) -> Parsed {
        let (Some(re), Some(fmt)) = (self.args.first(), self.args.get(1)) else {
            let at = self.at.span().clone();
            self.fail(
                &at,
                "expects exactly 2 arguments <match-regex> and <replace-format>",
            );
            return None;
        };
        let regex = self.regex(re)?;
        let replace = self.log_format(fmt)?;
        let action = HttpAction::ReplaceLine {
            part,
            regex,
            replace,
        };
        Some((action, 2, None))
    }

    fn regex(&mut self, word: &Word) -> Option<Regex> {
        match Regex::new(word.as_str()) {
            Ok(r) => Some(r),
            Err(e) => {
                let msg = format!("failed to compile regex '{}': {e}", word.as_str());
                self.fail(word.span(), msg);
                None
            }
        }
    }
}
