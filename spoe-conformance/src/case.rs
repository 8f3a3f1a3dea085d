//! What a case is: its group, its verdict and outcome, and the case itself.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;

use serde::Serialize;

use crate::peer::PeerError;
use crate::settings::Settings;

/// The groups of cases, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    /// HELLO exchange: versions, max-frame-size, capabilities, health checks.
    Handshake,
    /// Every data type HAProxy sends in a NOTIFY.
    Data,
    /// Several NOTIFY in flight on one connection.
    Pipelining,
    /// Frames the agent must refuse, and the size of what it sends.
    Limits,
    /// DISCONNECT exchanges and resets.
    Teardown,
    /// Behaviour that differs between HAProxy <= 3.0 and 3.1+.
    Versions,
    /// ACK latency and reading while handlers run.
    Timing,
}

impl Group {
    /// Every group, in running order.
    pub const ALL: [Self; 7] = [
        Self::Handshake,
        Self::Data,
        Self::Pipelining,
        Self::Limits,
        Self::Teardown,
        Self::Versions,
        Self::Timing,
    ];

    /// The group's name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Handshake => "handshake",
            Self::Data => "data",
            Self::Pipelining => "pipelining",
            Self::Limits => "limits",
            Self::Teardown => "teardown",
            Self::Versions => "versions",
            Self::Timing => "timing",
        }
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Group {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|g| g.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|g| g.name()).collect();
                format!("group {s:?}: expected one of {}", names.join(", "))
            })
    }
}

/// A case's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The agent did what HAProxy needs.
    Pass,
    /// A required case failed: HAProxy would refuse, stall or misread this agent.
    Fail,
    /// A deviation HAProxy survives, or an optional case that failed.
    Warn,
    /// Not applicable (to this HAProxy version, or to what the agent announced).
    Skip,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Warn => "warn",
            Self::Skip => "skip",
        })
    }
}

/// What a case concluded and what it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The outcome before required/optional is applied.
    pub outcome: Outcome,
    /// What the agent did, in a few words.
    pub seen: String,
}

impl Verdict {
    pub(crate) fn pass(seen: impl Into<String>) -> Self {
        Self {
            outcome: Outcome::Pass,
            seen: seen.into(),
        }
    }
    pub(crate) fn fail(seen: impl Into<String>) -> Self {
        Self {
            outcome: Outcome::Fail,
            seen: seen.into(),
        }
    }
    pub(crate) fn warn(seen: impl Into<String>) -> Self {
        Self {
            outcome: Outcome::Warn,
            seen: seen.into(),
        }
    }
    pub(crate) fn skip(seen: impl Into<String>) -> Self {
        Self {
            outcome: Outcome::Skip,
            seen: seen.into(),
        }
    }
}

/// The future a case returns.
pub(crate) type CaseFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Verdict, PeerError>> + Send + 'a>>;

/// One conformance case.
#[derive(Clone, Copy)]
pub struct Case {
    /// A stable identifier, `group-what`.
    pub id: &'static str,
    /// Its group.
    pub group: Group,
    /// What it checks, in one line.
    pub checks: &'static str,
    /// The `doc/SPOE.txt` section it comes from (or `HAProxy` for behaviour
    /// that only the implementation defines).
    pub section: &'static str,
    /// A required case's failure fails the run; an optional one's is a warning.
    pub required: bool,
    pub(crate) run: for<'a> fn(&'a Settings) -> CaseFuture<'a>,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Case")
            .field("id", &self.id)
            .field("group", &self.group)
            .field("required", &self.required)
            .finish_non_exhaustive()
    }
}
