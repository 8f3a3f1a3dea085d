//! Threads with a single-threaded runtime each, which [`crate::Server`]
//! spreads engine connections over: a connection, its handlers and its ACKs
//! stay on one thread, and no message wakes another thread (a work-stealing
//! runtime's workers wake each other through futexes for it: a tenth of the
//! agent's CPU under HAProxy, bench/README.md). A connection's handlers run
//! inside its task on any runtime, so a connection never used more than one
//! thread at a time: spreading connections loses no parallelism.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};

use spop_io::RuntimeThreads;
use tokio::runtime::Handle;

/// Worker threads, one single-threaded tokio runtime each. Dropping it
/// stops them (what still runs on them is dropped).
#[derive(Debug)]
pub struct Workers {
    threads: RuntimeThreads,
    next: AtomicUsize,
}

impl Workers {
    /// Starts `n` worker threads (at least one), named `spoa-worker-N`.
    ///
    /// # Errors
    ///
    /// When a thread or its runtime cannot be started.
    pub fn spawn(n: usize) -> io::Result<Self> {
        Ok(Self {
            threads: RuntimeThreads::spawn(n, "spoa-worker", |_| {})?,
            next: AtomicUsize::new(0),
        })
    }

    /// The number of workers.
    pub fn len(&self) -> usize {
        self.threads.handles().len()
    }

    /// Always false: there is at least one worker.
    pub fn is_empty(&self) -> bool {
        self.threads.handles().is_empty()
    }

    /// The runtime of the next connection, in turn.
    pub(crate) fn next(&self) -> &Handle {
        let handles = self.threads.handles();
        let i = self.next.fetch_add(1, Ordering::Relaxed) % handles.len().max(1);
        &handles[i]
    }
}
