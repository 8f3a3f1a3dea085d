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
use spoe::{AgentAddr, Engine, EngineSettings, ProcessStatus};
use spop::Message;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::typed_arg::TypedArg;

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// The agent: HOST:PORT or unix@PATH.
    #[arg(long)]
    agent: AgentAddr,
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
    /// each message's intended send time, so stalls are not hidden.
    #[arg(long)]
    rate: Option<u64>,
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

/// What one message did: its latency in microseconds and its status.
type Sample = (u64, ProcessStatus);

struct Totals {
    histogram: Histogram<u64>,
    ok: u64,
    errors: BTreeMap<u32, u64>,
}

impl Totals {
    fn new() -> Result<Self> {
        Ok(Self {
            histogram: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .context("creating the histogram")?,
            ok: 0,
            errors: BTreeMap::new(),
        })
    }

    fn record(&mut self, (micros, status): Sample) {
        let _ = self.histogram.record(micros.max(1));
        if status.is_ok() {
            self.ok += 1;
        } else {
            *self.errors.entry(status.0).or_default() += 1;
        }
    }
}

pub(crate) fn run(args: BenchArgs) -> Result<()> {
    if args.connections == 0 || args.pipeline == 0 {
        bail!("--connections and --pipeline must be at least 1");
    }
    if args.rate == Some(0) {
        bail!("--rate must be at least 1 message per second");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(bench(args))
}

async fn bench(args: BenchArgs) -> Result<()> {
    let mut settings = EngineSettings::new("bench", vec![args.agent.clone()], args.timeout);
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

    let mut workers = tokio::task::JoinSet::new();
    match args.rate {
        None => {
            for _ in 0..slots {
                let (engine, messages, tx, take) =
                    (engine.clone(), messages.clone(), tx.clone(), take.clone());
                workers.spawn(async move {
                    while take() {
                        let t0 = Instant::now();
                        let out = engine.process(&messages).await;
                        let _ = tx.send((micros(t0.elapsed()), out.status));
                    }
                });
            }
        }
        Some(rate) => {
            let (engine, messages, tx, take) =
                (engine.clone(), messages.clone(), tx.clone(), take.clone());
            workers.spawn(async move {
                let interval = Duration::from_secs_f64(1.0 / rate as f64);
                let mut in_flight = tokio::task::JoinSet::new();
                let mut i: u32 = 0;
                loop {
                    let intended = started + interval * i;
                    tokio::time::sleep_until(intended).await;
                    if !take() {
                        break;
                    }
                    let (engine, messages, tx) = (engine.clone(), messages.clone(), tx.clone());
                    in_flight.spawn(async move {
                        let out = engine.process(&messages).await;
                        let _ = tx.send((micros(intended.elapsed()), out.status));
                    });
                    while in_flight.try_join_next().is_some() {}
                    i = i.saturating_add(1);
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
                    "\r{secs:6.1}s  {:>10} msgs  {:>10.0}/s  p99 {:>6}us  errors {:<8}",
                    totals.ok,
                    totals.ok as f64 / secs,
                    totals.histogram.value_at_quantile(0.99),
                    totals.errors.values().sum::<u64>()
                );
                let _ = std::io::stderr().flush();
            }
        }
    }
    done.store(true, Ordering::Relaxed);
    while workers.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    if progress {
        eprintln!();
    }
    let stats = engine.stats();
    let opened = stats.connections_opened.load(Ordering::Relaxed);
    let handshakes = stats.handshakes.load(Ordering::Relaxed);
    let handshake_ms = if handshakes == 0 {
        0.0
    } else {
        stats.handshake_micros.load(Ordering::Relaxed) as f64 / handshakes as f64 / 1000.0
    };
    engine.drain();
    let _ = tokio::time::timeout(Duration::from_secs(2), engine.drained()).await;

    let h = &totals.histogram;
    let secs = elapsed.as_secs_f64();
    let rate = totals.ok as f64 / secs;
    if args.json {
        let errors: serde_json::Map<String, serde_json::Value> = totals
            .errors
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let out = json!({
            "messages": totals.ok,
            "msgs_per_sec": (rate * 10.0).round() / 10.0,
            "latency_us": {
                "p50": h.value_at_quantile(0.5),
                "p90": h.value_at_quantile(0.9),
                "p99": h.value_at_quantile(0.99),
                "p999": h.value_at_quantile(0.999),
                "max": h.max(),
            },
            "errors": errors,
            "connections": opened,
            "handshake_ms": (handshake_ms * 1000.0).round() / 1000.0,
            "duration_s": (secs * 1000.0).round() / 1000.0,
            "mode": if args.rate.is_some() { "rate" } else { "closed-loop" },
        });
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
        println!("  messages     {:>12}   {rate:.1}/s", totals.ok);
        println!(
            "  latency      p50 {}us  p90 {}us  p99 {}us  p99.9 {}us  max {}us",
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.9),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.max()
        );
        if totals.errors.is_empty() {
            println!("  errors       none");
        } else {
            let list: Vec<String> = totals
                .errors
                .iter()
                .map(|(s, n)| format!("{n} x {}", ProcessStatus(*s)))
                .collect();
            println!("  errors       {}", list.join(", "));
        }
        println!("  connections  {opened} opened, handshake {handshake_ms:.3} ms average");
    }
    Ok(())
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
