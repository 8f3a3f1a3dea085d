//! The secondary key of responses that vary (`process-vary on`): HAProxy 2.6 varies on
//! `Accept-Encoding` (a bitmap of the encodings accepted, matched against the stored
//! response's `Content-Encoding`) and `Referer` (a CRC32 of its value), and on nothing else: a
//! response that varies on another header is not stored.

use hyper::header::HeaderMap;

use super::policy::{first_value, values};

/// Signature bit: the response varies on `Accept-Encoding`.
pub(crate) const ACCEPT_ENCODING: u32 = 1;
/// Signature bit: the response varies on `Referer`.
pub(crate) const REFERER: u32 = 2;
/// Every header the cache varies on.
pub(crate) const ALL: u32 = ACCEPT_ENCODING | REFERER;

// The encoding bits of HAProxy's `enum vary_encoding`.
const GZIP: u32 = 1;
const DEFLATE: u32 = 1 << 1;
const BR: u32 = 1 << 2;
const COMPRESS: u32 = 1 << 3;
const AES128GCM: u32 = 1 << 4;
const EXI: u32 = 1 << 5;
const PACK200_GZIP: u32 = 1 << 6;
const ZSTD: u32 = 1 << 7;
const IDENTITY: u32 = 1 << 8;
const STAR: u32 = 1 << 9;
const OTHER: u32 = 1 << 10;

/// Beyond this many `Accept-Encoding` values the request is not trusted (HAProxy's
/// `ACCEPT_ENCODING_MAX_ENTRIES`).
const MAX_ENCODINGS: usize = 16;

/// The headers a response varies on (its signature bits); `None` when it varies on one the
/// cache does not handle.
pub(crate) fn signature(response: &HeaderMap) -> Option<u32> {
    values(response, "vary").try_fold(0, |sig, name| {
        if name.eq_ignore_ascii_case("accept-encoding") {
            Some(sig | ACCEPT_ENCODING)
        } else if name.eq_ignore_ascii_case("referer") {
            Some(sig | REFERER)
        } else {
            None
        }
    })
}

/// A secondary key: the encodings part and the `Referer` part (0 when not varied on).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SecondaryKey {
    encodings: u32,
    referer: u32,
}

impl SecondaryKey {
    /// The key of a request for the headers of `signature`; `None` when the request has too
    /// many `Accept-Encoding` values to be trusted.
    pub(crate) fn of_request(request: &HeaderMap, signature: u32) -> Option<Self> {
        let encodings = if signature & ACCEPT_ENCODING == 0 {
            0
        } else {
            accepted_encodings(request)?
        };
        let referer = if signature & REFERER == 0 {
            0
        } else {
            first_value(request, "referer").map_or(0, |v| crc32(v.as_bytes()))
        };
        Some(Self { encodings, referer })
    }

    /// The key stored with a response varying on `signature`: the request's parts that
    /// count, its encodings replaced by the response's own; `None` for an encoding the cache
    /// does not know.
    pub(crate) fn stored(self, signature: u32, response: &HeaderMap) -> Option<Self> {
        let mut key = Self {
            encodings: if signature & ACCEPT_ENCODING == 0 {
                0
            } else {
                self.encodings
            },
            referer: if signature & REFERER == 0 {
                0
            } else {
                self.referer
            },
        };
        if signature & ACCEPT_ENCODING != 0 {
            let mut bits = 0;
            for value in values(response, "content-encoding") {
                bits |= encoding(value).ok()?.0;
            }
            key.encodings = if bits == 0 { IDENTITY } else { bits };
        }
        Some(key)
    }

    /// Whether a request with key `request` may get the object stored with this key.
    pub(crate) fn serves(self, request: Self) -> bool {
        self.encodings & OTHER == 0
            && self.encodings & request.encodings == self.encodings
            && self.referer == request.referer
    }

    /// The key's bytes as HAProxy's `show cache` prints them.
    pub(crate) fn bytes(self) -> [u8; 8] {
        let mut b = [0; 8];
        b[..4].copy_from_slice(&self.encodings.to_le_bytes());
        b[4..].copy_from_slice(&self.referer.to_le_bytes());
        b
    }
}

/// The bitmap of encodings a request accepts (`accept_encoding_normalizer()`).
fn accepted_encodings(request: &HeaderMap) -> Option<u32> {
    let mut accepted = IDENTITY;
    let mut refused = !0u32;
    let mut count = 0;
    let fields: Vec<&str> = request
        .get_all(hyper::header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    for field in fields {
        // An empty field counts, and accepts nothing.
        let parts: Vec<&str> = if field.trim().is_empty() {
            vec![""]
        } else {
            field
                .split(',')
                .map(|p| p.trim_matches([' ', '\t']))
                .collect()
        };
        for part in parts {
            if count >= MAX_ENCODINGS {
                break;
            }
            count += 1;
            if part.is_empty() {
                continue;
            }
            match encoding(&part.to_ascii_lowercase()) {
                Ok((bits, true)) => refused &= !bits,
                Ok((bits, false)) => accepted |= bits,
                Err(()) => accepted |= OTHER,
            }
        }
    }
    if count == MAX_ENCODINGS {
        return None;
    }
    if accepted & STAR != 0 {
        accepted = !0;
    }
    accepted &= refused;
    Some(if count == 0 { !0 } else { accepted })
}

/// `parse_encoding_value()`: the bits of an encoding name and whether a `q=0` weight
/// refuses it; `Err` for an unknown encoding. A known first letter with another name counts
/// nothing (no bits), as in HAProxy.
fn encoding(value: &str) -> Result<(u32, bool), ()> {
    const NAMES: &[(&str, u32)] = &[
        ("aes128gcm", AES128GCM),
        ("br", BR),
        ("compress", COMPRESS),
        ("deflate", DEFLATE),
        ("exi", EXI),
        ("gzip", GZIP),
        ("identity", IDENTITY),
        ("pack200-gzip", PACK200_GZIP),
        ("x-gzip", GZIP),
        ("x-compress", COMPRESS),
        ("zstd", ZSTD),
    ];
    let first = *value.as_bytes().first().ok_or(())?;
    let (bits, rest) = if first == b'*' {
        (STAR, &value[1..])
    } else if let Some((name, bits)) = NAMES.iter().find(|(n, _)| value.starts_with(n)) {
        (*bits, &value[name.len()..])
    } else if NAMES.iter().any(|(n, _)| n.as_bytes()[0] == first) {
        return Ok((0, false));
    } else {
        return Err(());
    };
    let rest = rest.trim_start_matches([' ', '\t']);
    if rest.is_empty() {
        return Ok((bits, false));
    }
    let weight = rest.strip_prefix(';').ok_or(())?;
    Ok((bits, weight.trim_start_matches([' ', '\t']) == "q=0"))
}

/// CRC-32 (IEEE), HAProxy's `hash_crc32()`.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ if crc & 1 == 1 { 0xedb8_8320 } else { 0 };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(
                hyper::header::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn signatures() {
        assert_eq!(signature(&headers(&[])), Some(0));
        assert_eq!(
            signature(&headers(&[("vary", "Accept-Encoding, referer")])),
            Some(ALL)
        );
        assert_eq!(
            signature(&headers(&[("vary", "accept-encoding, cookie")])),
            None
        );
        assert_eq!(signature(&headers(&[("vary", "*")])), None);
    }

    #[test]
    fn encodings_served() {
        let stored = |req: &[(&str, &str)], res: &[(&str, &str)]| {
            SecondaryKey::of_request(&headers(req), ALL)
                .unwrap()
                .stored(ACCEPT_ENCODING, &headers(res))
        };
        let ask = |req: &[(&str, &str)]| {
            SecondaryKey::of_request(&headers(req), ACCEPT_ENCODING).unwrap()
        };
        let gz = stored(
            &[("accept-encoding", "gzip")],
            &[("content-encoding", "gzip")],
        )
        .unwrap();
        assert!(gz.serves(ask(&[("accept-encoding", "br, gzip")])));
        assert!(gz.serves(ask(&[("accept-encoding", "*")])));
        assert!(gz.serves(ask(&[])), "no Accept-Encoding accepts anything");
        assert!(!gz.serves(ask(&[("accept-encoding", "br")])));
        assert!(!gz.serves(ask(&[("accept-encoding", "gzip;q=0, br")])));
        assert!(!gz.serves(ask(&[("accept-encoding", "*, gzip;q=0")])));
        let plain = stored(&[("accept-encoding", "gzip")], &[]).unwrap();
        assert!(plain.serves(ask(&[("accept-encoding", "br")])));
        assert!(!plain.serves(ask(&[("accept-encoding", "identity;q=0")])));
        // An empty Accept-Encoding accepts the identity only.
        assert!(plain.serves(ask(&[("accept-encoding", "")])));
        assert!(!gz.serves(ask(&[("accept-encoding", "")])));
        assert_eq!(
            stored(&[], &[("content-encoding", "weird")]),
            None,
            "an unknown encoding is not stored"
        );
        let many = vec![("accept-encoding", "a1"); 16];
        assert_eq!(SecondaryKey::of_request(&headers(&many), ALL), None);
    }

    #[test]
    fn referer_part() {
        let key = |r: &str| SecondaryKey::of_request(&headers(&[("referer", r)]), REFERER).unwrap();
        assert!(key("a").serves(key("a")));
        assert!(!key("a").serves(key("b")));
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }
}
