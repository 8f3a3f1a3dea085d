//! One stick table: entries in shards (each behind its own lock, so that worker threads
//! rarely wait for each other), at most `size` of them, each expiring `expire` after it was
//! last touched unless a stream tracks it. A new key in a full table evicts the oldest
//! untracked entries first, as HAProxy's `stktable_trash_oldest()` does, unless `nopurge`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::data::{Store, Value, Values};
use super::decl::StickTableDecl;
use super::key::KeyType;

/// How many shards a table has (a power of two).
const SHARDS: usize = 16;

/// The table's clock: milliseconds, wrapping as HAProxy's `now_ms` (which starts far from
/// zero, so the first rate period starts at the first event, as in HAProxy).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock(tokio::time::Instant);

impl Clock {
    pub(crate) fn new() -> Self {
        Self(tokio::time::Instant::now())
    }

    /// The current tick.
    pub(crate) fn now(self) -> u32 {
        const START: u32 = 0x4000_0000;
        (self.0.elapsed().as_millis() as u32).wrapping_add(START)
    }
}

/// One key's entry.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) key: Box<[u8]>,
    /// The streams tracking it (`use` in `show table`): never expired nor evicted meanwhile.
    pub(crate) refs: AtomicU32,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// When it expires, unless tracked (`None`: the table has no `expire`).
    expire: Option<u32>,
    values: Box<[Value]>,
}

/// Whether `tick` is at or before `now` (HAProxy's `tick_is_expired()`).
fn expired(tick: Option<u32>, now: u32) -> bool {
    tick.is_some_and(|t| (now.wrapping_sub(t) as i32) >= 0)
}

type Shard = HashMap<Box<[u8]>, Arc<Entry>>;

/// A stick table at run time.
#[derive(Debug)]
pub(crate) struct StickTable {
    pub(crate) decl: StickTableDecl,
    shards: Box<[Mutex<Shard>]>,
    used: AtomicUsize,
    pub(crate) clock: Clock,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl StickTable {
    pub(crate) fn new(decl: StickTableDecl) -> Self {
        Self {
            decl,
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            used: AtomicUsize::new(0),
            clock: Clock::new(),
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.decl.name
    }

    pub(crate) fn key_type(&self) -> KeyType {
        self.decl.key
    }

    pub(crate) fn store(&self) -> &Store {
        &self.decl.store
    }

    /// `size`.
    pub(crate) fn size(&self) -> usize {
        self.decl.size
    }

    /// The entries in use (`used` in `show table`, `table_cnt`).
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn shard(&self, key: &[u8]) -> &Mutex<Shard> {
        // FNV-1a: the shard only spreads the locks; the map inside hashes with SipHash.
        let h = key.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
        &self.shards[(h as usize) & (SHARDS - 1)]
    }

    fn expire_at(&self, now: u32) -> Option<u32> {
        self.decl.expire.map(|e| now.wrapping_add(e))
    }

    /// The entry of `key`, if it exists and has not expired (`stktable_lookup_key()`).
    pub(crate) fn lookup(&self, key: &[u8]) -> Option<Arc<Entry>> {
        let now = self.clock.now();
        let shard = lock(self.shard(key));
        let entry = shard.get(key)?;
        let live =
            entry.refs.load(Ordering::Relaxed) > 0 || !expired(lock(&entry.state).expire, now);
        live.then(|| entry.clone())
    }

    /// The entry of `key`, created when missing (`stktable_get_entry()`), with one more
    /// reference (the caller gives it back with [`release`](Self::release)); `None` when the
    /// table is full and nothing can be evicted (`nopurge`, or every entry tracked).
    pub(crate) fn get_or_create(&self, key: Box<[u8]>) -> Option<Arc<Entry>> {
        loop {
            let now = self.clock.now();
            {
                let mut shard = lock(self.shard(&key));
                if let Some(entry) = shard.get(&key) {
                    let mut state = lock(&entry.state);
                    if entry.refs.load(Ordering::Relaxed) == 0 && expired(state.expire, now) {
                        // Expired, not purged yet: a new entry for the same key.
                        state.values = self.decl.store.fresh();
                        state.expire = self.expire_at(now);
                    }
                    drop(state);
                    entry.refs.fetch_add(1, Ordering::AcqRel);
                    return Some(entry.clone());
                }
                let size = self.decl.size;
                if self
                    .used
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                        (u < size).then_some(u + 1)
                    })
                    .is_ok()
                {
                    let entry = Arc::new(Entry {
                        key: key.clone(),
                        refs: AtomicU32::new(1),
                        state: Mutex::new(State {
                            expire: self.expire_at(now),
                            values: self.decl.store.fresh(),
                        }),
                    });
                    shard.insert(key, entry.clone());
                    return Some(entry);
                }
            }
            // Full: expired entries go first, then the oldest untracked ones.
            if self.decl.nopurge || (self.purge_expired() == 0 && !self.evict_oldest()) {
                return None;
            }
        }
    }

    /// Gives back a reference [`get_or_create`](Self::get_or_create) took.
    pub(crate) fn release(&self, entry: &Entry) {
        entry.refs.fetch_sub(1, Ordering::AcqRel);
    }

    /// Runs `f` on the values of `entry` and touches it (its expiry starts again), as
    /// HAProxy's `stktable_touch_local()` after a change.
    pub(crate) fn update<R>(&self, entry: &Entry, f: impl FnOnce(&mut Values<'_>) -> R) -> R {
        let now = self.clock.now();
        let mut state = lock(&entry.state);
        state.expire = self.expire_at(now);
        let mut values = Values {
            store: &self.decl.store,
            values: &mut state.values,
            now,
        };
        f(&mut values)
    }

    /// Runs `f` on the values of `entry` without touching it.
    pub(crate) fn read<R>(&self, entry: &Entry, f: impl FnOnce(&mut Values<'_>) -> R) -> R {
        let now = self.clock.now();
        let mut state = lock(&entry.state);
        let mut values = Values {
            store: &self.decl.store,
            values: &mut state.values,
            now,
        };
        f(&mut values)
    }

    /// Milliseconds before `entry` expires (`exp` in `show table`: 0 when past, or without
    /// `expire`).
    pub(crate) fn remaining(&self, entry: &Entry) -> i64 {
        let now = self.clock.now();
        match lock(&entry.state).expire {
            Some(t) if !expired(Some(t), now) => i64::from(t.wrapping_sub(now)),
            _ => 0,
        }
    }

    /// Removes the expired untracked entries (`process_table_expire()`); how many.
    pub(crate) fn purge_expired(&self) -> usize {
        let now = self.clock.now();
        let mut removed = 0;
        for shard in &self.shards {
            let mut shard = lock(shard);
            shard.retain(|_, e| {
                let keep =
                    e.refs.load(Ordering::Relaxed) > 0 || !expired(lock(&e.state).expire, now);
                removed += usize::from(!keep);
                keep
            });
        }
        self.used.fetch_sub(removed, Ordering::AcqRel);
        removed
    }

    /// Evicts the `size / 256 + 1` untracked entries that expire first, as HAProxy makes
    /// room in a full table; `false` when every entry is tracked.
    fn evict_oldest(&self) -> bool {
        let batch = self.decl.size / 256 + 1;
        let now = self.clock.now();
        let mut candidates: Vec<(i64, Box<[u8]>)> = Vec::new();
        for shard in &self.shards {
            for (key, e) in lock(shard).iter() {
                if e.refs.load(Ordering::Relaxed) == 0 {
                    let left = lock(&e.state)
                        .expire
                        .map_or(i64::MAX, |t| i64::from(t.wrapping_sub(now) as i32));
                    candidates.push((left, key.clone()));
                }
            }
        }
        if candidates.is_empty() {
            return false;
        }
        let batch = batch.min(candidates.len());
        candidates.select_nth_unstable_by_key(batch - 1, |(left, _)| *left);
        let mut removed = 0;
        for (_, key) in &candidates[..batch] {
            let mut shard = lock(self.shard(key));
            if shard
                .get(key)
                .is_some_and(|e| e.refs.load(Ordering::Relaxed) == 0)
            {
                shard.remove(key);
                removed += 1;
            }
        }
        self.used.fetch_sub(removed, Ordering::AcqRel);
        removed > 0
    }

    /// Every live entry, in HAProxy's order (by key bytes).
    pub(crate) fn entries(&self) -> Vec<Arc<Entry>> {
        self.purge_expired();
        let mut all: Vec<Arc<Entry>> = self
            .shards
            .iter()
            .flat_map(|s| lock(s).values().cloned().collect::<Vec<_>>())
            .collect();
        all.sort_by(|a, b| a.key.cmp(&b.key));
        all
    }

    /// Removes `entry` unless tracked (`clear table`); whether it was removed.
    pub(crate) fn remove(&self, entry: &Entry) -> bool {
        let mut shard = lock(self.shard(&entry.key));
        if entry.refs.load(Ordering::Relaxed) > 0 {
            return false;
        }
        let gone = shard.remove(&entry.key).is_some();
        if gone {
            self.used.fetch_sub(1, Ordering::AcqRel);
        }
        gone
    }
}
