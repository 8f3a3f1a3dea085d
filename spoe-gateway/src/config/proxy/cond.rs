//! The `[if|unless COND]` that ends a proxy rule line (`use_backend`, `tcp-request ...`):
//! parsed against the proxy's ACLs, its warnings reported, and HAProxy's warning for an ACL
//! that never matches where the rule runs.

use spoe::config::ConfigWarningKind;
use spoe::config::reader::Line;
use spoe::expr::{AclContext, Condition};

use crate::config::actions::warn_cond_conflicts;
use crate::config::logformat::Phase;
use crate::config::lower::{Lowerer, Proxy};

/// How a rule names itself in the messages about its condition.
pub(super) struct CondSite<'a> {
    /// Where the rule runs, for the never-matching ACL warning ("frontend use-backend rule").
    pub(super) site: &'a str,
    /// What failed to parse ("error detected while parsing switching rule").
    pub(super) parsing: &'a str,
    /// The message for a word other than `if`/`unless` where the condition starts.
    pub(super) unexpected: &'a dyn Fn(&str) -> String,
}

impl Lowerer<'_, '_> {
    /// The condition starting at word `at` of `line`: `Ok(None)` when the line ends there,
    /// `Err(())` when it is wrong (reported).
    pub(super) fn rule_cond(
        &mut self,
        p: &mut Proxy,
        line: &Line,
        at: usize,
        names: &CondSite<'_>,
    ) -> Result<Option<Condition>, ()> {
        match line.arg_str(at) {
            None => Ok(None),
            Some("if" | "unless") => {
                let dir = self.acl_context_dir();
                let cx = AclContext { base_dir: &dir };
                match Condition::parse(&line.words[at..], &mut p.acls, &cx) {
                    Ok((cond, warnings)) => {
                        for w in warnings {
                            self.diag.warn(w.span, ConfigWarningKind::Expr(w.kind));
                        }
                        warn_cond_conflicts(&cond, &p.acls, Phase::Request, names.site, self.diag);
                        Ok(Some(cond))
                    }
                    Err(e) => {
                        self.diag.expr(names.parsing, e);
                        Err(())
                    }
                }
            }
            Some(other) => {
                self.diag
                    .error_msg(line.words[at].span().clone(), (names.unexpected)(other));
                Err(())
            }
        }
    }
}
