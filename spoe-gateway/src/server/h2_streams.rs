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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use futures_util::task::{ArcWake, waker_ref};

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
    /// `into`, each to be polled first with a waker that wakes `conn`'s
    /// task. How many it moved, and whether streams are left queued. One
    /// lock per call: when nothing is queued nor running it also gives
    /// back the queue's room (an idle connection keeps no room for the
    /// streams of its last burst).
    fn drain(&self, into: &mut Vec<Running>, most: usize, conn: &Waker) -> (usize, bool) {
        let mut queued = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let n = queued.len().min(most);
        if n > 0 {
            into.reserve(n);
            into.extend(queued.drain(..n).map(|fut| Running::new(fut, conn)));
        } else if into.is_empty() && queued.is_empty() && queued.capacity() > 0 {
            *queued = Vec::new();
        }
        (n, !queued.is_empty())
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
/// as each stream did when it was a task of its own. (A started stream is
/// then polled again only when woken, at most once per pass.)
const STARTS_PER_TURN: usize = 16;

/// What wakes one started stream: a flag that says "poll me", and the
/// connection's task, woken when the flag is raised. A wake costs one
/// atomic swap and the task's wake (none when the flag was up already);
/// polling a stream costs a load, and a swap when it was woken. (The
/// `FuturesUnordered` this replaces paid per wake the task's `queued`
/// flag, a push on its ready queue and its parent `AtomicWaker`, and per
/// poll the parent waker registered again: 35 atomics per request under
/// `h2load -c10 -m10`, `bench/README.md`, "Session 9: HTTP/2 CPU".)
struct Woken {
    /// Raised by a wake, lowered before the stream is polled.
    up: AtomicBool,
    /// The connection's task.
    conn: Waker,
}

impl ArcWake for Woken {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        // A flag already up has its wake on the way: nothing more to do.
        if !arc_self.up.load(Ordering::Relaxed) && !arc_self.up.swap(true, Ordering::AcqRel) {
            arc_self.conn.wake_by_ref();
        }
    }
}

/// One started stream.
struct Running {
    fut: StreamFuture,
    woken: Arc<Woken>,
}

impl Running {
    /// `fut`, to be polled at once (its flag up), waking `conn`'s task.
    fn new(fut: StreamFuture, conn: &Waker) -> Self {
        Self {
            fut,
            woken: Arc::new(Woken {
                up: AtomicBool::new(true),
                conn: conn.clone(),
            }),
        }
    }

    /// Polls the stream if it was woken since its last poll; whether it
    /// finished.
    fn poll_if_woken(&mut self) -> bool {
        if !self.woken.up.load(Ordering::Relaxed) || !self.woken.up.swap(false, Ordering::AcqRel) {
            return false;
        }
        let waker = waker_ref(&self.woken);
        self.fut
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_ready()
    }
}

/// Waits that are rarely ready (a stop, a kill), polled only after one of
/// them woke the task: polled each turn, a token's `cancelled()` takes its
/// node's lock and its waiter list's lock each time (`bench/README.md`,
/// "Session 9: HTTP/2 CPU").
#[derive(Default)]
pub(super) struct Gate(Option<Arc<Woken>>);

impl Gate {
    /// Polls the waits of `f` if this is the first poll, or one of them
    /// woke since the last; `f` polls them with a waker that says so.
    pub(super) fn poll<T>(
        &mut self,
        cx: &mut Context<'_>,
        f: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        let woken = match &mut self.0 {
            Some(w) if w.conn.will_wake(cx.waker()) => w,
            // The first poll, or one from another task: the waits are
            // polled (again) with a waker for this one.
            slot => slot.insert(Arc::new(Woken {
                up: AtomicBool::new(true),
                conn: cx.waker().clone(),
            })),
        };
        if !woken.up.load(Ordering::Relaxed) || !woken.up.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        f(&mut Context::from_waker(&waker_ref(woken)))
    }
}

/// The streams of one connection, polled with it.
pub(super) struct Streams {
    queue: Queue,
    /// The started streams, in no order; no room kept while the connection
    /// has no stream (as h2's buffers are not: `vendor/h2/PATCH.md`).
    running: Vec<Running>,
}

impl Streams {
    /// No stream yet; `queue` is the executor given to hyper.
    pub(super) fn new(queue: Queue) -> Self {
        Self {
            queue,
            running: Vec::new(),
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
        // Polled from another task than the one the streams wake (not under
        // tokio, where a task's waker stays the same): each stream is polled
        // once more with a waker for this one.
        if let Some(first) = self.running.first()
            && !first.woken.conn.will_wake(cx.waker())
        {
            for r in &mut self.running {
                r.woken = Arc::new(Woken {
                    up: AtomicBool::new(true),
                    conn: cx.waker().clone(),
                });
            }
        }
        let mut starts = STARTS_PER_TURN;
        let mut left = false;
        let mut settled = false;
        for _ in 0..PASSES {
            if ended.is_none()
                && let Poll::Ready(r) = conn.as_mut().poll(cx)
            {
                *ended = Some(r);
            }
            let started;
            (started, left) = self.queue.drain(&mut self.running, starts, cx.waker());
            starts -= started;
            let before = self.running.len();
            let mut i = 0;
            while i < self.running.len() {
                if self.running[i].poll_if_woken() {
                    self.running.swap_remove(i);
                } else {
                    i += 1;
                }
            }
            let finished = before - self.running.len();
            if self.running.is_empty() {
                if self.running.capacity() > 0 {
                    self.running = Vec::new();
                }
                if !left && let Some(r) = ended.take() {
                    return Poll::Ready(r);
                }
            }
            // Nothing new and no stream ended: what the streams queued (if
            // anything) woke the task, which polls the connection again.
            if started == 0 && finished == 0 {
                settled = true;
                break;
            }
        }
        // The last pass ended streams after its look at the queue: the
        // queue's room is given back here, as the next pass would have.
        if !settled && !left && self.running.is_empty() {
            self.queue.drain(&mut self.running, 0, cx.waker());
        }
        // Streams left to start: after the other tasks of this worker.
        if left {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}
