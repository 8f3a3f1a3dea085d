//! `spoe notify`: send one NOTIFY to an agent with the engine, print the ACK.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::{Value, json};
use spoe::{Addr, Engine, EngineSettings};
use spop::Message;

use crate::json;
use crate::typed_arg::TypedArg;

#[derive(Debug, Args)]
pub(crate) struct NotifyArgs {
    /// The agent: HOST:PORT (a host name is resolved) or unix@PATH.
    #[arg(long, value_parser = crate::addr::agent)]
    agent: Addr,
    /// The message's budget, as `timeout processing` (HAProxy units). It
    /// also bounds the connection and the hello.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    timeout: Duration,
    /// The message's name.
    message: String,
    /// Arguments, NAME=TYPE:VALUE with TYPE one of null bool int uint ipv4
    /// ipv6 str bin (`ip=ipv4:10.0.0.1`, `x=bin:cafe`).
    args: Vec<TypedArg>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    spoe::duration::parse_duration(s).map_err(|e| e.to_string())
}

pub(crate) fn run(args: NotifyArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let (mut out, ok) = runtime.block_on(notify(&args));
    let cause = if ok {
        None
    } else {
        runtime.block_on(cause(&args.agent, args.timeout))
    };
    if let Some(c) = &cause {
        out["cause"] = Value::from(c.as_str());
    }
    println!("{out}");
    if !ok {
        bail!(
            "agent {} answered no ACK: status {}{}",
            args.agent,
            out["error"].as_str().unwrap_or("255"),
            cause.map(|c| format!(": {c}")).unwrap_or_default()
        );
    }
    Ok(())
}

/// Why `agent` cannot be used, found by one handshake of our own: the OS
/// error of a refused connection or a missing socket, a peer that speaks
/// another protocol, a refused HELLO. `None` when the handshake works (the
/// failure was then about the message, such as a timeout).
pub(crate) async fn cause(agent: &Addr, wait: Duration) -> Option<String> {
    spoe_conformance::diagnose::probe(agent, wait)
        .await
        .err()
        .map(|e| e.to_string())
}

async fn notify(args: &NotifyArgs) -> (Value, bool) {
    let mut settings = EngineSettings::new("notify", vec![args.agent.clone()], args.timeout);
    settings.timeout_hello = args.timeout;
    settings.timeout_connect = args.timeout;
    // One attempt: a refused handshake is reported, not retried.
    settings.max_connections_per_server = 1;
    let engine = Engine::start(settings);
    let mut message = Message::new(args.message.clone());
    message.args = args.args.iter().map(|a| a.0.clone()).collect();
    let outcome = engine.process(&[message]).await;
    let elapsed_ms = outcome.timings.total.as_secs_f64() * 1000.0;
    // Say goodbye properly (HAPROXY-DISCONNECT), within a short bound.
    engine.drain();
    let _ = tokio::time::timeout(Duration::from_secs(1), engine.drained()).await;
    let ok = outcome.status.is_ok();
    let mut out = json!({
        "status": outcome.status.0,
        "elapsed_ms": (elapsed_ms * 1000.0).round() / 1000.0,
        "actions": outcome.actions.iter().map(json::action).collect::<Vec<_>>(),
    });
    if !ok {
        out["error"] = Value::from(outcome.status.to_string());
    }
    (out, ok)
}
