//! Running the cases and what a run reports.

use serde::Serialize;
use spop::engine::Haproxy;

use crate::case::{Case, Group, Outcome, Verdict};
use crate::settings::Settings;
use crate::verdicts::{self, Verdicts};

/// Serializes a value as its text (`2.6`, `3.x`).
fn as_text<S: serde::Serializer>(v: &Haproxy, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// Every case, in running order.
pub fn cases() -> &'static [Case] {
    crate::cases::ALL
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
    #[serde(serialize_with = "as_text")]
    pub haproxy: Haproxy,
    /// One result per case run, in order.
    pub cases: Vec<CaseResult>,
    /// The ACKs the agent sent, and those that set the error variable.
    pub verdicts: Verdicts,
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
    let tally = verdicts::start(settings.error_var.clone());
    let mut results = Vec::new();
    for case in cases().iter().filter(|c| only.is_none_or(|g| c.group == g)) {
        results.push(verdicts::within(&tally, run_case(case, settings)).await);
    }
    Report {
        agent: settings.target.to_string(),
        haproxy: settings.haproxy,
        cases: results,
        verdicts: verdicts::finish(&tally),
    }
}
