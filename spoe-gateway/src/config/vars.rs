//! The variable names a configuration mentions, which HAProxy registers while it reads the
//! configuration (`vars_hash_name()` in `src/vars.c`): an SPOE agent may set them without
//! `option force-set-var`.

use std::collections::BTreeSet;

use spoe::expr::AclSet;

use crate::model::{GatewayConfig, HttpAction, LogFormat, LogFormatPart, ReturnBody, Rule};

/// The full names (`txn.crowdsec.remediation`) of the variables the configuration references:
/// `var(NAME)` in sample expressions, ACLs, conditions and log-format strings of `haproxy.cfg`
/// and of every `spoe.conf` it loads, variables named in converters (`add(txn.x)`,
/// `concat(,txn.x,)`), and `set-var(NAME)` targets. Sorted, without duplicates.
pub(super) fn var_names(config: &GatewayConfig) -> Vec<String> {
    let mut names = referenced(config);
    if let Some(lua) = &config.lua {
        names.extend(lua.var_names());
    }
    names.into_iter().collect()
}

/// The names `haproxy.cfg` and its `spoe.conf` files reference (not the Lua files).
pub(super) fn referenced(config: &GatewayConfig) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut acls: Vec<&AclSet> = Vec::new();
    let mut rules: Vec<&Rule> = Vec::new();
    let mut filters = Vec::new();
    for f in &config.frontends {
        acls.push(&f.acls);
        rules.extend(f.http_request.iter().chain(&f.http_response));
        filters.extend(&f.filters);
    }
    for b in &config.backends {
        acls.push(&b.acls);
        rules.extend(b.http_request.iter().chain(&b.http_response));
        filters.extend(&b.filters);
    }
    for filter in filters {
        names.extend(filter.config.agent.var_names());
    }
    for set in acls {
        set.var_names(&mut names);
    }
    for rule in rules {
        match &rule.action {
            HttpAction::SetVar { var, expr } => {
                names.insert(var.to_string());
                expr.var_names(&mut names);
            }
            HttpAction::SetHeader { value, .. } | HttpAction::AddHeader { value, .. } => {
                format_vars(value, &mut names);
            }
            HttpAction::Redirect { target, .. } => format_vars(target, &mut names),
            HttpAction::Return { headers, body, .. } => {
                for (_, value) in headers {
                    format_vars(value, &mut names);
                }
                if let Some(ReturnBody::LogFormat(f)) = body {
                    format_vars(f, &mut names);
                }
            }
            HttpAction::Deny { .. }
            | HttpAction::DelHeader { .. }
            | HttpAction::SendSpoeGroup { .. }
            | HttpAction::PrometheusExporter
            // The variables Lua names come from its files (`LuaRuntime::var_names`).
            | HttpAction::Lua { .. }
            | HttpAction::LuaService { .. } => {}
        }
    }
    names
}

fn format_vars(format: &LogFormat, names: &mut BTreeSet<String>) {
    for part in &format.0 {
        if let LogFormatPart::Sample(e) = part {
            e.var_names(names);
        }
    }
}
