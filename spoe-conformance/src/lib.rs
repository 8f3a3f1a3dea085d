//! Conformance cases for SPOP agents: an h2spec for HAProxy's Stream Processing
//! Offload Protocol.
//!
//! Each [`Case`] plays HAProxy's engine against a running agent over one or
//! more fresh connections, built from the `spop` codec, and judges what the
//! agent does against `doc/SPOE.txt` and what HAProxy itself does (its source
//! and its behaviour on the wire). A case has its own deadline: an agent that
//! hangs fails that case and the run goes on.
//!
//! ```no_run
//! # async fn f() {
//! use spoe_conformance::{Addr, Haproxy, Settings};
//! let settings = Settings::new("127.0.0.1:12345".parse::<Addr>().unwrap(), Haproxy::V2_6);
//! let report = spoe_conformance::run(&settings, None).await;
//! assert!(report.passed());
//! # }
//! ```
//!
//! Judging is fair to agents: what HAProxy never sends (missing keys, odd
//! versions) and what only matters for speed (pipelining) are *optional*
//! cases, whose failures are warnings; what makes HAProxy refuse or stall an
//! agent is *required*.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod case;
mod cases;
pub mod diagnose;
mod peer;
mod report;
mod script;
mod settings;
mod verdicts;

pub use case::{Case, Group, Outcome, Verdict};
pub use peer::{Event, Peer, PeerError};
pub use report::{CaseResult, Report, cases, run, run_case};
pub use settings::Settings;
/// Which HAProxy the cases play (2.6 to 3.0, or 3.1+).
pub use spop::engine::Haproxy;
/// Where the agent under test listens.
pub use spop_io::Addr;
pub use verdicts::Verdicts;
