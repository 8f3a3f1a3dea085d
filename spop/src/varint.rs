//! HAProxy's variable-length integer (the "peers" encoding), for every `u64`.
//!
//! Values below 240 take one byte. Above, the first byte carries the low 4
//! bits with its top nibble set, and each following byte 7 more bits with the
//! high bit as a continuation flag; each byte's contribution is offset so that
//! every value has exactly one encoding. A `u64` never needs more than 10 bytes.

use bytes::BufMut;

/// The longest encoding of a `u64`.
pub const MAX_LEN: usize = 10;

/// Bytes [`encode`] writes for `v`.
pub fn encoded_len(mut v: u64) -> usize {
    if v < 240 {
        return 1;
    }
    let mut len: usize = 2;
    v = v.saturating_sub(240) >> 4;
    while v >= 128 {
        v = v.saturating_sub(128) >> 7;
        len = len.saturating_add(1);
    }
    len
}

/// Writes `v` in HAProxy's varint encoding.
pub fn encode(mut v: u64, dst: &mut impl BufMut) {
    if v < 240 {
        dst.put_u8(v as u8);
        return;
    }
    dst.put_u8((v as u8) | 0xf0);
    v = v.saturating_sub(240) >> 4;
    while v >= 128 {
        dst.put_u8((v as u8) | 0x80);
        v = v.saturating_sub(128) >> 7;
    }
    dst.put_u8(v as u8);
}

/// Why a varint could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarintError {
    /// The input ended before the last byte.
    Truncated,
    /// More than [`MAX_LEN`] bytes.
    TooLong,
    /// The value does not fit in a `u64`.
    Overflow,
}

/// Decodes a varint from the front of `src`: the value and the bytes it took.
pub fn decode(src: &[u8]) -> Result<(u64, usize), VarintError> {
    let mut iter = src.iter();
    let Some(&first) = iter.next() else {
        return Err(VarintError::Truncated);
    };
    if first < 240 {
        return Ok((u64::from(first), 1));
    }
    let mut value = u64::from(first);
    let mut shift: u32 = 4;
    let mut len: usize = 1;
    loop {
        let Some(&b) = iter.next() else {
            return Err(VarintError::Truncated);
        };
        len = len.saturating_add(1);
        if len > MAX_LEN {
            return Err(VarintError::TooLong);
        }
        // `b << shift` must not lose bits, and the sum must not wrap.
        let add = u64::from(b)
            .checked_shl(shift)
            .filter(|a| a >> shift == u64::from(b))
            .ok_or(VarintError::Overflow)?;
        value = value.checked_add(add).ok_or(VarintError::Overflow)?;
        if b < 128 {
            return Ok((value, len));
        }
        shift = shift.saturating_add(7);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTORS: &[(u64, &[u8])] = &[
        (0, &[0x00]),
        (239, &[0xef]),
        (240, &[0xf0, 0x00]),
        (300, &[0xfc, 0x03]),
        (2287, &[0xff, 0x7f]),
        (2288, &[0xf0, 0x80, 0x00]),
        (264431, &[0xff, 0xff, 0x7f]),
        (264432, &[0xf0, 0x80, 0x80, 0x00]),
    ];

    #[test]
    fn reference_vectors() {
        for &(v, bytes) in VECTORS {
            let mut out = Vec::new();
            encode(v, &mut out);
            assert_eq!(out, bytes, "encode {v}");
            assert_eq!(encoded_len(v), bytes.len());
            assert_eq!(decode(bytes), Ok((v, bytes.len())), "decode {v}");
        }
    }

    #[test]
    fn range_boundaries() {
        let bounds = [240u64, 2288, 264432, 33818864, 4328786160];
        for (i, b) in bounds.iter().enumerate() {
            assert_eq!(encoded_len(b - 1), i + 1);
            assert_eq!(encoded_len(*b), i + 2);
        }
    }

    #[test]
    fn extremes_round_trip() {
        for v in [
            u64::MAX,
            u64::MAX - 1,
            i64::MAX as u64,
            (-1i64) as u64,
            (-42i64) as u64,
            1 << 63,
        ] {
            let mut out = Vec::new();
            encode(v, &mut out);
            assert!(out.len() <= MAX_LEN);
            assert_eq!(decode(&out), Ok((v, out.len())));
        }
        let mut out = Vec::new();
        encode(u64::MAX, &mut out);
        assert_eq!(out.len(), 10);
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(decode(&[]), Err(VarintError::Truncated));
        assert_eq!(decode(&[0xf0]), Err(VarintError::Truncated));
        assert_eq!(decode(&[0xf0, 0x80]), Err(VarintError::Truncated));
        // Past 10 bytes a value cannot fit: continuation bytes overflow first.
        assert!(decode(&[0xff; 11]).is_err());
        assert!(decode(&[0xff; 64]).is_err());
        // Ten bytes whose last one pushes past 64 bits.
        let mut over = vec![0xff; 9];
        over.push(0x7f);
        assert_eq!(decode(&over), Err(VarintError::Overflow));
    }

    #[test]
    fn every_small_value_round_trips() {
        for v in 0..300_000u64 {
            let mut out = Vec::new();
            encode(v, &mut out);
            assert_eq!(decode(&out), Ok((v, out.len())));
        }
    }
}
