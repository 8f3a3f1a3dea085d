//! An HTTP/2 connection's streams polled on the connection's own task.
//!
//! hyper hands each stream's future (the service's answer, then its body
//! piped to the h2 stream) to an executor. Spawned as a task, every stream
//! costs a task, a wakeup of that task when its request arrives, and a
//! wakeup of the connection's task for each frame it queues (headers,
//! data, the end). Here the executor only queues the future; the
//! connection's task polls the queued futures right after hyper's
//! connection, and hyper's connection again when a stream moved, so a
//! request read, answered and written back costs one turn of one task
//! (`bench/README.md`, "Session 7: HTTP/2 per stream": 2.9% of the
//! instructions per request under `h2load -c10 -m10`).
//!
//! What a task per stream gave for free is kept by hand: a turn starts at
//! most [`STARTS_PER_TURN`] streams, so that a client opening many streams
//! at once does not keep its worker from the other connections
//! (`gateway_h2_hostile`: a fresh client is served beside 40 connections
//! holding 50 streams each); a stop waits for the streams because it waits
//! for the connection's task. A panic in one stream ends its connection
//! (its task) rather than that stream alone.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use futures_util::stream::{FuturesUnordered, StreamExt};

/// One stream's future, as hyper builds it.
type StreamFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The executor given to hyper: it queues each stream for [`Streams`].
/// (A lock and not a cell: hyper wants an executor it can send, and the
/// lock is only ever taken by the connection's own task.)
#[derive(Clone, Default)]
pub(super) struct Queue(Arc<Mutex<Vec<StreamFuture>>>);

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Queue")
    }
}

impl<F> hyper::rt::Executor<F> for Queue
where
    F: Future<Output = ()> + Send + 'static,
{
    fn execute(&self, fut: F) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Box::pin(fut));
    }
}

impl Queue {
    /// Moves at most `most` of the queued streams, oldest first, into
    /// `into` (made when the first one comes); how many it moved.
    fn drain(&self, into: &mut Option<FuturesUnordered<StreamFuture>>, most: usize) -> usize {
        let mut queued = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let n = queued.len().min(most);
        if n > 0 {
            let into = into.get_or_insert_with(FuturesUnordered::new);
            for fut in queued.drain(..n) {
                into.push(fut);
            }
        }
        n
    }

    /// Gives back the queue's room when it holds nothing (an idle
    /// connection keeps no room for the streams of its last burst).
    fn release_if_empty(&self) {
        let mut queued = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if queued.is_empty() && queued.capacity() > 0 {
            *queued = Vec::new();
        }
    }

    fn is_empty(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }
}

/// How many times one turn goes back to hyper's connection after its
/// streams moved (each pass writes what the streams queued and reads what
/// arrived); past it the turn ends and the task is woken again as usual.
const PASSES: usize = 4;

/// How many new streams one turn starts at most. A stream's first poll is
/// its request's whole handling up to the answer (rules, SPOE); a client
/// that opens its 100 streams at once must not hold the worker for all of
/// them while other connections wait. Past it the turn wakes the task
/// again and ends: the connection goes to the back of its worker's queue,
/// as each stream did when it was a task of its own. (Each started stream
/// is then polled again only when woken; `FuturesUnordered` itself yields
/// after 32 polls.)
const STARTS_PER_TURN: usize = 16;

/// The streams of one connection, polled with it.
pub(super) struct Streams {
    queue: Queue,
    /// The started streams; none while the connection has no stream (the
    /// set's own allocations are not kept by an idle connection, as h2's
    /// buffers are not: `vendor/h2/PATCH.md`).
    running: Option<FuturesUnordered<StreamFuture>>,
}

impl Streams {
    /// No stream yet; `queue` is the executor given to hyper.
    pub(super) fn new(queue: Queue) -> Self {
        Self {
            queue,
            running: None,
        }
    }

    /// Polls hyper's connection `conn` and the streams it started. Ready with
    /// the connection's result once it ended and every stream finished (a
    /// stream whose connection is gone ends at its next write).
    pub(super) fn poll_with<C, E>(
        &mut self,
        cx: &mut Context<'_>,
        mut conn: Pin<&mut C>,
        ended: &mut Option<Result<(), E>>,
    ) -> Poll<Result<(), E>>
    where
        C: Future<Output = Result<(), E>>,
    {
        let mut starts = STARTS_PER_TURN;
        for _ in 0..PASSES {
            if ended.is_none()
                && let Poll::Ready(r) = conn.as_mut().poll(cx)
            {
                *ended = Some(r);
            }
            let started = self.queue.drain(&mut self.running, starts);
            starts -= started;
            let mut finished = 0usize;
            if let Some(running) = self.running.as_mut() {
                while let Poll::Ready(Some(())) = running.poll_next_unpin(cx) {
                    finished += 1;
                }
                if running.is_empty() {
                    self.running = None;
                }
            }
            if self.running.is_none()
                && self.queue.is_empty()
                && let Some(r) = ended.take()
            {
                return Poll::Ready(r);
            }
            // Nothing new and no stream ended: what the streams queued (if
            // anything) woke the task, which polls the connection again.
            if started == 0 && finished == 0 {
                break;
            }
        }
        // Streams left to start: after the other tasks of this worker.
        if !self.queue.is_empty() {
            cx.waker().wake_by_ref();
        } else if self.running.is_none() {
            self.queue.release_if_empty();
        }
        Poll::Pending
    }
}
