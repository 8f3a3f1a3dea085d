//! Prometheus metrics of the agent runtime.

use std::fmt;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::error_var::ErrorCause;

/// How one NOTIFY was answered (label `outcome`, in lower case).
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Outcome {
    /// The handler's actions were sent.
    Ok,
    /// The handler returned an error: the error variable sent.
    Error,
    /// The handler panicked: the error variable sent.
    Panic,
    /// The handler overran its budget: the error variable sent.
    Timeout,
    /// The handler's answer did not fit in a frame: the error variable sent.
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
struct CauseLabels {
    cause: &'static str,
    code: i32,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndLabels {
    end: &'static str,
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
    /// One counter per [`ErrorCause`], resolved once.
    undelivered: [Counter; ErrorCause::ALL.len()],
    connection_ends: Family<EndLabels, Counter>,
    over_limit: Counter,
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
        let undelivered_family = Family::<CauseLabels, Counter>::default();
        registry.register(
            "undelivered_verdicts",
            "Handler verdicts the runtime could not deliver, answered with the error variable \
             (or only the fallback actions when it is disabled), by cause and error code",
            undelivered_family.clone(),
        );
        let undelivered = ErrorCause::ALL.map(|cause| {
            undelivered_family
                .get_or_create(&CauseLabels {
                    cause: cause.label(),
                    code: cause.code(),
                })
                .clone()
        });
        let connection_ends = Family::<EndLabels, Counter>::default();
        registry.register(
            "connection_ends",
            "Engine connections ended, by how (closed and reset after the last ACK, and \
             idle_timeout, are normal ends)",
            connection_ends.clone(),
        );
        let over_limit = Counter::default();
        registry.register(
            "connections_over_limit",
            "Engine connections refused (AGENT-DISCONNECT 13) or dropped because \
             max_connections were open",
            over_limit.clone(),
        );
        Self {
            registry,
            undelivered,
            connection_ends,
            over_limit,
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

    pub(crate) fn undelivered(&self, cause: ErrorCause) {
        self.undelivered[cause.index()].inc();
    }

    pub(crate) fn connection_ended(&self, end: &'static str) {
        self.connection_ends.get_or_create(&EndLabels { end }).inc();
    }

    pub(crate) fn over_limit(&self) {
        self.over_limit.inc();
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

impl From<ErrorCause> for Outcome {
    fn from(cause: ErrorCause) -> Self {
        match cause {
            ErrorCause::HandlerError => Self::Error,
            ErrorCause::HandlerPanic => Self::Panic,
            ErrorCause::BudgetOverrun => Self::Timeout,
            ErrorCause::AckTooBig => Self::TooBig,
        }
    }
}
