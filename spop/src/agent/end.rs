//! How an agent connection ends, and when the agent announces `fragmentation`.

use crate::hello::Disconnect;
use crate::status::Status;

/// How an agent connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionEnd {
    /// A `spop-check` health check was answered.
    HealthCheck,
    /// The engine sent HAPROXY-DISCONNECT; in-flight ACKs were sent, then
    /// AGENT-DISCONNECT 0.
    EngineDisconnect(Disconnect),
    /// The agent is stopping: in-flight ACKs were sent, then AGENT-DISCONNECT 0.
    Shutdown,
    /// The engine closed the connection with nothing in flight.
    Closed,
    /// The engine reset the connection with nothing in flight: HAProxy 3.1+
    /// does so right after the last ACK. A normal end.
    Reset,
    /// Nothing came from the engine for the idle timeout and no NOTIFY was
    /// being answered: AGENT-DISCONNECT 2 was sent.
    IdleTimeout,
    /// The engine closed the connection while `in_flight` NOTIFY frames were
    /// unanswered.
    ClosedInFlight {
        /// NOTIFY frames that will never be answered.
        in_flight: usize,
    },
    /// The agent refused something and sent AGENT-DISCONNECT with `status`.
    Refused {
        /// The status sent.
        status: Status,
        /// Why.
        reason: String,
    },
    /// Reading or writing failed.
    Io(String),
}

impl ConnectionEnd {
    /// The metric label of this end (`spoa_connection_ends_total{end=...}`).
    pub fn label(&self) -> &'static str {
        match self {
            Self::HealthCheck => "health_check",
            Self::EngineDisconnect(_) => "engine_disconnect",
            Self::Shutdown => "shutdown",
            Self::Closed => "closed",
            Self::Reset => "reset",
            Self::IdleTimeout => "idle_timeout",
            Self::ClosedInFlight { .. } => "closed_in_flight",
            Self::Refused { .. } => "refused",
            Self::Io(_) => "io",
        }
    }

    /// The status of the AGENT-DISCONNECT this end sends, if it sends one.
    pub fn farewell(&self) -> Option<Status> {
        match self {
            Self::EngineDisconnect(_) | Self::Shutdown => Some(Status::NORMAL),
            Self::IdleTimeout => Some(Status::TIMEOUT),
            Self::Refused { status, .. } => Some(*status),
            Self::HealthCheck
            | Self::Closed
            | Self::Reset
            | Self::ClosedInFlight { .. }
            | Self::Io(_) => None,
        }
    }
}

/// When the agent announces the `fragmentation` capability ("I can receive
/// fragmented frames") in its AGENT-HELLO.
///
/// HAProxy 2.4 to 3.0 fragment a NOTIFY larger than their own
/// `max-frame-size` (spoe.conf) by default (`option send-frag-payload`),
/// whether or not the agent announced `fragmentation`, and if it did not,
/// they close the connection with HAPROXY-DISCONNECT 10 and open a new one at
/// once, in a loop, until the stream's `timeout processing` (measured with
/// 2.6: 4175 connections in 2 s, then error 1). They never announce
/// `fragmentation` themselves, but they announce `async` (unless `no option
/// async`), which 3.1+ removed. HAProxy 3.1+ never sends fragments and
/// announces `pipelining` only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Fragmentation {
    /// To an engine that announced `fragmentation` or `async`: HAProxy 2.4
    /// to 3.0 (not 3.1+). With 2.4 to 3.0 and `no option async`, use
    /// [`Fragmentation::Always`].
    #[default]
    Auto,
    /// To every engine.
    Always,
    /// Never: HAProxy 2.4 to 3.0 then fail (and reconnect, see above) on
    /// every NOTIFY larger than their `max-frame-size`.
    Never,
}
