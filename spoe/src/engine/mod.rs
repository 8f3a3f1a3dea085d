//! The engine's runtime: the handle hosts call ([`handle`]), the dispatcher
//! that owns the queue and the pool ([`dispatch`]), one task per agent
//! connection ([`agent_conn`]), the ready connections callers hand messages
//! to ([`ready`]), health checks ([`health`]) and how sockets are opened
//! ([`connector`]).

pub(crate) mod agent_conn;
pub mod connector;
pub(crate) mod dispatch;
pub(crate) mod handle;
pub(crate) mod health;
pub(crate) mod outcome;
pub(crate) mod rate;
pub(crate) mod ready;
