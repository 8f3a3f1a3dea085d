//! `acl`, `http-request`, `http-response` and `http-after-response` lines of a proxy; the actions themselves are
//! `config::actions`.

use spoe::config::reader::Line;
use spoe::config::{ConfigErrorKind, ConfigWarningKind};
use spoe::expr::AclContext;

use crate::config::actions::{RuleScope, RuleSite, parse_rule};
use crate::config::grammar::Kind;
use crate::config::logformat::Phase;
use crate::config::lower::{Lowerer, Proxy};

impl Lowerer<'_, '_> {
    pub(super) fn acl(&mut self, p: &mut Proxy, line: &Line) {
        if !self.rules_allowed(p, line) {
            return;
        }
        let Some(name) = line.arg(1) else {
            return self.missing(line, "acl", "an ACL name followed by a criterion");
        };
        if !self.check_name(name, "acl") {
            return;
        }
        if name.as_str().eq_ignore_ascii_case("or") {
            return self.diag.error(
                name.span().clone(),
                ConfigErrorKind::AclNamedOr {
                    name: name.as_str().to_owned(),
                },
            );
        }
        let dir = self.acl_context_dir();
        let cx = AclContext { base_dir: &dir };
        match p.acls.parse_acl(&line.words[1..], &cx) {
            Ok((_, warnings)) => {
                for w in warnings {
                    self.diag.warn(w.span, ConfigWarningKind::Expr(w.kind));
                }
            }
            Err(e) => self.diag.expr(
                format!("error detected while parsing ACL '{}'", name.as_str()),
                e,
            ),
        }
    }

    /// `acl`, `http-request` and `http-response` are refused in `defaults` sections.
    pub(super) fn rules_allowed(&mut self, p: &Proxy, line: &Line) -> bool {
        if p.kind != Kind::Defaults {
            return true;
        }
        let kw = line.keyword();
        let msg = if p.is_anonymous_defaults() {
            format!("'{kw}' not allowed in anonymous 'defaults' section")
        } else {
            format!("'{kw}' in a 'defaults' section is not supported by the gateway")
        };
        self.diag.error_msg(line.span().clone(), msg);
        false
    }

    pub(super) fn http_rule(&mut self, p: &mut Proxy, line: &Line) {
        if !self.rules_allowed(p, line) {
            return;
        }
        let (phase, slot) = match line.keyword() {
            "http-request" => (Phase::Request, 0),
            "http-response" => (Phase::Response, 1),
            // The proxy keyword: a request rule run after the `http-request` rules.
            "redirect" => (Phase::Request, 3),
            // Read as a response rule, with its own list of actions (`parse_rule`).
            _ => (Phase::Response, 2),
        };
        let after_final = p.final_rule[slot];
        let dir = self.acl_context_dir();
        let cx = AclContext { base_dir: &dir };
        let side = p.side();
        let mut scope = RuleScope {
            acls: &mut p.acls,
            acl_cx: &cx,
            site: RuleSite { side, phase },
            lua: self.lua.registered(),
            files: crate::config::actions::ReplyFiles {
                base_dir: &self.base_dir,
                bufsize: self.global.bufsize,
            },
        };
        let Some(parsed) = parse_rule(line, &mut scope, self.diag) else {
            return;
        };
        if after_final {
            self.diag.ignored(
                line.span().clone(),
                format!("{} {}", line.keyword(), line.arg_str(1).unwrap_or_default()),
                "a previous rule is final and has no condition attached, further entries are NOOP",
            );
        }
        if parsed.is_final && parsed.rule.cond.is_none() {
            p.final_rule[slot] = true;
        }
        if let Some(group) = parsed.group {
            p.group_refs.push(group);
        }
        let mut rule = parsed.rule;
        if let Some((name, span, status)) = parsed.section {
            let index = if slot == 0 {
                p.http_request.len()
            } else {
                p.http_response.len()
            };
            p.pending_replies
                .push(crate::config::error_pages::PendingReply {
                    list: slot,
                    index,
                    name,
                    span,
                    status,
                });
        }
        match parsed.capture {
            Some(crate::config::actions::SlotRef::New(len)) => {
                if p.kind == Kind::Backend {
                    return self.diag.error_msg(
                        line.span().clone(),
                        format!(
                            "'http-request capture' : proxy '{}' has no frontend capability",
                            p.name
                        ),
                    );
                }
                let slots = super::capture::slots(p, false);
                slots.push(crate::model::CaptureSlot { header: None, len });
                if let crate::model::HttpAction::Capture { slot, .. } = &mut rule.action {
                    *slot = slots.len() - 1;
                }
            }
            Some(crate::config::actions::SlotRef::Id(id)) => {
                p.capture_ids
                    .push((phase == Phase::Response, id, line.span().clone()));
            }
            None => {}
        }
        match slot {
            0 => p.http_request.push(rule),
            1 => p.http_response.push(rule),
            3 => p.redirects.push(rule),
            _ => p.http_after_response.push(rule),
        }
    }
}
