//! Whether a new connection is served at once or waits for a slot under
//! [`crate::Config::max_connections`].

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Whether a connection is served, or must first wait for a free slot.
pub(crate) enum Admission {
    /// Served, holding its slot (none when served outside a limit).
    Admitted(Option<OwnedSemaphorePermit>),
    /// `max_connections` were open when it came: after its HELLO it waits up
    /// to `wait` for a slot, else is refused with AGENT-DISCONNECT 13.
    /// Health checks are answered without a slot.
    OverLimit {
        slots: Arc<Semaphore>,
        wait: Duration,
        /// Counts it among the connections waiting; dropped once it has a
        /// slot or is refused.
        waiting: CountGuard,
    },
}

/// One unit of a shared count, given back on drop (also when a task panics).
pub(crate) struct CountGuard(Arc<AtomicUsize>);

impl CountGuard {
    pub(crate) fn take(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count.clone())
    }
}

impl Drop for CountGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
