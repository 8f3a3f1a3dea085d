//! The ready connections, published by the dispatcher so that a message can
//! go straight to a connection with a free slot.
//!
//! The dispatcher stays the owner of every decision (which connections
//! exist, when they open, close or drain); it only publishes the ones that
//! take messages and their free-slot counters. While nothing is queued, a
//! caller takes a slot and hands its message to the connection itself: the
//! dispatcher does not wake up for it, nor for the ACK that frees the slot.
//! The dispatcher is woken only when it has something to do with a freed
//! slot: messages queued, or a drain waiting for idle connections.
//!
//! The free counters and the two flags are read and written `SeqCst`:
//! a connection frees a slot then reads `queued`/`draining`, the dispatcher
//! publishes `queued`/`draining` then reads the counters, so at least one of
//! them sees the other and no freed slot goes unnoticed by a waiting queue.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Notify, mpsc};

use crate::engine::job::{ConnId, ConnMsg, Job};

/// A connection's free slots, shared by the connection (which frees them),
/// the dispatcher and callers (which take them).
#[derive(Debug, Default)]
pub(crate) struct FreeSlots(AtomicUsize);

impl FreeSlots {
    /// Takes one slot; false when none is free.
    pub(crate) fn take(&self) -> bool {
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |f| f.checked_sub(1))
            .is_ok()
    }

    pub(crate) fn give_back(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn set(&self, n: usize) {
        self.0.store(n, Ordering::SeqCst);
    }

    pub(crate) fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(Debug)]
struct ReadyConn {
    id: ConnId,
    free: Arc<FreeSlots>,
    tx: mpsc::UnboundedSender<ConnMsg>,
}

/// What the dispatcher publishes.
#[derive(Debug)]
pub(crate) struct Ready {
    /// Callers may hand messages to connections themselves (see
    /// `EngineSettings::direct_handoff`); otherwise everything goes through
    /// the dispatcher, which then hears of every freed slot.
    direct: bool,
    conns: Mutex<Vec<ReadyConn>>,
    /// Messages in the dispatcher's queue (raised before it looks for slots).
    queued: AtomicUsize,
    /// The engine drains: idle connections must be closed.
    draining: AtomicBool,
    /// Wakes the dispatcher when a slot is freed and it waits for one. A
    /// `Notify` keeps at most one wake-up, so however many slots are freed
    /// before the dispatcher runs, nothing piles up.
    slot_freed: Notify,
}

impl Ready {
    pub(crate) fn new(direct: bool) -> Self {
        Self {
            direct,
            conns: Mutex::default(),
            queued: AtomicUsize::new(0),
            draining: AtomicBool::new(false),
            slot_freed: Notify::new(),
        }
    }

    /// Hands `job` to a ready connection with a free slot, unless messages
    /// are queued (they go first). Gives the job back when it cannot.
    pub(crate) fn try_hand(&self, mut job: Job) -> Result<(), Job> {
        if !self.direct || self.queued.load(Ordering::SeqCst) > 0 {
            return Err(job);
        }
        let conns = self.conns.lock().unwrap_or_else(PoisonError::into_inner);
        for c in conns.iter() {
            if !c.free.take() {
                continue;
            }
            let Err(mpsc::error::SendError(ConnMsg::Job(back))) = c.tx.send(ConnMsg::Job(job))
            else {
                return Ok(());
            };
            // The connection just ended; the dispatcher will hear of it.
            c.free.give_back();
            job = back;
        }
        Err(job)
    }

    /// Called by a connection that freed a slot: wakes the dispatcher when
    /// it has something to do with it (messages queued, or a drain).
    pub(crate) fn slot_freed(&self) {
        if !self.direct
            || self.queued.load(Ordering::SeqCst) > 0
            || self.draining.load(Ordering::SeqCst)
        {
            self.slot_freed.notify_one();
        }
    }

    /// Resolves once a slot was freed since the last call (see `slot_freed`).
    pub(crate) async fn freed(&self) {
        self.slot_freed.notified().await;
    }

    pub(crate) fn publish(
        &self,
        id: ConnId,
        free: Arc<FreeSlots>,
        tx: mpsc::UnboundedSender<ConnMsg>,
    ) {
        self.conns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(ReadyConn { id, free, tx });
    }

    pub(crate) fn unpublish(&self, id: ConnId) {
        self.conns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|c| c.id != id);
    }

    pub(crate) fn set_queued(&self, n: usize) {
        self.queued.store(n, Ordering::SeqCst);
    }

    pub(crate) fn set_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }
}
