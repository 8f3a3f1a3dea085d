//! OpenSSL's cipher strings (`man 1ssl ciphers`), evaluated as OpenSSL 3 evaluates them: the
//! `ciphers` / `ssl-default-*-ciphers` values of haproxy.cfg (`ECDH+AESGCM:!aNULL:@STRENGTH`),
//! and the TLS 1.3 `ciphersuites` lists.
//!
//! HAProxy hands these strings to OpenSSL, so the suites a listener offers are the ones OpenSSL
//! selects. The gateway runs the same rules over OpenSSL 3's table of suites ([`table`], written
//! from `openssl ciphers` by `table.py`), then keeps the suites its TLS library implements, in
//! OpenSSL's order. A differential test runs `openssl ciphers -v` on a table of real strings and
//! compares every suite and its place.
//!
//! The rules, as OpenSSL applies them: the string is a list of elements separated by `:`, `,`,
//! `;` or spaces; an element is a suite name or an alias (`HIGH`, `ECDHE`, `AESGCM`...), or
//! several joined by `+` (the suites every part selects), prefixed by nothing (add the suites
//! not yet in the list, at its end), `-` (take them out; a later element can add them back),
//! `!` (take them out for good) or `+` (move them to the end); `@STRENGTH` sorts by key length
//! and `@SECLEVEL=N` sets the security level. `DEFAULT` is special at the start only. An unknown
//! name selects nothing; a character outside names and operators is an error.

mod suite;
mod table;

pub(crate) use suite::{Auth, Enc, Kx, Mac, MinVersion, Suite};
use table::TABLE;

// One bit per value of each attribute, as OpenSSL's masks: an alias is a mask per attribute,
// `A+B` the intersection of the masks.
const fn kx_bit(k: Kx) -> u32 {
    1 << k as u32
}
const fn auth_bit(a: Auth) -> u32 {
    1 << a as u32
}
const fn mac_bit(m: Mac) -> u32 {
    1 << m as u32
}
/// Encryption bits: each cipher at each key length; bits 16.. are algorithms OpenSSL 3 knows but
/// no suite of its table uses (3DES, RC4, SEED...): their aliases select nothing.
const fn enc_bit(e: Enc, bits: u16) -> u32 {
    let wide = (bits > 128) as u32;
    match e {
        Enc::Chacha20Poly1305 => 1 << 12,
        Enc::Null => 1 << 13,
        other => 1 << (2 * other as u32 + wide),
    }
}
const ABSENT_ENC: u32 = 1 << 16;
const AES128: u32 = enc_bit(Enc::AesCbc, 128)
    | enc_bit(Enc::AesGcm, 128)
    | enc_bit(Enc::AesCcm, 128)
    | enc_bit(Enc::AesCcm8, 128);
const AES256: u32 = enc_bit(Enc::AesCbc, 256)
    | enc_bit(Enc::AesGcm, 256)
    | enc_bit(Enc::AesCcm, 256)
    | enc_bit(Enc::AesCcm8, 256);
const AESGCM: u32 = enc_bit(Enc::AesGcm, 128) | enc_bit(Enc::AesGcm, 256);
const AESCCM8: u32 = enc_bit(Enc::AesCcm8, 128) | enc_bit(Enc::AesCcm8, 256);
const AESCCM: u32 = enc_bit(Enc::AesCcm, 128) | enc_bit(Enc::AesCcm, 256) | AESCCM8;
const CAMELLIA: u32 = enc_bit(Enc::CamelliaCbc, 128) | enc_bit(Enc::CamelliaCbc, 256);
const ARIA: u32 = enc_bit(Enc::AriaGcm, 128) | enc_bit(Enc::AriaGcm, 256);
const NULL_ENC: u32 = enc_bit(Enc::Null, 0);
const CBC: u32 = enc_bit(Enc::AesCbc, 128) | enc_bit(Enc::AesCbc, 256) | CAMELLIA | ABSENT_ENC;
const PSK: u32 = kx_bit(Kx::Psk) | kx_bit(Kx::RsaPsk) | kx_bit(Kx::DhePsk) | kx_bit(Kx::EcdhePsk);
/// Strength classes (OpenSSL's `algo_strength`): no encryption, `LOW`, `MEDIUM`, `HIGH`, `FIPS`.
const STRONG_NONE: u32 = 1;
const LOW: u32 = 2;
const MEDIUM: u32 = 4;
const HIGH: u32 = 8;
const FIPS: u32 = 16;
/// A key exchange or authentication OpenSSL knows but no suite of its table uses (GOST).
const ABSENT: u32 = 1 << 31;

/// What one element selects: a mask per attribute (0: any), or one suite.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Pattern {
    kx: u32,
    auth: u32,
    enc: u32,
    mac: u32,
    version: Option<MinVersion>,
    strength: u32,
    not_default: bool,
    id: Option<u16>,
}

impl Pattern {
    const fn kx(kx: u32) -> Self {
        Self {
            kx,
            auth: 0,
            enc: 0,
            mac: 0,
            version: None,
            strength: 0,
            not_default: false,
            id: None,
        }
    }
    const fn auth(mut self, auth: u32) -> Self {
        self.auth = auth;
        self
    }
    const fn enc(enc: u32) -> Self {
        let mut p = Self::kx(0);
        p.enc = enc;
        p
    }
    const fn mac(mac: u32) -> Self {
        let mut p = Self::kx(0);
        p.mac = mac;
        p
    }
    const fn strength(strength: u32) -> Self {
        let mut p = Self::kx(0);
        p.strength = strength;
        p
    }
    const fn version(v: MinVersion) -> Self {
        let mut p = Self::kx(0);
        p.version = Some(v);
        p
    }

    /// The pattern of a suite name: itself.
    fn suite(s: &Suite) -> Self {
        Self {
            kx: kx_bit(s.kx),
            auth: auth_bit(s.auth),
            enc: enc_bit(s.enc, s.bits),
            mac: mac_bit(s.mac),
            version: None,
            strength: strength_of(s),
            not_default: s.not_default,
            id: Some(s.id),
        }
    }

    /// `self+other`: `None` when nothing can match both (OpenSSL then skips the element).
    fn and(self, other: Self) -> Option<Self> {
        fn mask(a: u32, b: u32) -> Option<u32> {
            match (a, b) {
                (0, m) | (m, 0) => Some(m),
                (a, b) => Some(a & b).filter(|m| *m != 0),
            }
        }
        let version = match (self.version, other.version) {
            (Some(a), Some(b)) if a != b => return None,
            (a, b) => a.or(b),
        };
        Some(Self {
            kx: mask(self.kx, other.kx)?,
            auth: mask(self.auth, other.auth)?,
            enc: mask(self.enc, other.enc)?,
            mac: mask(self.mac, other.mac)?,
            version,
            strength: mask(self.strength, other.strength)?,
            not_default: self.not_default || other.not_default,
            id: other.id.or(self.id),
        })
    }

    fn matches(&self, s: &Suite) -> bool {
        let hit = |mask: u32, bit: u32| mask == 0 || mask & bit != 0;
        self.id.is_none_or(|id| id == s.id)
            && hit(self.kx, kx_bit(s.kx))
            && hit(self.auth, auth_bit(s.auth))
            && hit(self.enc, enc_bit(s.enc, s.bits))
            && hit(self.mac, mac_bit(s.mac))
            && self.version.is_none_or(|v| v == s.version)
            && hit(self.strength, strength_of(s))
            && (!self.not_default || s.not_default)
    }
}

fn strength_of(s: &Suite) -> u32 {
    let class = if s.enc == Enc::Null {
        STRONG_NONE
    } else {
        HIGH
    };
    class | if s.fips { FIPS } else { 0 }
}

/// OpenSSL 3's aliases (`man 1ssl ciphers`, "CIPHER STRINGS").
fn alias(name: &str) -> Option<Pattern> {
    use Pattern as P;
    let not_anull = !auth_bit(Auth::Null);
    Some(match name {
        "ALL" => P::enc(!NULL_ENC),
        "COMPLEMENTOFALL" | "eNULL" | "NULL" => P::enc(NULL_ENC),
        "COMPLEMENTOFDEFAULT" => P {
            not_default: true,
            ..P::kx(0)
        },
        "kRSA" => P::kx(kx_bit(Kx::Rsa)),
        "kEDH" | "kDHE" | "DH" => P::kx(kx_bit(Kx::Dhe)),
        "kEECDH" | "kECDHE" | "ECDH" => P::kx(kx_bit(Kx::Ecdhe)),
        "kPSK" => P::kx(kx_bit(Kx::Psk)),
        "kRSAPSK" => P::kx(kx_bit(Kx::RsaPsk)),
        "kECDHEPSK" => P::kx(kx_bit(Kx::EcdhePsk)),
        "kDHEPSK" => P::kx(kx_bit(Kx::DhePsk)),
        "kSRP" | "SRP" => P::kx(kx_bit(Kx::Srp)),
        "kGOST" | "kGOST18" => P::kx(ABSENT),
        "aRSA" => P::kx(0).auth(auth_bit(Auth::Rsa)),
        "aDSS" | "DSS" => P::kx(0).auth(auth_bit(Auth::Dss)),
        "aNULL" => P::kx(0).auth(auth_bit(Auth::Null)),
        "aECDSA" | "ECDSA" => P::kx(0).auth(auth_bit(Auth::Ecdsa)),
        "aPSK" => P::kx(0).auth(auth_bit(Auth::Psk)),
        "aSRP" => P::kx(0).auth(auth_bit(Auth::Srp)),
        "aGOST01" | "aGOST12" | "aGOST" => P::kx(0).auth(ABSENT),
        "EDH" | "DHE" => P::kx(kx_bit(Kx::Dhe)).auth(not_anull),
        "EECDH" | "ECDHE" => P::kx(kx_bit(Kx::Ecdhe)).auth(not_anull),
        "RSA" => P::kx(kx_bit(Kx::Rsa)).auth(auth_bit(Auth::Rsa)),
        "ADH" => P::kx(kx_bit(Kx::Dhe)).auth(auth_bit(Auth::Null)),
        "AECDH" => P::kx(kx_bit(Kx::Ecdhe)).auth(auth_bit(Auth::Null)),
        "PSK" => P::kx(PSK),
        "3DES" | "RC4" | "RC2" | "IDEA" | "SEED" | "GOST" | "GOST2012" | "DES" => {
            P::enc(ABSENT_ENC)
        }
        "AES128" => P::enc(AES128),
        "AES256" => P::enc(AES256),
        "AES" => P::enc(AES128 | AES256),
        "AESGCM" => P::enc(AESGCM),
        "AESCCM" => P::enc(AESCCM),
        "AESCCM8" => P::enc(AESCCM8),
        "CAMELLIA128" => P::enc(enc_bit(Enc::CamelliaCbc, 128)),
        "CAMELLIA256" => P::enc(enc_bit(Enc::CamelliaCbc, 256)),
        "CAMELLIA" => P::enc(CAMELLIA),
        "CHACHA20" => P::enc(enc_bit(Enc::Chacha20Poly1305, 256)),
        "ARIA" | "ARIAGCM" => P::enc(ARIA),
        "ARIA128" => P::enc(enc_bit(Enc::AriaGcm, 128)),
        "ARIA256" => P::enc(enc_bit(Enc::AriaGcm, 256)),
        "CBC" => P::enc(CBC),
        "MD5" => P::mac(mac_bit(Mac::Md5)),
        "SHA1" | "SHA" => P::mac(mac_bit(Mac::Sha1)),
        "SHA256" => P::mac(mac_bit(Mac::Sha256)),
        "SHA384" => P::mac(mac_bit(Mac::Sha384)),
        "GOST94" | "GOST89MAC" | "GOST12" => P::mac(ABSENT),
        "SSLv3" => P::version(MinVersion::Ssl3),
        "TLSv1" | "TLSv1.0" => P::version(MinVersion::Tls1),
        "TLSv1.2" => P::version(MinVersion::Tls12),
        // Protocol versions of DTLS, and the 3DES suites' old names: nothing in this table.
        "DTLSv1" | "DTLSv1.0" | "DTLSv1.2" | "EDH-DSS-DES-CBC3-SHA" | "EDH-RSA-DES-CBC3-SHA" => {
            P::enc(ABSENT_ENC)
        }
        "LOW" => P::strength(LOW),
        "MEDIUM" => P::strength(MEDIUM),
        "HIGH" => P::strength(HIGH),
        "FIPS" => P {
            enc: !NULL_ENC,
            ..P::strength(FIPS)
        },
        _ => return None,
    })
}

/// Why a cipher string is refused (OpenSSL's reasons).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CipherStringError {
    /// A character that is no name, separator or operator, `@` with an unknown command, a `+`
    /// with nothing after it, or `@SECLEVEL` out of 0-5.
    #[error("invalid command at '{0}'")]
    InvalidCommand(String),
    /// No TLS 1.2 (or older) suite selected.
    #[error("no cipher match")]
    NoCipherMatch,
    /// `SUITEB128`, `SUITEB128ONLY`, `SUITEB128C2`, `SUITEB192`: Suite B mode also restricts
    /// curves and signatures, which the gateway does not do.
    #[error("'{0}' (Suite B mode) is not supported by the gateway")]
    SuiteB(String),
}

/// The outcome of a cipher string: OpenSSL's suites in order, and `@SECLEVEL` if given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CipherList {
    pub(crate) suites: Vec<&'static Suite>,
    pub(crate) seclevel: Option<u8>,
}

/// The list of an evaluation: every suite of the table in its current place, with whether it
/// is selected; `!` takes suites out of it for good.
struct Order {
    entries: Vec<(&'static Suite, bool)>,
    seclevel: Option<u8>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Del,
    Kill,
    Ord,
}

impl Order {
    fn new() -> Self {
        Self {
            entries: TABLE.iter().map(|s| (s, false)).collect(),
            seclevel: None,
        }
    }

    fn apply(&mut self, op: Op, hit: impl Fn(&Suite) -> bool) {
        match op {
            // Selected now, moved to the end in list order.
            Op::Add | Op::Ord => {
                let wanted = |(s, on): &(&Suite, bool)| hit(s) && (*on == (op == Op::Ord));
                let (moved, mut kept): (Vec<_>, Vec<_>) =
                    self.entries.drain(..).partition(|e| wanted(e));
                kept.extend(moved.into_iter().map(|(s, _)| (s, true)));
                self.entries = kept;
            }
            // Unselected, moved to the front in list order: the most recently taken out are
            // the first a later element adds back.
            Op::Del => {
                let (mut moved, kept): (Vec<_>, Vec<_>) =
                    self.entries.drain(..).partition(|(s, on)| *on && hit(s));
                moved.iter_mut().for_each(|e| e.1 = false);
                moved.extend(kept);
                self.entries = moved;
            }
            Op::Kill => self.entries.retain(|(s, _)| !hit(s)),
        }
    }

    /// `@STRENGTH`: the selected suites by key length, longest first, in order otherwise.
    fn strength_sort(&mut self) {
        let mut lengths: Vec<u16> = self
            .entries
            .iter()
            .filter(|(_, on)| *on)
            .map(|(s, _)| s.bits)
            .collect();
        lengths.sort_unstable_by(|a, b| b.cmp(a));
        lengths.dedup();
        for bits in lengths {
            self.apply(Op::Ord, |s| s.bits == bits);
        }
    }

    fn selected(&self) -> Vec<&'static Suite> {
        self.entries
            .iter()
            .filter(|(_, on)| *on)
            .map(|(s, _)| *s)
            .collect()
    }

    /// OpenSSL's `ssl_cipher_process_rulestr`.
    fn rules(&mut self, text: &str) -> Result<(), CipherStringError> {
        let b = text.as_bytes();
        let sep = |c: u8| matches!(c, b':' | b' ' | b';' | b',');
        let name_char = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'=');
        let mut at = 0;
        while at < b.len() {
            let (op, special) = match b[at] {
                b'-' => (Op::Del, false),
                b'+' => (Op::Ord, false),
                b'!' => (Op::Kill, false),
                b'@' => (Op::Add, true),
                c if sep(c) => {
                    at += 1;
                    continue;
                }
                _ => (Op::Add, false),
            };
            if matches!(b[at], b'-' | b'+' | b'!' | b'@') {
                at += 1;
            }
            let mut pattern: Option<Pattern> = None;
            let mut found = true;
            let mut word;
            loop {
                let start = at;
                while at < b.len() && name_char(b[at]) {
                    at += 1;
                }
                word = &text[start..at];
                if word.is_empty() {
                    return Err(CipherStringError::InvalidCommand(text[start..].to_owned()));
                }
                if special {
                    break;
                }
                let multi = b.get(at) == Some(&b'+');
                if multi {
                    at += 1;
                }
                let this = TABLE
                    .iter()
                    .find(|s| s.name == word)
                    .map(Pattern::suite)
                    .or_else(|| alias(word));
                match (this, pattern) {
                    (None, _) => found = false,
                    (Some(p), None) => pattern = Some(p),
                    (Some(p), Some(q)) => match q.and(p) {
                        Some(both) => pattern = Some(both),
                        None => found = false,
                    },
                }
                if !found || !multi {
                    break;
                }
            }
            if special {
                match word {
                    "STRENGTH" => self.strength_sort(),
                    _ => match word.strip_prefix("SECLEVEL=").map(str::as_bytes) {
                        Some([d @ b'0'..=b'5']) => self.seclevel = Some(d - b'0'),
                        _ => return Err(CipherStringError::InvalidCommand(format!("@{word}"))),
                    },
                }
            } else if let (true, Some(p)) = (found, pattern) {
                self.apply(op, |s| p.matches(s));
                // An operator may follow at once (`HIGH!aNULL`).
                continue;
            }
            // What is left of the element (after an unknown name, or a command) is skipped.
            while at < b.len() && !sep(b[at]) {
                at += 1;
            }
        }
        Ok(())
    }
}

/// OpenSSL 3's default cipher string (`DEFAULT`).
const DEFAULT: &str = "ALL:!COMPLEMENTOFDEFAULT:!eNULL";

/// Evaluates a `ciphers` string as OpenSSL 3's `SSL_CTX_set_cipher_list`: the TLS 1.2-and-below
/// suites it selects, in order.
pub(crate) fn evaluate(text: &str) -> Result<CipherList, CipherStringError> {
    for suiteb in ["SUITEB128ONLY", "SUITEB128C2", "SUITEB128", "SUITEB192"] {
        if text.starts_with(suiteb) {
            return Err(CipherStringError::SuiteB(suiteb.to_owned()));
        }
    }
    let mut order = Order::new();
    let mut rest = text;
    if let Some(after) = text.strip_prefix("DEFAULT") {
        order.rules(DEFAULT)?;
        rest = after.strip_prefix(':').unwrap_or(after);
    }
    order.rules(rest)?;
    let suites = order.selected();
    if suites.is_empty() {
        return Err(CipherStringError::NoCipherMatch);
    }
    Ok(CipherList {
        suites,
        seclevel: order.seclevel,
    })
}

/// The TLS 1.3 suites OpenSSL 3 knows, by name.
pub(crate) const TLS13: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_AES_128_CCM_SHA256",
    "TLS_AES_128_CCM_8_SHA256",
];

/// Reads a `ciphersuites` list as OpenSSL 3's `SSL_CTX_set_ciphersuites`: names separated by
/// `:` (spaces around them ignored), unknown names skipped; a list naming no known suite is
/// "no cipher match". An empty list turns TLS 1.3 off.
pub(crate) fn tls13_suites(text: &str) -> Result<Vec<&'static str>, CipherStringError> {
    let mut out = Vec::new();
    for name in text.split(':').map(str::trim) {
        if let Some(known) = TLS13.iter().find(|k| **k == name) {
            out.push(*known);
        }
    }
    if out.is_empty() && !text.is_empty() {
        return Err(CipherStringError::NoCipherMatch);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
