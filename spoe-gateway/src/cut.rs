//! What may end an exchange with a server early: its server's sessions being cut
//! (`on-marked-down shutdown-sessions`, `on-marked-up shutdown-backup-sessions`: HAProxy's
//! `srv_shutdown_streams()`), and optional deadlines, as futures a `select!` waits on.

use std::sync::atomic::Ordering;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::generation::ServerRt;

/// Resolves when `cut` is cancelled; never without one.
pub(crate) async fn cancelled(cut: Option<&CancellationToken>) {
    match cut {
        Some(cut) => cut.cancelled().await,
        None => std::future::pending().await,
    }
}

/// Resolves at `at`; never without one.
pub(crate) async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// HAProxy's termination state of a session cut with its server's, `in_response` (waiting
/// for the response's head: `H`) or not (`-`): `SF_ERR_DOWN` (`D`) as its server went down,
/// `SF_ERR_UP` (`U`) as another came up and cut the backup servers' (a backup server still
/// up).
pub(crate) fn termination(server: &ServerRt, in_response: bool) -> &'static str {
    let up = server.model.probe.backup && server.up.load(Ordering::Relaxed);
    match (up, in_response) {
        (true, true) => "UH",
        (true, false) => "U-",
        (false, true) => "DH",
        (false, false) => "D-",
    }
}
