//! Threads that each run a single-threaded tokio runtime until stopped: the
//! agent runtime's and the gateway's workers, so that a connection and what
//! it wakes stay on one thread.

use std::io;
use std::sync::{Mutex, PoisonError};
use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// `n` named threads with a current-thread runtime each, or the caller's
/// runtime alone ([`RuntimeThreads::current`]). Dropping it stops the
/// threads without waiting for them; [`RuntimeThreads::join`] waits.
#[derive(Debug)]
pub struct RuntimeThreads {
    handles: Vec<Handle>,
    threads: Mutex<Vec<(oneshot::Sender<()>, JoinHandle<()>)>>,
}

impl RuntimeThreads {
    /// Starts `n` threads (at least one) named `{name}-{index}`, each
    /// calling `on_start(index)` first (to pin itself to its CPUs, to note
    /// its index) and then running its runtime until stopped. Returns once
    /// every runtime runs.
    ///
    /// # Errors
    ///
    /// When a thread or its runtime cannot be started.
    pub fn spawn(
        n: usize,
        name: &str,
        on_start: impl Fn(usize) + Send + Sync + Clone + 'static,
    ) -> io::Result<Self> {
        let n = n.max(1);
        let mut handles = Vec::with_capacity(n);
        let mut threads = Vec::with_capacity(n);
        for i in 0..n {
            let (ready_tx, ready_rx) = std::sync::mpsc::channel();
            let (stop_tx, stop_rx) = oneshot::channel::<()>();
            let on_start = on_start.clone();
            let thread = std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || {
                    on_start(i);
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
                    // Dropping the runtime here drops what still runs on it.
                })?;
            let handle = ready_rx.recv().map_err(|_| {
                io::Error::other(format!(
                    "{name} thread {i} ended before its runtime started"
                ))
            })??;
            handles.push(handle);
            threads.push((stop_tx, thread));
        }
        Ok(Self {
            handles,
            threads: Mutex::new(threads),
        })
    }

    /// One runtime: the one this is called from, with no thread of its own.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn current() -> Self {
        Self {
            handles: vec![Handle::current()],
            threads: Mutex::new(Vec::new()),
        }
    }

    /// The runtimes, in thread order (never empty).
    pub fn handles(&self) -> &[Handle] {
        &self.handles
    }

    /// Stops the threads and waits for them to end. Call it from outside
    /// the runtimes (a thread cannot wait for itself).
    pub fn join(&self) {
        for (stop, thread) in self.take_threads() {
            let _ = stop.send(());
            let _ = thread.join();
        }
    }

    fn take_threads(&self) -> Vec<(oneshot::Sender<()>, JoinHandle<()>)> {
        std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Drop for RuntimeThreads {
    fn drop(&mut self) {
        // Not joined: an async caller must not block. Each runtime ends on
        // its own thread.
        for (stop, _thread) in self.take_threads() {
            let _ = stop.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_thread_runs_its_own_runtime_and_join_ends_them() {
        let threads = RuntimeThreads::spawn(2, "t", |_| {}).unwrap();
        assert_eq!(threads.handles().len(), 2);
        let names: Vec<String> = threads
            .handles()
            .iter()
            .map(|h| {
                let (tx, rx) = std::sync::mpsc::channel();
                h.spawn(async move {
                    let _ = tx.send(std::thread::current().name().map(str::to_owned));
                });
                rx.recv().unwrap().unwrap()
            })
            .collect();
        assert_eq!(names, ["t-0", "t-1"]);
        threads.join();
        assert!(threads.take_threads().is_empty());
    }

    #[test]
    fn on_start_sees_every_index() {
        let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let threads = RuntimeThreads::spawn(3, "o", move |i| s.lock().unwrap().push(i)).unwrap();
        let mut got = seen.lock().unwrap().clone();
        got.sort_unstable();
        assert_eq!(got, [0, 1, 2]);
        drop(threads);
    }
}
