//! The balancing state a backend keeps of its servers' states (`crate::balance` builds and
//! reads it): here, with the runtime state it is part of, so that what changes a server's
//! state (checks, trackers, the runtime API, name resolution) says so without depending on
//! the balancing code.

use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwapOption;

/// Bumped after every change of what decides the servers a request may go to: a server's
/// health (`up`, drained), its administrative state or its weight, in any backend. Such
/// changes come from checks, trackers, the runtime API and name resolution, seconds apart;
/// requests come thousands a second: each backend's [`Choice`] is rebuilt only when this
/// moves (one process-wide counter: a change elsewhere only costs a rebuild).
static SERVERS_EPOCH: AtomicU64 = AtomicU64::new(0);

/// Says that a server's health, state or weight changed, after the change is stored: the
/// next request of every backend rebuilds its [`Choice`].
pub(crate) fn servers_changed() {
    SERVERS_EPOCH.fetch_add(1, Ordering::Release);
}

/// What a backend's balancing reads of its servers' states, built once per change of them
/// (per [`SERVERS_EPOCH`]) instead of once per request.
#[derive(Debug)]
pub(crate) struct Choice {
    /// The [`SERVERS_EPOCH`] it was built at.
    pub(crate) epoch: u64,
    /// The servers that take requests: the active ones up, or when none is, the first backup
    /// up (every backup up with `option allbackups`), in configuration order.
    pub(crate) candidates: Vec<usize>,
    /// A hash-balanced backend's map of `crate::balance::by_hash` (`None`: not hash-balanced, or no
    /// candidate with a weight): the server of every slot, a key's at `key % length`.
    pub(crate) map: Option<Vec<usize>>,
}

/// A backend's [`Choice`] as last built (`None` until its first request).
#[derive(Debug, Default)]
pub(crate) struct Chosen(pub(crate) ArcSwapOption<Choice>);

/// The [`SERVERS_EPOCH`] now: a [`Choice`] built at another is out of date.
pub(crate) fn servers_epoch() -> u64 {
    SERVERS_EPOCH.load(Ordering::Acquire)
}
