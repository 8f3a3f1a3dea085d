//! systemd's readiness protocol (`Type=notify`): a datagram to the socket
//! named by `NOTIFY_SOCKET`. Without that variable, nothing is sent.
//!
//! The socket is connected once, by [`connect`], before the gateway enters its
//! `chroot`: the path is out of reach from inside it, the connected socket is not.

use std::os::unix::net::UnixDatagram;
use std::sync::OnceLock;

/// The socket connected to `NOTIFY_SOCKET` (`None`: no such variable, or no socket).
static SOCKET: OnceLock<Option<UnixDatagram>> = OnceLock::new();

fn open() -> Option<UnixDatagram> {
    let path = std::env::var_os("NOTIFY_SOCKET")?;
    let sock = UnixDatagram::unbound().ok()?;
    let bytes = path.as_encoded_bytes();
    let result = if let Some(abstract_name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(abstract_name)
            .and_then(|addr| sock.connect_addr(&addr))
    } else {
        sock.connect(&path)
    };
    match result {
        Ok(()) => Some(sock),
        Err(e) => {
            tracing::debug!(error = %e, "sd_notify: cannot connect to NOTIFY_SOCKET");
            None
        }
    }
}

/// Connects to `NOTIFY_SOCKET` now (before a `chroot`); [`notify`] connects on
/// its first call otherwise.
pub(crate) fn connect() {
    SOCKET.get_or_init(open);
}

/// Sends `state` (such as `READY=1`) to systemd, if it is listening.
pub(crate) fn notify(state: &str) {
    let Some(sock) = SOCKET.get_or_init(open) else {
        return;
    };
    if let Err(e) = sock.send(state.as_bytes()) {
        tracing::debug!(error = %e, "sd_notify failed");
    }
}
