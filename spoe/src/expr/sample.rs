//! Samples (the values fetches and converters produce), their types, and HAProxy's casts
//! between types (`sample_casts[][]` in `src/sample.c`).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::Bytes;
use spop::TypedData;

/// A value produced by a fetch or a converter.
///
/// HTTP methods are strings here (HAProxy's `SMP_T_METH` is encoded as a STRING on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Sample {
    /// A boolean (`bool()`, `always_true`, `req.proto_http`, the `bool` converter).
    Bool(bool),
    /// A signed 64-bit integer (ports, `status`, counts, `int()`).
    Int(i64),
    /// An IPv4 address (`src`, `dst`, `ipv4()`).
    Ipv4(Ipv4Addr),
    /// An IPv6 address.
    Ipv6(Ipv6Addr),
    /// A string: bytes, not guaranteed to be UTF-8 (path, headers, method).
    Str(Bytes),
    /// Binary data (`req.body`, `req.hdrs_bin`, `bin()`).
    Bin(Bytes),
}

impl Sample {
    /// A string sample from text.
    pub fn str(s: impl Into<String>) -> Self {
        Self::Str(Bytes::from(s.into()))
    }

    /// A binary sample.
    pub fn bin(b: impl Into<Bytes>) -> Self {
        Self::Bin(b.into())
    }

    /// The sample's type.
    pub fn sample_type(&self) -> SampleType {
        match self {
            Self::Bool(_) => SampleType::Bool,
            Self::Int(_) => SampleType::Int,
            Self::Ipv4(_) => SampleType::Ipv4,
            Self::Ipv6(_) => SampleType::Ipv6,
            Self::Str(_) => SampleType::Str,
            Self::Bin(_) => SampleType::Bin,
        }
    }

    /// The SPOP typed data HAProxy's `spoe_encode_data()` sends for this sample: BOOL, INT64,
    /// IPV4, IPV6, STRING or BINARY. Takes the sample: its bytes move, never copied or shared.
    pub fn into_typed_data(self) -> TypedData {
        match self {
            Self::Bool(b) => TypedData::Bool(b),
            Self::Int(i) => TypedData::Int64(i),
            Self::Ipv4(a) => TypedData::Ipv4(a),
            Self::Ipv6(a) => TypedData::Ipv6(a),
            Self::Str(s) => TypedData::Str(s),
            Self::Bin(b) => TypedData::Bin(b),
        }
    }

    /// [`into_typed_data`](Self::into_typed_data), with NULL for a missing sample (what HAProxy
    /// sends when a fetch or a converter fails).
    pub fn typed_data(sample: Option<Self>) -> TypedData {
        sample.map_or(TypedData::Null, Self::into_typed_data)
    }

    /// The bytes of a string or binary sample.
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            Self::Str(b) | Self::Bin(b) => Some(b),
            _ => None,
        }
    }

    /// Casts the sample to `to` as HAProxy does before a converter or a match; `None` when
    /// HAProxy's cast fails or does not exist.
    pub fn cast(self, to: SampleType) -> Option<Self> {
        use SampleType as T;
        match (self, to) {
            (s, T::Any) => Some(s),
            (Self::Bool(b), T::Bool) => Some(Self::Bool(b)),
            (Self::Bool(b), T::Int) => Some(Self::Int(i64::from(b))),
            (Self::Bool(b), T::Str) => Some(Self::Str(Bytes::from(u8::from(b).to_string()))),
            (Self::Bool(b), T::Bin) => Some(Self::Bin(Bytes::copy_from_slice(
                &i64::from(b).to_be_bytes(),
            ))),
            (Self::Int(i), T::Bool) => Some(Self::Bool(i != 0)),
            (Self::Int(i), T::Int) => Some(Self::Int(i)),
            // c_int2ip: the low 32 bits, as an address in host order.
            (Self::Int(i), T::Addr | T::Ipv4) => Some(Self::Ipv4(Ipv4Addr::from(i as u32))),
            (Self::Int(i), T::Ipv6) => Some(Self::Ipv6(Ipv4Addr::from(i as u32).to_ipv6_mapped())),
            (Self::Int(i), T::Str) => Some(Self::Str(Bytes::from(i.to_string()))),
            (Self::Int(i), T::Bin) => Some(Self::Bin(Bytes::copy_from_slice(&i.to_be_bytes()))),
            (Self::Ipv4(a), T::Int) => Some(Self::Int(i64::from(u32::from(a)))),
            (Self::Ipv4(a), T::Addr | T::Ipv4) => Some(Self::Ipv4(a)),
            (Self::Ipv4(a), T::Ipv6) => Some(Self::Ipv6(a.to_ipv6_mapped())),
            (Self::Ipv4(a), T::Str) => Some(Self::Str(Bytes::from(a.to_string()))),
            (Self::Ipv4(a), T::Bin) => Some(Self::Bin(Bytes::copy_from_slice(&a.octets()))),
            (Self::Ipv6(a), T::Addr | T::Ipv6) => Some(Self::Ipv6(a)),
            // v6tov4(): only IPv4-mapped addresses convert.
            (Self::Ipv6(a), T::Ipv4) => a.to_ipv4_mapped().map(Self::Ipv4),
            (Self::Ipv6(a), T::Str) => Some(Self::Str(Bytes::from(a.to_string()))),
            (Self::Ipv6(a), T::Bin) => Some(Self::Bin(Bytes::copy_from_slice(&a.octets()))),
            (Self::Str(s), T::Bool) => str_to_int(&s).map(|i| Self::Bool(i != 0)),
            (Self::Str(s), T::Int) => str_to_int(&s).map(Self::Int),
            (Self::Str(s), T::Addr) => parse_ip(&s),
            (Self::Str(s), T::Ipv4) => match parse_ip(&s) {
                Some(Self::Ipv4(a)) => Some(Self::Ipv4(a)),
                _ => None,
            },
            (Self::Str(s), T::Ipv6) => std::str::from_utf8(&s)
                .ok()
                .and_then(|t| t.parse::<Ipv6Addr>().ok())
                .map(Self::Ipv6),
            // STR to BIN is `c_none` in HAProxy: the bytes are used as they are.
            (Self::Str(s), T::Str | T::Bin | T::Meth) => Some(Self::Str(s)),
            // c_bin2str stops at the first NUL byte.
            (Self::Bin(b), T::Str) => {
                let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
                Some(Self::Str(b.slice(..end)))
            }
            (Self::Bin(b), T::Bin | T::Meth) => Some(Self::Bin(b)),
            _ => None,
        }
    }
}

impl From<bool> for Sample {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

impl From<i64> for Sample {
    fn from(i: i64) -> Self {
        Self::Int(i)
    }
}

impl From<Ipv4Addr> for Sample {
    fn from(a: Ipv4Addr) -> Self {
        Self::Ipv4(a)
    }
}

impl From<Ipv6Addr> for Sample {
    fn from(a: Ipv6Addr) -> Self {
        Self::Ipv6(a)
    }
}

impl From<&str> for Sample {
    fn from(s: &str) -> Self {
        Self::str(s)
    }
}

/// HAProxy's `c_str2int()`: an empty string fails; otherwise an optional sign and the leading
/// digits (saturating), anything after them ignored.
fn str_to_int(s: &[u8]) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    Some(read_int64(s).0)
}

/// HAProxy's `read_int64()`: optional `-`/`+`, then digits, saturating at the `i64` bounds.
/// Returns the value and how many bytes were used.
pub(crate) fn read_int64(s: &[u8]) -> (i64, usize) {
    let (neg, mut i) = match s.first() {
        Some(b'-') => (true, 1),
        Some(b'+') => (false, 1),
        _ => (false, 0),
    };
    let mut v: u64 = 0;
    while let Some(d) = s.get(i).filter(|d| d.is_ascii_digit()) {
        v = v.saturating_mul(10).saturating_add(u64::from(d - b'0'));
        i += 1;
    }
    let value = if neg {
        if v > 1 << 63 {
            i64::MIN
        } else {
            (v as i64).wrapping_neg()
        }
    } else {
        i64::try_from(v).unwrap_or(i64::MAX)
    };
    (value, i)
}

fn parse_ip(s: &[u8]) -> Option<Sample> {
    let text = std::str::from_utf8(s).ok()?;
    if let Ok(a) = text.parse::<Ipv4Addr>() {
        return Some(Sample::Ipv4(a));
    }
    text.parse::<Ipv6Addr>().ok().map(Sample::Ipv6)
}

/// A sample type as HAProxy declares it for fetches and converters (`SMP_T_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SampleType {
    /// Any type (`var()`, known only at run time).
    Any,
    /// Boolean.
    Bool,
    /// Signed integer.
    Int,
    /// IPv4 or IPv6 address.
    Addr,
    /// IPv4 address.
    Ipv4,
    /// IPv6 address.
    Ipv6,
    /// String.
    Str,
    /// Binary.
    Bin,
    /// HTTP method.
    Meth,
}

impl SampleType {
    /// Whether HAProxy has a cast from `self` to `to` (checked when a configuration is parsed).
    pub fn can_cast(self, to: Self) -> bool {
        match self {
            Self::Any | Self::Str => true,
            Self::Bool => matches!(
                to,
                Self::Any | Self::Bool | Self::Int | Self::Str | Self::Bin
            ),
            Self::Int => to != Self::Meth,
            Self::Addr => to == Self::Any,
            Self::Ipv4 => to != Self::Bool && to != Self::Meth,
            Self::Ipv6 => !matches!(to, Self::Bool | Self::Int | Self::Meth),
            Self::Bin | Self::Meth => matches!(to, Self::Any | Self::Str | Self::Bin | Self::Meth),
        }
    }

    /// HAProxy's name for the type.
    pub fn name(self) -> &'static str {
        match self {
            Self::Any => "any",
            Self::Bool => "bool",
            Self::Int => "sint",
            Self::Addr => "addr",
            Self::Ipv4 => "ipv4",
            Self::Ipv6 => "ipv6",
            Self::Str => "str",
            Self::Bin => "bin",
            Self::Meth => "meth",
        }
    }
}

impl fmt::Display for SampleType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_data_matches_haproxy_encoding() {
        assert_eq!(Sample::Int(-42).into_typed_data(), TypedData::Int64(-42));
        assert_eq!(Sample::Bool(true).into_typed_data(), TypedData::Bool(true));
        assert_eq!(
            Sample::Ipv4(Ipv4Addr::LOCALHOST).into_typed_data(),
            TypedData::Ipv4(Ipv4Addr::LOCALHOST)
        );
        assert_eq!(
            Sample::Ipv6(Ipv6Addr::LOCALHOST).into_typed_data(),
            TypedData::Ipv6(Ipv6Addr::LOCALHOST)
        );
        assert_eq!(
            Sample::str("GET").into_typed_data(),
            TypedData::string("GET")
        );
        assert_eq!(
            Sample::bin(vec![0u8, 1]).into_typed_data(),
            TypedData::Bin(Bytes::from_static(&[0, 1]))
        );
        assert_eq!(Sample::typed_data(None), TypedData::Null);
    }

    #[test]
    fn casts() {
        let s = |t: &str| Sample::str(t);
        assert_eq!(s("42abc").cast(SampleType::Int), Some(Sample::Int(42)));
        assert_eq!(s("-7").cast(SampleType::Int), Some(Sample::Int(-7)));
        assert_eq!(s("").cast(SampleType::Int), None);
        assert_eq!(s("x").cast(SampleType::Int), Some(Sample::Int(0)));
        assert_eq!(
            s("99999999999999999999").cast(SampleType::Int),
            Some(Sample::Int(i64::MAX))
        );
        assert_eq!(
            s("10.0.0.1").cast(SampleType::Addr),
            Some(Sample::Ipv4(Ipv4Addr::new(10, 0, 0, 1)))
        );
        assert_eq!(
            s("::1").cast(SampleType::Addr),
            Some(Sample::Ipv6(Ipv6Addr::LOCALHOST))
        );
        assert_eq!(s("nope").cast(SampleType::Addr), None);
        assert_eq!(Sample::Int(5).cast(SampleType::Str), Some(s("5")));
        assert_eq!(Sample::Bool(true).cast(SampleType::Str), Some(s("1")));
        assert_eq!(
            Sample::Int(1).cast(SampleType::Bin),
            Some(Sample::bin(vec![0, 0, 0, 0, 0, 0, 0, 1]))
        );
        assert_eq!(
            Sample::Ipv4(Ipv4Addr::new(1, 2, 3, 4)).cast(SampleType::Int),
            Some(Sample::Int(0x0102_0304))
        );
        assert_eq!(
            Sample::Int(0x0102_0304).cast(SampleType::Ipv4),
            Some(Sample::Ipv4(Ipv4Addr::new(1, 2, 3, 4)))
        );
        assert_eq!(
            Sample::Ipv4(Ipv4Addr::new(1, 2, 3, 4)).cast(SampleType::Ipv6),
            Some(Sample::Ipv6("::ffff:1.2.3.4".parse().unwrap()))
        );
        assert_eq!(
            Sample::Ipv6("::ffff:1.2.3.4".parse().unwrap()).cast(SampleType::Ipv4),
            Some(Sample::Ipv4(Ipv4Addr::new(1, 2, 3, 4)))
        );
        assert_eq!(
            Sample::Ipv6(Ipv6Addr::LOCALHOST).cast(SampleType::Ipv4),
            None
        );
        assert_eq!(
            Sample::bin(b"ab\0cd".to_vec()).cast(SampleType::Str),
            Some(s("ab"))
        );
        assert_eq!(
            Sample::Ipv6(Ipv6Addr::LOCALHOST).cast(SampleType::Int),
            None
        );
        assert_eq!(Sample::Bin(Bytes::new()).cast(SampleType::Int), None);
    }

    #[test]
    fn cast_matrix() {
        use SampleType as T;
        assert!(T::Str.can_cast(T::Meth));
        assert!(!T::Bool.can_cast(T::Addr));
        assert!(!T::Bin.can_cast(T::Int));
        assert!(T::Ipv4.can_cast(T::Bin));
        assert!(!T::Ipv6.can_cast(T::Int));
        assert!(!T::Addr.can_cast(T::Str));
        assert!(T::Any.can_cast(T::Addr));
    }
}
