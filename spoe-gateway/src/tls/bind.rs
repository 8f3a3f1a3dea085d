//! A `bind ... ssl` line made ready to serve: one rustls configuration per
//! certificate (a `crt-list` line may set its own ALPN, versions, ciphers
//! and client verification), and HAProxy's choice of certificate for a
//! client hello: the SNI's exact name, else its wildcard, else the first
//! certificate declared (none with `strict-sni`). Among certificates for the
//! same name, the first one whose key the client can verify wins (an ECDSA
//! and an RSA certificate side by side).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use rustls::server::danger::ClientCertVerifier;
use rustls::server::{
    ClientHello, NoServerSessionStorage, ProducesTickets, ResolvesServerCert,
    ServerSessionMemoryCache, StoresServerSessions, WebPkiClientVerifier,
};
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, SignatureScheme};

use super::certs::{self, CertError, LoadedCert};
use super::settings::{BindTlsSpec, SniFilter, TlsOptions, Verify};

/// A TLS setting that cannot be served; the text says which and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsConfigError {
    /// A certificate or CA file.
    #[error(transparent)]
    Cert(#[from] CertError),
    /// `ssl` without any certificate.
    #[error("no certificate configured ('ssl' needs 'crt' or 'crt-list')")]
    NoCertificate,
    /// `verify optional|required` without `ca-file`.
    #[error("verify is enabled but no CA file specified ('ca-file')")]
    VerifyWithoutCa,
    /// `server ... ssl` verifying (the default) without `ca-file`:
    /// HAProxy's message.
    #[error(
        "verify is enabled by default but no CA file specified. If you're running on a LAN where you're certain to trust the server's certificate, please set an explicit 'verify none' statement on the 'server' line"
    )]
    ServerVerifyWithoutCa,
    /// The versions left by `ssl-min-ver`, `ssl-max-ver` and `no-tlsv1x`.
    #[error("no TLS version left to serve (the gateway speaks TLSv1.2 and TLSv1.3)")]
    NoVersion,
    /// rustls refused the combination.
    #[error("{0}")]
    Rustls(String),
}

/// One certificate of a bind, with its configuration and the names it answers.
#[derive(Debug)]
struct Entry {
    cert: LoadedCert,
    config: Arc<ServerConfig>,
    /// Names looked up (exact or `*.domain`), lowercase.
    names: Vec<String>,
    /// `!name` filters; `*` excludes every name.
    excluded: Vec<String>,
}

impl Entry {
    fn answers(&self, name: &str, wildcard: bool) -> bool {
        let found = if wildcard {
            name.split_once('.').is_some_and(|(_, rest)| {
                self.names
                    .iter()
                    .any(|n| n.strip_prefix("*.") == Some(rest))
            })
        } else {
            self.names.iter().any(|n| n == name)
        };
        found && !self.excluded.iter().any(|e| e == "*" || e == name)
    }
}

/// The TLS side of a listener.
#[derive(Debug)]
pub struct TlsBind {
    entries: Vec<Entry>,
    strict_sni: bool,
}

/// What loading a bind's TLS found worth a warning (`spoe check` prints them).
#[derive(Debug, Default)]
pub struct LoadWarnings {
    /// Certificates whose `notAfter` has passed.
    pub expired: Vec<PathBuf>,
}

impl TlsBind {
    /// Reads every certificate and CA file `spec` names (over `defaults`,
    /// the `ssl-default-bind-*` settings) and builds the configurations.
    pub fn load(
        spec: &BindTlsSpec,
        defaults: &TlsOptions,
        warnings: &mut LoadWarnings,
    ) -> Result<Self, TlsConfigError> {
        let bind_options = spec.options.over(defaults);
        let ticketer = rustls::crypto::ring::Ticketer::new()
            .map_err(|e| TlsConfigError::Rustls(e.to_string()))?;
        let cache: Arc<dyn StoresServerSessions> = match spec.tunes.session_cache {
            0 => Arc::new(NoServerSessionStorage {}),
            n => ServerSessionMemoryCache::new(n),
        };
        let now = SystemTime::now();
        let mut entries = Vec::new();
        for crt in &spec.certs {
            let options = match &crt.options {
                Some(o) => o.over(&bind_options),
                None => bind_options.clone(),
            };
            for file in certs::expand(&crt.path)? {
                let cert = certs::load_pem(&file)?;
                if cert.expired(now) {
                    warnings.expired.push(file.clone());
                }
                let mut config = server_config(&cert.key, &options, &ticketer, &cache)?;
                config.max_fragment_size = spec.tunes.max_record;
                let (names, excluded) = names(&cert, &crt.filters);
                entries.push(Entry {
                    cert,
                    config: Arc::new(config),
                    names,
                    excluded,
                });
            }
        }
        if entries.is_empty() {
            return Err(TlsConfigError::NoCertificate);
        }
        Ok(Self {
            entries,
            strict_sni: spec.strict_sni,
        })
    }

    /// The configuration for a client hello; `None`: refuse it (`strict-sni`
    /// and no certificate for its name).
    pub fn select(&self, hello: &ClientHello<'_>) -> Option<Arc<ServerConfig>> {
        self.select_for(hello.server_name(), hello.signature_schemes())
            .map(|e| e.config.clone())
    }

    fn select_for(&self, sni: Option<&str>, schemes: &[SignatureScheme]) -> Option<&Entry> {
        if let Some(sni) = sni {
            let sni = sni.to_ascii_lowercase();
            for wildcard in [false, true] {
                let mut matching = self.entries.iter().filter(|e| e.answers(&sni, wildcard));
                let first = matching.clone().next();
                if let Some(e) = matching.find(|e| e.cert.key.key.choose_scheme(schemes).is_some())
                {
                    return Some(e);
                }
                if first.is_some() {
                    return first;
                }
            }
        }
        if self.strict_sni {
            return None;
        }
        self.entries.first()
    }

    /// The path of the certificate chosen for `sni` (tests, `spoe check`).
    pub fn certificate_for(&self, sni: Option<&str>) -> Option<&std::path::Path> {
        let all = [
            SignatureScheme::ECDSA_NISTP256_SHA256,
            SignatureScheme::ECDSA_NISTP384_SHA384,
            SignatureScheme::ED25519,
            SignatureScheme::RSA_PSS_SHA256,
            SignatureScheme::RSA_PKCS1_SHA256,
        ];
        self.select_for(sni, &all).map(|e| e.cert.path.as_path())
    }
}

/// The names an entry answers and the names it refuses: its `crt-list`
/// filters, or the certificate's own names when it has no positive filter.
fn names(cert: &LoadedCert, filters: &[SniFilter]) -> (Vec<String>, Vec<String>) {
    let positive: Vec<String> = filters
        .iter()
        .filter(|f| !f.negative)
        .map(|f| f.name.clone())
        .collect();
    let excluded = filters
        .iter()
        .filter(|f| f.negative)
        .map(|f| f.name.clone())
        .collect();
    let names = if positive.is_empty() {
        cert.names.clone()
    } else {
        positive
    };
    (names, excluded)
}

/// The one certificate of an entry, whatever the hello asks.
#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

fn server_config(
    key: &Arc<CertifiedKey>,
    options: &TlsOptions,
    ticketer: &Arc<dyn ProducesTickets>,
    cache: &Arc<dyn StoresServerSessions>,
) -> Result<ServerConfig, TlsConfigError> {
    let provider = options.provider();
    let versions = options.rustls_versions().ok_or(TlsConfigError::NoVersion)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| TlsConfigError::Rustls(e.to_string()))?;
    let verify = options.verify.unwrap_or_default();
    let builder = if verify == Verify::None {
        builder.with_no_client_auth()
    } else {
        let ca = options
            .ca_file
            .as_ref()
            .ok_or(TlsConfigError::VerifyWithoutCa)?;
        let roots = certs::load_ca(ca)?;
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
        let verifier = match &options.crl_file {
            Some(path) => verifier.with_crls(certs::load_crls(path)?),
            None => verifier,
        };
        let verifier = if verify == Verify::Optional {
            verifier.allow_unauthenticated()
        } else {
            verifier
        };
        let verifier: Arc<dyn ClientCertVerifier> = verifier
            .build()
            .map_err(|e| TlsConfigError::Rustls(e.to_string()))?;
        builder.with_client_cert_verifier(verifier)
    };
    let mut config = builder.with_cert_resolver(Arc::new(Fixed(key.clone())));
    config.alpn_protocols = options.alpn.clone().unwrap_or_default();
    config.ignore_client_order = !options.prefer_client_ciphers;
    config.session_storage = cache.clone();
    if !options.no_tls_tickets {
        config.ticketer = ticketer.clone();
    }
    Ok(config)
}
