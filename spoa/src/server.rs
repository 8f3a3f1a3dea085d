//! Accepting engine connections and stopping gracefully.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::config::{Config, ConfigError};
use crate::connection::{self, ConnectionEnd};
use crate::handler::Handler;
use crate::listener::Listener;
use crate::metrics::Metrics;

pub(crate) struct Shared<H> {
    pub(crate) handler: H,
    pub(crate) config: Config,
    pub(crate) metrics: Arc<Metrics>,
}

/// An agent: a handler, its settings and its metrics. Cheap to clone.
pub struct Server<H> {
    shared: Arc<Shared<H>>,
}

impl<H> Clone for Server<H> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
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
            shared: Arc::new(Shared {
                handler,
                config,
                metrics,
            }),
        })
    }

    /// The agent's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.shared.metrics
    }

    /// The agent's settings.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Accepts connections on `listener` until `shutdown` is cancelled, then
    /// stops accepting, lets each connection finish its in-flight handlers
    /// (within [`Config::drain_grace`]), sends AGENT-DISCONNECT 0 and returns
    /// once every connection is closed.
    pub async fn serve(&self, listener: Listener, shutdown: CancellationToken) -> io::Result<()> {
        let tracker = TaskTracker::new();
        match &listener {
            Listener::Tcp(l) => loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    r = l.accept() => match r {
                        Ok((sock, peer)) => {
                            let _ = sock.set_nodelay(true);
                            self.spawn_connection(&tracker, sock, Some(peer), &shutdown);
                        }
                        Err(e) => accept_failed(e).await,
                    },
                }
            },
            Listener::Unix(l, _) => loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    r = l.accept() => match r {
                        Ok((sock, _)) => self.spawn_connection(&tracker, sock, None, &shutdown),
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
    /// ends or `shutdown` is cancelled.
    pub async fn serve_connection<IO>(
        &self,
        io: IO,
        peer: Option<SocketAddr>,
        shutdown: CancellationToken,
    ) -> ConnectionEnd
    where
        IO: AsyncRead + AsyncWrite + Send + 'static,
    {
        let metrics = &self.shared.metrics;
        metrics.connection_opened();
        let end = connection::run(io, peer, self.shared.clone(), shutdown).await;
        metrics.connection_closed();
        end
    }

    fn spawn_connection<IO>(
        &self,
        tracker: &TaskTracker,
        io: IO,
        peer: Option<SocketAddr>,
        shutdown: &CancellationToken,
    ) where
        IO: AsyncRead + AsyncWrite + Send + 'static,
    {
        let this = self.clone();
        let token = shutdown.child_token();
        tracker.spawn(async move {
            this.serve_connection(io, peer, token).await;
        });
    }
}

async fn accept_failed(e: io::Error) {
    // Out of file descriptors and the like: wait instead of spinning.
    warn!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_millis(100)).await;
}
