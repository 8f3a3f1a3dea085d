//! What the example servers (`src/bin/`) share: their command line, the decision they apply
//! to the agents' variables, what their handlers answer, and their signals (SIGHUP reloads
//! `spoe.conf`, SIGTERM and SIGINT stop gracefully).
//!
//! ```text
//! axum_server LISTEN AGENT SPOE_CONF [--engine NAME] [--deny-if VAR]... [--deny-unless VAR]...
//!             [--fail-closed] [--body MAX] [--request-id HEADER]
//!   LISTEN            127.0.0.1:8080 (port 0: the kernel picks; the first line printed is
//!                     "listening on ADDR")
//!   AGENT             HOST:PORT or unix@PATH of the SPOA
//!   SPOE_CONF         the spoe.conf, unchanged from HAProxy; --engine picks its [scope]
//!   --deny-if VAR     answer 403 when VAR is true (http-request deny if { var(VAR) -m bool })
//!   --deny-unless VAR answer 429 unless VAR is true (... deny deny_status 429 unless ...)
//!   --fail-closed     answer 503 when SPOE fails (default: the request goes on)
//!   --body MAX        buffer up to MAX bytes of request bodies for req.body, send a longer
//!                     body's first MAX bytes (default: bodies are not sent)
//!   --request-id H    unique-id is the value of request header H
//! ```
//!
//! Handlers answer `hello` with one `x-var-NAME: VALUE` header per variable they see, and
//! `x-spoe-failure: STATUS` when SPOE failed, so that a client (the tests) sees what reached
//! them. `GET /group/NAME` sends `spoe-group` NAME from the handler first.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};
use spoe::Addr;
use spoe::expr::Sample;
use spoe_http::{BodyPolicy, LayerError, SpoeLayer, SpoeLayerBuilder, SpoeVars, Vars};

/// The command line.
#[derive(Debug, Clone)]
pub struct Args {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The agent.
    pub agent: Addr,
    /// `spoe.conf`.
    pub spoe_conf: PathBuf,
    /// Its `[scope]`.
    pub engine: Option<String>,
    /// 403 when one of these is true.
    pub deny_if: Vec<String>,
    /// 429 unless each of these is true.
    pub deny_unless: Vec<String>,
    /// 503 on SPOE failure.
    pub fail_closed: bool,
    /// Request bodies buffered up to this many bytes.
    pub body: Option<usize>,
    /// The request header unique-id reads.
    pub request_id: Option<String>,
}

/// Parses the command line (see the crate docs).
///
/// # Errors
///
/// What is wrong with it, as a message.
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut args = args.into_iter();
    let mut next = |what: &str| args.next().ok_or_else(|| format!("missing {what}"));
    let listen = next("LISTEN")?;
    let listen = listen
        .parse()
        .map_err(|e| format!("LISTEN {listen:?}: {e}"))?;
    let agent = next("AGENT")?.parse().map_err(|e| format!("AGENT: {e}"))?;
    let spoe_conf = PathBuf::from(next("SPOE_CONF")?);
    let mut parsed = Args {
        listen,
        agent,
        spoe_conf,
        engine: None,
        deny_if: Vec::new(),
        deny_unless: Vec::new(),
        fail_closed: false,
        body: None,
        request_id: None,
    };
    while let Ok(flag) = next("an option") {
        match flag.as_str() {
            "--engine" => parsed.engine = Some(next("--engine NAME")?),
            "--deny-if" => parsed.deny_if.push(next("--deny-if VAR")?),
            "--deny-unless" => parsed.deny_unless.push(next("--deny-unless VAR")?),
            "--fail-closed" => parsed.fail_closed = true,
            "--body" => {
                let max = next("--body MAX")?;
                parsed.body = Some(max.parse().map_err(|e| format!("--body {max:?}: {e}"))?);
            }
            "--request-id" => parsed.request_id = Some(next("--request-id HEADER")?),
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(parsed)
}

/// The command line of this process, or exit 2 with the error.
pub fn args_or_exit() -> Args {
    parse_args(std::env::args().skip(1)).unwrap_or_else(|e| {
        eprintln!("{e}\nusage: LISTEN AGENT SPOE_CONF [--engine NAME] [--deny-if VAR]... [--deny-unless VAR]... [--fail-closed] [--body MAX] [--request-id HEADER]");
        std::process::exit(2)
    })
}

/// The layer the command line describes, but for its decision hook. Must be called inside a
/// tokio runtime when built.
pub fn builder(args: &Args) -> SpoeLayerBuilder {
    let mut builder = SpoeLayer::builder()
        .config_file(&args.spoe_conf, args.engine.as_deref())
        .agent(args.agent.clone())
        .var_names(args.deny_if.iter().chain(&args.deny_unless).cloned());
    builder = if args.fail_closed {
        builder.fail_closed(StatusCode::SERVICE_UNAVAILABLE)
    } else {
        builder.fail_open()
    };
    builder = builder.body(args.body.map_or(BodyPolicy::NotSent, BodyPolicy::partial));
    if let Some(header) = args.request_id.clone() {
        builder = builder.unique_id(move |head| {
            let v = head.headers.get(header.as_str())?;
            v.to_str().ok().map(str::to_owned)
        });
    }
    builder
}

/// What `--deny-if` and `--deny-unless` decide: the status to answer, if any.
pub fn refusal(args: &Args, vars: &Vars) -> Option<StatusCode> {
    if args
        .deny_if
        .iter()
        .any(|n| vars.get::<bool>(n) == Some(true))
    {
        return Some(StatusCode::FORBIDDEN);
    }
    if args
        .deny_unless
        .iter()
        .any(|n| vars.get::<bool>(n) != Some(true))
    {
        return Some(StatusCode::TOO_MANY_REQUESTS);
    }
    None
}

/// The layer the command line describes, its decision hook answering [`refusal`]'s status.
///
/// # Errors
///
/// The layer's: an invalid `spoe.conf`, an event a layer cannot run...
pub fn layer(args: &Args) -> Result<SpoeLayer, LayerError> {
    let decided = args.clone();
    builder(args)
        .decide(move |v| {
            let status = refusal(&decided, v.vars)?;
            let mut r = http::Response::new(Bytes::from_static(b"denied\n"));
            *r.status_mut() = status;
            Some(r)
        })
        .build()
}

fn text(s: &Sample) -> String {
    match s {
        Sample::Bool(b) => u8::from(*b).to_string(),
        Sample::Int(i) => i.to_string(),
        Sample::Ipv4(a) => a.to_string(),
        Sample::Ipv6(a) => a.to_string(),
        Sample::Str(b) | Sample::Bin(b) => String::from_utf8_lossy(b).into_owned(),
    }
}

/// The headers a handler answers with: one `x-var-NAME` per variable, and `x-spoe-failure`.
pub fn var_headers(vars: &SpoeVars) -> http::HeaderMap {
    let snapshot: Vars = vars.snapshot();
    let mut headers = http::HeaderMap::new();
    let mut own: Vec<_> = snapshot.own().iter().collect();
    own.sort_by(|a, b| a.0.cmp(b.0));
    for (name, value) in own {
        if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(format!("x-var-{name}")),
            HeaderValue::try_from(text(value)),
        ) {
            headers.insert(n, v);
        }
    }
    if let Some(status) = vars.failure() {
        headers.insert("x-spoe-failure", HeaderValue::from(status.0));
    }
    headers
}

/// Reloads `spoe.conf` at each SIGHUP, printing `generation N` (or the errors) on stdout;
/// runs until the process ends (run it beside the server).
pub async fn reload_on_sighup(layer: SpoeLayer) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        return std::future::pending().await;
    };
    while hup.recv().await.is_some() {
        match layer.reload() {
            Ok(n) => println!("generation {n}"),
            Err(e) => println!("reload refused: {e}"),
        }
    }
}

/// Resolves at the first SIGTERM or SIGINT.
pub async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// How long a stopping server lets the agents' connections drain.
pub const DRAIN_GRACE: Duration = Duration::from_secs(5);

/// Logs to stderr through `tracing`, filtered by `RUST_LOG` (default `info`: one SPOE line
/// per processed event, as HAProxy logs them).
pub fn init_logs() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
}
