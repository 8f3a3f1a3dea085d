//! The running gateway: listeners kept across reloads, the current
//! generation, reloads and stops.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::generation::Generation;
use crate::metrics::GatewayMetrics;
use crate::model::GatewayConfig;
use crate::proxy::{self, Session};
use crate::workers::Workers;
use exchange::Exchange;

mod connection;
mod exchange;
mod http1;
mod listen;
mod stop;

/// A configuration, loaded and validated, with the variable names it uses.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The configuration.
    pub config: GatewayConfig,
    /// Full names of the variables it references (agents may set them
    /// without `force-set-var`).
    pub var_names: Vec<String>,
}

/// Loading a configuration failed; the text lists every error
/// (`parsing [file:line:col] : ...`, one per line).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ReloadError(pub String);

impl ReloadError {
    /// The error of a configuration that is valid but has no `bind` line in
    /// any frontend: starting or reloading into it would serve nothing.
    pub fn no_listener() -> Self {
        Self(format!("{NO_LISTENER}: no frontend has a 'bind' line"))
    }
}

/// HAProxy's words (`haproxy -c`, exit code 2) for a configuration without
/// a listener.
pub const NO_LISTENER: &str = "Configuration file has no error but will not start (no listener)";

/// Refuses a configuration that would listen nowhere.
fn ensure_listener(config: &GatewayConfig) -> Result<(), ReloadError> {
    if config.has_listener() {
        Ok(())
    } else {
        Err(ReloadError::no_listener())
    }
}

/// Reads the configuration from wherever it lives (files, in tests a string).
pub type Loader = Arc<dyn Fn() -> Result<Loaded, ReloadError> + Send + Sync>;

/// Largest request head accepted (HAProxy's default `tune.bufsize`).
pub const REQUEST_HEAD_LIMIT: usize = 16 * 1024;

/// How long a stop or an old generation's drain may take when
/// `hard-stop-after` is not set.
pub const DEFAULT_HARD_STOP_AFTER: Duration = Duration::from_secs(30);

/// How often a stop says what it still waits for.
pub const STOP_PROGRESS_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct ListenerHandle {
    stop: CancellationToken,
}

/// A client connection open now.
#[derive(Debug)]
struct LiveConn {
    accepted: tokio::time::Instant,
    exchange: Arc<Exchange>,
}

/// The gateway.
pub struct Gateway {
    loader: Loader,
    current: RwLock<Arc<Generation>>,
    listeners: Mutex<HashMap<SocketAddr, ListenerHandle>>,
    metrics: Arc<GatewayMetrics>,
    next_id: AtomicU64,
    /// Cancelled on stop: listeners close, connections finish their request.
    stopping: CancellationToken,
    connections: TaskTracker,
    /// Client connections open now: what a stop waits for, and what it
    /// closes by force when its bound runs out.
    live: Mutex<HashMap<u64, LiveConn>>,
    next_conn: AtomicU64,
    /// Cancelled when a stop's bound ran out: connections close at once.
    killed: CancellationToken,
    retiring: TaskTracker,
    maxconn: Option<Arc<Semaphore>>,
    reload_lock: tokio::sync::Mutex<()>,
    workers: Arc<Workers>,
    /// Listening sockets handed over by the caller, used for the `bind`
    /// address they are bound to instead of binding it (a test binds port 0
    /// and writes the port it got into the configuration).
    prebound: Mutex<Vec<std::net::TcpListener>>,
    /// Client connections open (`%ac`), and per frontend name (`%fc`).
    conns: Arc<std::sync::atomic::AtomicUsize>,
    /// Set when a stop outlasts its bound: requests cut then are logged `K`.
    killing: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").finish_non_exhaustive()
    }
}

impl Gateway {
    /// Loads the configuration, starts generation 1 and binds its listeners.
    /// Everything runs on the caller's runtime.
    pub async fn start(loader: Loader) -> Result<Arc<Self>, ReloadError> {
        Self::start_with_listeners(loader, Vec::new()).await
    }

    /// As [`Gateway::start`], serving each `bind` address that one of
    /// `listeners` is bound to on that listener.
    pub async fn start_with_listeners(
        loader: Loader,
        listeners: Vec<std::net::TcpListener>,
    ) -> Result<Arc<Self>, ReloadError> {
        let loaded = loader()?;
        Self::start_inner(loaded, loader, Arc::new(Workers::current()), listeners).await
    }

    /// Starts generation 1 from a configuration the caller already loaded
    /// (to read `nbthread` before starting the workers, say); `loader` is
    /// used for reloads. Client connections are served on `workers`;
    /// listeners, reloads and health checks run on the caller's runtime.
    pub async fn start_loaded(
        loaded: Loaded,
        loader: Loader,
        workers: Arc<Workers>,
    ) -> Result<Arc<Self>, ReloadError> {
        Self::start_inner(loaded, loader, workers, Vec::new()).await
    }

    async fn start_inner(
        loaded: Loaded,
        loader: Loader,
        workers: Arc<Workers>,
        prebound: Vec<std::net::TcpListener>,
    ) -> Result<Arc<Self>, ReloadError> {
        ensure_listener(&loaded.config)?;
        let maxconn = loaded
            .config
            .global
            .maxconn
            .map(|n| Arc::new(Semaphore::new(n.max(1))));
        let metrics = Arc::new(GatewayMetrics::new());
        let generation = Arc::new(Generation::start(
            1,
            Arc::new(loaded.config),
            &loaded.var_names,
            &workers,
            &metrics.stats,
        ));
        metrics.generations.inc();
        let gw = Arc::new(Self {
            loader,
            current: RwLock::new(generation.clone()),
            listeners: Mutex::new(HashMap::new()),
            metrics,
            next_id: AtomicU64::new(2),
            stopping: CancellationToken::new(),
            connections: TaskTracker::new(),
            live: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
            killed: CancellationToken::new(),
            retiring: TaskTracker::new(),
            maxconn,
            reload_lock: tokio::sync::Mutex::new(()),
            workers,
            prebound: Mutex::new(prebound),
            conns: Arc::default(),
            killing: Arc::default(),
        });
        gw.bind_listeners(&generation.config).await?;
        info!(generation = 1, "gateway started");
        Ok(gw)
    }

    /// The generation new requests use.
    pub fn current(&self) -> Arc<Generation> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<GatewayMetrics> {
        &self.metrics
    }

    /// Addresses being listened on.
    pub fn listening(&self) -> Vec<SocketAddr> {
        self.listeners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .keys()
            .copied()
            .collect()
    }

    /// Generations still alive (the current one, and old ones draining).
    pub fn generations_alive(&self) -> usize {
        1 + self.retiring.len()
    }

    /// The access line of a request the gateway refused or cut before it
    /// had a whole head (HAProxy's `<BADREQ>`): `status` is what the client
    /// received (`None`: nothing), `bytes` how much of it.
    fn log_refused(
        &self,
        session: &Session,
        status: Option<u16>,
        termination: &'static str,
        bytes: u64,
    ) {
        let generation = self.current();
        let frontend = generation.frontend_for(session.local).map(|f| &f.model);
        proxy::log_refused(
            session,
            frontend.map_or("-", |f| f.name.as_str()),
            frontend
                .is_some_and(|f| f.httplog)
                .then_some(generation.config.global.syslog),
            status,
            termination,
            bytes,
        );
    }

    /// Validates and loads the configuration again. On success new requests
    /// use the new generation at once; the old one finishes its requests,
    /// drains its engines and is dropped (bounded by `hard-stop-after`). On
    /// failure the running generation stays and the error lists every problem
    /// (a configuration without any listener is refused too); the caller
    /// logs it, once.
    pub async fn reload(self: &Arc<Self>) -> Result<u64, ReloadError> {
        let _one_at_a_time = self.reload_lock.lock().await;
        let loaded = match (self.loader)().and_then(|l| ensure_listener(&l.config).map(|()| l)) {
            Ok(l) => l,
            Err(e) => {
                self.metrics.reload_failures.inc();
                return Err(e);
            }
        };
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        if let Some(n) = loaded.config.global.nbthread
            && n != self.workers.len()
        {
            // As with HAProxy, the thread count is fixed at start.
            warn!(
                nbthread = n,
                workers = self.workers.len(),
                "nbthread changed: it takes effect at the next start, not on reload"
            );
        }
        let config = Arc::new(loaded.config);
        if let Err(e) = self.bind_listeners(&config).await {
            self.metrics.reload_failures.inc();
            return Err(e);
        }
        let generation = Arc::new(Generation::start(
            id,
            config,
            &loaded.var_names,
            &self.workers,
            &self.metrics.stats,
        ));
        let old = std::mem::replace(
            &mut *self
                .current
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            generation,
        );
        self.metrics.reloads.inc();
        self.metrics.generations.inc();
        info!(generation = id, previous = old.id, "configuration reloaded");
        let bound = old
            .config
            .global
            .hard_stop_after
            .unwrap_or(DEFAULT_HARD_STOP_AFTER);
        let metrics = self.metrics.clone();
        metrics.retiring(old.clone());
        self.retiring.spawn(async move {
            // Idle agent connections close now, busy ones after their last ACK.
            old.drain();
            let _ = tokio::time::timeout(bound, async {
                old.idle().await;
                old.drained().await;
            })
            .await;
            info!(generation = old.id, "generation retired");
            metrics.retired(&old);
            metrics.generations.dec();
        });
        Ok(id)
    }
}
