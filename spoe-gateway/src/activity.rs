//! Where a client connection is: waiting for a request, reading a request
//! head, or serving a request. A stop reads it to say what it waits for and,
//! when its bound runs out, to count the requests it cuts (each of those
//! writes its own access line, `KR`/`KH`/`KD`). The head timeouts themselves
//! are the connection loop's (server.rs): it waits for the next request's
//! first byte under `timeout http-keep-alive` and gives each request's hyper
//! connection `timeout http-request` from there.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

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
/// its response body ([`crate::conn::Tracked`]).
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

    /// The response was sent (or abandoned: hyper dropped its body): the
    /// connection waits for the next request.
    pub(crate) fn response_done(&self) {
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
        assert_eq!(a.snapshot(), Snapshot::Busy);
        a.response_done();
        assert_eq!(a.snapshot(), Snapshot::Idle);
        a.head_started();
        assert_eq!(a.snapshot(), Snapshot::Head);
    }
}
