//! Converters: `,lower`, `,base64`, `,field(2,:)`... (`sample_conv_kws[]` in `src/sample.c` and
//! `src/http_conv.c`), with HAProxy's input/output types and run-time behaviour.

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::Bytes;
use regex::bytes::Regex;

use super::args::{ArgType, ArgValue};
use super::encoding;
use super::fetch::{Fetch, FetchKind, VarRef};
use super::sample::{Sample, SampleType, read_int64};
use super::script::{SCRIPT_ARGS, script_args, script_converter};

/// The operand of an arithmetic converter: a constant or a variable read when evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    /// A constant.
    Int(i64),
    /// A variable, cast to an integer; when it is unset the converter fails.
    Var(VarRef),
}

/// A converter with its parsed arguments.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Converter {
    /// `lower`: ASCII letters to lower case.
    Lower,
    /// `upper`: ASCII letters to upper case.
    Upper,
    /// `hex`: bytes to upper-case hexadecimal.
    Hex,
    /// `hex2i`: hexadecimal text to an integer.
    Hex2i,
    /// `base64`.
    Base64,
    /// `b64dec`.
    B64dec,
    /// `ub64enc`: URL-safe base64 without padding.
    Ub64enc,
    /// `ub64dec`.
    Ub64dec,
    /// `length`: the length in bytes.
    Length,
    /// `bytes(offset[,length])`.
    Bytes {
        /// First byte kept (a negative offset yields an empty result, as in HAProxy 2.6).
        offset: i64,
        /// How many bytes at most (a negative length means no limit).
        length: Option<i64>,
    },
    /// `field(index,delimiters[,count])`.
    Field {
        /// 1-based field index; negative counts from the end.
        index: i64,
        /// Delimiter bytes.
        delimiters: Bytes,
        /// How many fields to return (0: all the rest).
        count: Option<i64>,
    },
    /// `word(index,delimiters[,count])`: like `field`, but runs of delimiters count as one.
    Word {
        /// 1-based word index; negative counts from the end.
        index: i64,
        /// Delimiter bytes.
        delimiters: Bytes,
        /// How many words to return (0: all the rest).
        count: Option<i64>,
    },
    /// `ltrim(chars)`.
    Ltrim(Bytes),
    /// `rtrim(chars)`.
    Rtrim(Bytes),
    /// `cut_crlf`: everything before the first CR or LF.
    CutCrlf,
    /// `ipmask(mask4[,mask6])`.
    Ipmask {
        /// The IPv4 mask.
        v4: Ipv4Addr,
        /// The IPv6 mask; without it IPv6 addresses fail.
        v6: Option<Ipv6Addr>,
    },
    /// `bool`: non-zero integers are true.
    Bool,
    /// `not`: zero is true.
    Not,
    /// `odd`.
    Odd,
    /// `even`.
    Even,
    /// `neg`: saturating negation.
    Neg,
    /// `cpl`: bitwise complement.
    Cpl,
    /// `add(x)`: saturating.
    Add(Operand),
    /// `sub(x)`: saturating.
    Sub(Operand),
    /// `mul(x)`: saturating.
    Mul(Operand),
    /// `div(x)`: division by zero gives `i64::MAX`.
    Div(Operand),
    /// `mod(x)`: modulo zero gives 0.
    Mod(Operand),
    /// `and(x)`.
    And(Operand),
    /// `or(x)`.
    Or(Operand),
    /// `xor(x)`.
    Xor(Operand),
    /// `iif(if_true,if_false)`.
    Iif {
        /// Result when the input is true.
        if_true: Bytes,
        /// Result when it is false.
        if_false: Bytes,
    },
    /// `concat([prefix][,var][,suffix])`.
    Concat {
        /// Appended first.
        prefix: Bytes,
        /// A variable appended next (when set).
        var: Option<VarRef>,
        /// Appended last.
        suffix: Bytes,
    },
    /// `regsub(regex,replacement[,flags])`: `\1`..`\9` in the replacement refer to groups;
    /// flag `g` replaces every match, `i` ignores case.
    Regsub {
        /// The compiled expression.
        regex: Regex,
        /// The replacement, in the regex crate's syntax.
        replacement: String,
        /// Replace every match, not only the first.
        global: bool,
    },
    /// `lua.NAME(args...)`: a converter a Lua file registered; the host runs it
    /// ([`Fetch::lua_convert`]).
    Lua {
        /// The registered name (without `lua.`).
        name: String,
        /// The string arguments.
        args: Vec<String>,
    },
    /// `url_dec([in_form])`.
    UrlDec {
        /// Decode `+` as a space from the start.
        in_form: bool,
    },
}

/// A converter's signature.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConverterDef {
    pub(crate) args: &'static [ArgType],
    pub(crate) min: usize,
    pub(crate) input: SampleType,
    pub(crate) output: SampleType,
}

const fn def(
    args: &'static [ArgType],
    min: usize,
    input: SampleType,
    output: SampleType,
) -> ConverterDef {
    ConverterDef {
        args,
        min,
        input,
        output,
    }
}

/// The signature of a converter this implementation evaluates.
pub(crate) fn converter_def(name: &str) -> Option<ConverterDef> {
    use ArgType as A;
    use SampleType as T;
    let d = match name {
        "lower" | "upper" | "cut_crlf" => def(&[], 0, T::Str, T::Str),
        "hex" | "base64" | "ub64enc" => def(&[], 0, T::Bin, T::Str),
        "b64dec" | "ub64dec" => def(&[], 0, T::Str, T::Bin),
        "hex2i" | "length" => def(&[], 0, T::Str, T::Int),
        "bytes" => def(&[A::Int, A::Int], 1, T::Bin, T::Bin),
        "field" | "word" => def(&[A::Int, A::Str, A::Int], 2, T::Str, T::Str),
        "ltrim" | "rtrim" => def(&[A::Str], 1, T::Str, T::Str),
        "ipmask" => def(&[A::Mask4, A::Mask6], 1, T::Addr, T::Ipv4),
        "bool" | "not" | "odd" | "even" => def(&[], 0, T::Int, T::Bool),
        "neg" | "cpl" => def(&[], 0, T::Int, T::Int),
        "add" | "sub" | "mul" | "div" | "mod" | "and" | "or" | "xor" => {
            def(&[A::Str], 1, T::Int, T::Int)
        }
        "iif" => def(&[A::Str, A::Str], 2, T::Bool, T::Str),
        "concat" => def(&[A::Str, A::Str, A::Str], 1, T::Str, T::Str),
        "regsub" => def(&[A::Str, A::Str, A::Str], 2, T::Str, T::Str),
        "url_dec" => def(&[A::Int], 0, T::Str, T::Str),
        other => {
            script_converter(other)?;
            def(SCRIPT_ARGS, 0, T::Str, T::Str)
        }
    };
    Some(d)
}

/// Builds the converter `name` (known to [`converter_def`]) from its parsed arguments; an
/// error is the reason HAProxy's argument validator gives.
pub(crate) fn build_converter(name: &str, args: &[ArgValue]) -> Result<Converter, String> {
    let str_arg = |i: usize| args.get(i).and_then(ArgValue::as_str).unwrap_or_default();
    let bytes_arg = |i: usize| Bytes::from(str_arg(i).to_owned());
    let int_arg = |i: usize| args.get(i).and_then(ArgValue::as_int);
    let operand = || -> Result<Operand, String> {
        let text = str_arg(0);
        if let Ok(var) = VarRef::parse(text) {
            return Ok(Operand::Var(var));
        }
        let (value, used) = read_int64(text.as_bytes());
        if used != text.len() {
            return Err("expects an integer or a variable name".to_owned());
        }
        Ok(Operand::Int(value))
    };
    let fields = || -> Result<(i64, Bytes, Option<i64>), String> {
        let index = int_arg(0).unwrap_or_default();
        if index == 0 {
            return Err("Unexpected value 0 for index".to_owned());
        }
        if str_arg(1).is_empty() {
            return Err("Empty separators list".to_owned());
        }
        Ok((index, bytes_arg(1), int_arg(2)))
    };
    let conv = match name {
        "lower" => Converter::Lower,
        "upper" => Converter::Upper,
        "cut_crlf" => Converter::CutCrlf,
        "hex" => Converter::Hex,
        "base64" => Converter::Base64,
        "ub64enc" => Converter::Ub64enc,
        "b64dec" => Converter::B64dec,
        "ub64dec" => Converter::Ub64dec,
        "hex2i" => Converter::Hex2i,
        "length" => Converter::Length,
        "bytes" => Converter::Bytes {
            offset: int_arg(0).unwrap_or_default(),
            length: int_arg(1),
        },
        "field" => {
            let (index, delimiters, count) = fields()?;
            Converter::Field {
                index,
                delimiters,
                count,
            }
        }
        "word" => {
            let (index, delimiters, count) = fields()?;
            Converter::Word {
                index,
                delimiters,
                count,
            }
        }
        "ltrim" => Converter::Ltrim(bytes_arg(0)),
        "rtrim" => Converter::Rtrim(bytes_arg(0)),
        "ipmask" => {
            let v4 = match args.first() {
                Some(ArgValue::Ipv4(m)) => *m,
                _ => Ipv4Addr::BROADCAST,
            };
            let v6 = match args.get(1) {
                Some(ArgValue::Ipv6(m)) => Some(*m),
                _ => None,
            };
            Converter::Ipmask { v4, v6 }
        }
        "bool" => Converter::Bool,
        "not" => Converter::Not,
        "odd" => Converter::Odd,
        "even" => Converter::Even,
        "neg" => Converter::Neg,
        "cpl" => Converter::Cpl,
        "add" => Converter::Add(operand()?),
        "sub" => Converter::Sub(operand()?),
        "mul" => Converter::Mul(operand()?),
        "div" => Converter::Div(operand()?),
        "mod" => Converter::Mod(operand()?),
        "and" => Converter::And(operand()?),
        "or" => Converter::Or(operand()?),
        "xor" => Converter::Xor(operand()?),
        "iif" => Converter::Iif {
            if_true: bytes_arg(0),
            if_false: bytes_arg(1),
        },
        "concat" => {
            let var = match str_arg(1) {
                "" => None,
                name => Some(
                    VarRef::parse(name)
                        .map_err(|_| format!("failed to register variable name '{name}'"))?,
                ),
            };
            Converter::Concat {
                prefix: bytes_arg(0),
                var,
                suffix: bytes_arg(2),
            }
        }
        "regsub" => {
            let mut icase = false;
            let mut global = false;
            for flag in str_arg(2).chars() {
                match flag {
                    'i' => icase = true,
                    'g' => global = true,
                    other => {
                        return Err(format!(
                            "invalid regex flag '{other}', only 'i' and 'g' are supported"
                        ));
                    }
                }
            }
            let regex = compile_regex(str_arg(0), icase)?;
            Converter::Regsub {
                regex,
                replacement: haproxy_replacement(str_arg(1)),
                global,
            }
        }
        "url_dec" => Converter::UrlDec {
            in_form: int_arg(0).is_some_and(|v| v != 0),
        },
        other => match script_converter(other) {
            Some(name) => Converter::Lua {
                name: name.to_owned(),
                args: script_args(args),
            },
            None => return Err(format!("internal error: no builder for '{other}'")),
        },
    };
    Ok(conv)
}

/// Compiles a HAProxy (PCRE-style) regular expression with the `regex` crate.
pub(crate) fn compile_regex(pattern: &str, icase: bool) -> Result<Regex, String> {
    regex::bytes::RegexBuilder::new(pattern)
        .case_insensitive(icase)
        .unicode(false)
        .build()
        .map_err(|e| format!("failed to compile regex '{pattern}' : {e}"))
}

/// HAProxy's `\1`..`\9` back-references to the regex crate's `${1}`; `$` is escaped.
pub fn haproxy_replacement(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek().is_some_and(char::is_ascii_digit) => {
                let digit = chars.next().unwrap_or('0');
                out.push_str("${");
                out.push(digit);
                out.push('}');
            }
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out
}

impl Converter {
    /// Applies the converter to `input` (already produced by the previous step). `None` when
    /// HAProxy's converter fails (bad input, unset variable...).
    pub(crate) fn apply<H: Fetch + ?Sized>(
        &self,
        input: Sample,
        input_type: SampleType,
        host: &H,
    ) -> Option<Sample> {
        let input = input.cast(input_type)?;
        match self {
            Self::Lower | Self::Upper => {
                let mut b = input.as_bytes()?.to_vec();
                if matches!(self, Self::Lower) {
                    b.make_ascii_lowercase();
                } else {
                    b.make_ascii_uppercase();
                }
                Some(same_kind(&input, b))
            }
            Self::Hex => Some(Sample::Str(encoding::hex_upper(input.as_bytes()?).into())),
            Self::Hex2i => {
                let mut n: i64 = 0;
                for &c in input.as_bytes()?.iter() {
                    let d = (c as char).to_digit(16)?;
                    n = n.wrapping_shl(4).wrapping_add(i64::from(d));
                }
                Some(Sample::Int(n))
            }
            Self::Base64 => Some(Sample::Str(
                encoding::base64_encode(input.as_bytes()?).into(),
            )),
            Self::Ub64enc => Some(Sample::Str(
                encoding::base64url_encode(input.as_bytes()?).into(),
            )),
            Self::B64dec => {
                encoding::base64_decode(input.as_bytes()?).map(|b| Sample::Bin(b.into()))
            }
            Self::Ub64dec => {
                encoding::base64url_decode(input.as_bytes()?).map(|b| Sample::Bin(b.into()))
            }
            Self::Length => Some(Sample::Int(input.as_bytes()?.len() as i64)),
            Self::Bytes { offset, length } => {
                let b = input.as_bytes()?;
                let start = usize::try_from(*offset).unwrap_or(usize::MAX);
                if b.len() <= start {
                    return Some(same_kind(&input, Vec::new()));
                }
                let mut out = b.slice(start..);
                if let Some(len) = length.and_then(|l| usize::try_from(l).ok())
                    && len < out.len()
                {
                    out = out.slice(..len);
                }
                Some(match input {
                    Sample::Str(_) => Sample::Str(out),
                    _ => Sample::Bin(out),
                })
            }
            Self::Field {
                index,
                delimiters,
                count,
            } => field(input.as_bytes()?, *index, delimiters, count.unwrap_or(1)).map(Sample::Str),
            Self::Word {
                index,
                delimiters,
                count,
            } => Some(Sample::Str(word(
                input.as_bytes()?,
                *index,
                delimiters,
                count.unwrap_or(1),
            ))),
            Self::Ltrim(chars) => {
                let b = input.as_bytes()?;
                let start = b.iter().position(|c| !chars.contains(c)).unwrap_or(b.len());
                Some(Sample::Str(b.slice(start..)))
            }
            Self::Rtrim(chars) => {
                let b = input.as_bytes()?;
                let end = b
                    .iter()
                    .rposition(|c| !chars.contains(c))
                    .map_or(0, |p| p + 1);
                Some(Sample::Str(b.slice(..end)))
            }
            Self::CutCrlf => {
                let b = input.as_bytes()?;
                let end = b
                    .iter()
                    .position(|&c| c == b'\r' || c == b'\n')
                    .unwrap_or(b.len());
                Some(Sample::Str(b.slice(..end)))
            }
            Self::Ipmask { v4, v6 } => {
                // HAProxy first turns IPv4-mapped IPv6 addresses into IPv4.
                let input = match input {
                    Sample::Ipv6(a) => a.to_ipv4_mapped().map_or(Sample::Ipv6(a), Sample::Ipv4),
                    other => other,
                };
                match input {
                    Sample::Ipv4(a) => {
                        Some(Sample::Ipv4(Ipv4Addr::from(u32::from(a) & u32::from(*v4))))
                    }
                    Sample::Ipv6(a) => {
                        v6.map(|m| Sample::Ipv6(Ipv6Addr::from(u128::from(a) & u128::from(m))))
                    }
                    _ => None,
                }
            }
            Self::Bool => Some(Sample::Bool(int_of(&input)? != 0)),
            Self::Not => Some(Sample::Bool(int_of(&input)? == 0)),
            Self::Odd => Some(Sample::Bool(int_of(&input)? & 1 == 1)),
            Self::Even => Some(Sample::Bool(int_of(&input)? & 1 == 0)),
            Self::Neg => Some(Sample::Int(neg(int_of(&input)?))),
            Self::Cpl => Some(Sample::Int(!int_of(&input)?)),
            Self::Add(op) => arith(&input, op, host, i64::saturating_add),
            Self::Sub(op) => arith(&input, op, host, i64::saturating_sub),
            Self::Mul(op) => arith(&input, op, host, i64::saturating_mul),
            Self::Div(op) => arith(&input, op, host, |a, b| match b {
                0 => i64::MAX,
                -1 if a == i64::MIN => i64::MAX,
                b => a / b,
            }),
            Self::Mod(op) => arith(&input, op, host, |a, b| match b {
                0 | -1 => 0,
                b => a % b,
            }),
            Self::And(op) => arith(&input, op, host, |a, b| a & b),
            Self::Or(op) => arith(&input, op, host, |a, b| a | b),
            Self::Xor(op) => arith(&input, op, host, |a, b| a ^ b),
            Self::Iif { if_true, if_false } => {
                let truth = match input {
                    Sample::Bool(b) => b,
                    other => int_of(&other)? != 0,
                };
                Some(Sample::Str(if truth {
                    if_true.clone()
                } else {
                    if_false.clone()
                }))
            }
            Self::Concat {
                prefix,
                var,
                suffix,
            } => {
                let mut out = input.as_bytes()?.to_vec();
                out.extend_from_slice(prefix);
                if let Some(var) = var
                    && let Some(value) = host
                        .fetch(&FetchKind::Var {
                            var: var.clone(),
                            default: None,
                        })
                        .and_then(|v| v.cast(SampleType::Str))
                    && let Some(b) = value.as_bytes()
                {
                    out.extend_from_slice(b);
                }
                out.extend_from_slice(suffix);
                Some(Sample::Str(out.into()))
            }
            Self::Regsub {
                regex,
                replacement,
                global,
            } => {
                let b = input.as_bytes()?;
                let out = if *global {
                    regex.replace_all(b, replacement.as_bytes())
                } else {
                    regex.replace(b, replacement.as_bytes())
                };
                Some(Sample::Str(Bytes::copy_from_slice(&out)))
            }
            Self::UrlDec { in_form } => {
                encoding::url_decode(input.as_bytes()?, *in_form).map(|b| Sample::Str(b.into()))
            }
            Self::Lua { name, args } => host.lua_convert(name, args, input),
        }
    }
}

fn same_kind(input: &Sample, bytes: Vec<u8>) -> Sample {
    match input {
        Sample::Bin(_) => Sample::Bin(bytes.into()),
        _ => Sample::Str(bytes.into()),
    }
}

fn int_of(s: &Sample) -> Option<i64> {
    match s {
        Sample::Int(i) => Some(*i),
        Sample::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

fn neg(v: i64) -> i64 {
    if v == i64::MIN { i64::MAX } else { -v }
}

fn arith<H: Fetch + ?Sized>(
    input: &Sample,
    op: &Operand,
    host: &H,
    f: impl Fn(i64, i64) -> i64,
) -> Option<Sample> {
    let a = int_of(input)?;
    let b = match op {
        Operand::Int(i) => *i,
        Operand::Var(var) => {
            let v = host.fetch(&FetchKind::Var {
                var: var.clone(),
                default: None,
            })?;
            int_of(&v.cast(SampleType::Int)?)?
        }
    };
    Some(Sample::Int(f(a, b)))
}

/// `field()`: fields separated by any delimiter byte; `None` when the field does not exist.
fn field(input: &Bytes, index: i64, delims: &[u8], count: i64) -> Option<Bytes> {
    let parts: Vec<(usize, usize)> = {
        let mut v = Vec::new();
        let mut start = 0;
        for (i, c) in input.iter().enumerate() {
            if delims.contains(c) {
                v.push((start, i));
                start = i + 1;
            }
        }
        v.push((start, input.len()));
        v
    };
    let n = parts.len() as i64;
    let count = if count <= 0 { n } else { count };
    let (first, last) = if index > 0 {
        let first = index - 1;
        if first >= n {
            return None;
        }
        (first, first.saturating_add(count - 1).min(n - 1))
    } else {
        let last = n + index;
        if last < 0 {
            return None;
        }
        (last.saturating_sub(count - 1).max(0), last)
    };
    let (start, _) = parts[first as usize];
    let (_, end) = parts[last as usize];
    Some(input.slice(start..end))
}

/// `word()`: like [`field`], but empty runs between delimiters do not count; an absent word is
/// an empty string.
fn word(input: &Bytes, index: i64, delims: &[u8], count: i64) -> Bytes {
    let mut words = Vec::new();
    let mut start = None;
    for (i, c) in input.iter().enumerate() {
        match (delims.contains(c), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                words.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        words.push((s, input.len()));
    }
    let n = words.len() as i64;
    // When `count` is 0 or more words are asked than exist, HAProxy runs to the edge of the
    // input, trailing (or leading) delimiters included.
    if index > 0 {
        let first = index - 1;
        if first >= n {
            return Bytes::new();
        }
        let start = words[first as usize].0;
        let last = first.saturating_add(count.saturating_sub(1));
        let end = if count <= 0 || last >= n {
            input.len()
        } else {
            words[last as usize].1
        };
        input.slice(start..end)
    } else {
        let last = n + index;
        if last < 0 {
            return Bytes::new();
        }
        let end = words[last as usize].1;
        let first = last.saturating_sub(count.saturating_sub(1));
        let start = if count <= 0 || first < 0 {
            0
        } else {
            words[first as usize].0
        };
        input.slice(start..end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Vars;

    impl Fetch for Vars {
        fn fetch(&self, kind: &FetchKind) -> Option<Sample> {
            match kind {
                FetchKind::Var { var, .. } if var.name() == "n" => Some(Sample::str("7")),
                FetchKind::Var { var, .. } if var.name() == "s" => Some(Sample::str("mid")),
                _ => None,
            }
        }
    }

    fn conv(name: &str, args: &[ArgValue]) -> Converter {
        build_converter(name, args).unwrap()
    }

    fn run(c: &Converter, name: &str, input: Sample) -> Option<Sample> {
        let d = converter_def(name).unwrap();
        c.apply(input, d.input, &Vars)
    }

    fn s(t: &str) -> Sample {
        Sample::str(t)
    }

    fn a(t: &str) -> ArgValue {
        ArgValue::Str(t.to_owned())
    }

    #[test]
    fn case_and_encodings() {
        assert_eq!(
            run(&Converter::Lower, "lower", s("AbC-É")),
            Some(s("abc-É"))
        );
        assert_eq!(run(&Converter::Upper, "upper", s("abc")), Some(s("ABC")));
        assert_eq!(
            run(&Converter::Upper, "upper", Sample::Int(5)),
            Some(s("5"))
        );
        assert_eq!(run(&Converter::Hex, "hex", s("\x01A")), Some(s("0141")));
        assert_eq!(
            run(
                &Converter::Hex,
                "hex",
                Sample::Ipv4(Ipv4Addr::new(10, 0, 0, 1))
            ),
            Some(s("0A000001"))
        );
        assert_eq!(
            run(&Converter::Hex2i, "hex2i", s("ff")),
            Some(Sample::Int(255))
        );
        assert_eq!(run(&Converter::Hex2i, "hex2i", s("fg")), None);
        assert_eq!(run(&Converter::Base64, "base64", s("foo")), Some(s("Zm9v")));
        assert_eq!(
            run(&Converter::B64dec, "b64dec", s("Zm9v")),
            Some(Sample::bin(&b"foo"[..]))
        );
        assert_eq!(run(&Converter::B64dec, "b64dec", s("Zm9")), None);
        assert_eq!(run(&Converter::Ub64enc, "ub64enc", s("fo")), Some(s("Zm8")));
        assert_eq!(
            run(&Converter::Ub64dec, "ub64dec", s("Zm8")),
            Some(Sample::bin(&b"fo"[..]))
        );
        assert_eq!(
            run(&Converter::Length, "length", s("héllo")),
            Some(Sample::Int(6))
        );
        assert_eq!(
            run(&conv("url_dec", &[]), "url_dec", s("a%2Fb+c")),
            Some(s("a/b+c"))
        );
        assert_eq!(
            run(&conv("url_dec", &[ArgValue::Int(1)]), "url_dec", s("a+c")),
            Some(s("a c"))
        );
    }

    #[test]
    fn slicing() {
        let b = conv("bytes", &[ArgValue::Int(1), ArgValue::Int(2)]);
        assert_eq!(run(&b, "bytes", s("abcd")), Some(s("bc")));
        assert_eq!(
            run(&b, "bytes", Sample::bin(&b"abcd"[..])),
            Some(Sample::bin(&b"bc"[..]))
        );
        let b = conv("bytes", &[ArgValue::Int(9)]);
        assert_eq!(run(&b, "bytes", s("abcd")), Some(s("")));
        let b = conv("bytes", &[ArgValue::Int(-1)]);
        assert_eq!(run(&b, "bytes", s("abcd")), Some(s("")));

        let f = |args: &[ArgValue], input: &str| run(&conv("field", args), "field", s(input));
        assert_eq!(f(&[ArgValue::Int(2), a(",")], "a,b,c"), Some(s("b")));
        assert_eq!(f(&[ArgValue::Int(-1), a(",")], "a,b,c"), Some(s("c")));
        assert_eq!(
            f(&[ArgValue::Int(2), a(","), ArgValue::Int(0)], "a,b,c"),
            Some(s("b,c"))
        );
        assert_eq!(
            f(&[ArgValue::Int(-2), a(","), ArgValue::Int(2)], "a,b,c"),
            Some(s("a,b"))
        );
        assert_eq!(f(&[ArgValue::Int(2), a(",")], "a,,c"), Some(s("")));
        assert_eq!(f(&[ArgValue::Int(4), a(",")], "a,b,c"), None);

        let w = |args: &[ArgValue], input: &str| run(&conv("word", args), "word", s(input));
        assert_eq!(w(&[ArgValue::Int(2), a("/")], "/a//b/c"), Some(s("b")));
        assert_eq!(w(&[ArgValue::Int(-1), a("/")], "/a//b/c/"), Some(s("c")));
        assert_eq!(
            w(&[ArgValue::Int(2), a("/"), ArgValue::Int(0)], "/a//b/c"),
            Some(s("b/c"))
        );
        assert_eq!(
            w(&[ArgValue::Int(2), a("/"), ArgValue::Int(0)], "/a/b/c/"),
            Some(s("b/c/"))
        );
        assert_eq!(w(&[ArgValue::Int(2), a("/")], "/a/b/c/"), Some(s("b")));
        assert_eq!(
            w(&[ArgValue::Int(-2), a("/"), ArgValue::Int(5)], "/a/b/c"),
            Some(s("/a/b"))
        );
        assert_eq!(w(&[ArgValue::Int(5), a("/")], "/a/b"), Some(s("")));

        assert_eq!(
            build_converter("field", &[ArgValue::Int(0), a(",")]).unwrap_err(),
            "Unexpected value 0 for index"
        );
        assert_eq!(
            build_converter("word", &[ArgValue::Int(1), a("")]).unwrap_err(),
            "Empty separators list"
        );
    }

    #[test]
    fn trimming() {
        assert_eq!(
            run(&conv("ltrim", &[a(" x")]), "ltrim", s("x  ab ")),
            Some(s("ab "))
        );
        assert_eq!(
            run(&conv("rtrim", &[a(" ")]), "rtrim", s(" ab  ")),
            Some(s(" ab"))
        );
        assert_eq!(
            run(&conv("rtrim", &[a("a")]), "rtrim", s("aaa")),
            Some(s(""))
        );
        assert_eq!(
            run(&Converter::CutCrlf, "cut_crlf", s("ab\r\ncd")),
            Some(s("ab"))
        );
    }

    #[test]
    fn ip_masks() {
        let m = conv(
            "ipmask",
            &[
                ArgValue::Ipv4(Ipv4Addr::new(255, 255, 0, 0)),
                ArgValue::Ipv6("ffff::".parse().unwrap()),
            ],
        );
        assert_eq!(
            run(&m, "ipmask", Sample::Ipv4(Ipv4Addr::new(10, 1, 2, 3))),
            Some(Sample::Ipv4(Ipv4Addr::new(10, 1, 0, 0)))
        );
        assert_eq!(
            run(&m, "ipmask", Sample::Ipv6("2001:db8::1".parse().unwrap())),
            Some(Sample::Ipv6("2001::".parse().unwrap()))
        );
        assert_eq!(
            run(
                &m,
                "ipmask",
                Sample::Ipv6("::ffff:10.1.2.3".parse().unwrap())
            ),
            Some(Sample::Ipv4(Ipv4Addr::new(10, 1, 0, 0)))
        );
        assert_eq!(
            run(&m, "ipmask", s("10.9.9.9")),
            Some(Sample::Ipv4(Ipv4Addr::new(10, 9, 0, 0)))
        );
        let m4 = conv("ipmask", &[ArgValue::Ipv4(Ipv4Addr::new(255, 0, 0, 0))]);
        assert_eq!(
            run(&m4, "ipmask", Sample::Ipv6("2001:db8::1".parse().unwrap())),
            None
        );
    }

    #[test]
    fn arithmetic_and_booleans() {
        let i = Sample::Int;
        assert_eq!(
            run(&Converter::Bool, "bool", i(3)),
            Some(Sample::Bool(true))
        );
        assert_eq!(run(&Converter::Not, "not", i(0)), Some(Sample::Bool(true)));
        assert_eq!(run(&Converter::Odd, "odd", i(3)), Some(Sample::Bool(true)));
        assert_eq!(
            run(&Converter::Even, "even", i(-2)),
            Some(Sample::Bool(true))
        );
        assert_eq!(run(&Converter::Neg, "neg", i(i64::MIN)), Some(i(i64::MAX)));
        assert_eq!(run(&Converter::Cpl, "cpl", i(0)), Some(i(-1)));
        assert_eq!(run(&conv("add", &[a("2")]), "add", i(3)), Some(i(5)));
        assert_eq!(
            run(&conv("add", &[a("1")]), "add", i(i64::MAX)),
            Some(i(i64::MAX))
        );
        assert_eq!(run(&conv("sub", &[a("-2")]), "sub", i(3)), Some(i(5)));
        assert_eq!(run(&conv("mul", &[a("txn.n")]), "mul", i(3)), Some(i(21)));
        assert_eq!(run(&conv("mul", &[a("txn.unset")]), "mul", i(3)), None);
        assert_eq!(run(&conv("div", &[a("0")]), "div", i(3)), Some(i(i64::MAX)));
        assert_eq!(run(&conv("div", &[a("2")]), "div", i(7)), Some(i(3)));
        assert_eq!(run(&conv("mod", &[a("0")]), "mod", i(7)), Some(i(0)));
        assert_eq!(run(&conv("mod", &[a("4")]), "mod", i(7)), Some(i(3)));
        assert_eq!(run(&conv("and", &[a("6")]), "and", i(3)), Some(i(2)));
        assert_eq!(run(&conv("or", &[a("4")]), "or", i(3)), Some(i(7)));
        assert_eq!(run(&conv("xor", &[a("1")]), "xor", i(3)), Some(i(2)));
        assert_eq!(run(&conv("add", &[a("2")]), "add", s("40")), Some(i(42)));
        assert_eq!(
            build_converter("add", &[a("x1")]).unwrap_err(),
            "expects an integer or a variable name"
        );
        let iif = conv("iif", &[a("yes"), a("no")]);
        assert_eq!(run(&iif, "iif", Sample::Bool(true)), Some(s("yes")));
        assert_eq!(run(&iif, "iif", i(0)), Some(s("no")));
    }

    #[test]
    fn concat_and_regsub() {
        let c = conv("concat", &[a("<"), a("txn.s"), a(">")]);
        assert_eq!(run(&c, "concat", s("x")), Some(s("x<mid>")));
        let c = conv("concat", &[a("<"), a("txn.none"), a(">")]);
        assert_eq!(run(&c, "concat", s("x")), Some(s("x<>")));
        assert_eq!(
            build_converter("concat", &[a(""), a("bad")]).unwrap_err(),
            "failed to register variable name 'bad'"
        );
        let r = conv("regsub", &[a("(a+)"), a(r"<\1>"), a("g")]);
        assert_eq!(run(&r, "regsub", s("baac$a")), Some(s("b<aa>c$<a>")));
        let r = conv("regsub", &[a("A"), a("x"), a("i")]);
        assert_eq!(run(&r, "regsub", s("aa")), Some(s("xa")));
        assert!(
            build_converter("regsub", &[a("a"), a("b"), a("z")])
                .unwrap_err()
                .starts_with("invalid regex flag 'z'")
        );
        assert!(
            build_converter("regsub", &[a("("), a("b")])
                .unwrap_err()
                .starts_with("failed to compile regex '('")
        );
    }
}
