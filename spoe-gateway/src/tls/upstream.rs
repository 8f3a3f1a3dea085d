//! TLS towards servers (`server ... ssl`): the rustls client configuration a
//! server line asks for, with HAProxy's verification rules
//! (`ssl_sock_prepare_srv_ssl_ctx()` and `ssl_sock_srv_verifycbk()` in
//! `src/ssl_sock.c`):
//!
//! - `verify required` (the default) checks the chain against `ca-file`,
//!   which must then be given; the server's name is checked against the SNI
//!   sent (`sni`), else against `verifyhost`, else not at all.
//! - `verify none` accepts any certificate (the handshake's signatures are
//!   still checked).
//! - `crt FILE` presents a client certificate (chain and key in one PEM, as
//!   on `bind`).

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, WebPkiServerVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::sign::CertifiedKey;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, Error, RootCertStore, SignatureScheme,
};

use super::bind::TlsConfigError;
use super::certs;
use super::settings::{TlsOptions, Verify};

/// The TLS half of a `server` line, as written.
#[derive(Debug, Clone, Default)]
pub struct ServerTlsSpec {
    /// `ssl` (`no-ssl` clears it).
    pub ssl: bool,
    /// `alpn`, versions, ciphers, `ca-file`, `verify` (`optional` is not a
    /// server setting).
    pub options: TlsOptions,
    /// `crt FILE`: the client certificate presented.
    pub crt: Option<PathBuf>,
    /// `sni`: the name sent (a constant: `str(NAME)`).
    pub sni: Option<String>,
    /// `verifyhost NAME`: the name checked when no SNI is sent.
    pub verifyhost: Option<String>,
}

/// A server's TLS, ready to connect with.
#[derive(Debug)]
pub struct UpstreamTls {
    /// The rustls configuration, with the `alpn` list as written (none
    /// without it, as HAProxy sends none).
    pub config: Arc<ClientConfig>,
    /// The SNI sent, if any.
    pub sni: Option<ServerName<'static>>,
}

impl UpstreamTls {
    /// Reads the files `spec` names and builds the client configuration.
    ///
    /// # Errors
    /// An unreadable or invalid `ca-file` or `crt`, `verify required`
    /// without `ca-file` (HAProxy's message), no TLS version left.
    pub fn load(spec: &ServerTlsSpec) -> Result<Self, TlsConfigError> {
        let options = &spec.options;
        let provider = options.provider();
        let versions = options.rustls_versions().ok_or(TlsConfigError::NoVersion)?;
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| TlsConfigError::Rustls(e.to_string()))?;
        let verifier: Arc<dyn ServerCertVerifier> = match options.verify {
            Some(Verify::None) => Arc::new(AnyCertificate(provider)),
            _ => {
                let ca = options
                    .ca_file
                    .as_ref()
                    .ok_or(TlsConfigError::ServerVerifyWithoutCa)?;
                let roots = Arc::new(certs::load_ca(ca)?);
                let crls = match &options.crl_file {
                    Some(path) => certs::load_crls(path)?,
                    None => Vec::new(),
                };
                let inner =
                    WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
                        .with_crls(crls)
                        .build()
                        .map_err(|e| TlsConfigError::Rustls(e.to_string()))?;
                let host = match (&spec.sni, &spec.verifyhost) {
                    (Some(_), _) => HostCheck::Sent,
                    (None, Some(name)) => {
                        HostCheck::Fixed(ServerName::try_from(name.clone()).map_err(|e| {
                            TlsConfigError::Rustls(format!("verifyhost '{name}': {e}"))
                        })?)
                    }
                    (None, None) => HostCheck::None { roots, provider },
                };
                Arc::new(ChainVerifier { inner, host })
            }
        };
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = match &spec.crt {
            Some(path) => {
                let cert = certs::load_pem(path)?;
                builder.with_client_cert_resolver(Arc::new(ClientCert(cert.key)))
            }
            None => builder.with_no_client_auth(),
        };
        if options.no_tls_tickets {
            config.resumption = config
                .resumption
                .tls12_resumption(rustls::client::Tls12Resumption::SessionIdOnly);
        }
        config.alpn_protocols = options.alpn.clone().unwrap_or_default();
        let sni = match &spec.sni {
            Some(name) => Some(
                ServerName::try_from(name.clone())
                    .map_err(|e| TlsConfigError::Rustls(format!("sni '{name}': {e}")))?,
            ),
            None => None,
        };
        Ok(Self {
            config: Arc::new(config),
            sni,
        })
    }
}

/// Which name a server's certificate must carry.
#[derive(Debug)]
enum HostCheck {
    /// The SNI sent (`sni`).
    Sent,
    /// `verifyhost NAME`, no SNI sent.
    Fixed(ServerName<'static>),
    /// None: the chain alone is checked.
    None {
        roots: Arc<RootCertStore>,
        provider: Arc<CryptoProvider>,
    },
}

/// `verify required`: the chain, and the name as [`HostCheck`] says.
#[derive(Debug)]
struct ChainVerifier {
    inner: Arc<WebPkiServerVerifier>,
    host: HostCheck,
}

impl ServerCertVerifier for ChainVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        match &self.host {
            HostCheck::Sent => self.inner.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ),
            HostCheck::Fixed(name) => {
                self.inner
                    .verify_server_cert(end_entity, intermediates, name, ocsp_response, now)
            }
            HostCheck::None { roots, provider } => {
                let cert = ParsedCertificate::try_from(end_entity)?;
                rustls::client::verify_server_cert_signed_by_trust_anchor(
                    &cert,
                    roots,
                    intermediates,
                    now,
                    provider.signature_verification_algorithms.all,
                )?;
                Ok(ServerCertVerified::assertion())
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `verify none`: any certificate, as long as the server holds its key.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        // Still a certificate: garbage is refused.
        ParsedCertificate::try_from(end_entity)
            .map(|_| ServerCertVerified::assertion())
            .map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `crt FILE`: the one client certificate, whatever the server asks.
#[derive(Debug)]
struct ClientCert(Arc<CertifiedKey>);

impl ResolvesClientCert for ClientCert {
    fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// The TLS configuration of a clear-text server's connector, which never
/// uses it (its requests are `http`): the connector's type is the same for
/// every server. It trusts no CA, should it ever be used.
pub fn unused_config() -> ClientConfig {
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_or_else(
            |_| unreachable!("ring's defaults are valid"),
            |b| {
                b.with_root_certificates(RootCertStore::empty())
                    .with_no_client_auth()
            },
        )
}
