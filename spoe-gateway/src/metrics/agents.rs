//! The `spoe_agent_*` families: what the agents' connections did, summed
//! over the workers' engines of every generation, retired ones included.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use spoe::EngineStats;

use crate::generation::Generation;

/// What the agents' connections did, summed over the workers' engines of
/// every generation: retired ones' counters are kept, so that the totals
/// only grow.
#[derive(Default)]
pub(super) struct AgentTotals {
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
    /// An old generation starts draining: its agents' counters stay in the
    /// totals until [`AgentTotals::retired`].
    pub(super) fn retiring(&self, generation: Arc<Generation>) {
        self.retiring
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(generation);
    }

    /// An old generation is gone: its agents' counters are kept in the totals.
    pub(super) fn retired(&self, generation: &Generation) {
        let mut retiring = self.retiring.lock().unwrap_or_else(PoisonError::into_inner);
        retiring.retain(|g| g.id != generation.id);
        let mut base = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
        for (agent, stats) in generation.spoe_engines() {
            base.entry(agent.to_owned())
                .or_default()
                .add_counters(stats);
        }
    }

    /// Writes the families, summed over `current` and the generations still
    /// draining or gone.
    pub(super) fn render(&self, current: &Generation, out: &mut String) {
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
