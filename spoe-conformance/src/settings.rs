//! How a run plays the engine.

use std::time::Duration;

use spop::engine::Haproxy;
use spop_io::Addr;

/// How a run plays the engine.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The agent.
    pub target: Addr,
    /// Which HAProxy to play.
    pub haproxy: Haproxy,
    /// Each case's deadline, all of its connections included.
    pub case_timeout: Duration,
    /// The time an ACK may take in the timing cases (HAProxy's `timeout
    /// processing` is typically a few hundred milliseconds).
    pub ack_budget: Duration,
    /// The message name sent in NOTIFY frames.
    pub message: String,
    /// The variable with which the agent says that it could not deliver a
    /// verdict (`spoa`'s error variable, `txn` `error` by default): ACKs that
    /// set it are counted in [`crate::Report::verdicts`]. The protocol is
    /// right, but the handler failed.
    pub error_var: Option<(spop::VarScope, String)>,
}

impl Settings {
    /// Defaults: 3 s per case, 500 ms ACK budget, message `conformance`,
    /// error variable `txn.error`.
    pub fn new(target: Addr, haproxy: Haproxy) -> Self {
        Self {
            target,
            haproxy,
            case_timeout: Duration::from_secs(3),
            ack_budget: Duration::from_millis(500),
            message: "conformance".to_owned(),
            error_var: Some((spop::VarScope::Transaction, "error".to_owned())),
        }
    }
}
