//! The threads that serve client connections.
//!
//! Each worker is an OS thread with a single-threaded tokio runtime, and each
//! worker has its own SPOE engines and backend connection pools. A client
//! connection is handed to one worker when it is accepted and stays there:
//! its requests, their SPOE messages, the agent connection that carries them
//! and the ACK all run on one thread, with no cross-thread wake-up per
//! request (HAProxy's model: a stream and its SPOE applet share a thread).
//! A work-stealing runtime spent about a fifth of the gateway's CPU on such
//! wake-ups (futex, eventfd, scheduler); see bench/README.md.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use spop_io::RuntimeThreads;
use tokio::runtime::Handle;

thread_local! {
    /// The index of the worker this thread runs (0 on any other thread).
    static INDEX: Cell<usize> = const { Cell::new(0) };
}

/// The gateway's worker threads (or, for tests and embedding, the caller's
/// runtime as the only worker).
#[derive(Debug)]
pub struct Workers {
    threads: RuntimeThreads,
    /// Client connections each worker serves now.
    load: Vec<AtomicUsize>,
    next: AtomicUsize,
}

impl Workers {
    /// Starts `n` worker threads (at least one), each with its own runtime.
    pub fn spawn(n: usize) -> std::io::Result<Self> {
        Self::spawn_with(n, Arc::new(|_| {}))
    }

    /// As [`spawn`](Self::spawn), each thread calling `on_start` with its index first (to bind
    /// itself to its CPUs: `cpu-map`).
    pub fn spawn_with(
        n: usize,
        on_start: Arc<dyn Fn(usize) + Send + Sync>,
    ) -> std::io::Result<Self> {
        let threads = RuntimeThreads::spawn(n, "spoe-worker", move |i| {
            INDEX.set(i);
            on_start(i);
        })?;
        Ok(Self::with_threads(threads))
    }

    /// One worker: the runtime this is called from. Must be called inside a
    /// tokio runtime.
    pub fn current() -> Self {
        Self::with_threads(RuntimeThreads::current())
    }

    fn with_threads(threads: RuntimeThreads) -> Self {
        Self {
            load: threads
                .handles()
                .iter()
                .map(|_| AtomicUsize::new(0))
                .collect(),
            threads,
            next: AtomicUsize::new(0),
        }
    }

    /// How many workers there are.
    pub fn len(&self) -> usize {
        self.threads.handles().len()
    }

    /// Always false: there is at least one worker.
    pub fn is_empty(&self) -> bool {
        self.threads.handles().is_empty()
    }

    /// One `T` per worker, made by `make` with each worker's runtime
    /// entered (tasks it spawns run on that worker).
    pub(crate) fn per_worker<T>(&self, mut make: impl FnMut() -> T) -> PerWorker<T> {
        PerWorker(
            self.threads
                .handles()
                .iter()
                .map(|handle| {
                    let _on_worker = handle.enter();
                    make()
                })
                .collect(),
        )
    }

    /// The worker that should take a new client connection: the one with
    /// the fewest, ties broken in turn. The connection counts until the
    /// returned guard drops.
    pub(crate) fn assign(self: &Arc<Self>) -> LoadGuard {
        let n = self.threads.handles().len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let w = (0..n)
            .map(|i| (start + i) % n)
            .min_by_key(|&i| self.load[i].load(Ordering::Relaxed))
            .unwrap_or(0);
        self.load[w].fetch_add(1, Ordering::Relaxed);
        LoadGuard {
            workers: self.clone(),
            index: w,
        }
    }

    /// Stops the worker threads and waits for them. Whatever still runs on
    /// them is dropped. Call it from outside the workers, after the gateway
    /// stopped.
    pub fn join(&self) {
        self.threads.join();
    }
}

/// A value per worker (SPOE engines, connection pools), so that each
/// worker uses its own.
#[derive(Debug)]
pub(crate) struct PerWorker<T>(Vec<T>);

impl<T> PerWorker<T> {
    /// The calling worker's value (the first one outside the workers).
    pub(crate) fn current(&self) -> &T {
        let mine = self.0.get(INDEX.get());
        mine.or_else(|| self.0.first())
            .unwrap_or_else(|| unreachable!("Workers has at least one worker"))
    }

    /// Every worker's value.
    pub(crate) fn all(&self) -> impl Iterator<Item = &T> {
        self.0.iter()
    }
}

/// Counts a client connection on its worker while alive.
#[derive(Debug)]
pub(crate) struct LoadGuard {
    workers: Arc<Workers>,
    index: usize,
}

impl LoadGuard {
    /// The worker's runtime.
    pub(crate) fn handle(&self) -> &Handle {
        &self.workers.threads.handles()[self.index]
    }
}

impl Drop for LoadGuard {
    fn drop(&mut self) {
        self.workers.load[self.index].fetch_sub(1, Ordering::Relaxed);
    }
}
