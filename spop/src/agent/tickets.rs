//! The NOTIFY frames an agent connection handed out and has not answered:
//! a slab of their ids, indexed by the [`Ticket`] each answer brings back.

/// Names one NOTIFY handed out by [`crate::agent::AgentConnection`], for its
/// answer ([`crate::agent::AgentConnection::send_ack`]). A ticket is good for
/// one answer: a second one, or one after the connection closed, is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ticket {
    index: u32,
    generation: u32,
}

#[derive(Debug, Default)]
struct Slot {
    generation: u32,
    ids: Option<(u64, u64)>,
}

/// Stream-id and frame-id of every NOTIFY in flight. Slots are reused; the
/// generation tells a stale ticket from the current holder of its slot.
#[derive(Debug, Default)]
pub(crate) struct Tickets {
    slots: Vec<Slot>,
    free: Vec<u32>,
    len: usize,
}

impl Tickets {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A ticket for a NOTIFY; `None` only past 2^32 NOTIFY frames in flight.
    pub(crate) fn issue(&mut self, stream_id: u64, frame_id: u64) -> Option<Ticket> {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                let i = u32::try_from(self.slots.len()).ok()?;
                self.slots.push(Slot::default());
                i
            }
        };
        let slot = self.slots.get_mut(index as usize)?;
        slot.ids = Some((stream_id, frame_id));
        self.len = self.len.saturating_add(1);
        Some(Ticket {
            index,
            generation: slot.generation,
        })
    }

    /// The ids a ticket stands for, while it is good.
    pub(crate) fn get(&self, t: Ticket) -> Option<(u64, u64)> {
        self.slots
            .get(t.index as usize)
            .filter(|s| s.generation == t.generation)
            .and_then(|s| s.ids)
    }

    /// Uses a ticket up.
    pub(crate) fn take(&mut self, t: Ticket) -> Option<(u64, u64)> {
        let slot = self
            .slots
            .get_mut(t.index as usize)
            .filter(|s| s.generation == t.generation)?;
        let ids = slot.ids.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(t.index);
        self.len = self.len.saturating_sub(1);
        Some(ids)
    }

    /// Voids every ticket (the connection ended).
    pub(crate) fn clear(&mut self) {
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if slot.ids.take().is_some() {
                slot.generation = slot.generation.wrapping_add(1);
                if let Ok(i) = u32::try_from(i) {
                    self.free.push(i);
                }
            }
        }
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_is_good_once_and_slots_are_reused() {
        let mut t = Tickets::default();
        let a = t.issue(1, 1).unwrap();
        let b = t.issue(1, 1).unwrap();
        assert_ne!(a, b, "the same ids twice in flight get two tickets");
        assert_eq!(t.len(), 2);
        assert_eq!(t.take(a), Some((1, 1)));
        assert_eq!(t.take(a), None, "used up");
        let c = t.issue(7, 9).unwrap();
        assert_eq!(c.index, a.index, "the slot is reused");
        assert_eq!(
            t.get(a),
            None,
            "the old ticket does not name the new holder"
        );
        assert_eq!(t.get(c), Some((7, 9)));
        t.clear();
        assert!(t.is_empty());
        assert_eq!(t.take(b), None);
        assert_eq!(t.take(c), None);
    }
}
