//! Hashes of the request: `base32`, `url32` and their `+src` forms (`smp_fetch_base32()`,
//! `smp_fetch_url32()` of HAProxy 2.6's `src/http_fetch.c`), bit for bit: HAProxy's values
//! key stick tables and are compared by agents, so a different hash would be a different key.

use std::net::SocketAddr;

use bytes::Bytes;
use spoe::expr::Sample;

use crate::exchange::Exchange;

/// HAProxy's step `hash = c + (hash << 6) + (hash << 16) - hash` (sdbm), with `c` a C `char`:
/// signed on the platforms HAProxy is built for, so bytes from 0x80 count negative.
fn sdbm(hash: u32, bytes: &[u8]) -> u32 {
    bytes.iter().fold(hash, |h, &c| {
        // Sign extension of a C `char`, as intended.
        #[expect(clippy::cast_possible_wrap, clippy::cast_sign_loss)]
        let c = i32::from(c as i8) as u32;
        c.wrapping_add(h << 6).wrapping_add(h << 16).wrapping_sub(h)
    })
}

/// Bob Jenkins' full avalanche (`full_hash()` in HAProxy's `include/haproxy/intops.h`), which
/// `hash-type ... avalanche` applies too.
pub fn full_hash(mut a: u32) -> u32 {
    a = a.wrapping_add(0x7ed5_5d16).wrapping_add(a << 12);
    a = (a ^ 0xc761_c23c) ^ (a >> 19);
    a = a.wrapping_add(0x1656_67b1).wrapping_add(a << 5);
    a = a.wrapping_add(0xd3a2_646c) ^ (a << 9);
    a = a.wrapping_add(0xfd70_46c5).wrapping_add(a << 3);
    a = (a ^ 0xb55a_4f09) ^ (a >> 16);
    // HAProxy then spreads the values over its trees with a large prime.
    a.wrapping_mul(3_221_225_473)
}

/// The first `Host` header's value: its first comma-separated element, trimmed (`base32`), or
/// all of it (`url32`).
fn host<'h>(x: &Exchange<'h>, whole: bool) -> &'h [u8] {
    let Some(v) = x.request.headers.get(http::header::HOST) else {
        return &[];
    };
    let v = v.as_bytes();
    if whole {
        return v;
    }
    let end = v.iter().position(|&c| c == b',').unwrap_or(v.len());
    v[..end].trim_ascii()
}

/// The path and query as HAProxy's `http_parse_path()` gives them, hashed only when they
/// start with a slash.
fn hash_of(x: &Exchange<'_>, with_query: bool) -> u32 {
    let hash = sdbm(0, host(x, with_query));
    let path = match x.request.uri.path_and_query() {
        Some(pq) if with_query => pq.as_str(),
        Some(pq) => pq.path(),
        None => "",
    };
    let hash = if path.starts_with('/') {
        sdbm(hash, path.as_bytes())
    } else {
        hash
    };
    full_hash(hash)
}

/// `base32`: `Host` and the path, hashed.
pub(super) fn base32(x: &Exchange<'_>) -> Option<Sample> {
    Some(Sample::Int(i64::from(hash_of(x, false))))
}

/// `url32`: `Host` and the path with its query string, hashed.
pub(super) fn url32(x: &Exchange<'_>) -> Option<Sample> {
    Some(Sample::Int(i64::from(hash_of(x, true))))
}

/// The hash in network order, then the client's address (4 or 16 bytes); no value without
/// a client address.
fn with_src(x: &Exchange<'_>, hash: u32) -> Option<Sample> {
    let client = x.connection()?.client?;
    let mut out = hash.to_be_bytes().to_vec();
    match client {
        SocketAddr::V4(a) => out.extend_from_slice(&a.ip().octets()),
        SocketAddr::V6(a) => out.extend_from_slice(&a.ip().octets()),
    }
    Some(Sample::Bin(Bytes::from(out)))
}

/// `base32+src`.
pub(super) fn base32_src(x: &Exchange<'_>) -> Option<Sample> {
    with_src(x, hash_of(x, false))
}

/// `url32+src`.
pub(super) fn url32_src(x: &Exchange<'_>) -> Option<Sample> {
    with_src(x, hash_of(x, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values computed by the C expressions above, by hand for the first steps.
    #[test]
    fn the_steps_are_haproxys() {
        assert_eq!(sdbm(0, b"a"), 97);
        assert_eq!(sdbm(97, b"b"), 98 + (97 << 6) + (97 << 16) - 97);
        // A byte from 0x80 is a negative `char`.
        assert_eq!(sdbm(0, &[0xff]), u32::MAX);
        assert_eq!(full_hash(0), 0xab4e_d927);
    }
}
