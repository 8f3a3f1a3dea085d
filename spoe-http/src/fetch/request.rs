//! Request-line and URI fetches: `method`, `path`, `query`, `url`, `base`, `req.ver`,
//! `url_param`, `req.proto_http`.

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
