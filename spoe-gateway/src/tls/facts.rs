//! What a TLS handshake established, read from rustls into `spoe-http`'s
//! [`TlsFacts`] (the `ssl_fc_*` and `ssl_c_*` fetches read them there), with
//! OpenSSL's names and forms, as HAProxy gives them.

use bytes::Bytes;
use rustls::ServerConnection;
use rustls_pki_types::CertificateDer;
use spoe_http::{ClientCert, TlsFacts};

use super::names;

/// The facts of a finished handshake. A client certificate that does not
/// verify aborts the handshake (as in HAProxy), so `ssl_c_verify` is 0.
pub fn of(conn: &ServerConnection) -> TlsFacts {
    let mut facts = TlsFacts::default();
    facts.sni = conn.server_name().map(str::to_owned);
    facts.protocol = conn
        .protocol_version()
        .map(|v| names::protocol_name(v).into());
    facts.cipher = conn
        .negotiated_cipher_suite()
        .map(|s| names::cipher_name(s.suite()).into());
    facts.alpn = conn.alpn_protocol().map(Bytes::copy_from_slice);
    facts.resumed = conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    facts.client_cert = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(client_cert)
        .map(Box::new);
    facts
}

/// A client certificate's fields (`None` when it does not parse, which a
/// verified certificate always does).
fn client_cert(der: &CertificateDer<'_>) -> Option<ClientCert> {
    use x509_parser::prelude::*;
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let mut c = ClientCert::default();
    c.subject = dn_entries(cert.subject());
    c.issuer = dn_entries(cert.issuer());
    c.subject_dn = spoe_http::dn_oneline(&c.subject);
    c.issuer_dn = spoe_http::dn_oneline(&c.issuer);
    c.serial = Bytes::copy_from_slice(cert.raw_serial());
    c.sha1 = Bytes::copy_from_slice(
        ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der).as_ref(),
    );
    c.der = Bytes::copy_from_slice(der);
    c.version = cert.version().0 + 1;
    Some(c)
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
