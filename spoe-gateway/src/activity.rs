//! Where a client connection is: waiting for a request, reading a request
//! head, or serving a request. A stop reads it to say what it waits for and,
//! when its bound runs out, to count the requests it cuts (each of those
//! writes its own access line, `KR`/`KH`/`KD`). The head timeouts themselves
//! are the connection loop's (server.rs): it waits for the next request's
//! first byte under `timeout http-keep-alive` and gives each request's hyper
//! connection `timeout http-request` from there.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::task::{Context, Poll};

use hyper::body::{Body, Frame, SizeHint};

/// Where a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Snapshot {
    /// Waiting for a request (nothing would be cut).
    Idle = 0,
    /// A request head has begun and is not complete.
    Head = 1,
    /// A request is being served.
    Busy = 2,
}

impl Snapshot {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Idle,
            1 => Self::Head,
            _ => Self::Busy,
        }
    }
}

/// The phase of one client connection, shared by its loop, its service and
/// its response bodies.
#[derive(Debug)]
pub(crate) struct Activity {
    phase: AtomicU8,
    /// Whether any byte arrived yet (a first request's head phase starts at
    /// the accept, before any, and is reported as idle until then).
    any_read: AtomicBool,
}

impl Activity {
    /// A connection just accepted: waiting for its first request's head.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            phase: AtomicU8::new(Snapshot::Head as u8),
            any_read: AtomicBool::new(false),
        })
    }

    fn set(&self, phase: Snapshot) {
        self.phase.store(phase as u8, Ordering::Release);
    }

    /// Bytes arrived from the client: a request head has begun.
    pub(crate) fn head_started(&self) {
        self.any_read.store(true, Ordering::Relaxed);
        self.set(Snapshot::Head);
    }

    /// A whole request head was received.
    pub(crate) fn request_started(&self) {
        self.set(Snapshot::Busy);
    }

    /// The response was sent (or abandoned): the connection waits for the
    /// next request.
    fn response_done(&self) {
        self.set(Snapshot::Idle);
    }

    /// Where the connection is now.
    pub(crate) fn snapshot(&self) -> Snapshot {
        match Snapshot::from_u8(self.phase.load(Ordering::Acquire)) {
            Snapshot::Head if !self.any_read.load(Ordering::Relaxed) => Snapshot::Idle,
            phase => phase,
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
    use super::*;

    #[test]
    fn a_connection_goes_idle_head_busy_idle() {
        let a = Activity::new();
        assert_eq!(a.snapshot(), Snapshot::Idle, "nothing read yet");
        a.head_started();
        assert_eq!(a.snapshot(), Snapshot::Head);
        a.request_started();
        let body = TrackedBody::new((), a.clone());
        assert_eq!(a.snapshot(), Snapshot::Busy);
        drop(body);
        assert_eq!(a.snapshot(), Snapshot::Idle);
        a.head_started();
        assert_eq!(a.snapshot(), Snapshot::Head);
    }
}
