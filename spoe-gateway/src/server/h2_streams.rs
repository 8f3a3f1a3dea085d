//! An HTTP/2 connection's streams polled on the connection's own task.
//!
//! hyper hands each stream's future (the service's answer, then its body
//! piped to the h2 stream) to an executor. Spawned as a task, every stream
//! costs a task, a wakeup of that task when its request arrives, and a
//! wakeup of the connection's task for each frame it queues (headers,
//! data, the end). Here the executor only queues the future; the
//! connection's task polls the queued futures right after hyper's
//! connection, and hyper's connection again when a stream moved, so a
//! request read, answered and written back costs one turn of one task.

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
    /// Moves the queued streams into `into`; how many there were.
    fn drain(&self, into: &mut FuturesUnordered<StreamFuture>) -> usize {
        let mut queued = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let n = queued.len();
        for fut in queued.drain(..) {
            into.push(fut);
        }
        n
    }
}

/// How many times one turn goes back to hyper's connection after its
/// streams moved (each pass writes what the streams queued and reads what
/// arrived); past it the turn ends and the task is woken again as usual.
const PASSES: usize = 4;

/// The streams of one connection, polled with it.
pub(super) struct Streams {
    queue: Queue,
    running: FuturesUnordered<StreamFuture>,
}

impl Streams {
    /// No stream yet; `queue` is the executor given to hyper.
    pub(super) fn new(queue: Queue) -> Self {
        Self {
            queue,
            running: FuturesUnordered::new(),
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
        for _ in 0..PASSES {
            if ended.is_none()
                && let Poll::Ready(r) = conn.as_mut().poll(cx)
            {
                *ended = Some(r);
            }
            let started = self.queue.drain(&mut self.running);
            let mut finished = 0usize;
            while let Poll::Ready(Some(())) = self.running.poll_next_unpin(cx) {
                finished += 1;
            }
            if self.running.is_empty()
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
        Poll::Pending
    }
}
