//! The spoe gateway: an HTTP reverse proxy that reads the SPOE-relevant
//! subset of HAProxy's `haproxy.cfg`, runs the SPOE engine on requests and
//! responses, and reloads its configuration without stalling a request.
//!
//! ```text
//!   client ──HTTP/1.1──> listener (kept across reloads)
//!                          │  each request takes the current Generation
//!                          v
//!        on-client-session, on-frontend-http-request ──> SpoeFilter ──> agents
//!        frontend http-request rules (deny, return, set-header, set-var, send-spoe-group...)
//!        use_backend / default_backend
//!        on-backend-http-request, backend http-request rules
//!        ──> server (pooled client) ──> on-http-response, http-response rules ──> client
//! ```
//!
//! A reload builds generation N+1 beside N. New requests (including the
//! next request of a kept-alive connection) use N+1; requests in flight
//! finish on N; N's engines drain, and N is dropped when its last request ends.

#![warn(missing_docs)]

mod access;
pub mod affinity;
mod attempt;
mod auth;
mod balance;
mod body;
mod cache;
mod capture;
mod compress;
pub mod config;
mod cookie;
mod cut;
mod errorfile;
pub mod generation;
mod head_room;
mod hop;
pub mod httplog;
pub mod limits;
pub mod log;
mod logline;
mod logtime;
mod lua;
pub mod metrics;
mod model;
mod net;
mod pages;
mod persist;
pub mod process;
mod proto_check;
mod proxy;
mod proxy_proto;
mod queue;
mod rate;
mod resolve;
mod rewrite;
mod runtime_api;
pub mod server;
mod server_rules;
mod sockopt;
pub mod stats;
mod stats_page;
mod sticktable;
mod stream_addr;
mod tcp;
pub mod tls;
mod tunnel;
mod txn;
mod upstream_key;
pub mod workers;

pub use generation::Generation;
pub use metrics::GatewayMetrics;
pub use server::{Gateway, ReloadError};
pub use workers::Workers;
