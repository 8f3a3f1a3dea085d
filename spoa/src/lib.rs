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
//! - every NOTIFY gets an ACK: a handler that fails, panics or overruns
//!   [`Config::handler_timeout`] is answered with [`Config::fallback_actions`];
//! - pipelining is announced and real: up to [`Config::max_in_flight`]
//!   handlers run at once per connection, ACKs leave as handlers finish, and
//!   reading stops at the bound;
//! - fragmented NOTIFY frames from HAProxy 2.4-3.0 are reassembled up to
//!   [`Config::reassembly_limit`];
//! - protocol errors close the connection with the matching AGENT-DISCONNECT
//!   status; no input makes it panic or grow without bound;
//! - cancelling the shutdown token stops accepting, lets in-flight handlers
//!   finish within [`Config::drain_grace`], and sends AGENT-DISCONNECT 0.
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
mod handler;
mod listener;
mod metrics;
mod server;

pub use config::{Config, ConfigError};
pub use connection::ConnectionEnd;
pub use handler::{Actions, Handler, HandlerError, Request};
pub use listener::{ListenAddr, Listener, UnixPathGuard};
pub use metrics::{Direction, Metrics, Outcome};
pub use server::Server;
pub use tokio_util::sync::CancellationToken;
