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
//! use spoe_conformance::{HaproxyVersion, Settings, Target};
//! let settings = Settings::new(Target::Tcp("127.0.0.1:12345".parse().unwrap()), HaproxyVersion::V2_6);
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

mod cases;
pub mod diagnose;
mod peer;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

pub use peer::{Event, Peer, PeerError, Target};

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

/// Which HAProxy the cases play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum HaproxyVersion {
    /// HAProxy 2.6 to 3.0 (the applet engine): offers `pipelining,async`,
    /// may send fragmented NOTIFYs to an agent that announced fragmentation.
    #[serde(rename = "2.6")]
    V2_6,
    /// HAProxy 3.1 and later (`mux_spop`): offers `pipelining`, FIN on every
    /// frame, no fragments, may close with a TCP reset after the last ACK.
    #[serde(rename = "3.x")]
    V3x,
}

impl fmt::Display for HaproxyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V2_6 => "2.6",
            Self::V3x => "3.x",
        })
    }
}

impl FromStr for HaproxyVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "2.6" | "2" | "2.x" | "3.0" => Ok(Self::V2_6),
            "3.x" | "3" | "3.1" | "3.2" | "3.3" | "3.4" => Ok(Self::V3x),
            _ => Err(format!(
                "HAProxy version {s:?}: expected 2.6 (2.6 to 3.0) or 3.x (3.1 and later)"
            )),
        }
    }
}

/// How a run plays the engine.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The agent.
    pub target: Target,
    /// Which HAProxy to play.
    pub haproxy: HaproxyVersion,
    /// Each case's deadline, all of its connections included.
    pub case_timeout: Duration,
    /// The time an ACK may take in the timing cases (HAProxy's `timeout
    /// processing` is typically a few hundred milliseconds).
    pub ack_budget: Duration,
    /// The message name sent in NOTIFY frames.
    pub message: String,
    /// The variable with which the agent says that it could not deliver a
    /// verdict (`spoa`'s error variable, `txn` `error` by default): ACKs that
    /// set it are counted in [`Report::verdicts`]. The protocol is right,
    /// but the handler failed.
    pub error_var: Option<(spop::VarScope, String)>,
}

impl Settings {
    /// Defaults: 3 s per case, 500 ms ACK budget, message `conformance`,
    /// error variable `txn.error`.
    pub fn new(target: Target, haproxy: HaproxyVersion) -> Self {
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
    fn pass(seen: impl Into<String>) -> Self {
        Self {
            outcome: Outcome::Pass,
            seen: seen.into(),
        }
    }
    fn fail(seen: impl Into<String>) -> Self {
        Self {
            outcome: Outcome::Fail,
            seen: seen.into(),
        }
    }
    fn warn(seen: impl Into<String>) -> Self {
        Self {
            outcome: Outcome::Warn,
            seen: seen.into(),
        }
    }
    fn skip(seen: impl Into<String>) -> Self {
        Self {
            outcome: Outcome::Skip,
            seen: seen.into(),
        }
    }
}

/// The future a case returns.
type CaseFuture<'a> = Pin<Box<dyn Future<Output = Result<Verdict, PeerError>> + Send + 'a>>;

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
    run: for<'a> fn(&'a Settings) -> CaseFuture<'a>,
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

/// Every case, in running order.
pub fn cases() -> &'static [Case] {
    cases::ALL
}

/// One case's report line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseResult {
    /// The case's id.
    pub id: &'static str,
    /// Its group.
    pub group: Group,
    /// What it checks.
    pub checks: &'static str,
    /// Its `doc/SPOE.txt` section.
    pub section: &'static str,
    /// Whether it is required.
    pub required: bool,
    /// pass, fail, warn or skip (an optional case never fails).
    pub outcome: Outcome,
    /// What the agent did.
    pub seen: String,
    /// How long the case took, in milliseconds.
    pub elapsed_ms: u64,
}

/// Runs one case under its deadline.
pub async fn run_case(case: &Case, settings: &Settings) -> CaseResult {
    let started = tokio::time::Instant::now();
    let verdict = match tokio::time::timeout(settings.case_timeout, (case.run)(settings)).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => Verdict::fail(e.to_string()),
        Err(_) => Verdict::fail(format!(
            "no conclusion within the case's {} ms deadline: the agent neither answered nor closed",
            settings.case_timeout.as_millis()
        )),
    };
    let outcome = match verdict.outcome {
        Outcome::Fail if !case.required => Outcome::Warn,
        o => o,
    };
    CaseResult {
        id: case.id,
        group: case.group,
        checks: case.checks,
        section: case.section,
        required: case.required,
        outcome,
        seen: verdict.seen,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    }
}

/// The results of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The agent.
    pub agent: String,
    /// The HAProxy played.
    pub haproxy: HaproxyVersion,
    /// One result per case run, in order.
    pub cases: Vec<CaseResult>,
    /// The ACKs the agent sent, and those that set the error variable.
    pub verdicts: Verdicts,
}

/// What the agent's ACKs said about its handler: every ACK counted, and
/// those that set [`Settings::error_var`], by the value set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Verdicts {
    /// The variable looked for, `scope.name` (empty when none).
    pub error_var: String,
    /// ACKs received, every case together.
    pub acks: u64,
    /// ACKs that set the error variable, by its value as text (`10` for
    /// `spoa`'s handler error).
    pub with_error_var: std::collections::BTreeMap<String, u64>,
}

impl Verdicts {
    /// ACKs that set the error variable.
    pub fn failed(&self) -> u64 {
        self.with_error_var.values().sum()
    }

    /// Counts `frame` if it is an ACK.
    fn record(&mut self, frame: &spop::Frame, var: Option<&(spop::VarScope, String)>) {
        let spop::Body::Ack(actions) = &frame.body else {
            return;
        };
        self.acks += 1;
        let Some((scope, name)) = var else {
            return;
        };
        let set = actions.iter().rev().find_map(|a| match a {
            spop::Action::SetVar {
                scope: s,
                name: n,
                value,
            } if s == scope && n.as_ref() == name.as_bytes() => Some(value),
            _ => None,
        });
        if let Some(value) = set {
            let text = value
                .as_i64()
                .map_or_else(|| format!("{value:?}"), |v| v.to_string());
            *self.with_error_var.entry(text).or_default() += 1;
        }
    }
}

tokio::task_local! {
    /// The ACK tally of the run in progress: every `Peer` of a case records
    /// the ACKs it reads into it.
    static TALLY: std::sync::Arc<std::sync::Mutex<(Verdicts, Option<(spop::VarScope, String)>)>>;
}

/// Counts `frame` in the tally of the run in progress, if any.
pub(crate) fn tally(frame: &spop::Frame) {
    let _ = TALLY.try_with(|t| {
        let mut t = t.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (verdicts, var) = &mut *t;
        verdicts.record(frame, var.as_ref());
    });
}

impl Report {
    /// True when no required case failed.
    pub fn passed(&self) -> bool {
        !self.cases.iter().any(|c| c.outcome == Outcome::Fail)
    }

    /// How many cases ended with `outcome`.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.cases.iter().filter(|c| c.outcome == outcome).count()
    }
}

/// Runs every case (or one group's), one after the other.
pub async fn run(settings: &Settings, only: Option<Group>) -> Report {
    let verdicts = Verdicts {
        error_var: settings
            .error_var
            .as_ref()
            .map(|(scope, name)| format!("{}.{name}", scope.haproxy_prefix()))
            .unwrap_or_default(),
        ..Verdicts::default()
    };
    let tally = std::sync::Arc::new(std::sync::Mutex::new((
        verdicts,
        settings.error_var.clone(),
    )));
    let mut results = Vec::new();
    for case in cases().iter().filter(|c| only.is_none_or(|g| c.group == g)) {
        results.push(TALLY.scope(tally.clone(), run_case(case, settings)).await);
    }
    let verdicts = tally
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .0
        .clone();
    Report {
        agent: settings.target.to_string(),
        haproxy: settings.haproxy,
        cases: results,
        verdicts,
    }
}
