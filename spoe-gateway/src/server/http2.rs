//! HTTP/2 to clients (ALPN `h2`, or `proto h2` on the `bind` line): hyper's
//! server over the h2 crate, with HAProxy's `tune.h2.*` limits. Each stream
//! is one request through the same service as HTTP/1.1 (rules, SPOE events,
//! access line). Timeouts mean what they mean for HTTP/1.1 ([`ClientWaits`]):
//! the first request's head, then the keep-alive wait for an idle connection
//! between streams; both end the connection with a GOAWAY. `timeout client`
//! ends a connection whose responses wait on a client that reads nothing (a
//! zero window, a full socket): no byte moved either way for that long, as
//! HAProxy's streams time out on their client side. A stop sends GOAWAY and
//! lets the open streams finish.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::server::conn::http2;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use super::Gateway;
use super::connection::ConnService;
use super::exchange::{Exchange, Phase};
use super::h2_streams::{Gate, Queue, Streams};
use super::stream::ClientStream;
use super::waits::ClientWaits;
use crate::head_room;
use crate::model::H2Tunes;
use crate::proxy::Session;
use crate::stats::Wire;

/// Streams reset by the client before the gateway answered, kept at most
/// (the h2 crate's guard against rapid reset, CVE-2023-44487; past it the
/// connection gets GOAWAY ENHANCE_YOUR_CALM).
const MAX_PENDING_RESETS: usize = 20;

/// How long a closing connection with no stream open waits for the client
/// to acknowledge the GOAWAY's PING before it is dropped (a client that
/// never reads must not hold it open; HAProxy closes at once).
const CLOSE_GRACE: Duration = Duration::from_secs(1);

impl Gateway {
    /// Serves HTTP/2 on `sock` until the client or a timeout ends it.
    pub(super) async fn serve_http2(
        self: Arc<Self>,
        sock: Wire<ClientStream>,
        service: ConnService,
        waits: ClientWaits,
        stop: CancellationToken,
    ) {
        let exchange = service.exchange.clone();
        // For the log lines (the address itself would keep 32 bytes in this future).
        let session = service.session.clone();
        let moved = Arc::new(Moved::new());
        let sock = Stamped {
            inner: sock,
            moved: moved.clone(),
        };
        // Streams are polled on this task (see `h2_streams`), and a stop that waits for this
        // connection waits for them.
        let queue = Queue::default();
        let streams = Streams::new(queue.clone());
        // Built and dropped here: this future is what an idle connection keeps, and keeps
        // no builder.
        let conn = self
            .h2_builder(queue)
            .serve_connection(TokioIo::new(sock), service);
        tokio::pin!(conn);
        // The first request is awaited until `first_head`, counted from the accept.
        let idle_since = Instant::now();
        let limit = waits.first_head.saturating_duration_since(idle_since);
        // One timer for the three deadlines (the wait for a request, a client that reads
        // nothing, the grace after a GOAWAY), set to the one that applies first: an idle
        // connection keeps this future all its life, and a `Sleep` each took room in it.
        let timer = tokio::time::sleep_until(idle_since + limit);
        tokio::pin!(timer);
        // Made once and polled only after one woke (`Gate`): made and polled anew at each
        // wait, they took their token's lock and its waiter list's lock each time.
        let stopped = stop.cancelled();
        let killed = self.killed.cancelled();
        tokio::pin!(stopped, killed);
        let changes = exchange.changes();
        let mut turns = Turns {
            conn,
            streams,
            ended: None,
            timer,
            stopped,
            killed,
            rare: Gate::default(),
            exchange,
            session,
            moved,
            waits,
            idle_since,
            limit,
            closing: None,
            stalled: None,
            changes,
            cut: false,
            arm: true,
            dirty: true,
            timed: false,
        };
        std::future::poll_fn(|cx| turns.poll(cx)).await;
    }

    /// hyper's HTTP/2 server with HAProxy's `tune.h2.*` limits.
    fn h2_builder(&self, streams: Queue) -> http2::Builder<Queue> {
        let (tunes, bufsize): (H2Tunes, usize) = {
            let generation = self.current();
            (
                generation.config.global.h2,
                generation.config.global.bufsize,
            )
        };
        let mut builder = http2::Builder::new(streams);
        // No timer: hyper's HTTP/2 server only needs one for keep-alive PINGs and the
        // adaptive window, neither of which is on, and it would keep one (an `Arc`) per
        // connection.
        builder
            // HAProxy adds no `date` to a response (and writing one is work
            // per response); `%B` counts the head as HTTP/1 (`access`).
            .auto_date_header(false)
            .max_concurrent_streams(tunes.max_concurrent_streams)
            .initial_stream_window_size(tunes.initial_window_size)
            .max_frame_size(tunes.max_frame_size)
            .header_table_size(tunes.header_table_size)
            // HAProxy's tune.bufsize bounds a decoded header list as it
            // bounds an HTTP/1 head (HPACK bombs stop there).
            .max_header_list_size(u32::try_from(head_room::read_limit(bufsize)).unwrap_or(u32::MAX))
            .max_pending_accept_reset_streams(MAX_PENDING_RESETS);
        builder
    }
}

/// hyper's HTTP/2 connection as the gateway serves it.
type H2Conn = http2::Connection<TokioIo<Stamped<Wire<ClientStream>>>, ConnService, Queue>;

/// [`Gateway::serve_http2`]'s loop and what it keeps between its turns: one value, so that
/// the future polling it keeps one reference to it rather than one per variable (an idle
/// connection keeps that future all its life).
struct Turns<'a, 'b> {
    conn: Pin<&'a mut H2Conn>,
    streams: Streams,
    /// hyper's connection ended (its streams may not have).
    ended: Option<hyper::Result<()>>,
    timer: Pin<&'a mut Sleep>,
    stopped: Pin<&'a mut WaitForCancellationFuture<'b>>,
    killed: Pin<&'a mut WaitForCancellationFuture<'b>>,
    /// Polls `stopped` and `killed` only after one woke.
    rare: Gate,
    exchange: Arc<Exchange>,
    /// For the log lines (the address itself would keep 32 bytes in this future).
    session: Arc<Session>,
    moved: Arc<Moved>,
    waits: ClientWaits,
    /// Since when the connection waits for a request, and for how long it may.
    idle_since: Instant,
    limit: Duration,
    /// When the GOAWAY was sent.
    closing: Option<Instant>,
    /// When a client that reads nothing of the responses being sent is cut.
    stalled: Option<Instant>,
    /// The exchange's changes seen: a request's begin, answer and end move the deadlines.
    /// They happen on this task (its streams are polled here), so each turn looks whether
    /// one did, instead of waiting on a notice.
    changes: usize,
    /// Closing a stalled connection: its streams will not finish.
    cut: bool,
    /// The timer is polled when set or reset (which gives it this task's waker), after
    /// that only once it fired.
    arm: bool,
    /// The deadlines are computed again after a change, a deadline or a stop.
    dirty: bool,
    /// A deadline applies (the timer is set to it).
    timed: bool,
}

impl Turns<'_, '_> {
    /// One turn of the connection's task: its streams, then its deadlines and waits. Ready
    /// when the connection is done.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if let Poll::Ready(r) = self
                .streams
                .poll_with(cx, self.conn.as_mut(), &mut self.ended)
            {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "HTTP/2 client connection ended with an error");
                }
                return Poll::Ready(());
            }
            if self.exchange.dropped() {
                tracing::debug!(client = %self.session.client(), "HTTP/2 connection dropped by silent-drop");
                return Poll::Ready(());
            }
            let changes = self.exchange.changes();
            if changes != self.changes {
                self.changes = changes;
                self.dirty = true;
                if self.exchange.phase() != Phase::Busy {
                    self.idle_since = Instant::now();
                    self.limit = self.waits.keep_alive();
                }
            }
            if std::mem::take(&mut self.dirty) {
                self.set_timer();
            }
            if self.timed
                && (std::mem::take(&mut self.arm) || self.timer.is_elapsed())
                && self.timer.as_mut().poll(cx).is_ready()
            {
                if self.closing.is_some() {
                    // The grace is over.
                    return Poll::Ready(());
                }
                // A stalled client is cut (its streams will not finish); else the wait for a
                // request is over. Either way the connection says GOAWAY.
                if self.stalled.is_some_and(|at| at <= Instant::now()) {
                    tracing::debug!(client = %self.session.client(), "HTTP/2 client reads nothing of its responses: closed at timeout client");
                    self.cut = true;
                }
                self.close();
                continue;
            }
            let (stopped, killed) = (&mut self.stopped, &mut self.killed);
            let closing = self.closing.is_some();
            let stopping = self.rare.poll(cx, |cx| {
                // Both polled: a wait wakes once, and its wake is not kept for later.
                let stop = !closing && stopped.as_mut().poll(cx).is_ready();
                if killed.as_mut().poll(cx).is_ready() {
                    Poll::Ready(true)
                } else if stop {
                    Poll::Ready(false)
                } else {
                    Poll::Pending
                }
            });
            match stopping {
                Poll::Ready(true) => return Poll::Ready(()),
                Poll::Ready(false) => self.close(),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Sets the timer to the deadline that applies first, if one does.
    fn set_timer(&mut self) {
        let idle = self.exchange.phase() != Phase::Busy;
        self.stalled = self
            .waits
            .client()
            .filter(|_| self.closing.is_none() && self.exchange.sending())
            .map(|t| self.moved.last() + t);
        let deadline = match self.closing {
            Some(at) => (idle || self.cut).then_some(at + CLOSE_GRACE),
            None => match (idle.then_some(self.idle_since + self.limit), self.stalled) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
        };
        self.timed = deadline.is_some();
        if let Some(at) = deadline
            && self.timer.deadline() != at
        {
            self.timer.as_mut().reset(at);
            self.arm = true;
        }
    }

    /// Says GOAWAY: the open streams finish, no new one starts.
    fn close(&mut self) {
        self.closing = Some(Instant::now());
        self.conn.as_mut().graceful_shutdown();
        self.dirty = true;
    }
}

/// When bytes last moved on a connection, either way.
#[derive(Debug)]
struct Moved {
    base: Instant,
    /// Milliseconds since `base`.
    ms: AtomicU64,
}

impl Moved {
    fn new() -> Self {
        Self {
            base: Instant::now(),
            ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.base + Duration::from_millis(self.ms.load(Ordering::Relaxed))
    }
}

/// A stream that stamps [`Moved`] whenever bytes go through it.
struct Stamped<S> {
    inner: S,
    moved: Arc<Moved>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Stamped<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.moved.touch();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Stamped<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.moved.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.moved.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of what `f` returns, without calling it.
    fn returned<A, B, C, D, E, R>(_: impl FnOnce(A, B, C, D, E) -> R) -> usize {
        size_of::<R>()
    }

    /// An idle HTTP/2 connection keeps `serve_http2`'s future in a box: at most 2,048 bytes,
    /// jemalloc's size class (`bench/README.md`, "Session 8: idle HTTP/2 memory"; a debug
    /// build's futures are the largest).
    #[test]
    fn an_idle_connection_keeps_its_box_in_2048_bytes() {
        let size = returned(Gateway::serve_http2);
        assert!(size <= 2048, "serve_http2's future: {size} bytes");
    }
}
