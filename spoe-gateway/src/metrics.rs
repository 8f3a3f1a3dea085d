//! The gateway's Prometheus metrics, served by `use-service
//! prometheus-exporter`: HAProxy 2.6's `haproxy_frontend_*`,
//! `haproxy_backend_*` and `haproxy_server_*` families (written from the
//! statistics, [`crate::stats`]), the SPOE families no exporter has
//! (`spoe_events_total`, `spoe_messages_total`, processing and queue time
//! histograms per agent and event, `spoe_agent_*` for the agents'
//! connections), and the gateway's own (`spoe_reloads_total`,
//! `spoe_config_generations`). One OpenMetrics text.
//!
//! A metric of the whole process belongs in [`GatewayMetrics::new`]'s
//! registry, under the `spoe_` prefix.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use spoe::{Done, EngineStats, Processed};

use crate::generation::Generation;
use crate::stats::StatsRegistry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    agent: String,
    event: String,
    status: u32,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MessageLabels {
    agent: String,
    message: String,
    status: u32,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TimeLabels {
    agent: String,
    event: String,
}

/// The content type of [`GatewayMetrics::encode_text`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Counters of the whole process (all generations).
pub struct GatewayMetrics {
    registry: Registry,
    events: Family<EventLabels, Counter>,
    messages: Family<MessageLabels, Counter>,
    processing: Family<TimeLabels, Histogram>,
    queue: Family<TimeLabels, Histogram>,
    /// Live configuration generations.
    pub generations: Gauge,
    /// Successful reloads.
    pub reloads: Counter,
    /// Reloads refused because the new configuration was invalid.
    pub reload_failures: Counter,
    /// The statistics of frontends, backends and servers, by name.
    pub stats: StatsRegistry,
    agents: AgentTotals,
    unique: AtomicU64,
    resolved_events: Resolved<Counter>,
    resolved_messages: Resolved<Counter>,
    resolved_times: Resolved<(Histogram, Histogram)>,
}

/// Metrics already looked up in their family, by label values: the
/// per-request path takes a read lock and scans a short list, instead of
/// building label strings and hashing them each time. The list only grows
/// with distinct label values, which a configuration bounds.
struct Resolved<M>(RwLock<Vec<(String, String, u32, M)>>);

impl<M> Resolved<M> {
    fn new() -> Self {
        Self(RwLock::new(Vec::new()))
    }

    fn with(
        &self,
        a: &str,
        b: &str,
        code: u32,
        create: impl FnOnce() -> M,
        apply: impl FnOnce(&M),
    ) {
        {
            let list = self.0.read().unwrap_or_else(PoisonError::into_inner);
            if let Some((_, _, _, m)) = list
                .iter()
                .find(|(x, y, c, _)| *c == code && x == a && y == b)
            {
                apply(m);
                return;
            }
        }
        let m = create();
        apply(&m);
        // Two threads may both miss: both entries are the same family member.
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push((a.to_owned(), b.to_owned(), code, m));
    }
}

impl fmt::Debug for GatewayMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayMetrics").finish_non_exhaustive()
    }
}

impl Default for GatewayMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// 100 us to about 6.5 s, doubling.
fn time_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
}

impl GatewayMetrics {
    /// Fresh metrics.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("spoe");
        let events = Family::<EventLabels, Counter>::default();
        let messages = Family::<MessageLabels, Counter>::default();
        let processing = Family::<TimeLabels, Histogram>::new_with_constructor(time_buckets);
        let queue = Family::<TimeLabels, Histogram>::new_with_constructor(time_buckets);
        let generations = Gauge::default();
        let reloads = Counter::default();
        let reload_failures = Counter::default();
        registry.register(
            "events",
            "SPOE events and groups processed, by agent, event (or group) and status \
             (0: success; otherwise the value of the set-on-error variable)",
            events.clone(),
        );
        registry.register(
            "messages",
            "SPOE messages sent, by agent, message and the status of the NOTIFY that carried them",
            messages.clone(),
        );
        registry.register(
            "processing_seconds",
            "Time SPOE processing added to a request, per agent and event (HAProxy's qT + wT)",
            processing.clone(),
        );
        registry.register(
            "queue_seconds",
            "Time an event's NOTIFY waited for an agent connection, per agent and event \
             (HAProxy's qT; events that never left the queue are not observed)",
            queue.clone(),
        );
        registry.register(
            "config_generations",
            "Configuration generations alive",
            generations.clone(),
        );
        registry.register(
            "reloads",
            "Successful configuration reloads",
            reloads.clone(),
        );
        registry.register(
            "reload_failures",
            "Reloads refused (invalid configuration)",
            reload_failures.clone(),
        );
        Self {
            registry,
            events,
            messages,
            processing,
            queue,
            generations,
            reloads,
            reload_failures,
            stats: StatsRegistry::default(),
            agents: AgentTotals::default(),
            unique: AtomicU64::new(0),
            resolved_events: Resolved::new(),
            resolved_messages: Resolved::new(),
            resolved_times: Resolved::new(),
        }
    }

    /// Counts one processed event or group of `agent`.
    pub(crate) fn spoe(&self, agent: &str, done: &Done<'_>) {
        let status = done.outcome.status.0;
        let event = match done.processed() {
            Processed::Event(e) | Processed::Group(e) => e,
        };
        self.resolved_events.with(
            agent,
            event,
            status,
            || {
                self.events
                    .get_or_create(&EventLabels {
                        agent: agent.to_owned(),
                        event: event.to_owned(),
                        status,
                    })
                    .clone()
            },
            |c| {
                c.inc();
            },
        );
        for message in done.messages() {
            self.resolved_messages.with(
                agent,
                message,
                status,
                || {
                    self.messages
                        .get_or_create(&MessageLabels {
                            agent: agent.to_owned(),
                            message: message.to_owned(),
                            status,
                        })
                        .clone()
                },
                |c| {
                    c.inc();
                },
            );
        }
        let timings = done.outcome.timings;
        self.resolved_times.with(
            agent,
            event,
            0,
            || {
                let labels = TimeLabels {
                    agent: agent.to_owned(),
                    event: event.to_owned(),
                };
                (
                    self.processing.get_or_create(&labels).clone(),
                    self.queue.get_or_create(&labels).clone(),
                )
            },
            |(processing, queue)| {
                processing.observe(timings.total.as_secs_f64());
                if let Some(q) = timings.queue {
                    queue.observe(q.as_secs_f64());
                }
            },
        );
    }

    pub(crate) fn next_unique_id(&self) -> u64 {
        self.unique.fetch_add(1, Ordering::Relaxed)
    }

    /// An old generation starts draining: its agents' counters stay in the
    /// `spoe_agent_*` totals until [`GatewayMetrics::retired`].
    pub(crate) fn retiring(&self, generation: Arc<Generation>) {
        self.agents
            .retiring
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(generation);
    }

    /// An old generation is gone: its agents' counters are kept in the totals.
    pub(crate) fn retired(&self, generation: &Generation) {
        let mut retiring = self
            .agents
            .retiring
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        retiring.retain(|g| g.id != generation.id);
        let mut base = self
            .agents
            .retired
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (agent, stats) in generation.spoe_engines() {
            base.entry(agent.to_owned())
                .or_default()
                .add_counters(stats);
        }
    }

    /// The exposition text, with `generation`'s statistics.
    pub fn encode_text(&self, generation: &Generation) -> String {
        let mut out = String::new();
        crate::stats::promex::render(&generation.stats_rows(), &mut out);
        self.agents.render(generation, &mut out);
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// What the agents' connections did, summed over the workers' engines of
/// every generation: retired ones' counters are kept, so that the totals
/// only grow.
#[derive(Default)]
struct AgentTotals {
    retiring: Mutex<Vec<Arc<Generation>>>,
    retired: Mutex<BTreeMap<String, AgentSums>>,
}

/// The `spoe_agent_*` values of one agent.
#[derive(Debug, Clone, Copy, Default)]
struct AgentSums {
    connections: u64,
    idle: u64,
    queued: u64,
    waiting: u64,
    opened: u64,
    connect_failures: u64,
    protocol_errors: u64,
    retries: u64,
    late_acks: u64,
    skipped: u64,
}

impl AgentSums {
    fn add_counters(&mut self, s: &EngineStats) {
        self.opened += s.connections_opened();
        self.connect_failures += s.connect_failures();
        self.protocol_errors += s.protocol_errors();
        self.retries += s.retries();
        self.late_acks += s.late_acks();
        self.skipped += s.skipped();
    }

    fn add_gauges(&mut self, s: &EngineStats) {
        self.connections += s.connections();
        self.idle += s.idle();
        let waiting = s.waiting();
        self.waiting += waiting;
        self.queued += s.pending().saturating_sub(waiting);
    }
}

/// The agents' families: (name, type, help, value).
type AgentFamily = (
    &'static str,
    &'static str,
    &'static str,
    fn(&AgentSums) -> u64,
);

const AGENT_FAMILIES: [AgentFamily; 10] = [
    (
        "spoe_agent_connections",
        "gauge",
        "Agent connections open (connecting or ready)",
        |s| s.connections,
    ),
    (
        "spoe_agent_idle_connections",
        "gauge",
        "Agent connections open with no message in flight",
        |s| s.idle,
    ),
    (
        "spoe_agent_queued",
        "gauge",
        "Events waiting for an agent connection or being sent",
        |s| s.queued,
    ),
    (
        "spoe_agent_waiting",
        "gauge",
        "NOTIFY frames sent and waiting for their ACK",
        |s| s.waiting,
    ),
    (
        "spoe_agent_connections_opened",
        "counter",
        "Agent connections attempted (each connect, first or again after one closed)",
        |s| s.opened,
    ),
    (
        "spoe_agent_connect_failures",
        "counter",
        "Agent connects or handshakes that failed",
        |s| s.connect_failures,
    ),
    (
        "spoe_agent_protocol_errors",
        "counter",
        "Agent connections closed because the agent broke the protocol after its handshake",
        |s| s.protocol_errors,
    ),
    (
        "spoe_agent_retries",
        "counter",
        "Messages sent again on another connection after theirs failed",
        |s| s.retries,
    ),
    (
        "spoe_agent_late_acks",
        "counter",
        "ACKs that came after their message's deadline (dropped)",
        |s| s.late_acks,
    ),
    (
        "spoe_agent_skipped",
        "counter",
        "Events not sent because the agent's maxerrrate was reached",
        |s| s.skipped,
    ),
];

impl AgentTotals {
    fn render(&self, current: &Generation, out: &mut String) {
        let mut sums: BTreeMap<String, AgentSums> = self
            .retired
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let retiring = self
            .retiring
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for generation in retiring
            .iter()
            .map(|g| &**g)
            .chain(std::iter::once(current))
        {
            for (agent, stats) in generation.spoe_engines() {
                let s = sums.entry(agent.to_owned()).or_default();
                s.add_counters(stats);
                s.add_gauges(stats);
            }
        }
        if sums.is_empty() {
            return;
        }
        for (name, kind, help, value) in AGENT_FAMILIES {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let sample = if kind == "counter" {
                format!("{name}_total")
            } else {
                name.to_owned()
            };
            for (agent, s) in &sums {
                let _ = writeln!(
                    out,
                    "{sample}{{agent=\"{}\"}} {}",
                    agent.replace('"', "\\\""),
                    value(s)
                );
            }
        }
    }
}
