//! One generation of a layer: a parsed `spoe.conf`, its engine, and what its messages need.
//! A reload builds the next one beside it; requests keep the generation they started on.

use std::collections::BTreeSet;
use std::sync::Arc;

use spoe::config::{Event, MessageConfig, SpoeConfig};
use spoe::expr::{FetchKind, SampleExpr};
use spoe::{AgentBackend, Engine, SpoeFilter};

use super::error::LayerError;
use super::metrics::{AgentMetrics, LayerMetrics};
use super::settings::Settings;

/// A running `spoe.conf`.
#[derive(Debug)]
pub(crate) struct Generation {
    pub(crate) id: u64,
    pub(crate) filter: SpoeFilter,
    pub(crate) metrics: AgentMetrics,
    /// Which events have messages.
    pub(crate) client_session: bool,
    pub(crate) frontend_request: bool,
    pub(crate) backend_request: bool,
    pub(crate) response: bool,
    /// The request head is copied for what runs after the handler took the request: response
    /// messages, groups, a response hook.
    pub(crate) keeps_head: bool,
}

/// The events a layer in front of a handler runs. TCP content and server connections are not
/// its to see.
fn runnable(event: Event) -> bool {
    matches!(
        event,
        Event::OnClientSession
            | Event::OnFrontendHttpRequest
            | Event::OnBackendHttpRequest
            | Event::OnHttpResponse
    )
}

fn all_messages(config: &SpoeConfig) -> impl Iterator<Item = &Arc<MessageConfig>> {
    let agent = &config.agent;
    agent
        .messages
        .iter()
        .chain(agent.groups.iter().flat_map(|g| g.messages.iter()))
}

/// The expressions a message evaluates: its arguments and its ACLs' criteria.
fn exprs(m: &MessageConfig) -> impl Iterator<Item = &SampleExpr> {
    m.args.iter().map(|a| &a.expr).chain(
        m.acls
            .iter()
            .flat_map(|acl| acl.exprs.iter().map(|e| &e.criterion)),
    )
}

/// The first message that reads `wanted` (and the fetch's name as written).
fn first_reading(
    config: &SpoeConfig,
    wanted: impl Fn(&FetchKind) -> bool,
) -> Option<(&MessageConfig, &str)> {
    all_messages(config).find_map(|m| {
        exprs(m)
            .find(|e| wanted(e.fetch()))
            .map(|e| (m.as_ref(), e.fetch_name()))
    })
}

/// Refuses what the layer cannot do as HAProxy would: an event it never sees, a body read
/// without a body policy. Warns about `unique-id` without a source.
fn check(config: &SpoeConfig, settings: &Settings) -> Result<(), LayerError> {
    if let Some(m) = config
        .agent
        .messages
        .iter()
        .find(|m| m.event.is_some_and(|e| !runnable(e)))
    {
        return Err(LayerError::UnsupportedEvent {
            span: m.span.to_string(),
            message: m.name.clone(),
            event: m.event.map_or("", Event::name),
        });
    }
    if settings.body.is_none()
        && let Some((m, fetch)) = first_reading(config, |k| {
            matches!(
                k,
                FetchKind::ReqBody
                    | FetchKind::ReqBodyLen
                    | FetchKind::ReqBodySize
                    | FetchKind::ReqLen
            )
        })
    {
        return Err(LayerError::NoBodyPolicy {
            span: m.span.to_string(),
            message: m.name.clone(),
            fetch: fetch.to_owned(),
        });
    }
    if settings.unique_id.is_none()
        && let Some((m, _)) = first_reading(config, |k| matches!(k, FetchKind::UniqueId))
    {
        tracing::warn!(
            "{}: spoe-message '{}' reads unique-id, which has no value without a unique id \
             source (SpoeLayerBuilder::unique_id), as in HAProxy without unique-id-format",
            m.span,
            m.name
        );
    }
    Ok(())
}

impl Generation {
    /// Checks `config` against the layer's settings and starts its engine (inside a tokio
    /// runtime).
    pub(crate) fn start(
        id: u64,
        config: SpoeConfig,
        settings: &Settings,
        metrics: &LayerMetrics,
    ) -> Result<Self, LayerError> {
        check(&config, settings)?;
        let has = |e: Event| config.agent.messages_for(e).next().is_some();
        let client_session = has(Event::OnClientSession);
        let frontend_request = has(Event::OnFrontendHttpRequest);
        let backend_request = has(Event::OnBackendHttpRequest);
        let response = has(Event::OnHttpResponse);
        let keeps_head =
            response || !config.agent.groups.is_empty() || settings.on_response.is_some();
        // The names HAProxy would register from the configuration, and those the handlers read.
        let mut names: BTreeSet<String> = config.agent.var_names();
        names.extend(settings.var_names.iter().cloned());
        let agent_metrics = metrics.agent(&config.agent.id);
        let mut filter = match &settings.connector {
            Some(connector) => {
                let backend: &AgentBackend = &settings.backend;
                let engine = Engine::with_connector(
                    SpoeFilter::settings(&config, backend),
                    connector.clone(),
                );
                SpoeFilter::with_engine(config, engine)
            }
            None => SpoeFilter::start(config, &settings.backend),
        };
        filter.register_var_names(names);
        Ok(Self {
            id,
            filter,
            metrics: agent_metrics,
            client_session,
            frontend_request,
            backend_request,
            response,
            keeps_head,
        })
    }
}
