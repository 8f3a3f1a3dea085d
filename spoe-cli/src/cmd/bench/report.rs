//! What `spoe bench` counted, and how it says it: text or one JSON object.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use serde_json::json;
use spoe::ProcessStatus;

use crate::error_var::{ErrorVarName, describe_code};

/// Why a message did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure {
    /// The engine's status: no ACK (timeout, connection failed...).
    Engine(ProcessStatus),
    /// An ACK that set the error variable to this value: the agent could not
    /// deliver its verdict (`spoa`: 10 handler error, 11 panic...).
    Agent(i64),
}

/// What one message did.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sample {
    pub(super) failure: Option<Failure>,
    /// From the intended send time (closed loop: from the send) to the end.
    pub(super) latency_us: u64,
    /// Rate mode: how late the sender started the message after its intended
    /// time (the bench's own delay, not the agent's).
    pub(super) lateness_us: Option<u64>,
}

pub(super) struct Totals {
    /// Answered messages only: a failure has no latency to report.
    pub(super) histogram: Histogram<u64>,
    /// The sender's lateness, rate mode.
    lateness: Histogram<u64>,
    /// Rate mode: the answer time from the actual send (latency minus lateness).
    service: Histogram<u64>,
    pub(super) ok: u64,
    pub(super) failed: u64,
    /// Engine failures, by status.
    errors: BTreeMap<u32, u64>,
    /// ACKs with the error variable, by its value.
    agent_errors: BTreeMap<i64, u64>,
    /// Messages still waiting for their answer when the run ended: neither
    /// answered nor failed.
    pub(super) unfinished: u64,
}

impl Totals {
    pub(super) fn new() -> Result<Self> {
        let h = || Histogram::new_with_bounds(1, 3_600_000_000, 3).context("creating a histogram");
        Ok(Self {
            histogram: h()?,
            lateness: h()?,
            service: h()?,
            ok: 0,
            failed: 0,
            errors: BTreeMap::new(),
            agent_errors: BTreeMap::new(),
            unfinished: 0,
        })
    }

    pub(super) fn record(&mut self, s: Sample) {
        if let Some(late) = s.lateness_us {
            let _ = self.lateness.record(late.max(1));
        }
        match s.failure {
            None => {
                self.ok += 1;
                let _ = self.histogram.record(s.latency_us.max(1));
                if let Some(late) = s.lateness_us {
                    let _ = self
                        .service
                        .record(s.latency_us.saturating_sub(late).max(1));
                }
            }
            Some(Failure::Engine(status)) => {
                self.failed += 1;
                *self.errors.entry(status.0).or_default() += 1;
            }
            Some(Failure::Agent(code)) => {
                self.failed += 1;
                *self.agent_errors.entry(code).or_default() += 1;
            }
        }
    }

    /// Whether a message failed without an ACK (the connection or the
    /// engine's deadline): those have a cause worth diagnosing.
    pub(super) fn engine_failures(&self) -> bool {
        !self.errors.is_empty()
    }

    pub(super) fn failed_pct(&self) -> f64 {
        let total = self.ok + self.failed;
        if total == 0 {
            0.0
        } else {
            self.failed as f64 * 100.0 / total as f64
        }
    }

    /// The failures in words: `3 x 257 (...), 61003 x error variable txn.error = 10 (handler_error)`.
    pub(super) fn failures_text(&self, var: &ErrorVarName) -> String {
        let engine = self
            .errors
            .iter()
            .map(|(s, n)| format!("{n} x {}", ProcessStatus(*s)));
        let agent = self.agent_errors.iter().map(|(code, n)| {
            format!(
                "{n} x error variable {var} = {}",
                describe_code(&code.to_string())
            )
        });
        engine.chain(agent).collect::<Vec<_>>().join(", ")
    }
}

/// What the summary says besides the counts.
pub(super) struct Run<'a> {
    pub(super) agent: String,
    pub(super) message: &'a str,
    pub(super) args: usize,
    pub(super) mode: String,
    pub(super) rate_mode: bool,
    pub(super) secs: f64,
    /// Connections whose handshake completed, and connection attempts.
    pub(super) established: u64,
    pub(super) attempts: u64,
    pub(super) handshake_ms: f64,
    pub(super) cause: Option<String>,
    pub(super) error_var: &'a ErrorVarName,
}

/// Percentiles of `h`, or JSON null when it is empty.
fn percentiles(h: &Histogram<u64>) -> serde_json::Value {
    if h.is_empty() {
        return serde_json::Value::Null;
    }
    json!({
        "p50": h.value_at_quantile(0.5),
        "p90": h.value_at_quantile(0.9),
        "p99": h.value_at_quantile(0.99),
        "p999": h.value_at_quantile(0.999),
        "max": h.max(),
    })
}

fn percentiles_text(h: &Histogram<u64>) -> String {
    if h.is_empty() {
        return "none (no message was answered)".to_owned();
    }
    format!(
        "p50 {}us  p90 {}us  p99 {}us  p99.9 {}us  max {}us",
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.9),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max()
    )
}

fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
}

pub(super) fn print_json(t: &Totals, run: &Run<'_>) {
    let errors: serde_json::Map<String, serde_json::Value> = t
        .errors
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let agent_errors: serde_json::Map<String, serde_json::Value> = t
        .agent_errors
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let mut out = json!({
        "messages": t.ok,
        "msgs_per_sec": round(t.ok as f64 / run.secs, 1),
        "latency_us": percentiles(&t.histogram),
        "failed": t.failed,
        "failed_pct": round(t.failed_pct(), 2),
        "errors": errors,
        "error_var": run.error_var.to_string(),
        "agent_errors": agent_errors,
        "unfinished": t.unfinished,
        "connections": run.established,
        "connection_attempts": run.attempts,
        "handshake_ms": round(run.handshake_ms, 3),
        "duration_s": round(run.secs, 3),
        "mode": if run.rate_mode { "rate" } else { "closed-loop" },
    });
    if run.rate_mode {
        out["service_us"] = percentiles(&t.service);
        out["sender_lateness_us"] = percentiles(&t.lateness);
    }
    if let Some(c) = &run.cause {
        out["cause"] = json!(c);
    }
    println!("{out}");
}

pub(super) fn print_text(t: &Totals, run: &Run<'_>) {
    let rate = t.ok as f64 / run.secs;
    println!(
        "spoe bench: {} message {:?} ({} args), {}, {:.2}s",
        run.agent, run.message, run.args, run.mode, run.secs
    );
    println!("  messages     {:>12}   {rate:.1}/s answered", t.ok);
    if run.rate_mode {
        println!(
            "  latency      {} (from the intended send time)",
            percentiles_text(&t.histogram)
        );
        println!(
            "  service      {} (from the actual send)",
            percentiles_text(&t.service)
        );
        println!("  sender late  {}", percentiles_text(&t.lateness));
    } else {
        println!("  latency      {}", percentiles_text(&t.histogram));
    }
    if t.failed == 0 {
        println!("  errors       none");
    } else {
        println!("  errors       {}", t.failures_text(run.error_var));
        println!(
            "  failed       {} of {} messages ({:.2} %)",
            t.failed,
            t.ok + t.failed,
            t.failed_pct()
        );
    }
    if t.unfinished > 0 {
        println!(
            "  unfinished   {} message(s) still waiting when the run ended (not counted)",
            t.unfinished
        );
    }
    if let Some(c) = &run.cause {
        println!("  cause        {c}");
    }
    if run.established == run.attempts {
        println!(
            "  connections  {} established, handshake {:.3} ms average",
            run.established, run.handshake_ms
        );
    } else {
        println!(
            "  connections  {} established of {} attempts, handshake {:.3} ms average",
            run.established, run.attempts, run.handshake_ms
        );
    }
}
