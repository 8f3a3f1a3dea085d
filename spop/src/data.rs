//! Typed data: one type byte (flags in the high nibble, type in the low one),
//! then the value.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, Bytes};

use crate::cursor::{Reader, SliceReader};
use crate::error::{DecodeError, DecodeErrorKind};
use crate::varint;

/// The type nibble of a typed-data byte. Values 10..=15 are reserved.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DataType(pub u8);

impl DataType {
    /// NULL: no value.
    pub const NULL: Self = Self(0);
    /// BOOL: the value is flag bit 0 of the type byte.
    pub const BOOL: Self = Self(1);
    /// INT32, as a varint.
    pub const INT32: Self = Self(2);
    /// UINT32, as a varint.
    pub const UINT32: Self = Self(3);
    /// INT64, as a varint.
    pub const INT64: Self = Self(4);
    /// UINT64, as a varint.
    pub const UINT64: Self = Self(5);
    /// IPV4: 4 bytes, network order.
    pub const IPV4: Self = Self(6);
    /// IPV6: 16 bytes, network order.
    pub const IPV6: Self = Self(7);
    /// STRING: varint length and bytes (not guaranteed UTF-8).
    pub const STRING: Self = Self(8);
    /// BINARY: varint length and bytes.
    pub const BINARY: Self = Self(9);

    /// The spec's name (`NULL`, `BOOL`, ..., `BINARY`), or `None` if reserved.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "NULL",
            1 => "BOOL",
            2 => "INT32",
            3 => "UINT32",
            4 => "INT64",
            5 => "UINT64",
            6 => "IPV4",
            7 => "IPV6",
            8 => "STRING",
            9 => "BINARY",
            _ => return None,
        })
    }
}

impl fmt::Debug for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "DataType({})", self.0),
        }
    }
}

/// BOOL's true flag in the high nibble of the type byte.
pub(crate) const FLAG_TRUE: u8 = 0x10;

/// A typed value. Strings and binaries share the frame's buffer.
///
/// Signed integers travel as the varint of their 64-bit two's complement, as
/// HAProxy sends them. HAProxy only sends NULL, BOOL, INT64, IPV4, IPV6, STRING
/// and BINARY in NOTIFY frames, and UINT32 in HELLO frames.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum TypedData {
    /// NULL (a missing sample).
    Null,
    /// BOOL.
    Bool(bool),
    /// INT32.
    Int32(i32),
    /// UINT32.
    Uint32(u32),
    /// INT64.
    Int64(i64),
    /// UINT64.
    Uint64(u64),
    /// IPV4.
    Ipv4(Ipv4Addr),
    /// IPV6.
    Ipv6(Ipv6Addr),
    /// STRING: bytes, not guaranteed to be UTF-8.
    Str(Bytes),
    /// BINARY.
    Bin(Bytes),
}

impl TypedData {
    /// The value borrowed.
    pub fn view(&self) -> DataView<'_> {
        match self {
            Self::Null => DataView::Null,
            Self::Bool(v) => DataView::Bool(*v),
            Self::Int32(v) => DataView::Int32(*v),
            Self::Uint32(v) => DataView::Uint32(*v),
            Self::Int64(v) => DataView::Int64(*v),
            Self::Uint64(v) => DataView::Uint64(*v),
            Self::Ipv4(a) => DataView::Ipv4(*a),
            Self::Ipv6(a) => DataView::Ipv6(*a),
            Self::Str(s) => DataView::Str(s),
            Self::Bin(s) => DataView::Bin(s),
        }
    }

    /// A STRING value from text.
    pub fn string(s: impl Into<String>) -> Self {
        Self::Str(Bytes::from(s.into()))
    }

    /// A BINARY value.
    pub fn binary(b: impl Into<Bytes>) -> Self {
        Self::Bin(b.into())
    }

    /// The wire type.
    pub fn data_type(&self) -> DataType {
        match self {
            Self::Null => DataType::NULL,
            Self::Bool(_) => DataType::BOOL,
            Self::Int32(_) => DataType::INT32,
            Self::Uint32(_) => DataType::UINT32,
            Self::Int64(_) => DataType::INT64,
            Self::Uint64(_) => DataType::UINT64,
            Self::Ipv4(_) => DataType::IPV4,
            Self::Ipv6(_) => DataType::IPV6,
            Self::Str(_) => DataType::STRING,
            Self::Bin(_) => DataType::BINARY,
        }
    }

    /// Any integer type as an `i64` (UINT64 above `i64::MAX` does not fit).
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Self::Int32(v) => Some(i64::from(v)),
            Self::Uint32(v) => Some(i64::from(v)),
            Self::Int64(v) => Some(v),
            Self::Uint64(v) => i64::try_from(v).ok(),
            _ => None,
        }
    }

    /// STRING as UTF-8 text, if it is valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    /// STRING or BINARY bytes.
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            Self::Str(b) | Self::Bin(b) => Some(b),
            _ => None,
        }
    }

    /// IPV4 or IPV6 as an address.
    pub fn as_ip(&self) -> Option<std::net::IpAddr> {
        match *self {
            Self::Ipv4(a) => Some(a.into()),
            Self::Ipv6(a) => Some(a.into()),
            _ => None,
        }
    }

    /// Bytes [`TypedData::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        1usize.saturating_add(match self {
            Self::Null | Self::Bool(_) => 0,
            Self::Int32(v) => varint::encoded_len(i64::from(*v) as u64),
            Self::Uint32(v) => varint::encoded_len(u64::from(*v)),
            Self::Int64(v) => varint::encoded_len(*v as u64),
            Self::Uint64(v) => varint::encoded_len(*v),
            Self::Ipv4(_) => 4,
            Self::Ipv6(_) => 16,
            Self::Str(b) | Self::Bin(b) => bytes_encoded_len(b),
        })
    }

    /// Writes the type byte and the value.
    pub fn encode(&self, dst: &mut impl BufMut) {
        match self {
            Self::Null => dst.put_u8(DataType::NULL.0),
            Self::Bool(v) => dst.put_u8(DataType::BOOL.0 | if *v { FLAG_TRUE } else { 0 }),
            Self::Int32(v) => {
                dst.put_u8(DataType::INT32.0);
                varint::encode(i64::from(*v) as u64, dst);
            }
            Self::Uint32(v) => {
                dst.put_u8(DataType::UINT32.0);
                varint::encode(u64::from(*v), dst);
            }
            Self::Int64(v) => {
                dst.put_u8(DataType::INT64.0);
                varint::encode(*v as u64, dst);
            }
            Self::Uint64(v) => {
                dst.put_u8(DataType::UINT64.0);
                varint::encode(*v, dst);
            }
            Self::Ipv4(a) => {
                dst.put_u8(DataType::IPV4.0);
                dst.put_slice(&a.octets());
            }
            Self::Ipv6(a) => {
                dst.put_u8(DataType::IPV6.0);
                dst.put_slice(&a.octets());
            }
            Self::Str(b) => {
                dst.put_u8(DataType::STRING.0);
                encode_bytes(b, dst);
            }
            Self::Bin(b) => {
                dst.put_u8(DataType::BINARY.0);
                encode_bytes(b, dst);
            }
        }
    }

    /// A typed value; strings and binaries share the frame's buffer.
    #[inline]
    pub(crate) fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let (owned, used) = {
            let (value, used) = r.read(DataView::decode)?;
            (value.to_owned_in(r.buf()), used)
        };
        r.advance(used);
        Ok(owned)
    }
}

/// A typed value borrowed from a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataView<'a> {
    /// NULL.
    Null,
    /// BOOL.
    Bool(bool),
    /// INT32.
    Int32(i32),
    /// UINT32.
    Uint32(u32),
    /// INT64.
    Int64(i64),
    /// UINT64.
    Uint64(u64),
    /// IPV4.
    Ipv4(Ipv4Addr),
    /// IPV6.
    Ipv6(Ipv6Addr),
    /// STRING.
    Str(&'a [u8]),
    /// BINARY.
    Bin(&'a [u8]),
}

impl<'a> DataView<'a> {
    #[inline]
    pub(crate) fn decode(r: &mut SliceReader<'a>) -> Result<Self, DecodeError> {
        let start = r.offset();
        let byte = r.u8("typed data")?;
        let out_of_range = |data_type, value| {
            DecodeError::new(start, DecodeErrorKind::IntOutOfRange { data_type, value })
        };
        Ok(match DataType(byte & 0x0f) {
            DataType::NULL => Self::Null,
            // HAProxy: `(type & 0xF0) == 0x10`; any other flag nibble is false.
            DataType::BOOL => Self::Bool(byte & 0xf0 == FLAG_TRUE),
            DataType::INT32 => {
                let v = r.varint("INT32 value")?;
                // HAProxy sign-extends to 64 bits; some agents send the 32-bit
                // two's complement instead. Both mean the same i32.
                let as_i32 = i32::try_from(v as i64)
                    .ok()
                    .or_else(|| u32::try_from(v).ok().map(|u| u as i32));
                Self::Int32(as_i32.ok_or_else(|| out_of_range("INT32", v))?)
            }
            DataType::UINT32 => {
                let v = r.varint("UINT32 value")?;
                Self::Uint32(u32::try_from(v).map_err(|_| out_of_range("UINT32", v))?)
            }
            DataType::INT64 => Self::Int64(r.varint("INT64 value")? as i64),
            DataType::UINT64 => Self::Uint64(r.varint("UINT64 value")?),
            DataType::IPV4 => Self::Ipv4(Ipv4Addr::from(r.array::<4>("IPV4 value")?)),
            DataType::IPV6 => Self::Ipv6(Ipv6Addr::from(r.array::<16>("IPV6 value")?)),
            DataType::STRING => Self::Str(r.bytes("STRING value")?),
            DataType::BINARY => Self::Bin(r.bytes("BINARY value")?),
            _ => {
                return Err(DecodeError::new(
                    start,
                    DecodeErrorKind::UnknownDataType { byte },
                ));
            }
        })
    }

    /// The owned value; strings and binaries share `buf` when they are
    /// slices of it, and are copied otherwise.
    pub fn to_owned_in(&self, buf: &Bytes) -> TypedData {
        let share = |s: &[u8]| share(buf, s);
        match *self {
            Self::Null => TypedData::Null,
            Self::Bool(v) => TypedData::Bool(v),
            Self::Int32(v) => TypedData::Int32(v),
            Self::Uint32(v) => TypedData::Uint32(v),
            Self::Int64(v) => TypedData::Int64(v),
            Self::Uint64(v) => TypedData::Uint64(v),
            Self::Ipv4(a) => TypedData::Ipv4(a),
            Self::Ipv6(a) => TypedData::Ipv6(a),
            Self::Str(s) => TypedData::Str(share(s)),
            Self::Bin(s) => TypedData::Bin(share(s)),
        }
    }
}

impl fmt::Debug for TypedData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("Null"),
            Self::Bool(v) => write!(f, "Bool({v})"),
            Self::Int32(v) => write!(f, "Int32({v})"),
            Self::Uint32(v) => write!(f, "Uint32({v})"),
            Self::Int64(v) => write!(f, "Int64({v})"),
            Self::Uint64(v) => write!(f, "Uint64({v})"),
            Self::Ipv4(a) => write!(f, "Ipv4({a})"),
            Self::Ipv6(a) => write!(f, "Ipv6({a})"),
            Self::Str(b) => write!(f, "Str({:?})", String::from_utf8_lossy(b)),
            Self::Bin(b) => write!(f, "Bin({b:02x?})"),
        }
    }
}

impl From<bool> for TypedData {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}
impl From<i32> for TypedData {
    fn from(v: i32) -> Self {
        Self::Int32(v)
    }
}
impl From<u32> for TypedData {
    fn from(v: u32) -> Self {
        Self::Uint32(v)
    }
}
impl From<i64> for TypedData {
    fn from(v: i64) -> Self {
        Self::Int64(v)
    }
}
impl From<u64> for TypedData {
    fn from(v: u64) -> Self {
        Self::Uint64(v)
    }
}
impl From<Ipv4Addr> for TypedData {
    fn from(v: Ipv4Addr) -> Self {
        Self::Ipv4(v)
    }
}
impl From<Ipv6Addr> for TypedData {
    fn from(v: Ipv6Addr) -> Self {
        Self::Ipv6(v)
    }
}
impl From<std::net::IpAddr> for TypedData {
    fn from(v: std::net::IpAddr) -> Self {
        match v {
            std::net::IpAddr::V4(a) => Self::Ipv4(a),
            std::net::IpAddr::V6(a) => Self::Ipv6(a),
        }
    }
}
impl From<&str> for TypedData {
    fn from(v: &str) -> Self {
        Self::Str(Bytes::copy_from_slice(v.as_bytes()))
    }
}
impl From<String> for TypedData {
    fn from(v: String) -> Self {
        Self::Str(Bytes::from(v))
    }
}

/// Bytes of a varint length plus the bytes themselves.
/// `s` as a slice of `buf` when it is one (no copy), else a copy.
pub(crate) fn share(buf: &Bytes, s: &[u8]) -> Bytes {
    let base = buf.as_ptr() as usize;
    let at = s.as_ptr() as usize;
    match at.checked_sub(base) {
        Some(off) if off.saturating_add(s.len()) <= buf.len() => {
            buf.slice(off..off.saturating_add(s.len()))
        }
        _ => Bytes::copy_from_slice(s),
    }
}

pub(crate) fn bytes_encoded_len(b: &[u8]) -> usize {
    varint::encoded_len(b.len() as u64).saturating_add(b.len())
}

/// Writes a varint length and the bytes (names, STRING and BINARY bodies).
pub(crate) fn encode_bytes(b: &[u8], dst: &mut impl BufMut) {
    varint::encode(b.len() as u64, dst);
    dst.put_slice(b);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::DecodeErrorKind;

    fn enc(d: &TypedData) -> Vec<u8> {
        let mut v = Vec::new();
        d.encode(&mut v);
        assert_eq!(v.len(), d.encoded_len());
        v
    }

    fn dec(b: &[u8]) -> Result<TypedData, DecodeError> {
        let mut r = Reader::new(Bytes::copy_from_slice(b), 0);
        let d = TypedData::decode(&mut r)?;
        assert!(r.is_empty(), "trailing bytes");
        Ok(d)
    }

    #[test]
    fn wire_bytes_of_each_type() {
        let cases: Vec<(TypedData, Vec<u8>)> = vec![
            (TypedData::Null, vec![0x00]),
            (TypedData::Bool(true), vec![0x11]),
            (TypedData::Bool(false), vec![0x01]),
            (TypedData::Int32(5), vec![0x02, 0x05]),
            (TypedData::Uint32(16380), vec![0x03, 0xfc, 0xf0, 0x06]),
            (TypedData::Int64(42), vec![0x04, 42]),
            (TypedData::Uint64(239), vec![0x05, 0xef]),
            (
                TypedData::Ipv4(Ipv4Addr::new(127, 0, 0, 1)),
                vec![0x06, 127, 0, 0, 1],
            ),
            (
                TypedData::Ipv6(Ipv6Addr::LOCALHOST),
                [&[0x07u8][..], &Ipv6Addr::LOCALHOST.octets()].concat(),
            ),
            (TypedData::string("ab"), vec![0x08, 2, b'a', b'b']),
            (
                TypedData::binary(vec![0xca, 0xfe]),
                vec![0x09, 2, 0xca, 0xfe],
            ),
        ];
        for (d, bytes) in cases {
            assert_eq!(enc(&d), bytes, "{d:?}");
            assert_eq!(dec(&bytes).unwrap(), d);
        }
    }

    #[test]
    fn negative_integers_are_64_bit_twos_complement() {
        let b = enc(&TypedData::Int64(-42));
        assert_eq!(b[0], 0x04);
        assert_eq!(b.len(), 11, "type byte plus a 10-byte varint");
        assert_eq!(dec(&b).unwrap(), TypedData::Int64(-42));
        // INT32 is sign-extended the same way.
        let b32 = enc(&TypedData::Int32(-42));
        assert_eq!(&b32[1..], &b[1..]);
        assert_eq!(dec(&b32).unwrap(), TypedData::Int32(-42));
        // A 32-bit two's complement INT32 from another agent means the same.
        let mut alt = vec![0x02];
        varint::encode(u64::from((-42i32) as u32), &mut alt);
        assert_eq!(dec(&alt).unwrap(), TypedData::Int32(-42));
    }

    #[test]
    fn rejects_invalid_data() {
        for t in 10..=15u8 {
            let e = dec(&[t]).unwrap_err();
            assert_eq!(e.kind, DecodeErrorKind::UnknownDataType { byte: t });
        }
        assert!(matches!(
            dec(&[0x06, 1, 2, 3]).unwrap_err().kind,
            DecodeErrorKind::Truncated { .. }
        ));
        assert!(matches!(
            dec(&[0x08, 5, b'a']).unwrap_err().kind,
            DecodeErrorKind::Truncated { .. }
        ));
        let mut big = vec![0x03];
        varint::encode(1 << 32, &mut big);
        assert!(matches!(
            dec(&big).unwrap_err().kind,
            DecodeErrorKind::IntOutOfRange { .. }
        ));
        let mut huge = vec![0x09];
        varint::encode(u64::MAX, &mut huge);
        assert!(matches!(
            dec(&huge).unwrap_err().kind,
            DecodeErrorKind::Truncated { .. }
        ));
    }

    #[test]
    fn bool_value_lives_in_the_flag_bit_only() {
        assert_eq!(dec(&[0x11]).unwrap(), TypedData::Bool(true));
        assert_eq!(dec(&[0x01]).unwrap(), TypedData::Bool(false));
    }

    #[test]
    fn strings_share_the_frame_buffer() {
        let frame = Bytes::from_static(&[0x08, 3, b'a', b'b', b'c']);
        let mut r = Reader::new(frame.clone(), 0);
        let TypedData::Str(s) = TypedData::decode(&mut r).unwrap() else {
            panic!("not a string")
        };
        assert_eq!(s.as_ptr(), frame[2..].as_ptr());
    }
}
