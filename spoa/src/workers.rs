//! Threads with a single-threaded runtime each, which [`crate::Server`]
//! spreads engine connections over: a connection, its handlers and its ACKs
//! stay on one thread, and no message wakes another thread (a work-stealing
//! runtime's workers wake each other through futexes for it: a tenth of the
//! agent's CPU under HAProxy, bench/README.md). A connection's handlers run
//! inside its task on any runtime, so a connection never used more than one
//! thread at a time: spreading connections loses no parallelism.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// Worker threads, one single-threaded tokio runtime each. Dropping it
/// stops them (what still runs on them is dropped).
#[derive(Debug)]
pub struct Workers {
    handles: Vec<Handle>,
    next: AtomicUsize,
    threads: Vec<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl Workers {
    /// Starts `n` worker threads (at least one), named `spoa-worker-N`.
    ///
    /// # Errors
    ///
    /// When a thread or its runtime cannot be started.
    pub fn spawn(n: usize) -> io::Result<Self> {
        let n = n.max(1);
        let mut handles = Vec::with_capacity(n);
        let mut threads = Vec::with_capacity(n);
        for i in 0..n {
            let (ready_tx, ready_rx) = std::sync::mpsc::channel();
            let (stop_tx, stop_rx) = oneshot::channel::<()>();
            let thread = std::thread::Builder::new()
                .name(format!("spoa-worker-{i}"))
                .spawn(move || {
                    let runtime = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(rt) => rt,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(runtime.handle().clone()));
                    runtime.block_on(async {
                        let _ = stop_rx.await;
                    });
                })?;
            let handle = ready_rx.recv().map_err(|_| {
                io::Error::other(format!(
                    "worker thread {i} ended before its runtime started"
                ))
            })??;
            handles.push(handle);
            threads.push((stop_tx, thread));
        }
        Ok(Self {
            handles,
            next: AtomicUsize::new(0),
            threads,
        })
    }

    /// The number of workers.
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// Always false: there is at least one worker.
    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// The runtime of the next connection, in turn.
    pub(crate) fn next(&self) -> &Handle {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len().max(1);
        &self.handles[i]
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        // Each runtime is dropped on its own thread, which ends then; not
        // joined here, where an async caller must not block.
        for (stop, _thread) in self.threads.drain(..) {
            let _ = stop.send(());
        }
    }
}
