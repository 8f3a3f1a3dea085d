//! OpenSSL's names for what rustls negotiates: the words of `ciphers`,
//! `ciphersuites`, `curves` and `ssl-min-ver` in haproxy.cfg, and the values
//! of `ssl_fc_protocol` and `ssl_fc_cipher` (HAProxy reports OpenSSL's names).

use rustls::crypto::SupportedKxGroup;
use rustls::crypto::ring::{cipher_suite, kx_group};
use rustls::{CipherSuite, ProtocolVersion, SupportedCipherSuite};

/// A TLS version the gateway can speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// `TLSv1.2`.
    Tls12,
    /// `TLSv1.3`.
    Tls13,
}

impl TlsVersion {
    /// Reads an `ssl-min-ver` / `ssl-max-ver` word; the error says why.
    pub(crate) fn parse(word: &str) -> Result<Self, String> {
        match word {
            "TLSv1.2" => Ok(Self::Tls12),
            "TLSv1.3" => Ok(Self::Tls13),
            "SSLv3" | "TLSv1.0" | "TLSv1.1" => Err(format!(
                "'{word}' is not supported by the gateway (its TLS library, rustls, speaks TLSv1.2 and TLSv1.3 only)"
            )),
            other => Err(format!(
                "unknown version '{other}' (expects SSLv3, TLSv1.0, TLSv1.1, TLSv1.2 or TLSv1.3)"
            )),
        }
    }

    /// The rustls version.
    pub(crate) fn rustls(self) -> &'static rustls::SupportedProtocolVersion {
        match self {
            Self::Tls12 => &rustls::version::TLS12,
            Self::Tls13 => &rustls::version::TLS13,
        }
    }
}

/// `ssl_fc_protocol`: OpenSSL's name of a negotiated version.
pub(crate) fn protocol_name(v: ProtocolVersion) -> &'static str {
    match v {
        ProtocolVersion::TLSv1_3 => "TLSv1.3",
        ProtocolVersion::TLSv1_2 => "TLSv1.2",
        ProtocolVersion::TLSv1_1 => "TLSv1.1",
        ProtocolVersion::TLSv1_0 => "TLSv1",
        _ => "unknown",
    }
}

/// Every suite the gateway implements, with OpenSSL's name (TLS 1.3 suites
/// have one name in both worlds).
const SUITES: &[(&str, SupportedCipherSuite)] = &[
    (
        "TLS_AES_256_GCM_SHA384",
        cipher_suite::TLS13_AES_256_GCM_SHA384,
    ),
    (
        "TLS_AES_128_GCM_SHA256",
        cipher_suite::TLS13_AES_128_GCM_SHA256,
    ),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// `ssl_fc_cipher`: OpenSSL's name of a negotiated suite.
pub(crate) fn cipher_name(suite: CipherSuite) -> &'static str {
    SUITES
        .iter()
        .find(|(_, s)| s.suite() == suite)
        .map_or("unknown", |(name, _)| name)
}

/// Which list a suite belongs to: `ciphersuites` (TLS 1.3) or `ciphers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SuiteList {
    /// `ciphers` / `ssl-default-bind-ciphers`: TLS 1.2 and below.
    Tls12,
    /// `ciphersuites` / `ssl-default-bind-ciphersuites`: TLS 1.3.
    Tls13,
}

/// A cipher list read: the suites the gateway will offer, and the names it
/// left out because rustls does not implement them (a warning for each).
#[derive(Debug, Default)]
pub(crate) struct ParsedSuites {
    pub(crate) suites: Vec<SupportedCipherSuite>,
    pub(crate) left_out: Vec<String>,
}

/// Reads a colon-separated list of OpenSSL suite names. OpenSSL's cipher
/// string operators (`!`, `+`, `-`, `@`, keywords such as `HIGH`) are an
/// error: the gateway takes explicit names only. An empty result is an
/// error too (OpenSSL's "no cipher match").
pub(crate) fn parse_suites(text: &str, list: SuiteList) -> Result<ParsedSuites, String> {
    let mut out = ParsedSuites::default();
    for name in text.split(':').filter(|n| !n.is_empty()) {
        if name.starts_with(['!', '+', '-', '@'])
            || name.contains('+')
            || name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
                && !name.contains('_')
                && !name.contains('-')
        {
            return Err(format!(
                "'{name}': the gateway takes explicit OpenSSL cipher names only (no cipher-string keywords or operators)"
            ));
        }
        let tls13 = name.starts_with("TLS_");
        if tls13 != (list == SuiteList::Tls13) {
            return Err(match list {
                SuiteList::Tls13 => {
                    format!("'{name}' is not a TLSv1.3 suite (TLSv1.2 ciphers go to 'ciphers')")
                }
                SuiteList::Tls12 => {
                    format!("'{name}' is a TLSv1.3 suite (it goes to 'ciphersuites')")
                }
            });
        }
        match SUITES.iter().find(|(n, _)| *n == name) {
            Some((_, s)) => {
                if !out.suites.contains(s) {
                    out.suites.push(*s);
                }
            }
            None => out.left_out.push(name.to_owned()),
        }
    }
    if out.suites.is_empty() {
        return Err(format!(
            "no cipher match in '{text}' (the gateway implements {})",
            SUITES
                .iter()
                .filter(|(n, _)| n.starts_with("TLS_") == (list == SuiteList::Tls13))
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(":")
        ));
    }
    Ok(out)
}

/// Reads a `curves` list (`X25519:P-256`).
pub(crate) fn parse_curves(text: &str) -> Result<Vec<&'static dyn SupportedKxGroup>, String> {
    let mut out: Vec<&'static dyn SupportedKxGroup> = Vec::new();
    for name in text.split(':').filter(|n| !n.is_empty()) {
        let group = match name {
            "X25519" | "x25519" => kx_group::X25519,
            "P-256" | "prime256v1" | "secp256r1" => kx_group::SECP256R1,
            "P-384" | "secp384r1" => kx_group::SECP384R1,
            other => {
                return Err(format!(
                    "unknown or unsupported curve '{other}' (the gateway implements X25519, P-256 and P-384)"
                ));
            }
        };
        if !out.iter().any(|g| g.name() == group.name()) {
            out.push(group);
        }
    }
    if out.is_empty() {
        return Err("empty curve list".to_owned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_names_both_ways() {
        let parsed = parse_suites(
            "ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256",
            SuiteList::Tls12,
        )
        .unwrap();
        assert_eq!(parsed.suites.len(), 1);
        assert_eq!(parsed.left_out, ["DHE-RSA-AES128-GCM-SHA256"]);
        assert_eq!(
            cipher_name(parsed.suites[0].suite()),
            "ECDHE-RSA-AES128-GCM-SHA256"
        );
        assert!(parse_suites("HIGH:!aNULL", SuiteList::Tls12).is_err());
        assert!(parse_suites("TLS_AES_128_GCM_SHA256", SuiteList::Tls12).is_err());
        assert!(parse_suites("DHE-RSA-AES128-GCM-SHA256", SuiteList::Tls12).is_err());
        assert_eq!(
            parse_suites("TLS_AES_128_GCM_SHA256", SuiteList::Tls13)
                .unwrap()
                .suites
                .len(),
            1
        );
        assert_eq!(parse_curves("X25519:P-256").unwrap().len(), 2);
        assert!(parse_curves("brainpoolP256r1").is_err());
        assert_eq!(TlsVersion::parse("TLSv1.3"), Ok(TlsVersion::Tls13));
        assert!(
            TlsVersion::parse("TLSv1.0")
                .unwrap_err()
                .contains("not supported")
        );
        assert_eq!(protocol_name(ProtocolVersion::TLSv1_2), "TLSv1.2");
    }
}
