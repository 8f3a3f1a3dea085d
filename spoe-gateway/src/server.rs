//! The running gateway: listeners kept across reloads, the current
//! generation, reloads and stops.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use hyper::server::conn::http1;
use hyper_util::rt::TokioTimer;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use spoe::config::ConfigErrors;

use crate::access::{ConnCounts, Counted};
use crate::conn::{ClientIo, Exchange, Phase, Tracked};
use crate::generation::Generation;
use crate::log::LogSinks;
use crate::metrics::GatewayMetrics;
use crate::model::GatewayConfig;
use crate::proxy::{self, Session};
use crate::workers::Workers;

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
}

impl From<ConfigErrors> for ReloadError {
    fn from(errors: ConfigErrors) -> Self {
        Self::Config(errors)
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
        Err(ReloadError::NoListener)
    }
}

/// Reads the configuration from wherever it lives (files, in tests a string).
pub type Loader = Arc<dyn Fn() -> Result<Loaded, ReloadError> + Send + Sync>;

/// Largest request head accepted (HAProxy's default `tune.bufsize`).
pub const REQUEST_HEAD_LIMIT: usize = 16 * 1024;

/// How long a stop or an old generation's drain may take when
/// `hard-stop-after` is not set.
pub const DEFAULT_HARD_STOP_AFTER: Duration = Duration::from_secs(30);

/// How long a stop waits, after cutting connections, for their tasks to
/// end and write their access lines.
const FORCED_CLOSE_GRACE: Duration = Duration::from_secs(1);

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

/// Unregisters a connection when its task ends.
struct LiveGuard<'a> {
    gateway: &'a Gateway,
    id: u64,
}

impl Drop for LiveGuard<'_> {
    fn drop(&mut self) {
        self.gateway
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.id);
    }
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
    frontend_conns: Mutex<HashMap<String, Arc<std::sync::atomic::AtomicUsize>>>,
    /// Where log lines go.
    sinks: LogSinks,
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
        let maxconn = loaded
            .config
            .global
            .maxconn
            .map(|n| Arc::new(Semaphore::new(n.max(1))));
        let metrics = Arc::new(GatewayMetrics::with_log_sinks(&sinks));
        let generation = Arc::new(Generation::start(
            1,
            Arc::new(loaded.config),
            &loaded.var_names,
            &workers,
            &sinks,
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
            frontend_conns: Mutex::default(),
            sinks,
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

    async fn bind_listeners(self: &Arc<Self>, config: &GatewayConfig) -> Result<(), ReloadError> {
        let wanted: Vec<SocketAddr> = config
            .frontends
            .iter()
            .flat_map(|f| f.binds.iter().copied())
            .collect();
        let mut new = Vec::new();
        {
            let have = self
                .listeners
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for addr in &wanted {
                if !have.contains_key(addr) && !new.contains(addr) {
                    new.push(*addr);
                }
            }
        }
        // Bind every new address before changing anything.
        let mut bound = Vec::new();
        for addr in new {
            let l = match self.take_prebound(addr) {
                Some(l) => l,
                None => bind(addr),
            }
            .map_err(|e| ReloadError::Bind {
                addr,
                source: Arc::new(e),
            })?;
            bound.push((addr, l));
        }
        let mut have = self
            .listeners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (addr, listener) in bound {
            let stop = self.stopping.child_token();
            let gw = self.clone();
            let token = stop.clone();
            self.connections
                .spawn(async move { gw.accept_loop(listener, token).await });
            have.insert(addr, ListenerHandle { stop });
        }
        // Listeners the new configuration no longer has.
        have.retain(|addr, h| {
            let keep = wanted.contains(addr);
            if !keep {
                h.stop.cancel();
            }
            keep
        });
        Ok(())
    }

    fn take_prebound(&self, addr: SocketAddr) -> Option<std::io::Result<TcpListener>> {
        let mut prebound = self
            .prebound
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let i = prebound
            .iter()
            .position(|l| l.local_addr().ok() == Some(addr))?;
        let l = prebound.swap_remove(i);
        Some(
            l.set_nonblocking(true)
                .and_then(|()| TcpListener::from_std(l)),
        )
    }

    async fn accept_loop(self: Arc<Self>, listener: TcpListener, stop: CancellationToken) {
        loop {
            let permit = match &self.maxconn {
                Some(s) => tokio::select! {
                    p = s.clone().acquire_owned() => p.ok(),
                    () = stop.cancelled() => return,
                },
                None => None,
            };
            let (sock, client) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = stop.cancelled() => return,
            };
            let _ = sock.set_nodelay(true);
            let local = sock.local_addr().unwrap_or(client);
            // The connection moves to its worker's reactor.
            let sock = match sock.into_std() {
                Ok(s) => s,
                Err(e) => {
                    warn!(error = %e, %client, "cannot hand the connection to a worker");
                    continue;
                }
            };
            let worker = self.workers.assign();
            let handle = worker.handle().clone();
            let gw = self.clone();
            let stop = self.stopping.clone();
            self.connections.spawn_on(
                async move {
                    let _permit = permit;
                    let _worker = worker;
                    match tokio::net::TcpStream::from_std(sock) {
                        Ok(sock) => gw.serve_connection(sock, client, local, stop).await,
                        Err(e) => warn!(error = %e, %client, "cannot register the connection"),
                    }
                },
                &handle,
            );
        }
    }

    async fn serve_connection(
        self: Arc<Self>,
        sock: tokio::net::TcpStream,
        client: SocketAddr,
        local: SocketAddr,
        stop: CancellationToken,
    ) {
        let started = tokio::time::Instant::now();
        let generation = self.current();
        let frontend = generation.frontend_for(local).map(|f| &f.model);
        let timeouts = frontend.map(|f| f.timeouts).unwrap_or_default();
        let frontend_conns = self.frontend_conns(frontend.map_or("-", |f| f.name.as_str()));
        drop(generation);
        let conns = Arc::new(ConnCounts {
            process: self.conns.clone(),
            frontend: frontend_conns,
            killing: self.killing.clone(),
        });
        let _counted = Counted::new(conns.clone());
        let session = Arc::new(Session {
            client,
            local,
            vars: Arc::default(),
            // Room for the usual one generation, allocated now rather than
            // among the first request's buffers (see `Progress::new`).
            session_event_done: Mutex::new(Vec::with_capacity(1)),
            requests: AtomicU64::new(0),
            conns,
            // Until the first bytes come: a connection that sends nothing is
            // logged from its accept.
            first_bytes: Mutex::new(Some((started, std::time::SystemTime::now()))),
            body: crate::body::Progress::new(),
        });
        let exchange = Exchange::new();
        let _live = self.register(started, exchange.clone());
        let service = ConnService {
            gw: self.clone(),
            session: session.clone(),
            exchange: exchange.clone(),
        };
        let header_timeout = timeouts
            .http_request
            .or(timeouts.client)
            .unwrap_or(Duration::from_secs(30));
        // HAProxy waits `timeout http-keep-alive` for the next request, or
        // `timeout http-request` when it is not set.
        let keep_alive_timeout = timeouts.http_keep_alive.unwrap_or(header_timeout);
        let mut io = ClientIo::new(sock, exchange.clone());
        let mut first = true;
        loop {
            // Until the client sends something the connection holds no HTTP
            // state: hyper allocates its read buffer when it starts reading,
            // and an idle client would keep it (8 KiB of the ~13 each idle
            // connection cost; HAProxy's cost ~1). The first head's timeout
            // is the same as hyper's: it runs from the accept.
            if io.unread.is_empty() {
                let wait = if first {
                    header_timeout
                } else {
                    keep_alive_timeout
                };
                let readable = tokio::select! {
                    r = tokio::time::timeout(wait, io.sock.inner().readable()) => r,
                    () = stop.cancelled() => return,
                };
                match readable {
                    Ok(Ok(())) => {
                        exchange.head_started();
                        // The request's `%tr` and the start of its `%TR`.
                        *session
                            .first_bytes
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) =
                            Some((tokio::time::Instant::now(), std::time::SystemTime::now()));
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(%client, error = %e, "client connection failed before its request");
                        return;
                    }
                    Err(_) if first => {
                        // HAProxy answers a connection that sent nothing with its 408 too.
                        let sent =
                            send_request_timeout(io.sock.into_inner(), timeouts.client).await;
                        self.log_refused(&session, Some(408), "cR", sent);
                        return;
                    }
                    // An idle keep-alive connection closes without a word, as in HAProxy.
                    Err(_) => return,
                }
            }
            let head_timeout = if first {
                header_timeout.saturating_sub(started.elapsed())
            } else {
                header_timeout
            };
            first = false;
            // Boxed, so that the task of an idle connection keeps no room
            // for hyper's connection and the futures that drive it.
            let served =
                Box::pin(self.serve_requests(io, service.clone(), timeouts, head_timeout, &stop))
                    .await;
            match served {
                Some(back) => io = back,
                None => return,
            }
        }
    }

    /// Serves requests on `io` with one hyper connection until it has
    /// answered and waits for the next request; then hands the socket back
    /// (`None`: the connection is closed, or must be).
    async fn serve_requests(
        &self,
        io: ClientIo,
        service: ConnService,
        timeouts: crate::model::Timeouts,
        head_timeout: Duration,
        stop: &CancellationToken,
    ) -> Option<ClientIo> {
        let exchange = service.exchange.clone();
        let session = service.session.clone();
        let client = session.client;
        exchange.reset();
        let mut conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(head_timeout)
            // HAProxy's tune.bufsize: a request head that does not fit is refused.
            .max_buf_size(REQUEST_HEAD_LIMIT)
            .keep_alive(true)
            .serve_connection(io, service);
        // Once the response is out and hyper waits for the next request,
        // it is asked to stop, and the socket comes back for the next
        // request (see `Exchange`).
        let mut handing_back = false;
        let mut stopping = false;
        let done = loop {
            let event = tokio::select! {
                r = std::future::poll_fn(|cx| conn.poll_without_shutdown(cx)) => break r,
                () = exchange.idle(), if !handing_back => &mut handing_back,
                // Finish the request in progress, then close.
                () = stop.cancelled(), if !stopping => &mut stopping,
                // The stop's bound ran out: close at once. A request in
                // progress logs itself as cut (`K`); a head not complete yet
                // is logged here.
                () = self.killed.cancelled() => {
                    if exchange.phase() == Phase::Head {
                        self.log_refused(&session, None, "KR", 0);
                    }
                    return None;
                }
            };
            *event = true;
            std::pin::Pin::new(&mut conn).graceful_shutdown();
        };
        if let Err(e) = done {
            let mut sock = conn.into_parts().io.sock.into_inner();
            if e.is_parse_too_large() {
                // hyper answered the head itself: log it as HAProxy logs <BADREQ>.
                let _ = sock.shutdown().await;
                self.log_refused(&session, Some(431), "PR", 0);
            } else if e.is_parse() {
                let _ = sock.shutdown().await;
                self.log_refused(&session, Some(400), "PR", 0);
            } else if e.is_timeout() {
                // `timeout http-request`: this hyper connection started with
                // the request's first bytes, so a head had begun: HAProxy's
                // 408 page.
                let sent = send_request_timeout(sock, timeouts.client).await;
                self.log_refused(&session, Some(408), "cR", sent);
            } else {
                tracing::debug!(%client, error = %e, "client connection ended with an error");
            }
            return None;
        }
        let parts = conn.into_parts();
        let mut io = parts.io;
        // The next request may start from a message boundary only when
        // this one's body was read to its end.
        let again = handing_back && !stopping && exchange.reusable() && session.body_complete();
        if !again {
            let _ = io.sock.inner_mut().shutdown().await;
            return None;
        }
        // hyper's read buffer comes back as `Bytes` even when empty:
        // keeping it would keep hyper's 8 KiB allocation. Bytes read past
        // the request (pipelined) are copied, and are few.
        io.unread = if parts.read_buf.is_empty() {
            Bytes::new()
        } else {
            Bytes::copy_from_slice(&parts.read_buf)
        };
        Some(io)
    }

    /// Counts a client connection as open until the guard drops.
    fn register(&self, accepted: tokio::time::Instant, exchange: Arc<Exchange>) -> LiveGuard<'_> {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        self.live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, LiveConn { accepted, exchange });
        LiveGuard { gateway: self, id }
    }

    /// Where every open connection is: (accepted at, phase).
    fn live_snapshots(&self) -> Vec<(tokio::time::Instant, Phase)> {
        self.live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .map(|c| (c.accepted, c.exchange.phase()))
            .collect()
    }

    /// The stop's progress line: what it still waits for.
    fn log_stop_progress(&self) {
        let live = self.live_snapshots();
        let requests = live
            .iter()
            .filter(|(_, phase)| *phase != Phase::Idle)
            .count();
        let oldest = live.iter().map(|(at, _)| at.elapsed()).max();
        match oldest {
            Some(age) => info!(
                connections = live.len(),
                requests,
                "stopping: waiting for {} client connection(s) ({requests} with a request in progress), the oldest open for {:.1}s",
                live.len(),
                age.as_secs_f64()
            ),
            None => info!(
                generations = self.generations_alive(),
                "stopping: waiting for the SPOE engines to drain"
            ),
        }
    }

    /// The stop's bound ran out: closes every connection, and says how many
    /// in a summary. Each request in progress writes its own access line as
    /// it is cut (termination state `K` and the phase it was in: `KR`,
    /// `KH`, `KD`).
    fn close_by_force(&self, why: &str, fast: bool) {
        let live = self.live_snapshots();
        if live.is_empty() && fast {
            // A fast stop of an idle gateway: nothing was cut.
            self.killed.cancel();
            return;
        }
        let requests = live
            .iter()
            .filter(|(_, phase)| *phase != Phase::Idle)
            .count();
        warn!(
            connections = live.len(),
            requests,
            "{why}: closing {} client connection(s) by force ({requests} with a request in progress)",
            live.len()
        );
        // First the state the access lines read, then the cut.
        self.killing.store(true, Ordering::Relaxed);
        self.killed.cancel();
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
        let frontend = generation.frontend_for(session.local);
        proxy::log_refused(
            &self.metrics,
            session,
            frontend.map_or("-", |f| f.model.name.as_str()),
            frontend
                .filter(|f| f.model.httplog && !f.log.is_off())
                .map(|f| f.log.clone()),
            status,
            termination,
            bytes,
        );
    }

    /// The count of connections open on the frontend called `name` (`%fc`).
    fn frontend_conns(&self, name: &str) -> Arc<std::sync::atomic::AtomicUsize> {
        let mut all = self
            .frontend_conns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = all.get(name) {
            return n.clone();
        }
        all.entry(name.to_owned()).or_default().clone()
    }

    /// Validates and loads the configuration again. On success new requests
    /// use the new generation at once; the old one finishes its requests,
    /// drains its engines and is dropped (bounded by `hard-stop-after`). On
    /// failure the running generation stays and the error lists every problem
    /// (a configuration without any listener is refused too); the caller
    /// logs it, once.
    pub async fn reload(self: &Arc<Self>) -> Result<u64, ReloadError> {
        let _one_at_a_time = self.reload_lock.lock().await;
        // Reading and checking the files (a pattern file of a million lines, regexes, every
        // spoe.conf) runs on a blocking thread: the runtime that accepts connections and the
        // workers that serve them never wait for it.
        let loader = self.loader.clone();
        let loading = tokio::task::spawn_blocking(move || {
            loader().and_then(|l| ensure_listener(&l.config).map(|()| l))
        });
        let loaded = loading.await.unwrap_or_else(|e| {
            Err(ReloadError::Load(format!(
                "the thread loading the configuration failed: {e}"
            )))
        });
        let loaded = match loaded {
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
            &self.sinks,
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
        self.retiring.spawn(async move {
            // Idle agent connections close now, busy ones after their last ACK.
            old.drain();
            let _ = tokio::time::timeout(bound, async {
                old.idle().await;
                old.drained().await;
            })
            .await;
            info!(generation = old.id, "generation retired");
            metrics.generations.dec();
            release_off_the_workers(old).await;
        });
        Ok(id)
    }

    /// Stops gracefully: listeners close, each connection finishes its
    /// current request, engines drain; everything is bounded by
    /// `hard-stop-after`. Every [`STOP_PROGRESS_EVERY`] the log says what
    /// the stop waits for; when the bound runs out, each connection closed
    /// by force gets its access line and a summary says how many. With
    /// `fast`, connections are closed at once (and logged the same way).
    pub async fn stop(&self, fast: bool) {
        self.stopping.cancel();
        self.listeners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
        let generation = self.current();
        let configured = generation.config.global.hard_stop_after;
        let bound = if fast {
            Duration::ZERO
        } else {
            configured.unwrap_or(DEFAULT_HARD_STOP_AFTER)
        };
        self.connections.close();
        self.retiring.close();
        let finished = async {
            self.connections.wait().await;
            generation.drain();
            generation.drained().await;
            self.retiring.wait().await;
        };
        tokio::pin!(finished);
        let deadline = tokio::time::Instant::now() + bound;
        let mut progress = tokio::time::interval_at(
            tokio::time::Instant::now() + STOP_PROGRESS_EVERY,
            STOP_PROGRESS_EVERY,
        );
        let in_time = loop {
            tokio::select! {
                biased;
                () = &mut finished => break true,
                () = tokio::time::sleep_until(deadline) => break false,
                _ = progress.tick() => self.log_stop_progress(),
            }
        };
        if !in_time {
            let why = match (fast, configured) {
                (true, _) => "fast stop".to_owned(),
                (false, Some(d)) => format!("hard-stop-after {d:?} reached"),
                (false, None) => {
                    format!("stop bound {bound:?} reached (hard-stop-after is not set)")
                }
            };
            self.close_by_force(&why, fast);
            // Each cut connection writes its access line as its task ends:
            // give them that moment (they end at once: nothing is awaited).
            let _ = tokio::time::timeout(FORCED_CLOSE_GRACE, self.connections.wait()).await;
        }
        info!("gateway stopped");
    }
}

/// Frees a retired generation (its pattern indexes may hold a million entries) on a blocking
/// thread, not on whichever worker would release the last reference: requests still
/// finishing on it release theirs within moments of it going idle, so its last reference is
/// awaited here (at most a second, then left to whoever holds it).
async fn release_off_the_workers(mut generation: Arc<Generation>) {
    for _ in 0..100 {
        match Arc::try_unwrap(generation) {
            Ok(last) => {
                let _ = tokio::task::spawn_blocking(move || drop(last)).await;
                return;
            }
            Err(shared) => generation = shared,
        }
        // The poll of a bounded wait for the last request's own release.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// One client connection's service: each request goes to [`proxy::handle`]
/// on the current generation; the connection's [`Exchange`] learns what
/// decides whether the connection is handed back between requests.
#[derive(Clone)]
struct ConnService {
    gw: Arc<Gateway>,
    session: Arc<Session>,
    exchange: Arc<Exchange>,
}

impl hyper::service::Service<hyper::Request<hyper::body::Incoming>> for ConnService {
    type Response = hyper::Response<Tracked<crate::access::Logged<proxy::Body>>>;
    type Error = Infallible;
    // Boxed: hyper hands the connection back between requests only when the
    // service's future is Unpin.
    type Future =
        std::pin::Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, req: hyper::Request<hyper::body::Incoming>) -> Self::Future {
        let (gw, session, ex) = (self.gw.clone(), self.session.clone(), self.exchange.clone());
        ex.request(&req);
        Box::pin(async move {
            let generation = gw.current();
            let resp = proxy::handle(req, session, generation, gw.metrics.clone()).await;
            ex.response(&resp);
            Ok(resp.map(|b| Tracked::new(b, ex)))
        })
    }
}

/// The 408 page, sent when `timeout http-request` expires before a whole
/// request head arrived (HAProxy sends its own; hyper would only close).
const REQUEST_TIMEOUT_PAGE: &[u8] = b"HTTP/1.1 408 Request Timeout\r\n\
content-length: 92\r\ncache-control: no-cache\r\nconnection: close\r\ncontent-type: text/html\r\n\r\n\
<html><body><h1>408 Request Timeout</h1>\nThe request did not arrive in time.\n</body></html>\n";

/// Sends the 408 page and closes; returns the bytes the client was sent
/// (bounded by `timeout client`, 5 s without it: a client that does not
/// read gets no more of the gateway's time).
async fn send_request_timeout(mut sock: tokio::net::TcpStream, limit: Option<Duration>) -> u64 {
    let write = async {
        sock.write_all(REQUEST_TIMEOUT_PAGE).await?;
        sock.shutdown().await
    };
    match tokio::time::timeout(limit.unwrap_or(Duration::from_secs(5)), write).await {
        Ok(Ok(())) => REQUEST_TIMEOUT_PAGE.len() as u64,
        _ => 0,
    }
}

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

#[cfg(test)]
mod tests {
    use super::REQUEST_TIMEOUT_PAGE;

    #[test]
    fn the_408_page_says_its_length() {
        let text = std::str::from_utf8(REQUEST_TIMEOUT_PAGE).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
            "{head}"
        );
        assert!(
            head.contains(&format!("\r\ncontent-length: {}\r\n", body.len())),
            "{head} / {} bytes",
            body.len()
        );
    }
}
