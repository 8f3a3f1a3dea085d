//! Prometheus metrics of the agent runtime.

use std::fmt;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// How one NOTIFY was answered (label `outcome`, in lower case).
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Outcome {
    /// The handler's actions were sent.
    Ok,
    /// The handler returned an error: fallback actions sent.
    Error,
    /// The handler panicked: fallback actions sent.
    Panic,
    /// The handler overran its budget: fallback actions sent.
    Timeout,
    /// The handler's answer did not fit in a frame: fallback actions sent.
    TooBig,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: Outcome,
}

/// Who sent a DISCONNECT (label `direction`, in lower case).
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Direction {
    /// AGENT-DISCONNECT sent by this agent.
    Sent,
    /// HAPROXY-DISCONNECT received from the engine.
    Received,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Panic => "panic",
            Self::Timeout => "timeout",
            Self::TooBig => "too_big",
        }
    }
}

impl EncodeLabelValue for Outcome {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> fmt::Result {
        fmt::Write::write_str(encoder, self.label())
    }
}

impl EncodeLabelValue for Direction {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> fmt::Result {
        let v = match self {
            Self::Sent => "sent",
            Self::Received => "received",
        };
        fmt::Write::write_str(encoder, v)
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DisconnectLabels {
    direction: Direction,
    status: u32,
}

/// The agent's metrics, registered under the `spoa_` prefix.
pub struct Metrics {
    registry: Registry,
    /// One counter per outcome, resolved once (no label lookup per message).
    by_outcome: [Counter; 5],
    latency: Histogram,
    in_flight: Gauge,
    connections: Gauge,
    connections_total: Counter,
    health_checks: Counter,
    disconnects: Family<DisconnectLabels, Counter>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Fresh metrics in their own registry.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("spoa");
        let messages = Family::<OutcomeLabels, Counter>::default();
        // 10 us .. ~5 s.
        let latency = Histogram::new(exponential_buckets(0.00001, 2.5, 15));
        let in_flight = Gauge::default();
        let connections = Gauge::default();
        let connections_total = Counter::default();
        let health_checks = Counter::default();
        let disconnects = Family::<DisconnectLabels, Counter>::default();
        registry.register(
            "messages",
            "NOTIFY frames answered, by outcome",
            messages.clone(),
        );
        let by_outcome = [
            Outcome::Ok,
            Outcome::Error,
            Outcome::Panic,
            Outcome::Timeout,
            Outcome::TooBig,
        ]
        .map(|outcome| messages.get_or_create(&OutcomeLabels { outcome }).clone());
        registry.register(
            "handler_latency_seconds",
            "Time from a NOTIFY's arrival to its ACK being queued",
            latency.clone(),
        );
        registry.register(
            "in_flight",
            "NOTIFY frames being handled",
            in_flight.clone(),
        );
        registry.register(
            "connections",
            "Open engine connections",
            connections.clone(),
        );
        registry.register(
            "connections_accepted",
            "Engine connections accepted",
            connections_total.clone(),
        );
        registry.register(
            "health_checks",
            "spop-check health checks answered",
            health_checks.clone(),
        );
        registry.register(
            "disconnects",
            "DISCONNECT frames, by direction and status code",
            disconnects.clone(),
        );
        Self {
            registry,
            by_outcome,
            latency,
            in_flight,
            connections,
            connections_total,
            health_checks,
            disconnects,
        }
    }

    /// The metrics in Prometheus' text exposition format.
    pub fn encode_text(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    pub(crate) fn message(&self, outcome: Outcome, seconds: f64) {
        self.by_outcome[outcome as usize].inc();
        self.latency.observe(seconds);
    }

    pub(crate) fn in_flight(&self) -> &Gauge {
        &self.in_flight
    }

    pub(crate) fn connection_opened(&self) {
        self.connections.inc();
        self.connections_total.inc();
    }

    pub(crate) fn connection_closed(&self) {
        self.connections.dec();
    }

    pub(crate) fn health_check(&self) {
        self.health_checks.inc();
    }

    pub(crate) fn disconnect(&self, direction: Direction, status: spop::Status) {
        self.disconnects
            .get_or_create(&DisconnectLabels {
                direction,
                status: status.0,
            })
            .inc();
    }
}
