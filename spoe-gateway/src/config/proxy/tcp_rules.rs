//! `tcp-request connection|content accept|reject [if|unless COND]`, `tcp-request connection
//! expect-proxy layer4 [if|unless COND]`, `tcp-request content set-var(NAME) EXPR [if|unless
//! COND]` (in a `mode http` frontend) and `tcp-request inspect-delay D` of a frontend (run
//! by `crate::tcp`, by `crate::proxy` on each request of a `mode http` frontend and, for
//! `expect-proxy`, `server/proxy_header.rs`); HAProxy's other
//! `tcp-request` actions and `tcp-request session` are errors naming them.

use spoe::config::reader::Line;

use super::cond::CondSite;
use crate::config::actions::ActionParser;
use crate::config::logformat::Phase;
use crate::config::lower::{Lowerer, Proxy};
use crate::model::{HttpAction, TcpAction, TcpRule};

impl Lowerer<'_, '_> {
    pub(super) fn tcp_request(&mut self, p: &mut Proxy, line: &Line) {
        if !self.rules_allowed(p, line) {
            return;
        }
        let Some(kind) = line.arg(1) else {
            return self.missing(
                line,
                "tcp-request",
                "'connection', 'content' or 'inspect-delay'",
            );
        };
        if !p.has_frontend() {
            return self.diag.error_msg(
                line.span().clone(),
                format!(
                    "'tcp-request' in backend '{}' is not supported by the gateway (only in a frontend)",
                    p.name
                ),
            );
        }
        match kind.as_str() {
            "inspect-delay" => {
                let Some(value) = line.arg(2) else {
                    return self.missing(line, "tcp-request inspect-delay", "a duration");
                };
                if self.too_many(line, 2, "tcp-request inspect-delay") {
                    return;
                }
                if let Some(d) = self.duration(value, "tcp-request inspect-delay") {
                    p.tcp_rules.inspect_delay = Some(d);
                }
            }
            which @ ("connection" | "content") => self.tcp_rule(p, line, which),
            other => self.diag.error_msg(
                kind.span().clone(),
                format!(
                    "'tcp-request {other}' is not supported by the gateway (supported: 'connection', 'content', 'inspect-delay')"
                ),
            ),
        }
    }

    fn tcp_rule(&mut self, p: &mut Proxy, line: &Line, which: &str) {
        let directive = format!("tcp-request {which}");
        let Some(action) = line.arg(2) else {
            return self.missing(line, "tcp-request", "an action");
        };
        let mut cond_at = 3;
        let action = match action.as_str() {
            "accept" => TcpAction::Accept,
            "reject" => TcpAction::Reject,
            "expect-proxy" => {
                let layer = line.arg_str(3).unwrap_or_default();
                let kind = p.kind.keyword();
                if layer != "layer4" {
                    return self.diag.error_msg(
                        line.words.get(3).unwrap_or(action).span().clone(),
                        format!(
                            "'{directive} expect-proxy' only supports 'layer4' in {kind} '{}' (got '{layer}')",
                            p.name
                        ),
                    );
                }
                if which != "connection" {
                    return self.diag.error_msg(
                        action.span().clone(),
                        format!(
                            "'expect-proxy layer4' is not allowed in '{directive}' rules in {kind} '{}'",
                            p.name
                        ),
                    );
                }
                cond_at = 4;
                TcpAction::ExpectProxy
            }
            a if a.starts_with("set-var(") && which == "content" => {
                let mut parser = ActionParser {
                    kw: &directive,
                    action: a,
                    at: action,
                    args: &line.words[3..],
                    phase: Phase::Request,
                    diag: &mut *self.diag,
                    capture: None,
                };
                let Some((HttpAction::SetVar { var, expr }, used, _)) = parser.set_var() else {
                    return;
                };
                cond_at = 3 + used;
                TcpAction::SetVar { var, expr }
            }
            other => {
                return self.diag.error_msg(
                    action.span().clone(),
                    format!(
                        "'{directive} {other}' is not supported by the gateway (supported: 'accept', 'reject', 'expect-proxy layer4', and in 'content' rules 'set-var(<var-name>)')"
                    ),
                );
            }
        };
        let site = format!("frontend {directive} rule");
        let parsing = format!("error detected while parsing '{directive}' condition");
        let names = CondSite {
            site: &site,
            parsing: &parsing,
            unexpected: &|other| {
                format!(
                    "'{directive}' : expects 'if', 'unless' or nothing after the action, got '{other}'"
                )
            },
        };
        let Ok(cond) = self.rule_cond(p, line, cond_at, &names) else {
            return;
        };
        let rule = TcpRule {
            action,
            cond,
            span: line.span().clone(),
        };
        if which == "connection" {
            p.tcp_rules.connection.push(rule);
        } else {
            p.tcp_content_at.get_or_insert_with(|| line.span().clone());
            p.tcp_rules.content.push(rule);
        }
    }
}
