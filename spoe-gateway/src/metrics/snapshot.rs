//! What the stats page and the runtime API show at one moment: the statistics rows (the same
//! ones the Prometheus exporter reads), the process's figures (`show info`) and each SPOE
//! agent's (processed, errors, processing time), which HAProxy's page does not have.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::GatewayMetrics;
use crate::generation::Generation;
use crate::stats::{Field, ObjType, Row};

/// The process's figures.
#[derive(Debug, Clone)]
pub(crate) struct ProcessInfo {
    pub(crate) pid: u32,
    pub(crate) threads: usize,
    pub(crate) uptime: Duration,
    pub(crate) started_unix: u64,
    pub(crate) maxconn: u64,
    pub(crate) current_conns: u64,
    pub(crate) cum_conns: u64,
    pub(crate) cum_req: u64,
    pub(crate) conn_rate: u64,
    pub(crate) conn_rate_max: u64,
    pub(crate) sess_rate: u64,
    pub(crate) sess_rate_max: u64,
    pub(crate) bytes_out: u64,
    pub(crate) dropped_logs: u64,
    pub(crate) listeners: usize,
    pub(crate) stopping: bool,
}

/// One SPOE agent's figures, over every worker and generation.
#[derive(Debug, Clone, Default)]
pub(crate) struct AgentSummary {
    /// Events and groups processed.
    pub(crate) processed: u64,
    /// Of those, the ones that ended with an error status.
    pub(crate) errors: u64,
    /// Their processing time, summed (microseconds).
    pub(crate) processing_us: u64,
}

impl AgentSummary {
    /// The mean processing time, in milliseconds.
    pub(crate) fn mean_ms(&self) -> f64 {
        if self.processed == 0 {
            0.0
        } else {
            self.processing_us as f64 / self.processed as f64 / 1000.0
        }
    }
}

/// Everything a view shows.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub(crate) rows: Vec<Row>,
    pub(crate) info: ProcessInfo,
    pub(crate) agents: BTreeMap<String, AgentSummary>,
}

fn sum(rows: &[Row], field: Field) -> u64 {
    rows.iter()
        .filter(|r| r.obj == ObjType::Frontend)
        .filter_map(|r| r.get(field).number())
        .map(|v| v as u64)
        .sum()
}

impl GatewayMetrics {
    /// What `generation` and the process look like now.
    pub(crate) fn snapshot(&self, generation: &Generation) -> Snapshot {
        let threads = self.threads.load(std::sync::atomic::Ordering::Relaxed);
        let rows = generation.stats_rows(&self.limits);
        let process = self.limits.process();
        let uptime = self.started.0.elapsed();
        let started_unix = self
            .started
            .1
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let info = ProcessInfo {
            pid: std::process::id(),
            threads,
            uptime,
            started_unix,
            maxconn: process.max() as u64,
            current_conns: process.current() as u64,
            cum_conns: sum(&rows, Field::ConnTot),
            cum_req: sum(&rows, Field::ReqTot),
            conn_rate: sum(&rows, Field::ConnRate),
            conn_rate_max: sum(&rows, Field::ConnRateMax),
            sess_rate: sum(&rows, Field::Rate),
            sess_rate_max: sum(&rows, Field::RateMax),
            bytes_out: sum(&rows, Field::Bout),
            dropped_logs: self.dropped_logs(),
            listeners: generation.config.listeners().count(),
            stopping: false,
        };
        let mut agents: BTreeMap<String, AgentSummary> = BTreeMap::new();
        self.resolved_events
            .for_each(|agent, _, status, (counter, _)| {
                let a = agents.entry(agent.to_owned()).or_default();
                a.processed += counter.get();
                if status != 0 {
                    a.errors += counter.get();
                }
            });
        self.resolved_times.for_each(|agent, _, _, (_, _, micros)| {
            agents.entry(agent.to_owned()).or_default().processing_us +=
                micros.load(std::sync::atomic::Ordering::Relaxed);
        });
        for (agent, _) in generation.spoe_engines() {
            agents.entry(agent.to_owned()).or_default();
        }
        Snapshot { rows, info, agents }
    }
}

/// When the process started: a monotonic instant and the wall clock.
pub(crate) fn started_now() -> (tokio::time::Instant, SystemTime) {
    (tokio::time::Instant::now(), SystemTime::now())
}
