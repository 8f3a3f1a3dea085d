//! Request-line and URI fetches: `method`, `path`, `pathq`, `query`, `url`, `url_ip`,
//! `url_port`, `base`, `req.ver`, `url_param`, `req.proto_http`.

use std::net::Ipv4Addr;

use bytes::Bytes;
use http::{Method, Uri, Version};
use spoe::expr::Sample;

use crate::exchange::Exchange;

/// `method`: a string sample; a standard method without a copy.
pub(super) fn method(x: &Exchange<'_>) -> Option<Sample> {
    const STANDARD: [&str; 9] = [
        "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE",
    ];
    let m: &Method = &x.request.method;
    Some(match STANDARD.iter().find(|s| **s == m.as_str()) {
        Some(s) => Sample::Str(Bytes::from_static(s.as_bytes())),
        None => Sample::str(m.as_str()),
    })
}

/// `path`: from the first slash to the `?`.
pub(super) fn path(x: &Exchange<'_>) -> Option<Sample> {
    Some(Sample::str(x.request.uri.path()))
}

/// `pathq`: the path and the query string, without scheme nor authority.
pub(super) fn pathq(x: &Exchange<'_>) -> Option<Sample> {
    x.request
        .uri
        .path_and_query()
        .map(|pq| Sample::str(pq.as_str()))
}

/// The address and port of an absolute request target, as HAProxy 2.6's `url2sa()` reads
/// them at run time: the first `://` must follow `http` or `https` (in any case); an IPv4
/// address in dotted form follows (a name is not resolved: no value), then an optional
/// `:port` (digits, read up to the first other character, 16 bits kept), else 80 or 443.
/// An IPv6 address gives `None` for the address, as `url_ip` and `url_port` then have no
/// value either.
fn url2sa(target: &[u8]) -> Option<(Ipv4Addr, u16)> {
    let sep = target.windows(3).position(|w| w == b"://")?;
    let default_port = match target[..sep].to_ascii_lowercase().as_slice() {
        b"http" => 80,
        b"https" => 443,
        _ => return None,
    };
    let rest = &target[sep + 3..];
    let (addr, used) = url2ipv4(rest)?;
    let after = &rest[used..];
    let port = match after.strip_prefix(b":") {
        Some(digits) => {
            let n = digits
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .fold(0u32, |n, &c| {
                    n.wrapping_mul(10).wrapping_add(u32::from(c - b'0'))
                });
            // `htons()` of the parsed number keeps its 16 low bits.
            #[expect(clippy::cast_possible_truncation)]
            let port = n as u16;
            port
        }
        None => default_port,
    };
    Some((addr, port))
}

/// HAProxy's `url2ipv4()`: four dotted decimal octets at the start of `s`, and how many bytes
/// they took (digits and dots, up to the first other byte).
fn url2ipv4(s: &[u8]) -> Option<(Ipv4Addr, usize)> {
    let mut tmp = [0u8; 4];
    let (mut tp, mut octets, mut saw_digit, mut used) = (0usize, 0usize, false, 0usize);
    for &c in s {
        if !c.is_ascii_digit() && c != b'.' {
            break;
        }
        used += 1;
        if c.is_ascii_digit() {
            let v = u32::from(tmp[tp]) * 10 + u32::from(c - b'0');
            tmp[tp] = u8::try_from(v).ok()?;
            if !saw_digit {
                octets += 1;
                if octets > 4 {
                    return None;
                }
                saw_digit = true;
            }
        } else if saw_digit {
            // A dot after a digit: the next octet (there is room: at most three dots).
            if octets == 4 {
                return None;
            }
            tp += 1;
            saw_digit = false;
        } else {
            return None;
        }
    }
    (octets == 4).then_some((Ipv4Addr::from(tmp), used))
}

/// `url_ip`: the IPv4 address of an absolute request target.
pub(super) fn url_ip(x: &Exchange<'_>) -> Option<Sample> {
    with_target(&x.request.uri, |t| url2sa(t.as_bytes())).map(|(a, _)| Sample::Ipv4(a))
}

/// `url_port`: its port.
pub(super) fn url_port(x: &Exchange<'_>) -> Option<Sample> {
    with_target(&x.request.uri, |t| url2sa(t.as_bytes())).map(|(_, p)| Sample::Int(i64::from(p)))
}

/// `query`: after the `?`, without it; no value without one.
pub(super) fn query(x: &Exchange<'_>) -> Option<Sample> {
    x.request.uri.query().map(Sample::from)
}

/// Calls `f` with the request target as received: the origin form's path and query without a
/// copy, an absolute form written out.
fn with_target<R>(uri: &Uri, f: impl FnOnce(&str) -> R) -> R {
    match (uri.authority(), uri.path_and_query()) {
        (None, Some(pq)) => f(pq.as_str()),
        _ => f(&uri.to_string()),
    }
}

/// `url`: the request target as received.
pub(super) fn url(x: &Exchange<'_>) -> Option<Sample> {
    Some(with_target(&x.request.uri, |t| {
        Sample::Str(Bytes::copy_from_slice(t.as_bytes()))
    }))
}

/// `base`: the first `Host` header's value followed by the path.
pub(super) fn base(x: &Exchange<'_>) -> Option<Sample> {
    let host = x
        .request
        .headers
        .get(http::header::HOST)
        .map_or(&[][..], |h| h.as_bytes());
    let path = x.request.uri.path().as_bytes();
    let mut b = Vec::with_capacity(host.len() + path.len());
    b.extend_from_slice(host);
    b.extend_from_slice(path);
    Some(Sample::Str(Bytes::from(b)))
}

/// The HTTP version as HAProxy's `req.ver` and `res.ver` give it.
pub(super) fn version_text(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_2 => "2.0",
        Version::HTTP_3 => "3.0",
        _ => "1.1",
    }
}

/// `req.ver`: `1.1`, `2.0`.
pub(super) fn req_ver(x: &Exchange<'_>) -> Option<Sample> {
    Some(Sample::str(version_text(x.request.version)))
}

/// `req.proto_http`: a request the host parsed is valid HTTP.
pub(super) fn req_proto_http(_x: &Exchange<'_>) -> Option<Sample> {
    Some(Sample::Bool(true))
}

/// `url_param([name[,delim]])`, `urlp`: the first value of parameter `name` (of the first
/// parameter with a value when `name` is empty) in the parameters that follow the first
/// `delim` (`?` by default) of the request target. Parameters are separated by `&`, `;` or
/// `delim`; a parameter matches only when `=` follows its name (HAProxy's
/// `http_find_next_url_param()`).
pub(super) fn url_param(
    x: &Exchange<'_>,
    name: Option<&str>,
    delim: Option<&str>,
) -> Option<Sample> {
    let delim = delim.and_then(|d| d.bytes().next()).unwrap_or(b'?');
    let name = name.unwrap_or_default().as_bytes();
    with_target(&x.request.uri, |target| {
        let t = target.as_bytes();
        let start = t.iter().position(|&c| c == delim)? + 1;
        find_param(&t[start..], name, delim).map(|v| Sample::Str(Bytes::copy_from_slice(v)))
    })
}

fn is_param_delimiter(c: u8, delim: u8) -> bool {
    c == b'&' || c == b';' || c == delim
}

/// The value of the first parameter `name` of `params` (with an empty name, the value after
/// the first `=`).
fn find_param<'t>(params: &'t [u8], name: &[u8], delim: u8) -> Option<&'t [u8]> {
    let value_start = if name.is_empty() {
        params.iter().position(|&c| c == b'=')? + 1
    } else {
        let mut pos = 0;
        loop {
            let equal = pos + name.len();
            if equal >= params.len() {
                return None;
            }
            if params[equal] == b'=' && &params[pos..equal] == name {
                break equal + 1;
            }
            // Skip to the next parameter.
            let skip = params[pos..]
                .iter()
                .position(|&c| is_param_delimiter(c, delim))?;
            pos += skip + 1;
        }
    };
    let rest = &params[value_start..];
    let end = rest
        .iter()
        .position(|&c| is_param_delimiter(c, delim))
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_targets_as_url2sa_reads_them() {
        let a = |t: &str| url2sa(t.as_bytes());
        let ip = Ipv4Addr::new(192, 0, 2, 1);
        assert_eq!(a("http://192.0.2.1/x"), Some((ip, 80)));
        assert_eq!(a("HTTPS://192.0.2.1"), Some((ip, 443)));
        assert_eq!(a("http://192.0.2.1:8081/x?y"), Some((ip, 8081)));
        assert_eq!(a("http://192.0.2.1:70000/"), Some((ip, 4464)));
        assert_eq!(a("http://192.0.2.1:/"), Some((ip, 0)));
        assert_eq!(a("http://192.0.2.1x/"), Some((ip, 80)));
        assert_eq!(a("http://example.test/"), None);
        assert_eq!(a("http://[2001:db8::1]/"), None);
        assert_eq!(a("ftp://192.0.2.1/"), None);
        assert_eq!(a("/path?u=http://192.0.2.1/"), None);
        assert_eq!(a("http://1.2.3.4.5/"), None);
        assert_eq!(a("http://1.2.3/"), None);
        assert_eq!(a("http://256.1.1.1/"), None);
        assert_eq!(a("http://1..2.3/"), None);
    }

    #[test]
    fn parameters_as_haproxy_finds_them() {
        let p = |params: &str, name: &str| {
            find_param(params.as_bytes(), name.as_bytes(), b'?')
                .map(|v| String::from_utf8(v.to_vec()).unwrap())
        };
        assert_eq!(p("a=1&b=2;c=3", "b").as_deref(), Some("2"));
        assert_eq!(p("a=1&b=2;c=3", "c").as_deref(), Some("3"));
        assert_eq!(p("a=1&a=2", "a").as_deref(), Some("1"));
        assert_eq!(p("ab=1&b=2", "b").as_deref(), Some("2"));
        assert_eq!(p("b&b=2", "b").as_deref(), Some("2"));
        assert_eq!(p("x&y=5", "").as_deref(), Some("5"));
        assert_eq!(p("a=", "a").as_deref(), Some(""));
        assert_eq!(p("a", "a"), None);
        assert_eq!(p("", ""), None);
    }
}
