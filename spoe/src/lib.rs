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
//! What this crate does not do yet: read `spoe.conf` into
//! [`EngineSettings`] and evaluate message arguments (in progress), or speak
//! HTTP (the gateway's job).

#![warn(missing_docs)]

mod agent_conn;
pub mod config;
pub mod connector;
mod dispatch;
pub mod duration;
mod engine;
pub mod expr;
pub mod log;
mod outcome;
mod rate;
pub mod vars;

pub use connector::{AgentAddr, Connector, NetConnector};
pub use engine::{Engine, EngineSettings, EngineStats};
pub use log::{LogCounters, LogLine, Processed};
pub use outcome::{Outcome, ProcessStatus, Timings};
pub use vars::{ResultPolicy, VarUpdate, var_name};
