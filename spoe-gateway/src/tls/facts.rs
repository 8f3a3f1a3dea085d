//! What a TLS handshake established, kept with the connection for the
//! `ssl_fc_*` and `ssl_c_*` fetches (rules, log-format, SPOE arguments).

use rustls::ServerConnection;
use rustls_pki_types::CertificateDer;

use super::names;

/// A client connection's TLS facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFacts {
    /// `ssl_fc_sni`: the server name of the client hello.
    pub sni: Option<String>,
    /// `ssl_fc_protocol`: `TLSv1.3`, `TLSv1.2`.
    pub protocol: &'static str,
    /// `ssl_fc_cipher`: OpenSSL's name of the suite.
    pub cipher: &'static str,
    /// `ssl_fc_alpn`: the protocol ALPN chose.
    pub alpn: Option<Vec<u8>>,
    /// `ssl_fc_is_resumed`.
    pub resumed: bool,
    /// The client's certificate (`ssl_c_*`), when it sent one.
    pub client_cert: Option<ClientCert>,
}

/// The client certificate of a connection: it verified (a certificate that
/// does not aborts the handshake, as in HAProxy), so `ssl_c_verify` is 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// `ssl_c_s_dn`'s entries: (short name, value), in order.
    pub subject: Vec<(String, String)>,
    /// `ssl_c_i_dn`'s entries.
    pub issuer: Vec<(String, String)>,
    /// `ssl_c_serial`: the serial number's bytes.
    pub serial: Vec<u8>,
    /// `ssl_c_der`: the certificate.
    pub der: Vec<u8>,
}

impl TlsFacts {
    /// Reads the facts of a finished handshake.
    pub fn of(conn: &ServerConnection) -> Self {
        Self {
            sni: conn.server_name().map(str::to_owned),
            protocol: conn
                .protocol_version()
                .map_or("unknown", names::protocol_name),
            cipher: conn
                .negotiated_cipher_suite()
                .map_or("unknown", |s| names::cipher_name(s.suite())),
            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
            resumed: conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
            client_cert: conn
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(ClientCert::of),
        }
    }
}

impl ClientCert {
    /// Reads a certificate's fields (`None` when it does not parse, which a
    /// verified certificate always does).
    pub fn of(der: &CertificateDer<'_>) -> Option<Self> {
        use x509_parser::prelude::*;
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        Some(Self {
            subject: dn_entries(cert.subject()),
            issuer: dn_entries(cert.issuer()),
            serial: cert.raw_serial().to_vec(),
            der: der.to_vec(),
        })
    }
}

/// A distinguished name's entries with OpenSSL's short names.
fn dn_entries(name: &x509_parser::x509::X509Name<'_>) -> Vec<(String, String)> {
    name.iter_attributes()
        .map(|attr| {
            let oid = attr.attr_type().to_id_string();
            let short = short_name(&oid).map_or(oid, str::to_owned);
            let value = attr.as_str().map_or_else(
                |_| String::from_utf8_lossy(attr.attr_value().data).into_owned(),
                str::to_owned,
            );
            (short, value)
        })
        .collect()
}

/// OpenSSL's short names of the usual name attributes (others print as
/// their dotted OID, as OpenSSL prints an unknown one).
fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.5" => "serialNumber",
        "2.5.4.4" => "SN",
        "2.5.4.42" => "GN",
        "2.5.4.12" => "title",
        "2.5.4.9" => "street",
        "2.5.4.17" => "postalCode",
        "1.2.840.113549.1.9.1" => "emailAddress",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

/// HAProxy's one-line form of a DN (`ssl_c_s_dn` without arguments):
/// `/C=FR/O=Example/CN=client`.
pub fn dn_oneline(entries: &[(String, String)]) -> String {
    let mut out = String::new();
    for (k, v) in entries {
        out.push('/');
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// The LDAP form of a DN (`ssl_c_s_dn(,0,rfc2253)`): last entry first,
/// comma-separated, special characters escaped.
pub fn dn_rfc2253(entries: &[(String, String)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in entries.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push('=');
        for (j, c) in v.chars().enumerate() {
            let leading = j == 0 && (c == '#' || c == ' ');
            let trailing = j + 1 == v.chars().count() && c == ' ';
            if leading || trailing || matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=') {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out
}

/// `ssl_c_s_dn(ENTRY[,OCC])`: the value of the OCC-th entry named ENTRY
/// (1 is the first, -1 the last; 0 or absent: the first, as HAProxy's).
pub fn dn_entry<'a>(entries: &'a [(String, String)], entry: &str, occ: i64) -> Option<&'a str> {
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

/// `ssl_c_sha1`: the SHA-1 fingerprint of a DER certificate.
pub fn sha1(der: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der)
        .as_ref()
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dn_as_haproxy_writes_it() {
        let dn = vec![
            ("C".to_owned(), "FR".to_owned()),
            ("OU".to_owned(), "a".to_owned()),
            ("OU".to_owned(), "b".to_owned()),
            ("CN".to_owned(), "client".to_owned()),
        ];
        assert_eq!(dn_oneline(&dn), "/C=FR/OU=a/OU=b/CN=client");
        assert_eq!(dn_entry(&dn, "CN", 0), Some("client"));
        assert_eq!(dn_entry(&dn, "OU", 0), Some("a"));
        assert_eq!(dn_rfc2253(&dn), "CN=client,OU=b,OU=a,C=FR");
        assert_eq!(dn_entry(&dn, "ou", 1), Some("a"));
        assert_eq!(dn_entry(&dn, "OU", -1), Some("b"));
        assert_eq!(dn_entry(&dn, "OU", 3), None);
    }
}
