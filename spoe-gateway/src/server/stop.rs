//! Stopping: the registry of open client connections, the stop that waits
//! for them within `hard-stop-after`, and the cut when that bound runs out.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tracing::{info, warn};

use super::exchange::{Exchange, Phase};
use super::{DEFAULT_HARD_STOP_AFTER, Gateway, LiveConn, STOP_PROGRESS_EVERY};
use crate::proxy::Session;

/// How long a stop waits, after cutting connections, for their tasks to
/// end and write their access lines.
const FORCED_CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Unregisters a connection when its task ends. It owns its gateway (an
/// `Arc`, as big as a reference) so that a connection's future, which keeps
/// it, borrows nothing.
pub(super) struct LiveGuard {
    gateway: Arc<Gateway>,
    id: u64,
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.gateway
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.id);
    }
}

impl Gateway {
    /// Counts a client connection as open until the guard drops; an HTTP connection's
    /// `session` is woken by the stop when it waits for its next request.
    pub(super) fn register(
        self: &Arc<Self>,
        accepted: tokio::time::Instant,
        exchange: Arc<Exchange>,
        session: Option<Arc<Session>>,
    ) -> LiveGuard {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let conn = LiveConn {
            accepted,
            exchange,
            session,
        };
        self.live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, conn);
        LiveGuard {
            gateway: self.clone(),
            id,
        }
    }

    /// Where every open connection is: (accepted at, phase).
    fn live_snapshots(&self) -> Vec<(tokio::time::Instant, Phase)> {
        self.live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .map(|c| (c.accepted, c.exchange.phase()))
            .collect()
    }

    /// The stop's progress line: what it still waits for.
    fn log_stop_progress(&self) {
        let live = self.live_snapshots();
        let requests = live
            .iter()
            .filter(|(_, phase)| *phase != Phase::Idle)
            .count();
        let oldest = live.iter().map(|(at, _)| at.elapsed()).max();
        match oldest {
            Some(age) => info!(
                connections = live.len(),
                requests,
                "stopping: waiting for {} client connection(s) ({requests} with a request in progress), the oldest open for {:.1}s",
                live.len(),
                age.as_secs_f64()
            ),
            None => info!(
                generations = self.generations_alive(),
                "stopping: waiting for the SPOE engines to drain"
            ),
        }
    }

    /// The stop's bound ran out: closes every connection, and says how many
    /// in a summary. Each request in progress writes its own access line as
    /// it is cut (termination state `K` and the phase it was in: `KR`,
    /// `KH`, `KD`).
    fn close_by_force(&self, why: &str, fast: bool) {
        let live = self.live_snapshots();
        if live.is_empty() && fast {
            // A fast stop of an idle gateway: nothing was cut.
            self.killed.cancel();
            return;
        }
        let requests = live
            .iter()
            .filter(|(_, phase)| *phase != Phase::Idle)
            .count();
        warn!(
            connections = live.len(),
            requests,
            "{why}: closing {} client connection(s) by force ({requests} with a request in progress)",
            live.len()
        );
        // First the state the access lines read, then the cut.
        self.killing.store(true, Ordering::Relaxed);
        self.killed.cancel();
    }

    /// Stops gracefully: listeners close, each connection finishes its
    /// current request, engines drain; everything is bounded by
    /// `hard-stop-after`. Every [`STOP_PROGRESS_EVERY`] the log says what
    /// the stop waits for; when the bound runs out, each connection closed
    /// by force gets its access line and a summary says how many. With
    /// `fast`, connections are closed at once (and logged the same way).
    pub async fn stop(&self, fast: bool) {
        self.stopping.cancel();
        // An HTTP/1 connection waiting for its next request watches no future of the stop's:
        // it is woken here, and sees `stopping` cancelled (`http1::wait_idle`).
        for conn in self
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
        {
            if let Some(session) = &conn.session {
                session.idle.wake();
            }
        }
        self.listeners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
        let generation = self.current();
        let configured = generation.config.global.hard_stop_after;
        let bound = if fast {
            Duration::ZERO
        } else {
            configured.unwrap_or(DEFAULT_HARD_STOP_AFTER)
        };
        self.connections.close();
        self.retiring.close();
        let finished = async {
            self.connections.wait().await;
            generation.drain();
            generation.drained().await;
            self.retiring.wait().await;
        };
        tokio::pin!(finished);
        let deadline = tokio::time::Instant::now() + bound;
        let mut progress = tokio::time::interval_at(
            tokio::time::Instant::now() + STOP_PROGRESS_EVERY,
            STOP_PROGRESS_EVERY,
        );
        let in_time = loop {
            tokio::select! {
                biased;
                () = &mut finished => break true,
                () = tokio::time::sleep_until(deadline) => break false,
                _ = progress.tick() => self.log_stop_progress(),
            }
        };
        if !in_time {
            let why = match (fast, configured) {
                (true, _) => "fast stop".to_owned(),
                (false, Some(d)) => format!("hard-stop-after {d:?} reached"),
                (false, None) => {
                    format!("stop bound {bound:?} reached (hard-stop-after is not set)")
                }
            };
            self.close_by_force(&why, fast);
            // Each cut connection writes its access line as its task ends:
            // give them that moment (they end at once: nothing is awaited).
            let _ = tokio::time::timeout(FORCED_CLOSE_GRACE, self.connections.wait()).await;
        }
        info!("gateway stopped");
    }
}
