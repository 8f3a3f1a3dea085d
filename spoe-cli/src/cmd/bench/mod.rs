//! `spoe bench`: drive an agent over SPOP with the engine's own connection
//! code, and report throughput and latency percentiles.
//!
//! A message fails when the engine gets no ACK (timeout, connection
//! failed...) and when the ACK sets the agent's error variable (its handler
//! could not decide); both count against `--max-failures`. The run ends at
//! `-d` whatever is in flight: messages still waiting then are reported as
//! unfinished, not counted.

mod report;

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use spoe::{Addr, Engine, EngineSettings, Outcome};
use spop::Message;
use tokio::sync::mpsc;
use tokio::time::Instant;

use self::report::{Failure, Run, Sample, Totals};
use crate::error_var::ErrorVarName;
use crate::pacing::{Pacer, Schedule};
use crate::typed_arg::TypedArg;

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// The agent: HOST:PORT (a host name is resolved) or unix@PATH.
    #[arg(long, value_parser = crate::addr::agent)]
    agent: Addr,
    /// Connections to open.
    #[arg(long, short = 'c', default_value_t = 1)]
    connections: usize,
    /// Messages in flight on each connection (1 disables pipelining).
    #[arg(long, short = 'k', default_value_t = 1)]
    pipeline: usize,
    /// How long to run (HAProxy units: 10s, 1m). Default 10s.
    #[arg(long, short = 'd', value_parser = parse_duration, conflicts_with = "messages")]
    duration: Option<Duration>,
    /// Stop after this many messages instead.
    #[arg(long, short = 'n')]
    messages: Option<u64>,
    /// Send at this constant rate (messages/s); latency is measured from
    /// each message's intended send time, so stalls are not hidden. The
    /// sender's own lateness is reported apart.
    #[arg(long)]
    rate: Option<u64>,
    /// Exit with status 1 when more than this percentage of the messages
    /// failed (timeouts, refused connections...). 0 fails on any failure.
    #[arg(long, default_value_t = 1.0, value_name = "PERCENT")]
    max_failures: f64,
    /// Each message's budget (`timeout processing`).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    timeout: Duration,
    /// The variable the agent sets in an ACK when its handler could not
    /// decide (`spoa`: 10 handler error, 11 panic, 12 overrun, 13 ACK too
    /// big): such ACKs are failures, counted by value. NAME or SCOPE.NAME.
    #[arg(long, default_value = "txn.error", value_name = "VAR")]
    error_var: ErrorVarName,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
    /// The message's name.
    message: String,
    /// Arguments, NAME=TYPE:VALUE (types: null bool int uint ipv4 ipv6 str bin).
    args: Vec<TypedArg>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    spoe::duration::parse_duration(s).map_err(|e| e.to_string())
}

/// The engine's reconnection back-off, for a closed-loop worker whose
/// messages fail: `min * 2^(failures-1)`, capped at `max`.
fn backoff(min: Duration, max: Duration, failures: u32) -> Duration {
    min.saturating_mul(1u32 << failures.saturating_sub(1).min(20))
        .min(max)
}

pub(crate) fn run(args: BenchArgs) -> Result<()> {
    if args.connections == 0 || args.pipeline == 0 {
        bail!("--connections and --pipeline must be at least 1");
    }
    if args.rate == Some(0) {
        bail!("--rate must be at least 1 message per second");
    }
    if !(0.0..=100.0).contains(&args.max_failures) {
        bail!(
            "--max-failures {}: expected a percentage in 0..=100",
            args.max_failures
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(bench(args))
}

async fn bench(args: BenchArgs) -> Result<()> {
    let mut settings = EngineSettings::new("bench", vec![args.agent.clone()], args.timeout);
    let engine_backoff = (settings.backoff_min, settings.backoff_max);
    settings.max_connections_per_server = args.connections;
    settings.max_waiting_frames = args.pipeline;
    settings.pipelining = args.pipeline > 1;
    settings.timeout_idle = Duration::from_secs(3600);
    let slots = args.connections * args.pipeline;
    settings.max_queue = settings.max_queue.max(slots * 4);
    let engine = Arc::new(Engine::start(settings));
    let mut message = Message::new(args.message.clone());
    message.args = args.args.iter().map(|a| a.0.clone()).collect();
    let messages = Arc::new(vec![message]);

    let duration = match (args.duration, args.messages) {
        (Some(d), _) => Some(d),
        (None, Some(_)) => None,
        (None, None) => Some(Duration::from_secs(10)),
    };
    let started = Instant::now();
    let stop_at = duration.map(|d| started + d);
    let budget = args.messages.map(AtomicU64::new).map(Arc::new);
    let done = Arc::new(AtomicBool::new(false));
    let (tx, mut rx) = mpsc::unbounded_channel::<Sample>();
    let take = {
        let budget = budget.clone();
        let done = done.clone();
        move || {
            if done.load(Ordering::Relaxed) || stop_at.is_some_and(|at| Instant::now() >= at) {
                return false;
            }
            match &budget {
                Some(b) => b
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok(),
                None => true,
            }
        }
    };

    let (backoff_min, backoff_max) = (engine_backoff.0, engine_backoff.1);
    let judge = Arc::new(args.error_var.clone());
    // Messages cut when the run ended, before their answer.
    let unfinished = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    let mut pacer = None;
    match args.rate {
        None => {
            for _ in 0..slots {
                let (engine, messages, tx, take, judge, unfinished) = (
                    engine.clone(),
                    messages.clone(),
                    tx.clone(),
                    take.clone(),
                    judge.clone(),
                    unfinished.clone(),
                );
                workers.spawn(async move {
                    let mut failures = 0u32;
                    while take() {
                        let t0 = Instant::now();
                        let Some(out) = until(stop_at, engine.process(&messages)).await else {
                            unfinished.fetch_add(1, Ordering::Relaxed);
                            break;
                        };
                        let failure = failure(&out, &judge);
                        let _ = tx.send(Sample {
                            failure,
                            latency_us: micros(t0.elapsed()),
                            lateness_us: None,
                        });
                        // A failing connection is not hammered: wait as the
                        // engine waits before reconnecting. (An agent that
                        // answers with its error variable is reachable.)
                        if matches!(failure, Some(Failure::Engine(_))) {
                            failures = failures.saturating_add(1);
                            let wake = Instant::now() + backoff(backoff_min, backoff_max, failures);
                            tokio::time::sleep_until(stop_at.map_or(wake, |at| wake.min(at))).await;
                        } else {
                            failures = 0;
                        }
                    }
                });
            }
        }
        Some(rate) => {
            // The schedule runs on a thread of its own that sleeps with the
            // OS's fine-grained timer (tokio's timer wakes up to 1 ms late);
            // the time from each intended send to the actual start of the
            // message is measured and reported as the sender's lateness.
            let (due_tx, mut due_rx) = mpsc::unbounded_channel::<Instant>();
            let schedule = Schedule::new(started, rate);
            pacer = Some(
                Pacer::start(schedule, due_tx, take.clone())
                    .context("starting the pacer thread")?,
            );
            let (engine, messages, tx, judge, unfinished) = (
                engine.clone(),
                messages.clone(),
                tx.clone(),
                judge.clone(),
                unfinished.clone(),
            );
            workers.spawn(async move {
                let mut in_flight = tokio::task::JoinSet::new();
                while let Some(intended) = due_rx.recv().await {
                    let (engine, messages, tx, judge) =
                        (engine.clone(), messages.clone(), tx.clone(), judge.clone());
                    in_flight.spawn(async move {
                        let lateness = micros(intended.elapsed());
                        let out = engine.process(&messages).await;
                        let _ = tx.send(Sample {
                            failure: failure(&out, &judge),
                            latency_us: micros(intended.elapsed()),
                            lateness_us: Some(lateness),
                        });
                    });
                    while in_flight.try_join_next().is_some() {}
                }
                let all = async { while in_flight.join_next().await.is_some() {} };
                if until(stop_at, all).await.is_none() {
                    unfinished.fetch_add(in_flight.len() as u64, Ordering::Relaxed);
                    in_flight.abort_all();
                }
            });
        }
    }
    drop(tx);

    let mut totals = Totals::new()?;
    let progress = std::io::stderr().is_terminal() && !args.json;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tokio::select! {
            sample = rx.recv() => match sample {
                Some(s) => totals.record(s),
                None => break,
            },
            _ = tick.tick(), if progress => {
                let secs = started.elapsed().as_secs_f64();
                eprint!(
                    "\r{secs:6.1}s  {:>10} msgs  {:>10.0}/s  p99 {:>6}us  failed {:<8}",
                    totals.ok,
                    totals.ok as f64 / secs,
                    totals.histogram.value_at_quantile(0.99),
                    totals.failed
                );
                let _ = std::io::stderr().flush();
            }
        }
    }
    done.store(true, Ordering::Relaxed);
    while workers.join_next().await.is_some() {}
    if let Some(p) = pacer {
        p.join();
    }
    totals.unfinished = unfinished.load(Ordering::Relaxed);
    let elapsed = started.elapsed();
    if progress {
        eprintln!();
    }
    let stats = engine.stats();
    let attempts = stats.connections_opened();
    let established = stats.handshakes();
    let handshake_ms = if established == 0 {
        0.0
    } else {
        stats.handshake_time().as_secs_f64() * 1000.0 / established as f64
    };
    engine.drain();
    let _ = tokio::time::timeout(Duration::from_secs(2), engine.drained()).await;

    // Failures without an ACK, or a run where nothing was answered, say why
    // once, with the real cause (the OS error, a peer that does not speak
    // SPOP) instead of only the engine's status code; within a short wait,
    // so that the diagnosis does not outlast the run much.
    let nothing_answered = totals.ok + totals.failed == 0 && totals.unfinished > 0;
    let cause = if totals.engine_failures() || nothing_answered {
        crate::cmd::notify::cause(&args.agent, args.timeout.min(DIAGNOSIS_WAIT)).await
    } else {
        None
    };

    let failed_pct = totals.failed_pct();
    let run = Run {
        agent: args.agent.to_string(),
        message: &args.message,
        args: args.args.len(),
        mode: match args.rate {
            Some(r) => format!("constant rate {r}/s"),
            None => format!(
                "{} connection(s) x {} in flight",
                args.connections, args.pipeline
            ),
        },
        rate_mode: args.rate.is_some(),
        secs: elapsed.as_secs_f64(),
        established,
        attempts,
        handshake_ms,
        cause,
        error_var: &args.error_var,
    };
    if args.json {
        report::print_json(&totals, &run);
    } else {
        report::print_text(&totals, &run);
    }
    let cause = run.cause.map(|c| format!(": {c}")).unwrap_or_default();
    if nothing_answered {
        bail!(
            "no message was answered within the run ({} still waiting at its end){cause}",
            totals.unfinished
        );
    }
    if totals.failed > 0 && failed_pct > args.max_failures {
        bail!(
            "{} of {} messages failed ({failed_pct:.2} %), above --max-failures {} %: {}{cause}",
            totals.failed,
            totals.ok + totals.failed,
            args.max_failures,
            totals.failures_text(&args.error_var),
        );
    }
    Ok(())
}

/// The longest wait of the diagnosis that follows failed messages.
const DIAGNOSIS_WAIT: Duration = Duration::from_secs(2);

/// `fut`'s output, or `None` when `stop_at` comes first.
async fn until<T>(stop_at: Option<Instant>, fut: impl Future<Output = T>) -> Option<T> {
    match stop_at {
        Some(at) => tokio::time::timeout_at(at, fut).await.ok(),
        None => Some(fut.await),
    }
}

/// Whether a message failed: no ACK, or an ACK with the error variable.
fn failure(out: &Outcome, judge: &ErrorVarName) -> Option<Failure> {
    if !out.status.is_ok() {
        return Some(Failure::Engine(out.status));
    }
    judge.code_in(&out.actions).map(Failure::Agent)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
