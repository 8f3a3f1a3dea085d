//! Where an agent listens: TCP or a Unix socket.

use std::io;
use std::path::PathBuf;

use spop_io::Addr;
use tokio::net::{TcpListener, TcpSocket, UnixListener, UnixSocket};

/// A bound listener.
#[derive(Debug)]
pub enum Listener {
    /// TCP.
    Tcp(TcpListener),
    /// A Unix socket; the path is removed when the listener is dropped.
    Unix(UnixListener, UnixPathGuard),
}

/// Removes a Unix socket's path on drop.
#[derive(Debug)]
pub struct UnixPathGuard(PathBuf);

impl Drop for UnixPathGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl Listener {
    /// The listen backlog of [`Listener::bind`]: connections the kernel
    /// completes and queues before the agent accepts them. HAProxy opens
    /// many connections at once under load (one per in-flight stream without
    /// pipelining); with Linux's former default of 128, the excess SYNs are
    /// dropped and retried after a second. The kernel caps it at
    /// `net.core.somaxconn` (4096 by default since Linux 5.4).
    pub const DEFAULT_BACKLOG: u32 = 1024;

    /// Binds `addr` with [`Listener::DEFAULT_BACKLOG`]. A stale Unix socket
    /// file at the path is replaced.
    pub async fn bind(addr: &Addr) -> io::Result<Self> {
        Self::bind_with_backlog(addr, Self::DEFAULT_BACKLOG).await
    }

    /// Binds `addr` with a listen backlog of `backlog` (see
    /// [`Listener::DEFAULT_BACKLOG`]). A stale Unix socket file at the path
    /// is replaced. TCP sockets get `SO_REUSEADDR`, as with
    /// [`TcpListener::bind`].
    pub async fn bind_with_backlog(addr: &Addr, backlog: u32) -> io::Result<Self> {
        match addr {
            Addr::Tcp(a) => {
                let socket = if a.is_ipv4() {
                    TcpSocket::new_v4()?
                } else {
                    TcpSocket::new_v6()?
                };
                socket.set_reuseaddr(true)?;
                socket.bind(*a)?;
                Ok(Self::Tcp(socket.listen(backlog)?))
            }
            Addr::Unix(p) => {
                if std::fs::symlink_metadata(p).is_ok_and(|m| {
                    use std::os::unix::fs::FileTypeExt;
                    m.file_type().is_socket()
                }) {
                    std::fs::remove_file(p)?;
                }
                let socket = UnixSocket::new_stream()?;
                socket.bind(p)?;
                Ok(Self::Unix(
                    socket.listen(backlog)?,
                    UnixPathGuard(p.clone()),
                ))
            }
        }
    }

    /// The bound address (with the port the system chose for `:0`).
    pub fn local_addr(&self) -> io::Result<Addr> {
        match self {
            Self::Tcp(l) => l.local_addr().map(Addr::Tcp),
            Self::Unix(_, guard) => Ok(Addr::Unix(guard.0.clone())),
        }
    }
}

impl From<TcpListener> for Listener {
    fn from(l: TcpListener) -> Self {
        Self::Tcp(l)
    }
}
