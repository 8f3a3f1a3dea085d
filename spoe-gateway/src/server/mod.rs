//! The running gateway: listeners kept across reloads, the current
//! generation, reloads and stops.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;

use spoe::config::ConfigErrors;

use crate::generation::Generation;
use crate::limits::ConnLimits;
use crate::log::LogSinks;
use crate::metrics::GatewayMetrics;
use crate::model::GatewayConfig;
use crate::proxy::{self, Session};
use crate::workers::Workers;
use exchange::Exchange;

mod cli;
mod connection;
mod exchange;
mod h2_streams;
mod http1;
mod http2;
mod listen;
mod proxy_header;
mod reload;
mod stop;
mod stream;
mod tcp;
mod tls;
mod waits;

/// A configuration, loaded and validated, with the variable names it uses.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The configuration.
    pub config: GatewayConfig,
    /// Full names of the variables it references (agents may set them
    /// without `force-set-var`).
    pub var_names: Vec<String>,
}

/// Why a configuration could not be started or reloaded into (the running
/// generation, if any, stays).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ReloadError {
    /// The configuration has errors: each with its `file:line:col` (shown one
    /// per line, `parsing [file:line:col] : ...`), and the warnings found along.
    #[error("{0}")]
    Config(ConfigErrors),
    /// The configuration is valid but no frontend has a `bind` line: it would
    /// serve nothing.
    #[error("{NO_LISTENER}: no frontend has a 'bind' line")]
    NoListener,
    /// A `bind` address the running gateway does not listen on yet could not
    /// be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The loader failed before any configuration was read (say, a thread
    /// could not be started); the text says why.
    #[error("{0}")]
    Load(String),
    /// The `pidfile` could not be written (HAProxy exits: "Cannot create pidfile").
    #[error("cannot create pidfile {path}: {source}")]
    PidFile {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// A `stats socket` could not be bound.
    #[error("cannot bind stats socket {addr}: {source}")]
    StatsSocket {
        /// The path or address.
        addr: String,
        /// The operating system's error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The process could not enter its `chroot` or become its `user`/`group`.
    #[error(transparent)]
    Process(#[from] crate::process::ProcessError),
    /// A reload changes what only a restart can (`chroot`, `user`, `group`).
    #[error("{0}")]
    Restart(String),
    /// The configuration's Lua files could not be loaded or their init functions failed.
    #[error("{0}")]
    Lua(#[from] spoe_lua::LoadError),
}

impl From<ConfigErrors> for ReloadError {
    fn from(errors: ConfigErrors) -> Self {
        Self::Config(errors)
    }
}

/// HAProxy's words (`haproxy -c`, exit code 2) for a configuration without
/// a listener.
pub const NO_LISTENER: &str = "Configuration file has no error but will not start (no listener)";

/// `pidfile`: replaced (HAProxy unlinks it first), then this process's id and a newline.
fn write_pidfile(path: &Path) -> Result<(), ReloadError> {
    let _ = std::fs::remove_file(path);
    std::fs::write(path, format!("{}\n", std::process::id())).map_err(|e| ReloadError::PidFile {
        path: path.to_owned(),
        source: Arc::new(e),
    })
}

/// Refuses a configuration that would listen nowhere.
fn ensure_listener(config: &GatewayConfig) -> Result<(), ReloadError> {
    if config.has_listener() {
        Ok(())
    } else {
        Err(ReloadError::NoListener)
    }
}

/// Reads the configuration from wherever it lives (files, in tests a string).
pub type Loader = Arc<dyn Fn() -> Result<Loaded, ReloadError> + Send + Sync>;

/// How long a stop or an old generation's drain may take when
/// `hard-stop-after` is not set.
pub const DEFAULT_HARD_STOP_AFTER: Duration = Duration::from_secs(30);

/// How often a stop says what it still waits for.
pub const STOP_PROGRESS_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct ListenerHandle {
    stop: CancellationToken,
    /// The socket, whose options a reload sets again.
    socket: Arc<tokio::net::TcpListener>,
}

/// A client connection open now.
#[derive(Debug)]
struct LiveConn {
    accepted: tokio::time::Instant,
    exchange: Arc<Exchange>,
    /// What the stop wakes when the connection waits for its next request (`None`: a
    /// `mode tcp` stream).
    session: Option<Arc<Session>>,
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
    /// `maxconn`: the process's, each frontend's, each listener's.
    limits: Arc<ConnLimits>,
    /// `maxconnrate`, `maxsessrate`, `maxsslrate`, `rate-limit sessions`.
    rates: crate::rate::AcceptRates,
    reload_lock: tokio::sync::Mutex<()>,
    workers: Arc<Workers>,
    /// Listening sockets handed over by the caller, used for the `bind`
    /// address they are bound to instead of binding it (a test binds port 0
    /// and writes the port it got into the configuration).
    prebound: Mutex<Vec<std::net::TcpListener>>,
    /// Set when a stop outlasts its bound: requests cut then are logged `K`.
    killing: Arc<std::sync::atomic::AtomicBool>,
    /// Where log lines go.
    sinks: LogSinks,
    /// The `stats socket` listeners.
    cli: cli::Serving,
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
        Self::start_with_sinks(loader, listeners, LogSinks::process()).await
    }

    /// As [`Gateway::start_with_listeners`], with log lines going to `sinks` instead of the
    /// process's stdout and stderr.
    pub async fn start_with_sinks(
        loader: Loader,
        listeners: Vec<std::net::TcpListener>,
        sinks: LogSinks,
    ) -> Result<Arc<Self>, ReloadError> {
        let loaded = loader()?;
        Self::start_inner(
            loaded,
            loader,
            Arc::new(Workers::current()),
            listeners,
            sinks,
        )
        .await
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
        Self::start_inner(loaded, loader, workers, Vec::new(), LogSinks::process()).await
    }

    async fn start_inner(
        loaded: Loaded,
        loader: Loader,
        workers: Arc<Workers>,
        prebound: Vec<std::net::TcpListener>,
        sinks: LogSinks,
    ) -> Result<Arc<Self>, ReloadError> {
        ensure_listener(&loaded.config)?;
        let limits = Arc::new(ConnLimits::default());
        limits.configure(&loaded.config, workers.len());
        let rates = crate::rate::AcceptRates::default();
        rates.configure(&loaded.config);
        let metrics = Arc::new(GatewayMetrics::of(&sinks, limits.clone()));
        metrics
            .threads
            .store(workers.len(), std::sync::atomic::Ordering::Relaxed);
        let generation = Arc::new(Generation::start(
            1,
            Arc::new(loaded.config),
            &loaded.var_names,
            &workers,
            &metrics.stats,
            &sinks,
            &metrics.lua_errors,
        )?);
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
            limits,
            rates,
            reload_lock: tokio::sync::Mutex::new(()),
            workers,
            prebound: Mutex::new(prebound),
            killing: Arc::default(),
            sinks,
            cli: cli::Serving::default(),
        });
        gw.bind_listeners(&generation.config).await?;
        gw.bind_stats_sockets(&generation.config)?;
        if let Some(path) = &generation.config.global.pidfile {
            write_pidfile(path)?;
        }
        // Once listening (and the pidfile written), as HAProxy: the listeners stay open.
        crate::process::enter(&generation.config.global.process)?;
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
        self.log_bad_request(session, Input::Some, status, termination, bytes);
    }

    /// [`log_refused`](Self::log_refused) of a connection that may have sent nothing, which
    /// `option dontlognull` leaves out (HAProxy's `PR_O_NULLNOLOG` in `mux_h1.c`).
    fn log_bad_request(
        &self,
        session: &Session,
        input: Input,
        status: Option<u16>,
        termination: &'static str,
        bytes: u64,
    ) {
        let generation = self.current();
        let frontend = generation.frontend_for(session.listener());
        if input == Input::Nothing && frontend.is_some_and(|f| f.model.log_options.dont_log_null) {
            return;
        }
        proxy::log_refused(
            session,
            frontend.map_or("-", |f| f.model.name.as_str()),
            frontend
                .filter(|f| !f.log.is_off())
                .and_then(|f| Some((f.log.clone(), f.model.access_format.clone()?))),
            frontend.map(|f| f.model.log_options).unwrap_or_default(),
            status,
            termination,
            bytes,
        );
    }
}

/// What a connection sent before it was refused or closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    /// Not a byte.
    Nothing,
    /// Something.
    Some,
}
