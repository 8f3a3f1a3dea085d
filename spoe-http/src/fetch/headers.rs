//! Header fetches, for either message: `hdr()` and `fhdr()` values with HAProxy's
//! occurrences, counts, integer values, the header block as text and in SPOE's binary form,
//! and cookies.

use bytes::{BufMut, Bytes, BytesMut};
use http::HeaderMap;
use spoe::expr::Sample;

/// Whether values are split on commas (`hdr()`) or taken whole (`fhdr()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Split {
    Commas,
    Never,
}

/// The values of header `name` (of every header when `None`) in order, split on commas when
/// asked, trimmed. Borrowed: a fetch copies only the value it keeps.
fn values<'h>(
    headers: &'h HeaderMap,
    name: &Option<String>,
    split: Split,
) -> impl Iterator<Item = &'h [u8]> + use<'h> {
    let named = name.as_deref().map(|n| headers.get_all(n).iter());
    let every = name.is_none().then(|| headers.iter().map(|(_, v)| v));
    let split = split == Split::Commas;
    named
        .into_iter()
        .flatten()
        .chain(every.into_iter().flatten())
        .flat_map(move |v| v.as_bytes().split(move |&c| split && c == b','))
        .map(<[u8]>::trim_ascii)
}

/// HAProxy's occurrence: 1 the first, -1 (or none) the last, -2 the one before.
fn pick<'h>(mut values: impl Iterator<Item = &'h [u8]>, occ: Option<i64>) -> Option<&'h [u8]> {
    match occ {
        None | Some(-1) => values.last(),
        Some(o) if o > 0 => values.nth(usize::try_from(o - 1).ok()?),
        Some(o) => {
            let all: Vec<&[u8]> = values.collect();
            let back = usize::try_from(o.checked_neg()?).ok()?;
            all.len()
                .checked_sub(back)
                .and_then(|i| all.get(i).copied())
        }
    }
}

/// `req.hdr(name[,occ])`, `req.fhdr()`, `hdr()`: one value, as a string.
pub(super) fn value(
    headers: &HeaderMap,
    name: &Option<String>,
    occ: Option<i64>,
    split: Split,
) -> Option<Sample> {
    pick(values(headers, name, split), occ).map(|v| Sample::Str(Bytes::copy_from_slice(v)))
}

/// `req.hdr_names([delim])`: every header name, in order, separated by `delim`'s first byte
/// (`,` by default). Names are lower case, as in HAProxy's HTX.
pub(super) fn names(headers: &HeaderMap, delim: Option<&str>) -> Option<Sample> {
    let delim = delim.and_then(|d| d.bytes().next()).unwrap_or(b',');
    let mut out = BytesMut::new();
    for (name, _) in headers {
        if !out.is_empty() {
            out.put_u8(delim);
        }
        out.put_slice(name.as_str().as_bytes());
    }
    Some(Sample::Str(out.freeze()))
}

/// Every value, copied (what ACLs iterate over).
pub(super) fn values_all(headers: &HeaderMap, name: &Option<String>, split: Split) -> Vec<Sample> {
    values(headers, name, split)
        .map(|v| Sample::Str(Bytes::copy_from_slice(v)))
        .collect()
}

/// `req.hdr_cnt([name])`: how many values (comma-separated ones counted apart).
pub(super) fn count(headers: &HeaderMap, name: &Option<String>) -> Option<Sample> {
    Some(Sample::Int(
        values(headers, name, Split::Commas).count() as i64
    ))
}

/// `req.hdr_val(name[,occ])`: one value as HAProxy's `strl2ic()` reads it.
pub(super) fn int(headers: &HeaderMap, name: &Option<String>, occ: Option<i64>) -> Option<Sample> {
    pick(values(headers, name, Split::Commas), occ).map(|v| Sample::Int(i64::from(strl2ic(v))))
}

/// Every value as an integer (ACLs).
pub(super) fn ints_all(headers: &HeaderMap, name: &Option<String>) -> Vec<Sample> {
    values(headers, name, Split::Commas)
        .map(|v| Sample::Int(i64::from(strl2ic(v))))
        .collect()
}

/// HAProxy's `strl2ic()`, quirks included: a signed 32-bit integer read digit by digit
/// (wrapping), stopping at the first byte above `'9'`; a byte below `'0'` is not a stop, it
/// adds its (negative) distance from `'0'`, as the C code does with `char` arithmetic.
fn strl2ic(s: &[u8]) -> i32 {
    let digit = |c: u8| i32::from(c as i8) - i32::from(b'0');
    let mut i: i32 = 0;
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    for &c in digits {
        let j = digit(c);
        if j > 9 {
            break;
        }
        let k = i.wrapping_mul(10);
        i = if negative {
            k.wrapping_sub(j)
        } else {
            k.wrapping_add(j)
        };
    }
    i
}

/// `req.hdrs`: the header block as HTTP/1 text, the empty line included (a string sample).
pub(super) fn text(headers: &HeaderMap) -> Option<Sample> {
    let mut b = BytesMut::new();
    for (k, v) in headers {
        b.put_slice(k.as_str().as_bytes());
        b.put_slice(b": ");
        b.put_slice(v.as_bytes());
        b.put_slice(b"\r\n");
    }
    b.put_slice(b"\r\n");
    Some(Sample::Str(b.freeze()))
}

/// `req.hdrs_bin`: HAProxy's binary header block, `<str:name><str:value>`... then two empty
/// strings, each string a varint length and its bytes.
pub(super) fn binary(headers: &HeaderMap) -> Option<Sample> {
    let mut b = BytesMut::new();
    for (k, v) in headers {
        spop::varint::encode(k.as_str().len() as u64, &mut b);
        b.put_slice(k.as_str().as_bytes());
        spop::varint::encode(v.as_bytes().len() as u64, &mut b);
        b.put_slice(v.as_bytes());
    }
    b.put_slice(&[0, 0]);
    Some(Sample::Bin(b.freeze()))
}

/// The cookies of the `Cookie` headers named `name` (every cookie when `None`), in order.
fn cookies<'h>(
    headers: &'h HeaderMap,
    name: Option<&'h str>,
) -> impl Iterator<Item = &'h [u8]> + use<'h> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .flat_map(move |v| CookieValues {
            rest: v.as_bytes(),
            name: name.unwrap_or_default().as_bytes(),
        })
}

/// `req.cook([name])`: the last value of cookie `name`, or with no name the first cookie's
/// value (HAProxy's `smp_fetch_cookie()`).
pub(super) fn cookie(headers: &HeaderMap, name: Option<&str>) -> Option<Sample> {
    let name = name.filter(|n| !n.is_empty());
    let mut found = cookies(headers, name);
    let v = if name.is_some() {
        found.last()
    } else {
        found.next()
    }?;
    Some(Sample::Str(Bytes::copy_from_slice(v)))
}

/// Every value of cookie `name` (ACLs).
pub(super) fn cookies_all(headers: &HeaderMap, name: Option<&str>) -> Vec<Sample> {
    let name = name.filter(|n| !n.is_empty());
    cookies(headers, name)
        .map(|v| Sample::Str(Bytes::copy_from_slice(v)))
        .collect()
}

/// The values of cookie `name` (any when empty) in one `Cookie` header value, as HAProxy's
/// `http_extract_cookie_value()` finds them: `NAME = VALUE` pairs separated by `;` or `,`,
/// blanks around names and values ignored, quotes respected, `$` attributes and pairs
/// without `=` skipped.
struct CookieValues<'h> {
    rest: &'h [u8],
    name: &'h [u8],
}

fn is_spht(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// The end of a cookie value: the first `;` or `,` outside quotes.
fn value_end(s: &[u8]) -> usize {
    let (mut quoted, mut pair) = (false, false);
    for (i, &c) in s.iter().enumerate() {
        if pair {
            pair = false;
        } else if quoted {
            match c {
                b'\\' => pair = true,
                b'"' => quoted = false,
                _ => {}
            }
        } else if c == b'"' {
            quoted = true;
        } else if c == b',' || c == b';' {
            return i;
        }
    }
    s.len()
}

impl<'h> Iterator for CookieValues<'h> {
    type Item = &'h [u8];

    fn next(&mut self) -> Option<&'h [u8]> {
        // HAProxy scans while a name and its `=` still fit in what is left.
        while self.rest.len() > self.name.len() + 1 {
            let s = self.rest;
            let start = s.iter().position(|&c| !is_spht(c)).unwrap_or(s.len());
            let mut equal = start;
            let mut name_end = start;
            while let Some(&c) = s.get(equal) {
                if c == b'=' || c == b';' || c == b',' {
                    break;
                }
                equal += 1;
                if !is_spht(c) {
                    name_end = equal;
                }
            }
            let (value, next) = if s.get(equal) == Some(&b'=') {
                let after = &s[equal + 1..];
                let vstart = after
                    .iter()
                    .position(|&c| !is_spht(c))
                    .unwrap_or(after.len());
                let vlen = value_end(&after[vstart..]);
                let value = after[vstart..vstart + vlen].trim_ascii_end();
                (Some(value), equal + 1 + vstart + vlen)
            } else {
                (None, equal)
            };
            // Go on after the delimiter that ended this pair.
            self.rest = s.get(next + 1..).unwrap_or_default();
            let Some(value) = value else { continue };
            if s.get(start) == Some(&b'$') {
                continue;
            }
            if self.name.is_empty() || &s[start..name_end] == self.name {
                return Some(value);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn occurrences_follow_haproxy() {
        let v: [&[u8]; 3] = [b"a", b"b", b"c"];
        let pick = |occ| pick(v.into_iter(), occ);
        assert_eq!(pick(None), Some(&b"c"[..]));
        assert_eq!(pick(Some(-1)), Some(&b"c"[..]));
        assert_eq!(pick(Some(1)), Some(&b"a"[..]));
        assert_eq!(pick(Some(3)), Some(&b"c"[..]));
        assert_eq!(pick(Some(-2)), Some(&b"b"[..]));
        assert_eq!(pick(Some(-3)), Some(&b"a"[..]));
        assert_eq!(pick(Some(4)), None);
        assert_eq!(pick(Some(-4)), None);
        assert_eq!(pick(Some(0)), None);
    }

    #[test]
    fn values_split_trim_and_keep_order() {
        let mut h = HeaderMap::new();
        h.append("x-a", HeaderValue::from_static(" 1, 2 "));
        h.append("x-b", HeaderValue::from_static("3"));
        h.append("x-a", HeaderValue::from_static("4,"));
        let got = |name: Option<&str>, split| {
            values(&h, &name.map(str::to_owned), split)
                .map(|v| String::from_utf8(v.to_vec()).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(got(Some("x-a"), Split::Commas), ["1", "2", "4", ""]);
        assert_eq!(got(Some("X-A"), Split::Never), ["1, 2", "4,"]);
        assert_eq!(got(None, Split::Never), ["1, 2", "4,", "3"]);
        assert!(got(Some("x-none"), Split::Commas).is_empty());
        assert!(got(Some("not a header name"), Split::Commas).is_empty());
    }

    #[test]
    fn header_blocks() {
        let mut h = HeaderMap::new();
        h.insert("x", "yz".parse().unwrap());
        assert_eq!(
            binary(&h),
            Some(Sample::Bin(Bytes::from_static(&[
                1, b'x', 2, b'y', b'z', 0, 0
            ])))
        );
        assert_eq!(
            text(&h),
            Some(Sample::Str(Bytes::from_static(b"x: yz\r\n\r\n")))
        );
    }

    #[test]
    fn integers_as_strl2ic_reads_them() {
        assert_eq!(strl2ic(b"42"), 42);
        assert_eq!(strl2ic(b"-42"), -42);
        assert_eq!(strl2ic(b"12abc"), 12);
        assert_eq!(strl2ic(b"abc"), 0);
        assert_eq!(strl2ic(b""), 0);
        // '.' is below '0': C adds -2 and goes on.
        assert_eq!(strl2ic(b"1.5"), 85);
        assert_eq!(strl2ic(b"4294967297"), 1);
    }

    #[test]
    fn cookies_as_haproxy_extracts_them() {
        let mut h = HeaderMap::new();
        h.append(
            "cookie",
            HeaderValue::from_static(" a = 1 ; $Path=/; b=\"x;y\" ;noeq; c=3"),
        );
        h.append("cookie", HeaderValue::from_static("a=4, d=5"));
        let all = |name: Option<&str>| {
            cookies(&h, name)
                .map(|v| String::from_utf8(v.to_vec()).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(all(Some("a")), ["1", "4"]);
        assert_eq!(all(Some("b")), ["\"x;y\""]);
        assert_eq!(all(None), ["1", "\"x;y\"", "3", "4", "5"]);
        assert!(all(Some("noeq")).is_empty());
        assert_eq!(cookie(&h, Some("a")), Some(Sample::str("4")));
        assert_eq!(cookie(&h, None), Some(Sample::str("1")));
        assert_eq!(cookie(&h, Some("zz")), None);
    }
}
