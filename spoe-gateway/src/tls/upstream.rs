//! TLS towards servers (`server ... ssl`): the rustls client configuration a
//! server line asks for, with HAProxy's verification rules
//! (`ssl_sock_prepare_srv_ssl_ctx()` and `ssl_sock_srv_verifycbk()` in
//! `src/ssl_sock.c`):
//!
//! - `verify required` (the default) checks the chain against `ca-file`,
//!   which must then be given; the server's name is checked against the SNI
//!   sent (`sni`), else against `verifyhost`, else not at all.
//! - `sni EXPR` other than a constant is evaluated per request when a
//!   connection is made for it (`upstream_key`): a value that is not
//!   a DNS name cannot be sent by rustls, so with `verify required` the
//!   connection is refused (HAProxy sends it, and no certificate can match
//!   it), with `verify none` no SNI is sent; no value sends no SNI, and the
//!   name is then checked as without `sni`.
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
use spoe::expr::SampleExpr;

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
    /// `sni str(NAME)`: the name sent, a constant.
    pub sni: Option<String>,
    /// `sni EXPR` of any other expression: evaluated per request on the
    /// request's data (HAProxy's `SMP_VAL_BE_SRV_CON`).
    pub sni_expr: Option<SampleExpr>,
    /// `verifyhost NAME`: the name checked when no SNI is sent.
    pub verifyhost: Option<String>,
}

/// A server's TLS, ready to connect with.
#[derive(Debug)]
pub struct UpstreamTls {
    /// The rustls configuration, with the `alpn` list as written (none
    /// without it, as HAProxy sends none).
    pub config: Arc<ClientConfig>,
    /// The SNI sent, if any, when it is a constant.
    pub sni: Option<ServerName<'static>>,
    /// `sni EXPR`: the expression whose value, per request, is the SNI.
    pub sni_expr: Option<SampleExpr>,
    /// Whether the server's certificate is verified (`verify required`): then
    /// an evaluated SNI that is not a DNS name refuses the connection.
    pub verifies: bool,
}

/// What a server's `sni EXPR` gave for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvaluatedSni {
    /// No SNI is sent: no value, or one rustls cannot send under `verify none`.
    None,
    /// This DNS name is sent (and checked under `verify required`).
    Name(String),
    /// A value that is not a DNS name under `verify required`: refused.
    Refused(String),
}

impl UpstreamTls {
    /// What the SNI of a connection made for `value` (the expression's text,
    /// `None` when it gave nothing) is.
    #[must_use]
    pub fn evaluated_sni(&self, value: Option<String>) -> EvaluatedSni {
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            return EvaluatedSni::None;
        };
        match ServerName::try_from(value.as_str()) {
            Ok(ServerName::DnsName(_)) => EvaluatedSni::Name(value),
            _ if self.verifies => EvaluatedSni::Refused(value),
            _ => EvaluatedSni::None,
        }
    }
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
                let verifyhost = match &spec.verifyhost {
                    Some(name) => Some(ServerName::try_from(name.clone()).map_err(|e| {
                        TlsConfigError::Rustls(format!("verifyhost '{name}': {e}"))
                    })?),
                    None => None,
                };
                let host = match (&spec.sni, &spec.sni_expr, verifyhost) {
                    (Some(_), _, _) => HostCheck::Sent,
                    (None, Some(_), fallback) => HostCheck::Evaluated {
                        fallback: fallback.map_or(NoSni::Chain { roots, provider }, NoSni::Fixed),
                    },
                    (None, None, Some(name)) => HostCheck::Fixed(name),
                    (None, None, None) => HostCheck::None { roots, provider },
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
            sni_expr: spec.sni_expr.clone(),
            verifies: !matches!(options.verify, Some(Verify::None)),
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
    /// `sni EXPR`: the name sent when the expression gave one (a DNS name),
    /// else as `fallback` says (the connection's name is then the server's
    /// address: rustls sends no SNI for it).
    Evaluated { fallback: NoSni },
}

/// What is checked when an evaluated `sni` gave no name: `verifyhost`, or
/// the chain alone (HAProxy's `ssl_sock_srv_verifycbk()`).
#[derive(Debug)]
enum NoSni {
    Fixed(ServerName<'static>),
    Chain {
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
        let (fixed, chain) = match &self.host {
            HostCheck::Sent => (None, None),
            HostCheck::Evaluated { .. } if matches!(server_name, ServerName::DnsName(_)) => {
                (None, None)
            }
            HostCheck::Fixed(name)
            | HostCheck::Evaluated {
                fallback: NoSni::Fixed(name),
            } => (Some(name), None),
            HostCheck::None { roots, provider }
            | HostCheck::Evaluated {
                fallback: NoSni::Chain { roots, provider },
            } => (None, Some((roots, provider))),
        };
        if let Some((roots, provider)) = chain {
            let cert = ParsedCertificate::try_from(end_entity)?;
            rustls::client::verify_server_cert_signed_by_trust_anchor(
                &cert,
                roots,
                intermediates,
                now,
                provider.signature_verification_algorithms.all,
            )?;
            return Ok(ServerCertVerified::assertion());
        }
        self.inner.verify_server_cert(
            end_entity,
            intermediates,
            fixed.unwrap_or(server_name),
            ocsp_response,
            now,
        )
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
