//! The NOTIFY frames an engine connection waits on: by ids, by deadline,
//! and the ids of those whose deadline passed (their late ACK is dropped).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::time::Instant;

/// A NOTIFY's stream-id and frame-id.
pub(crate) type Ids = (u64, u64);

/// The hasher of the tables by [`Ids`]: foldhash (seeded at random) rather than std's SipHash,
/// which cost about 200 instructions per lookup here, 4 to 5 lookups per NOTIFY. HashDoS:
/// every id stored is this engine's own (it numbers its streams and frames); an agent only
/// names ids to look up, and no lookup can make stored keys collide.
type IdsHasher = foldhash::fast::RandomState;

#[derive(Debug)]
pub(crate) struct Entry<T> {
    pub(crate) user: T,
    pub(crate) sent_at: Instant,
    /// Order of sending, to hand entries back oldest first.
    seq: u64,
}

/// NOTIFY frames written and waiting for their ACK.
#[derive(Debug)]
pub(crate) struct InFlight<T> {
    entries: HashMap<Ids, Entry<T>, IdsHasher>,
    /// Every entry's deadline; entries answered meanwhile are skipped.
    deadlines: BinaryHeap<Reverse<(Instant, Ids)>>,
    next_seq: u64,
}

impl<T> Default for InFlight<T> {
    fn default() -> Self {
        Self {
            entries: HashMap::default(),
            deadlines: BinaryHeap::new(),
            next_seq: 0,
        }
    }
}

impl<T> InFlight<T> {
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn contains(&self, ids: Ids) -> bool {
        self.entries.contains_key(&ids)
    }

    pub(crate) fn insert(&mut self, ids: Ids, user: T, sent_at: Instant, deadline: Instant) {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.deadlines.push(Reverse((deadline, ids)));
        self.entries.insert(ids, Entry { user, sent_at, seq });
    }

    /// Takes the entry of an ACK. The deadlines of answered entries are then
    /// dropped from the top of the heap, so that it holds about what is in
    /// flight rather than every NOTIFY of the last `timeout processing`
    /// (ACKs mostly come in order).
    pub(crate) fn remove(&mut self, ids: Ids) -> Option<Entry<T>> {
        let entry = self.entries.remove(&ids)?;
        while let Some(Reverse((_, top))) = self.deadlines.peek()
            && !self.entries.contains_key(top)
        {
            self.deadlines.pop();
        }
        Some(entry)
    }

    /// The earliest deadline of an entry still waiting.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.peek().map(|Reverse((at, _))| *at)
    }

    /// Takes one entry whose deadline is at or before `now`.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<(Ids, Entry<T>)> {
        while let Some(Reverse((at, ids))) = self.deadlines.peek().copied() {
            if at > now {
                return None;
            }
            self.deadlines.pop();
            if let Some(entry) = self.entries.remove(&ids) {
                return Some((ids, entry));
            }
        }
        None
    }

    /// Every entry, oldest first.
    pub(crate) fn drain(&mut self) -> Vec<(Ids, T)> {
        let mut all: Vec<(Ids, Entry<T>)> = self.entries.drain().collect();
        self.deadlines.clear();
        all.sort_by_key(|(_, e)| e.seq);
        all.into_iter().map(|(ids, e)| (ids, e.user)).collect()
    }
}

/// The ids of NOTIFY frames whose deadline passed, so that their late ACKs
/// are dropped instead of being taken for protocol errors. Bounded: the
/// oldest are forgotten first.
#[derive(Debug, Default)]
pub(crate) struct Cancelled {
    order: VecDeque<Ids>,
    set: HashSet<Ids, IdsHasher>,
}

impl Cancelled {
    pub(crate) const CAPACITY: usize = 4096;

    pub(crate) fn insert(&mut self, ids: Ids) {
        if self.order.len() >= Self::CAPACITY
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        self.order.push_back(ids);
        self.set.insert(ids);
    }

    pub(crate) fn contains(&self, ids: Ids) -> bool {
        self.set.contains(&ids)
    }

    pub(crate) fn take(&mut self, ids: Ids) -> bool {
        self.set.remove(&ids)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn entries_expire_by_deadline_and_drain_oldest_first() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut f = InFlight::default();
        f.insert((3, 1), "c", t0, t0 + ms(30));
        f.insert((1, 1), "a", t0, t0 + ms(10));
        f.insert((2, 1), "b", t0, t0 + ms(20));
        assert_eq!(f.next_deadline(), Some(t0 + ms(10)));
        assert!(f.remove((1, 1)).is_some());
        assert_eq!(
            f.next_deadline(),
            Some(t0 + ms(20)),
            "answered deadlines are dropped"
        );
        assert!(f.pop_expired(t0 + ms(19)).is_none());
        let (ids, e) = f.pop_expired(t0 + ms(20)).unwrap();
        assert_eq!((ids, e.user), ((2, 1), "b"));
        f.insert((4, 1), "d", t0, t0 + ms(5));
        assert_eq!(f.drain(), vec![((3, 1), "c"), ((4, 1), "d")]);
        assert!(f.is_empty() && f.next_deadline().is_none());
    }

    #[test]
    fn cancelled_ids_are_bounded() {
        let mut c = Cancelled::default();
        for i in 0..(Cancelled::CAPACITY as u64 + 10) {
            c.insert((i, 1));
        }
        assert!(!c.contains((0, 1)), "the oldest are forgotten");
        assert!(c.take((Cancelled::CAPACITY as u64 + 9, 1)));
        assert!(!c.take((Cancelled::CAPACITY as u64 + 9, 1)));
    }
}
