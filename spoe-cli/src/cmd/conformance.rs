//! `spoe conformance`: play HAProxy's engine against an agent and judge it,
//! case by case (the cases live in the `spoe-conformance` crate).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;
use spoe::Addr;
use spoe_conformance::diagnose::{ProbeError, probe};
use spoe_conformance::{Group, Haproxy, Outcome, Report, Settings, cases};

use crate::error_var::{ErrorVarName, describe_code};

#[derive(Debug, Args)]
pub(crate) struct ConformanceArgs {
    /// The agent: HOST:PORT (a host name is resolved) or unix@PATH.
    #[arg(long, value_parser = crate::addr::agent, required_unless_present = "list")]
    agent: Option<Addr>,
    /// Print the report as one JSON object (with --list: the cases).
    #[arg(long)]
    json: bool,
    /// Run one group only: handshake, data, pipelining, limits, teardown,
    /// versions, timing.
    #[arg(long, value_name = "GROUP")]
    only: Option<Group>,
    /// The HAProxy to play: 2.6 (2.6 to 3.0: async offered, fragments when
    /// announced) or 3.x (3.1+: FIN on every frame, resets after the last ACK).
    #[arg(long, default_value = "2.6")]
    haproxy: Haproxy,
    /// Each case's deadline: a stuck agent fails the case, never the run.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    timeout: Duration,
    /// The time an ACK or AGENT-HELLO may take (HAProxy's `timeout processing`).
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    budget: Duration,
    /// The message name the NOTIFY frames carry (give your agent's, to
    /// exercise its handler).
    #[arg(long, default_value = "conformance")]
    message: String,
    /// The variable the agent sets in an ACK when its handler could not
    /// decide (`spoa`'s error variable): ACKs that set it are reported in a
    /// warning. NAME or SCOPE.NAME.
    #[arg(long, default_value = "txn.error", value_name = "VAR")]
    error_var: ErrorVarName,
    /// Print the table of every case (id, group, required, SPOE.txt section,
    /// what it checks) and exit.
    #[arg(long)]
    list: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    spoe::duration::parse_duration(s).map_err(|e| e.to_string())
}

/// Exit 0 only when every required case passes (warnings and skips allowed).
pub(crate) fn run(args: ConformanceArgs) -> Result<ExitCode> {
    if args.list {
        list(&args);
        return Ok(ExitCode::SUCCESS);
    }
    let agent = args
        .agent
        .as_ref()
        .context("--agent is required (or --list)")?;
    let mut settings = Settings::new(agent.clone(), args.haproxy);
    settings.case_timeout = args.timeout;
    settings.ack_budget = args.budget;
    settings.message = args.message.clone();
    settings.error_var = Some(args.error_var.pair());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let report = runtime.block_on(async {
        // Nothing to judge when nothing speaks SPOP there: say why once.
        match probe(&settings.target, settings.case_timeout).await {
            Err(
                e @ (ProbeError::Connect { .. }
                | ProbeError::NotSpop { .. }
                | ProbeError::Closed { .. }
                | ProbeError::Silent { .. }),
            ) => Err(e),
            _ => Ok(spoe_conformance::run(&settings, args.only).await),
        }
    })?;
    if args.json {
        print_json(&report);
        if let Some(w) = handler_warning(&report) {
            eprintln!("spoe conformance: warning: {w}");
        }
    } else {
        print_text(&report);
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn list(args: &ConformanceArgs) {
    let selected = cases()
        .iter()
        .filter(|c| args.only.is_none_or(|g| c.group == g));
    if args.json {
        let rows: Vec<_> = selected
            .map(|c| {
                json!({
                    "id": c.id,
                    "group": c.group,
                    "required": c.required,
                    "section": c.section,
                    "checks": c.checks,
                })
            })
            .collect();
        println!("{}", serde_json::Value::from(rows));
        return;
    }
    println!("| id | group | required | SPOE.txt | checks |");
    println!("|---|---|---|---|---|");
    for c in selected {
        println!(
            "| `{}` | {} | {} | {} | {} |",
            c.id,
            c.group,
            if c.required {
                "required"
            } else {
                "optional (warn)"
            },
            c.section,
            c.checks
        );
    }
}

fn print_json(report: &Report) {
    let out = json!({
        "agent": report.agent,
        "haproxy": report.haproxy.to_string(),
        "passed": report.passed(),
        "summary": {
            "pass": report.count(Outcome::Pass),
            "fail": report.count(Outcome::Fail),
            "warn": report.count(Outcome::Warn),
            "skip": report.count(Outcome::Skip),
        },
        "cases": report.cases,
        "verdicts": report.verdicts,
    });
    println!("{out}");
}

fn print_text(report: &Report) {
    println!(
        "spoe conformance: agent {} played as HAProxy {}",
        report.agent, report.haproxy
    );
    for c in &report.cases {
        println!(
            "{:<4}  {:<32} SPOE.txt {:<14} {}: {}",
            c.outcome.to_string().to_uppercase(),
            c.id,
            c.section,
            c.checks,
            c.seen
        );
    }
    println!(
        "{} cases: {} pass, {} fail, {} warn, {} skip - {}",
        report.cases.len(),
        report.count(Outcome::Pass),
        report.count(Outcome::Fail),
        report.count(Outcome::Warn),
        report.count(Outcome::Skip),
        if report.passed() {
            "every required case passes"
        } else {
            "required cases failed"
        }
    );
    if let Some(w) = handler_warning(report) {
        println!("WARN  {w}");
    }
}

/// The protocol may pass while the handler fails: ACKs that set the error
/// variable are verdicts the agent could not deliver.
fn handler_warning(report: &Report) -> Option<String> {
    let v = &report.verdicts;
    let failed = v.failed();
    if failed == 0 {
        return None;
    }
    let codes: Vec<String> = v
        .with_error_var
        .iter()
        .map(|(code, n)| format!("{n} x {}", describe_code(code)))
        .collect();
    Some(format!(
        "the handler answered {failed} of {} ACKs with the error variable {}: {}. Its verdicts \
         were not delivered: the cases judge the protocol, not the handler; check the handler \
         with `spoe notify` and the arguments HAProxy sends",
        v.acks,
        v.error_var,
        codes.join(", ")
    ))
}
