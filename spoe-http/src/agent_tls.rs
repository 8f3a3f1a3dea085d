//! Connections to agents behind TLS (feature `tls`): what HAProxy's
//! `server NAME ADDR ssl verify required ca-file FILE [sni str(NAME)]` does on the agents'
//! backend, as a [`Connector`] for [`SpoeLayerBuilder::connector`](crate::SpoeLayerBuilder::connector).
//!
//! The TCP connection and the handshake are one attempt, which the engine bounds by the
//! backend's `timeout connect`; a certificate that does not verify fails the attempt as a
//! refused connection does: the message's `set-on-error` variable says so, and the failure
//! mode decides.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use spoe::connector::{BoxIo, ConnectFuture};
use spoe::{Addr, Connector};

/// Why an [`AgentTls`] could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentTlsError {
    /// The CA file cannot be read or holds something other than PEM certificates.
    #[error("ca-file {}: {source} (expected PEM certificates)", path.display())]
    ReadCa {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: rustls::pki_types::pem::Error,
    },
    /// The CA file holds no certificate.
    #[error("ca-file {}: no certificate in it (expected PEM certificates)", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// rustls refused a CA certificate.
    #[error("ca-file {}: a certificate rustls refuses: {source}", path.display())]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// rustls's reason.
        source: rustls::Error,
    },
    /// rustls refused the protocol versions of its ring provider (never with this crate's
    /// build; named rather than hidden).
    #[error("TLS client configuration: {0}")]
    Config(rustls::Error),
    /// The name to verify is neither a DNS name nor an IP address.
    #[error("server name {name:?}: expected a DNS name or an IP address")]
    ServerName {
        /// The name given.
        name: String,
    },
}

/// Opens agent connections over TLS with rustls (ring). The agent's certificate is verified
/// against the CA given, for the name given with [`server_name`](Self::server_name), else for
/// the agent's IP address.
///
/// ```no_run
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use spoe_http::{AgentTls, SpoeLayer};
///
/// let tls = AgentTls::with_ca_file("/etc/spoe/agents-ca.pem")?.server_name("waf.internal")?;
/// let layer = SpoeLayer::builder()
///     .config_file("/etc/haproxy/spoe.conf", Some("waf"))
///     .agent("10.0.0.7:9000".parse()?)
///     .connector(Arc::new(tls))
///     .fail_closed(http::StatusCode::SERVICE_UNAVAILABLE)
///     .build()?;
/// # drop(layer);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct AgentTls {
    connector: tokio_rustls::TlsConnector,
    server_name: Option<ServerName<'static>>,
}

impl std::fmt::Debug for AgentTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentTls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl AgentTls {
    /// TLS with a rustls client configuration of the caller's (client certificates, pinned
    /// roots, ALPN...).
    pub fn new(config: Arc<rustls::ClientConfig>) -> Self {
        Self {
            connector: tokio_rustls::TlsConnector::from(config),
            server_name: None,
        }
    }

    /// TLS verified against the PEM certificates of `ca_file` (HAProxy's
    /// `verify required ca-file FILE`), with rustls's safe default protocol versions.
    ///
    /// # Errors
    ///
    /// The file cannot be read, holds no certificate, or one rustls refuses.
    pub fn with_ca_file(ca_file: impl AsRef<Path>) -> Result<Self, AgentTlsError> {
        let path = ca_file.as_ref();
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(path).map_err(|source| AgentTlsError::ReadCa {
            path: path.to_owned(),
            source,
        })? {
            let cert = cert.map_err(|source| AgentTlsError::ReadCa {
                path: path.to_owned(),
                source,
            })?;
            roots
                .add(cert)
                .map_err(|source| AgentTlsError::BadCertificate {
                    path: path.to_owned(),
                    source,
                })?;
        }
        if roots.is_empty() {
            return Err(AgentTlsError::NoCertificate {
                path: path.to_owned(),
            });
        }
        // The provider named, not the process default: another crate enabling a second
        // provider must not make this panic. ring, as the gateway's TLS (its lack of
        // post-quantum groups matters not to agents, which HAProxy 2.6 reaches without them).
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(AgentTlsError::Config)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self::new(Arc::new(config)))
    }

    /// The name the agent's certificate must carry, sent as SNI (HAProxy's `sni` and
    /// `verifyhost`). Without it, the agent's IP address is verified (a Unix socket agent
    /// needs a name).
    ///
    /// # Errors
    ///
    /// `name` is neither a DNS name nor an IP address.
    pub fn server_name(mut self, name: &str) -> Result<Self, AgentTlsError> {
        let parsed =
            ServerName::try_from(name.to_owned()).map_err(|_| AgentTlsError::ServerName {
                name: name.to_owned(),
            })?;
        self.server_name = Some(parsed);
        Ok(self)
    }

    fn name_for(&self, addr: &Addr) -> io::Result<ServerName<'static>> {
        match (&self.server_name, addr) {
            (Some(name), _) => Ok(name.clone()),
            (None, Addr::Tcp(a)) => Ok(ServerName::IpAddress(a.ip().into())),
            (None, Addr::Unix(path)) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "TLS to unix@{}: no name to verify the agent's certificate for (call AgentTls::server_name)",
                    path.display()
                ),
            )),
        }
    }
}

impl Connector for AgentTls {
    fn connect(&self, addr: &Addr) -> ConnectFuture {
        let name = self.name_for(addr);
        let connector = self.connector.clone();
        let plain = spoe::NetConnector.connect(addr);
        Box::pin(async move {
            let name = name?;
            let io = plain.await?;
            let tls = connector.connect(name, io).await?;
            Ok(Box::new(tls) as BoxIo)
        })
    }
}
