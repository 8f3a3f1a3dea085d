//! A `cache NAME` section as read (`cfg_parse_cache()` in HAProxy 2.6's `src/cache.c`).

/// HAProxy's cache block: memory is reserved by blocks of this size.
pub(crate) const BLOCK_SIZE: u64 = 1024;

/// `max-secondary-entries` when the section does not say.
pub(crate) const DEFAULT_MAX_SECONDARY_ENTRIES: usize = 10;

/// `max-age` when the section does not say (seconds).
pub(crate) const DEFAULT_MAX_AGE: i64 = 60;

/// One `cache` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CacheDecl {
    /// Its name (at most 32 characters, as HAProxy truncates it).
    pub(crate) name: String,
    /// `total-max-size` in blocks of [`BLOCK_SIZE`].
    pub(crate) max_blocks: u64,
    /// `max-object-size` in bytes (default: a 256th of the total).
    pub(crate) max_object_size: u64,
    /// `max-age` in seconds: the longest an object stays fresh.
    pub(crate) max_age: i64,
    /// `process-vary on`.
    pub(crate) process_vary: bool,
    /// `max-secondary-entries`: objects of one URI that differ by `Vary`.
    pub(crate) max_secondary_entries: usize,
}
