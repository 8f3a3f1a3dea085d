//! The variables a configuration mentions, where, and whether it reads or sets them. HAProxy
//! registers every name it reads while it reads the configuration (`vars_hash_name()` in
//! `src/vars.c`): an SPOE agent may set them without `option force-set-var`.

use std::collections::BTreeSet;

use spoe::config::Span;
use spoe::expr::{AclSet, SampleExpr};

use crate::model::{
    GatewayConfig, HttpAction, LogFormat, LogFormatPart, ReturnBody, Rule, TcpAction,
};

/// What a mention of a variable does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    /// `var(NAME)` in an expression, or a converter's variable operand.
    Read,
    /// `set-var(NAME)`.
    Set,
}

/// The full names (`txn.crowdsec.remediation`) of the variables the configuration references:
/// `var(NAME)` in sample expressions, ACLs, conditions and log-format strings of `haproxy.cfg`
/// and of every `spoe.conf` it loads, variables named in converters (`add(txn.x)`,
/// `concat(,txn.x,)`), and `set-var(NAME)` targets. Sorted, without duplicates.
pub(super) fn var_names(config: &GatewayConfig) -> Vec<String> {
    let mut names = referenced(config);
    names.extend(lua_vars(config));
    names.into_iter().collect()
}

/// The names `haproxy.cfg` and its `spoe.conf` files reference (not the Lua files).
pub(super) fn referenced(config: &GatewayConfig) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    visit(config, &mut |name, _, _| {
        names.insert(name);
    });
    names
}

/// The variables the Lua files name (they may read or set any of them).
pub(super) fn lua_vars(config: &GatewayConfig) -> Vec<String> {
    config
        .lua
        .as_ref()
        .map(|lua| lua.var_names().into_iter().collect())
        .unwrap_or_default()
}

/// Calls `f` with each variable `haproxy.cfg` and its `spoe.conf` files mention: its full
/// name, the span of the expression or rule that mentions it, and whether it is read or set.
pub(super) fn visit(config: &GatewayConfig, f: &mut dyn FnMut(String, &Span, Access)) {
    let mut acls: Vec<&AclSet> = Vec::new();
    let mut rules: Vec<&Rule> = Vec::new();
    let mut filters = Vec::new();
    for fe in &config.frontends {
        acls.push(&fe.acls);
        rules.extend(
            fe.http_request
                .iter()
                .chain(&fe.http_response)
                .chain(&fe.http_after_response),
        );
        filters.extend(&fe.filters);
    }
    for b in &config.backends {
        acls.push(&b.acls);
        rules.extend(
            b.http_request
                .iter()
                .chain(&b.http_response)
                .chain(&b.http_after_response),
        );
        filters.extend(&b.filters);
    }
    for filter in filters {
        let agent = &filter.config.agent;
        let messages = agent
            .messages
            .iter()
            .chain(agent.groups.iter().flat_map(|g| g.messages.iter()));
        for m in messages {
            for arg in &m.args {
                expr_vars(&arg.expr, f);
            }
            acl_vars(&m.acls, f);
        }
    }
    for set in acls {
        acl_vars(set, f);
    }
    let tcp_rules = config.frontends.iter().flat_map(|fe| &fe.tcp_rules.content);
    for rule in tcp_rules {
        if let TcpAction::SetVar { var, expr } = &rule.action {
            f(var.to_string(), &rule.span, Access::Set);
            expr_vars(expr, f);
        }
    }
    for rule in rules {
        match &rule.action {
            HttpAction::SetVar { var, expr } => {
                f(var.to_string(), &rule.span, Access::Set);
                expr_vars(expr, f);
            }
            HttpAction::Capture { expr, .. } => expr_vars(expr, f),
            HttpAction::CacheUse { .. } | HttpAction::CacheStore { .. } => {}
            HttpAction::SetHeader { value, .. } | HttpAction::AddHeader { value, .. } => {
                format_vars(value, f);
            }
            HttpAction::Redirect { target, .. } => format_vars(target, f),
            HttpAction::TrackSc { key: expr, .. }
            | HttpAction::SetAddr { expr, .. }
            | HttpAction::ScSetGpt0 {
                value: crate::model::GptValue::Expr(expr),
                ..
            } => expr_vars(expr, f),
            HttpAction::SetLine { value, .. } => format_vars(value, f),
            HttpAction::ReplaceHeader { replace, .. } | HttpAction::ReplaceLine { replace, .. } => {
                format_vars(replace, f);
            }
            HttpAction::Deny {
                reply: Some(reply), ..
            }
            | HttpAction::Tarpit {
                reply: Some(reply), ..
            } => {
                for (_, value) in &reply.headers {
                    format_vars(value, f);
                }
                if let Some(ReturnBody::LogFormat(lf)) = &reply.body {
                    format_vars(lf, f);
                }
            }
            HttpAction::Return { headers, body, .. } => {
                for (_, value) in headers {
                    format_vars(value, f);
                }
                if let Some(ReturnBody::LogFormat(lf)) = body {
                    format_vars(lf, f);
                }
            }
            HttpAction::Deny { reply: None, .. }
            | HttpAction::Tarpit { reply: None, .. }
            | HttpAction::Auth { .. }
            | HttpAction::SilentDrop
            | HttpAction::Allow
            | HttpAction::SetStatus { .. }
            | HttpAction::DelHeader { .. }
            | HttpAction::SendSpoeGroup { .. }
            | HttpAction::PrometheusExporter
            | HttpAction::SetLogLevel { .. }
            | HttpAction::ScIncGpc { .. }
            | HttpAction::ScSetGpt0 { .. }
            // The variables Lua names come from its files (`LuaRuntime::var_names`).
            | HttpAction::Lua { .. }
            | HttpAction::LuaService { .. } => {}
        }
    }
}

fn acl_vars(acls: &AclSet, f: &mut dyn FnMut(String, &Span, Access)) {
    for acl in acls.iter() {
        for e in &acl.exprs {
            expr_vars(&e.criterion, f);
        }
    }
}

fn format_vars(format: &LogFormat, f: &mut dyn FnMut(String, &Span, Access)) {
    for part in &format.0 {
        if let LogFormatPart::Sample(e) = part {
            expr_vars(e, f);
        }
    }
}

fn expr_vars(expr: &SampleExpr, f: &mut dyn FnMut(String, &Span, Access)) {
    expr.for_each_var(|var| f(var.to_string(), expr.span(), Access::Read));
}
