//! How long a client connection waits for its client.

use std::time::Duration;

use tokio::time::Instant;

use crate::model::Timeouts;

/// How long a client may take to send a request head when no timeout says
/// (HAProxy would wait forever, and warns about the missing `timeout client`).
const DEFAULT_CLIENT_WAIT: Duration = Duration::from_secs(30);

/// The shorter of two optional timeouts.
fn earliest(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// How long a client connection waits for its client, from the frontend's
/// `timeout` lines, as HAProxy's (`h1_refresh_timeout()`,
/// `h1_set_idle_expiration()`): a request head within `timeout
/// http-request`, the next request of a kept-alive connection within
/// `timeout http-keep-alive` (else `http-request`), each capped by `timeout
/// client`, which alone applies when they are not set.
///
/// Kept in the connection's task for its whole life, hence milliseconds in
/// `u32`s (HAProxy's own unit and range for timeouts) rather than `Duration`s.
#[derive(Debug, Clone, Copy)]
pub(super) struct ClientWaits {
    /// When the first request's head must be complete (from the accept).
    pub(super) first_head: Instant,
    /// A later request's head, from its first bytes (ms).
    head: u32,
    /// The next request of a kept-alive connection (ms).
    keep_alive: u32,
    /// `timeout client` (ms, 0 when unset): the most the 408 page may take to send.
    client: u32,
}

impl ClientWaits {
    /// The waits of a connection accepted at `accepted` on a frontend with `timeouts`.
    pub(super) fn of(timeouts: Timeouts, accepted: Instant) -> Self {
        let ms = |d: Duration| u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
        let head = earliest(timeouts.http_request, timeouts.client).unwrap_or(DEFAULT_CLIENT_WAIT);
        Self {
            first_head: accepted + head,
            head: ms(head),
            keep_alive: ms(earliest(
                timeouts.http_keep_alive.or(timeouts.http_request),
                timeouts.client,
            )
            .unwrap_or(DEFAULT_CLIENT_WAIT)),
            client: timeouts.client.map_or(0, ms),
        }
    }

    pub(super) fn keep_alive(&self) -> Duration {
        Duration::from_millis(u64::from(self.keep_alive))
    }

    pub(super) fn head(&self) -> Duration {
        Duration::from_millis(u64::from(self.head))
    }

    /// How long a TLS handshake may take: `timeout client`, else `timeout
    /// http-request` (HAProxy bounds an embryonic session by the first).
    pub(super) fn handshake(&self) -> Duration {
        self.client().unwrap_or_else(|| self.head())
    }

    pub(super) fn client(&self) -> Option<Duration> {
        (self.client > 0).then(|| Duration::from_millis(u64::from(self.client)))
    }
}
