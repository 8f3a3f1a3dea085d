//! Warnings where a configuration that HAProxy accepts loses traffic silently (issue 19 §5),
//! once `haproxy.cfg` and every `spoe.conf` it loads are read without error:
//!
//! - a `spoe-group` that no `send-spoe-group` rule sends, the messages only such groups carry,
//!   an agent that receives nothing at all, and messages on frontend events in a filter
//!   declared in a backend;
//! - a `timeout processing` longer than the stream's own `timeout client` / `timeout server`,
//!   or longer than [`LONG_PROCESSING`] (the warning says what a request may wait in all);
//! - a variable read under a prefix that no agent has and no `set-var` sets, close to an
//!   agent's `option var-prefix` (a typo in one or the other).
//!
//! Each warning points at the line to change (`file:line:col`), in `spoe.conf` or
//! `haproxy.cfg`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use spoe::config::{ConfigWarningKind, Span, SpoeConfig};

use super::diag::Diag;
use super::vars::{Access, visit};
use crate::model::{GatewayConfig, HttpAction, Rule, SpoeFilterDecl};

/// Beyond this `timeout processing`, a slow agent holds requests for seconds: say how long.
pub(super) const LONG_PROCESSING: Duration = Duration::from_secs(5);

/// One `spoe.conf` scope, as loaded by every `filter` line naming it.
struct Engine {
    config: Arc<SpoeConfig>,
    /// The first `filter` line loading it (its warnings sort there).
    anchor: Span,
    /// The groups some `send-spoe-group` rule sends.
    sent: BTreeSet<String>,
    /// The most `send-spoe-group` rules naming it in one proxy.
    group_rules: usize,
}

/// A filter and the proxy it runs in.
struct Site<'a> {
    filter: &'a SpoeFilterDecl,
    /// `frontend 'web'`, `backend 'app'`.
    proxy: String,
    rules: Vec<&'a Rule>,
    /// The stream timeouts where it runs: `timeout client` of the frontend side, `timeout
    /// server` of the backend side (the smallest of the backends a frontend routes to).
    client: Option<Duration>,
    server: Option<Duration>,
}

/// Adds the warnings of the module documentation to `diag`.
pub(super) fn check(config: &GatewayConfig, diag: &mut Diag) {
    let sites = sites(config);
    let mut engines: BTreeMap<(Arc<Path>, Option<String>), Engine> = BTreeMap::new();
    for site in &sites {
        let spoe = &site.filter.config;
        let engine = engines
            .entry((spoe.file.clone(), spoe.engine.clone()))
            .or_insert_with(|| Engine {
                config: spoe.clone(),
                anchor: site.filter.span.clone(),
                sent: BTreeSet::new(),
                group_rules: 0,
            });
        let mut rules = 0;
        for rule in &site.rules {
            if let HttpAction::SendSpoeGroup { engine: e, group } = &rule.action
                && e == spoe.engine_id()
            {
                engine.sent.insert(group.clone());
                rules += 1;
            }
        }
        engine.group_rules = engine.group_rules.max(rules);
        stream_timeouts(site, diag);
    }
    for engine in engines.values() {
        unreachable(engine, diag);
        long_processing(engine, diag);
    }
    for be in &config.backends {
        for filter in &be.filters {
            frontend_events_on_a_backend(filter, &be.name, diag);
        }
    }
    variables(config, &engines, diag);
}

fn sites(config: &GatewayConfig) -> Vec<Site<'_>> {
    let mut sites = Vec::new();
    for fe in &config.frontends {
        let routes = fe
            .default_backend
            .iter()
            .chain(fe.use_backends.iter().map(|u| &u.backend));
        let server = routes
            .filter_map(|name| config.backend(name))
            .filter_map(|b| b.timeouts.server)
            .min();
        for filter in &fe.filters {
            sites.push(Site {
                filter,
                proxy: format!("frontend '{}'", fe.name),
                rules: fe.http_request.iter().chain(&fe.http_response).collect(),
                client: fe.timeouts.client,
                server,
            });
        }
    }
    for be in &config.backends {
        for filter in &be.filters {
            sites.push(Site {
                filter,
                proxy: format!("backend '{}'", be.name),
                rules: be.http_request.iter().chain(&be.http_response).collect(),
                client: None,
                server: be.timeouts.server,
            });
        }
    }
    sites
}

/// Groups nothing sends, messages only they carry, an agent nothing reaches.
fn unreachable(engine: &Engine, diag: &mut Diag) {
    let agent = &engine.config.agent;
    let engine_id = engine.config.engine_id();
    let sent = |name: &str| engine.sent.contains(name);
    for group in agent.groups.iter().filter(|g| !sent(&g.name)) {
        diag.warn_in(
            &engine.anchor,
            group.span.clone(),
            ConfigWarningKind::GroupNeverSent {
                group: group.name.clone(),
                engine: engine_id.to_owned(),
                agent: agent.id.clone(),
            },
        );
    }
    let on_event = |name: &str| agent.messages.iter().any(|m| m.name == name);
    let mut warned = BTreeSet::new();
    for group in agent.groups.iter().filter(|g| !sent(&g.name)) {
        for message in &group.messages {
            let in_sent_group = agent
                .groups
                .iter()
                .any(|g| sent(&g.name) && g.messages.iter().any(|m| m.name == message.name));
            if on_event(&message.name) || in_sent_group || !warned.insert(&message.name) {
                continue;
            }
            diag.warn_in(
                &engine.anchor,
                message.span.clone(),
                ConfigWarningKind::MessageNeverSent {
                    message: message.name.clone(),
                    why: format!(
                        "the agent does not send it on an event, and only group '{}' carries it, which nothing sends",
                        group.name
                    ),
                },
            );
        }
    }
    if agent.messages.is_empty()
        && !agent.groups.is_empty()
        && agent.groups.iter().all(|g| !sent(&g.name))
    {
        diag.warn_in(
            &engine.anchor,
            agent.span.clone(),
            ConfigWarningKind::AgentReceivesNothing {
                agent: agent.id.clone(),
                why: "it sends no message on an event, and no 'send-spoe-group' rule sends any of its groups".to_owned(),
            },
        );
    }
}

/// HAProxy 2.6's warning "frontend event used on a backend proxy": a filter declared in a
/// backend never sees the frontend's events, so their messages are never sent.
fn frontend_events_on_a_backend(filter: &SpoeFilterDecl, backend: &str, diag: &mut Diag) {
    use spoe::config::Event;
    for message in &filter.config.agent.messages {
        let Some(event) = message.event.filter(|e| {
            matches!(
                e,
                Event::OnClientSession | Event::OnFrontendTcpRequest | Event::OnFrontendHttpRequest
            )
        }) else {
            continue;
        };
        diag.warn_in(
            &filter.span,
            message.span.clone(),
            ConfigWarningKind::MessageNeverSent {
                message: message.name.clone(),
                why: format!(
                    "its event '{event}' is a frontend event, and the filter is in backend '{backend}' (HAProxy: frontend event used on a backend proxy)"
                ),
            },
        );
    }
}

/// `timeout processing` beyond the stream's own timeouts where the filter runs.
fn stream_timeouts(site: &Site<'_>, diag: &mut Diag) {
    let agent = &site.filter.config.agent;
    let Some(processing) = agent.timeout_processing else {
        return;
    };
    let limits = [
        ("timeout client", site.client),
        ("timeout server", site.server),
    ];
    let Some((timeout, limit)) = limits
        .into_iter()
        .filter_map(|(name, t)| t.map(|t| (name, t)))
        .min_by_key(|(_, t)| *t)
    else {
        return;
    };
    if processing <= limit {
        return;
    }
    let span = agent
        .timeout_processing_at
        .clone()
        .unwrap_or_else(|| agent.span.clone());
    diag.warn_in(
        &site.filter.span,
        span,
        ConfigWarningKind::ProcessingBeyondStream {
            agent: agent.id.clone(),
            processing,
            timeout,
            limit,
            proxy: site.proxy.clone(),
        },
    );
}

/// A `timeout processing` of seconds: what a request may wait in all.
fn long_processing(engine: &Engine, diag: &mut Diag) {
    let agent = &engine.config.agent;
    let Some(processing) = agent.timeout_processing else {
        return;
    };
    if processing <= LONG_PROCESSING {
        return;
    }
    let events: BTreeSet<_> = agent.messages.iter().filter_map(|m| m.event).collect();
    let span = agent
        .timeout_processing_at
        .clone()
        .unwrap_or_else(|| agent.span.clone());
    diag.warn_in(
        &engine.anchor,
        span,
        ConfigWarningKind::LongProcessing {
            agent: agent.id.clone(),
            processing,
            events: (events.len() + engine.group_rules).max(1),
        },
    );
}

/// Variables read under a prefix close to an agent's, that nothing sets.
fn variables(
    config: &GatewayConfig,
    engines: &BTreeMap<(Arc<Path>, Option<String>), Engine>,
    diag: &mut Diag,
) {
    // What the Lua files name, they may set.
    let mut set: BTreeSet<String> = super::vars::lua_vars(config).into_iter().collect();
    let mut reads: Vec<(String, Span)> = Vec::new();
    visit(config, &mut |name, span, access| match access {
        Access::Set => {
            set.insert(name);
        }
        Access::Read => reads.push((name, span.clone())),
    });
    let agents: Vec<(&str, &str)> = engines
        .values()
        .map(|e| {
            (
                e.config.agent.var_prefix.as_str(),
                e.config.agent.id.as_str(),
            )
        })
        .collect();
    let mut warned = BTreeSet::new();
    for (var, span) in reads {
        if set.contains(&var) {
            continue;
        }
        // `txn.iprep.score`: the name after the scope.
        let Some((_, name)) = var.split_once('.') else {
            continue;
        };
        if agents
            .iter()
            .any(|(prefix, _)| name.starts_with(&format!("{prefix}.")))
        {
            continue;
        }
        for (prefix, agent) in &agents {
            // The read's prefix has as many dot-separated parts as the agent's.
            let parts = prefix.split('.').count();
            let head: Vec<&str> = name.splitn(parts + 1, '.').collect();
            if head.len() <= parts {
                continue;
            }
            let read_prefix = head[..parts].join(".");
            if spoe::config::did_you_mean(&read_prefix, [*prefix]).is_some()
                && warned.insert((var.clone(), span.line, span.col))
            {
                let anchor = engines
                    .values()
                    .find(|e| *e.config.file == *span.file)
                    .map_or(&span, |e| &e.anchor);
                diag.warn_in(
                    anchor,
                    span.clone(),
                    ConfigWarningKind::UnsetVariable {
                        var: var.clone(),
                        prefix: read_prefix,
                        agent_prefix: (*prefix).to_owned(),
                        agent: (*agent).to_owned(),
                    },
                );
                break;
            }
        }
    }
}
