//! Maps process signals to cancellation. Libraries never install handlers;
//! the binary does, here.

use std::io;

use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// SIGTERM or SIGINT cancels `graceful` (drain, then exit 0); a second one
/// exits at once with status 130.
#[expect(
    clippy::disallowed_methods,
    reason = "the JoinHandle is kept, and awaited or aborted before the command returns"
)]
pub(crate) fn spawn(graceful: CancellationToken) -> io::Result<JoinHandle<()>> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: stopping gracefully"),
            _ = int.recv() => tracing::info!("SIGINT: stopping gracefully"),
        }
        graceful.cancel();
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::warn!("second signal: exiting now");
        std::process::exit(130);
    }))
}
