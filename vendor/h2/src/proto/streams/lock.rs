//! The lock of a connection's stream state (patched in: `PATCH.md`).
//!
//! Every call on a stream handle (`poll_reset`, `send_data`, a clone or drop
//! of a stream reference...) and every turn of the connection takes the
//! stream state's lock: about 40 lock and unlock pairs per request of a
//! server answering small requests. `std::sync::Mutex` costs two atomic
//! read-modify-write instructions per pair (a `cmpxchg` to lock, an `xchg` to
//! unlock, which it needs to learn whether a waiter sleeps on the futex), each
//! about as dear as an L1 cache miss. This lock unlocks with a plain release
//! store, so a pair costs one: its waiters never sleep on it, they spin and
//! then yield their thread until it is free.
//!
//! That is right for this lock alone: its holders run short, synchronous
//! sections (no I/O, no await, no allocation of note), and it is contended
//! only when a stream handle is used from another thread than its
//! connection's at the same instant. Poisoning is kept as `std` does it: a
//! guard dropped while its thread panics (and that was not panicking when it
//! locked) marks the lock poisoned, and every later `lock` returns
//! `Err(PoisonError)` with the guard, so that h2's `lock().unwrap()` calls
//! behave as they did.

use std::cell::UnsafeCell;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LockResult, PoisonError, TryLockError, TryLockResult};
use std::thread;

/// A mutual-exclusion lock with `std::sync::Mutex`'s API (the part h2 uses).
pub(crate) struct Mutex<T> {
    locked: AtomicBool,
    poisoned: AtomicBool,
    data: UnsafeCell<T>,
}

// SAFETY: as for `std::sync::Mutex`: the lock gives one thread at a time
// access to the `T`, so sharing the lock sends the `T` between threads.
unsafe impl<T: Send> Send for Mutex<T> {}
// SAFETY: as above: `&Mutex<T>` hands out `&mut T` only under the lock.
unsafe impl<T: Send> Sync for Mutex<T> {}

/// Holds the lock; unlocks when dropped.
pub(crate) struct MutexGuard<'a, T> {
    lock: &'a Mutex<T>,
    /// Whether the thread was panicking when it locked (as `std`'s guard:
    /// only a panic that starts while the lock is held poisons it).
    panicking: bool,
}

/// How many times a waiter re-reads the lock before it yields its thread.
const SPINS: u32 = 100;

impl<T> Mutex<T> {
    pub(crate) fn new(data: T) -> Self {
        Self {
            locked: AtomicBool::new(false),
            poisoned: AtomicBool::new(false),
            data: UnsafeCell::new(data),
        }
    }

    pub(crate) fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
        if self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
        self.guard()
    }

    pub(crate) fn try_lock(&self) -> TryLockResult<MutexGuard<'_, T>> {
        if self
            .locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Err(TryLockError::WouldBlock);
        }
        self.guard().map_err(TryLockError::Poisoned)
    }

    #[cold]
    fn lock_contended(&self) {
        loop {
            let mut spins = 0;
            while self.locked.load(Ordering::Relaxed) {
                if spins < SPINS {
                    std::hint::spin_loop();
                    spins += 1;
                } else {
                    thread::yield_now();
                }
            }
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }

    /// The guard of a lock just taken, `Err` if a holder panicked.
    fn guard(&self) -> LockResult<MutexGuard<'_, T>> {
        let guard = MutexGuard {
            lock: self,
            panicking: thread::panicking(),
        };
        if self.poisoned.load(Ordering::Relaxed) {
            Err(PoisonError::new(guard))
        } else {
            Ok(guard)
        }
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        if !self.panicking && thread::panicking() {
            self.lock.poisoned.store(true, Ordering::Relaxed);
        }
        self.lock.locked.store(false, Ordering::Release);
    }
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock: no other reference to the data
        // exists until it is dropped.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only one.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutex")
            .field("locked", &self.locked.load(Ordering::Relaxed))
            .field("poisoned", &self.poisoned.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<T: fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::Mutex;
    use std::sync::{Arc, TryLockError};

    #[test]
    fn excludes_across_threads() {
        let m = Arc::new(Mutex::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        *m.lock().unwrap() += 1;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*m.lock().unwrap(), 40_000);
    }

    #[test]
    fn try_lock_would_block_while_held() {
        let m = Mutex::new(());
        let held = m.lock().unwrap();
        assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
        drop(held);
        assert!(m.try_lock().is_ok());
    }

    #[test]
    fn a_panic_under_the_lock_poisons_it() {
        let m = Arc::new(Mutex::new(1));
        let m2 = m.clone();
        let _ = std::thread::spawn(move || {
            let _g = m2.lock().unwrap();
            panic!("under the lock");
        })
        .join();
        let err = m.lock().unwrap_err();
        assert_eq!(**err.get_ref(), 1);
        drop(err);
        assert!(matches!(m.try_lock(), Err(TryLockError::Poisoned(_))));
    }
}
