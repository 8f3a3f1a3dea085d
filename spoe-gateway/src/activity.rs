//! Where a client connection is (waiting for a request, reading a head,
//! serving a request, and since when), so that a stop can say what it waits
//! for and, at `hard-stop-after`, log each request it cuts with the state
//! HAProxy would give it (`KR`, `KH`, `KD`). The head timeouts themselves are
//! the connection loop's (server.rs): it waits for the next request's first
//! byte under `timeout http-keep-alive` and gives each request's hyper
//! connection `timeout http-request` from there.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use hyper::body::{Body, Frame, SizeHint};
use tokio::time::Instant;

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
    }

    /// Bytes arrived from the client: a request head has begun.
    pub(crate) fn head_started(&self) {
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
    use std::time::Duration;

    use super::*;

    fn busy(a: &Activity) -> bool {
        matches!(a.snapshot(), Snapshot::Busy { .. })
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_goes_idle_head_busy_idle() {
        let t0 = Instant::now();
        let a = Activity::new(t0);
        assert!(matches!(a.snapshot(), Snapshot::Idle), "nothing read yet");
        tokio::time::advance(Duration::from_secs(1)).await;
        a.head_started();
        assert!(matches!(a.snapshot(), Snapshot::Head { since } if since == t0));
        a.request_started(RequestLine {
            method: hyper::Method::GET,
            uri: hyper::Uri::from_static("/"),
            version: hyper::Version::HTTP_11,
        });
        a.responding(200);
        let body = TrackedBody::new((), a.clone());
        let Snapshot::Busy {
            request, status, ..
        } = a.snapshot()
        else {
            panic!("expected busy");
        };
        assert_eq!(status, Some(200));
        assert_eq!(
            request.map(|r| r.to_string()).as_deref(),
            Some("GET / HTTP/1.1")
        );
        drop(body);
        assert!(!busy(&a));
        assert!(matches!(a.snapshot(), Snapshot::Idle));
        // The next request's head starts from its first byte.
        tokio::time::advance(Duration::from_secs(5)).await;
        a.head_started();
        assert!(matches!(a.snapshot(), Snapshot::Head { since } if since == Instant::now()));
    }
}
