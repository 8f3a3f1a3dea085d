//! `stats enable|uri|realm|auth|refresh|admin|hide-version|show-legends|show-node|show-desc|
//! scope` in a proxy (`cfg_parse_listen()` in `src/cfgparse-listen.c`): the statistics page
//! (`crate::stats_page`). As in HAProxy, a proxy without `stats` lines uses its `defaults`'
//! page, and its first `stats` line starts a page of its own (nothing of the defaults' is kept).

use std::sync::Arc;

use spoe::config::ConfigWarningKind;
use spoe::config::reader::Line;
use spoe::expr::{AclContext, Condition};

use crate::config::grammar::Kind;
use crate::config::lower::{Lowerer, Proxy};

/// What HAProxy's error names after an unknown `stats` parameter.
const EXPECTS: &str = "expects 'admin', 'uri', 'realm', 'auth', 'scope', 'enable', \
                       'hide-version', 'show-node', 'show-desc' or 'show-legends'";

impl Lowerer<'_, '_> {
    pub(super) fn stats(&mut self, p: &mut Proxy, line: &Line) {
        if p.kind != Kind::Defaults && !p.stats_own {
            // "we must detach from the default config"
            p.stats = None;
            p.stats_own = true;
        }
        let Some(param) = line.arg(1) else {
            return self.diag.error_msg(
                line.span().clone(),
                format!("missing keyword in 'stats', {EXPECTS}."),
            );
        };
        let arg = line.arg(2).map(|w| w.as_str().to_owned());
        let need = |lw: &mut Self, what: &str| {
            lw.diag.error_msg(
                line.span().clone(),
                format!("'{}' needs {what}.", param.as_str()),
            );
        };
        match param.as_str() {
            "enable" => {
                p.stats.get_or_insert_default();
            }
            "uri" => match arg {
                Some(uri) if !uri.is_empty() => {
                    p.stats.get_or_insert_default().uri = Arc::from(uri.as_str());
                }
                _ => need(self, "an URI prefix"),
            },
            "realm" => match arg {
                Some(realm) if !realm.is_empty() => {
                    p.stats.get_or_insert_default().realm = Some(realm);
                }
                _ => need(self, "an realm name"),
            },
            "auth" => match arg.as_deref().and_then(|a| a.split_once(':')) {
                Some((user, pass)) => {
                    let page = p.stats.get_or_insert_default();
                    page.users.push((user.to_owned(), pass.to_owned()));
                }
                None => need(self, "a user:password account"),
            },
            "scope" => match arg {
                Some(name) if !name.is_empty() => {
                    p.stats.get_or_insert_default().scope.push(name);
                }
                _ => need(self, "a proxy name"),
            },
            "refresh" => self.stats_refresh(p, line),
            "admin" => self.stats_admin(p, line),
            "hide-version" => p.stats.get_or_insert_default().hide_version = true,
            "show-legends" => p.stats.get_or_insert_default().show_legends = true,
            "show-node" => {
                let name = arg.unwrap_or_default();
                if name
                    .chars()
                    .any(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
                {
                    return self.diag.error_msg(
                        line.span().clone(),
                        "'stats show-node' invalid node name - should be a string with digits(0-9), letters(A-Z, a-z), hyphen(-) or underscode(_).",
                    );
                }
                p.stats.get_or_insert_default().show_node = Some(name);
            }
            "show-desc" => {
                let words: Vec<&str> = line.words[2..].iter().map(|w| w.as_str()).collect();
                if words.is_empty() {
                    // HAProxy takes `global`'s `description`, which the gateway does not keep.
                    return self.diag.warn_msg(
                        line.span().clone(),
                        "'show-desc' requires a parameter or 'desc' to be set in the global section.",
                    );
                }
                p.stats.get_or_insert_default().show_desc = Some(words.join(" "));
            }
            "http-request" | "show-modules" | "bind-process" => self.diag.error_msg(
                param.span().clone(),
                format!("'stats {}' is not supported by the gateway", param.as_str()),
            ),
            other => self.diag.error_msg(
                param.span().clone(),
                format!("unknown stats parameter '{other}', {EXPECTS}."),
            ),
        }
    }

    /// `stats refresh DELAY`: seconds unless a unit is given.
    fn stats_refresh(&mut self, p: &mut Proxy, line: &Line) {
        let Some(word) = line.arg(2) else {
            return self.missing(line, "stats refresh", "a delay");
        };
        let text = word.as_str();
        let delay = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            self.number(word, "stats refresh")
                .map(std::time::Duration::from_secs)
        } else {
            self.duration(word, "stats refresh")
        };
        if let Some(delay) = delay {
            p.stats.get_or_insert_default().refresh = Some(delay);
        }
    }

    /// `stats admin if|unless COND`.
    fn stats_admin(&mut self, p: &mut Proxy, line: &Line) {
        if p.kind == Kind::Defaults {
            return self.diag.error_msg(
                line.span().clone(),
                "'stats admin' not allowed in 'defaults' section.",
            );
        }
        if !matches!(line.arg_str(2), Some("if" | "unless")) {
            return self.diag.error_msg(
                line.span().clone(),
                "'stats admin' requires either 'if' or 'unless' followed by a condition.",
            );
        }
        let dir = self.acl_context_dir();
        let cx = AclContext { base_dir: &dir };
        match Condition::parse(&line.words[2..], &mut p.acls, &cx) {
            Ok((cond, warnings)) => {
                for w in warnings {
                    self.diag.warn(w.span, ConfigWarningKind::Expr(w.kind));
                }
                p.stats.get_or_insert_default().admin.push(cond);
            }
            Err(e) => self
                .diag
                .expr("error detected while parsing a 'stats admin' rule", e),
        }
    }
}
