//! `default_backend` and `use_backend NAME [if|unless COND]` (`cfg_parse_listen()`); the
//! target backends are checked once every section is read (`config::validate`), but for a
//! dynamic name (`use_backend %[var(txn.be)]`), which names a backend only at run time.

use std::sync::Arc;

use spoe::config::reader::Line;

use super::cond::CondSite;
use crate::config::grammar::Kind;
use crate::config::logformat::{Phase, parse_log_format};
use crate::config::lower::{Lowerer, Proxy};
use crate::model::UseBackend;

impl Lowerer<'_, '_> {
    pub(super) fn default_backend(&mut self, p: &mut Proxy, line: &Line) {
        let Some(word) = line.arg(1) else {
            return self.missing(line, "default_backend", "a backend name");
        };
        if self.too_many(line, 1, "default_backend") {
            return;
        }
        if !p.has_frontend() {
            return self.not_capable(p, line.span(), "default_backend");
        }
        p.default_backend = Some(word.spanned());
    }

    pub(super) fn use_backend(&mut self, p: &mut Proxy, line: &Line) {
        if p.kind == Kind::Defaults {
            return self.diag.error_msg(
                line.span().clone(),
                "'use_backend' not allowed in 'defaults' section",
            );
        }
        let Some(word) = line.arg(1) else {
            return self.missing(line, "use_backend", "a backend name");
        };
        if !p.has_frontend() {
            return self.not_capable(p, line.span(), "use_backend");
        }
        // HAProxy's test for a dynamic name: a `%` in it makes it a log-format string.
        let format = if word.as_str().contains('%') {
            match parse_log_format(word, Phase::Request, "use_backend", self.diag) {
                Some(f) => Some(Arc::new(f)),
                None => return,
            }
        } else {
            None
        };
        let names = CondSite {
            site: "frontend use-backend rule",
            parsing: "error detected while parsing switching rule",
            unexpected: &|other| {
                format!(
                    "unexpected keyword '{other}' after switching rule, only 'if' and 'unless' are allowed"
                )
            },
        };
        let Ok(cond) = self.rule_cond(p, line, 2, &names) else {
            return;
        };
        p.use_backends.push((
            UseBackend {
                backend: word.as_str().to_owned(),
                format,
                cond,
            },
            word.span().clone(),
        ));
    }
}
