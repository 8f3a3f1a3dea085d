//! `server ... check [inter D] [rise N] [fall N]` on an HTTP backend: a TCP
//! connect every `inter`, judged as HAProxy judges its checks (its health
//! counter), with its statistics and its log line for each change of state.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::ServerRt;
use crate::stats::{CheckReport, CheckStatus, Counters};

/// HAProxy's health counter: from 0 to `rise + fall - 1`; the server is UP
/// from `rise`. A server starts UP but fragile (at `rise`: one failure takes
/// it down); a success while UP fills the counter, so that `fall` failures
/// in a row take it down, and `rise` successes bring it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Health {
    level: u32,
    rise: u32,
    fall: u32,
}

impl Health {
    pub(crate) fn new(rise: u32, fall: u32) -> Self {
        let (rise, fall) = (rise.max(1), fall.max(1));
        Self {
            level: rise,
            rise,
            fall,
        }
    }

    pub(crate) fn up(self) -> bool {
        self.level >= self.rise
    }

    /// Whether a failure now is counted (`chkfail`): only those that lower
    /// the health, not those of a server already down.
    pub(crate) fn failure_counts(self) -> bool {
        self.level > 0
    }

    /// Records a check; whether the state changed.
    pub(crate) fn record(&mut self, ok: bool) -> bool {
        let was = self.up();
        let full = self.rise + self.fall - 1;
        if ok {
            if self.level < full {
                self.level += 1;
                if self.level >= self.rise {
                    self.level = full;
                }
            }
        } else if self.level > self.rise {
            self.level -= 1;
        } else {
            self.level = 0;
        }
        self.up() != was
    }

    /// HAProxy's `check_health` field.
    pub(crate) fn level(self) -> u32 {
        self.level
    }
}

/// One TCP connect to the server, within `inter`.
async fn probe(server: &ServerRt, within: Duration) -> CheckReport {
    let started = Instant::now();
    let result = tokio::time::timeout(within, tokio::net::TcpStream::connect(server.addr)).await;
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let (status, desc) = match result {
        Ok(Ok(_)) => (CheckStatus::L4Ok, String::new()),
        Ok(Err(e)) => {
            // The OS error without its "(os error N)" suffix, as HAProxy's info says it.
            let text = e.to_string();
            let text = text
                .split_once(" (os error")
                .map_or(text.as_str(), |(t, _)| t)
                .to_owned();
            (CheckStatus::L4Con, text)
        }
        Err(_) => (CheckStatus::L4Timeout, String::new()),
    };
    CheckReport {
        status,
        duration_ms,
        desc,
    }
}

/// Checks `server` of backend `backend` (whose servers are `siblings`)
/// every `inter`, for as long as its generation lives.
pub(crate) async fn check_server(
    backend: String,
    server: Arc<ServerRt>,
    siblings: Vec<Arc<ServerRt>>,
    backend_counters: Arc<Counters>,
) {
    let model = &server.model;
    let mut health = Health::new(model.rise, model.fall);
    server.health.store(health.level(), Ordering::Relaxed);
    loop {
        tokio::time::sleep(model.inter).await;
        let report = probe(&server, model.inter).await;
        let ok = report.status == CheckStatus::L4Ok;
        if !ok && health.failure_counts() {
            server.counters.chk_fail.inc();
        }
        server.counters.checked(report.clone());
        let changed = health.record(ok);
        server.health.store(health.level(), Ordering::Relaxed);
        if !changed {
            continue;
        }
        let backend_was_up = usable(&siblings);
        server.up.store(ok, Ordering::Relaxed);
        server.counters.state_changed(ok);
        log_change(&backend, &server, &report, &siblings);
        let backend_up = usable(&siblings);
        if backend_up != backend_was_up {
            backend_counters.state_changed(backend_up);
            if !backend_up {
                tracing::error!(backend = %backend, "backend '{backend}' has no server available!");
            }
        }
    }
}

/// Whether a backend has a server to send requests to.
fn usable(servers: &[Arc<ServerRt>]) -> bool {
    servers.iter().any(|s| s.usable())
}

/// HAProxy's line for a server going UP or DOWN, with what the check saw.
fn log_change(backend: &str, server: &ServerRt, report: &CheckReport, siblings: &[Arc<ServerRt>]) {
    let active = siblings
        .iter()
        .filter(|s| s.up.load(Ordering::Relaxed))
        .count();
    let info = if report.desc.is_empty() {
        String::new()
    } else {
        format!(", info: \"{}\"", report.desc)
    };
    let name = &server.name;
    let reason = report.status.reason();
    let ms = report.duration_ms;
    let sessions = server.active.load(Ordering::Relaxed);
    let queued = server.queued.load(Ordering::Relaxed);
    if server.up.load(Ordering::Relaxed) {
        tracing::warn!(
            backend, server = %name, addr = %server.addr, up = true,
            "Server {backend}/{name} is UP, reason: {reason}{info}, check duration: {ms}ms. \
             {active} active and 0 backup servers online. 0 sessions requeued, {queued} total in queue."
        );
    } else {
        tracing::warn!(
            backend, server = %name, addr = %server.addr, up = false,
            "Server {backend}/{name} is DOWN, reason: {reason}{info}, check duration: {ms}ms. \
             {active} active and 0 backup servers left. {sessions} sessions active, 0 requeued, \
             {queued} remaining in queue."
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_health_counter_is_haproxys() {
        // Starts up but fragile: one failure takes it down.
        let mut h = Health::new(2, 3);
        assert!(h.up());
        assert!(h.record(false));
        assert!(!h.up());
        // `rise` successes bring it back, filling the counter.
        assert!(!h.record(true));
        assert!(h.record(true));
        assert_eq!(h.level(), 4);
        // Then `fall` failures in a row take it down.
        assert!(!h.record(false));
        assert!(!h.record(false));
        assert!(h.record(false));
        assert_eq!(h.level(), 0);
        // A success while up refills it.
        let mut h = Health::new(2, 3);
        h.record(true);
        h.record(false);
        h.record(true);
        assert_eq!(h.level(), 4);
    }
}
