//! Where an agent listens: TCP or a Unix socket.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use tokio::net::{TcpListener, TcpSocket, UnixListener, UnixSocket};

/// An address to listen on: `HOST:PORT`, or `unix@PATH` (HAProxy's spelling,
/// and how it is displayed; `unix:PATH` is accepted too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A Unix socket path.
    Unix(PathBuf),
}

impl std::str::FromStr for ListenAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(path) = s.strip_prefix("unix:").or_else(|| s.strip_prefix("unix@")) {
            if path.is_empty() {
                return Err(format!(
                    "listen address {s:?}: the unix socket path is empty"
                ));
            }
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        s.parse().map(Self::Tcp).map_err(|_| {
            format!(
                "listen address {s:?}: expected HOST:PORT (such as 127.0.0.1:12345) or unix@PATH"
            )
        })
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(a) => write!(f, "{a}"),
            Self::Unix(p) => write!(f, "unix@{}", p.display()),
        }
    }
}

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
    pub async fn bind(addr: &ListenAddr) -> io::Result<Self> {
        Self::bind_with_backlog(addr, Self::DEFAULT_BACKLOG).await
    }

    /// Binds `addr` with a listen backlog of `backlog` (see
    /// [`Listener::DEFAULT_BACKLOG`]). A stale Unix socket file at the path
    /// is replaced. TCP sockets get `SO_REUSEADDR`, as with
    /// [`TcpListener::bind`].
    pub async fn bind_with_backlog(addr: &ListenAddr, backlog: u32) -> io::Result<Self> {
        match addr {
            ListenAddr::Tcp(a) => {
                let socket = if a.is_ipv4() {
                    TcpSocket::new_v4()?
                } else {
                    TcpSocket::new_v6()?
                };
                socket.set_reuseaddr(true)?;
                socket.bind(*a)?;
                Ok(Self::Tcp(socket.listen(backlog)?))
            }
            ListenAddr::Unix(p) => {
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
    pub fn local_addr(&self) -> io::Result<ListenAddr> {
        match self {
            Self::Tcp(l) => l.local_addr().map(ListenAddr::Tcp),
            Self::Unix(_, guard) => Ok(ListenAddr::Unix(guard.0.clone())),
        }
    }
}

impl From<TcpListener> for Listener {
    fn from(l: TcpListener) -> Self {
        Self::Tcp(l)
    }
}
