//! From a [`TypedData`] to the Rust type a handler wants: `TryFrom<&TypedData>`
//! for the std types, and typed lookups of a message's arguments whose error
//! names the argument, the expected type and the type received.
//!
//! | Rust type | accepted wire types |
//! |---|---|
//! | `bool` | BOOL |
//! | `i64`, `u64`, `i32`, `u32` | any integer type whose value fits (HAProxy sends INT64) |
//! | `&str`, `String` | STRING holding UTF-8 |
//! | `&[u8]`, `Bytes`, `Vec<u8>` | STRING or BINARY |
//! | `Ipv4Addr`, `Ipv6Addr` | IPV4, IPV6 |
//! | `IpAddr` | IPV4 or IPV6 |
//!
//! NULL (a sample HAProxy could not fetch) converts to nothing:
//! [`Message::get_opt`](crate::Message::get_opt) reads it as `None`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::Bytes;

use crate::data::{DataType, TypedData};

/// A [`TypedData`] is not of the Rust type asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TypeError {
    /// The wire type cannot convert to the Rust type.
    #[error("expected {expected}, got {got:?}")]
    Mismatch {
        /// What the conversion accepts, e.g. `"BOOL"` or `"an integer"`.
        expected: &'static str,
        /// The wire type received.
        got: DataType,
    },
    /// An integer does not fit in the Rust type.
    #[error("expected {expected}, got {got:?} {value} (out of range)")]
    OutOfRange {
        /// The Rust integer type, e.g. `"u32"`.
        expected: &'static str,
        /// The wire type received.
        got: DataType,
        /// The value, as text (it may not fit in an `i64`).
        value: String,
    },
    /// A STRING is not UTF-8 (HAProxy does not promise it is).
    #[error("expected UTF-8 text, got a STRING of {len} bytes that is not UTF-8")]
    NotUtf8 {
        /// Bytes in the STRING.
        len: usize,
    },
}

impl TypeError {
    fn mismatch(expected: &'static str, got: &TypedData) -> Self {
        Self::Mismatch {
            expected,
            got: got.data_type(),
        }
    }
}

/// Why a typed lookup of a message's argument failed; the message names the
/// argument.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArgError {
    /// No argument has this name.
    #[error("argument {arg:?} is missing from message {message:?}")]
    Missing {
        /// The message's name (lossy UTF-8).
        message: String,
        /// The argument asked for.
        arg: String,
    },
    /// The argument is there, of another type.
    #[error("argument {arg:?} of message {message:?}: {source}")]
    Type {
        /// The message's name (lossy UTF-8).
        message: String,
        /// The argument asked for.
        arg: String,
        /// What was expected and what was received.
        source: TypeError,
    },
}

impl ArgError {
    /// The argument's name.
    pub fn arg(&self) -> &str {
        match self {
            Self::Missing { arg, .. } | Self::Type { arg, .. } => arg,
        }
    }
}

impl TypedData {
    /// True for NULL (a sample HAProxy could not fetch).
    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    /// BOOL as a `bool`.
    pub fn as_bool(&self) -> Option<bool> {
        bool::try_from(self).ok()
    }

    /// Any integer type as a `u64` (negative values do not fit).
    pub fn as_u64(&self) -> Option<u64> {
        u64::try_from(self).ok()
    }

    /// Any integer type as an `i32`, when the value fits.
    pub fn as_i32(&self) -> Option<i32> {
        i32::try_from(self).ok()
    }

    /// Any integer type as a `u32`, when the value fits.
    pub fn as_u32(&self) -> Option<u32> {
        u32::try_from(self).ok()
    }

    /// IPV4 as an address.
    pub fn as_ipv4(&self) -> Option<Ipv4Addr> {
        match *self {
            Self::Ipv4(a) => Some(a),
            _ => None,
        }
    }

    /// IPV6 as an address.
    pub fn as_ipv6(&self) -> Option<Ipv6Addr> {
        match *self {
            Self::Ipv6(a) => Some(a),
            _ => None,
        }
    }

    /// BINARY bytes only (see [`TypedData::as_bytes`] for STRING or BINARY).
    pub fn as_binary(&self) -> Option<&Bytes> {
        match self {
            Self::Bin(b) => Some(b),
            _ => None,
        }
    }

    /// The value as `T`, with an error that says what was received
    /// (`TryFrom<&TypedData>`, as a method).
    pub fn to<'a, T>(&'a self) -> Result<T, TypeError>
    where
        T: TryFrom<&'a Self, Error = TypeError>,
    {
        T::try_from(self)
    }
}

impl TryFrom<&TypedData> for bool {
    type Error = TypeError;
    fn try_from(v: &TypedData) -> Result<Self, TypeError> {
        match *v {
            TypedData::Bool(b) => Ok(b),
            _ => Err(TypeError::mismatch("BOOL", v)),
        }
    }
}

/// The integer a typed value holds, widened so that every wire integer fits.
fn wide_int(v: &TypedData, expected: &'static str) -> Result<i128, TypeError> {
    match *v {
        TypedData::Int32(n) => Ok(i128::from(n)),
        TypedData::Uint32(n) => Ok(i128::from(n)),
        TypedData::Int64(n) => Ok(i128::from(n)),
        TypedData::Uint64(n) => Ok(i128::from(n)),
        _ => Err(TypeError::Mismatch {
            expected,
            got: v.data_type(),
        }),
    }
}

macro_rules! int_conversion {
    ($($t:ty),*) => {$(
        impl TryFrom<&TypedData> for $t {
            type Error = TypeError;
            fn try_from(v: &TypedData) -> Result<Self, TypeError> {
                let n = wide_int(v, concat!("an integer (", stringify!($t), ")"))?;
                <$t>::try_from(n).map_err(|_| TypeError::OutOfRange {
                    expected: stringify!($t),
                    got: v.data_type(),
                    value: n.to_string(),
                })
            }
        }
    )*};
}
int_conversion!(i32, u32, i64, u64);

impl<'a> TryFrom<&'a TypedData> for &'a str {
    type Error = TypeError;
    fn try_from(v: &'a TypedData) -> Result<Self, TypeError> {
        match v {
            TypedData::Str(b) => {
                std::str::from_utf8(b).map_err(|_| TypeError::NotUtf8 { len: b.len() })
            }
            _ => Err(TypeError::mismatch("STRING", v)),
        }
    }
}

impl TryFrom<&TypedData> for String {
    type Error = TypeError;
    fn try_from(v: &TypedData) -> Result<Self, TypeError> {
        <&str>::try_from(v).map(str::to_owned)
    }
}

impl<'a> TryFrom<&'a TypedData> for &'a [u8] {
    type Error = TypeError;
    fn try_from(v: &'a TypedData) -> Result<Self, TypeError> {
        v.as_bytes()
            .map(|b| &b[..])
            .ok_or_else(|| TypeError::mismatch("STRING or BINARY", v))
    }
}

impl TryFrom<&TypedData> for Bytes {
    type Error = TypeError;
    fn try_from(v: &TypedData) -> Result<Self, TypeError> {
        v.as_bytes()
            .cloned()
            .ok_or_else(|| TypeError::mismatch("STRING or BINARY", v))
    }
}

impl TryFrom<&TypedData> for Vec<u8> {
    type Error = TypeError;
    fn try_from(v: &TypedData) -> Result<Self, TypeError> {
        <&[u8]>::try_from(v).map(<[u8]>::to_vec)
    }
}

impl TryFrom<&TypedData> for Ipv4Addr {
    type Error = TypeError;
    fn try_from(v: &TypedData) -> Result<Self, TypeError> {
        v.as_ipv4().ok_or_else(|| TypeError::mismatch("IPV4", v))
    }
}

impl TryFrom<&TypedData> for Ipv6Addr {
    type Error = TypeError;
    fn try_from(v: &TypedData) -> Result<Self, TypeError> {
        v.as_ipv6().ok_or_else(|| TypeError::mismatch("IPV6", v))
    }
}

impl TryFrom<&TypedData> for IpAddr {
    type Error = TypeError;
    fn try_from(v: &TypedData) -> Result<Self, TypeError> {
        v.as_ip()
            .ok_or_else(|| TypeError::mismatch("IPV4 or IPV6", v))
    }
}

impl TryFrom<&Self> for TypedData {
    type Error = TypeError;
    fn try_from(v: &Self) -> Result<Self, TypeError> {
        Ok(v.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Message;

    #[test]
    fn every_std_type_converts_from_what_haproxy_sends() {
        assert!(bool::try_from(&TypedData::Bool(true)).unwrap());
        assert_eq!(i64::try_from(&TypedData::Int64(-5)).unwrap(), -5);
        assert_eq!(u64::try_from(&TypedData::Int64(5)).unwrap(), 5);
        assert_eq!(i32::try_from(&TypedData::Int64(-7)).unwrap(), -7);
        assert_eq!(u32::try_from(&TypedData::Uint32(16380)).unwrap(), 16380);
        assert_eq!(
            u64::try_from(&TypedData::Uint64(u64::MAX)).unwrap(),
            u64::MAX
        );
        let s = TypedData::string("Mozilla");
        assert_eq!(<&str>::try_from(&s).unwrap(), "Mozilla");
        assert_eq!(String::try_from(&s).unwrap(), "Mozilla");
        assert_eq!(<&[u8]>::try_from(&s).unwrap(), b"Mozilla");
        let b = TypedData::binary(vec![0xca, 0xfe]);
        assert_eq!(Vec::<u8>::try_from(&b).unwrap(), vec![0xca, 0xfe]);
        assert_eq!(
            Bytes::try_from(&b).unwrap(),
            Bytes::from_static(&[0xca, 0xfe])
        );
        let v4 = TypedData::Ipv4(Ipv4Addr::LOCALHOST);
        assert_eq!(Ipv4Addr::try_from(&v4).unwrap(), Ipv4Addr::LOCALHOST);
        assert_eq!(
            IpAddr::try_from(&v4).unwrap(),
            IpAddr::from(Ipv4Addr::LOCALHOST)
        );
        let v6 = TypedData::Ipv6(Ipv6Addr::LOCALHOST);
        assert_eq!(Ipv6Addr::try_from(&v6).unwrap(), Ipv6Addr::LOCALHOST);
        assert!(TypedData::Null.is_null());
        assert_eq!(TypedData::Bool(false).as_bool(), Some(false));
        assert_eq!(TypedData::Int64(3).as_u32(), Some(3));
        assert_eq!(TypedData::Int64(-3).as_i32(), Some(-3));
        assert_eq!(TypedData::Int64(-3).as_u64(), None);
        assert_eq!(v6.as_ipv4(), None);
        assert_eq!(b.as_binary().map(|b| b.len()), Some(2));
        assert_eq!(s.as_binary(), None);
    }

    #[test]
    fn errors_say_what_was_expected_and_received() {
        let e = bool::try_from(&TypedData::Int64(1)).unwrap_err();
        assert_eq!(e.to_string(), "expected BOOL, got INT64");
        let e = u32::try_from(&TypedData::Int64(-1)).unwrap_err();
        assert_eq!(e.to_string(), "expected u32, got INT64 -1 (out of range)");
        let e = i32::try_from(&TypedData::Uint64(u64::MAX)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "expected i32, got UINT64 18446744073709551615 (out of range)"
        );
        let e = Ipv4Addr::try_from(&TypedData::Ipv6(Ipv6Addr::LOCALHOST)).unwrap_err();
        assert_eq!(e.to_string(), "expected IPV4, got IPV6");
        let e = <&str>::try_from(&TypedData::Str(Bytes::from_static(&[0xff, 0xfe]))).unwrap_err();
        assert_eq!(e, TypeError::NotUtf8 { len: 2 });
        let e = <&str>::try_from(&TypedData::Null).unwrap_err();
        assert_eq!(e.to_string(), "expected STRING, got NULL");
    }

    #[test]
    fn typed_lookup_names_the_argument() {
        let m = Message::new("check-client")
            .arg("ip", Ipv4Addr::new(192, 0, 2, 1))
            .arg("ua", "curl/8")
            .arg("missing-sample", TypedData::Null);
        assert_eq!(
            m.get_as::<Ipv4Addr>("ip").unwrap(),
            Ipv4Addr::new(192, 0, 2, 1)
        );
        assert_eq!(m.get_as::<&str>("ua").unwrap(), "curl/8");
        let e = m.get_as::<Ipv6Addr>("ip").unwrap_err();
        assert_eq!(e.arg(), "ip");
        assert_eq!(
            e.to_string(),
            "argument \"ip\" of message \"check-client\": expected IPV6, got IPV4"
        );
        let e = m.get_as::<bool>("nope").unwrap_err();
        assert_eq!(
            e.to_string(),
            "argument \"nope\" is missing from message \"check-client\""
        );
        assert_eq!(m.get_opt::<&str>("missing-sample").unwrap(), None);
        assert_eq!(m.get_opt::<&str>("nope").unwrap(), None);
        assert_eq!(m.get_opt::<&str>("ua").unwrap(), Some("curl/8"));
        assert!(m.get_opt::<i64>("ua").is_err());
    }
}
