//! A table whose entries are set once and then only read, without a lock:
//! for what a request looks up on every call and adds rarely (the names an
//! agent sets under `force-set-var`, a host's metrics by label values).
//!
//! Why not a `Mutex` or an `RwLock` around a map: taking and releasing
//! either is two atomic read-modify-writes, 10 to 30 ns on an idle core and
//! more when another worker holds the line, paid on every hit. Here a hit is
//! plain loads (a set [`OnceLock`] is read with an acquire load, a `mov` on
//! x86) and the comparisons; only the first insertion of an entry writes.
//!
//! The slots are open-addressed from the entry's hash and probed at most
//! [`MAX_PROBES`] deep; an entry that finds no free slot within them is not
//! kept ([`OnceTable::find_or_insert`] hands it back), so a lookup costs a
//! bounded number of comparisons whatever was inserted before. Nothing is
//! ever removed: the table is for sets a configuration (or a cap) bounds.

use std::sync::OnceLock;

/// The slots a lookup probes at most from its hash's.
pub const MAX_PROBES: usize = 16;

/// Set-once entries in a fixed number of slots, allocated at the first
/// insertion.
pub struct OnceTable<T> {
    capacity: usize,
    slots: OnceLock<Box<[OnceLock<T>]>>,
}

impl<T> OnceTable<T> {
    /// A table of `capacity` slots (rounded up to a power of two, at least
    /// one), none allocated yet.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1).next_power_of_two(),
            slots: OnceLock::new(),
        }
    }

    /// The entry `matches` accepts among those probed from `hash`; when none
    /// does, `make()`'s, kept in the first free slot probed. `Err` with
    /// `make()`'s entry when the probed slots are all taken by others.
    ///
    /// Two callers that miss the same entry at once reach the same free
    /// slot: one makes the entry, the other waits for it there and finds it
    /// (its `make` is not called).
    pub fn find_or_insert(
        &self,
        hash: u64,
        matches: impl Fn(&T) -> bool,
        make: impl FnOnce() -> T,
    ) -> Result<&T, T> {
        let slots = self.slots.get_or_init(|| {
            (0..self.capacity)
                .map(|_| OnceLock::new())
                .collect::<Vec<_>>()
                .into_boxed_slice()
        });
        let mask = self.capacity - 1;
        // Truncated on 32-bit targets: the low bits pick the slot.
        let start = hash as usize;
        let mut make = Some(make);
        for i in 0..MAX_PROBES.min(self.capacity) {
            let slot = &slots[start.wrapping_add(i) & mask];
            let entry = match slot.get() {
                Some(entry) => entry,
                None => {
                    let mut mine = false;
                    let entry = slot.get_or_init(|| {
                        mine = true;
                        make.take().expect("made once")()
                    });
                    if mine {
                        return Ok(entry);
                    }
                    entry
                }
            };
            if matches(entry) {
                return Ok(entry);
            }
        }
        Err(make.take().expect("made once")())
    }

    /// The entries kept, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.slots
            .get()
            .into_iter()
            .flat_map(|slots| slots.iter().filter_map(OnceLock::get))
    }
}

impl<T> Default for OnceTable<T> {
    /// A table of 64 slots.
    fn default() -> Self {
        Self::new(64)
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for OnceTable<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn an_entry_is_made_once_and_found_again() {
        let t = OnceTable::new(8);
        let made = AtomicUsize::new(0);
        let get = |k: u32| {
            *t.find_or_insert(
                u64::from(k),
                |&(x, _)| x == k,
                || (k, made.fetch_add(1, Ordering::Relaxed)),
            )
            .unwrap()
        };
        assert_eq!(get(3), (3, 0));
        assert_eq!(get(11), (11, 1), "the same slot as 3: probes on");
        assert_eq!(get(3), (3, 0));
        assert_eq!(get(11), (11, 1));
        assert_eq!(made.load(Ordering::Relaxed), 2);
        assert_eq!(t.iter().count(), 2);
    }

    #[test]
    fn a_full_probe_sequence_hands_the_entry_back() {
        let t = OnceTable::new(MAX_PROBES * 2);
        // Every entry hashes to slot 0: the first MAX_PROBES are kept.
        for k in 0..MAX_PROBES {
            assert!(t.find_or_insert(0, |&x| x == k, || k).is_ok());
        }
        assert_eq!(t.find_or_insert(0, |&x| x == 99, || 99), Err(99));
        assert_eq!(t.find_or_insert(0, |&x| x == 5, || 5), Ok(&5));
        // Another hash still has room.
        assert_eq!(t.find_or_insert(20, |&x| x == 99, || 99), Ok(&99));
    }

    #[test]
    fn a_small_table_probes_each_slot_once() {
        let t = OnceTable::new(2);
        assert!(t.find_or_insert(0, |&x| x == 1, || 1).is_ok());
        assert!(t.find_or_insert(0, |&x| x == 2, || 2).is_ok());
        assert_eq!(t.find_or_insert(0, |&x| x == 3, || 3), Err(3));
        assert_eq!(t.find_or_insert(1, |&x| x == 2, || 2), Ok(&2));
    }

    #[test]
    fn threads_that_race_keep_one_entry_each_key() {
        let t = Arc::new(OnceTable::new(64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || {
                    for k in 0..32u64 {
                        let got = t.find_or_insert(k * 7, |&x| x == k, || k).unwrap();
                        assert_eq!(*got, k);
                    }
                })
            })
            .collect();
        for h in threads {
            h.join().unwrap();
        }
        let mut kept: Vec<u64> = t.iter().copied().collect();
        kept.sort_unstable();
        assert_eq!(kept, (0..32).collect::<Vec<_>>());
    }
}
