//! `spoe agent`: serve an example handler to HAProxy.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use spoa::testing::Echo;
use spoa::{
    Actions, Addr, Config, ErrorVar, Fragmentation, Handler, HandlerError, Listener, Request,
    Server,
};
use spop::VarScope;
use tokio_util::sync::CancellationToken;

use crate::demo::{Delayed, IpReputation};
use crate::signals;

/// The example handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Example {
    /// `SET-VAR txn.<arg name>` = the argument's value, for every argument.
    Echo,
    /// check-client-ip(ip) -> SET-VAR sess.ip_score (0..=100).
    IpReputation,
    /// Every NOTIFY fails (the handler returns an error): shows the error
    /// variable HAProxy receives (code 10).
    Fail,
}

/// When to announce the `fragmentation` capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FragmentationArg {
    /// To engines that announce `fragmentation` or `async`: HAProxy 2.4-3.0,
    /// which fragment large NOTIFY frames by default; not 3.1+.
    Auto,
    /// To every engine (HAProxy 2.4-3.0 with `no option async`).
    Always,
    /// Never (HAProxy 2.4-3.0 then fail on NOTIFY frames larger than their
    /// max-frame-size).
    Never,
}

#[derive(Debug, Args)]
pub(crate) struct AgentArgs {
    /// Address to listen on: HOST:PORT (a host name is resolved; port 0
    /// picks a free port, printed on stdout) or unix@PATH (unix:PATH too).
    #[arg(long, value_parser = crate::addr::listen)]
    listen: Addr,
    /// The handler to serve.
    #[arg(long, value_enum)]
    example: Example,
    /// Hold every ACK this long (HAProxy units: 300ms, 2s), to exercise an
    /// engine's `timeout processing`.
    #[arg(long, value_parser = parse_duration)]
    delay: Option<Duration>,
    /// Serve Prometheus metrics at http://ADDR/metrics.
    #[arg(long)]
    metrics: Option<SocketAddr>,
    /// NOTIFY frames handled at once per connection; reading pauses beyond.
    #[arg(long, default_value_t = 64)]
    max_in_flight: usize,
    /// A handler's budget before the error variable (code 12) is sent (default 1s, plus
    /// --delay when given).
    #[arg(long, value_parser = parse_duration)]
    handler_timeout: Option<Duration>,
    /// On SIGTERM/SIGINT, how long in-flight handlers may finish.
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    drain_grace: Duration,
    /// Largest frame accepted and announced (at least 256).
    #[arg(long, default_value_t = spop::HAPROXY_DEFAULT_FRAME_SIZE)]
    max_frame_size: u32,
    /// Engine connections served at once; a HELLO beyond gets
    /// AGENT-DISCONNECT 13 (resource allocation error).
    #[arg(long, default_value_t = Config::default().max_connections)]
    max_connections: usize,
    /// How long a connection beyond --max-connections waits for a free slot
    /// before AGENT-DISCONNECT 13 (keep it below spoe.conf's `timeout hello`).
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    over_limit_wait: Duration,
    /// Close a connection with no frame and no handler running for this long
    /// (AGENT-DISCONNECT 2). Keep it above spoe.conf's `timeout idle`.
    #[arg(long, value_parser = parse_duration, default_value = "5m")]
    idle_timeout: Duration,
    /// Listen backlog (capped by the kernel's net.core.somaxconn).
    #[arg(long, default_value_t = Listener::DEFAULT_BACKLOG)]
    backlog: u32,
    /// When to announce the `fragmentation` capability.
    #[arg(long, value_enum, default_value = "auto")]
    fragmentation: FragmentationArg,
    /// The txn variable that receives the error code of an undelivered
    /// verdict (10 handler error, 11 panic, 12 budget overrun, 13 ACK too
    /// big); HAProxy reads it as txn.<var-prefix>.NAME.
    #[arg(long, default_value = "error", conflicts_with = "fail_open")]
    error_var: String,
    /// Send no error variable when a verdict cannot be delivered: HAProxy
    /// sees an empty, successful verdict (fail-open).
    #[arg(long)]
    fail_open: bool,
    /// Threads serving connections (default 1: one thread accepts and
    /// serves everything), each with a runtime of its own: a connection stays
    /// on one thread, and no message wakes another thread. The examples'
    /// handlers never wait and take well under a microsecond, so one thread
    /// carries hundreds of thousands of messages per second; a second one
    /// only sleeps and wakes apart (bench/README.md, "Session 8: the agent
    /// per message").
    #[arg(long, default_value = "1")]
    threads: std::num::NonZeroUsize,
    /// Serve SPOP over TLS with this certificate chain (PEM; its key too, unless --tls-key):
    /// what HAProxy's `server ... ssl verify required ca-file CA` on the agents' backend
    /// reaches.
    #[arg(long)]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM); default: --tls-cert's file.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require each engine to present a client certificate signed by this CA (PEM; mutual
    /// TLS, HAProxy's `crt FILE` on the server line).
    #[arg(long, requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    spoe::duration::parse_duration(s).map_err(|e| e.to_string())
}

pub(crate) fn run(args: AgentArgs) -> Result<()> {
    // Accepting, signals and metrics on this thread; the connections on
    // worker threads with a runtime each (spoa::Workers), unless one thread
    // serves everything.
    let threads = usize::from(args.threads);
    let workers = if threads > 1 {
        Some(Arc::new(
            spoa::Workers::spawn(threads).context("starting the worker threads")?,
        ))
    } else {
        None
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async move {
        let delay = args.delay.unwrap_or_default();
        match args.example {
            Example::Echo => serve(Delayed::new(Echo, delay), &args, workers).await,
            Example::IpReputation => serve(Delayed::new(IpReputation, delay), &args, workers).await,
            Example::Fail => serve(Delayed::new(fail, delay), &args, workers).await,
        }
    })
}

async fn fail(request: Request) -> Result<Actions, HandlerError> {
    Err(format!(
        "example handler `fail` refuses stream {} frame {}",
        request.stream_id, request.frame_id
    )
    .into())
}

async fn serve<H: Handler>(
    handler: H,
    args: &AgentArgs,
    workers: Option<Arc<spoa::Workers>>,
) -> Result<()> {
    let mut config = Config::default();
    config.max_connections = args.max_connections;
    config.over_limit_wait = args.over_limit_wait;
    config.idle_timeout = args.idle_timeout;
    config.fragmentation = match args.fragmentation {
        FragmentationArg::Auto => Fragmentation::Auto,
        FragmentationArg::Always => Fragmentation::Always,
        FragmentationArg::Never => Fragmentation::Never,
    };
    config.error_var =
        (!args.fail_open).then(|| ErrorVar::new(VarScope::Transaction, args.error_var.clone()));
    config.max_in_flight = args.max_in_flight;
    config.max_frame_size = args.max_frame_size;
    config.drain_grace = args.drain_grace;
    config.handler_timeout = args
        .handler_timeout
        .unwrap_or_else(|| Duration::from_secs(1).saturating_add(args.delay.unwrap_or_default()));
    let mut server = Server::new(handler, config).context("agent settings")?;
    if let Some(w) = workers {
        server = server.with_workers(w);
    }
    let tls = match &args.tls_cert {
        Some(cert) => Some(
            spoa::tls::ServerTls::from_pem_files(
                cert,
                args.tls_key.as_ref().unwrap_or(cert),
                args.tls_client_ca.as_deref(),
            )
            .context("TLS settings")?,
        ),
        None => None,
    };
    let listener = Listener::bind_with_backlog(&args.listen, args.backlog)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    let shutdown = CancellationToken::new();
    let signals = signals::spawn(shutdown.clone()).context("installing signal handlers")?;

    let metrics = match args.metrics {
        Some(addr) => Some(
            server
                .serve_metrics(addr)
                .await
                .with_context(|| format!("listening for metrics on {addr}"))?,
        ),
        None => None,
    };
    tracing::info!(listen = %bound, example = ?args.example, tls = tls.is_some(), "agent listening");
    println!("spoe agent: listening on {bound}");
    match (&tls, &args.tls_client_ca) {
        (None, _) => {}
        (Some(_), None) => println!("spoe agent: serving TLS"),
        (Some(_), Some(_)) => println!("spoe agent: serving TLS, client certificates required"),
    }
    if let Some(m) = &metrics {
        tracing::info!(local = %m.local_addr(), "serving metrics at /metrics");
        println!("spoe agent: metrics on http://{}/metrics", m.local_addr());
    }
    match tls {
        Some(tls) => server.serve_tls(listener, tls, shutdown.clone()).await,
        None => server.serve(listener, shutdown.clone()).await,
    }
    .context("serving")?;
    shutdown.cancel();
    if let Some(m) = metrics {
        m.shutdown().await;
    }
    signals.abort();
    tracing::info!("agent stopped");
    Ok(())
}
