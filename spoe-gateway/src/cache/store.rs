//! One cache's objects: found by URI (and by secondary key when they vary), fresh until their
//! expiry, bounded by `total-max-size` in HAProxy's blocks, the least recently used evicted
//! first (HAProxy's shared context hands out the blocks of the rows used longest ago). The
//! lock is a plain mutex held for a map operation, never across an await; a hit shares the
//! stored body (reference-counted bytes), so serving copies nothing.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use hyper::StatusCode;
use hyper::header::HeaderMap;

use super::decl::{BLOCK_SIZE, CacheDecl};
use super::vary::SecondaryKey;

/// What HAProxy's `struct cache_entry` takes before the object (64-bit).
const ENTRY_OVERHEAD: u64 = 120;

/// HAProxy stores a message as HTX blocks: 4 bytes of block information each; the status line
/// adds its `struct htx_sl` (24 bytes) and the version, status and reason; the body goes in
/// data blocks of about a buffer each.
const HTX_BLOCK: u64 = 4;
const HTX_STATUS_LINE: u64 = 24;
const HTX_DATA_BLOCK: u64 = 15_360;

/// A stored response.
#[derive(Debug)]
pub(crate) struct Entry {
    /// Status (and its reason when not the usual one) and headers as `cache-store` saw them,
    /// without `Age`.
    pub(crate) status: StatusCode,
    pub(crate) reason: Option<hyper::ext::ReasonPhrase>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// Expiry, in seconds since the epoch.
    pub(crate) expire: i64,
    /// When it was stored (seconds since the epoch).
    pub(crate) stored_at: i64,
    /// The origin's `Age` when stored.
    pub(crate) age: i64,
    /// What an `If-Modified-Since` is compared to.
    pub(crate) last_modified: i64,
    /// Its `ETag` value.
    pub(crate) etag: Option<String>,
    /// The headers it varies on (signature bits) and its secondary key.
    pub(crate) vary: Option<(u32, SecondaryKey)>,
}

impl Entry {
    /// Bytes it takes as HAProxy counts them (`show cache`'s `size`, within a few bytes):
    /// the entry, the head, the body.
    pub(crate) fn size(&self) -> u64 {
        let reason = self.reason.as_ref().map_or_else(
            || self.status.canonical_reason().unwrap_or_default().len(),
            |r| r.as_bytes().len(),
        );
        let status_line = HTX_BLOCK + HTX_STATUS_LINE + "HTTP/1.1".len() as u64 + 3 + reason as u64;
        let fields: u64 = self
            .headers
            .iter()
            .map(|(n, v)| HTX_BLOCK + (n.as_str().len() + v.len()) as u64)
            .sum();
        let body = self.body.len() as u64;
        let data = body + HTX_BLOCK * body.div_ceil(HTX_DATA_BLOCK);
        // The end of headers is a block too.
        ENTRY_OVERHEAD + status_line + fields + HTX_BLOCK + data
    }

    /// `Age` on a hit at `now`: the time since it was stored plus the origin's.
    pub(crate) fn age_at(&self, now: i64) -> i64 {
        (now - self.stored_at).max(0) + self.age
    }

    fn blocks(&self) -> u64 {
        self.size().div_ceil(BLOCK_SIZE)
    }
}

/// A lookup's answer.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// A fresh object for the request.
    Hit(Arc<Entry>),
    /// None: the request's secondary key, when one was built (to store a varying response).
    Miss(Option<SecondaryKey>),
}

/// Why an object was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Larger than `max-object-size` (or the whole cache).
    TooLarge,
    /// `max-secondary-entries` objects of this URI already.
    TooManyVariants,
}

/// A cache.
#[derive(Debug)]
pub(crate) struct Store {
    pub(crate) decl: CacheDecl,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// The objects of each key, oldest first.
    objects: HashMap<String, Vec<Slot>>,
    /// Use order: tick of last use to the object's key.
    lru: BTreeMap<u64, String>,
    tick: u64,
    used_blocks: u64,
}

#[derive(Debug)]
struct Slot {
    entry: Arc<Entry>,
    /// Its last use, its key in `Inner::lru`.
    tick: u64,
}

impl Store {
    pub(crate) fn new(decl: CacheDecl) -> Self {
        Self {
            decl,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Looks up `key` at `now`; `secondary` builds the request's secondary key for a
    /// signature (`None`: the request cannot be matched). As HAProxy's
    /// `http_action_req_cache_use()`: the first object of the key decides whether it varies;
    /// without any object and with `process-vary on`, the key of every header is built.
    pub(crate) fn lookup(
        &self,
        key: &str,
        now: i64,
        secondary: impl Fn(u32) -> Option<SecondaryKey>,
    ) -> Lookup {
        let mut inner = self.lock();
        inner.drop_expired_first(key, now);
        let signature = match inner.objects.get(key).and_then(|s| s.first()) {
            None => {
                drop(inner);
                return Lookup::Miss(
                    self.decl
                        .process_vary
                        .then(|| secondary(super::vary::ALL))
                        .flatten(),
                );
            }
            Some(first) => first.entry.vary.map(|(sig, _)| sig),
        };
        let index = match signature {
            None => Some(0),
            Some(sig) => {
                let Some(wanted) = secondary(sig) else {
                    return Lookup::Miss(None);
                };
                let found = inner.objects.get(key).and_then(|slots| {
                    slots.iter().position(|s| {
                        s.entry
                            .vary
                            .is_some_and(|(_, stored)| stored.serves(wanted))
                    })
                });
                match found {
                    Some(i) if inner.objects[key][i].entry.expire <= now => {
                        inner.remove(key, i);
                        return Lookup::Miss(Some(wanted));
                    }
                    None => return Lookup::Miss(Some(wanted)),
                    found => found,
                }
            }
        };
        match index {
            Some(i) => Lookup::Hit(inner.touch(key, i)),
            None => Lookup::Miss(None),
        }
    }

    /// Drops the first object of `key`: a successful unsafe request changed it.
    pub(crate) fn invalidate(&self, key: &str) {
        let mut inner = self.lock();
        if inner.objects.get(key).is_some_and(|s| !s.is_empty()) {
            inner.remove(key, 0);
        }
    }

    /// Stores `entry` under `key` at `now`, replacing the object it would be served for,
    /// evicting the least recently used objects until it fits.
    pub(crate) fn insert(&self, key: &str, entry: Entry, now: i64) -> Result<(), Refused> {
        let blocks = entry.blocks();
        if entry.size() > self.decl.max_object_size || blocks > self.decl.max_blocks {
            return Err(Refused::TooLarge);
        }
        let mut inner = self.lock();
        inner.drop_expired_first(key, now);
        // The object this one replaces.
        let old = inner.objects.get(key).and_then(|slots| match entry.vary {
            None => (!slots.is_empty()).then_some(0),
            Some((_, new)) => slots.iter().position(|s| {
                s.entry
                    .vary
                    .is_some_and(|(_, stored)| stored.serves(new) && new.serves(stored))
            }),
        });
        if let Some(i) = old {
            inner.remove(key, i);
        }
        if entry.vary.is_some() {
            let live = inner
                .objects
                .get(key)
                .map_or(0, |s| s.iter().filter(|s| s.entry.expire > now).count());
            if live >= self.decl.max_secondary_entries {
                return Err(Refused::TooManyVariants);
            }
        }
        while inner.used_blocks + blocks > self.decl.max_blocks {
            let Some((tick, oldest)) = inner.lru.pop_first() else {
                break;
            };
            inner.evict(&oldest, tick);
        }
        inner.tick += 1;
        let tick = inner.tick;
        inner.lru.insert(tick, key.to_owned());
        inner.used_blocks += blocks;
        inner.objects.entry(key.to_owned()).or_default().push(Slot {
            entry: Arc::new(entry),
            tick,
        });
        Ok(())
    }

    /// Blocks HAProxy would report available: every block but those of objects being
    /// served (its stored objects stay in the list of blocks it takes from, oldest first).
    pub(crate) fn available_blocks(&self) -> u64 {
        let inner = self.lock();
        let busy: u64 = inner
            .objects
            .values()
            .flatten()
            .filter(|s| Arc::strong_count(&s.entry) > 1)
            .map(|s| s.entry.blocks())
            .sum();
        self.decl.max_blocks - busy
    }

    /// The objects, for `show cache`: `(key, entry, blocks)`, fresh ones only.
    pub(crate) fn objects(&self, now: i64) -> Vec<(String, Arc<Entry>)> {
        let inner = self.lock();
        inner
            .objects
            .iter()
            .flat_map(|(k, slots)| slots.iter().map(move |s| (k.clone(), s.entry.clone())))
            .filter(|(_, e)| e.expire > now)
            .collect()
    }

    /// HAProxy's `show cache` lines of this cache (`id` stands for its address).
    pub(crate) fn show(&self, id: usize, now: i64, out: &mut String) {
        let _ = writeln!(
            out,
            "{:#x}: {} (shctx:{:#x}, available blocks:{})",
            0x1000 * (id + 1),
            self.decl.name,
            0x1000 * (id + 1) - 0x40,
            self.available_blocks()
        );
        let mut objects: Vec<(u32, Arc<Entry>)> = self
            .objects(now)
            .into_iter()
            .map(|(k, e)| (hash(&k), e))
            .collect();
        objects.sort_by_key(|(h, _)| *h);
        for (i, (h, e)) in objects.iter().enumerate() {
            let vary: String = e
                .vary
                .map(|(_, k)| k.bytes())
                .unwrap_or_default()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let _ = writeln!(
                out,
                "{:#x} hash:{h} vary:0x{vary} size:{} ({} blocks), refcount:{}, expire:{}",
                0x1000 * (id + 1) + 0x400 * (i + 1),
                e.size(),
                e.blocks(),
                Arc::strong_count(e) - 2,
                e.expire - now
            );
        }
    }
}

/// The first word of the SHA-1 of a key, HAProxy's tree key (`hash:` of `show cache`).
pub(crate) fn hash(key: &str) -> u32 {
    let d = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, key.as_bytes());
    let b = d.as_ref();
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

impl Inner {
    /// HAProxy's `entry_exist()`: a first object past its expiry is dropped.
    fn drop_expired_first(&mut self, key: &str, now: i64) {
        if self
            .objects
            .get(key)
            .and_then(|s| s.first())
            .is_some_and(|s| s.entry.expire <= now)
        {
            self.remove(key, 0);
        }
    }

    fn remove(&mut self, key: &str, index: usize) {
        let Some(slots) = self.objects.get_mut(key) else {
            return;
        };
        let slot = slots.remove(index);
        if slots.is_empty() {
            self.objects.remove(key);
        }
        self.lru.remove(&slot.tick);
        self.used_blocks -= slot.entry.blocks();
    }

    /// An object was used: it becomes the most recently used.
    fn touch(&mut self, key: &str, index: usize) -> Arc<Entry> {
        self.tick += 1;
        let tick = self.tick;
        let slot = &mut self.objects.get_mut(key).expect("the caller found it")[index];
        let old = std::mem::replace(&mut slot.tick, tick);
        let entry = slot.entry.clone();
        self.lru.remove(&old);
        self.lru.insert(tick, key.to_owned());
        entry
    }

    /// Evicts the object of `key` last used at `tick` (popped from the use order).
    fn evict(&mut self, key: &str, tick: u64) {
        let Some(slots) = self.objects.get_mut(key) else {
            return;
        };
        if let Some(i) = slots.iter().position(|s| s.tick == tick) {
            let slot = slots.remove(i);
            if slots.is_empty() {
                self.objects.remove(key);
            }
            self.used_blocks -= slot.entry.blocks();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::vary::{ACCEPT_ENCODING, SecondaryKey};

    fn decl(max_blocks: u64) -> CacheDecl {
        CacheDecl {
            name: "c".into(),
            max_blocks,
            max_object_size: max_blocks * BLOCK_SIZE / 2,
            max_age: 60,
            process_vary: true,
            max_secondary_entries: 2,
        }
    }

    fn entry(body_len: usize, expire: i64) -> Entry {
        Entry {
            status: StatusCode::OK,
            reason: None,
            headers: HeaderMap::new(),
            body: Bytes::from(vec![b'x'; body_len]),
            expire,
            stored_at: 0,
            age: 0,
            last_modified: 0,
            etag: None,
            vary: None,
        }
    }

    fn hit(store: &Store, key: &str, now: i64) -> bool {
        matches!(store.lookup(key, now, |_| None), Lookup::Hit(_))
    }

    #[test]
    fn fresh_until_expiry() {
        let s = Store::new(decl(100));
        s.insert("a", entry(10, 10), 0).unwrap();
        assert!(hit(&s, "a", 9));
        assert!(!hit(&s, "a", 10));
        assert!(!hit(&s, "a", 10), "the stale object was dropped");
    }

    #[test]
    fn least_recently_used_is_evicted() {
        let s = Store::new(decl(10));
        // Three blocks each: three fit in ten.
        for k in ["a", "b", "c"] {
            s.insert(k, entry(2500, 100), 0).unwrap();
        }
        assert!(hit(&s, "a", 1), "a is now the most recently used");
        s.insert("d", entry(2500, 100), 1).unwrap();
        assert!(!hit(&s, "b", 1), "b was the least recently used");
        assert!(hit(&s, "a", 1) && hit(&s, "c", 1) && hit(&s, "d", 1));
        assert_eq!(s.lock().used_blocks, 9);
    }

    #[test]
    fn objects_larger_than_the_bound_are_refused() {
        let s = Store::new(decl(10));
        assert_eq!(s.insert("a", entry(6000, 100), 0), Err(Refused::TooLarge));
        assert!(!hit(&s, "a", 0));
    }

    #[test]
    fn variants_of_one_uri() {
        let s = Store::new(decl(100));
        let mut h = HeaderMap::new();
        let key_of = |enc: &str, h: &mut HeaderMap| {
            h.insert("accept-encoding", enc.parse().unwrap());
            SecondaryKey::of_request(h, ACCEPT_ENCODING).unwrap()
        };
        let mut gz = entry(10, 100);
        let mut res = HeaderMap::new();
        res.insert("content-encoding", "gzip".parse().unwrap());
        gz.vary = Some((
            ACCEPT_ENCODING,
            key_of("gzip", &mut h)
                .stored(ACCEPT_ENCODING, &res)
                .unwrap(),
        ));
        s.insert("u", gz, 0).unwrap();
        let mut plain = entry(10, 100);
        plain.vary = Some((
            ACCEPT_ENCODING,
            key_of("br", &mut h)
                .stored(ACCEPT_ENCODING, &HeaderMap::new())
                .unwrap(),
        ));
        s.insert("u", plain, 0).unwrap();
        let gzip_ok = key_of("gzip", &mut h);
        let br_only = key_of("identity;q=0, br", &mut h);
        assert!(matches!(
            s.lookup("u", 1, |_| Some(gzip_ok)),
            Lookup::Hit(_)
        ));
        assert!(matches!(
            s.lookup("u", 1, |_| Some(br_only)),
            Lookup::Miss(Some(_))
        ));
        let mut third = entry(10, 100);
        third.vary = Some((ACCEPT_ENCODING, br_only));
        assert_eq!(s.insert("u", third, 1), Err(Refused::TooManyVariants));
    }

    #[test]
    fn show_cache_prints_haproxy_lines() {
        let s = Store::new(decl(100));
        s.insert("https://h/a", entry(10, 50), 0).unwrap();
        let mut out = String::new();
        s.show(0, 20, &mut out);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "0x1000: c (shctx:0xfc0, available blocks:100)");
        assert!(
            lines[1].contains(&format!(
                "hash:{} vary:0x0000000000000000 size:",
                hash("https://h/a")
            )),
            "{}",
            lines[1]
        );
        assert!(
            lines[1].ends_with("(1 blocks), refcount:0, expire:30"),
            "{}",
            lines[1]
        );
    }
}
