//! How the engine reaches an agent server. A trait, so that tests can put
//! scripted agents behind in-memory pipes, and TLS can wrap the stream.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;

use spop_io::Addr;
use tokio::io::{AsyncRead, AsyncWrite};

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
    fn connect(&self, addr: &Addr) -> ConnectFuture;
}

/// Plain TCP (with `TCP_NODELAY`) and Unix sockets ([`Addr::connect`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct NetConnector;

impl Connector for NetConnector {
    fn connect(&self, addr: &Addr) -> ConnectFuture {
        let addr = addr.clone();
        Box::pin(async move { Ok(Box::new(addr.connect().await?) as BoxIo) })
    }
}

impl fmt::Debug for dyn Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Connector")
    }
}
