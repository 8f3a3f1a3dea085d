//! Parenthesized argument lists of fetches and converters: `req.hdr(host,1)`, `field(2,"; ")`
//! (`make_arg_list()` in `src/arg.c`).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::error::ArgError;
use super::sample::read_int64;

/// The type an argument position expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArgType {
    /// A signed integer.
    Int,
    /// A string.
    Str,
    /// An IPv4 address.
    Ipv4,
    /// An IPv4 mask, dotted or a prefix length.
    Mask4,
    /// An IPv6 address.
    Ipv6,
    /// An IPv6 mask, an address or a prefix length.
    Mask6,
}

impl ArgType {
    /// HAProxy's `arg_type_names[]`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Int => "sint",
            Self::Str => "str",
            Self::Ipv4 => "ipv4",
            Self::Mask4 => "mask4",
            Self::Ipv6 => "ipv6",
            Self::Mask6 => "mask6",
        }
    }
}

/// A parsed argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ArgValue {
    Int(i64),
    Str(String),
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
}

impl ArgValue {
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn as_int(&self) -> Option<i64> {
        match self {
            Self::Int(i) => Some(*i),
            _ => None,
        }
    }
}

/// The arguments found, each with the byte offset where it starts, and the offset of the first
/// byte after the list (after `)`, or `start` when there was no list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedArgs {
    pub(crate) values: Vec<(ArgValue, usize)>,
    pub(crate) end: usize,
    /// Whether the text had a parenthesized list at all.
    pub(crate) parens: bool,
}

/// A failure: the problem, HAProxy's `err_arg` (0-based argument index, reported plus one by
/// converters), and the byte offset where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArgFailure {
    pub(crate) error: ArgError,
    pub(crate) position: usize,
    pub(crate) offset: usize,
}

/// Parses the argument list of `text` starting at byte `start` (where a `(` may or may not be).
/// `spec` gives the type of each position, the first `min` being mandatory.
pub(crate) fn parse_arg_list(
    text: &str,
    start: usize,
    spec: &[ArgType],
    min: usize,
) -> Result<ParsedArgs, ArgFailure> {
    let bytes = text.as_bytes();
    let parens = bytes.get(start) == Some(&b'(');
    let mut i = if parens { start + 1 } else { start };
    let mut values = Vec::new();
    let mut pos = 0;

    let fail = |error, position, offset| ArgFailure {
        error,
        position,
        offset,
    };

    if !spec.is_empty() && (parens || min > 0) {
        while let Some(&ty) = spec.get(pos) {
            let arg_start = i;
            let mut out: Vec<u8> = Vec::new();
            let (mut squote, mut dquote) = (false, false);
            // Without parentheses HAProxy reads nothing: the argument is empty.
            while parens && i < bytes.len() {
                let c = bytes[i];
                match c {
                    b'"' if !squote => {
                        dquote = !dquote;
                        i += 1;
                    }
                    b'\'' if !dquote => {
                        squote = !squote;
                        i += 1;
                    }
                    b'\\' if !squote => match bytes.get(i + 1) {
                        Some(&n @ (b'\\' | b' ' | b'"' | b'\'')) => {
                            out.push(n);
                            i += 2;
                        }
                        Some(b'r') => {
                            out.push(b'\r');
                            i += 2;
                        }
                        Some(b'n') => {
                            out.push(b'\n');
                            i += 2;
                        }
                        Some(b't') => {
                            out.push(b'\t');
                            i += 2;
                        }
                        Some(_) => {
                            out.push(b'\\');
                            i += 1;
                        }
                        None => {
                            return Err(fail(
                                ArgError::Parse {
                                    text: format!("{}\\", String::from_utf8_lossy(&out)),
                                    expected: ty.name(),
                                    position: pos + 1,
                                },
                                pos,
                                arg_start,
                            ));
                        }
                    },
                    b',' | b')' if !squote && !dquote => break,
                    _ => {
                        out.push(c);
                        i += 1;
                    }
                }
            }
            let word = String::from_utf8_lossy(&out).into_owned();
            let parse_err = || {
                fail(
                    ArgError::Parse {
                        text: word.clone(),
                        expected: ty.name(),
                        position: pos + 1,
                    },
                    pos,
                    arg_start,
                )
            };
            let value = if word.is_empty() && ty != ArgType::Str {
                // An empty optional argument ends the list; an empty mandatory one is an error.
                if pos >= min {
                    break;
                }
                return Err(fail(
                    ArgError::Empty {
                        expected: ty.name(),
                        position: pos + 1,
                    },
                    pos,
                    arg_start,
                ));
            } else {
                match ty {
                    ArgType::Str => ArgValue::Str(word.clone()),
                    ArgType::Int => {
                        let (v, used) = read_int64(word.as_bytes());
                        if used != word.len() {
                            return Err(parse_err());
                        }
                        ArgValue::Int(v)
                    }
                    ArgType::Ipv4 => ArgValue::Ipv4(word.parse().map_err(|_| parse_err())?),
                    ArgType::Ipv6 => ArgValue::Ipv6(word.parse().map_err(|_| parse_err())?),
                    ArgType::Mask4 => ArgValue::Ipv4(parse_mask4(&word).ok_or_else(parse_err)?),
                    ArgType::Mask6 => ArgValue::Ipv6(parse_mask6(&word).ok_or_else(parse_err)?),
                }
            };
            values.push((value, arg_start));
            pos += 1;
            if !parens || i >= bytes.len() || bytes[i] == b')' || pos >= spec.len() {
                break;
            }
            i += 1; // the comma
        }
    }

    if pos < min {
        let expected = spec.get(pos).map_or("end", |t| t.name());
        return Err(fail(
            ArgError::Missing {
                got: pos,
                min,
                expected,
            },
            pos,
            i,
        ));
    }
    if parens {
        if bytes.get(i) == Some(&b')') {
            i += 1;
        } else {
            let position = if pos > 1 { pos - 1 } else { pos };
            return Err(fail(
                ArgError::ExpectedParen {
                    before: text.get(i..).unwrap_or_default().to_owned(),
                },
                position,
                i,
            ));
        }
    }
    Ok(ParsedArgs {
        values,
        end: i,
        parens,
    })
}

/// `str2mask()`: a dotted mask or a prefix length up to 32.
pub(crate) fn parse_mask4(text: &str) -> Option<Ipv4Addr> {
    if text.contains('.') {
        return text.parse().ok();
    }
    let len: u32 = text.parse().ok().filter(|&l| l <= 32)?;
    Some(Ipv4Addr::from(prefix_mask_u32(len)))
}

/// `str2mask6()`: an address-form mask or a prefix length up to 128.
pub(crate) fn parse_mask6(text: &str) -> Option<Ipv6Addr> {
    if text.contains(':') {
        return text.parse().ok();
    }
    let len: u32 = text.parse().ok().filter(|&l| l <= 128)?;
    Some(Ipv6Addr::from(prefix_mask_u128(len)))
}

pub(crate) fn prefix_mask_u32(len: u32) -> u32 {
    u32::MAX.checked_shl(32 - len.min(32)).unwrap_or(0)
}

pub(crate) fn prefix_mask_u128(len: u32) -> u128 {
    u128::MAX.checked_shl(128 - len.min(128)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HDR: &[ArgType] = &[ArgType::Str, ArgType::Int];

    fn ok(text: &str, spec: &[ArgType], min: usize) -> (Vec<ArgValue>, usize) {
        let parsed = parse_arg_list(text, 0, spec, min).unwrap();
        (
            parsed.values.into_iter().map(|(v, _)| v).collect(),
            parsed.end,
        )
    }

    fn err(text: &str, spec: &[ArgType], min: usize) -> String {
        parse_arg_list(text, 0, spec, min)
            .unwrap_err()
            .error
            .to_string()
    }

    #[test]
    fn lists() {
        assert_eq!(ok("", HDR, 0), (vec![], 0));
        assert_eq!(ok(",lower", HDR, 0), (vec![], 0));
        assert_eq!(
            ok("(host)", HDR, 0),
            (vec![ArgValue::Str("host".into())], 6)
        );
        assert_eq!(
            ok("(host,-1),lower", HDR, 0),
            (vec![ArgValue::Str("host".into()), ArgValue::Int(-1)], 9)
        );
        assert_eq!(
            ok(r#"("a,b",'c)')"#, &[ArgType::Str, ArgType::Str], 2),
            (
                vec![ArgValue::Str("a,b".into()), ArgValue::Str("c)".into())],
                12
            )
        );
        assert_eq!(
            ok(r"(a\,b)", &[ArgType::Str, ArgType::Str], 1).0,
            vec![ArgValue::Str(r"a\".into()), ArgValue::Str("b".into())]
        );
        assert_eq!(
            ok(r"(a\ b\tc)", &[ArgType::Str], 1).0,
            vec![ArgValue::Str("a b\tc".into())]
        );
        // A mandatory string without parentheses is an empty string.
        assert_eq!(
            ok("", &[ArgType::Str], 1),
            (vec![ArgValue::Str(String::new())], 0)
        );
        assert_eq!(ok("()", HDR, 0), (vec![ArgValue::Str(String::new())], 2));
        assert_eq!(
            ok("(24)", &[ArgType::Mask4], 1).0,
            vec![ArgValue::Ipv4(Ipv4Addr::new(255, 255, 255, 0))]
        );
        assert_eq!(
            ok("(64)", &[ArgType::Mask6], 1).0,
            vec![ArgValue::Ipv6("ffff:ffff:ffff:ffff::".parse().unwrap())]
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            err("", &[ArgType::Int], 1),
            "expected type 'sint' at position 1, but got nothing"
        );
        assert_eq!(
            err("(x)", &[ArgType::Int], 1),
            "failed to parse 'x' as type 'sint' at position 1"
        );
        assert_eq!(
            err("(1.2.3)", &[ArgType::Ipv4], 1),
            "failed to parse '1.2.3' as type 'ipv4' at position 1"
        );
        assert_eq!(
            err("(a,b,c)", HDR, 0),
            "failed to parse 'b' as type 'sint' at position 2"
        );
        assert_eq!(err("(a,1,c)", HDR, 0), "expected ')' before ',c)'");
        assert_eq!(err("(a", HDR, 0), "expected ')'");
        assert_eq!(
            err("(a)", &[ArgType::Str, ArgType::Str], 2),
            "missing arguments (got 1/2), type 'str' expected"
        );
        assert_eq!(err("(1)", &[], 0), "expected ')' before '1)'");
        assert_eq!(
            err(r"(a\,b)", &[ArgType::Str], 1),
            "expected ')' before ',b)'"
        );
        assert_eq!(
            err("(33)", &[ArgType::Mask4], 1),
            "failed to parse '33' as type 'mask4' at position 1"
        );
    }
}
