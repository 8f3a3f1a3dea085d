//! `NAME=TYPE:VALUE` message arguments on the command line (`spoe notify`,
//! `spoe bench`): `ip=ipv4:10.0.0.1`, `x=bin:cafe`, `n=int:-5`, `t=null`.

use std::str::FromStr;

use bytes::Bytes;
use spop::{Kv, TypedData};

/// One parsed argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TypedArg(pub(crate) Kv);

const TYPES: &str = "null, bool, int (INT64), uint (UINT64), ipv4, ipv6, str, bin (hex)";

impl FromStr for TypedArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, rest) = s.split_once('=').ok_or_else(|| {
            format!("argument {s:?}: expected NAME=TYPE:VALUE, such as ip=ipv4:10.0.0.1")
        })?;
        let Some((ty, value)) = rest
            .split_once(':')
            .or((rest == "null").then_some((rest, "")))
        else {
            return Err(format!(
                "argument {s:?}: expected NAME=TYPE:VALUE, such as {name}=str:{rest} (TYPE is \
                 one of {TYPES}; null takes no value: {name}=null)"
            ));
        };
        let bad = |what: &str| format!("argument {s:?}: {value:?} is not a valid {what}");
        let data = match ty {
            "null" if value.is_empty() => TypedData::Null,
            "null" => return Err(format!("argument {s:?}: null takes no value")),
            "bool" => match value {
                "true" | "1" => TypedData::Bool(true),
                "false" | "0" => TypedData::Bool(false),
                _ => return Err(bad("bool (true, false, 1 or 0)")),
            },
            "int" => TypedData::Int64(value.parse().map_err(|_| bad("64-bit signed integer"))?),
            "uint" => TypedData::Uint64(value.parse().map_err(|_| bad("64-bit unsigned integer"))?),
            "ipv4" => TypedData::Ipv4(value.parse().map_err(|_| bad("IPv4 address"))?),
            "ipv6" => TypedData::Ipv6(value.parse().map_err(|_| bad("IPv6 address"))?),
            "str" => TypedData::Str(Bytes::copy_from_slice(value.as_bytes())),
            "bin" => TypedData::Bin(Bytes::from(
                hex::decode(value).map_err(|_| bad("hex string"))?,
            )),
            other => {
                return Err(format!(
                    "argument {s:?}: unknown type {other:?}; expected NAME=TYPE:VALUE with TYPE \
                     one of {TYPES}, such as {name}=str:{rest}"
                ));
            }
        };
        Ok(Self(Kv::new(Bytes::copy_from_slice(name.as_bytes()), data)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<TypedData, String> {
        s.parse::<TypedArg>().map(|a| a.0.value)
    }

    #[test]
    fn every_type() {
        assert_eq!(
            parse("ip=ipv4:10.0.0.1"),
            Ok(TypedData::Ipv4([10, 0, 0, 1].into()))
        );
        assert_eq!(
            parse("ip=ipv6:::1"),
            Ok(TypedData::Ipv6(std::net::Ipv6Addr::LOCALHOST))
        );
        assert_eq!(parse("x=bin:cafe"), Ok(TypedData::binary(vec![0xca, 0xfe])));
        assert_eq!(parse("n=int:-5"), Ok(TypedData::Int64(-5)));
        assert_eq!(
            parse("n=uint:18446744073709551615"),
            Ok(TypedData::Uint64(u64::MAX))
        );
        assert_eq!(parse("b=bool:true"), Ok(TypedData::Bool(true)));
        assert_eq!(parse("t=null"), Ok(TypedData::Null));
        assert_eq!(parse("s=str:a:b=c"), Ok(TypedData::string("a:b=c")));
        assert_eq!(parse("=str:"), Ok(TypedData::string("")));
        let e = parse("ua=Googlebot").unwrap_err();
        assert!(
            e.contains("expected NAME=TYPE:VALUE, such as ua=str:Googlebot"),
            "{e}"
        );
        let e = parse("ua=text:Googlebot").unwrap_err();
        assert!(
            e.contains("unknown type \"text\"") && e.contains("such as ua=str:text:Googlebot"),
            "{e}"
        );
        for bad in [
            "x",
            "x=float:1",
            "x=int:1.5",
            "x=bin:zz",
            "x=null:1",
            "x=bool:yes",
            "x=ipv4:::1",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
