//! HTTP/2 to clients (ALPN `h2`, or `proto h2` on the `bind` line): hyper's
//! server over the h2 crate, with HAProxy's `tune.h2.*` limits. Each stream
//! is one request through the same service as HTTP/1.1 (rules, SPOE events,
//! access line). Timeouts mean what they mean for HTTP/1.1 ([`ClientWaits`]):
//! the first request's head, then the keep-alive wait for an idle connection
//! between streams; both end the connection with a GOAWAY. A stop sends GOAWAY and lets the open streams
//! finish.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http2;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::connection::ConnService;
use super::exchange::Phase;
use super::stream::ClientStream;
use super::waits::ClientWaits;
use super::{Gateway, REQUEST_HEAD_LIMIT};
use crate::model::H2Tunes;
use crate::stats::Wire;

/// Streams (hyper spawns one task per stream) run on the connection's
/// worker, tracked with the gateway's connections so that a stop waits
/// for them.
#[derive(Clone, Debug)]
struct StreamTasks(TaskTracker);

impl<F> hyper::rt::Executor<F> for StreamTasks
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        self.0.spawn(fut);
    }
}

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
        self: &Arc<Self>,
        sock: Wire<ClientStream>,
        service: ConnService,
        waits: ClientWaits,
        stop: CancellationToken,
    ) {
        let exchange = service.exchange.clone();
        let tunes: H2Tunes = self.current().config.global.h2;
        let mut builder = http2::Builder::new(StreamTasks(self.connections.clone()));
        builder
            .timer(TokioTimer::new())
            .max_concurrent_streams(tunes.max_concurrent_streams)
            .initial_stream_window_size(tunes.initial_window_size)
            .max_frame_size(tunes.max_frame_size)
            .header_table_size(tunes.header_table_size)
            // HAProxy's tune.bufsize bounds a decoded header list as it
            // bounds an HTTP/1 head (HPACK bombs stop there).
            .max_header_list_size(u32::try_from(REQUEST_HEAD_LIMIT).unwrap_or(u32::MAX))
            .max_pending_accept_reset_streams(MAX_PENDING_RESETS);
        let conn = builder.serve_connection(TokioIo::new(sock), service);
        tokio::pin!(conn);
        let keep_alive = waits.keep_alive();
        // The first request is awaited until `first_head`, counted from the accept.
        let mut idle_since = Instant::now();
        let mut limit = waits.first_head.saturating_duration_since(idle_since);
        let mut closing: Option<Instant> = None;
        loop {
            let idle = exchange.phase() != Phase::Busy;
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "HTTP/2 client connection ended with an error");
                    }
                    return;
                }
                () = exchange.changed() => {
                    if exchange.phase() != Phase::Busy {
                        idle_since = Instant::now();
                        limit = keep_alive;
                    }
                }
                () = tokio::time::sleep_until(idle_since + limit), if idle && closing.is_none() => {
                    closing = Some(Instant::now());
                    conn.as_mut().graceful_shutdown();
                }
                () = stop.cancelled(), if closing.is_none() => {
                    closing = Some(Instant::now());
                    conn.as_mut().graceful_shutdown();
                }
                () = tokio::time::sleep_until(closing.unwrap_or(idle_since) + CLOSE_GRACE),
                    if idle && closing.is_some() => return,
                () = self.killed.cancelled() => return,
            }
        }
    }
}
