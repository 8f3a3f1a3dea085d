//! The process's families under HAProxy's exporter names
//! (`haproxy_process_*`), the log sinks' and Lua's counters, read at each
//! scrape.

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::limits::ConnLimits;
use crate::log::{LogSinks, SinkCounts};

/// The process's `maxconn` and its connections, read at each scrape, under HAProxy's
/// exporter names (the frontends' are in their statistics rows).
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

/// A registry of the process's families and the log sinks' and Lua's
/// counters, read at each scrape, without a prefix (the names are whole).
pub(super) fn registry(
    sinks: &LogSinks,
    limits: Arc<ConnLimits>,
    lua_errors: Arc<spoe_lua::ErrorCounts>,
) -> Registry {
    let mut haproxy = Registry::default();
    haproxy.register_collector(Box::new(LogCounters(sinks.clone())));
    haproxy.register_collector(Box::new(ConnCounters(limits)));
    haproxy.register_collector(Box::new(LuaErrorCounters(lua_errors)));
    haproxy
}
