//! The runtime for SPOE agents (SPOA): serve an async [`Handler`] to HAProxy
//! over SPOP 2.0.
//!
//! ```text
//!  HAProxy ──TCP/Unix──> Server::serve ──> one task per connection
//!                          handshake (AGENT-HELLO, spop-check)
//!                          NOTIFY ──> Handler::handle (concurrent, bounded,
//!                                     under a budget)  ──> ACK
//!                          HAPROXY-DISCONNECT / stop ──> drain ──> AGENT-DISCONNECT
//! ```
//!
//! What the runtime guarantees:
//! - every NOTIFY gets an ACK, and never a silent success: a verdict the
//!   runtime cannot deliver (the handler fails, panics, overruns
//!   [`Config::handler_timeout`], or answers more than fits in the negotiated
//!   max-frame-size) is answered with [`Config::fallback_actions`] and the
//!   error variable ([`Config::error_var`], default `txn` `error`) set to the
//!   [`ErrorCause`] code below, counted in
//!   `spoa_undelivered_verdicts_total{cause}` and logged (rate-limited, with
//!   the stream-id and frame-id);
//! - pipelining is announced and real: up to [`Config::max_in_flight`]
//!   handlers run at once per connection, ACKs leave as handlers finish, and
//!   reading stops at the bound;
//! - fragmented NOTIFY frames from HAProxy 2.4-3.0 are reassembled up to
//!   [`Config::reassembly_limit`];
//! - protocol errors close the connection with the matching AGENT-DISCONNECT
//!   status; no input makes it panic or grow without bound;
//! - cancelling the shutdown token stops accepting, lets in-flight handlers
//!   finish within [`Config::drain_grace`], and sends AGENT-DISCONNECT 0;
//! - bounded: at most [`Config::max_connections`] connections (a HELLO
//!   beyond gets AGENT-DISCONNECT 13), a connection idle for
//!   [`Config::idle_timeout`] is closed (AGENT-DISCONNECT 2), the listen
//!   backlog is [`Listener::DEFAULT_BACKLOG`] unless set.
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
//! ```no_run
//! use spoa::{Actions, Config, ListenAddr, Listener, Request, Server};
//! use spop::{TypedData, VarScope};
//! use tokio_util::sync::CancellationToken;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let handler = |req: Request| async move {
//!     let mut actions = Actions::new();
//!     if let Some(ip) = req.message("check-client-ip").and_then(|m| m.get("ip")).and_then(TypedData::as_ip) {
//!         actions.set_var(VarScope::Session, "blocked", ip.is_loopback());
//!     }
//!     Ok(actions)
//! };
//! let server = Server::new(handler, Config::default())?;
//! let listener = Listener::bind(&"127.0.0.1:12345".parse::<ListenAddr>()?).await?;
//! server.serve(listener, CancellationToken::new()).await?;
//! # Ok(())
//! # }
//! ```
//!
//! What this crate does not do: read `spoe.conf` or `haproxy.cfg`, install
//! signal handlers (pass a [`tokio_util::sync::CancellationToken`]), or send
//! NOTIFY frames (that is the engine, crate `spoe`).

#![warn(missing_docs)]

mod config;
mod connection;
pub mod demo;
mod error_var;
mod handler;
mod listener;
mod log_limit;
mod metrics;
mod server;

pub use config::{Config, ConfigError, Fragmentation};
pub use connection::ConnectionEnd;
pub use error_var::{ErrorCause, ErrorVar, MAX_ERROR_VAR_NAME};
pub use handler::{Actions, Handler, HandlerError, Request};
pub use listener::{ListenAddr, Listener, UnixPathGuard};
pub use log_limit::LogLimiter;
pub use metrics::{Direction, Metrics, Outcome};
pub use server::Server;
pub use tokio_util::sync::CancellationToken;
