//! What processing one event produced, in HAProxy's terms.

use std::fmt;
use std::time::Duration;

use spop::Action;

/// The status HAProxy records for a processed event: the value of the
/// `set-on-error` variable and `st=` in the SPOE log line.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcessStatus(pub u32);

impl ProcessStatus {
    /// 0: success.
    pub const OK: Self = Self(0);
    /// 1: `timeout processing` expired.
    pub const TIMEOUT: Self = Self(1);
    /// 2: resource allocation error (for instance the queue is full).
    pub const RESOURCE: Self = Self(2);
    /// 3: the messages do not fit in a frame.
    pub const TOO_BIG: Self = Self(3);
    /// 4: a fragmented frame was aborted.
    pub const FRAGMENT_ABORTED: Self = Self(4);
    /// 5: processing was interrupted (the engine stopped).
    pub const INTERRUPTED: Self = Self(5);
    /// 255: unknown error.
    pub const UNKNOWN: Self = Self(255);

    /// 256 + N: the agent connection failed with SPOP status N (257 for an
    /// I/O error such as the agent closing the connection; 256 for a normal
    /// close while the message waited).
    pub fn connection(status: spop::Status) -> Self {
        Self(256u32.saturating_add(status.0))
    }

    /// True for success.
    pub fn is_ok(self) -> bool {
        self == Self::OK
    }
}

impl fmt::Debug for ProcessStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProcessStatus({self})")
    }
}

impl fmt::Display for ProcessStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self.0 {
            0 => "success".to_owned(),
            1 => "processing timeout".to_owned(),
            2 => "resource allocation error".to_owned(),
            3 => "message too big for a frame".to_owned(),
            4 => "fragmented frame aborted".to_owned(),
            5 => "processing interrupted".to_owned(),
            255 => "unknown error".to_owned(),
            n if n >= 256 => {
                let status = spop::Status(n - 256);
                format!(
                    "agent connection failed: {}",
                    status.reason().unwrap_or("unknown status")
                )
            }
            _ => "unknown error".to_owned(),
        };
        write!(f, "{} ({text})", self.0)
    }
}

/// Where the time of one event went (HAProxy's `qT/wT/pT`). A phase that
/// was not reached is `None` (HAProxy logs -1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    /// From queueing to the NOTIFY's write on a connection.
    pub queue: Option<Duration>,
    /// From the write to the ACK.
    pub wait: Option<Duration>,
    /// From queueing to the outcome.
    pub total: Duration,
}

/// The result of processing one event's messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Success or the reason of failure.
    pub status: ProcessStatus,
    /// The agent's actions (empty on failure).
    pub actions: Vec<Action>,
    /// Time spent in each phase.
    pub timings: Timings,
}

impl Outcome {
    /// Success without a NOTIFY: nothing to send, or skipped (`maxerrrate`).
    pub(crate) fn nothing_sent() -> Self {
        Self {
            status: ProcessStatus::OK,
            actions: Vec::new(),
            timings: Timings::default(),
        }
    }

    pub(crate) fn failed(status: ProcessStatus, timings: Timings) -> Self {
        Self {
            status,
            actions: Vec::new(),
            timings,
        }
    }
}
