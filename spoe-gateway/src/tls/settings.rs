//! What the configuration says about TLS on a `bind` line, before any file
//! is read: the values of HAProxy's keywords, layered as HAProxy layers them
//! (`ssl-default-bind-*` in `global`, then the `bind` line, then a
//! `crt-list` line's `[...]` for its certificate).

use std::path::PathBuf;
use std::sync::Arc;

use rustls::SupportedCipherSuite;
use rustls::crypto::{CryptoProvider, SupportedKxGroup};

use super::names::TlsVersion;

/// `verify none|optional|required`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verify {
    /// No client certificate is asked for (HAProxy's default).
    #[default]
    None,
    /// A client certificate is asked for; one that is presented must verify.
    Optional,
    /// A client certificate must be presented, and verify.
    Required,
}

impl Verify {
    /// Reads `none`, `optional` or `required`.
    pub(crate) fn parse(word: &str) -> Option<Self> {
        match word {
            "none" => Some(Self::None),
            "optional" => Some(Self::Optional),
            "required" => Some(Self::Required),
            _ => None,
        }
    }
}

/// TLS settings; `None` (or `false`) leaves the value to the layer below.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// `alpn LIST`, in preference order.
    pub alpn: Option<Vec<Vec<u8>>>,
    /// `ssl-min-ver` (TLSv1.2 when unset, as HAProxy's default).
    pub min_ver: Option<TlsVersion>,
    /// `ssl-max-ver`.
    pub max_ver: Option<TlsVersion>,
    /// `no-tlsv12` / `no-tlsv13`: versions turned off.
    pub no_tls12: bool,
    /// `no-tlsv13`.
    pub no_tls13: bool,
    /// `ciphers` (TLS 1.2 suites, in preference order).
    pub ciphers: Option<Vec<SupportedCipherSuite>>,
    /// `ciphersuites` (TLS 1.3 suites).
    pub ciphersuites: Option<Vec<SupportedCipherSuite>>,
    /// `curves`.
    pub curves: Option<Vec<&'static dyn SupportedKxGroup>>,
    /// `ecdhe`: the curves when `curves` (of the line or `ssl-default-bind-curves`) is not set.
    pub ecdhe: Option<Vec<&'static dyn SupportedKxGroup>>,
    /// `ca-file` (resolved against `ca-base`): the CAs client certificates
    /// are verified with.
    pub ca_file: Option<PathBuf>,
    /// `crl-file` (resolved against `ca-base`): certificates it revokes are refused.
    pub crl_file: Option<PathBuf>,
    /// `verify`.
    pub verify: Option<Verify>,
    /// `no-tls-tickets`: no stateless session tickets.
    pub no_tls_tickets: bool,
    /// `prefer-client-ciphers`: the client's order of suites wins (the
    /// server's does otherwise, as HAProxy's).
    pub prefer_client_ciphers: bool,
}

impl TlsOptions {
    /// These settings over `below`: each value set here wins.
    pub(crate) fn over(&self, below: &Self) -> Self {
        Self {
            alpn: self.alpn.clone().or_else(|| below.alpn.clone()),
            min_ver: self.min_ver.or(below.min_ver),
            max_ver: self.max_ver.or(below.max_ver),
            no_tls12: self.no_tls12 || below.no_tls12,
            no_tls13: self.no_tls13 || below.no_tls13,
            ciphers: self.ciphers.clone().or_else(|| below.ciphers.clone()),
            ciphersuites: self
                .ciphersuites
                .clone()
                .or_else(|| below.ciphersuites.clone()),
            curves: self.curves.clone().or_else(|| below.curves.clone()),
            ecdhe: self.ecdhe.clone().or_else(|| below.ecdhe.clone()),
            ca_file: self.ca_file.clone().or_else(|| below.ca_file.clone()),
            crl_file: self.crl_file.clone().or_else(|| below.crl_file.clone()),
            verify: self.verify.or(below.verify),
            no_tls_tickets: self.no_tls_tickets || below.no_tls_tickets,
            prefer_client_ciphers: self.prefer_client_ciphers || below.prefer_client_ciphers,
        }
    }

    /// The crypto provider with these settings' suites and groups. ring, not
    /// aws-lc-rs: see bench/README.md, "TLS" (the post-quantum group it lacks
    /// is not offered by HAProxy 2.6 with OpenSSL 3.0 either).
    pub(crate) fn provider(&self) -> Arc<CryptoProvider> {
        #[allow(deprecated)]
        let mut provider = rustls::crypto::ring::default_provider();
        if self.ciphers.is_some() || self.ciphersuites.is_some() {
            let (default13, default12): (Vec<_>, Vec<_>) = provider
                .cipher_suites
                .iter()
                .copied()
                .partition(|s| s.tls13().is_some());
            let mut suites = self.ciphersuites.clone().unwrap_or(default13);
            suites.extend(self.ciphers.clone().unwrap_or(default12));
            provider.cipher_suites = suites;
        }
        if let Some(curves) = self.curves.as_ref().or(self.ecdhe.as_ref()) {
            provider.kx_groups.clone_from(curves);
        }
        Arc::new(provider)
    }

    /// The versions these settings allow, as rustls names them; `None` when
    /// none is left.
    pub(crate) fn rustls_versions(&self) -> Option<Vec<&'static rustls::SupportedProtocolVersion>> {
        let versions: Vec<_> = self.versions().into_iter().map(|v| v.rustls()).collect();
        (!versions.is_empty()).then_some(versions)
    }

    /// The versions these settings allow, oldest first.
    pub(crate) fn versions(&self) -> Vec<TlsVersion> {
        let min = self.min_ver.unwrap_or(TlsVersion::Tls12);
        let max = self.max_ver.unwrap_or(TlsVersion::Tls13);
        [TlsVersion::Tls12, TlsVersion::Tls13]
            .into_iter()
            .filter(|v| *v >= min && *v <= max)
            .filter(|v| !(*v == TlsVersion::Tls12 && self.no_tls12))
            .filter(|v| !(*v == TlsVersion::Tls13 && self.no_tls13))
            // `ciphersuites ""`: no TLS 1.3 suite, so no TLS 1.3 (as OpenSSL).
            .filter(|v| {
                !(*v == TlsVersion::Tls13 && self.ciphersuites.as_ref().is_some_and(Vec::is_empty))
            })
            .collect()
    }
}

/// One SNI filter of a `crt-list` line: `name`, `*.domain` or `!name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SniFilter {
    /// `!`: the name is excluded for this certificate.
    pub negative: bool,
    /// The name, lowercase; `*.` first for a wildcard.
    pub name: String,
}

/// A certificate source of a `bind` line, in declaration order.
#[derive(Debug, Clone)]
pub struct CrtSpec {
    /// The PEM file or directory (resolved against `crt-base`).
    pub path: PathBuf,
    /// `crt-list` SNI filters; empty: the certificate's own names.
    pub filters: Vec<SniFilter>,
    /// A `crt-list` line's `[...]` settings.
    pub options: Option<TlsOptions>,
    /// Where it was named (for messages): `file:line:col`.
    pub origin: spoe::config::Span,
}

/// The TLS half of a `bind` line, as written.
#[derive(Debug, Clone, Default)]
pub struct BindTlsSpec {
    /// `crt` and `crt-list` entries, in order: the first is the default.
    pub certs: Vec<CrtSpec>,
    /// The line's settings, over `ssl-default-bind-*`.
    pub options: TlsOptions,
    /// `strict-sni`: no default certificate; a hello whose SNI matches none
    /// is refused.
    pub strict_sni: bool,
    /// `tune.ssl.cachesize`, `tune.ssl.maxrecord`, `tune.ssl.hard-maxrecord` (`global`).
    pub tunes: TlsTunes,
}

/// The `global` section's `tune.ssl.*` settings the listeners' TLS takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsTunes {
    /// `tune.ssl.cachesize` (20000 by default): sessions each listener's cache keeps for
    /// resumption by session ID; 0: none.
    pub session_cache: usize,
    /// `tune.ssl.maxrecord` or `tune.ssl.hard-maxrecord`: the most plaintext bytes a TLS record
    /// carries (`None`: 16 KiB, TLS's own bound).
    pub max_record: Option<usize>,
}

impl Default for TlsTunes {
    fn default() -> Self {
        Self {
            session_cache: 20_000,
            max_record: None,
        }
    }
}
