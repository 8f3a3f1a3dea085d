//! Connections to a backend's server, counted as HAProxy counts them: each
//! attempt (`connect`), the connections open (in use or idle in the pool),
//! and the bytes each way ([`Wire`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use crate::sockopt::Outgoing;
use crate::stats::{Counters, Wire};

/// hyper's connector, counting into the server's and the backend's counters.
#[derive(Debug, Clone)]
pub(crate) struct CountingConnector {
    inner: HttpConnector,
    server: Arc<Counters>,
    backend: Arc<Counters>,
    /// The socket options of each connection (`None`: nothing to set).
    outgoing: Option<Arc<Outgoing>>,
}

impl CountingConnector {
    pub(crate) fn new(
        inner: HttpConnector,
        server: Arc<Counters>,
        backend: Arc<Counters>,
        outgoing: Arc<Outgoing>,
    ) -> Self {
        Self {
            inner,
            server,
            backend,
            outgoing: (!outgoing.is_empty()).then_some(outgoing),
        }
    }
}

/// A connection to a server.
pub(crate) type ServerIo = TokioIo<Wire<TcpStream>>;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Connecting = Pin<Box<dyn Future<Output = Result<ServerIo, BoxError>> + Send>>;

impl tower_service::Service<Uri> for CountingConnector {
    type Response = ServerIo;
    type Error = BoxError;
    type Future = Connecting;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        self.server.connect.inc();
        self.backend.connect.inc();
        let header = crate::upstream_key::proxy_header(&uri);
        let connecting = self.inner.call(uri);
        let (server, backend) = (self.server.clone(), self.backend.clone());
        let outgoing = self.outgoing.clone();
        Box::pin(async move {
            let mut stream = connecting.await?.into_inner();
            if let Some(out) = outgoing
                && let Ok(peer) = stream.peer_addr()
            {
                out.connected(socket2::SockRef::from(&stream), peer);
            }
            // `send-proxy[-v2]`: the PROXY header before anything else (TLS included).
            if let Some(header) = header {
                tokio::io::AsyncWriteExt::write_all(&mut stream, &header).await?;
            }
            Ok(TokioIo::new(Wire::server(stream, server, backend)))
        })
    }
}

/// Nothing beyond the defaults: hyper-util's `TcpStream` would add its addresses
/// (`HttpInfo`), which hyper-util's client then copies into every response's extensions (an
/// allocation and a map insert a request) and which nothing in the gateway reads.
impl Connection for Wire<TcpStream> {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

/// The name of a connection to a server with `sni EXPR`: the value evaluated for the request
/// that made it ([`crate::upstream_key::sni`]), else the server's address (rustls sends no SNI
/// for an address, and the certificate is checked as without `sni`).
pub(super) struct EvaluatedName;

impl hyper_rustls::ResolveServerName for EvaluatedName {
    fn resolve(&self, uri: &Uri) -> Result<ServerName<'static>, BoxError> {
        match crate::upstream_key::sni(uri) {
            Some(name) => ServerName::try_from(name).map_err(Into::into),
            None => hyper_rustls::DefaultServerNameResolver::default().resolve(uri),
        }
    }
}
