//! The attributes of a suite in OpenSSL's table, which its cipher-string aliases select on.

/// A key exchange (OpenSSL's `Kx=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kx {
    Rsa,
    Ecdhe,
    Dhe,
    Psk,
    RsaPsk,
    DhePsk,
    EcdhePsk,
    Srp,
}

/// An authentication (`Au=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Auth {
    Rsa,
    Ecdsa,
    Dss,
    Null,
    Psk,
    Srp,
}

/// A bulk cipher (`Enc=`), its key length apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Enc {
    AesCbc,
    AesGcm,
    AesCcm,
    AesCcm8,
    AriaGcm,
    CamelliaCbc,
    Chacha20Poly1305,
    Null,
}

/// A MAC (`Mac=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mac {
    Md5,
    Sha1,
    Sha256,
    Sha384,
    Aead,
}

/// The oldest protocol version a suite exists in (what `SSLv3`, `TLSv1`, `TLSv1.2` select).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MinVersion {
    Ssl3,
    Tls1,
    Tls12,
}

/// One suite of OpenSSL's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Suite {
    /// OpenSSL's name.
    pub(crate) name: &'static str,
    /// The IANA number.
    pub(crate) id: u16,
    pub(crate) version: MinVersion,
    pub(crate) kx: Kx,
    pub(crate) auth: Auth,
    pub(crate) enc: Enc,
    /// The key length (what `@STRENGTH` sorts by).
    pub(crate) bits: u16,
    pub(crate) mac: Mac,
    /// Selected by `FIPS`.
    pub(crate) fips: bool,
    /// Selected by `COMPLEMENTOFDEFAULT` (left out of `DEFAULT`).
    pub(crate) not_default: bool,
}
