//! `bind ... accept-proxy`: before anything else (TLS included) the client sends a PROXY
//! protocol header, which says the addresses the connection stands for. Read as HAProxy 2.6
//! reads it (`conn_recv_proxy()`): one peek, parsed by [`crate::proxy_proto::recv`], then the
//! header consumed; within `timeout client` (HAProxy's bound of an embryonic session). A
//! connection whose header is missing or wrong is closed, counted as a connection of its
//! frontend but not as a session, in `spoe_proxy_headers{result}`, and logged with HAProxy's
//! message (`CLIENT:PORT [DATE] FRONTEND/LISTENER: MESSAGE`), but for nothing received under
//! `option dontlognull`.

use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::Gateway;
use super::tls::Peer;
use crate::httplog::ConnError;
use crate::proxy_proto::recv::{self, Announced, PEEK_MAX, ProxyHeaderError};

/// Peeks the header, checks it, consumes it.
async fn read(sock: &mut TcpStream) -> Result<Announced, ProxyHeaderError> {
    let mut buf = vec![0u8; PEEK_MAX];
    let n = sock
        .peek(&mut buf)
        .await
        .map_err(|_| ProxyHeaderError::Abort)?;
    let (len, announced) = recv::parse(&buf[..n])?;
    sock.read_exact(&mut buf[..len])
        .await
        .map_err(|_| ProxyHeaderError::Abort)?;
    Ok(announced)
}

impl Gateway {
    /// The header of `sock`, read within `limit`; `None`: the connection is to be closed
    /// (counted and logged here).
    pub(super) async fn proxy_header(
        &self,
        sock: &mut TcpStream,
        limit: Duration,
        peer: &Peer<'_>,
        dont_log_null: bool,
    ) -> Option<Announced> {
        let got = tokio::time::timeout(limit, read(sock))
            .await
            .unwrap_or(Err(ProxyHeaderError::Timeout));
        let e = match got {
            Ok(announced) => {
                self.metrics.proxy_header(peer.frontend, "received");
                return Some(announced);
            }
            Err(e) => e,
        };
        self.metrics.proxy_header(peer.frontend, e.label());
        if let Some(log) = &peer.log
            && !(dont_log_null && e.is_null())
        {
            let message = e.to_string();
            let line = ConnError {
                client: peer.client,
                accepted: peer.accepted,
                frontend: peer.frontend,
                listener: peer.listener,
                message: &message,
            };
            // HAProxy's level for a connection error: info.
            log.send(6, &line);
        }
        None
    }
}
