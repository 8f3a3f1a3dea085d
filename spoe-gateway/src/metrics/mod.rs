//! The gateway's Prometheus metrics, served by `use-service
//! prometheus-exporter`: HAProxy 2.6's `haproxy_frontend_*`,
//! `haproxy_backend_*` and `haproxy_server_*` families (written from the
//! statistics, [`crate::stats`]), the SPOE families no exporter has
//! (`spoe_events_total`, `spoe_messages_total`, processing and queue time
//! histograms per agent and event, `spoe_agent_*` for the agents'
//! connections), and the gateway's own (`spoe_reloads_total`,
//! `spoe_config_generations`, the log sinks' `spoe_log_lines_*`), and the
//! process's under HAProxy's names (`haproxy_process_*`). One OpenMetrics
//! text.
//!
//! A metric of the whole process belongs in [`GatewayMetrics::new`]'s
//! registry, under the `spoe_` prefix, or in `process`'s under HAProxy's
//! name when its exporter has one.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use spoe::once_table::OnceTable;
use spoe::{Done, Processed};

use crate::generation::Generation;
use crate::limits::ConnLimits;
use crate::log::LogSinks;
use crate::stats::StatsRegistry;
use agents::AgentTotals;

mod agents;
mod process;
pub(crate) mod snapshot;

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

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HandshakeLabels {
    frontend: String,
    result: &'static str,
}

/// An agent's event's processing and queue time histograms, and its processing time in all
/// (microseconds, the stats page's). Clones share them.
type Times = (Histogram, Histogram, Arc<AtomicU64>);

/// The content type of [`GatewayMetrics::encode_text`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Counters of the whole process (all generations).
pub struct GatewayMetrics {
    registry: Registry,
    /// HAProxy's exporter names (`haproxy_process_*`...), without the `spoe_` prefix.
    haproxy: Registry,
    /// The `maxconn` levels (the frontends' rows read theirs).
    limits: Arc<ConnLimits>,
    events: Family<EventLabels, Counter>,
    messages: Family<MessageLabels, Counter>,
    processing: Family<TimeLabels, Histogram>,
    queue: Family<TimeLabels, Histogram>,
    handshakes: Family<HandshakeLabels, Counter>,
    /// PROXY headers of `bind ... accept-proxy` (the same labels: frontend and result).
    proxy_headers: Family<HandshakeLabels, Counter>,
    /// Live configuration generations.
    pub generations: Gauge,
    /// Successful reloads.
    pub reloads: Counter,
    /// Reloads refused because the new configuration was invalid.
    pub reload_failures: Counter,
    /// The statistics of frontends, backends and servers, by name.
    pub stats: StatsRegistry,
    /// Lua failures of every configuration so far.
    pub lua_errors: Arc<spoe_lua::ErrorCounts>,
    agents: AgentTotals,
    unique: AtomicU64,
    /// Each event's counter, by agent, event and status, with the event's [`Times`].
    resolved_events: Resolved<(Counter, Times)>,
    resolved_messages: Resolved<Counter>,
    resolved_times: Resolved<Times>,
    /// The worker threads (`show info`'s `Nbthread`).
    pub(crate) threads: std::sync::atomic::AtomicUsize,
    /// When the process started (`show info`'s uptime).
    started: (tokio::time::Instant, std::time::SystemTime),
    sinks: LogSinks,
}

/// Metrics already looked up in their family, by label values: the
/// per-request path finds them without a lock (a lock and its release are
/// two atomic read-modify-writes, paid per request by every worker on one
/// line), instead of building label strings and hashing them each time.
/// The set only grows with distinct label values, which a configuration
/// bounds; what the table has no room for is kept under a lock.
struct Resolved<M> {
    fast: OnceTable<(String, String, u32, M)>,
    overflow: RwLock<Vec<(String, String, u32, M)>>,
}

/// Where label values `a`, `b` and `code` start probing: their lengths, their last
/// (up to) 8 bytes and the code, mixed. Not a hash of every byte: a hash function over the
/// names cost more instructions (about 90 a lookup) than the lock it replaced; label values
/// that collide here only probe further.
fn label_hash(a: &str, b: &str, code: u32) -> u64 {
    fn tail(s: &str) -> u64 {
        let s = s.as_bytes();
        let mut word = [0u8; 8];
        let start = s.len().saturating_sub(8);
        word[..s.len() - start].copy_from_slice(&s[start..]);
        u64::from_le_bytes(word) ^ (s.len() as u64).rotate_left(56)
    }
    let mixed = (tail(a).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ tail(b) ^ u64::from(code))
        .wrapping_mul(0xbf58_476d_1ce4_e5b9);
    mixed ^ (mixed >> 31)
}

/// Label sets kept without a lock, per family (agents x events or messages x statuses).
const RESOLVED_SLOTS: usize = 256;

impl<M> Resolved<M> {
    fn new() -> Self {
        Self {
            fast: OnceTable::new(RESOLVED_SLOTS),
            overflow: RwLock::new(Vec::new()),
        }
    }

    fn with(
        &self,
        a: &str,
        b: &str,
        code: u32,
        create: impl FnOnce() -> M,
        apply: impl FnOnce(&M),
    ) {
        let hash = label_hash(a, b, code);
        let is = |x: &str, y: &str, c: u32| c == code && x == a && y == b;
        let entry = match self.fast.find_or_insert(
            hash,
            |(x, y, c, _)| is(x, y, *c),
            || (a.to_owned(), b.to_owned(), code, create()),
        ) {
            Ok((.., m)) => return apply(m),
            Err(entry) => entry,
        };
        {
            let list = self.overflow.read().unwrap_or_else(PoisonError::into_inner);
            if let Some((.., m)) = list.iter().find(|(x, y, c, _)| is(x, y, *c)) {
                apply(m);
                return;
            }
        }
        apply(&entry.3);
        // Two threads may both miss: both entries are the same family member.
        self.overflow
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(entry);
    }

    /// Calls `f` with each label set kept and its metric.
    fn for_each(&self, mut f: impl FnMut(&str, &str, u32, &M)) {
        for (a, b, code, m) in self.fast.iter() {
            f(a, b, *code, m);
        }
        for (a, b, code, m) in self
            .overflow
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            f(a, b, *code, m);
        }
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
    /// Fresh metrics; the log lines counted are those of the process's stdout
    /// and stderr.
    pub fn new() -> Self {
        Self::with_log_sinks(&LogSinks::process())
    }

    /// Fresh metrics; the log lines counted are those of `sinks`.
    pub fn with_log_sinks(sinks: &LogSinks) -> Self {
        Self::of(sinks, Arc::default())
    }

    /// The metrics of a gateway whose log lines go to `sinks` and whose
    /// connections `limits` counts.
    pub(crate) fn of(sinks: &LogSinks, limits: Arc<ConnLimits>) -> Self {
        let mut registry = Registry::with_prefix("spoe");
        let events = Family::<EventLabels, Counter>::default();
        let messages = Family::<MessageLabels, Counter>::default();
        let processing = Family::<TimeLabels, Histogram>::new_with_constructor(time_buckets);
        let queue = Family::<TimeLabels, Histogram>::new_with_constructor(time_buckets);
        let handshakes = Family::<HandshakeLabels, Counter>::default();
        let proxy_headers = Family::<HandshakeLabels, Counter>::default();
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
            "tls_handshakes",
            "TLS handshakes with clients by frontend and result (full, resumed, or the failure: \
             handshake, timeout, closed, certificate)",
            handshakes.clone(),
        );
        registry.register(
            "proxy_headers",
            "PROXY protocol headers read on 'accept-proxy' binds by frontend and result (received, \
             or the failure that closed the connection: empty, abort, timeout, truncated, \
             not_header, bad_header, bad_proto)",
            proxy_headers.clone(),
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
        let lua_errors = Arc::new(spoe_lua::ErrorCounts::default());
        Self {
            registry,
            haproxy: process::registry(sinks, limits.clone(), lua_errors.clone()),
            limits,
            events,
            messages,
            processing,
            queue,
            handshakes,
            proxy_headers,
            generations,
            reloads,
            reload_failures,
            stats: StatsRegistry::default(),
            lua_errors,
            agents: AgentTotals::default(),
            unique: AtomicU64::new(0),
            resolved_events: Resolved::new(),
            resolved_messages: Resolved::new(),
            resolved_times: Resolved::new(),
            threads: std::sync::atomic::AtomicUsize::new(1),
            started: snapshot::started_now(),
            sinks: sinks.clone(),
        }
    }

    /// Counts one processed event or group of `agent`.
    pub(crate) fn spoe(&self, agent: &str, done: &Done<'_>) {
        let status = done.outcome.status.0;
        let event = match done.processed() {
            Processed::Event(e) | Processed::Group(e) => e,
        };
        let timings = done.outcome.timings;
        // One lookup for the event's counter and its agent's and event's times.
        self.resolved_events.with(
            agent,
            event,
            status,
            || {
                let counter = self
                    .events
                    .get_or_create(&EventLabels {
                        agent: agent.to_owned(),
                        event: event.to_owned(),
                        status,
                    })
                    .clone();
                (counter, self.times(agent, event))
            },
            |(counter, (processing, queue, micros))| {
                counter.inc();
                processing.observe(timings.total.as_secs_f64());
                let us = u64::try_from(timings.total.as_micros()).unwrap_or(u64::MAX);
                micros.fetch_add(us, Ordering::Relaxed);
                if let Some(q) = timings.queue {
                    queue.observe(q.as_secs_f64());
                }
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
    }

    /// The times of `agent`'s `event` (whatever the status): shared by the entries of
    /// `resolved_events` for each status, kept in `resolved_times` for the snapshot.
    fn times(&self, agent: &str, event: &str) -> Times {
        let mut times = None;
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
                    Arc::default(),
                )
            },
            |t| times = Some(t.clone()),
        );
        times.expect("with applies once")
    }

    /// Counts a TLS handshake of `frontend` that ended as `result`.
    pub(crate) fn handshake(&self, frontend: &str, result: &'static str) {
        self.handshakes
            .get_or_create(&HandshakeLabels {
                frontend: frontend.to_owned(),
                result,
            })
            .inc();
    }

    /// Counts a PROXY header read on an `accept-proxy` bind of `frontend`, as `result`.
    pub(crate) fn proxy_header(&self, frontend: &str, result: &'static str) {
        self.proxy_headers
            .get_or_create(&HandshakeLabels {
                frontend: frontend.to_owned(),
                result,
            })
            .inc();
    }

    pub(crate) fn next_unique_id(&self) -> u64 {
        self.unique.fetch_add(1, Ordering::Relaxed)
    }

    /// An old generation starts draining: its agents' counters stay in the
    /// `spoe_agent_*` totals until [`GatewayMetrics::retired`].
    pub(crate) fn retiring(&self, generation: Arc<Generation>) {
        self.agents.retiring(generation);
    }

    /// An old generation is gone: its agents' counters are kept in the totals.
    pub(crate) fn retired(&self, generation: &Generation) {
        self.agents.retired(generation);
    }

    /// Log lines dropped so far (every sink).
    pub(crate) fn dropped_logs(&self) -> u64 {
        self.sinks.dropped()
    }

    /// The exposition text, with `generation`'s statistics.
    pub fn encode_text(&self, generation: &Generation) -> String {
        use prometheus_client::encoding::text::{encode_eof, encode_registry};
        let mut out = String::new();
        crate::stats::promex::render(&generation.stats_rows(&self.limits), &mut out);
        crate::sticktable::promex::render(&generation.tables, &mut out);
        self.agents.render(generation, &mut out);
        let _ = encode_registry(&mut out, &self.registry)
            .and_then(|()| encode_registry(&mut out, &self.haproxy))
            .and_then(|()| encode_eof(&mut out));
        out
    }
}
