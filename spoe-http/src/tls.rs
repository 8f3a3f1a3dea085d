//! The facts of a client connection's TLS session, in the form HAProxy's `ssl_fc_*` and
//! `ssl_c_*` fetches give them. The host's TLS stack (rustls, OpenSSL...) fills them once per
//! connection, after the handshake; the fetches only read them.

use std::borrow::Cow;

use bytes::Bytes;

/// A client connection's TLS session: what `ssl_fc_*` fetches read.
///
/// `#[non_exhaustive]`: build it with [`TlsFacts::default`] and set the fields the TLS stack
/// knows; a field left `None` makes its fetch yield nothing (sent as NULL), as HAProxy's do
/// when OpenSSL has no answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsFacts {
    /// `ssl_fc_sni`: the server name the client sent in its hello.
    pub sni: Option<String>,
    /// `ssl_fc_protocol`: the protocol version as OpenSSL names it (`TLSv1.3`, `TLSv1.2`).
    /// (A `Cow`: a TLS stack names it from a static table, and a connection keeps its facts
    /// all its life: no allocation per connection for a constant.)
    pub protocol: Option<Cow<'static, str>>,
    /// `ssl_fc_cipher`: the cipher suite as OpenSSL names it (`TLS_AES_128_GCM_SHA256`,
    /// `ECDHE-RSA-AES128-GCM-SHA256`).
    pub cipher: Option<Cow<'static, str>>,
    /// `ssl_fc_use_keysize`: the symmetric key size the cipher uses, in bits.
    pub cipher_bits: Option<u32>,
    /// `ssl_fc_alpn`: the protocol ALPN chose (`h2`, `http/1.1`).
    pub alpn: Option<Bytes>,
    /// `ssl_fc_is_resumed`: the session was resumed.
    pub resumed: bool,
    /// `ssl_fc_session_id`: the session id.
    pub session_id: Option<Bytes>,
    /// `ssl_c_*`: the client's certificate, when it presented one (`ssl_c_used`).
    /// Boxed: most connections present none, and every TLS connection keeps its facts
    /// for its whole life (inline, it made them 472 bytes instead of 160).
    pub client_cert: Option<Box<ClientCert>>,
    /// `ssl_c_verify`: the X509 verification result of the client's certificate chain
    /// (OpenSSL's `X509_V_*` code; 0 when verified or when no certificate was asked).
    pub verify: i64,
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

/// A client certificate: what `ssl_c_*` fetches read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientCert {
    /// `ssl_c_s_dn`: the subject's DN in HAProxy's default form (`/C=FR/O=Example/CN=client`).
    pub subject_dn: String,
    /// `ssl_c_i_dn`: the issuer's DN, in the same form.
    pub issuer_dn: String,
    /// The subject's entries in order, with OpenSSL's short names (`("CN", "client")`):
    /// `ssl_c_s_dn(CN)`, `ssl_c_s_dn(OU,2)`, `ssl_c_s_dn(,0,rfc2253)`.
    pub subject: Vec<(String, String)>,
    /// The issuer's entries, likewise.
    pub issuer: Vec<(String, String)>,
    /// `ssl_c_serial`: the serial number's bytes (a binary sample).
    pub serial: Bytes,
    /// `ssl_c_sha1`: the SHA-1 of the certificate's DER (a binary sample).
    pub sha1: Bytes,
    /// `ssl_c_der`: the certificate, DER-encoded.
    pub der: Bytes,
    /// `ssl_c_notbefore`: start of validity as HAProxy prints it (`YYMMDDhhmmss[Z]`).
    pub not_before: String,
    /// `ssl_c_notafter`: end of validity, in the same form.
    pub not_after: String,
    /// `ssl_c_version`: the certificate's version (1 to 3).
    pub version: u32,
    /// `ssl_c_sig_alg`: the signature algorithm's name (`RSA-SHA256`).
    pub sig_alg: Option<String>,
    /// `ssl_c_key_alg`: the public key algorithm's name (`rsaEncryption`).
    pub key_alg: Option<String>,
}
