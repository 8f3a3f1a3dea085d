//! SPOE for Rust HTTP servers: HAProxy's HTTP sample fetches over the [`http`] crate's types
//! (the one implementation of [`spoe::expr::Fetch`] that every Rust HTTP host of the SPOE
//! engine shares: the gateway evaluates its SPOE arguments, ACLs and log-format strings
//! through it), and [`SpoeLayer`], which runs an unchanged `spoe.conf` in front of any tower
//! service (axum, hyper, tonic) or, through [`SpoeLayer::request`], any other host (Pingora).
//!
//! ```text
//!   http::request::Parts ───────┐
//!   buffered request body ──────┤
//!   http::response::Parts ──────┤            SampleExpr::eval, Condition::eval,
//!   ConnectionFacts (TlsFacts) ─┼──> Exchange ──Fetch──> SpoeFilter::prepare_event ──> agents
//!   Vars (txn. sess. proc.) ────┤                                       │
//!   unique id ──────────────────┘      Vars::apply(Done::updates) <─────┘
//! ```
//!
//! An [`Exchange`] borrows what the host has of one HTTP exchange and answers HAProxy 2.6's
//! fetches from it (`method`, `path`, `req.hdr()`, `req.body`, `src`, `status`,
//! `res.hdr()`...). The client connection comes as [`ConnectionFacts`], given to the exchange
//! or found among the request's extensions; its TLS session as [`TlsFacts`]. [`Vars`] holds
//! the variables agents and rules set, by HAProxy's names (`txn.bot.bot`), typed on the way
//! out (`vars.get::<bool>("txn.bot.bot")`).
//!
//! # Adding a fetch
//!
//! 1. `spoe/src/expr/fetch.rs`: a row in `FETCHES` (name, argument types, output type, data
//!    source), a [`FetchKind`](spoe::expr::FetchKind) variant, and its case in `build_fetch`.
//! 2. Here: its function in the family module of `src/fetch/` (`conn`, `tls`, `request`,
//!    `body`, `headers`, `response`, `internal`; a new family is a new module), and the line
//!    that maps the variant to it in `src/fetch/mod.rs`. Facts a host must supply (a TLS
//!    detail, a connection counter) are fields of [`ConnectionFacts`] or [`TlsFacts`].
//! 3. `tests/fetches.rs`: its value on the test exchange. That test fails for any fetch
//!    `spoe` parses and this crate does not answer, so step 2 cannot be forgotten.
//!
//! # The layer
//!
//! See [`layer`]: the flow of a request, its body policies, failure modes, decision hooks,
//! reloads and metrics. With the `axum` feature, [`SpoeVars`] and [`SpoeGroups`] are
//! extractors and `ConnectionFacts` is axum's connect info
//! (`into_make_service_with_connect_info::<ConnectionFacts>()`). With the `tls` feature,
//! `AgentTls` reaches agents behind TLS (HAProxy's `server ... ssl verify required ca-file`).
//!
//! Does not do: speak HTTP or hold connections (the host does: the gateway, a server with
//! `SpoeLayer`); parse `spoe.conf` (`spoe` does); hold response bodies (`res.body` is empty at
//! `on-http-response`, what HAProxy sends when none of the body reached its buffer yet).

#![warn(missing_docs)]

#[cfg(feature = "tls")]
mod agent_tls;
mod captures;
mod conn;
mod exchange;
mod fetch;
pub mod layer;
mod tls;
mod vars;

#[cfg(feature = "tls")]
pub use agent_tls::{AgentTls, AgentTlsError};
pub use captures::Captures;
pub use conn::{ConnectionFacts, ReceivedProxy};
pub use exchange::Exchange;
pub use fetch::auth::{Credentials, credentials};
pub use fetch::full_hash;
pub use layer::{
    BodyPolicy, FailureMode, LayerError, SpoeBody, SpoeGroups, SpoeLayer, SpoeLayerBuilder,
    SpoeResponseBody, SpoeVars, Verdict,
};
pub use spoe::{Addr, AgentBackend, ProcessStatus};
pub use tls::{ClientCert, TlsFacts, dn_oneline};
pub use vars::{FromSample, SharedVars, VarMap, Vars, sample_of, with_full_name};
