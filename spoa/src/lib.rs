//! The runtime for SPOE agents (SPOA): serve async handlers to HAProxy over
//! SPOP 2.0. An agent depends on `spoa` and `tokio`, nothing else: what a
//! handler touches from the codec (`TypedData`, `VarScope`, `Action`,
//! `Message`, ...) is re-exported here.
//!
//! This page reads as a guide: [an agent](#an-agent) ->
//! [handlers](#handlers) -> [typed arguments](#typed-arguments) ->
//! [routing](#routing) -> [testing](#testing) -> [running it](#running-it),
//! and [the error variable](#the-error-variable) HAProxy tests when a verdict
//! could not be delivered.
//!
//! # An agent
//!
//! HAProxy sends a NOTIFY frame with the messages of one event (`spoe-message`
//! in `spoe.conf`); the agent answers an ACK with actions (SET-VAR /
//! UNSET-VAR) that HAProxy's rules then test. A bot blocker:
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use spoa::{Actions, Addr, Config, HandlerError, Listener, Request, Router, Server, VarScope};
//!
//! async fn check_ua(req: Request) -> Result<Actions, HandlerError> {
//!     // `ua=req.hdr(user-agent)` in spoe.conf; NULL when the header is absent.
//!     let ua: &str = req.arg_opt("ua")?.unwrap_or("");
//!     let mut actions = Actions::new();
//!     actions.set_var(VarScope::Transaction, "bot", ua.to_ascii_lowercase().contains("bot"));
//!     Ok(actions)
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//!     let mut config = Config::default();
//!     config.handler_timeout = Duration::from_millis(150); // below spoe.conf's `timeout processing`
//!     let server = Server::new(Router::new().route("check-ua", check_ua), config)?;
//!     let listener = Listener::bind(&"127.0.0.1:12345".parse::<Addr>()?).await?;
//!     // Prometheus metrics at http://127.0.0.1:9100/metrics while `_metrics` lives.
//!     let _metrics = server.serve_metrics("127.0.0.1:9100").await?;
//!     server.serve_until_signal(listener).await?; // SIGTERM / SIGINT: drain, then exit 0
//!     Ok(())
//! }
//! ```
//!
//! with, on HAProxy's side, `spoe.conf`:
//!
//! <!-- config: spoa-guide spoe.conf -->
//! ```text
//! [bot]
//! spoe-agent bot-agent
//!     messages check-ua
//!     option var-prefix bot
//!     timeout hello 2s
//!     timeout idle 30s
//!     timeout processing 200ms
//!     use-backend agents
//!
//! spoe-message check-ua
//!     args ua=req.hdr(user-agent)
//!     event on-frontend-http-request
//! ```
//!
//! and in `haproxy.cfg`: `filter spoe engine bot config spoe.conf` in the
//! frontend, `http-request deny if { var(txn.bot.bot) -m bool }`, and a
//! `backend agents` (`mode tcp`) with one `server` per agent process (the
//! repository's README has the whole file).
//!
//! # Handlers
//!
//! A [`Handler`] is any `async fn(Request) -> Result<Actions, HandlerError>`
//! (or closure), or a struct implementing the trait when it keeps state (see
//! [`Handler`] for an example with `Arc` state). The [`Request`] carries the
//! messages and what the handler may need besides: [`Request::remaining`]
//! (its budget), [`Request::engine`] (engine-id, max-frame-size and
//! capabilities from the handshake) and [`Request::peer`].
//!
//! What the runtime guarantees:
//! - every NOTIFY gets an ACK, and never a silent success: a verdict the
//!   runtime cannot deliver (the handler fails, panics, overruns
//!   [`Config::handler_timeout`], or answers more than fits in the negotiated
//!   max-frame-size) is answered with [`Config::fallback_actions`] and the
//!   error variable ([`Config::error_var`], default `txn` `error`) set to the
//!   [`ErrorCause`] code (see [the error variable](#the-error-variable)),
//!   counted in `spoa_undelivered_verdicts_total{cause}` and logged
//!   (rate-limited, with the stream-id and frame-id);
//! - handler errors are logged **through `tracing`**: an agent without a
//!   subscriber (`tracing_subscriber::fmt().init()` or another) prints
//!   nothing at all. The examples install one;
//! - pipelining is announced and real: up to [`Config::max_in_flight`]
//!   handlers run at once per connection, ACKs leave as handlers finish, and
//!   reading stops at the bound;
//! - fragmented NOTIFY frames from HAProxy 2.4-3.0 are reassembled up to
//!   [`Config::reassembly_limit`];
//! - protocol errors close the connection with the matching AGENT-DISCONNECT
//!   status; no input makes it panic or grow without bound;
//! - on stop, it stops accepting, lets in-flight handlers finish within
//!   [`Config::drain_grace`], and sends AGENT-DISCONNECT 0;
//! - bounded: at most [`Config::max_connections`] connections (a HELLO
//!   beyond gets AGENT-DISCONNECT 13), a connection idle for
//!   [`Config::idle_timeout`] is closed (AGENT-DISCONNECT 2), the listen
//!   backlog is [`Listener::DEFAULT_BACKLOG`] unless set.
//!
//! ```text
//!  HAProxy ──TCP/Unix──> Server::serve ──> one task per connection
//!                          handshake (AGENT-HELLO, spop-check)
//!                          NOTIFY ──> Handler::handle (concurrent, bounded,
//!                                     under a budget)  ──> ACK
//!                          HAPROXY-DISCONNECT / stop ──> drain ──> AGENT-DISCONNECT
//! ```
//!
//! # The error variable
//!
//! SPOP has no per-stream error frame; variables are the agent's only
//! per-stream channel. The codes are distinct from the values HAProxy writes
//! into its own `option set-on-error` variable (0 to 5, 255, 256 + a
//! DISCONNECT status):
//!
//! | code | [`ErrorCause`] | when |
//! |---|---|---|
//! | 10 | [`ErrorCause::HandlerError`] | the handler returned `Err` |
//! | 11 | [`ErrorCause::HandlerPanic`] | the handler panicked |
//! | 12 | [`ErrorCause::BudgetOverrun`] | the handler overran [`Config::handler_timeout`] |
//! | 13 | [`ErrorCause::AckTooBig`] | the ACK is larger than the negotiated max-frame-size (never fragmented: no HAProxy accepts a fragmented ACK) |
//!
//! With `option set-on-error error` in spoe.conf, one variable covers both
//! sides (and HAProxy registers its name, so `option force-set-var` is not
//! needed). Fail-closed, in haproxy.cfg, for an agent with `option
//! var-prefix myagent`:
//!
//! ```text
//! http-request deny if { var(txn.myagent.error) -m found }
//! ```
//!
//! Fail-open is explicit: either haproxy.cfg lets such requests through, or
//! the agent sets [`Config::error_var`] to `None` and puts what it wants
//! HAProxy to see in [`Config::fallback_actions`].
//!
//! # Typed arguments
//!
//! HAProxy sends NULL, BOOL, INT64, IPV4, IPV6, STRING and BINARY.
//! [`Request::arg`] / [`Message::get_as`] read an argument as a Rust type
//! (`bool`, `i64`, `u64`, `i32`, `u32`, `&str`, `String`, `&[u8]`, `Bytes`,
//! `Ipv4Addr`, `Ipv6Addr`, `IpAddr`, through `TryFrom<&TypedData>`, see
//! [`convert`]); the error names the argument, the type expected and the
//! type received, and `?` makes it the handler's error. [`Request::arg_opt`]
//! reads a missing or NULL argument as `None`. [`TypedData`] also has
//! `as_*` accessors returning `Option`.
//!
//! # Routing
//!
//! One NOTIFY may carry several messages (several `spoe-message` on one
//! event, or a `spoe-group`). [`Router`] sends each to the handler
//! registered for its name and merges their actions in message order; an
//! unrouted message is ignored (logged at DEBUG); if one handler fails, the
//! whole NOTIFY fails and takes the runtime's error path.
//!
//! # Testing
//!
//! [`testing`] runs a handler on a [`Request`] built with
//! [`Request::builder`], and runs a whole [`Server`] behind an in-process
//! engine speaking SPOP over an in-memory pipe ([`testing::Engine`]):
//!
//! ```
//! use spoa::testing::{Engine, call};
//! use spoa::{Actions, Config, HandlerError, Message, Request, Router, Server, TypedData, VarScope};
//!
//! async fn check_ua(req: Request) -> Result<Actions, HandlerError> {
//!     let ua: &str = req.arg_opt("ua")?.unwrap_or("");
//!     let mut actions = Actions::new();
//!     actions.set_var(VarScope::Transaction, "bot", ua.to_ascii_lowercase().contains("bot"));
//!     Ok(actions)
//! }
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//!     let req = Request::builder().message(Message::new("check-ua").arg("ua", "Googlebot/2.1")).build();
//!     let actions = call(&check_ua, req).await?;
//!     assert_eq!(actions.var(VarScope::Transaction, "bot"), Some(&TypedData::Bool(true)));
//!
//!     let server = Server::new(Router::new().route("check-ua", check_ua), Config::default())?;
//!     let mut engine = Engine::connect(&server).await?;
//!     let actions = engine.notify(vec![Message::new("check-ua").arg("ua", "curl/8")]).await?;
//!     assert_eq!(actions.var(VarScope::Transaction, "bot"), Some(&TypedData::Bool(false)));
//!     Ok(())
//! }
//! ```
//!
//! # Running it
//!
//! [`Server::serve_until_signal`] serves until SIGTERM or SIGINT and drains
//! (what `spoe agent` does); [`Server::serve`] takes a
//! [`CancellationToken`] for any other way to stop.
//! [`Server::serve_metrics`] serves the agent's Prometheus metrics
//! (`spoa_messages_total` by outcome, `spoa_undelivered_verdicts_total` by
//! cause, handler latency, connections...) at `http://ADDR/metrics`. The examples in
//! `spoa/examples/` are complete agents, each tested behind HAProxy 2.6:
//! `block_list`, `bot_blocker` (router and typed arguments) and `rate_limit`
//! (a token bucket per client address in Redis, shared by several agent
//! processes).
//!
//! What this crate does not do: read `spoe.conf` or `haproxy.cfg`, or send
//! NOTIFY frames (that is the engine, crate `spoe`).

#![warn(missing_docs)]

mod admission;
mod config;
mod connection;
mod engine_info;
mod error_var;
mod handler;
mod listener;
mod log_limit;
mod metrics;
mod metrics_http;
mod request;
mod router;
mod server;
mod shared;
mod signal;
pub mod testing;
#[cfg(feature = "tls")]
pub mod tls;
mod workers;

pub use config::{Config, ConfigError};
pub use engine_info::EngineInfo;
pub use error_var::{ErrorCause, ErrorVar, MAX_ERROR_VAR_NAME};
pub use handler::{Actions, Handler, HandlerError};
pub use listener::{Listener, UnixPathGuard};
pub use log_limit::LogLimiter;
pub use metrics::{Direction, Metrics, Outcome};
pub use metrics_http::MetricsEndpoint;
pub use request::{Request, RequestBuilder};
pub use router::Router;
pub use server::Server;
pub use spop::agent::{ConnectionEnd, Fragmentation};
pub use spop_io::Addr;
pub use tokio_util::sync::CancellationToken;
pub use workers::Workers;

// What a handler uses from the codec, so that an agent depends on `spoa`
// (and tokio) only, with one version to keep in step.
/// The SPOP codec this runtime speaks, for what the re-exports above leave out.
pub use spop;
pub use spop::convert;
pub use spop::{
    Action, AgentHello, ArgError, Body, Capabilities, DataType, Disconnect, Frame, FrameType,
    HaproxyHello, Kv, Message, Status, TypeError, TypedData, VarScope, Version,
};
