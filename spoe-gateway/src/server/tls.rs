//! TLS on a listener: the handshake, bounded by `timeout client` as
//! HAProxy bounds an embryonic session; the configuration chosen from the
//! client hello (certificate by SNI, see [`TlsBind`]); each handshake
//! counted by result, and each failure logged as HAProxy logs it
//! (`CLIENT:PORT [DATE] FRONTEND/LISTENER: SSL handshake failure`).

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use tokio::net::TcpStream;
use tokio_rustls::LazyConfigAcceptor;
use tokio_rustls::server::TlsStream;

use super::Gateway;
use crate::httplog::ConnError;
use crate::log::LogRoute;
use spoe_http::TlsFacts;

use crate::tls::{TlsBind, facts};

/// Who is shaking hands, for the log line and the metrics.
#[derive(Debug)]
pub(super) struct Peer<'a> {
    pub(super) client: SocketAddr,
    pub(super) accepted: SystemTime,
    pub(super) frontend: &'a str,
    /// The listener's number in its frontend (1 for the first address).
    pub(super) listener: usize,
    /// Where the frontend logs (`None`: it does not, and neither does this).
    pub(super) log: Option<LogRoute>,
}

/// How a handshake failed, in HAProxy's words (`conn_err_code_str()`), and
/// the metric's label.
fn failure(e: &std::io::Error) -> (&'static str, &'static str) {
    if let Some(tls) = e.get_ref().and_then(|r| r.downcast_ref::<rustls::Error>()) {
        return match tls {
            rustls::Error::InvalidCertificate(_) => {
                ("SSL client certificate not trusted", "certificate")
            }
            _ => ("SSL handshake failure", "handshake"),
        };
    }
    match e.kind() {
        ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset | ErrorKind::BrokenPipe => {
            ("Connection closed during SSL handshake", "closed")
        }
        _ => ("Connection error during SSL handshake", "handshake"),
    }
}

impl Gateway {
    /// Runs the server side of a TLS handshake on `sock` within `limit`.
    /// `None`: it failed, and was counted and logged.
    pub(super) async fn tls_handshake(
        &self,
        sock: TcpStream,
        tls: &TlsBind,
        limit: Duration,
        peer: &Peer<'_>,
    ) -> Option<(TlsStream<TcpStream>, TlsFacts)> {
        let handshake = async {
            let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), sock).await?;
            let Some(config) = tls.select(&start.client_hello()) else {
                // `strict-sni` and no certificate for the name.
                return Err(std::io::Error::new(
                    ErrorKind::InvalidData,
                    rustls::Error::General("no certificate for the client's SNI".to_owned()),
                ));
            };
            start.into_stream(config).await
        };
        let (message, result) = match tokio::time::timeout(limit, handshake).await {
            Ok(Ok(stream)) => {
                let facts = facts::of(stream.get_ref().1);
                let result = if facts.resumed { "resumed" } else { "full" };
                self.metrics.handshake(peer.frontend, result);
                return Some((stream, facts));
            }
            Ok(Err(e)) => {
                tracing::debug!(client = %peer.client, error = %e, "TLS handshake failed");
                failure(&e)
            }
            Err(_) => ("Timeout during SSL handshake", "timeout"),
        };
        self.metrics.handshake(peer.frontend, result);
        let line = ConnError {
            client: peer.client,
            accepted: peer.accepted,
            frontend: peer.frontend,
            listener: peer.listener,
            message,
        };
        if let Some(log) = &peer.log {
            // HAProxy's level for a connection error: info (err with `option log-separate-errors`).
            log.send(6, &line);
        }
        None
    }
}
