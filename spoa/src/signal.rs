//! Serving until the service manager says stop: SIGTERM (systemd, Docker,
//! Kubernetes) or SIGINT (Ctrl-C) starts the runtime's drain.

use std::io;

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::handler::Handler;
use crate::listener::Listener;
use crate::server::Server;

impl<H: Handler> Server<H> {
    /// Serves `listener` until SIGTERM or SIGINT, then drains as
    /// [`Server::serve`] does when its token is cancelled: no new
    /// connections, in-flight handlers finish (within
    /// [`crate::Config::drain_grace`]), every engine gets AGENT-DISCONNECT 0.
    /// Returns `Ok` once drained, so `main` can return and the process exits
    /// with status 0.
    ///
    /// A second signal during the drain stops waiting for it: the function
    /// returns at once and the connections still open are dropped.
    ///
    /// This installs process-wide signal handlers: call it from the binary
    /// (`main`), not from a library. To stop on something else, use
    /// [`Server::serve`] with your own [`CancellationToken`].
    ///
    /// # Errors
    ///
    /// When the signal handlers cannot be installed, or [`Server::serve`]
    /// fails.
    pub async fn serve_until_signal(&self, listener: Listener) -> io::Result<()> {
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let stop = CancellationToken::new();
        let serve = self.serve(listener, stop.clone());
        tokio::pin!(serve);
        tokio::select! {
            r = &mut serve => return r,
            _ = term.recv() => info!("SIGTERM: draining, then stopping"),
            _ = int.recv() => info!("SIGINT: draining, then stopping"),
        }
        stop.cancel();
        tokio::select! {
            r = &mut serve => {
                info!("drained: stopped");
                r
            }
            _ = term.recv() => {
                warn!("second signal: stopping without waiting for the drain");
                Ok(())
            }
            _ = int.recv() => {
                warn!("second signal: stopping without waiting for the drain");
                Ok(())
            }
        }
    }
}
