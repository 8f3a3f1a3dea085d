//! Runtime settings of an agent.

use std::time::Duration;

use spop::{Action, MIN_FRAME_SIZE};

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
    /// carries [`Config::fallback_actions`]. Set it below the engine's
    /// `timeout processing`, so that the fallback arrives in time. Default 1 s.
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
    /// Announce the `fragmentation` capability, which lets HAProxy 2.4-3.0
    /// send payloads larger than max-frame-size as fragments. Fragments are
    /// reassembled whether or not this is announced. Default true.
    pub fragmentation: bool,
    /// The actions sent when a handler fails, panics or overruns its budget,
    /// or when its answer does not fit in a frame: for instance a variable
    /// that tells HAProxy the agent could not decide. Default none (an empty
    /// ACK).
    pub fallback_actions: Vec<Action>,
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
            fragmentation: true,
            fallback_actions: Vec::new(),
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
}

impl Config {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_frame_size < MIN_FRAME_SIZE {
            return Err(ConfigError::FrameSizeTooSmall(self.max_frame_size));
        }
        if self.max_in_flight == 0 {
            return Err(ConfigError::NoInFlight);
        }
        for (name, d) in [
            ("handler_timeout", self.handler_timeout),
            ("hello_timeout", self.hello_timeout),
            ("write_timeout", self.write_timeout),
        ] {
            if d.is_zero() {
                return Err(ConfigError::ZeroDuration(name));
            }
        }
        Ok(())
    }
}
