//! What HTTP (`crate::proxy`) and tcp (`crate::tcp`) streams share around a connection to a
//! backend's server: the wait for a slot under the server's `maxconn`, and what a failed
//! connect costs before the next attempt (HAProxy's `pendconn_add()` and
//! `back_handle_st_cer()`).

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;

use crate::balance;
use crate::generation::{BackendRt, DEFAULT_TIMEOUT_CONNECT, ServerRt};

/// `timeout connect` of `backend` (HAProxy's default when unset).
pub(crate) fn connect_bound(backend: &BackendRt) -> Duration {
    backend
        .model
        .timeouts
        .connect
        .unwrap_or(DEFAULT_TIMEOUT_CONNECT)
}

/// A stream waited its backend's `timeout queue` for a slot of a full server: `sQ`.
#[derive(Debug)]
pub(crate) struct QueueTimeout;

/// A slot of `server` under its `maxconn` (`None`: it has no `maxconn`), waited for at most
/// `timeout queue` (else `timeout connect`); `queued` is told, when the stream queues, how
/// many streams are ahead of it (`%sq`).
pub(crate) async fn server_slot(
    backend: &BackendRt,
    server: &ServerRt,
    queued: impl FnOnce(usize),
) -> Result<Option<OwnedSemaphorePermit>, QueueTimeout> {
    let Some(slots) = &server.slots else {
        return Ok(None);
    };
    let wait = backend
        .model
        .timeouts
        .queue
        .unwrap_or_else(|| connect_bound(backend));
    queued(server.queued.fetch_add(1, Ordering::Relaxed));
    server.counters.queue.inc();
    let got = tokio::time::timeout(wait, slots.clone().acquire_owned()).await;
    server.counters.queue.dec();
    server.queued.fetch_sub(1, Ordering::Relaxed);
    match got {
        Ok(Ok(permit)) => Ok(Some(permit)),
        _ => Err(QueueTimeout),
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
