//! How the engine reaches an agent server. A trait, so that tests can put
//! scripted agents behind in-memory pipes.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};

/// An agent server's address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AgentAddr {
    /// TCP.
    Tcp(SocketAddr),
    /// A Unix socket path.
    Unix(PathBuf),
}

impl fmt::Display for AgentAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(a) => write!(f, "{a}"),
            Self::Unix(p) => write!(f, "unix@{}", p.display()),
        }
    }
}

impl std::str::FromStr for AgentAddr {
    type Err = String;

    /// `HOST:PORT`, or `unix@PATH` / `unix:PATH`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(p) = s.strip_prefix("unix@").or_else(|| s.strip_prefix("unix:")) {
            return Ok(Self::Unix(PathBuf::from(p)));
        }
        s.parse()
            .map(Self::Tcp)
            .map_err(|_| format!("agent address {s:?}: expected HOST:PORT or unix@PATH"))
    }
}

/// A byte stream to an agent.
pub trait AgentIo: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> AgentIo for T {}

/// A boxed agent stream.
pub type BoxIo = Box<dyn AgentIo>;

/// A connection attempt in progress.
pub type ConnectFuture = Pin<Box<dyn Future<Output = io::Result<BoxIo>> + Send>>;

/// Opens connections to agent servers.
pub trait Connector: Send + Sync + 'static {
    /// Starts connecting to `addr`. The engine bounds the attempt with
    /// `timeout connect`.
    fn connect(&self, addr: &AgentAddr) -> ConnectFuture;
}

/// Plain TCP (with `TCP_NODELAY`) and Unix sockets.
#[derive(Debug, Clone, Copy, Default)]
pub struct NetConnector;

impl Connector for NetConnector {
    fn connect(&self, addr: &AgentAddr) -> ConnectFuture {
        let addr = addr.clone();
        Box::pin(async move {
            Ok(match addr {
                AgentAddr::Tcp(a) => {
                    let s = tokio::net::TcpStream::connect(a).await?;
                    s.set_nodelay(true)?;
                    Box::new(s) as BoxIo
                }
                AgentAddr::Unix(p) => Box::new(tokio::net::UnixStream::connect(p).await?) as BoxIo,
            })
        })
    }
}

impl fmt::Debug for dyn Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Connector")
    }
}
