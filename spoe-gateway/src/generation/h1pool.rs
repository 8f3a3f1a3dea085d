//! A server's idle HTTP/1 connections in clear text, kept by the gateway (HAProxy's
//! per-server idle list), one list per worker thread.
//!
//! hyper-util's `Client` keys its pool by the request URI's scheme and authority: each request
//! built an absolute URI, looked its key up in three hash maps (the checkout, the return),
//! boxed its future and raced a checkout against a connect. A server's own list needs none of
//! it: the last connection returned is taken first, as hyper-util takes it; the list is split
//! by the address the connections go to only for a server that follows the client's
//! destination address (`0.0.0.0`, a port offset: hyper-util's key). What hyper-util
//! does that matters is kept: a connection goes back to the list once it is ready for another
//! request (when the response's body is still coming, a task waits for that), at most
//! `pool-max-conn` (split among the workers) are kept per address, one idle for longer than
//! `pool-purge-delay` is not taken and is closed by a reaper that runs every delay (closed
//! after between one and two delays), a request that a reused connection refused before
//! sending anything goes on another, and `Host` is set from the server's address when the
//! request has none.
//!
//! Only servers in clear text, with HTTP/1 and without `send-proxy` use it: TLS (`ssl`), HTTP/2
//! (`proto h2`, ALPN) and the PROXY header (a connection per client address) stay on
//! hyper-util's client (`super::ServerClient`).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, Response, Uri};
use tokio::time::Instant;
use tower_service::Service;

use super::upstream::CountingConnector;
use crate::body::RequestBody;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// hyper-util's shortest interval between two looks for expired connections.
const MIN_REAP: Duration = Duration::from_millis(90);

/// Why a request got no response from the server.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    /// No connection could be made (HAProxy's `SC`; `sC` when `timeout connect` ran out).
    #[error("connect error")]
    Connect(#[source] BoxError),
    /// The exchange on the connection failed: closed, broken, an invalid response, or the
    /// client's body failed.
    #[error("exchange error")]
    Exchange(#[source] hyper::Error),
}

/// The idle connections of one server on one worker.
#[derive(Debug)]
pub(crate) struct H1Pool {
    connector: CountingConnector,
    /// At most this many kept (0: none, HAProxy's `http-reuse never`).
    max_idle: usize,
    /// `pool-purge-delay` (`None`: kept until the server closes them).
    purge: Option<Duration>,
    idle: Mutex<Idle>,
}

/// The idle connections to one address, each with when it came back, the last returned at
/// the end.
type Kept = Vec<(SendRequest<RequestBody>, Instant)>;

#[derive(Debug, Default)]
struct Idle {
    /// The connections by the address they go to (a server at `0.0.0.0` follows the
    /// address each client connected to, hyper-util's key). Lists left empty stay until
    /// another address needs one.
    by_addr: Vec<(SocketAddr, Kept)>,
    /// The task that closes expired connections, started with the first one kept.
    reaper: Option<tokio::task::AbortHandle>,
}

impl Drop for H1Pool {
    fn drop(&mut self) {
        let idle = self.idle.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let Some(reaper) = idle.reaper.take() {
            reaper.abort();
        }
    }
}

impl H1Pool {
    pub(super) fn new(
        connector: CountingConnector,
        max_idle: usize,
        purge: Option<Duration>,
    ) -> Self {
        Self {
            connector,
            max_idle,
            purge,
            idle: Mutex::default(),
        }
    }

    /// Sends `req` (origin-form) to the server at `addr` on an idle connection or a new one,
    /// and waits for the response's head.
    pub(crate) async fn send(
        self: &Arc<Self>,
        mut req: Request<RequestBody>,
        addr: SocketAddr,
    ) -> Result<Response<Incoming>, SendError> {
        loop {
            let (mut tx, reused) = match self.checkout(addr) {
                Some(tx) => (tx, true),
                None => (self.connect(addr).await?, false),
            };
            match tx.try_send_request(req).await {
                Ok(resp) => {
                    self.release(addr, tx);
                    return Ok(resp);
                }
                // A kept connection closed before the request went out: another one, as
                // hyper-util's `retry_canceled_requests`. A new connection is not tried twice.
                Err(mut e) => match e.take_message() {
                    Some(back) if reused => req = back,
                    _ => return Err(SendError::Exchange(e.into_error())),
                },
            }
        }
    }

    /// The last connection to `addr` returned that is still open and not expired; the
    /// others met on the way are closed.
    fn checkout(&self, addr: SocketAddr) -> Option<SendRequest<RequestBody>> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let list = &mut idle.by_addr.iter_mut().find(|(a, _)| *a == addr)?.1;
        let mut now = None;
        while let Some((tx, at)) = list.pop() {
            if !tx.is_ready() {
                continue;
            }
            if let Some(purge) = self.purge {
                let now = *now.get_or_insert_with(Instant::now);
                if now.saturating_duration_since(at) > purge {
                    continue;
                }
            }
            return Some(tx);
        }
        None
    }

    /// A new connection, ready for a request (hyper-util's `connect_to` for HTTP/1).
    #[expect(
        clippy::disallowed_methods,
        reason = "the connection's task is owned by its SendRequest: it ends when the server \
                  closes or when the last SendRequest is gone and the exchange in flight is \
                  over (a response body may outlive the request's generation), as the task \
                  hyper-util's client spawned for it"
    )]
    async fn connect(&self, addr: SocketAddr) -> Result<SendRequest<RequestBody>, SendError> {
        let dst: Uri = format!("http://{addr}/")
            .parse()
            .map_err(|e| SendError::Connect(Box::new(e)))?;
        let mut connector = self.connector.clone();
        std::future::poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(SendError::Connect)?;
        let io = connector.call(dst).await.map_err(SendError::Connect)?;
        let (mut tx, conn) = http1::Builder::new()
            .handshake(io)
            .await
            .map_err(SendError::Exchange)?;
        let (err_tx, err_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(error = %e, "server connection failed");
                let _ = err_tx.send(e);
            }
        });
        match tx.ready().await {
            Ok(()) => Ok(tx),
            // The connection's own error says more than a closed channel.
            Err(e) if e.is_closed() => Err(SendError::Exchange(err_rx.await.unwrap_or(e))),
            Err(e) => Err(SendError::Exchange(e)),
        }
    }

    /// After a response's head: the connection goes back to the list once it is ready for
    /// another request (at once when the response is all read, else when a task sees it).
    #[expect(
        clippy::disallowed_methods,
        reason = "the task ends when the connection is ready or closed, as hyper-util's"
    )]
    fn release(self: &Arc<Self>, addr: SocketAddr, mut tx: SendRequest<RequestBody>) {
        if self.max_idle == 0 {
            return;
        }
        if tx.is_ready() {
            self.put(addr, tx);
            return;
        }
        let pool = Arc::downgrade(self);
        tokio::spawn(async move {
            if tx.ready().await.is_ok()
                && let Some(pool) = pool.upgrade()
            {
                pool.put(addr, tx);
            }
        });
    }

    #[expect(
        clippy::disallowed_methods,
        reason = "the reaper is aborted when the pool is dropped (its AbortHandle is kept)"
    )]
    fn put(self: &Arc<Self>, addr: SocketAddr, tx: SendRequest<RequestBody>) {
        if !tx.is_ready() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let at = match idle.by_addr.iter().position(|(a, _)| *a == addr) {
            Some(at) => at,
            None => {
                idle.by_addr.retain(|(_, list)| !list.is_empty());
                idle.by_addr.push((addr, Vec::new()));
                idle.by_addr.len() - 1
            }
        };
        let list = &mut idle.by_addr[at].1;
        if list.len() >= self.max_idle {
            return;
        }
        list.push((tx, Instant::now()));
        if idle.reaper.is_none()
            && let Some(purge) = self.purge
        {
            let task = tokio::spawn(reap(Arc::downgrade(self), purge.max(MIN_REAP)));
            idle.reaper = Some(task.abort_handle());
        }
    }

    /// Closes the connections closed by the server or idle for longer than the delay.
    fn clear_expired(&self, purge: Duration) {
        let now = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        for (_, list) in &mut idle.by_addr {
            list.retain(|(tx, at)| tx.is_ready() && now.saturating_duration_since(*at) <= purge);
        }
        idle.by_addr.retain(|(_, list)| !list.is_empty());
    }

    /// How many connections are kept now.
    #[cfg(test)]
    fn idle_len(&self) -> usize {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .by_addr
            .iter()
            .map(|(_, list)| list.len())
            .sum()
    }
}

/// Every `every`, closes the expired connections of `pool`, while it exists.
async fn reap(pool: Weak<H1Pool>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Some(pool) = pool.upgrade() else {
            return;
        };
        if let Some(purge) = pool.purge {
            pool.clear_expired(purge);
        }
    }
}

/// The `Host` header hyper-util's client gives a request without one: the server's address,
/// its port left out when it is HTTP's default.
pub(crate) fn host_of(addr: SocketAddr) -> Option<hyper::header::HeaderValue> {
    let text = match (addr.ip(), addr.port()) {
        (std::net::IpAddr::V4(ip), 80) => ip.to_string(),
        (std::net::IpAddr::V6(ip), 80) => format!("[{ip}]"),
        _ => addr.to_string(),
    };
    hyper::header::HeaderValue::try_from(text).ok()
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "the test origin's tasks end with the test's runtime"
)]
mod tests {
    use super::*;

    #[test]
    fn the_host_leaves_out_the_default_port() {
        let host = |a: &str| host_of(a.parse().unwrap()).unwrap();
        assert_eq!(host("127.0.0.1:80"), "127.0.0.1");
        assert_eq!(host("127.0.0.1:8080"), "127.0.0.1:8080");
        assert_eq!(host("[::1]:80"), "[::1]");
        assert_eq!(host("[::1]:8443"), "[::1]:8443");
    }

    /// A server that answers every request on a connection with an empty 200 and counts
    /// the connections it accepted.
    async fn origin() -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut seen = Vec::new();
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 {
                            return;
                        }
                        seen.extend_from_slice(&buf[..n]);
                        while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                            seen.drain(..end + 4);
                            let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                            if s.write_all(answer).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (addr, accepted)
    }

    fn pool(max_idle: usize, purge: Option<Duration>) -> Arc<H1Pool> {
        let counters = Arc::<crate::stats::Counters>::default();
        let connector = CountingConnector::new(
            hyper_util::client::legacy::connect::HttpConnector::new(),
            counters.clone(),
            counters,
            Arc::new(crate::sockopt::Outgoing::default()),
        );
        Arc::new(H1Pool::new(connector, max_idle, purge))
    }

    fn get() -> Request<RequestBody> {
        let mut req = Request::new(RequestBody::empty(crate::body::Progress::new()));
        *req.uri_mut() = Uri::from_static("/");
        req.headers_mut()
            .insert(hyper::header::HOST, "origin".parse().unwrap());
        req
    }

    #[tokio::test]
    async fn a_connection_is_reused_and_none_kept_with_max_zero() {
        let (addr, accepted) = origin().await;
        let kept = pool(4, None);
        for _ in 0..3 {
            let resp = kept.send(get(), addr).await.unwrap();
            assert_eq!(resp.status(), 200);
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(kept.idle_len(), 1);

        let (addr, accepted) = origin().await;
        let never = pool(0, None);
        for _ in 0..3 {
            never.send(get(), addr).await.unwrap();
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 3);
        assert_eq!(never.idle_len(), 0);
    }

    #[tokio::test]
    async fn a_connection_goes_only_to_its_address() {
        let (a, accepted_a) = origin().await;
        let (b, accepted_b) = origin().await;
        let kept = pool(4, None);
        for addr in [a, b, a, b] {
            kept.send(get(), addr).await.unwrap();
        }
        assert_eq!(accepted_a.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(accepted_b.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(kept.idle_len(), 2);
    }

    #[tokio::test]
    async fn an_expired_connection_is_not_taken() {
        let (addr, accepted) = origin().await;
        let purged = pool(4, Some(Duration::from_millis(1)));
        purged.send(get(), addr).await.unwrap();
        // Expired by the time of the next checkout: its timestamp is moved back rather than
        // the test sleeping.
        {
            let mut idle = purged.idle.lock().unwrap();
            let (_, at) = idle.by_addr[0].1.last_mut().unwrap();
            *at -= Duration::from_millis(50);
        }
        purged.send(get(), addr).await.unwrap();
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn no_server_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = pool(4, None).send(get(), addr).await.unwrap_err();
        assert!(matches!(err, SendError::Connect(_)), "{err:?}");
    }
}
