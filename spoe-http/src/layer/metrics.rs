//! The layer's Prometheus metrics: SPOE events by agent and status and their processing
//! time (named as the gateway names them), what the layer decided for each request, reloads,
//! and the engine's connections (read when the metrics are encoded).

use std::sync::RwLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use spoe::Done;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SpoeLabels {
    agent: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AgentLabels {
    agent: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictLabels {
    verdict: &'static str,
}

/// What the layer did with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Handed to the handler, SPOE processing ok.
    Passed,
    /// Answered by a decision hook (request or response).
    Denied,
    /// SPOE failed and the failure mode is open: handed on.
    FailedOpen,
    /// SPOE failed and the failure mode is closed: answered by the layer.
    FailedClosed,
    /// The body was too long (413), too slow (408) or broken (400).
    BodyRefused,
}

impl Outcome {
    const ALL: [Self; 5] = [
        Self::Passed,
        Self::Denied,
        Self::FailedOpen,
        Self::FailedClosed,
        Self::BodyRefused,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Denied => "denied",
            Self::FailedOpen => "failed_open",
            Self::FailedClosed => "failed_closed",
            Self::BodyRefused => "body_refused",
        }
    }
}

/// The layer's metrics (one set for every generation of one layer).
pub(crate) struct LayerMetrics {
    registry: Registry,
    events: Family<SpoeLabels, Counter>,
    time: Family<AgentLabels, Histogram>,
    verdicts: [Counter; Outcome::ALL.len()],
    pub(crate) reloads: Counter,
    pub(crate) reload_failures: Counter,
    pub(crate) agent_connections: Gauge,
    pub(crate) agent_protocol_errors: Gauge,
}

impl std::fmt::Debug for LayerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LayerMetrics").finish_non_exhaustive()
    }
}

impl LayerMetrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("spoe");
        let events = Family::<SpoeLabels, Counter>::default();
        let time = Family::<AgentLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 16))
        });
        let verdict_family = Family::<VerdictLabels, Counter>::default();
        let verdicts = Outcome::ALL.map(|o| {
            verdict_family
                .get_or_create(&VerdictLabels { verdict: o.label() })
                .clone()
        });
        let m = Self {
            registry: Registry::default(),
            events,
            time,
            verdicts,
            reloads: Counter::default(),
            reload_failures: Counter::default(),
            agent_connections: Gauge::default(),
            agent_protocol_errors: Gauge::default(),
        };
        registry.register(
            "spoe_events",
            "SPOE events and groups processed, by agent and status",
            m.events.clone(),
        );
        registry.register(
            "spoe_processing_seconds",
            "Time SPOE processing added to a request, per event",
            m.time.clone(),
        );
        registry.register(
            "layer_requests",
            "Requests by what the layer did: passed, denied (by a decision hook), failed_open, failed_closed, body_refused",
            verdict_family,
        );
        registry.register("reloads", "Successful spoe.conf reloads", m.reloads.clone());
        registry.register(
            "reload_failures",
            "Reloads refused (invalid spoe.conf)",
            m.reload_failures.clone(),
        );
        registry.register(
            "agent_connections",
            "Agent connections open in the current generation",
            m.agent_connections.clone(),
        );
        registry.register(
            "agent_protocol_errors",
            "Agent connections closed for a protocol error after their handshake, in the current generation",
            m.agent_protocol_errors.clone(),
        );
        Self { registry, ..m }
    }

    /// The metrics of one agent, resolved once per generation.
    pub(crate) fn agent(&self, agent: &str) -> AgentMetrics {
        AgentMetrics {
            agent: agent.to_owned(),
            events: self.events.clone(),
            by_status: RwLock::new(Vec::new()),
            time: self
                .time
                .get_or_create(&AgentLabels {
                    agent: agent.to_owned(),
                })
                .clone(),
        }
    }

    /// Counts what the layer did with a request.
    pub(crate) fn outcome(&self, outcome: Outcome) {
        if let Some(c) = Outcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .and_then(|i| self.verdicts.get(i))
        {
            c.inc();
        }
    }

    /// The exposition text.
    pub(crate) fn encode_text(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// One agent's SPOE metrics: a request finds its counter by status in a short list instead of
/// building labels.
pub(crate) struct AgentMetrics {
    agent: String,
    events: Family<SpoeLabels, Counter>,
    by_status: RwLock<Vec<(u32, Counter)>>,
    time: Histogram,
}

impl std::fmt::Debug for AgentMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentMetrics")
            .field("agent", &self.agent)
            .finish_non_exhaustive()
    }
}

impl AgentMetrics {
    /// Counts one processed event or group.
    pub(crate) fn event(&self, done: &Done<'_>) {
        let status = done.outcome.status.0;
        self.time.observe(done.outcome.timings.total.as_secs_f64());
        {
            let known = self
                .by_status
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some((_, c)) = known.iter().find(|(s, _)| *s == status) {
                c.inc();
                return;
            }
        }
        let c = self
            .events
            .get_or_create(&SpoeLabels {
                agent: self.agent.clone(),
                status: status.to_string(),
            })
            .clone();
        c.inc();
        // Two threads may both miss: both entries are the same family member.
        self.by_status
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((status, c));
    }
}
