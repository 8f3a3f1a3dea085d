//! `spoe bench`: drive an agent over SPOP with the engine's own connection
//! code, and report throughput and latency percentiles.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use hdrhistogram::Histogram;
use serde_json::json;
use spoe::{Addr, Engine, EngineSettings, ProcessStatus};
use spop::Message;
use tokio::sync::mpsc;
use tokio::time::Instant;

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

/// What one message did.
#[derive(Debug, Clone, Copy)]
struct Sample {
    status: ProcessStatus,
    /// From the intended send time (closed loop: from the send) to the end.
    latency_us: u64,
    /// Rate mode: how late the sender started the message after its intended
    /// time (the bench's own delay, not the agent's).
    lateness_us: Option<u64>,
}

struct Totals {
    /// Answered messages only: a failure has no latency to report.
    histogram: Histogram<u64>,
    /// The sender's lateness, rate mode.
    lateness: Histogram<u64>,
    /// Rate mode: the answer time from the actual send (latency minus lateness).
    service: Histogram<u64>,
    ok: u64,
    failed: u64,
    errors: BTreeMap<u32, u64>,
}

impl Totals {
    fn new() -> Result<Self> {
        let h = || Histogram::new_with_bounds(1, 3_600_000_000, 3).context("creating a histogram");
        Ok(Self {
            histogram: h()?,
            lateness: h()?,
            service: h()?,
            ok: 0,
            failed: 0,
            errors: BTreeMap::new(),
        })
    }

    fn record(&mut self, s: Sample) {
        if let Some(late) = s.lateness_us {
            let _ = self.lateness.record(late.max(1));
        }
        if s.status.is_ok() {
            self.ok += 1;
            let _ = self.histogram.record(s.latency_us.max(1));
            if let Some(late) = s.lateness_us {
                let _ = self
                    .service
                    .record(s.latency_us.saturating_sub(late).max(1));
            }
        } else {
            self.failed += 1;
            *self.errors.entry(s.status.0).or_default() += 1;
        }
    }

    fn failed_pct(&self) -> f64 {
        let total = self.ok + self.failed;
        if total == 0 {
            0.0
        } else {
            self.failed as f64 * 100.0 / total as f64
        }
    }
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
    let mut workers = tokio::task::JoinSet::new();
    let mut pacer = None;
    match args.rate {
        None => {
            for _ in 0..slots {
                let (engine, messages, tx, take) =
                    (engine.clone(), messages.clone(), tx.clone(), take.clone());
                workers.spawn(async move {
                    let mut failures = 0u32;
                    while take() {
                        let t0 = Instant::now();
                        let out = engine.process(&messages).await;
                        let _ = tx.send(Sample {
                            status: out.status,
                            latency_us: micros(t0.elapsed()),
                            lateness_us: None,
                        });
                        // A failing agent is not hammered: wait as the
                        // engine waits before reconnecting.
                        if out.status.is_ok() {
                            failures = 0;
                        } else {
                            failures = failures.saturating_add(1);
                            let wake = Instant::now() + backoff(backoff_min, backoff_max, failures);
                            tokio::time::sleep_until(stop_at.map_or(wake, |at| wake.min(at))).await;
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
            let (engine, messages, tx) = (engine.clone(), messages.clone(), tx.clone());
            workers.spawn(async move {
                let mut in_flight = tokio::task::JoinSet::new();
                while let Some(intended) = due_rx.recv().await {
                    let (engine, messages, tx) = (engine.clone(), messages.clone(), tx.clone());
                    in_flight.spawn(async move {
                        let lateness = micros(intended.elapsed());
                        let out = engine.process(&messages).await;
                        let _ = tx.send(Sample {
                            status: out.status,
                            latency_us: micros(intended.elapsed()),
                            lateness_us: Some(lateness),
                        });
                    });
                    while in_flight.try_join_next().is_some() {}
                }
                while in_flight.join_next().await.is_some() {}
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
    let elapsed = started.elapsed();
    if progress {
        eprintln!();
    }
    let stats = engine.stats();
    let opened = stats.connections_opened();
    let handshakes = stats.handshakes();
    let handshake_ms = if handshakes == 0 {
        0.0
    } else {
        stats.handshake_time().as_secs_f64() * 1000.0 / handshakes as f64
    };
    engine.drain();
    let _ = tokio::time::timeout(Duration::from_secs(2), engine.drained()).await;

    // Failures say why once, with the real cause (the OS error, a peer that
    // does not speak SPOP) instead of only the engine's status code.
    let cause = if totals.failed > 0 {
        crate::cmd::notify::cause(&args.agent, args.timeout).await
    } else {
        None
    };

    let h = &totals.histogram;
    let secs = elapsed.as_secs_f64();
    let rate = totals.ok as f64 / secs;
    let failed_pct = totals.failed_pct();
    if args.json {
        let errors: serde_json::Map<String, serde_json::Value> = totals
            .errors
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let mut out = json!({
            "messages": totals.ok,
            "msgs_per_sec": (rate * 10.0).round() / 10.0,
            "latency_us": percentiles(h),
            "failed": totals.failed,
            "failed_pct": (failed_pct * 100.0).round() / 100.0,
            "errors": errors,
            "connections": opened,
            "handshake_ms": (handshake_ms * 1000.0).round() / 1000.0,
            "duration_s": (secs * 1000.0).round() / 1000.0,
            "mode": if args.rate.is_some() { "rate" } else { "closed-loop" },
        });
        if args.rate.is_some() {
            out["service_us"] = percentiles(&totals.service);
            out["sender_lateness_us"] = percentiles(&totals.lateness);
        }
        if let Some(c) = &cause {
            out["cause"] = json!(c);
        }
        println!("{out}");
    } else {
        let mode = match args.rate {
            Some(r) => format!("constant rate {r}/s"),
            None => format!(
                "{} connection(s) x {} in flight",
                args.connections, args.pipeline
            ),
        };
        println!(
            "spoe bench: {} message {:?} ({} args), {mode}, {secs:.2}s",
            args.agent,
            args.message,
            args.args.len()
        );
        println!("  messages     {:>12}   {rate:.1}/s answered", totals.ok);
        if args.rate.is_some() {
            println!(
                "  latency      {} (from the intended send time)",
                percentiles_text(h)
            );
            println!(
                "  service      {} (from the actual send)",
                percentiles_text(&totals.service)
            );
            println!("  sender late  {}", percentiles_text(&totals.lateness));
        } else {
            println!("  latency      {}", percentiles_text(h));
        }
        if totals.errors.is_empty() {
            println!("  errors       none");
        } else {
            let list: Vec<String> = totals
                .errors
                .iter()
                .map(|(s, n)| format!("{n} x {}", ProcessStatus(*s)))
                .collect();
            println!("  errors       {}", list.join(", "));
            println!(
                "  failed       {} of {} messages ({failed_pct:.2} %)",
                totals.failed,
                totals.ok + totals.failed
            );
        }
        if let Some(c) = &cause {
            println!("  cause        {c}");
        }
        println!("  connections  {opened} opened, handshake {handshake_ms:.3} ms average");
    }
    if totals.failed > 0 && failed_pct > args.max_failures {
        bail!(
            "{} of {} messages failed ({failed_pct:.2} %), above --max-failures {} %{}",
            totals.failed,
            totals.ok + totals.failed,
            args.max_failures,
            cause.map(|c| format!(": {c}")).unwrap_or_default()
        );
    }
    Ok(())
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
