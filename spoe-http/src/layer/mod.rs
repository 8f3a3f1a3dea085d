//! [`SpoeLayer`]: SPOE in front of any tower service (axum, hyper, tonic), from an unchanged
//! `spoe.conf`.
//!
//! ```text
//!   request ──> on-client-session (once per connection)
//!           ──> body policy (not sent | buffered up to N, then partial or 413)
//!           ──> on-frontend-http-request, on-backend-http-request ──> agents
//!           ──> failure mode (open | closed) ──> request hook (deny / respond)
//!           ──> handler (SpoeVars, SpoeGroups::send as request extensions)
//!           ──> on-http-response ──> response hook ──> client
//! ```
//!
//! Every message runs under its agent's `timeout processing`, fixed when it is queued:
//! nothing the handler or the client does stretches it. Agents' variables land where HAProxy
//! puts them (`txn.<var-prefix>.<name>`, `set-on-error`...), readable by the hooks and the
//! handler as [`SpoeVars`]. A reload ([`SpoeLayer::reload`]) starts the new `spoe.conf`'s
//! engine beside the old one: requests in flight finish on the old one, which drains.

mod body;
mod decide;
mod error;
mod flow;
mod generation;
mod metrics;
mod service;
mod settings;
mod shared;
mod txn;

#[cfg(feature = "axum")]
mod axum;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::StatusCode;
use spoe::{Addr, AgentBackend, Connector};
use tower_layer::Layer;

pub use body::{BodyPolicy, Larger, SpoeBody, SpoeResponseBody};
pub use decide::{Decide, FailureMode, Verdict};
pub use error::LayerError;
pub use service::{SpoeFuture, SpoeService};
pub use settings::UniqueIdFn;
pub use txn::{SpoeGroups, SpoeVars, UnknownGroup};

use generation::Generation;
use metrics::LayerMetrics;
use settings::{ConfigSource, Settings};
use shared::Shared;

use crate::vars::SharedVars;

/// The `timeout connect` of agents given by [`SpoeLayerBuilder::agent`].
pub const DEFAULT_TIMEOUT_CONNECT: Duration = Duration::from_secs(1);

/// A tower layer that runs an unchanged `spoe.conf` around a service. Cloning it shares its
/// engine, variables, metrics and reloads.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use spoe_http::{BodyPolicy, SpoeLayer};
///
/// let layer = SpoeLayer::builder()
///     .config_file("/etc/haproxy/spoe.conf", Some("bot"))
///     .agent("127.0.0.1:12345".parse()?)
///     .fail_open()
///     .body(BodyPolicy::NotSent)
///     .var_names(["txn.bot.bot"])
///     .build()?;
/// # drop(layer);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct SpoeLayer {
    shared: Arc<Shared>,
}

impl<S> Layer<S> for SpoeLayer {
    type Service = SpoeService<S>;

    fn layer(&self, inner: S) -> SpoeService<S> {
        SpoeService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

impl SpoeLayer {
    /// A builder.
    pub fn builder() -> SpoeLayerBuilder {
        SpoeLayerBuilder::default()
    }

    /// Reads `spoe.conf` again (from the file or text it was built with) and runs it for new
    /// requests; requests in flight finish on the previous generation, whose engine drains
    /// (idle agent connections close at once, busy ones after their last answer). Must be
    /// called inside a tokio runtime. Returns the new generation's number.
    ///
    /// # Errors
    ///
    /// The new configuration's errors: the running generation stays.
    pub fn reload(&self) -> Result<u64, LayerError> {
        let source = self
            .shared
            .source
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.reload_from(&source)
    }

    /// [`reload`](Self::reload) with a new `spoe.conf` text, which later reloads read again.
    ///
    /// # Errors
    ///
    /// As [`reload`](Self::reload).
    pub fn reload_str(
        &self,
        text: &str,
        name: impl Into<PathBuf>,
        engine: Option<&str>,
    ) -> Result<u64, LayerError> {
        let mut source = self
            .shared
            .source
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let next = ConfigSource::Text {
            text: text.into(),
            name: name.into(),
            engine: engine.map(str::to_owned),
        };
        let id = self.reload_from(&next)?;
        *source = next;
        Ok(id)
    }

    fn reload_from(&self, source: &ConfigSource) -> Result<u64, LayerError> {
        let shared = &self.shared;
        let started = source.load().and_then(|config| {
            let id = shared.next_generation.fetch_add(1, Ordering::Relaxed);
            Generation::start(id, config, &shared.settings, &shared.metrics)
        });
        match started {
            Ok(generation) => {
                let id = generation.id;
                let old = shared.current.swap(Arc::new(generation));
                old.filter.drain();
                shared.metrics.reloads.inc();
                Ok(id)
            }
            Err(e) => {
                shared.metrics.reload_failures.inc();
                tracing::warn!("spoe.conf reload refused, generation kept:\n{e}");
                Err(e)
            }
        }
    }

    /// The request side for a host that is not a tower service (Pingora's `request_filter`,
    /// a proxy of your own): `on-client-session` once per connection (`conn`, else the head's
    /// [`ConnectionFacts`](crate::ConnectionFacts) extension, says which), the request events
    /// with `body` as what was buffered of the body, the failure mode and the request hook.
    /// `Ok`: the request goes on, with its variables (pass them to
    /// [`response`](Self::response) after the handler); `Err`: the layer's answer.
    ///
    /// # Errors
    ///
    /// The answer the failure mode or the request hook chose.
    pub async fn request(
        &self,
        head: &http::request::Parts,
        conn: Option<&crate::ConnectionFacts>,
        body: Bytes,
    ) -> Result<SpoeVars, http::Response<Bytes>> {
        let mut txn = flow::begin(&self.shared, head, conn).await;
        txn.body = body;
        match flow::request(txn, head).await {
            Ok(txn) => Ok(SpoeVars(Arc::new(txn))),
            Err((_, answer)) => Err(answer),
        }
    }

    /// The response side for such a host: `on-http-response` on `response` and the response
    /// hook. `Some`: the layer's answer in place of the response.
    pub async fn response(
        &self,
        vars: &SpoeVars,
        response: &http::response::Parts,
    ) -> Option<http::Response<Bytes>> {
        flow::response(&vars.0, response).await
    }

    /// The number of the generation new requests use (0 for the first).
    pub fn generation(&self) -> u64 {
        self.shared.current.load().id
    }

    /// Drains the current generation's engine (for a graceful stop, after the server stopped
    /// taking requests): idle agent connections close at once, busy ones after their last
    /// answer. Resolves when none is left; messages still sent meanwhile are served.
    pub async fn drain(&self) {
        let generation = self.shared.current.load_full();
        generation.filter.drain();
        generation.filter.drained().await;
    }

    /// The layer's Prometheus metrics, in the text exposition format (to serve on a route of
    /// your own): `spoe_spoe_events_total{agent,status}`,
    /// `spoe_spoe_processing_seconds{agent}`, `spoe_layer_requests_total{verdict}`,
    /// `spoe_reloads_total`, `spoe_reload_failures_total`, `spoe_agent_connections`,
    /// `spoe_agent_protocol_errors`.
    pub fn metrics_text(&self) -> String {
        let m = &self.shared.metrics;
        let generation = self.shared.current.load();
        let stats = generation.filter.engine().stats();
        let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        m.agent_connections.set(gauge(stats.connections()));
        m.agent_protocol_errors.set(gauge(stats.protocol_errors()));
        m.encode_text()
    }
}

/// Builds a [`SpoeLayer`]. A `spoe.conf`, the agents' addresses and a failure mode are
/// required; a body policy too when `spoe.conf` reads the body.
#[derive(Default)]
pub struct SpoeLayerBuilder {
    source: Option<ConfigSource>,
    backend: Option<AgentBackend>,
    connector: Option<Arc<dyn Connector>>,
    failure: Option<FailureMode>,
    body: Option<BodyPolicy>,
    on_request: Option<Decide>,
    on_response: Option<Decide>,
    var_names: Vec<String>,
    unique_id: Option<UniqueIdFn>,
}

impl std::fmt::Debug for SpoeLayerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpoeLayerBuilder")
            .field("source", &self.source)
            .field("backend", &self.backend)
            .field("failure", &self.failure)
            .field("body", &self.body)
            .finish_non_exhaustive()
    }
}

impl SpoeLayerBuilder {
    /// `spoe.conf` from a file, and the `[scope]` to use (HAProxy's `filter spoe engine NAME`;
    /// `None` when the file has no scope). [`SpoeLayer::reload`] reads the file again.
    #[must_use]
    pub fn config_file(mut self, path: impl Into<PathBuf>, engine: Option<&str>) -> Self {
        self.source = Some(ConfigSource::File {
            path: path.into(),
            engine: engine.map(str::to_owned),
        });
        self
    }

    /// `spoe.conf` as text, named `name` in its errors.
    #[must_use]
    pub fn config_str(
        mut self,
        text: &str,
        name: impl Into<PathBuf>,
        engine: Option<&str>,
    ) -> Self {
        self.source = Some(ConfigSource::Text {
            text: text.into(),
            name: name.into(),
            engine: engine.map(str::to_owned),
        });
        self
    }

    /// Adds an agent server (TCP `HOST:PORT` or `unix@PATH`), with a `timeout connect` of
    /// [`DEFAULT_TIMEOUT_CONNECT`] and at most 16 connections to it.
    #[must_use]
    pub fn agent(mut self, addr: Addr) -> Self {
        let backend = self.backend.get_or_insert_with(|| AgentBackend {
            servers: Vec::new(),
            timeout_connect: DEFAULT_TIMEOUT_CONNECT,
            max_connections_per_server: 16,
            health_check: None,
        });
        backend.servers.push(addr);
        self
    }

    /// The agents' backend in full (what `use-backend` names in HAProxy: servers,
    /// `timeout connect`, `maxconn`, `option spop-check`).
    #[must_use]
    pub fn agents(mut self, backend: AgentBackend) -> Self {
        self.backend = Some(backend);
        self
    }

    /// How connections to the agents are opened: a TLS connector for agents behind TLS, an
    /// in-memory one for tests. The default is plain TCP and Unix sockets.
    #[must_use]
    pub fn connector(mut self, connector: Arc<dyn Connector>) -> Self {
        self.connector = Some(connector);
        self
    }

    /// Failed SPOE processing lets the request through (the `set-on-error` variable and
    /// [`SpoeVars::failure`] say so).
    #[must_use]
    pub fn fail_open(mut self) -> Self {
        self.failure = Some(FailureMode::Open);
        self
    }

    /// Failed SPOE processing answers `status` without calling the handler.
    #[must_use]
    pub fn fail_closed(mut self, status: StatusCode) -> Self {
        self.failure = Some(FailureMode::Closed(status));
        self
    }

    /// The request body policy.
    #[must_use]
    pub fn body(mut self, policy: BodyPolicy) -> Self {
        self.body = Some(policy);
        self
    }

    /// A request hook, run after the request messages: `Some(response)` answers the client
    /// in place of the handler (`http-request deny if { var(txn.bot.bot) -m bool }`).
    #[must_use]
    pub fn decide(
        mut self,
        hook: impl Fn(&Verdict<'_>) -> Option<http::Response<Bytes>> + Send + Sync + 'static,
    ) -> Self {
        self.on_request = Some(Arc::new(hook));
        self
    }

    /// A response hook, run after the response messages: `Some(response)` replaces the
    /// handler's response (`http-response deny if ...`).
    #[must_use]
    pub fn decide_response(
        mut self,
        hook: impl Fn(&Verdict<'_>) -> Option<http::Response<Bytes>> + Send + Sync + 'static,
    ) -> Self {
        self.on_response = Some(Arc::new(hook));
        self
    }

    /// Variables the hooks and handlers read (`txn.bot.bot`): agents may set them, as HAProxy
    /// lets them set names its configuration mentions. Names `spoe.conf` mentions are known
    /// already.
    #[must_use]
    pub fn var_names<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.var_names.extend(names.into_iter().map(Into::into));
        self
    }

    /// Where `unique-id` comes from (HAProxy's `unique-id-format`): for instance a request id
    /// header set by an outer layer. Without it, `unique-id` has no value.
    #[must_use]
    pub fn unique_id(
        mut self,
        make: impl Fn(&http::request::Parts) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.unique_id = Some(Arc::new(make));
        self
    }

    /// Parses `spoe.conf`, checks it against the layer (events it can run, body policy) and
    /// starts the engine. Must be called inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// A missing setting, or the configuration's errors.
    pub fn build(self) -> Result<SpoeLayer, LayerError> {
        let source = self.source.ok_or(LayerError::NoConfig)?;
        let backend = self
            .backend
            .filter(|b| !b.servers.is_empty())
            .ok_or(LayerError::NoAgents)?;
        let failure = self.failure.ok_or(LayerError::NoFailureMode)?;
        let settings = Settings {
            backend,
            connector: self.connector,
            failure,
            body: self.body,
            on_request: self.on_request,
            on_response: self.on_response,
            var_names: self.var_names,
            unique_id: self.unique_id,
        };
        let metrics = LayerMetrics::new();
        let generation = Generation::start(0, source.load()?, &settings, &metrics)?;
        Ok(SpoeLayer {
            shared: Arc::new(Shared {
                current: ArcSwap::from_pointee(generation),
                settings,
                proc_vars: SharedVars::default(),
                metrics,
                next_sid: AtomicU64::new(0),
                source: Mutex::new(source),
                next_generation: AtomicU64::new(1),
            }),
        })
    }
}
