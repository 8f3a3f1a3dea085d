//! A generation: one loaded configuration with everything it runs (SPOE
//! filters and their engines, backend pools). Requests pick the current
//! generation when they start and keep it until they finish.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use hyper_rustls::{
    DefaultServerNameResolver, FixedServerNameResolver, HttpsConnector, ResolveServerName,
};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use spoe::config::{LogServer, LogTarget};
use spoe::{Addr, AgentBackend, SpoeFilter};
use tokio::sync::Notify;

use crate::body::RequestBody;
use crate::log::{LogRoute, LogSinks};
use crate::model::{Backend, Frontend, GatewayConfig, SpoeFilterDecl};
use crate::stats::{Counters, StatsRegistry};
use crate::workers::{PerWorker, Workers};
pub(crate) use admin_state::Admin;
use admin_state::ServerAdmin;
pub(crate) use h1pool::{SendError, host_of};
use upstream::CountingConnector;

use crate::sockopt::Outgoing;

mod admin;
mod admin_state;
mod agent_tls;
pub(crate) mod chosen;
mod h1pool;
pub(crate) mod health;
mod probe;
mod resolution;
mod rows;
mod track;
mod upstream;

/// `timeout connect` when none is configured.
pub const DEFAULT_TIMEOUT_CONNECT: Duration = Duration::from_secs(5);

/// A `filter spoe` instance of a proxy: one filter (and engine) per worker,
/// so that a request's messages travel on its own worker's agent connections.
#[derive(Debug)]
pub(crate) struct FilterRt {
    pub(crate) engine: Option<String>,
    per_worker: PerWorker<SpoeFilter>,
    /// Where its SPOE lines go: the agent's `log` lines.
    pub(crate) log: LogRoute,
}

impl FilterRt {
    /// The calling worker's filter.
    pub(crate) fn filter(&self) -> &SpoeFilter {
        self.per_worker.current()
    }
}

/// A server of an HTTP backend.
#[derive(Debug)]
pub(crate) struct ServerRt {
    pub(crate) name: String,
    pub(crate) addr: SocketAddr,
    pub(crate) active: AtomicUsize,
    pub(crate) up: AtomicBool,
    /// Up but drained by its check (`http-check disable-on-404` got a 404: HAProxy's
    /// `NOLB`): no new requests.
    pub(crate) stopping: AtomicBool,
    /// One connection pool per worker (a pooled connection is used on the
    /// thread that opened it), bounded by `pool-max-conn` (split among the
    /// workers) and purged after `pool-purge-delay`.
    clients: Pools,
    /// The authority of its requests (the pool's key), kept from one request to the next.
    pub(crate) authority: crate::upstream_key::LastAuthority,
    /// HAProxy's health counter of its checks (`check_health`).
    pub(crate) health: AtomicU32,
    /// Its statistics (kept across reloads by name).
    pub(crate) counters: Arc<Counters>,
    /// Its `server` line.
    pub(crate) model: crate::model::Server,
    /// Its state and weight as set at run time.
    pub(crate) admin: ServerAdmin,
    /// Its address now, for a server resolved at run time (`resolvers`).
    pub(crate) resolved: Option<Arc<crate::resolve::slot::Slot>>,
    /// The socket options of its connections.
    pub(crate) outgoing: Arc<Outgoing>,
    /// Cancelled to cut the sessions open on it (`on-marked-down shutdown-sessions`,
    /// `on-marked-up shutdown-backup-sessions`), then replaced for the next ones.
    sessions: std::sync::Mutex<tokio_util::sync::CancellationToken>,
    /// Whether a state change may cut its sessions: its own `on-marked-down
    /// shutdown-sessions`, or a backup server of a backend with `on-marked-up
    /// shutdown-backup-sessions` (the requests of the others skip the watch).
    cuttable: bool,
}

/// An HTTP backend at run time.
#[derive(Debug)]
pub(crate) struct BackendRt {
    pub(crate) model: Backend,
    pub(crate) filters: Vec<FilterRt>,
    pub(crate) servers: Vec<Arc<ServerRt>>,
    pub(crate) next: AtomicUsize,
    /// Its statistics (kept across reloads by name).
    pub(crate) counters: Arc<Counters>,
    /// What its servers' checks need.
    pub(crate) plan: Arc<health::Plan>,
    /// Its queues, when a server has a `maxconn` (`None`: no request ever waits).
    pub(crate) queues: Option<Arc<crate::queue::Queues>>,
    /// Its servers that take requests (and a hash's map), as last built by `crate::balance`.
    pub(crate) chosen: chosen::Chosen,
}

impl ServerRt {
    /// The calling worker's connection pool to the server.
    pub(crate) fn upstream(&self) -> Upstream<'_> {
        match &self.clients {
            Pools::Own(pools) => Upstream::Own(pools.current()),
            Pools::Hyper(clients) => Upstream::Hyper(clients.current()),
        }
    }

    /// Its IP address now: the last answer's for a server resolved at run time; `None` for
    /// a server named by a host name that has none.
    pub(crate) fn current_ip(&self) -> Option<std::net::IpAddr> {
        match &self.resolved {
            Some(slot) => slot.ip(),
            None if self.model.fqdn.is_some() && self.addr.ip().is_unspecified() => None,
            None => Some(self.addr.ip()),
        }
    }

    /// Its address now (the configured one, or the last answer's: unspecified without one).
    pub(crate) fn addr_now(&self) -> SocketAddr {
        match &self.resolved {
            None => self.addr,
            Some(slot) => SocketAddr::new(
                slot.ip()
                    .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
                self.addr.port(),
            ),
        }
    }

    /// Where a connection to it goes for a client that connected to `dst`
    /// (`crate::hop::server_target`), at its address now.
    pub(crate) fn target(&self, dst: Option<SocketAddr>) -> SocketAddr {
        match &self.resolved {
            None => crate::hop::server_target(&self.model, self.addr, dst),
            // No address: nowhere to connect to (the server is in maintenance).
            Some(slot) => match slot.ip() {
                Some(ip) => crate::hop::server_target(
                    &self.model,
                    SocketAddr::new(ip, self.addr.port()),
                    dst,
                ),
                None => SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), 0),
            },
        }
    }

    /// Cancelled when the sessions open on the server now are to be cut.
    pub(crate) fn sessions_cut(&self) -> tokio_util::sync::CancellationToken {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// What cuts a session opened on the server now, when a state change may cut them.
    pub(crate) fn cut_watch(&self) -> Option<tokio_util::sync::CancellationToken> {
        self.cuttable.then(|| self.sessions_cut())
    }

    /// Cuts the sessions open on the server (HAProxy's `srv_shutdown_streams()`).
    pub(crate) fn cut_sessions(&self) {
        let old = std::mem::take(
            &mut *self
                .sessions
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        old.cancel();
    }
}

/// A server's connection pools, one per worker.
#[derive(Debug)]
enum Pools {
    /// Clear text, HTTP/1, no PROXY header: the gateway's own idle lists.
    Own(PerWorker<Arc<h1pool::H1Pool>>),
    /// TLS, HTTP/2 or `send-proxy`: hyper-util's client.
    Hyper(PerWorker<ServerClient>),
}

/// The calling worker's connection pool to a server.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Upstream<'a> {
    Own(&'a Arc<h1pool::H1Pool>),
    Hyper(&'a ServerClient),
}

/// The connection pools of one server, one per worker: `pool-max-conn`
/// idle connections at most (split among the workers, rounded up; -1 is
/// unlimited), each closed once idle for between one and two
/// `pool-purge-delay` (the reaper runs every delay and closes what was
/// idle for a whole one; HAProxy closes half of them every delay; zero keeps
/// them).
fn server_pools(
    connector: &CountingConnector,
    server: &crate::model::Server,
    workers: &Workers,
) -> Pools {
    let max_idle = server
        .pool_max_conn
        .map_or(usize::MAX, |n| n.div_ceil(workers.len().max(1)));
    let purge = Some(server.pool_purge_delay).filter(|d| !d.is_zero());
    if server.tls.is_none() && !server.proto_h2 && server.send_proxy.is_none() {
        return Pools::Own(
            workers
                .per_worker(|| Arc::new(h1pool::H1Pool::new(connector.clone(), max_idle, purge))),
        );
    }
    let connector = server_connector(connector, server);
    Pools::Hyper(workers.per_worker(|| {
        Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_max_idle_per_host(max_idle)
            .pool_idle_timeout(purge)
            .http2_only(server.proto_h2)
            .build(connector.clone())
    }))
}

/// A connection pool to one server: clear text or TLS (`https`), HTTP/1.1
/// or HTTP/2 (`proto h2`, or `h2` chosen by ALPN).
pub(crate) type ServerClient = Client<HttpsConnector<CountingConnector>, RequestBody>;

/// Connects to `server` as its line says: TLS with its configuration, SNI
/// and ALPN (HTTP/2 when ALPN chooses `h2`), or clear text.
fn server_connector(
    http: &CountingConnector,
    server: &crate::model::Server,
) -> HttpsConnector<CountingConnector> {
    let Some(tls) = &server.tls else {
        return HttpsConnector::new(
            http.clone(),
            crate::tls::upstream::unused_config(),
            false,
            Arc::new(DefaultServerNameResolver::default()),
        );
    };
    let names: Arc<dyn ResolveServerName + Send + Sync> = match (&tls.sni, &tls.sni_expr) {
        (Some(name), _) => Arc::new(FixedServerNameResolver::new(name.clone())),
        (None, Some(_)) => Arc::new(upstream::EvaluatedName),
        // The server's address: rustls sends no SNI for an IP address.
        (None, None) => Arc::new(DefaultServerNameResolver::default()),
    };
    HttpsConnector::new(http.clone(), tls.config.clone(), true, names)
}

/// A frontend at run time.
#[derive(Debug)]
pub(crate) struct FrontendRt {
    pub(crate) model: Frontend,
    pub(crate) filters: Vec<FilterRt>,
    /// Its statistics (kept across reloads by name).
    pub(crate) counters: Arc<Counters>,
    /// The name `fe_name` gives, shared by the connections (no copy per connection).
    pub(crate) name: Arc<str>,
    /// Where its access lines go: its `log` lines.
    pub(crate) log: LogRoute,
}

/// One loaded configuration.
#[derive(Debug)]
pub struct Generation {
    /// 1 for the first configuration, +1 per successful reload.
    pub id: u64,
    /// The configuration.
    pub config: Arc<GatewayConfig>,
    pub(crate) frontends: Vec<FrontendRt>,
    pub(crate) backends: HashMap<String, BackendRt>,
    pub(crate) proc_vars: spoe_http::SharedVars,
    /// The `proc.` variables the configuration names (they exist before any request).
    pub(crate) declared_proc_vars: Arc<std::collections::BTreeSet<String>>,
    /// A rule may change the level of access lines (`set-log-level`, Lua).
    pub(crate) sets_log_level: bool,
    /// Each worker's view of the configuration's Lua.
    lua: Option<PerWorker<Arc<spoe_lua::LuaWorker>>>,
    /// The Lua tasks (`core.register_task`), on their workers: dropping the generation
    /// aborts them.
    _lua_tasks: tokio::task::JoinSet<()>,
    in_flight: AtomicU64,
    idle: Notify,
    /// The servers' health checks: dropping the generation aborts them.
    _checks: tokio::task::JoinSet<()>,
    /// The stick tables (shared by every worker).
    pub(crate) tables: Arc<crate::sticktable::tables::Tables>,
    /// The `cache` sections' objects, by name (a reload starts them empty, as HAProxy's new
    /// process does).
    pub(crate) caches: HashMap<String, Arc<crate::cache::store::Store>>,
    /// Cancelled when the generation's `hard-stop-after` runs out after a reload: its `mode
    /// tcp` connections still open are cut then.
    pub(crate) cut: tokio_util::sync::CancellationToken,
}

/// The queues of backend `b` (`None` when no server has a `maxconn`).
fn queues(
    config: &GatewayConfig,
    b: &Backend,
    servers: &[Arc<ServerRt>],
    counters: &Arc<Counters>,
    threads: usize,
) -> Option<Arc<crate::queue::Queues>> {
    let limits = servers.iter().map(|s| {
        let maxconn = s.model.maxconn.unwrap_or(0);
        let limits = crate::queue::Limits {
            maxconn,
            minconn: s.model.minconn.unwrap_or(maxconn).min(maxconn),
            maxqueue: s.model.maxqueue,
        };
        (limits, s.counters.clone())
    });
    let (all, all_backups) = (servers.to_vec(), b.all_backups);
    crate::queue::Queues::of(
        limits,
        crate::limits::fullconn(config, b, threads),
        counters.clone(),
        Box::new(move |i| health::candidates_of(&all, all_backups).contains(&i)),
    )
}

fn agent_backend(config: &GatewayConfig, decl: &SpoeFilterDecl) -> AgentBackend {
    let backend = config.backend(&decl.config.agent.use_backend.value);
    let servers = backend
        .map(|b| b.servers.iter().map(|s| Addr::Tcp(s.addr)).collect())
        .unwrap_or_default();
    AgentBackend {
        servers,
        timeout_connect: backend
            .and_then(|b| b.timeouts.connect)
            .unwrap_or(DEFAULT_TIMEOUT_CONNECT),
        max_connections_per_server: backend
            .and_then(|b| b.servers.iter().filter_map(|s| s.maxconn).min())
            .unwrap_or(64),
        // `option spop-check` with servers marked `check` (the first such
        // server's inter/rise/fall apply to all: the engine checks them alike).
        health_check: backend.filter(|b| b.spop_check).and_then(|b| {
            b.servers
                .iter()
                .find(|s| s.check)
                .map(|s| spoe::HealthCheck {
                    inter: s.inter,
                    rise: s.rise,
                    fall: s.fall,
                    timeout: s.inter,
                })
        }),
    }
}

/// Starts one filter per worker, each with an engine running on that
/// worker. The limits that HAProxy applies to the whole process (`maxconn`
/// of the agents' servers, `maxconnrate`, `maxerrrate`) are split among the
/// workers, rounded up.
fn start_filters(
    config: &GatewayConfig,
    decls: &[SpoeFilterDecl],
    var_names: &[String],
    workers: &Workers,
    sinks: &LogSinks,
) -> Vec<FilterRt> {
    let n = workers.len().max(1);
    let share = |v: u32| v.div_ceil(u32::try_from(n).unwrap_or(u32::MAX)).max(1);
    decls
        .iter()
        .map(|decl| {
            let mut settings = SpoeFilter::settings(&decl.config, &agent_backend(config, decl));
            let connector =
                agent_tls::connector(config.backend(&decl.config.agent.use_backend.value));
            settings.max_connections_per_server = settings.max_connections_per_server.div_ceil(n);
            settings.max_connection_rate = settings.max_connection_rate.map(share);
            settings.max_error_rate = settings.max_error_rate.map(share);
            // Each engine's tasks run on its worker.
            let per_worker = workers.per_worker(|| {
                let engine = spoe::Engine::with_connector(settings.clone(), connector.clone());
                let mut filter = SpoeFilter::with_engine((*decl.config).clone(), engine);
                filter.register_var_names(var_names.iter().cloned());
                filter.leave_log_to_host();
                filter
            });
            FilterRt {
                engine: decl.engine.clone(),
                per_worker,
                log: LogRoute::new(&agent_logs(config, decl), sinks),
            }
        })
        .collect()
}

/// An agent's `log` lines, `log global` replaced by the global section's.
fn agent_logs(config: &GatewayConfig, decl: &SpoeFilterDecl) -> Vec<LogServer> {
    let mut logs = Vec::new();
    for target in &decl.config.agent.log {
        match target {
            LogTarget::Global(_) => logs.extend(config.global.logs.iter().cloned()),
            LogTarget::Server(s) => logs.push(s.clone()),
        }
    }
    logs
}

/// Starts the configuration's Lua on every worker (per-thread states, init functions) and
/// its tasks, each on its worker. Failures are counted in `errors`; those outside a
/// transaction (tasks) are logged to the global `log` lines, as HAProxy does.
fn start_lua(
    runtime: &spoe_lua::LuaRuntime,
    config: &GatewayConfig,
    workers: &Workers,
    errors: &Arc<spoe_lua::ErrorCounts>,
    sinks: &LogSinks,
) -> Result<
    (
        PerWorker<Arc<spoe_lua::LuaWorker>>,
        tokio::task::JoinSet<()>,
    ),
    spoe_lua::LoadError,
> {
    let proxies = spoe_lua::Proxies {
        frontends: config.frontends.iter().map(|f| f.name.clone()).collect(),
        backends: config
            .backends
            .iter()
            .map(|b| {
                (
                    b.name.clone(),
                    b.servers.iter().map(|s| s.name.clone()).collect(),
                )
            })
            .collect(),
    };
    let global = LogRoute::new(&config.global.logs, sinks);
    let reporting = spoe_lua::Reporting {
        counts: errors.clone(),
        global_log: Some(Arc::new(move |line: &str| {
            global.send(crate::httplog::LUA_ERROR_LEVEL, &line);
        })),
    };
    let mut started = runtime
        .start(workers.len(), &proxies, reporting)?
        .into_iter();
    let mut tasks = tokio::task::JoinSet::new();
    let per_worker = workers.per_worker(|| {
        let worker = Arc::new(
            started
                .next()
                .unwrap_or_else(|| unreachable!("one LuaWorker per worker")),
        );
        // On this worker's runtime (entered by per_worker).
        for task in worker.take_tasks() {
            tasks.spawn(task);
        }
        worker
    });
    Ok((per_worker, tasks))
}

impl Generation {
    /// Starts everything `config` describes: SPOE engines on every worker,
    /// health checks on the caller's runtime (which must be a tokio runtime).
    /// Frontends, backends and servers count into `stats`, where those of
    /// the same name in earlier generations counted. Log lines go to `sinks`.
    pub fn start(
        id: u64,
        config: Arc<GatewayConfig>,
        var_names: &[String],
        workers: &Workers,
        stats: &StatsRegistry,
        sinks: &LogSinks,
        lua_errors: &Arc<spoe_lua::ErrorCounts>,
    ) -> Result<Self, spoe_lua::LoadError> {
        let (lua, lua_tasks) = match &config.lua {
            Some(runtime) => {
                let (lua, tasks) = start_lua(runtime, &config, workers, lua_errors, sinks)?;
                (Some(lua), tasks)
            }
            None => (None, tokio::task::JoinSet::new()),
        };
        let mut checks = tokio::task::JoinSet::new();
        let frontends = config
            .frontends
            .iter()
            .map(|f| FrontendRt {
                name: Arc::from(f.name.as_str()),
                model: f.clone(),
                filters: start_filters(&config, &f.filters, var_names, workers, sinks),
                counters: stats.frontend(&f.name),
                log: LogRoute::new(&f.logs, sinks),
            })
            .collect();
        // HTTP backends, and the tcp backends a tcp frontend routes to (not the SPOE agents'
        // backends: their engines connect and check them).
        let tcp_routed = config.tcp_routed_backends();
        let backends: HashMap<String, BackendRt> = config
            .backends
            .iter()
            .filter(|b| b.mode == crate::model::Mode::Http || tcp_routed.contains(b.name.as_str()))
            .map(|b| {
                let mut connector = HttpConnector::new();
                connector.set_nodelay(true);
                // `https` URIs go through the TLS layer above it.
                connector.enforce_http(false);
                connector.set_connect_timeout(Some(
                    b.timeouts.connect.unwrap_or(DEFAULT_TIMEOUT_CONNECT),
                ));
                // `tune.rcvbuf|sndbuf.server`: before `connect()`, as HAProxy sets them.
                let bufs = config.global.buf_tunes;
                connector.set_recv_buffer_size(bufs.server_rcvbuf);
                connector.set_send_buffer_size(bufs.server_sndbuf);
                let counters = stats.backend(&b.name);
                let servers: Vec<Arc<ServerRt>> = b
                    .servers
                    .iter()
                    .map(|s| {
                        let server_counters = stats.server(&b.name, &s.name);
                        let outgoing = Arc::new(Outgoing {
                            backend: b.server_sock,
                            user_timeout: s.user_timeout,
                            rcvbuf: bufs.server_rcvbuf,
                            sndbuf: bufs.server_sndbuf,
                            source: s.source,
                        });
                        let mut connector = connector.clone();
                        // `source ADDR`: the local address of its connections.
                        connector.set_local_address(s.source);
                        let connector = CountingConnector::new(
                            connector,
                            server_counters.clone(),
                            counters.clone(),
                            outgoing.clone(),
                        );
                        let resolved = s.dns.as_ref().map(|dns| {
                            let initial = Some(s.addr.ip()).filter(|ip| !ip.is_unspecified());
                            stats.resolved(&b.name, &s.name, &dns.fqdn, initial)
                        });
                        let no_address = match &resolved {
                            Some(slot) => slot.ip().is_none(),
                            None => s.fqdn.is_some() && s.addr.ip().is_unspecified(),
                        };
                        Arc::new(ServerRt {
                            name: s.name.clone(),
                            addr: s.addr,
                            active: AtomicUsize::new(0),
                            up: AtomicBool::new(true),
                            stopping: AtomicBool::new(false),
                            clients: server_pools(&connector, s, workers),
                            authority: crate::upstream_key::LastAuthority::default(),
                            // HAProxy's: up, and down at the first failure; zero when it
                            // starts in maintenance for want of an address.
                            health: AtomicU32::new(if no_address { 0 } else { s.rise }),
                            counters: server_counters,
                            admin: ServerAdmin::new(s.weight, no_address),
                            resolved,
                            outgoing,
                            sessions: std::sync::Mutex::default(),
                            cuttable: s.probe.down_cuts_sessions
                                || (s.probe.backup
                                    && b.servers.iter().any(|o| o.probe.up_cuts_backup_sessions)),
                            model: s.clone(),
                        })
                    })
                    .collect();
                let plan = Arc::new(health::Plan {
                    backend: b.name.clone(),
                    checks: b.checks.clone(),
                    timeouts: b.timeouts,
                    log: LogRoute::new(&b.logs, sinks),
                });
                let rt = BackendRt {
                    plan,
                    model: b.clone(),
                    filters: start_filters(&config, &b.filters, var_names, workers, sinks),
                    queues: queues(&config, b, &servers, &counters, workers.len()),
                    servers,
                    next: AtomicUsize::new(0),
                    counters,
                    chosen: chosen::Chosen::default(),
                };
                (b.name.clone(), rt)
            })
            .collect();
        for (be, server) in backends
            .values()
            .flat_map(|be| be.servers.iter().map(move |s| (be, s)))
            .filter(|(_, s)| s.model.check)
        {
            let trackers = track::trackers(&backends, &be.model.name, &server.name);
            checks.spawn(health::check_server(
                be.plan.clone(),
                server.clone(),
                be.servers.clone(),
                be.counters.clone(),
                move |s: &ServerRt| track::follow(&trackers, s),
            ));
        }
        let tables = Arc::new(crate::sticktable::tables::Tables::build(
            &config.tables,
            None,
        ));
        purge_tables(&mut checks, &tables);
        resolution::start(&config, &backends, &mut checks);
        let declared_proc_vars = Arc::new(config.declared_proc_vars());
        let sets_log_level = config.lua.is_some() || config.sets_log_level();
        let caches = config
            .caches
            .iter()
            .map(|c| {
                let store = crate::cache::store::Store::new(c.clone());
                (c.name.clone(), Arc::new(store))
            })
            .collect();
        let generation = Self {
            id,
            config,
            frontends,
            backends,
            proc_vars: spoe_http::SharedVars::default(),
            declared_proc_vars,
            sets_log_level,
            lua,
            _lua_tasks: lua_tasks,
            in_flight: AtomicU64::new(0),
            idle: Notify::new(),
            _checks: checks,
            tables,
            caches,
            cut: tokio_util::sync::CancellationToken::new(),
        };
        generation.forget_other_stats(stats);
        Ok(generation)
    }

    /// Forgets the statistics of objects this generation does not have.
    fn forget_other_stats(&self, stats: &StatsRegistry) {
        let frontends: Vec<&str> = self
            .frontends
            .iter()
            .map(|f| f.model.name.as_str())
            .collect();
        let backends: Vec<&str> = self.backends.keys().map(String::as_str).collect();
        let servers: Vec<(&str, &str)> = self
            .backends
            .iter()
            .flat_map(|(b, rt)| {
                rt.servers
                    .iter()
                    .map(move |s| (b.as_str(), s.name.as_str()))
            })
            .collect();
        stats.retain(&frontends, &backends, &servers);
    }

    /// Takes over the stick tables of `previous` that a `peers` section keeps (the reload's
    /// hand-over: see `Tables::build`).
    pub(crate) fn inherit_tables(&mut self, previous: &Self) {
        if self.config.tables.iter().any(|t| t.peers.is_some()) {
            self.tables = Arc::new(crate::sticktable::tables::Tables::build(
                &self.config.tables,
                Some(&previous.tables),
            ));
            purge_tables(&mut self._checks, &self.tables);
        }
    }

    /// The calling worker's Lua, when the configuration loads any.
    pub(crate) fn lua_worker(&self) -> Option<Arc<spoe_lua::LuaWorker>> {
        self.lua.as_ref().map(|l| l.current().clone())
    }

    /// The frontend that listens on `local`.
    pub(crate) fn frontend_for(&self, local: SocketAddr) -> Option<&FrontendRt> {
        self.frontends.iter().find(|f| {
            f.model
                .binds
                .iter()
                .any(|b| *b == local || (b.port() == local.port() && b.ip().is_unspecified()))
        })
    }

    /// Counts a request on this generation until the guard drops.
    pub(crate) fn enter(self: &Arc<Self>) -> RequestGuard {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        RequestGuard(self.clone())
    }

    /// Requests in flight on this generation.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Resolves when no request is in flight on this generation.
    pub async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.in_flight() == 0 {
                return;
            }
            notified.await;
        }
    }

    fn filters(&self) -> impl Iterator<Item = &SpoeFilter> {
        self.frontends
            .iter()
            .flat_map(|f| f.filters.iter())
            .chain(self.backends.values().flat_map(|b| b.filters.iter()))
            .flat_map(|f| f.per_worker.all())
    }

    /// Drains every SPOE engine: idle agent connections get
    /// HAPROXY-DISCONNECT at once, busy ones after their last ACK.
    pub fn drain(&self) {
        for f in self.filters() {
            f.drain();
        }
    }

    /// Resolves when every engine has drained.
    pub async fn drained(&self) {
        for f in self.filters() {
            f.drained().await;
        }
    }

    /// Each SPOE engine (one per filter and worker): its agent's id and its
    /// counters.
    pub(crate) fn spoe_engines(&self) -> impl Iterator<Item = (&str, &spoe::EngineStats)> {
        self.filters()
            .map(|f| (f.config().agent.id.as_str(), f.engine().stats()))
    }
}

/// Removes the expired entries of `tables` every second, as HAProxy's expiry task does,
/// while they are alive (and the generation that owns `tasks`).
fn purge_tables(
    tasks: &mut tokio::task::JoinSet<()>,
    tables: &Arc<crate::sticktable::tables::Tables>,
) {
    if tables.is_empty() {
        return;
    }
    let tables = Arc::downgrade(tables);
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let Some(tables) = tables.upgrade() else {
                return;
            };
            tables.purge_expired();
        }
    });
}

/// Keeps a generation alive and counted while a request runs on it.
#[derive(Debug)]
pub(crate) struct RequestGuard(Arc<Generation>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}
