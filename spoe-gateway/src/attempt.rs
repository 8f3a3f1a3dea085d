//! What HTTP (`crate::proxy`) and tcp (`crate::tcp`) streams share around a connection to a
//! backend's server: the wait for a slot under the server's `maxconn` (`crate::queue`), and what a failed
//! connect costs before the next attempt (HAProxy's `pendconn_add()` and
//! `back_handle_st_cer()`).

use std::time::Duration;

use crate::balance;
use crate::generation::{BackendRt, DEFAULT_TIMEOUT_CONNECT};
use crate::queue::{Left, Place, Refused, Slot};

/// `timeout connect` of `backend` (HAProxy's default when unset).
pub(crate) fn connect_bound(backend: &BackendRt) -> Duration {
    backend
        .model
        .timeouts
        .connect
        .unwrap_or(DEFAULT_TIMEOUT_CONNECT)
}

/// A slot of server `server` under its `maxconn`, or with `None` (every server full) of the
/// first that frees (`Ok(None)`: the backend has no queue), waited for at most `timeout
/// queue` (else `timeout connect`); `queued` is told when the stream starts to wait.
pub(crate) async fn server_slot(
    backend: &BackendRt,
    server: Option<usize>,
    queued: impl FnOnce(),
) -> Result<Option<Slot>, Refused> {
    let Some(queues) = &backend.queues else {
        return Ok(None);
    };
    let wait = backend
        .model
        .timeouts
        .queue
        .unwrap_or_else(|| connect_bound(backend));
    queues.slot(server, wait, |_| queued()).await.map(Some)
}

/// What a stream refused a slot logs: its termination (`sQ`: `timeout queue` expired, `SQ`:
/// the server's line was at `maxqueue`), and its queue positions (`%sq`, `%bq`).
pub(crate) fn refusal(refused: &Refused) -> (&'static str, Positions) {
    match refused {
        Refused::Timeout(left) => ("sQ", Positions::of(Some(*left))),
        Refused::Full => ("SQ", Positions::default()),
    }
}

/// `%sq` and `%bq` of a stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Positions {
    pub(crate) server: usize,
    pub(crate) backend: usize,
}

impl Positions {
    /// Where a stream that waited at `left` was.
    pub(crate) fn of(left: Option<Left>) -> Self {
        match left {
            Some(Left {
                place: Place::Server(_),
                position,
            }) => Self {
                server: position,
                backend: 0,
            },
            Some(Left {
                place: Place::Backend,
                position,
            }) => Self {
                server: 0,
                backend: position,
            },
            None => Self::default(),
        }
    }
}

/// Before retrying a failed connect to server `from` on server `to`: counts a retry (the same
/// server) or a redispatch on the server and its backend, and waits HAProxy's turn-around
/// after a refused connect, min(1 s, `timeout connect`), unless the retry goes to another
/// server of a round robin with several up.
pub(crate) async fn before_retry(backend: &BackendRt, from: usize, to: usize, refused: bool) {
    let old = &backend.servers[from];
    if to == from {
        old.counters.retries.inc();
        backend.counters.retries.inc();
    } else {
        old.counters.redispatches.inc();
        backend.counters.redispatches.inc();
    }
    if refused && !(to != from && balance::spreads(backend)) {
        tokio::time::sleep(connect_bound(backend).min(Duration::from_secs(1))).await;
    }
}
