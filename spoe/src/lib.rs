//! The Stream Processing Offload Engine (SPOE): the side of SPOP that sends
//! NOTIFY frames to agents and applies their answers, usable from any Rust
//! proxy.
//!
//! ```text
//!   host (gateway, proxy) ── Engine::process(messages) ──> queue (bounded)
//!        ^                        deadline = queued_at + timeout processing
//!        |                                   |
//!     Outcome { status, actions, timings }   v
//!        |                        dispatcher ──> agent connections (pool)
//!        └──────── ACK / failure <────────── HELLO, NOTIFY, ACK, DISCONNECT
//! ```
//!
//! A message's deadline is fixed when it is queued. Waiting for a
//! connection, the hello, the write and the ACK all run under it; a
//! connection that dies resolves every message on it at once.
//!
//! # Embedding
//!
//! What a host (a proxy) supplies: the `spoe.conf` text, the agents'
//! servers (the backend its `use-backend` names, from the host's own
//! configuration), a [`expr::Fetch`] over each stream's data, a
//! [`StreamState`] per stream and filter, somewhere to apply the
//! [`VarUpdate`]s, and a drain of the old filter when it reloads.
//!
//! ```
//! use std::time::Duration;
//!
//! use spoe::config::{Event, SpoeConfig};
//! use spoe::expr::{Fetch, FetchKind, Sample};
//! use spoe::{Addr, AgentBackend, SpoeFilter, StreamState, VarTable, VarUpdate};
//! use spop::TypedData;
//!
//! /// The host's view of one HTTP request: what `args` and `if` conditions read.
//! struct Request {
//!     method: &'static str,
//!     path: String,
//! }
//!
//! impl Fetch for Request {
//!     fn fetch(&self, kind: &FetchKind) -> Option<Sample> {
//!         match kind {
//!             FetchKind::Method => Some(Sample::str(self.method)),
//!             FetchKind::Path => Some(Sample::str(self.path.as_str())),
//!             // Data this host does not have: sent as NULL.
//!             _ => None,
//!         }
//!     }
//! }
//!
//! const SPOE_CONF: &str = "\
//! [iprep]
//! spoe-agent iprep-agent
//!     messages check-request
//!     option var-prefix iprep
//!     option set-on-error error
//!     timeout hello 2s
//!     timeout idle 30s
//!     timeout processing 500ms
//!     use-backend agents
//! spoe-message check-request
//!     args method=method path=path
//!     event on-frontend-http-request
//! ";
//!
//! # async fn host() -> Result<(), Box<dyn std::error::Error>> {
//! // 1. The configuration, parsed (and checked) at start and at each reload.
//! let (config, warnings) = SpoeConfig::parse_str(SPOE_CONF, "spoe.conf", Some("iprep"))?;
//! for w in &warnings {
//!     eprintln!("{w}");
//! }
//! // 2. The agents' servers: the host's backend `agents` (here a socket
//! // nobody listens on, so that the example shows a failure's variable).
//! let backend = AgentBackend {
//!     servers: vec![Addr::Unix("/nonexistent/spoe-agent.sock".into())],
//!     timeout_connect: Duration::from_secs(1),
//!     max_connections_per_server: 16,
//!     health_check: None,
//! };
//! let filter = SpoeFilter::start(config, &backend);
//!
//! // 3. Each stream keeps its own state for as long as it lives.
//! let mut stream = StreamState { sid: 1, ..StreamState::default() };
//! // Keyed by the updates' names: shared with the engine, no string copied,
//! // hashed once (when the engine made the name).
//! let mut vars: VarTable<TypedData> = VarTable::new();
//! let request = Request { method: "GET", path: "/login".into() };
//! // At each event of the stream: evaluate the messages, send them, wait
//! // at most `timeout processing`.
//! if let Some(prepared) = filter.prepare_event(Event::OnFrontendHttpRequest, &request, &stream) {
//!     let done = filter.process(prepared, &mut stream).await;
//!     // 4. Apply the variables, in order (`txn.iprep.error` on failure).
//!     for update in done.updates {
//!         match update {
//!             VarUpdate::Set { name, value } => {
//!                 vars.insert(name, value);
//!             }
//!             VarUpdate::Unset { name } => {
//!                 vars.remove(&name);
//!             }
//!         }
//!     }
//! }
//! // No agent answered: `txn.iprep.error` holds the status (1 when no agent
//! // could be reached, as HAProxy records it; 256 + the SPOP status code
//! // when a connection failed with the message on it).
//! assert!(vars.get_str("txn.iprep.error").is_some(), "{vars:?}");
//!
//! // 5. On reload: start the new generation's filter, then drain the old
//! // one (its in-flight messages finish under their own deadlines).
//! let (config, _) = SpoeConfig::parse_str(SPOE_CONF, "spoe.conf", Some("iprep"))?;
//! let next = SpoeFilter::start(config, &backend);
//! filter.drain();
//! filter.drained().await;
//! # drop(next);
//! # Ok(())
//! # }
//! # tokio::runtime::Builder::new_current_thread()
//! #     .enable_all()
//! #     .build()
//! #     .unwrap()
//! #     .block_on(host())
//! #     .unwrap();
//! ```
//!
//! What this crate does not do: speak HTTP or read `haproxy.cfg` (the
//! gateway's job), or send fragmented frames (HAProxy 3.1 semantics).

#![warn(missing_docs)]

pub mod clock;
pub mod config;
pub mod duration;
mod engine;
pub mod expr;
mod filter;
pub mod log;
pub mod once_table;
pub mod vars;

pub use engine::connector;
pub use engine::connector::{Connector, NetConnector};
pub use engine::handle::Engine;
pub use engine::health::HealthCheck;
pub use engine::outcome::{Outcome, ProcessStatus, Timings};
pub use engine::reach::Reachability;
pub use engine::settings::{
    DEFAULT_TIMEOUT_HELLO, DEFAULT_TIMEOUT_IDLE, DEFAULT_TIMEOUT_PROCESSING, EngineSettings,
    EngineStats,
};
pub use filter::{AgentBackend, Done, Prepared, SpoeFilter, StreamState};
pub use log::{LogCounters, LogLine, Processed};
pub use spop_io::Addr;
pub use vars::{ResultPolicy, VarName, VarNames, VarTable, VarUpdate, var_name};
