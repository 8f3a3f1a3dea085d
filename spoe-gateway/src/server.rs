//! The running gateway: listeners kept across reloads, the current
//! generation, reloads and stops.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::access::{ConnCounts, Counted};
use crate::generation::Generation;
use crate::metrics::GatewayMetrics;
use crate::model::GatewayConfig;
use crate::proxy::{self, Session};
use crate::shared_io::SharedStream;
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

/// Loading a configuration failed; the text lists every error
/// (`parsing [file:line:col] : ...`, one per line).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ReloadError(pub String);

/// Reads the configuration from wherever it lives (files, in tests a string).
pub type Loader = Arc<dyn Fn() -> Result<Loaded, ReloadError> + Send + Sync>;

/// Largest request head accepted (HAProxy's default `tune.bufsize`).
pub const REQUEST_HEAD_LIMIT: usize = 16 * 1024;

/// How long a stop or an old generation's drain may take when
/// `hard-stop-after` is not set.
pub const DEFAULT_HARD_STOP_AFTER: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct ListenerHandle {
    stop: CancellationToken,
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
    retiring: TaskTracker,
    maxconn: Option<Arc<Semaphore>>,
    reload_lock: tokio::sync::Mutex<()>,
    workers: Arc<Workers>,
    /// Client connections open (`%ac`), and per frontend name (`%fc`).
    conns: Arc<std::sync::atomic::AtomicUsize>,
    /// Set when a stop outlasts its bound: requests cut then are logged `K`.
    killing: Arc<std::sync::atomic::AtomicBool>,
    frontend_conns: Mutex<HashMap<String, Arc<std::sync::atomic::AtomicUsize>>>,
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
        let loaded = loader()?;
        Self::start_loaded(loaded, loader, Arc::new(Workers::current())).await
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
            retiring: TaskTracker::new(),
            maxconn,
            reload_lock: tokio::sync::Mutex::new(()),
            workers,
            conns: Arc::default(),
            killing: Arc::default(),
            frontend_conns: Mutex::default(),
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
            let l = bind(addr).map_err(|e| ReloadError(format!("cannot bind {addr}: {e}")))?;
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
            ..ConnCounts::default()
        });
        let _counted = Counted::new(conns.clone());
        let session = Arc::new(Session {
            client,
            local,
            vars: Arc::default(),
            session_event_done: Mutex::new(Vec::new()),
            requests: AtomicU64::new(0),
            conns,
            // Until the first bytes come: a connection that sends nothing is
            // logged from its accept.
            first_bytes: Mutex::new(Some((started, std::time::SystemTime::now()))),
        });
        let refused = |status: u16, termination: &'static str, bytes: u64| {
            let generation = self.current();
            let frontend = generation.frontend_for(local).map(|f| &f.model);
            proxy::log_refused(
                &self.metrics,
                &session,
                frontend.map_or("-", |f| f.name.as_str()),
                frontend
                    .is_some_and(|f| f.httplog)
                    .then_some(generation.config.global.syslog),
                status,
                termination,
                bytes,
            );
        };
        let gw = self.clone();
        let service_session = session.clone();
        let service = service_fn(move |req| {
            let (gw, session) = (gw.clone(), service_session.clone());
            async move {
                let generation = gw.current();
                Ok::<_, Infallible>(
                    proxy::handle(req, session, generation, gw.metrics.clone()).await,
                )
            }
        });
        let header_timeout = timeouts
            .http_request
            .or(timeouts.client)
            .unwrap_or(Duration::from_secs(30));
        // Until the client sends something the connection holds no HTTP
        // state: hyper allocates its read buffer when it starts reading, and
        // an idle client would keep it (8 KiB of the ~13 each idle
        // connection cost; HAProxy's cost ~1). The head's timeout is the
        // same as hyper's: it runs from the accept.
        let first_bytes = tokio::select! {
            r = tokio::time::timeout(header_timeout, sock.readable()) => r,
            () = stop.cancelled() => return,
        };
        match first_bytes {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::debug!(%client, error = %e, "client connection failed before its request");
                return;
            }
            Err(_) => {
                // HAProxy answers a connection that sent nothing with its 408 too.
                let sent = send_request_timeout(sock, timeouts.client).await;
                refused(408, "cR", sent);
                return;
            }
        }
        *session
            .first_bytes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((tokio::time::Instant::now(), std::time::SystemTime::now()));
        let header_timeout = header_timeout.saturating_sub(started.elapsed());
        // hyper serves the socket while this keeps a handle on it: when hyper
        // gives up on a request head, the 408 page still has a way out.
        let sock = Arc::new(sock);
        let io = SharedStream {
            sock: sock.clone(),
            conns: session.conns.clone(),
        };
        // In a block: the connection, and hyper's handle on the socket, are
        // gone at its end.
        let result = {
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                // HAProxy's tune.bufsize: a request head that does not fit is refused.
                .max_buf_size(REQUEST_HEAD_LIMIT)
                .keep_alive(true)
                .serve_connection(TokioIo::new(io), service);
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => r,
                () = stop.cancelled() => {
                    // Finish the request in progress, then close.
                    conn.as_mut().graceful_shutdown();
                    conn.as_mut().await
                }
            }
        };
        let Ok(mut sock) = Arc::try_unwrap(sock) else {
            return;
        };
        let Err(e) = result else {
            // Done (the client closed, or the connection is not kept alive):
            // end it with a FIN.
            let _ = sock.shutdown().await;
            return;
        };
        if e.is_parse_too_large() {
            // hyper answered the head itself: log it as HAProxy logs <BADREQ>.
            let _ = sock.shutdown().await;
            refused(431, "PR", 0);
        } else if e.is_parse() {
            let _ = sock.shutdown().await;
            refused(400, "PR", 0);
        } else if e.is_timeout() {
            // A kept-alive connection that stays idle closes silently, as
            // HAProxy's; a request begun and not finished gets the 408 page.
            let begun =
                session.conns.request_begun() || session.requests.load(Ordering::Relaxed) == 0;
            if begun {
                let sent = send_request_timeout(sock, timeouts.client).await;
                refused(408, "cR", sent);
            } else {
                let _ = sock.shutdown().await;
            }
        } else {
            tracing::debug!(%client, error = %e, "client connection ended with an error");
        }
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
    /// failure the running generation stays and the error lists every problem.
    pub async fn reload(self: &Arc<Self>) -> Result<u64, ReloadError> {
        let _one_at_a_time = self.reload_lock.lock().await;
        let loaded = match (self.loader)() {
            Ok(l) => l,
            Err(e) => {
                self.metrics.reload_failures.inc();
                warn!("reload refused, the running configuration stays:\n{e}");
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
            warn!("reload refused, the running configuration stays: {e}");
            return Err(e);
        }
        let generation = Arc::new(Generation::start(
            id,
            config,
            &loaded.var_names,
            &self.workers,
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
        });
        Ok(id)
    }

    /// Stops gracefully: listeners close, each connection finishes its
    /// current request, engines drain; everything is bounded by
    /// `hard-stop-after`. With `fast`, connections are dropped at once.
    pub async fn stop(&self, fast: bool) {
        self.stopping.cancel();
        self.listeners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
        let generation = self.current();
        let bound = if fast {
            Duration::ZERO
        } else {
            generation
                .config
                .global
                .hard_stop_after
                .unwrap_or(DEFAULT_HARD_STOP_AFTER)
        };
        self.connections.close();
        self.retiring.close();
        let finished = tokio::time::timeout(bound, async {
            self.connections.wait().await;
            generation.drain();
            generation.drained().await;
            self.retiring.wait().await;
        })
        .await;
        if finished.is_err() {
            // What is still running is cut when the runtime stops.
            self.killing.store(true, Ordering::Relaxed);
        }
        info!("gateway stopped");
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
