//! Runtime settings of an agent.

use std::time::Duration;

use spop::agent::{AgentConfig, Fragmentation};
use spop::{Action, MIN_FRAME_SIZE};

use crate::error_var::{ErrorVar, MAX_ERROR_VAR_NAME};

/// Settings of a [`crate::Server`]. Start from [`Config::default`] and change
/// fields; [`crate::Server::new`] validates them.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The largest frame this agent accepts and announces (the engine's offer
    /// caps it). Default 16380, HAProxy's default; at least 256.
    pub max_frame_size: u32,
    /// NOTIFY frames one connection may have in its handlers at once. When
    /// reached, the agent stops reading that connection (backpressure).
    /// Default 64.
    pub max_in_flight: usize,
    /// A handler's budget. Past it the handler is cancelled and the ACK
    /// carries the error variable ([`Config::error_var`], code 12). Set it
    /// below the engine's `timeout processing`, so that the error arrives in
    /// time. Default 1 s.
    pub handler_timeout: Duration,
    /// How long a new connection may take to send its HAPROXY-HELLO. Default 5 s.
    pub hello_timeout: Duration,
    /// How long one write to the engine may block before the connection is
    /// given up. Default 10 s.
    pub write_timeout: Duration,
    /// On graceful stop, how long in-flight handlers may run before their
    /// connection is closed anyway. Default 5 s.
    pub drain_grace: Duration,
    /// Largest payload reassembled from fragmented NOTIFY frames (HAProxy
    /// 2.4-3.0 with `option send-frag-payload`). Default 1 MiB.
    pub reassembly_limit: usize,
    /// When to announce the `fragmentation` capability. Fragments are
    /// reassembled whether or not it is announced. Default
    /// [`Fragmentation::Auto`].
    pub fragmentation: Fragmentation,
    /// Where the [`crate::ErrorCause`] of a verdict that could not be
    /// delivered (handler error, panic, budget overrun, ACK too big) is
    /// written, after [`Config::fallback_actions`]. Default `txn` `error`
    /// (HAProxy reads `var(txn.<var-prefix>.error)`). `None` is fail-open:
    /// only the fallback actions are sent, and HAProxy sees a normal verdict.
    pub error_var: Option<ErrorVar>,
    /// Actions sent, before the error variable, when a verdict could not be
    /// delivered: for instance the variables a fail-open application wants.
    /// Default none.
    pub fallback_actions: Vec<Action>,
    /// Engine connections served at once by [`crate::Server::serve`]. A
    /// connection beyond it waits after its HAPROXY-HELLO (at most
    /// [`Config::over_limit_wait`]) for another to end; if none does, it
    /// gets AGENT-DISCONNECT 13 (resource allocation error) and is closed.
    /// It never grows past the limit (at most 64 connections wait; more are
    /// closed at once). `spop-check` health checks are answered anyway.
    /// Default 4096.
    pub max_connections: usize,
    /// How long a connection beyond [`Config::max_connections`] waits for a
    /// slot before AGENT-DISCONNECT 13. HAProxy 2.6 opens a new connection as
    /// soon as one is refused while streams are queued, so refusing at once
    /// makes it loop (thousands of connections per second); waiting paces
    /// it. Keep it below spoe.conf's `timeout hello` so that HAProxy reads
    /// the status. Default 1 s.
    pub over_limit_wait: Duration,
    /// How long a connection may stay without any frame from the engine and
    /// no handler running, after its handshake. It is then closed with
    /// AGENT-DISCONNECT 2 (timeout). The engine is the one expected to close
    /// idle connections (`timeout idle` in spoe.conf, about 3.6 s in HAProxy
    /// 3.1+), so the default, 5 minutes, is longer than any sensible
    /// `timeout idle`: it only reclaims connections a peer forgot.
    pub idle_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_frame_size: spop::HAPROXY_DEFAULT_FRAME_SIZE,
            max_in_flight: 64,
            handler_timeout: Duration::from_secs(1),
            hello_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            drain_grace: Duration::from_secs(5),
            reassembly_limit: 1 << 20,
            fragmentation: Fragmentation::Auto,
            error_var: Some(ErrorVar::default()),
            fallback_actions: Vec::new(),
            max_connections: 4096,
            over_limit_wait: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(300),
        }
    }
}

/// A setting is out of its range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `max_frame_size` below 256.
    #[error("max_frame_size {0} is below the protocol minimum of 256")]
    FrameSizeTooSmall(u32),
    /// `max_in_flight` of 0.
    #[error("max_in_flight must be at least 1")]
    NoInFlight,
    /// A zero duration.
    #[error("{0} must be greater than zero")]
    ZeroDuration(&'static str),
    /// `max_connections` of 0.
    #[error("max_connections must be at least 1")]
    NoConnections,
    /// An error variable name that is empty or longer than 64 bytes.
    #[error(
        "error variable name {0:?}: expected 1 to {MAX_ERROR_VAR_NAME} bytes (HAProxy 2.6 cannot set longer names)"
    )]
    BadErrorVarName(String),
}

impl Config {
    /// What the protocol's state machine needs of these settings.
    pub(crate) fn agent_config(&self) -> AgentConfig {
        let mut c = AgentConfig::default();
        c.max_frame_size = self.max_frame_size;
        c.max_in_flight = self.max_in_flight;
        c.reassembly_limit = self.reassembly_limit;
        c.fragmentation = self.fragmentation;
        c.hello_timeout = self.hello_timeout;
        c.idle_timeout = self.idle_timeout;
        // Handlers are bounded by their budget; the margin covers the writes.
        c.disconnect_grace = self.handler_timeout.saturating_add(self.write_timeout);
        c
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_frame_size < MIN_FRAME_SIZE {
            return Err(ConfigError::FrameSizeTooSmall(self.max_frame_size));
        }
        if self.max_in_flight == 0 {
            return Err(ConfigError::NoInFlight);
        }
        if self.max_connections == 0 {
            return Err(ConfigError::NoConnections);
        }
        if let Some(var) = &self.error_var
            && (var.name.is_empty() || var.name.len() > MAX_ERROR_VAR_NAME)
        {
            return Err(ConfigError::BadErrorVarName(
                String::from_utf8_lossy(&var.name).into_owned(),
            ));
        }
        for (name, d) in [
            ("handler_timeout", self.handler_timeout),
            ("hello_timeout", self.hello_timeout),
            ("write_timeout", self.write_timeout),
            ("idle_timeout", self.idle_timeout),
        ] {
            if d.is_zero() {
                return Err(ConfigError::ZeroDuration(name));
            }
        }
        Ok(())
    }
}
