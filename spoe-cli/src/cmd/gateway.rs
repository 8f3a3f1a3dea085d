//! `spoe gateway`: run the HTTP gateway on a `haproxy.cfg`, or the bundled
//! quickstart.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use spoe::config::ConfigErrors;
use spoe_gateway::config::GatewayConfig;
use spoe_gateway::server::{Loaded, Loader, ReloadError};
use spoe_gateway::{Gateway, Workers};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use crate::{daemon, demo, quickstart, sd_notify};

#[derive(Debug, Args)]
pub(crate) struct GatewayArgs {
    /// The haproxy.cfg to run.
    #[arg(short = 'f', long = "config", required_unless_present = "quickstart")]
    config: Option<PathBuf>,
    /// Run the bundled quickstart: an embedded example agent, a demo backend
    /// and a configuration that ties them together.
    #[arg(long, conflicts_with = "config")]
    quickstart: bool,
    /// Where the quickstart listens (HOST:PORT; a host name is resolved).
    /// A configuration file names its own listeners (`bind`), so this is
    /// refused with -f.
    #[arg(
        long,
        default_value = "127.0.0.1:8080",
        value_parser = crate::addr::tcp,
        requires = "quickstart",
        conflicts_with = "config"
    )]
    listen: SocketAddr,
    /// Print the quickstart's haproxy.cfg and spoe.conf (what it runs, with
    /// the variables it sets at start) and exit.
    #[arg(long, requires = "quickstart")]
    print_config: bool,
    /// Stay in the foreground even if the configuration says `daemon` (HAProxy's
    /// `-db`, which is accepted too). Service managers run it so.
    #[arg(long)]
    foreground: bool,
    /// Set by the command on the process it starts in the background for `daemon`.
    #[arg(long = "daemon-child", hide = true)]
    daemon_child: bool,
}

/// Loads a configuration and the variable names it uses, reporting every
/// warning on stderr.
fn load(parse: impl Fn() -> Result<GatewayConfig, ConfigErrors>) -> Result<Loaded, ReloadError> {
    let config = parse()?;
    let var_names = config.var_names();
    Ok(Loaded { config, var_names })
}

fn file_loader(path: PathBuf) -> Loader {
    Arc::new(move || load_file(&path, true))
}

/// Loads `path`, printing its warnings if `warn`.
fn load_file(path: &std::path::Path, warn: bool) -> Result<Loaded, ReloadError> {
    load(|| {
        let (config, warnings) = GatewayConfig::from_file(path)?;
        for w in warnings.iter().filter(|_| warn) {
            crate::logs::stderr_line(&w.to_string());
        }
        Ok(config)
    })
}

fn string_loader(
    text: &'static str,
    name: &'static str,
    dir: PathBuf,
    env: BTreeMap<String, String>,
) -> Loader {
    Arc::new(move || {
        load(|| {
            let (config, warnings) = GatewayConfig::parse_str(text, name, &dir, Some(env.clone()))?;
            for w in warnings {
                crate::logs::stderr_line(&w.to_string());
            }
            Ok(config)
        })
    })
}

pub(crate) fn run(args: GatewayArgs) -> Result<()> {
    if args.print_config {
        print_quickstart(args.listen);
        return Ok(());
    }
    // Before a `chroot` puts its path out of reach.
    sd_notify::connect();
    // The configuration decides the number of threads: load it before the
    // runtime exists, and start from that load.
    let first = match &args.config {
        Some(path) => {
            if let Some(mistake) = crate::cmd::check::spoe_conf_instead(path) {
                anyhow::bail!("{mistake}");
            }
            // The daemon's configuration warnings were printed by the command that started it.
            let loaded = load_file(path, !args.daemon_child).map_err(|e| anyhow::anyhow!("{e}"))?;
            if loaded.config.daemon() && !args.foreground {
                // Before any thread exists (see `daemon`).
                if !args.daemon_child {
                    return daemon::launch();
                }
                daemon::detach()?;
            }
            Some((loaded, file_loader(path.clone())))
        }
        None => None,
    };
    // As HAProxy: the open files limit goes up to what the system allows, or to `ulimit-n`
    // (within `fd-hard-limit`), and the automatic `maxconn` (when `global` sets none) follows
    // from it.
    match &first {
        Some((loaded, _)) => match spoe_gateway::limits::apply_open_files_limit(&loaded.config) {
            Ok(None) => {}
            Ok(Some(warning)) => crate::logs::stderr_line(&format!("[WARNING] {warning}")),
            Err(alert) => anyhow::bail!("{alert}"),
        },
        None => {
            spoe_gateway::limits::raise_open_files_limit();
        }
    }
    // Client connections are served by `nbthread` workers (default: one
    // per CPU), each a thread with its own runtime; this thread's runtime
    // runs the listeners, signals and reloads.
    let threads = first
        .as_ref()
        .and_then(|(l, _)| l.config.nbthread())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let workers = match first.as_ref().and_then(|(l, _)| l.config.cpu_binding()) {
        Some(binding) => {
            // `cpu-map`: the process's CPUs first (the threads inherit them), then each
            // worker's own; as HAProxy, a binding the system refuses is not an error.
            if let Err(e) = binding.bind(None) {
                tracing::warn!("cpu-map: cannot bind the process: {e}");
            }
            let bind = Arc::new(move |i| {
                if let Err(e) = binding.bind(Some(i)) {
                    tracing::warn!("cpu-map: cannot bind thread {}: {e}", i + 1);
                }
            });
            Workers::spawn_with(threads, bind)
        }
        None => Workers::spawn(threads),
    };
    let workers = Arc::new(workers.context("starting the worker threads")?);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let result = runtime.block_on({
        let workers = workers.clone();
        async move {
            match first {
                Some((loaded, loader)) => serve(Some(loaded), loader, workers).await,
                None => quickstart(args.listen, workers).await,
            }
        }
    });
    drop(runtime);
    workers.join();
    result
}

async fn quickstart(listen: SocketAddr, workers: Arc<Workers>) -> Result<()> {
    let stop = CancellationToken::new();
    // The embedded agent: the ip-reputation example.
    let agent_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the embedded agent")?;
    let agent_addr = agent_listener.local_addr()?;
    let agent = spoa::Server::new(demo::IpReputation, spoa::Config::default())?;
    #[expect(
        clippy::disallowed_methods,
        reason = "the JoinHandle is kept, and awaited or aborted before the command returns"
    )]
    let agent_task = tokio::spawn({
        let stop = stop.clone();
        async move { agent.serve(spoa::Listener::Tcp(agent_listener), stop).await }
    });
    let (demo_listener, demo_addr) = quickstart::bind_demo_backend()
        .await
        .context("binding the demo backend")?;
    #[expect(
        clippy::disallowed_methods,
        reason = "the JoinHandle is kept, and awaited or aborted before the command returns"
    )]
    let demo_task = tokio::spawn(quickstart::serve_demo_backend(demo_listener, stop.clone()));
    let dir = tempfile::tempdir().context("creating the quickstart directory")?;
    std::fs::write(dir.path().join("spoe.conf"), quickstart::SPOE_CONF)
        .context("writing spoe.conf")?;
    let env = BTreeMap::from([
        ("SPOE_LISTEN".to_owned(), listen.to_string()),
        (
            "SPOE_QUICKSTART_DIR".to_owned(),
            dir.path().display().to_string(),
        ),
        ("SPOE_DEMO_ADDR".to_owned(), demo_addr.to_string()),
        ("SPOE_AGENT_ADDR".to_owned(), agent_addr.to_string()),
    ]);
    let loader = string_loader(
        quickstart::HAPROXY_CFG,
        "quickstart/haproxy.cfg",
        dir.path().to_owned(),
        env,
    );
    println!(
        "spoe gateway: quickstart on http://{listen} (agent {agent_addr}, demo backend {demo_addr})"
    );
    println!("  try: curl -i http://{listen}/hello");
    println!(
        "  the agent scores your address into sess.iprep.ip_score; the gateway adds it as X-IP-Score"
    );
    let result = serve(None, loader, workers).await;
    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(5), agent_task).await;
    let _ = demo_task.await;
    result
}

/// Runs the gateway until a stop signal; `loaded` is the first
/// configuration when the caller already has it.
async fn serve(loaded: Option<Loaded>, loader: Loader, workers: Arc<Workers>) -> Result<()> {
    let loaded = match loaded {
        Some(l) => l,
        None => loader().map_err(|e| anyhow::anyhow!("{e}"))?,
    };
    let started = Gateway::start_loaded(loaded, loader, workers).await;
    let gateway = started.map_err(|e| anyhow::anyhow!("{e}"))?;
    for addr in gateway.listening() {
        tracing::info!(%addr, "listening");
    }
    sd_notify::notify("READY=1");
    let mut usr2 = signal(SignalKind::user_defined2())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    loop {
        tokio::select! {
            _ = usr2.recv() => reload(&gateway).await,
            _ = hup.recv() => reload(&gateway).await,
            _ = term.recv() => {
                tracing::info!("SIGTERM: stopping gracefully");
                sd_notify::notify("STOPPING=1");
                tokio::select! {
                    () = gateway.stop(false) => {}
                    _ = int.recv() => {
                        tracing::warn!("SIGINT during the graceful stop: stopping now");
                        gateway.stop(true).await;
                    }
                }
                return Ok(());
            }
            _ = int.recv() => {
                tracing::info!("SIGINT: stopping now");
                sd_notify::notify("STOPPING=1");
                gateway.stop(true).await;
                return Ok(());
            }
        }
    }
}

async fn reload(gateway: &Arc<Gateway>) {
    sd_notify::notify("RELOADING=1");
    match gateway.reload().await {
        Ok(id) => tracing::info!(generation = id, "reloaded"),
        Err(e) => tracing::error!("reload failed, still running the previous configuration:\n{e}"),
    }
    sd_notify::notify("READY=1");
}

/// The quickstart's two files, as `--quickstart` writes and reads them (a
/// closed pipe, `| head`, ends the output quietly).
fn print_quickstart(listen: SocketAddr) {
    let text = format!(
        "# haproxy.cfg of `spoe gateway --quickstart`, run with SPOE_LISTEN={listen};\n\
         # SPOE_QUICKSTART_DIR is a temporary directory holding the spoe.conf below, and\n\
         # SPOE_DEMO_ADDR and SPOE_AGENT_ADDR the loopback addresses the demo backend and\n\
         # the embedded agent get at start.\n{}\n# spoe.conf (in SPOE_QUICKSTART_DIR)\n{}",
        quickstart::HAPROXY_CFG,
        quickstart::SPOE_CONF
    );
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
}
