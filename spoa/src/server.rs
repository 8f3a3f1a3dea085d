//! Accepting engine connections and stopping gracefully.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use std::time::Duration;
use tokio::sync::Semaphore;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::admission::{Admission, CountGuard};
use crate::config::{Config, ConfigError};
use crate::connection;
use crate::handler::Handler;
use crate::listener::Listener;
use crate::metrics::Metrics;
use crate::metrics_http::MetricsEndpoint;
use crate::shared::Shared;
use crate::workers::Workers;
use spop::agent::ConnectionEnd;

/// Connections waiting for a slot (or being refused) at once beyond
/// `max_connections`; past it a new connection is closed at once, so that a
/// flood costs at most this many small tasks.
const MAX_WAITING: usize = 64;

/// The TLS a listener serves with, if any.
#[cfg(feature = "tls")]
type Tls = crate::tls::ServerTls;
/// Without the `tls` feature, there is none.
#[cfg(not(feature = "tls"))]
#[derive(Clone)]
enum Tls {}

/// An agent: a handler, its settings and its metrics. Cheap to clone.
pub struct Server<H> {
    shared: Arc<Shared<H>>,
    /// Where connections run: spread over these, or on the caller's runtime.
    workers: Option<Arc<Workers>>,
}

impl<H> Clone for Server<H> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            workers: self.workers.clone(),
        }
    }
}

impl<H> std::fmt::Debug for Server<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl<H: Handler> Server<H> {
    /// An agent serving `handler` with `config`, with fresh metrics.
    pub fn new(handler: H, config: Config) -> Result<Self, ConfigError> {
        Self::with_metrics(handler, config, Arc::new(Metrics::new()))
    }

    /// An agent that records into `metrics` (to share a registry).
    pub fn with_metrics(
        handler: H,
        config: Config,
        metrics: Arc<Metrics>,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            shared: Arc::new(Shared::new(handler, config, metrics)),
            workers: None,
        })
    }

    /// Serves the connections [`Server::serve`] accepts on `workers`, in
    /// turn, each on one thread for its whole life (see [`Workers`]),
    /// instead of on the caller's runtime. TCP and Unix sockets move to
    /// their worker's runtime; accepting stays on the caller's.
    #[must_use]
    pub fn with_workers(mut self, workers: Arc<Workers>) -> Self {
        self.workers = Some(workers);
        self
    }

    /// The agent's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.shared.metrics
    }

    /// Serves the agent's Prometheus metrics at `http://ADDR/metrics`
    /// (OpenMetrics text) until the returned endpoint is dropped or shut
    /// down; port 0 picks a free port ([`MetricsEndpoint::local_addr`]).
    /// Must be called inside a tokio runtime.
    ///
    /// ```no_run
    /// # async fn f(server: spoa::Server<spoa::Router>) -> std::io::Result<()> {
    /// let metrics = server.serve_metrics("127.0.0.1:9100").await?;
    /// println!("metrics on http://{}/metrics", metrics.local_addr());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// When `addr` cannot be bound.
    pub async fn serve_metrics(
        &self,
        addr: impl tokio::net::ToSocketAddrs,
    ) -> io::Result<MetricsEndpoint> {
        MetricsEndpoint::start(addr, self.shared.metrics.clone()).await
    }

    /// The agent's settings.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Accepts connections on `listener` until `shutdown` is cancelled, then
    /// stops accepting, lets each connection finish its in-flight handlers
    /// (within [`Config::drain_grace`]), sends AGENT-DISCONNECT 0 and returns
    /// once every connection is closed.
    ///
    /// At most [`Config::max_connections`] connections are served at once;
    /// the ones beyond are refused with AGENT-DISCONNECT 13 after their
    /// HELLO.
    pub async fn serve(&self, listener: Listener, shutdown: CancellationToken) -> io::Result<()> {
        self.serve_on(listener, None, shutdown).await
    }

    /// As [`Server::serve`], over TLS (feature `tls`): each connection's handshake, within
    /// [`Config::hello_timeout`], comes after it took one of the
    /// [`Config::max_connections`] slots. A failed handshake (the engine's certificate does
    /// not verify, or none is given when `tls` asks for one) closes the connection, is
    /// counted in `spoa_connection_ends_total{end="tls_handshake"}` and logged
    /// (rate-limited) with the reason.
    #[cfg(feature = "tls")]
    pub async fn serve_tls(
        &self,
        listener: Listener,
        tls: crate::tls::ServerTls,
        shutdown: CancellationToken,
    ) -> io::Result<()> {
        self.serve_on(listener, Some(tls), shutdown).await
    }

    async fn serve_on(
        &self,
        listener: Listener,
        tls: Option<Tls>,
        shutdown: CancellationToken,
    ) -> io::Result<()> {
        let tracker = TaskTracker::new();
        // The connections' own token, cancelled after the drain line has
        // counted them (a child of `shutdown` would be cancelled with it, and
        // the count would miss the connections that closed meanwhile), or
        // when this future is dropped.
        let connections = CancellationToken::new();
        let _cancel_on_drop = connections.clone().drop_guard();
        let counts = Counts {
            slots: Arc::new(Semaphore::new(self.shared.config.max_connections)),
            waiting: Arc::default(),
        };
        match &listener {
            Listener::Tcp(l) => loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    r = l.accept() => match r {
                        Ok((sock, peer)) => {
                            let _ = sock.set_nodelay(true);
                            match self.workers.as_deref() {
                                // Registered again with the worker's reactor, inside it.
                                Some(w) => match sock.into_std() {
                                    Ok(std) => self.spawn_connection(&tracker, &counts, move || tokio::net::TcpStream::from_std(std), Some(peer), tls.as_ref(), &connections, Some(w.next())),
                                    Err(e) => accept_failed(e).await,
                                },
                                None => self.spawn_connection(&tracker, &counts, move || Ok(sock), Some(peer), tls.as_ref(), &connections, None),
                            }
                        }
                        Err(e) => accept_failed(e).await,
                    },
                }
            },
            Listener::Unix(l, _) => loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    r = l.accept() => match r {
                        Ok((sock, _)) => match self.workers.as_deref() {
                            Some(w) => match sock.into_std() {
                                Ok(std) => self.spawn_connection(&tracker, &counts, move || tokio::net::UnixStream::from_std(std), None, tls.as_ref(), &connections, Some(w.next())),
                                Err(e) => accept_failed(e).await,
                            },
                            None => self.spawn_connection(&tracker, &counts, move || Ok(sock), None, tls.as_ref(), &connections, None),
                        },
                        Err(e) => accept_failed(e).await,
                    },
                }
            },
        }
        drop(listener);
        tracker.close();
        info!(
            connections = tracker.len(),
            "agent stopping: draining connections"
        );
        connections.cancel();
        let cfg = &self.shared.config;
        // Each connection bounds its own drain; this is a backstop.
        let bound = cfg
            .drain_grace
            .saturating_add(cfg.write_timeout.saturating_mul(2))
            .saturating_add(Duration::from_secs(1));
        if tokio::time::timeout(bound, tracker.wait()).await.is_err() {
            warn!("connections still open after the drain bound; dropping them");
        }
        Ok(())
    }

    /// Serves one already-accepted connection (any byte stream) until it
    /// ends or `shutdown` is cancelled. [`Config::max_connections`] is
    /// [`Server::serve`]'s: a connection passed here is always served.
    pub async fn serve_connection<IO>(
        &self,
        io: IO,
        peer: Option<SocketAddr>,
        shutdown: CancellationToken,
    ) -> ConnectionEnd
    where
        IO: AsyncRead + AsyncWrite + Send + 'static,
    {
        self.serve_admitted(io, peer, shutdown, Admission::Admitted(None))
            .await
    }

    async fn serve_admitted<IO>(
        &self,
        io: IO,
        peer: Option<SocketAddr>,
        shutdown: CancellationToken,
        admission: Admission,
    ) -> ConnectionEnd
    where
        IO: AsyncRead + AsyncWrite + Send + 'static,
    {
        let metrics = &self.shared.metrics;
        metrics.connection_opened();
        let end = connection::run(io, peer, self.shared.clone(), shutdown, admission).await;
        metrics.connection_closed();
        metrics.connection_ended(end.label());
        end
    }

    /// The TLS handshake, then [`Server::serve_admitted`].
    #[cfg(feature = "tls")]
    async fn serve_tls_admitted<IO>(
        &self,
        tls: Tls,
        io: IO,
        peer: Option<SocketAddr>,
        shutdown: CancellationToken,
        admission: Admission,
    ) where
        IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let limit = self.shared.config.hello_timeout;
        let accepted = tokio::select! {
            r = tls.accept(io, limit) => r,
            () = shutdown.cancelled() => return,
        };
        match accepted {
            Ok(stream) => {
                self.serve_admitted(stream, peer, shutdown, admission).await;
            }
            Err(e) => {
                self.shared.metrics.connection_ended("tls_handshake");
                if let Some(suppressed) = self.shared.tls_log.admit() {
                    let peer = peer.map_or_else(|| "unix socket".to_owned(), |p| p.to_string());
                    warn!(%peer, error = %e, suppressed, "engine connection refused: TLS handshake failed");
                }
            }
        }
    }

    #[cfg(not(feature = "tls"))]
    async fn serve_tls_admitted<IO>(
        &self,
        tls: Tls,
        _: IO,
        _: Option<SocketAddr>,
        _: CancellationToken,
        _: Admission,
    ) {
        match tls {}
    }

    /// Serves the connection `io` makes (on `on`, where its socket is
    /// registered, or on the caller's runtime).
    #[allow(
        clippy::too_many_arguments,
        reason = "one accept loop's state, passed down once per connection"
    )]
    fn spawn_connection<IO>(
        &self,
        tracker: &TaskTracker,
        counts: &Counts,
        io: impl FnOnce() -> io::Result<IO> + Send + 'static,
        peer: Option<SocketAddr>,
        tls: Option<&Tls>,
        shutdown: &CancellationToken,
        on: Option<&Handle>,
    ) where
        IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let cfg = &self.shared.config;
        let admission = match counts.slots.clone().try_acquire_owned() {
            Ok(slot) => Admission::Admitted(Some(slot)),
            Err(_) => {
                self.shared.metrics.over_limit();
                if counts.waiting.load(Ordering::Relaxed) >= MAX_WAITING {
                    if let Some(suppressed) = self.shared.over_limit_log.admit() {
                        warn!(
                            max_connections = cfg.max_connections,
                            waiting = MAX_WAITING,
                            suppressed,
                            "too many connections open and waiting: closing a new one at once"
                        );
                    }
                    return;
                }
                Admission::OverLimit {
                    slots: counts.slots.clone(),
                    wait: cfg.over_limit_wait,
                    waiting: CountGuard::take(&counts.waiting),
                }
            }
        };
        let this = self.clone();
        let token = shutdown.child_token();
        let tls = tls.cloned();
        let task = async move {
            let io = match io() {
                Ok(io) => io,
                Err(e) => {
                    warn!(error = %e, "engine connection lost while moving to its worker");
                    return;
                }
            };
            match tls {
                None => {
                    this.serve_admitted(io, peer, token, admission).await;
                }
                Some(tls) => {
                    this.serve_tls_admitted(tls, io, peer, token, admission)
                        .await
                }
            }
        };
        match on {
            Some(handle) => tracker.spawn_on(task, handle),
            None => tracker.spawn(task),
        };
    }
}

/// The connection slots of one [`Server::serve`] call, and the connections
/// waiting for one.
struct Counts {
    slots: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
}

async fn accept_failed(e: io::Error) {
    // Out of file descriptors and the like: wait instead of spinning.
    warn!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_millis(100)).await;
}
