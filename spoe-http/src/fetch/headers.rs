//! Header fetches, for either message: `hdr()` and `fhdr()` values with HAProxy's
//! occurrences, counts, integer values, the header block as text and in SPOE's binary form,
//! and cookies.

use std::borrow::Cow;

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};
use spoe::expr::Sample;

/// Whether values are split on commas (`hdr()`) or taken whole (`fhdr()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Split {
    Commas,
    Never,
}

/// A header value as HAProxy's HTX holds it after its HTTP/1 parser: a `Connection` header
/// without its `close` and `keep-alive` tokens (left out when nothing else remains, the
/// others joined by `,`), as `h1_parse_connection_header()` cleans it; every other value as
/// received. Borrowed unless a `Connection` value had to be rewritten.
fn cleaned<'h>(name: &HeaderName, value: &'h HeaderValue) -> Option<Cow<'h, [u8]>> {
    let v = value.as_bytes();
    if name != http::header::CONNECTION {
        return Some(Cow::Borrowed(v));
    }
    let dropped =
        |t: &[u8]| t.eq_ignore_ascii_case(b"close") || t.eq_ignore_ascii_case(b"keep-alive");
    let tokens = v.split(|&c| c == b',').map(<[u8]>::trim_ascii);
    if !tokens.clone().any(dropped) {
        return Some(Cow::Borrowed(v));
    }
    let kept: Vec<&[u8]> = tokens.filter(|t| !t.is_empty() && !dropped(t)).collect();
    (!kept.is_empty()).then(|| Cow::Owned(kept.join(&b","[..])))
}

/// The headers named `name` (every header when `None`), in order, cleaned.
fn entries<'h, 'n>(
    headers: &'h HeaderMap,
    name: Option<&'n str>,
) -> impl Iterator<Item = (&'h HeaderName, Cow<'h, [u8]>)> + use<'h, 'n> {
    headers
        .iter()
        .filter(move |(k, _)| name.is_none_or(|n| k.as_str().eq_ignore_ascii_case(n)))
        .filter_map(|(k, v)| cleaned(k, v).map(|v| (k, v)))
}

fn is_comma(c: &u8) -> bool {
    *c == b','
}

fn never(_: &u8) -> bool {
    false
}

/// The pieces of one value: split on commas or whole, trimmed.
enum Pieces<'h> {
    Borrowed(std::slice::Split<'h, u8, fn(&u8) -> bool>),
    Owned(std::vec::IntoIter<Vec<u8>>),
}

impl<'h> Iterator for Pieces<'h> {
    type Item = Cow<'h, [u8]>;

    fn next(&mut self) -> Option<Cow<'h, [u8]>> {
        match self {
            Self::Borrowed(s) => s.next().map(|p| Cow::Borrowed(p.trim_ascii())),
            Self::Owned(v) => v.next().map(Cow::Owned),
        }
    }
}

fn pieces(value: Cow<'_, [u8]>, split: Split) -> Pieces<'_> {
    let sep: fn(&u8) -> bool = if split == Split::Commas {
        is_comma
    } else {
        never
    };
    match value {
        Cow::Borrowed(v) => Pieces::Borrowed(v.split(sep)),
        Cow::Owned(v) => Pieces::Owned(
            v.split(sep)
                .map(|p| p.trim_ascii().to_vec())
                .collect::<Vec<_>>()
                .into_iter(),
        ),
    }
}

/// The values of header `name` (of every header when `None`) in order, split on commas when
/// asked, trimmed. Borrowed: a fetch copies only the value it keeps.
fn values<'h, 'n>(
    headers: &'h HeaderMap,
    name: Option<&'n str>,
    split: Split,
) -> impl Iterator<Item = Cow<'h, [u8]>> + use<'h, 'n> {
    entries(headers, name).flat_map(move |(_, v)| pieces(v, split))
}

/// HAProxy's occurrence: 1 the first, -1 (or none) the last, -2 the one before.
fn pick<T>(mut values: impl Iterator<Item = T>, occ: Option<i64>) -> Option<T> {
    match occ {
        None | Some(-1) => values.last(),
        Some(o) if o > 0 => values.nth(usize::try_from(o - 1).ok()?),
        Some(o) => {
            let mut all: Vec<T> = values.collect();
            let back = usize::try_from(o.checked_neg()?).ok()?;
            let i = all.len().checked_sub(back)?;
            (i < all.len()).then(|| all.swap_remove(i))
        }
    }
}

fn str_sample(v: Cow<'_, [u8]>) -> Sample {
    Sample::Str(match v {
        Cow::Borrowed(b) => Bytes::copy_from_slice(b),
        Cow::Owned(b) => Bytes::from(b),
    })
}

/// `req.hdr(name[,occ])`, `req.fhdr()`, `hdr()`: one value, as a string.
pub(super) fn value(
    headers: &HeaderMap,
    name: &Option<String>,
    occ: Option<i64>,
    split: Split,
) -> Option<Sample> {
    pick(values(headers, name.as_deref(), split), occ).map(str_sample)
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
    values(headers, name.as_deref(), split)
        .map(str_sample)
        .collect()
}

/// `req.hdr_cnt([name])`: how many values (comma-separated ones counted apart).
pub(super) fn count(headers: &HeaderMap, name: &Option<String>) -> Option<Sample> {
    Some(Sample::Int(
        values(headers, name.as_deref(), Split::Commas).count() as i64,
    ))
}

/// `req.hdr_val(name[,occ])`: one value as HAProxy's `strl2ic()` reads it.
pub(super) fn int(headers: &HeaderMap, name: &Option<String>, occ: Option<i64>) -> Option<Sample> {
    pick(values(headers, name.as_deref(), Split::Commas), occ)
        .map(|v| Sample::Int(i64::from(strl2ic(&v))))
}

/// Every value as an integer (ACLs).
pub(super) fn ints_all(headers: &HeaderMap, name: &Option<String>) -> Vec<Sample> {
    values(headers, name.as_deref(), Split::Commas)
        .map(|v| Sample::Int(i64::from(strl2ic(&v))))
        .collect()
}

/// `req.hdr_ip`: the value at `occ` as an address (HAProxy's `smp_fetch_hdr_ip()`); none when
/// it is no address.
pub(super) fn ip(headers: &HeaderMap, name: &Option<String>, occ: Option<i64>) -> Option<Sample> {
    pick(values(headers, name.as_deref(), Split::Commas), occ).and_then(|v| to_ip(&v))
}

/// Every value that is an address (ACLs: the others are skipped).
pub(super) fn ips_all(headers: &HeaderMap, name: &Option<String>) -> Vec<Sample> {
    values(headers, name.as_deref(), Split::Commas)
        .filter_map(|v| to_ip(&v))
        .collect()
}

/// A leading dotted quad (what follows it, a port, is ignored: HAProxy's `url2ipv4()`), else
/// the whole value as an IPv6 address.
fn to_ip(v: &[u8]) -> Option<Sample> {
    let end = v
        .iter()
        .position(|c| !(c.is_ascii_digit() || *c == b'.'))
        .unwrap_or(v.len());
    let quad = std::str::from_utf8(&v[..end]).ok()?;
    if let Ok(a) = quad.parse::<std::net::Ipv4Addr>() {
        return Some(Sample::Ipv4(a));
    }
    std::str::from_utf8(v)
        .ok()?
        .parse::<std::net::Ipv6Addr>()
        .ok()
        .map(Sample::Ipv6)
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
    for (k, v) in entries(headers, None) {
        b.put_slice(k.as_str().as_bytes());
        b.put_slice(b": ");
        b.put_slice(&v);
        b.put_slice(b"\r\n");
    }
    b.put_slice(b"\r\n");
    Some(Sample::Str(b.freeze()))
}

/// `req.hdrs_bin`: HAProxy's binary header block, `<str:name><str:value>`... then two empty
/// strings, each string a varint length and its bytes.
pub(super) fn binary(headers: &HeaderMap) -> Option<Sample> {
    let mut b = BytesMut::new();
    for (k, v) in entries(headers, None) {
        spop::varint::encode(k.as_str().len() as u64, &mut b);
        b.put_slice(k.as_str().as_bytes());
        spop::varint::encode(v.len() as u64, &mut b);
        b.put_slice(&v);
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
            values(&h, name, split)
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
    fn connection_tokens_are_gone_as_after_haproxys_parser() {
        let mut h = HeaderMap::new();
        h.append("connection", HeaderValue::from_static("close"));
        h.append("x", HeaderValue::from_static("1"));
        assert_eq!(
            text(&h),
            Some(Sample::Str(Bytes::from_static(b"x: 1\r\n\r\n")))
        );
        assert_eq!(
            value(&h, &Some("connection".into()), None, Split::Never),
            None
        );
        h.insert(
            "connection",
            HeaderValue::from_static("Keep-Alive, Upgrade , close, x-token"),
        );
        assert_eq!(
            value(&h, &Some("connection".into()), None, Split::Never),
            Some(Sample::str("Upgrade,x-token"))
        );
        assert_eq!(count(&h, &Some("connection".into())), Some(Sample::Int(2)));
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
    fn addresses_as_hdr_ip_reads_them() {
        let ip = |s: &str| to_ip(s.as_bytes());
        assert_eq!(ip("10.1.2.3"), Some(Sample::Ipv4([10, 1, 2, 3].into())));
        assert_eq!(
            ip("10.1.2.3:8080"),
            Some(Sample::Ipv4([10, 1, 2, 3].into()))
        );
        assert_eq!(
            ip("2001:db8::1"),
            Some(Sample::Ipv6("2001:db8::1".parse().unwrap()))
        );
        assert_eq!(ip("unknown"), None);
        assert_eq!(ip("10.1.2"), None);
        let mut h = HeaderMap::new();
        h.append(
            "x-forwarded-for",
            HeaderValue::from_static("192.0.2.1, 198.51.100.7"),
        );
        let name = Some("x-forwarded-for".to_owned());
        assert_eq!(
            self::ip(&h, &name, None),
            Some(Sample::Ipv4([198, 51, 100, 7].into()))
        );
        assert_eq!(ips_all(&h, &name).len(), 2);
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
