//! The SPOE engine's connections to agents whose `server` line (in the agents' `mode tcp`
//! backend) says `ssl`: SPOP over TLS with the server line's rustls configuration (the same
//! verification rules as an HTTP server's, `crate::tls::upstream`), opened by spoe-http's
//! [`AgentTls`]; the other agents are reached in clear text.
//!
//! A handshake that fails (an unknown CA, an expired certificate, a client certificate the
//! agent refuses) fails the connection attempt: the engine logs the agent server unreachable
//! with rustls's reason, counts it in `spoe_agent_connect_failures_total`, and the messages
//! fail with status 1 in the `set-on-error` variable, as a refused connection does.

use std::net::SocketAddr;
use std::sync::Arc;

use spoe::connector::ConnectFuture;
use spoe::{Addr, Connector, NetConnector};
use spoe_http::AgentTls;

use crate::model::Backend;

/// Opens each agent server's connections as its line says.
struct ByServer {
    tls: Vec<(SocketAddr, AgentTls)>,
}

impl Connector for ByServer {
    fn connect(&self, addr: &Addr) -> ConnectFuture {
        let tls = match addr {
            Addr::Tcp(a) => self.tls.iter().find(|(s, _)| s == a).map(|(_, t)| t),
            Addr::Unix(_) => None,
        };
        match tls {
            Some(tls) => tls.connect(addr),
            None => NetConnector.connect(addr),
        }
    }
}

/// The connector of the agents' backend `backend`: clear text unless a server says `ssl`.
pub(super) fn connector(backend: Option<&Backend>) -> Arc<dyn Connector> {
    let tls: Vec<(SocketAddr, AgentTls)> = backend
        .map(|b| b.servers.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|s| {
            let upstream = s.tls.as_ref()?;
            let tls = AgentTls::new(upstream.config.clone());
            // The SNI sent is the name verified (when the line verifies one); without a
            // constant `sni` (an expression has no request to read here), the agent's address
            // is rustls's name, which sends no SNI for it.
            let tls = match &upstream.sni {
                Some(name) => tls
                    .server_name(&name.to_str())
                    .unwrap_or_else(|_| unreachable!("a ServerName's text is a valid server name")),
                None => tls,
            };
            Some((s.addr, tls))
        })
        .collect();
    if tls.is_empty() {
        Arc::new(NetConnector)
    } else {
        Arc::new(ByServer { tls })
    }
}
