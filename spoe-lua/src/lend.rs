//! How an action's transaction reaches Lua: a `TXN` userdata lent the transaction for the
//! call. The userdata and the cell it reads through are made once and kept for the next calls
//! (making a userdata costs an allocation, a metatable and a finalizer for the GC), each call
//! putting its transaction in the cell and taking it back; between calls the cell is empty and
//! an object kept from an earlier call reaches nothing (the Lua classes also check that an
//! object is its userdata's current one).

use std::any::Any;
use std::sync::{Arc, Mutex, PoisonError};

use mlua::{AnyUserData, Lua};

use crate::access::{HostCell, Target, TxnAccess, lock};
use crate::host::TxnHost;

/// A userdata and its cell, idle.
#[derive(Debug)]
pub(crate) struct IdleTxn {
    ud: AnyUserData,
    /// A `Mutex<Option<H>>` for the host type it was made for.
    cell: Arc<dyn Any + Send + Sync>,
}

/// Idle userdata of one state, for the next actions. At most [`TxnPool::IDLE`] are kept.
#[derive(Debug, Default)]
pub(crate) struct TxnPool {
    idle: Mutex<Vec<IdleTxn>>,
}

impl TxnPool {
    /// The idle userdata kept, at most: the actions a worker usually has suspended at once.
    const IDLE: usize = 64;

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<IdleTxn>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A userdata for an action of `lua` on a transaction of type `H`, its cell empty.
    pub(crate) fn take<H: TxnHost + 'static>(&self, lua: &Lua) -> mlua::Result<Lent<H>> {
        if let Some(idle) = self.idle().pop()
            && let Ok(cell) = idle.cell.downcast::<Mutex<Option<H>>>()
        {
            return Ok(Lent {
                ud: Some(idle.ud),
                cell,
            });
        }
        let cell = Arc::new(Mutex::new(None::<H>));
        let ud = lua.create_userdata(TxnAccess::new(
            lua,
            Target::Host(cell.clone() as HostCell),
            true,
        )?)?;
        Ok(Lent { ud: Some(ud), cell })
    }

    /// Keeps `lent` for another action (its transaction was taken back).
    pub(crate) fn give_back<H: TxnHost + 'static>(&self, mut lent: Lent<H>) {
        let mut idle = self.idle();
        if idle.len() < Self::IDLE
            && let Some(ud) = lent.ud.take()
        {
            idle.push(IdleTxn {
                ud,
                cell: lent.cell.clone(),
            });
        }
    }
}

/// A `TXN` userdata and the cell holding the transaction lent to it. Dropped before the
/// transaction was taken back (the request went away), it drops the transaction: the
/// userdata, left to the GC, keeps nothing.
#[derive(Debug)]
pub(crate) struct Lent<H: TxnHost + 'static> {
    /// `None` once given back.
    ud: Option<AnyUserData>,
    cell: Arc<Mutex<Option<H>>>,
}

impl<H: TxnHost + 'static> Lent<H> {
    /// The userdata.
    pub(crate) fn ud(&self) -> Option<&AnyUserData> {
        self.ud.as_ref()
    }

    /// The cell the userdata reads through (`Some` while the transaction is lent).
    pub(crate) fn cell(&self) -> HostCell {
        self.cell.clone()
    }

    /// Lends `host` to the userdata.
    pub(crate) fn put(&self, host: H) {
        *lock(&self.cell) = Some(host);
    }

    /// Takes the transaction back.
    pub(crate) fn take(&self) -> Option<H> {
        lock(&self.cell).take()
    }
}

impl<H: TxnHost + 'static> Drop for Lent<H> {
    fn drop(&mut self) {
        drop(self.take());
    }
}
