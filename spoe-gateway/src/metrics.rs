//! The gateway's Prometheus metrics, served by `use-service prometheus-exporter`.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use spoe::Done;

use crate::limits::{ConnLimits, Limit};
use crate::log::{LogSinks, SinkCounts};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    frontend: String,
    code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SpoeLabels {
    agent: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AgentLabels {
    agent: String,
}

/// Counters of the whole process (all generations).
pub struct GatewayMetrics {
    registry: Registry,
    /// HAProxy's exporter names (`haproxy_process_*`...), without the `spoe_` prefix.
    haproxy: Registry,
    requests: Family<RequestLabels, Counter>,
    spoe: Family<SpoeLabels, Counter>,
    spoe_time: Family<AgentLabels, Histogram>,
    /// Live configuration generations.
    pub generations: Gauge,
    /// Successful reloads.
    pub reloads: Counter,
    /// Reloads refused because the new configuration was invalid.
    pub reload_failures: Counter,
    /// Agent connections of the current generation.
    pub agent_connections: Gauge,
    /// Agent connections the current generation closed because the agent
    /// broke the protocol after its handshake.
    pub agent_protocol_errors: Gauge,
    /// Lua failures of every configuration so far.
    pub lua_errors: Arc<spoe_lua::ErrorCounts>,
    unique: AtomicU64,
    resolved_requests: Resolved<Counter>,
    resolved_spoe: Resolved<Counter>,
    resolved_spoe_time: Resolved<Histogram>,
}

/// Metrics already looked up in their family, by label values: the
/// per-request path takes a read lock and scans a short list, instead of
/// building label strings and hashing them each time. The list only grows
/// with distinct (name, code) pairs, which a configuration bounds.
struct Resolved<M>(RwLock<Vec<(String, u32, M)>>);

impl<M> Resolved<M> {
    fn new() -> Self {
        Self(RwLock::new(Vec::new()))
    }

    fn with(&self, name: &str, code: u32, create: impl FnOnce() -> M, apply: impl FnOnce(&M)) {
        {
            let list = self
                .0
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some((_, _, m)) = list.iter().find(|(n, c, _)| *c == code && n == name) {
                apply(m);
                return;
            }
        }
        let m = create();
        apply(&m);
        // Two threads may both miss: both entries are the same family member.
        self.0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((name.to_owned(), code, m));
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

/// The `maxconn` levels' limits and counts, read at each scrape, under HAProxy's exporter
/// names.
#[derive(Debug)]
struct ConnCounters(Arc<ConnLimits>);

impl Collector for ConnCounters {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let process = self.0.process();
        for (name, help, value) in [
            (
                "haproxy_process_max_connections",
                "Maximum number of concurrent connections.",
                process.max(),
            ),
            (
                "haproxy_process_current_connections",
                "Number of active sessions.",
                process.current(),
            ),
        ] {
            let gauge = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        let frontends = self.0.frontends();
        for (name, help, get) in [
            (
                "haproxy_frontend_current_sessions",
                "Number of current sessions.",
                Limit::current as fn(&Limit) -> usize,
            ),
            (
                "haproxy_frontend_max_sessions",
                "Maximum observed number of active sessions.",
                Limit::peak,
            ),
            (
                "haproxy_frontend_limit_sessions",
                "Configured session limit.",
                Limit::max,
            ),
        ] {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (proxy, limit) in &frontends {
                let gauge = ConstGauge::new(i64::try_from(get(limit)).unwrap_or(i64::MAX));
                gauge.encode(family.encode_family(&[("proxy", proxy.as_str())])?)?;
            }
        }
        Ok(())
    }
}

/// The log sinks' counters, read at each scrape.
#[derive(Debug)]
struct LogCounters(LogSinks);

impl Collector for LogCounters {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let dropped = ConstCounter::new(self.0.dropped());
        dropped.encode(encoder.encode_descriptor(
            "haproxy_process_dropped_logs",
            "Total number of dropped logs",
            None,
            dropped.metric_type(),
        )?)?;
        for (name, help, get) in [
            (
                "spoe_log_lines_written",
                "Log lines written, by sink",
                (|c: SinkCounts| c.written) as fn(SinkCounts) -> u64,
            ),
            (
                "spoe_log_lines_dropped",
                "Log lines dropped because the sink's reader did not keep up (its queue was full) or failed, by sink",
                |c: SinkCounts| c.dropped,
            ),
        ] {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for sink in self.0.all() {
                let counter = ConstCounter::new(get(sink.counts()));
                counter.encode(family.encode_family(&[("sink", sink.name())])?)?;
            }
        }
        Ok(())
    }
}

/// Lua's failures by kind and reason, read at each scrape.
#[derive(Debug)]
struct LuaErrorCounters(Arc<spoe_lua::ErrorCounts>);

impl Collector for LuaErrorCounters {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let mut family = encoder.encode_descriptor(
            "spoe_lua_errors",
            "Lua failures (each also logged, rate-limited), by what failed (action, sample-fetch, converter, service, task) and why (runtime, timeout, memory, other)",
            None,
            MetricType::Counter,
        )?;
        for kind in spoe_lua::ErrorKind::ALL {
            for reason in spoe_lua::ErrorReason::ALL {
                let counter = ConstCounter::new(self.0.get(kind, reason));
                counter.encode(
                    family.encode_family(&[("kind", kind.name()), ("reason", reason.name())])?,
                )?;
            }
        }
        Ok(())
    }
}

impl GatewayMetrics {
    /// Fresh metrics under the `spoe_` prefix, with HAProxy's names where it has them; the log
    /// lines counted are those of the process's stdout and stderr.
    pub fn new() -> Self {
        Self::with_log_sinks(&LogSinks::process())
    }

    /// Fresh metrics; the log lines counted are those of `sinks`.
    pub fn with_log_sinks(sinks: &LogSinks) -> Self {
        Self::of(sinks, Arc::default())
    }

    /// The metrics of a gateway whose log lines go to `sinks` and whose connections `limits`
    /// counts.
    pub(crate) fn of(sinks: &LogSinks, limits: Arc<ConnLimits>) -> Self {
        let mut registry = Registry::with_prefix("spoe");
        let requests = Family::<RequestLabels, Counter>::default();
        let spoe = Family::<SpoeLabels, Counter>::default();
        let spoe_time = Family::<AgentLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 16))
        });
        let generations = Gauge::default();
        let reloads = Counter::default();
        let reload_failures = Counter::default();
        let agent_connections = Gauge::default();
        let agent_protocol_errors = Gauge::default();
        registry.register(
            "http_requests",
            "HTTP requests by frontend and status code",
            requests.clone(),
        );
        registry.register(
            "spoe_events",
            "SPOE events and groups processed, by agent and status",
            spoe.clone(),
        );
        registry.register(
            "spoe_processing_seconds",
            "Time SPOE processing added to a request, per event",
            spoe_time.clone(),
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
        registry.register(
            "agent_connections",
            "Agent connections open in the current generation",
            agent_connections.clone(),
        );
        registry.register(
            "agent_protocol_errors",
            "Agent connections closed for a protocol error after their handshake, in the current generation",
            agent_protocol_errors.clone(),
        );
        let mut haproxy = Registry::default();
        haproxy.register_collector(Box::new(LogCounters(sinks.clone())));
        haproxy.register_collector(Box::new(ConnCounters(limits)));
        let lua_errors = Arc::new(spoe_lua::ErrorCounts::default());
        haproxy.register_collector(Box::new(LuaErrorCounters(lua_errors.clone())));
        Self {
            registry,
            haproxy,
            requests,
            spoe,
            spoe_time,
            generations,
            reloads,
            reload_failures,
            agent_connections,
            agent_protocol_errors,
            lua_errors,
            unique: AtomicU64::new(0),
            resolved_requests: Resolved::new(),
            resolved_spoe: Resolved::new(),
            resolved_spoe_time: Resolved::new(),
        }
    }

    pub(crate) fn request(&self, frontend: &str, status: u16) {
        self.resolved_requests.with(
            frontend,
            u32::from(status),
            || {
                self.requests
                    .get_or_create(&RequestLabels {
                        frontend: frontend.to_owned(),
                        code: status.to_string(),
                    })
                    .clone()
            },
            |c| {
                c.inc();
            },
        );
    }

    pub(crate) fn spoe(&self, agent: &str, done: &Done<'_>) {
        let status = done.outcome.status.0;
        self.resolved_spoe.with(
            agent,
            status,
            || {
                self.spoe
                    .get_or_create(&SpoeLabels {
                        agent: agent.to_owned(),
                        status: status.to_string(),
                    })
                    .clone()
            },
            |c| {
                c.inc();
            },
        );
        self.resolved_spoe_time.with(
            agent,
            0,
            || {
                self.spoe_time
                    .get_or_create(&AgentLabels {
                        agent: agent.to_owned(),
                    })
                    .clone()
            },
            |h| h.observe(done.outcome.timings.total.as_secs_f64()),
        );
    }

    pub(crate) fn next_unique_id(&self) -> u64 {
        self.unique.fetch_add(1, Ordering::Relaxed)
    }

    /// The exposition text.
    pub fn encode_text(&self) -> String {
        use prometheus_client::encoding::text::{encode_eof, encode_registry};
        let mut out = String::new();
        let _ = encode_registry(&mut out, &self.registry)
            .and_then(|()| encode_registry(&mut out, &self.haproxy))
            .and_then(|()| encode_eof(&mut out));
        out
    }
}
