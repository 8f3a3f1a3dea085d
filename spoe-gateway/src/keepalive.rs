//! Where a client connection is between its requests, for HAProxy's two
//! head timeouts: `timeout http-keep-alive` bounds the wait for the next
//! request (falling back to `timeout http-request`), and `timeout
//! http-request` bounds the head once its first byte arrived (for the first
//! request of a connection: from the accept).
//!
//! hyper's own `header_read_timeout` cannot tell the two apart: it runs from
//! the end of the previous response, so an idle connection would close at
//! `timeout http-request`. The connection task times the phases instead: the
//! socket reports reads, the service reports a request, and the response
//! body reports its end when hyper drops it.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::{Instant, sleep_until};

/// What a connection waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The next request (after a response): `timeout http-keep-alive`.
    Idle = 0,
    /// The rest of a request head: `timeout http-request`.
    Head = 1,
    /// A request is being served: the head timeouts do not apply.
    Busy = 2,
}

impl Phase {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Idle,
            1 => Self::Head,
            _ => Self::Busy,
        }
    }
}

/// Which head timeout ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expired {
    /// No new request within `timeout http-keep-alive`: close silently, as
    /// HAProxy does.
    KeepAlive,
    /// A request head started at `since` and did not complete within
    /// `timeout http-request`.
    Head {
        /// When the head started (the accept, for a first request).
        since: Instant,
    },
}

/// The request a connection is serving, for the access line of a forced
/// close (the parts are shared with the request: no copy of their text).
#[derive(Debug, Clone)]
pub(crate) struct RequestLine {
    pub(crate) method: hyper::Method,
    pub(crate) uri: hyper::Uri,
    pub(crate) version: hyper::Version,
}

impl std::fmt::Display for RequestLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // As the access line writes a request.
        write!(f, "{} {} {:?}", self.method, self.uri, self.version)
    }
}

/// Where a connection is, as a stop that closes it by force reports it.
#[derive(Debug, Clone)]
pub(crate) enum Snapshot {
    /// Waiting for a request (nothing to log).
    Idle,
    /// A request head started at `since` and is incomplete.
    Head { since: Instant },
    /// Serving `request` since `since`; `status` is the response's once
    /// its head went out.
    Busy {
        since: Instant,
        request: Option<RequestLine>,
        status: Option<u16>,
    },
}

/// The phase of one client connection, shared by its socket, its service
/// and the task that enforces the timeouts.
#[derive(Debug)]
pub(crate) struct Activity {
    phase: AtomicU8,
    since: Mutex<Instant>,
    changed: Notify,
    /// The request being served (cleared when its response is done, so that
    /// an idle connection holds none of its buffers).
    request: Mutex<Option<RequestLine>>,
    /// The status of the response being sent (0: none yet).
    status: AtomicU16,
    /// Whether any byte arrived yet (a first request's `Head` phase starts
    /// at the accept, before any).
    any_read: AtomicBool,
}

impl Activity {
    /// A connection waiting for the rest of its first request's head,
    /// which started at `accepted`.
    pub(crate) fn new(accepted: Instant) -> Arc<Self> {
        Arc::new(Self {
            phase: AtomicU8::new(Phase::Head as u8),
            since: Mutex::new(accepted),
            changed: Notify::new(),
            request: Mutex::new(None),
            status: AtomicU16::new(0),
            any_read: AtomicBool::new(false),
        })
    }

    fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::Acquire))
    }

    fn set(&self, phase: Phase) {
        *self
            .since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
        self.phase.store(phase as u8, Ordering::Release);
        self.changed.notify_one();
    }

    /// Bytes arrived from the client.
    fn on_read(&self) {
        if !self.any_read.load(Ordering::Relaxed) {
            self.any_read.store(true, Ordering::Relaxed);
        }
        if self.phase() == Phase::Idle {
            self.set(Phase::Head);
        }
    }

    /// A whole request head was received.
    pub(crate) fn request_started(&self, request: RequestLine) {
        *self
            .request
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(request);
        self.status.store(0, Ordering::Relaxed);
        self.set(Phase::Busy);
    }

    /// The response head is ready to go out with `status`.
    pub(crate) fn responding(&self, status: u16) {
        self.status.store(status, Ordering::Relaxed);
    }

    /// The response was sent (or abandoned): the connection waits for the
    /// next request.
    fn response_done(&self) {
        self.request
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        self.set(Phase::Idle);
    }

    /// Where the connection is now.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let since = *self
            .since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match self.phase() {
            Phase::Idle => Snapshot::Idle,
            Phase::Head if !self.any_read.load(Ordering::Relaxed) => Snapshot::Idle,
            Phase::Head => Snapshot::Head { since },
            Phase::Busy => Snapshot::Busy {
                since,
                request: self
                    .request
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone(),
                status: Some(self.status.load(Ordering::Relaxed)).filter(|s| *s != 0),
            },
        }
    }

    /// Resolves when the current wait outlives its timeout: `keep_alive`
    /// between requests, `head` once a request head started.
    pub(crate) async fn expired(&self, keep_alive: Duration, head: Duration) -> Expired {
        loop {
            let phase = self.phase();
            let since = *self
                .since
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let deadline = match phase {
                Phase::Idle => Some(since + keep_alive),
                Phase::Head => Some(since + head),
                Phase::Busy => None,
            };
            match deadline {
                None => self.changed.notified().await,
                Some(at) => {
                    tokio::select! {
                        () = sleep_until(at) => {
                            // A change that raced with the timer wins.
                            if self.phase() == phase {
                                return match phase {
                                    Phase::Head => Expired::Head { since },
                                    _ => Expired::KeepAlive,
                                };
                            }
                        }
                        () = self.changed.notified() => {}
                    }
                }
            }
        }
    }
}

/// A client socket that tells its [`Activity`] when bytes arrive.
#[derive(Debug)]
pub(crate) struct WatchedIo<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> WatchedIo<T> {
    pub(crate) fn new(inner: T, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WatchedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.on_read();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WatchedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A response body that tells its [`Activity`] when hyper is done with it
/// (hyper drops the body once it has written its last frame, or gives up).
#[derive(Debug)]
pub(crate) struct TrackedBody<B> {
    inner: B,
    activity: Arc<Activity>,
}

impl<B> TrackedBody<B> {
    pub(crate) fn new(inner: B, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<B> Drop for TrackedBody<B> {
    fn drop(&mut self) {
        self.activity.response_done();
    }
}

impl<B: Body + Unpin> Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEEP_ALIVE: Duration = Duration::from_secs(10);
    const HEAD: Duration = Duration::from_secs(2);

    #[tokio::test(start_paused = true)]
    async fn the_first_head_runs_from_the_accept() {
        let t0 = Instant::now();
        let a = Activity::new(t0);
        assert_eq!(
            a.expired(KEEP_ALIVE, HEAD).await,
            Expired::Head { since: t0 }
        );
        assert_eq!(t0.elapsed(), HEAD);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_waits_keep_alive_then_a_started_head_waits_http_request() {
        let a = Activity::new(Instant::now());
        a.request_started(RequestLine {
            method: hyper::Method::GET,
            uri: hyper::Uri::from_static("/"),
            version: hyper::Version::HTTP_11,
        });
        let body = TrackedBody::new((), a.clone());
        // Busy: no timeout at all, however long it takes.
        let busy =
            tokio::time::timeout(Duration::from_secs(100), a.expired(KEEP_ALIVE, HEAD)).await;
        assert!(busy.is_err());
        drop(body);
        let idle_from = Instant::now();
        assert_eq!(a.expired(KEEP_ALIVE, HEAD).await, Expired::KeepAlive);
        assert_eq!(idle_from.elapsed(), KEEP_ALIVE);

        // Idle again, then a byte arrives after 5 s: http-request from there.
        a.response_done();
        let head_from = Instant::now() + Duration::from_secs(5);
        let (expired, ()) = tokio::join!(a.expired(KEEP_ALIVE, HEAD), async {
            sleep_until(head_from).await;
            a.on_read();
        });
        let Expired::Head { since } = expired else {
            panic!("expected the head timeout, got {expired:?}");
        };
        assert_eq!(since, head_from);
        assert_eq!(head_from.elapsed(), HEAD);
    }
}
