//! OpenSSL's names for what rustls negotiates: the words of `ciphers` (through
//! `cipher_string`), `ciphersuites`, `curves` and `ssl-min-ver` in haproxy.cfg, and the values
//! of `ssl_fc_protocol` and `ssl_fc_cipher` (HAProxy reports OpenSSL's names).

use rustls::crypto::SupportedKxGroup;
use rustls::crypto::ring::{cipher_suite, kx_group};
use rustls::{CipherSuite, ProtocolVersion, SupportedCipherSuite};

use super::cipher_string;

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

/// A cipher list read: the suites the gateway will offer (in OpenSSL's order), and the names
/// OpenSSL would also offer that rustls does not implement (a warning).
#[derive(Debug, Default)]
pub(crate) struct ParsedSuites {
    pub(crate) suites: Vec<SupportedCipherSuite>,
    pub(crate) left_out: Vec<&'static str>,
}

impl ParsedSuites {
    /// The warning for the suites left out, if any: `what` names the setting.
    pub(crate) fn left_out_warning(&self) -> Option<String> {
        const SHOWN: usize = 6;
        let n = self.left_out.len();
        if n == 0 {
            return None;
        }
        let mut names = self.left_out[..n.min(SHOWN)].join(", ");
        if n > SHOWN {
            names.push_str(&format!(" and {} more", n - SHOWN));
        }
        Some(format!(
            "{n} of the suites OpenSSL selects are not implemented by the gateway's TLS library (rustls): {names}; a client offering only those cannot connect"
        ))
    }
}

/// The lowest key length OpenSSL's security level `n` lets a suite have.
fn seclevel_bits(n: u8) -> u16 {
    [0, 80, 112, 128, 192, 256][usize::from(n.min(5))]
}

/// Reads a `ciphers` string (OpenSSL's cipher-string language, evaluated as OpenSSL 3 does:
/// [`cipher_string`]) or a `ciphersuites` list, and keeps the suites rustls implements, in
/// OpenSSL's order. Errors: OpenSSL's (an invalid command, "no cipher match"), a string that
/// selects only suites rustls lacks, and `@SECLEVEL` 3 to 5 (their key-size rules for
/// certificates are not enforced).
pub(crate) fn parse_suites(text: &str, list: SuiteList) -> Result<ParsedSuites, String> {
    let (names, seclevel): (Vec<&'static str>, Option<u8>) = match list {
        SuiteList::Tls12 => {
            let l = cipher_string::evaluate(text)
                .map_err(|e| format!("unable to set SSL cipher list to '{text}' ({e})"))?;
            (l.suites.iter().map(|s| s.name).collect(), l.seclevel)
        }
        SuiteList::Tls13 => (
            cipher_string::tls13_suites(text)
                .map_err(|e| format!("unable to set TLS 1.3 cipher suites to '{text}' ({e})"))?,
            None,
        ),
    };
    if let Some(level @ 3..) = seclevel {
        return Err(format!(
            "'@SECLEVEL={level}' is not supported by the gateway (it does not enforce the key sizes of security levels above 2)"
        ));
    }
    let min_bits = seclevel.map_or(0, seclevel_bits);
    let mut out = ParsedSuites::default();
    for name in names {
        match SUITES.iter().find(|(n, _)| *n == name) {
            Some((_, s)) if suite_bits(*s) >= min_bits => {
                if !out.suites.contains(s) {
                    out.suites.push(*s);
                }
            }
            Some(_) => {}
            None => out.left_out.push(name),
        }
    }
    if out.suites.is_empty() && !out.left_out.is_empty() {
        return Err(format!(
            "'{text}' selects only suites the gateway's TLS library (rustls) does not implement (it implements {})",
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

/// The key length of a suite the gateway implements.
fn suite_bits(s: SupportedCipherSuite) -> u16 {
    match s.suite() {
        CipherSuite::TLS13_AES_128_GCM_SHA256
        | CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        | CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => 128,
        _ => 256,
    }
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
        assert!(
            parsed
                .left_out_warning()
                .unwrap()
                .starts_with("1 of the suites")
        );
        // Expressions, in OpenSSL's order.
        let high = parse_suites(
            "ECDH+AESGCM:ECDH+CHACHA20:!aNULL:!MD5:!DSS",
            SuiteList::Tls12,
        )
        .unwrap();
        let names: Vec<_> = high.suites.iter().map(|s| cipher_name(s.suite())).collect();
        assert_eq!(
            names,
            [
                "ECDHE-ECDSA-AES256-GCM-SHA384",
                "ECDHE-RSA-AES256-GCM-SHA384",
                "ECDHE-ECDSA-AES128-GCM-SHA256",
                "ECDHE-RSA-AES128-GCM-SHA256",
                "ECDHE-ECDSA-CHACHA20-POLY1305",
                "ECDHE-RSA-CHACHA20-POLY1305",
            ]
        );
        assert_eq!(
            parse_suites("HIGH:@SECLEVEL=2", SuiteList::Tls12)
                .unwrap()
                .suites
                .len(),
            6
        );
        assert!(
            parse_suites("HIGH:@SECLEVEL=4", SuiteList::Tls12)
                .unwrap_err()
                .contains("SECLEVEL=4")
        );
        assert!(
            parse_suites("PROFILE=SYSTEM", SuiteList::Tls12)
                .unwrap_err()
                .contains("no cipher match")
        );
        assert!(parse_suites("TLS_AES_128_GCM_SHA256", SuiteList::Tls12).is_err());
        assert!(
            parse_suites("DHE-RSA-AES128-GCM-SHA256", SuiteList::Tls12)
                .unwrap_err()
                .contains("does not implement")
        );
        assert_eq!(
            parse_suites("TLS_AES_128_GCM_SHA256", SuiteList::Tls13)
                .unwrap()
                .suites
                .len(),
            1
        );
        assert!(parse_suites("TLS_AES_128_CCM_SHA256", SuiteList::Tls13).is_err());
        assert!(
            parse_suites("", SuiteList::Tls13)
                .unwrap()
                .suites
                .is_empty()
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
