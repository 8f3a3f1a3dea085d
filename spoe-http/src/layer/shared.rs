//! What every service and request of one layer shares.

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use arc_swap::ArcSwap;

use super::generation::Generation;
use super::metrics::LayerMetrics;
use super::settings::{ConfigSource, Settings};
use crate::vars::SharedVars;

/// What every service of a layer shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) current: ArcSwap<Generation>,
    pub(crate) settings: Settings,
    /// `proc.` variables.
    pub(crate) proc_vars: SharedVars,
    pub(crate) metrics: LayerMetrics,
    pub(crate) next_sid: AtomicU64,
    /// Where `spoe.conf` comes from, locked for the length of a reload.
    pub(crate) source: Mutex<ConfigSource>,
    pub(crate) next_generation: AtomicU64,
}
