//! What the rewriting actions do to a message head, as HAProxy 2.6 does it: `replace-header`,
//! `replace-value` (`http_replace_hdrs()`), `set-method|path|pathq|query|uri`
//! (`http_req_replace_stline()`), `replace-path|pathq|uri` (`http_action_replace_uri()`),
//! `set-status`, and the location of a `redirect` (`http_apply_redirect_rule()`). Pure
//! functions of the head and the already formatted values: the rules' runner formats them.

use hyper::Uri;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::http::{request, response};
use regex::{Captures, Regex};

use crate::model::{LinePart, RedirectKind};

/// HAProxy's `exp_replace()`: `template` with `\0`..`\9` replaced by the groups of `caps`
/// (an unmatched group is empty), `\xHH` by that byte, `\c` by `c`. None: a `\` ends it.
pub(crate) fn expand(template: &str, caps: &Captures<'_>) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(template.len());
    let mut bytes = template.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next()? {
            d @ b'0'..=b'9' => {
                if let Some(m) = caps.get(usize::from(d - b'0')) {
                    out.extend_from_slice(m.as_str().as_bytes());
                }
            }
            b'x' => {
                let hex = |c: u8| {
                    let c = c.to_ascii_uppercase().wrapping_sub(b'0');
                    if c > 9 { c.wrapping_sub(7) } else { c }
                };
                let (h, l) = (bytes.next()?, bytes.next()?);
                out.push((hex(h) << 4).wrapping_add(hex(l)));
            }
            other => out.push(other),
        }
    }
    Some(out)
}

/// `replace-header` (each whole value of `name`) or `replace-value` (each comma-separated
/// value): a value `regex` matches anywhere becomes `replace` with its groups. False when a
/// new value is not a valid header value (a failed rewrite, HAProxy's `wrew`).
pub(crate) fn replace_header(
    headers: &mut HeaderMap,
    name: &str,
    regex: &Regex,
    replace: &str,
    values: bool,
) -> bool {
    let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
        return true;
    };
    let old: Vec<HeaderValue> = headers.get_all(&name).iter().cloned().collect();
    if old.is_empty() {
        return true;
    }
    let mut changed = false;
    let mut new = Vec::with_capacity(old.len());
    for value in &old {
        let Ok(text) = value.to_str() else {
            new.push(value.as_bytes().to_vec());
            continue;
        };
        let one = |v: &str, changed: &mut bool| -> Option<Vec<u8>> {
            match regex.captures(v) {
                Some(caps) => {
                    *changed = true;
                    expand(replace, &caps)
                }
                None => Some(v.as_bytes().to_vec()),
            }
        };
        if values {
            let mut joined = Vec::new();
            for (i, part) in split_values(text).into_iter().enumerate() {
                if i > 0 {
                    joined.push(b',');
                }
                joined.extend(one(part, &mut changed).unwrap_or_default());
            }
            new.push(joined);
        } else {
            new.push(one(text, &mut changed).unwrap_or_default());
        }
    }
    if !changed {
        return true;
    }
    let Ok(values) = new
        .into_iter()
        .map(|v| HeaderValue::from_bytes(&v))
        .collect::<Result<Vec<_>, _>>()
    else {
        return false;
    };
    headers.remove(&name);
    for v in values {
        headers.append(name.clone(), v);
    }
    true
}

/// A header's comma-separated values, trimmed, commas inside quotes kept (HAProxy's
/// `http_find_header()` without `full`).
fn split_values(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, b) in text.bytes().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => {
                parts.push(text[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(text[start..].trim());
    parts
}

/// The request target's path with its query, as HAProxy's `http_parse_path()` finds it (None
/// for `*` or an authority).
fn path_and_query(uri: &Uri) -> Option<&str> {
    let pq = uri.path_and_query()?.as_str();
    pq.starts_with('/').then_some(pq)
}

/// `set-*` / `replace-*`: the part's current text (`Query` without its `?`).
pub(crate) fn line_part(req: &request::Parts, part: LinePart) -> String {
    let pq = path_and_query(&req.uri).unwrap_or_default();
    match part {
        LinePart::Method => req.method.as_str().to_owned(),
        LinePart::Path => pq.split('?').next().unwrap_or_default().to_owned(),
        LinePart::PathQuery => pq.to_owned(),
        LinePart::Query => pq.split_once('?').map(|(_, q)| q).unwrap_or("").to_owned(),
        LinePart::Uri => req.uri.to_string(),
    }
}

/// Rewrites the part of the request line; false when the result is not a valid request
/// line (a failed rewrite).
pub(crate) fn set_line(req: &mut request::Parts, part: LinePart, value: &str) -> bool {
    if part == LinePart::Method {
        return match hyper::Method::from_bytes(value.as_bytes()) {
            Ok(m) => {
                req.method = m;
                true
            }
            Err(_) => false,
        };
    }
    let uri = req.uri.to_string();
    // The authority part of an absolute target is kept before the path.
    let (head, pq) = match path_and_query(&req.uri) {
        Some(pq) if uri.ends_with(pq) => uri.split_at(uri.len() - pq.len()),
        Some(pq) => ("", pq),
        None => (uri.as_str(), ""),
    };
    let (path, query) = match pq.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (pq, None),
    };
    let new = match part {
        LinePart::Path => match query {
            Some(q) => format!("{head}{value}?{q}"),
            None => format!("{head}{value}"),
        },
        LinePart::PathQuery => format!("{head}{value}"),
        // An empty query keeps an existing `?` and adds none (`http_replace_req_query()`).
        LinePart::Query => match query {
            Some(_) => format!("{head}{path}?{value}"),
            None if value.is_empty() => return true,
            None => format!("{head}{path}?{value}"),
        },
        LinePart::Uri | LinePart::Method => value.to_owned(),
    };
    match new.parse::<Uri>() {
        Ok(u) => {
            req.uri = u;
            true
        }
        Err(_) => false,
    }
}

/// `replace-path|pathq|uri`: the part becomes `replace` (groups expanded) when `regex`
/// matches it; false on a failed rewrite.
pub(crate) fn replace_line(
    req: &mut request::Parts,
    part: LinePart,
    regex: &Regex,
    replace: &str,
) -> bool {
    let current = line_part(req, part);
    if current.is_empty() {
        return true;
    }
    let Some(caps) = regex.captures(&current) else {
        return true;
    };
    let Some(new) = expand(replace, &caps).and_then(|b| String::from_utf8(b).ok()) else {
        return false;
    };
    set_line(req, part, &new)
}

/// `set-status N [reason R]`: without a reason, the status's usual one.
pub(crate) fn set_status(resp: &mut response::Parts, status: u16, reason: Option<&str>) -> bool {
    let Ok(code) = hyper::StatusCode::from_u16(status) else {
        return false;
    };
    resp.status = code;
    resp.extensions.remove::<hyper::ext::ReasonPhrase>();
    if let Some(r) = reason
        && let Ok(phrase) = hyper::ext::ReasonPhrase::try_from(r.as_bytes().to_vec())
    {
        resp.extensions.insert(phrase);
    }
    true
}

/// A `redirect`'s `Location`: `target` (formatted) as a location, a prefix of the request's
/// path, or the scheme of `scheme://HOST/PATH`.
pub(crate) fn redirect_location(
    kind: RedirectKind,
    target: &str,
    req: &request::Parts,
    drop_query: bool,
    append_slash: bool,
) -> String {
    let path = || {
        let pq = path_and_query(&req.uri).unwrap_or("/");
        if drop_query {
            pq.split('?').next().unwrap_or_default()
        } else {
            pq
        }
    };
    let mut location = match kind {
        RedirectKind::Location => return target.to_owned(),
        RedirectKind::Prefix => format!("{target}{}", path()),
        RedirectKind::Scheme => {
            let host = req
                .headers
                .get(hyper::header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or_default();
            format!("{target}://{host}{}", path())
        }
    };
    if append_slash && !location.is_empty() && !location.ends_with('/') {
        location.push('/');
    }
    location
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(target: &str) -> request::Parts {
        hyper::Request::builder()
            .uri(target)
            .header("host", "example.test")
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    #[test]
    fn expand_is_haproxys_exp_replace() {
        let re = Regex::new("http://(blog)/(.*)").unwrap();
        let caps = re.captures("xhttp://blog/a/b").unwrap();
        assert_eq!(expand(r"/\2", &caps).unwrap(), b"/a/b");
        assert_eq!(expand(r"\1-\9-\x41\\", &caps).unwrap(), b"blog--A\\");
        assert_eq!(expand("end\\", &caps), None);
    }

    #[test]
    fn header_values_are_replaced_whole_or_one_by_one() {
        let mut h = HeaderMap::new();
        h.append("location", HeaderValue::from_static("http://frontend/x?y"));
        h.append("location", HeaderValue::from_static("/kept"));
        let re = Regex::new("http://frontend/(.*)").unwrap();
        assert!(replace_header(&mut h, "Location", &re, r"/\1", false));
        let all: Vec<_> = h.get_all("location").iter().collect();
        assert_eq!(all, ["/x?y", "/kept"]);
        let mut h = HeaderMap::new();
        h.append("x-list", HeaderValue::from_static("a=1, b=2,\"c,=3\""));
        let re = Regex::new("^(.)=").unwrap();
        assert!(replace_header(&mut h, "x-list", &re, r"\1:", true));
        assert_eq!(h["x-list"], "a:,b:,\"c,=3\"");
    }

    #[test]
    fn request_line_parts_are_rewritten_as_haproxy() {
        let mut r = req("/a/b?q=1");
        assert!(set_line(&mut r, LinePart::Path, "/new"));
        assert_eq!(r.uri, "/new?q=1");
        assert!(set_line(&mut r, LinePart::Query, "z=2"));
        assert_eq!(r.uri, "/new?z=2");
        assert!(set_line(&mut r, LinePart::Query, ""));
        assert_eq!(r.uri, "/new?");
        let mut r = req("/plain");
        assert!(set_line(&mut r, LinePart::Query, ""));
        assert_eq!(r.uri, "/plain");
        assert!(set_line(&mut r, LinePart::PathQuery, "/p?x"));
        assert_eq!(r.uri, "/p?x");
        assert!(set_line(&mut r, LinePart::Method, "PUT"));
        assert_eq!(r.method, "PUT");
        let mut r = req("http://example.test/api/v1?k");
        let re = Regex::new("/api(/?(.*))").unwrap();
        assert!(replace_line(&mut r, LinePart::Path, &re, r"/\2"));
        assert_eq!(r.uri, "http://example.test/v1?k");
        assert!(!set_line(&mut r, LinePart::Path, "/bad path"));
    }

    #[test]
    fn redirect_locations() {
        let r = req("/p/q?x=1");
        let loc = |k, t, d, a| redirect_location(k, t, &r, d, a);
        assert_eq!(loc(RedirectKind::Location, "/l", true, true), "/l");
        assert_eq!(
            loc(RedirectKind::Scheme, "https", false, false),
            "https://example.test/p/q?x=1"
        );
        assert_eq!(
            loc(RedirectKind::Scheme, "https", true, true),
            "https://example.test/p/q/"
        );
        assert_eq!(
            loc(RedirectKind::Prefix, "/pre", false, false),
            "/pre/p/q?x=1"
        );
        assert_eq!(loc(RedirectKind::Prefix, "", true, false), "/p/q");
    }
}
