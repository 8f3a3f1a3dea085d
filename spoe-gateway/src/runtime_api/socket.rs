//! The `stats socket` listeners: a Unix socket (its file created with `mode` and its owner)
//! or a TCP address. A connection reads a line, runs its commands (`;` between them) and
//! writes each reply followed by an empty line; without `prompt` it then closes, as
//! `echo "show info" | socat stdio unix-connect:SOCKET` expects. In prompt mode each reply
//! is followed by `> ` and the connection stays open until `quit`, its end, or `stats
//! timeout` without a command. At most `stats maxconn` connections per socket are served at
//! once; more wait in the listen backlog.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::{Context, Effect, commands, execute};
use crate::generation::Generation;
use crate::metrics::GatewayMetrics;
use crate::metrics::snapshot::Snapshot;
use crate::model::{CliLevel, Global, StatsAddr, StatsSocket};

/// The longest command line read (HAProxy's is a buffer, 16 kB by default).
const MAX_LINE: usize = 16 * 1024;

/// What a connection reads: the gateway's current generation and its metrics.
pub(crate) trait Source: Send + Sync + 'static {
    /// The generation new requests use.
    fn generation(&self) -> Arc<Generation>;
    /// The process's metrics.
    fn metrics(&self) -> &GatewayMetrics;
}

/// Binds `socket`: a Unix socket's stale file is replaced, then given its mode and owner.
///
/// # Errors
///
/// The address cannot be bound, or the file's mode or owner cannot be set.
pub(crate) fn bind(socket: &StatsSocket) -> std::io::Result<Listener> {
    match &socket.addr {
        StatsAddr::Unix(path) => {
            let _ = std::fs::remove_file(path);
            let l = tokio::net::UnixListener::bind(path)?;
            if let Some(mode) = socket.mode {
                use std::os::unix::fs::PermissionsExt as _;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
            }
            if socket.owner != (None, None) {
                std::os::unix::fs::chown(path, socket.owner.0, socket.owner.1)?;
            }
            Ok(Listener::Unix(l, path.clone()))
        }
        StatsAddr::Tcp(addr) => {
            let l = std::net::TcpListener::bind(addr)?;
            l.set_nonblocking(true)?;
            Ok(Listener::Tcp(tokio::net::TcpListener::from_std(l)?))
        }
    }
}

/// A bound `stats socket`.
#[derive(Debug)]
pub(crate) enum Listener {
    /// A Unix socket and its file (removed when the listener stops).
    Unix(tokio::net::UnixListener, std::path::PathBuf),
    /// A TCP socket.
    Tcp(tokio::net::TcpListener),
}

/// Serves `listener` until `stop`, with `socket`'s level and `global`'s limits.
pub(crate) async fn serve(
    listener: Listener,
    socket: StatsSocket,
    global: &Global,
    source: Arc<dyn Source>,
    stop: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(global.stats_maxconn.max(1)));
    // The connections: aborted when the socket stops.
    let mut sessions = tokio::task::JoinSet::new();
    let timeout = global.stats_timeout;
    loop {
        let permit = tokio::select! {
            () = stop.cancelled() => break,
            p = slots.clone().acquire_owned() => p,
        };
        let Ok(permit) = permit else {
            break;
        };
        while sessions.try_join_next().is_some() {}
        let source = source.clone();
        let level = socket.level;
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            a = accept(&listener) => a,
        };
        match accepted {
            Ok(Conn::Unix(s)) => {
                sessions.spawn(async move {
                    let _permit = permit;
                    let _ = session(s, level, timeout, source).await;
                });
            }
            Ok(Conn::Tcp(s)) => {
                sessions.spawn(async move {
                    let _permit = permit;
                    let _ = session(s, level, timeout, source).await;
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "stats socket: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    if let Listener::Unix(_, path) = &listener {
        remove(path);
    }
}

fn remove(path: &Path) {
    let _ = std::fs::remove_file(path);
}

enum Conn {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream),
}

async fn accept(listener: &Listener) -> std::io::Result<Conn> {
    match listener {
        Listener::Unix(l, _) => l.accept().await.map(|(s, _)| Conn::Unix(s)),
        Listener::Tcp(l) => l.accept().await.map(|(s, _)| Conn::Tcp(s)),
    }
}

/// One connection: lines of commands until it ends (see the module's description).
async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    level: CliLevel,
    timeout: Duration,
    source: Arc<dyn Source>,
) -> std::io::Result<()> {
    let (read, mut write) = tokio::io::split(stream);
    let mut lines = BufReader::new(read);
    let mut prompt = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = tokio::time::timeout(
            timeout,
            AsyncReadExt::take(&mut lines, MAX_LINE as u64).read_until(b'\n', &mut line),
        )
        .await;
        let Ok(Ok(n)) = read else {
            return Ok(());
        };
        if n == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        let (out, quit) = run_line(&text, level, source.as_ref(), &mut prompt);
        if quit {
            write.write_all(out.as_bytes()).await?;
            return write.shutdown().await;
        }
        write.write_all(out.as_bytes()).await?;
        if !prompt {
            return write.shutdown().await;
        }
    }
}

/// Runs a line's commands: the replies (each followed by an empty line, then `> ` in prompt
/// mode) and whether the connection is to close now (`quit`).
fn run_line(text: &str, level: CliLevel, source: &dyn Source, prompt: &mut bool) -> (String, bool) {
    let generation = source.generation();
    let snapshot = || -> Snapshot { source.metrics().snapshot(&generation) };
    let cx = Context {
        generation: &generation,
        snapshot: &snapshot,
        level,
    };
    let mut out = String::new();
    for words in commands(text.trim_end_matches(['\r', '\n'])) {
        let (reply, effect) = execute(&words, &cx);
        match effect {
            Effect::TogglePrompt => *prompt = !*prompt,
            Effect::Quit => return (out, true),
            Effect::None => {}
        }
        out.push_str(&reply);
        out.push('\n');
    }
    if *prompt {
        out.push_str("> ");
    }
    (out, false)
}
