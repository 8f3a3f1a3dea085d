//! TLS fetches (`ssl_fc*`, `ssl_c_*`), read from the connection's
//! [`TlsFacts`](crate::TlsFacts). A connection without TLS has no value for any of them but
//! `ssl_fc`, which is false.

use spoe::expr::Sample;

use crate::exchange::Exchange;
use crate::tls::TlsFacts;

fn facts<'a>(x: &Exchange<'a>) -> Option<&'a TlsFacts> {
    x.connection()?.tls.as_deref()
}

/// `ssl_fc`: whether the client connection uses TLS.
pub(super) fn ssl_fc(x: &Exchange<'_>) -> Option<Sample> {
    Some(Sample::Bool(facts(x).is_some()))
}

/// `ssl_fc_sni`: the server name the client sent.
pub(super) fn ssl_fc_sni(x: &Exchange<'_>) -> Option<Sample> {
    facts(x)?.sni.as_deref().map(Sample::from)
}

/// `ssl_fc_has_sni`: whether the client hello named a server.
pub(super) fn ssl_fc_has_sni(x: &Exchange<'_>) -> Option<Sample> {
    Some(Sample::Bool(facts(x)?.sni.is_some()))
}

/// `ssl_fc_protocol`: `TLSv1.3`, `TLSv1.2`.
pub(super) fn ssl_fc_protocol(x: &Exchange<'_>) -> Option<Sample> {
    facts(x)?.protocol.as_deref().map(Sample::from)
}

/// `ssl_fc_cipher`: OpenSSL's name of the suite.
pub(super) fn ssl_fc_cipher(x: &Exchange<'_>) -> Option<Sample> {
    facts(x)?.cipher.as_deref().map(Sample::from)
}

/// `ssl_fc_alpn`: the protocol ALPN chose.
pub(super) fn ssl_fc_alpn(x: &Exchange<'_>) -> Option<Sample> {
    facts(x)?.alpn.clone().map(Sample::Str)
}

/// `ssl_fc_is_resumed`.
pub(super) fn ssl_fc_is_resumed(x: &Exchange<'_>) -> Option<Sample> {
    Some(Sample::Bool(facts(x)?.resumed))
}

/// `ssl_fc_has_crt`: a certificate was sent on this connection (not on a resumed session).
pub(super) fn ssl_fc_has_crt(x: &Exchange<'_>) -> Option<Sample> {
    let f = facts(x)?;
    Some(Sample::Bool(f.client_cert.is_some() && !f.resumed))
}

/// `ssl_c_used`: the session has a client certificate.
pub(super) fn ssl_c_used(x: &Exchange<'_>) -> Option<Sample> {
    Some(Sample::Bool(facts(x)?.client_cert.is_some()))
}

/// `ssl_c_verify`, `ssl_c_err`, `ssl_c_ca_err`: the verification result.
pub(super) fn ssl_c_verify(x: &Exchange<'_>) -> Option<Sample> {
    Some(Sample::Int(facts(x)?.verify))
}

/// Which DN of the client certificate.
#[derive(Debug, Clone, Copy)]
pub(super) enum Dn {
    Subject,
    Issuer,
}

/// `ssl_c_s_dn([entry[,occ[,rfc2253]]])` and `ssl_c_i_dn(...)`.
pub(super) fn ssl_c_dn(
    x: &Exchange<'_>,
    which: Dn,
    entry: Option<&str>,
    occ: Option<i64>,
    rfc2253: bool,
) -> Option<Sample> {
    let cert = facts(x)?.client_cert.as_ref()?;
    let (entries, oneline) = match which {
        Dn::Subject => (&cert.subject, &cert.subject_dn),
        Dn::Issuer => (&cert.issuer, &cert.issuer_dn),
    };
    match entry {
        Some(e) => dn_entry(entries, e, occ.unwrap_or(0)).map(Sample::from),
        None if rfc2253 => Some(Sample::from(dn_rfc2253(entries).as_str())),
        None => Some(Sample::from(oneline.as_str())),
    }
}

/// `ssl_c_serial`.
pub(super) fn ssl_c_serial(x: &Exchange<'_>) -> Option<Sample> {
    Some(Sample::Bin(facts(x)?.client_cert.as_ref()?.serial.clone()))
}

/// `ssl_c_sha1`.
pub(super) fn ssl_c_sha1(x: &Exchange<'_>) -> Option<Sample> {
    Some(Sample::Bin(facts(x)?.client_cert.as_ref()?.sha1.clone()))
}

/// `ssl_c_der`.
pub(super) fn ssl_c_der(x: &Exchange<'_>) -> Option<Sample> {
    Some(Sample::Bin(facts(x)?.client_cert.as_ref()?.der.clone()))
}

/// The LDAP form of a DN (`ssl_c_s_dn(,0,rfc2253)`): last entry first,
/// comma-separated, special characters escaped.
fn dn_rfc2253(entries: &[(String, String)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in entries.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push('=');
        let last = v.chars().count().saturating_sub(1);
        for (j, c) in v.chars().enumerate() {
            let edge = (j == 0 && (c == '#' || c == ' ')) || (j == last && c == ' ');
            if edge || matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=') {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out
}

/// The value of the `occ`-th entry named `entry` (1 the first, -1 the last;
/// 0: the first, as HAProxy's).
fn dn_entry<'a>(entries: &'a [(String, String)], entry: &str, occ: i64) -> Option<&'a str> {
    let values: Vec<&str> = entries
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(entry))
        .map(|(_, v)| v.as_str())
        .collect();
    let n = i64::try_from(values.len()).ok()?;
    let i = match occ {
        0 => 0,
        o if o > 0 => o - 1,
        o => n + o,
    };
    usize::try_from(i).ok().and_then(|i| values.get(i).copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dn_entries_and_forms_as_haproxy_gives_them() {
        let dn: Vec<(String, String)> = [("C", "FR"), ("OU", "a"), ("OU", "b"), ("CN", "client")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        assert_eq!(crate::tls::dn_oneline(&dn), "/C=FR/OU=a/OU=b/CN=client");
        assert_eq!(dn_entry(&dn, "CN", 0), Some("client"));
        assert_eq!(dn_entry(&dn, "ou", 0), Some("a"));
        assert_eq!(dn_entry(&dn, "OU", 2), Some("b"));
        assert_eq!(dn_entry(&dn, "OU", -1), Some("b"));
        assert_eq!(dn_entry(&dn, "OU", 3), None);
        assert_eq!(dn_rfc2253(&dn), "CN=client,OU=b,OU=a,C=FR");
    }
}
