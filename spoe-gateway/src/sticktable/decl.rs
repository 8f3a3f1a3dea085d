//! A `stick-table` line as the configuration declares it.

use super::data::Store;
use super::key::KeyType;

/// `stick-table type T [len N] size N [expire D] [nopurge] [peers P] [store ...]` of a
/// proxy: the table takes the proxy's name.
#[derive(Debug, Clone)]
pub(crate) struct StickTableDecl {
    /// The proxy's name.
    pub(crate) name: String,
    pub(crate) key: KeyType,
    /// The most entries it holds.
    pub(crate) size: usize,
    /// Milliseconds after its last change an untracked entry goes (`None`: never).
    pub(crate) expire: Option<u32>,
    /// A full table refuses new keys instead of evicting the oldest.
    pub(crate) nopurge: bool,
    /// The `peers` section named (its only peer is this process: checked when read).
    pub(crate) peers: Option<String>,
    pub(crate) store: Store,
}

impl StickTableDecl {
    /// Whether a reload may hand this table's entries to `next` (a `peers` section keeps
    /// them, as HAProxy's local peer does, when the key type is the same).
    pub(crate) fn carries_to(&self, next: &Self) -> bool {
        self.peers.is_some() && next.peers.is_some() && self.key == next.key
    }
}
