//! Serving SPOP over TLS (feature `tls`): what HAProxy's
//! `server NAME ADDR ssl verify required ca-file CA [crt CLIENT.pem]` on the agents' backend
//! expects of an agent. [`ServerTls`] holds the agent's certificate and, for mutual TLS, the
//! CA its engines' client certificates must chain to; [`Server::serve_tls`](crate::Server::serve_tls)
//! serves with it.
//!
//! The handshake is bounded by [`Config::hello_timeout`](crate::Config::hello_timeout) (the
//! engine's HELLO is expected within it anyway) and happens after the connection took one of
//! [`Config::max_connections`](crate::Config::max_connections)' slots, so that stalled
//! handshakes cost bounded memory. A failed one is counted in
//! `spoa_connection_ends_total{end="tls_handshake"}` and logged, rate-limited, with rustls's
//! reason (an unknown CA, an expired certificate, no client certificate).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};

/// Why a [`ServerTls`] could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file cannot be read or holds something other than what it should.
    #[error("{what} {}: {source} (expected {expected})", path.display())]
    Read {
        /// What the file is for: `certificate`, `key`, `client CA`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: rustls::pki_types::pem::Error,
        /// What it should hold.
        expected: &'static str,
    },
    /// A file holds no certificate.
    #[error("{what} {}: no certificate in it (expected PEM certificates)", path.display())]
    NoCertificate {
        /// What the file is for.
        what: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// rustls refused the certificate, the key or the client CA.
    #[error("{what}: {source}")]
    Rustls {
        /// What was refused.
        what: String,
        /// rustls's reason.
        source: rustls::Error,
    },
    /// rustls could not build a client certificate verifier from the client CA.
    #[error("client CA {}: {reason}", path.display())]
    ClientCa {
        /// The file.
        path: PathBuf,
        /// rustls's reason.
        reason: String,
    },
}

/// The TLS an agent serves with: its certificate chain and key, and optionally the CA that
/// must have signed each engine's client certificate (mutual TLS).
///
/// ```no_run
/// # async fn run(server: spoa::Server<spoa::Router>, listener: spoa::Listener)
/// # -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// use spoa::tls::ServerTls;
/// use tokio_util::sync::CancellationToken;
///
/// let tls = ServerTls::from_pem_files("agent.pem", "agent.key", Some("engines-ca.pem".as_ref()))?;
/// server.serve_tls(listener, tls, CancellationToken::new()).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ServerTls {
    acceptor: tokio_rustls::TlsAcceptor,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").finish_non_exhaustive()
    }
}

fn certificates(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let read = |source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
        expected: "PEM certificates",
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(read)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read)?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            what,
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

impl ServerTls {
    /// TLS with a rustls server configuration of the caller's.
    pub fn new(config: Arc<rustls::ServerConfig>) -> Self {
        Self {
            acceptor: tokio_rustls::TlsAcceptor::from(config),
        }
    }

    /// TLS with the certificate chain of `cert` and the private key of `key` (PEM; both may be
    /// one file, as HAProxy's), TLS 1.2 and 1.3 as HAProxy 2.6 speaks them. With `client_ca`,
    /// every engine must present a certificate that chains to one of its certificates
    /// (HAProxy's `crt` on the server line); without it, none is asked for.
    ///
    /// # Errors
    ///
    /// A file cannot be read or holds no certificate or key; the key is not the certificate's;
    /// rustls refuses a certificate.
    pub fn from_pem_files(
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
        client_ca: Option<&Path>,
    ) -> Result<Self, TlsError> {
        let (cert, key) = (cert.as_ref(), key.as_ref());
        let chain = certificates("certificate", cert)?;
        let private = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::Read {
            what: "key",
            path: key.to_owned(),
            source,
            expected: "a PEM private key",
        })?;
        // The provider named, not the process default: another crate enabling a second
        // provider must not make this panic. ring, as the gateway's TLS (its lack of
        // post-quantum groups matters not here: HAProxy 2.6 offers none).
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|source| TlsError::Rustls {
                what: "TLS server configuration".into(),
                source,
            })?;
        let builder = match client_ca {
            None => builder.with_no_client_auth(),
            Some(path) => {
                let mut roots = rustls::RootCertStore::empty();
                for c in certificates("client CA", path)? {
                    roots.add(c).map_err(|source| TlsError::Rustls {
                        what: format!("client CA {}", path.display()),
                        source,
                    })?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    roots.into(),
                    provider,
                )
                .build()
                .map_err(|e| TlsError::ClientCa {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config =
            builder
                .with_single_cert(chain, private)
                .map_err(|source| TlsError::Rustls {
                    what: format!("certificate {} with key {}", cert.display(), key.display()),
                    source,
                })?;
        Ok(Self::new(Arc::new(config)))
    }

    /// The handshake on `io`, within `limit`.
    pub(crate) async fn accept<IO>(
        &self,
        io: IO,
        limit: Duration,
    ) -> io::Result<tokio_rustls::server::TlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        match tokio::time::timeout(limit, self.acceptor.accept(io)).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no TLS handshake within the hello timeout ({limit:?})"),
            )),
        }
    }
}
