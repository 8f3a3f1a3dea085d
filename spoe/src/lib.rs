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
//! A proxy embeds it in three steps: parse `spoe.conf` with
//! [`config::SpoeConfig`], start a [`SpoeFilter`] with the agents' backend,
//! and at each event of a stream call [`SpoeFilter::prepare_event`] (which
//! evaluates conditions and arguments against the proxy's [`expr::Fetch`])
//! then [`SpoeFilter::process`], and apply the returned [`VarUpdate`]s.
//!
//! What this crate does not do: speak HTTP or read `haproxy.cfg` (the
//! gateway's job), or send fragmented frames (HAProxy 3.1 semantics).

#![warn(missing_docs)]

pub mod config;
pub mod duration;
mod engine;
pub mod expr;
mod filter;
pub mod log;
pub mod vars;

pub use engine::connector;
pub use engine::connector::{AgentAddr, Connector, NetConnector};
pub use engine::handle::Engine;
pub use engine::health::HealthCheck;
pub use engine::outcome::{Outcome, ProcessStatus, Timings};
pub use engine::settings::{EngineSettings, EngineStats};
pub use filter::{
    AgentBackend, DEFAULT_TIMEOUT_HELLO, DEFAULT_TIMEOUT_IDLE, DEFAULT_TIMEOUT_PROCESSING, Done,
    Prepared, SpoeFilter, StreamState,
};
pub use log::{LogCounters, LogLine, Processed};
pub use vars::{ResultPolicy, VarUpdate, var_name};
