//! What a request and a response allow the cache to do, read from their heads as HAProxy 2.6
//! reads them (`http_check_request_for_cacheability()`, `http_check_response_for_cacheability()`
//! and the status switch of `http_wait_for_response()` in `src/http_ana.c`;
//! `http_calc_maxage()`, `should_send_notmodified_response()` in `src/cache.c`).

use hyper::header::{HeaderMap, HeaderName};
use hyper::{Method, Version};

/// The transaction's cache flags (HAProxy's `TX_CACHEABLE`, `TX_CACHE_COOK`,
/// `TX_CACHE_IGNORE`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Flags {
    /// The response may be stored.
    pub(crate) cacheable: bool,
    /// Its cookies allow it to be stored.
    pub(crate) cook: bool,
    /// Neither looked up nor stored.
    pub(crate) ignore: bool,
}

impl Flags {
    /// A request's flags once `cache-use` read it: the safe methods are cacheable; a request
    /// older than HTTP/1.1 or other than GET and HEAD is not looked up; then its headers.
    pub(crate) fn of_request(method: &Method, version: Version, headers: &HeaderMap) -> Self {
        let safe = [Method::GET, Method::HEAD, Method::OPTIONS, Method::TRACE].contains(method);
        let mut flags = Self {
            cacheable: safe,
            cook: safe,
            ignore: version < Version::HTTP_11
                || !(method == Method::GET || method == Method::HEAD),
        };
        flags.request_headers(headers);
        flags
    }

    /// `http_check_request_for_cacheability()`.
    fn request_headers(&mut self, headers: &HeaderMap) {
        if self.ignore && !self.cacheable {
            return;
        }
        let pragma =
            first_value(headers, "pragma").is_some_and(|v| v.eq_ignore_ascii_case("no-cache"));
        if headers.contains_key(hyper::header::AUTHORIZATION) {
            self.cacheable = false;
            self.cook = false;
            self.ignore = true;
        }
        let mut cache_control = false;
        for value in values(headers, "cache-control") {
            cache_control = true;
            if ["max-age", "no-cache", "max-stale", "min-fresh"]
                .iter()
                .any(|p| starts_with_ignore_case(value, p))
            {
                self.ignore = true;
            } else if starts_with_ignore_case(value, "no-store") {
                self.cacheable = false;
                self.cook = false;
            }
        }
        // RFC 7234 5.4: Pragma counts only without Cache-Control.
        if !cache_control && pragma {
            self.ignore = true;
        }
    }

    /// The response's status and headers (after the status switch, which HAProxy applies to
    /// every response, `http_check_response_for_cacheability()`).
    pub(crate) fn response(&mut self, status: u16, headers: &HeaderMap) {
        if !matches!(
            status,
            200 | 203 | 204 | 206 | 300 | 301 | 404 | 405 | 410 | 414 | 501
        ) {
            self.cacheable = false;
            self.cook = false;
        }
        if status < 200 {
            return;
        }
        if first_value(headers, "pragma").is_some_and(|v| v.eq_ignore_ascii_case("no-cache")) {
            self.cacheable = false;
            self.cook = false;
            return;
        }
        let mut fresh = false;
        for value in values(headers, "cache-control") {
            if value.eq_ignore_ascii_case("public") {
                self.cacheable = true;
                self.cook = true;
            } else if ["private", "no-cache", "no-store", "max-age=0", "s-maxage=0"]
                .iter()
                .any(|d| value.eq_ignore_ascii_case(d))
            {
                self.cacheable = false;
                self.cook = false;
            } else if starts_with_ignore_case(value, "no-cache=\"set-cookie") {
                self.cook = false;
            } else if starts_with_ignore_case(value, "s-maxage")
                || starts_with_ignore_case(value, "max-age")
            {
                fresh = true;
            }
        }
        fresh = fresh || headers.contains_key(hyper::header::EXPIRES);
        let validator = headers.contains_key(hyper::header::ETAG)
            || headers.contains_key(hyper::header::LAST_MODIFIED);
        // RFC 7234 3: neither an expiry nor a validator.
        if !fresh && !validator {
            self.ignore = true;
        }
    }

    /// Whether a response with these flags may be stored.
    pub(crate) fn storable(self) -> bool {
        self.cacheable && self.cook && !self.ignore
    }
}

/// How long a response stays fresh, `(bounded, announced)`: the `bounded` one is what the
/// cache keeps it (the section's `max_age` at most); `announced` is what the response
/// says (`s-maxage`, `max-age`, `Expires`; 0 when it says nothing), which an `Age` header
/// must not exceed. `None` for a `max-age` or `s-maxage` that is not a number (HAProxy's -1:
/// the object is stale at once).
pub(crate) fn max_age(headers: &HeaderMap, cache_max_age: i64, now: i64) -> Option<(i64, i64)> {
    let (mut smaxage, mut maxage) = (-1i64, -1i64);
    for value in values(headers, "cache-control") {
        if let Some(v) = directive_value(value, "s-maxage") {
            smaxage = seconds(v)?;
        }
        if let Some(v) = directive_value(value, "max-age") {
            maxage = seconds(v)?;
        }
    }
    let mut expires = -1;
    if maxage == -1
        && smaxage == -1
        && let Some(v) = first_value(headers, "expires")
    {
        // RFC 7234 5.3: an invalid date is in the past.
        expires = http_date(v).map_or(0, |t| (t - now).max(0));
    }
    Some(
        [smaxage, maxage, expires]
            .into_iter()
            .enumerate()
            .find(|&(i, v)| if i < 2 { v > 0 } else { v >= 0 })
            .map_or((cache_max_age, 0), |(_, v)| (v.min(cache_max_age), v)),
    )
}

/// HAProxy's `directive_value()`: the text after `word=` when `value` starts with it (any
/// case).
fn directive_value<'v>(value: &'v str, word: &str) -> Option<&'v str> {
    if !starts_with_ignore_case(value, word) {
        return None;
    }
    let rest = value[word.len()..].strip_prefix('=')?;
    (!rest.is_empty()).then_some(rest)
}

/// `strtol()` of a directive's value (an optional opening quote, then digits).
fn seconds(v: &str) -> Option<i64> {
    let v = v.strip_prefix('"').unwrap_or(v);
    let digits = v.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    Some(v[..digits].parse::<i64>().unwrap_or(i64::MAX))
}

/// An HTTP date (the three forms of RFC 7231), in seconds since the epoch.
pub(crate) fn http_date(v: &str) -> Option<i64> {
    let t = httpdate::parse_http_date(v.trim()).ok()?;
    let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(secs).ok()
}

/// The date an `If-Modified-Since` is compared to: `Last-Modified`, else `Date`, else now.
pub(crate) fn last_modified(headers: &HeaderMap, now: i64) -> i64 {
    first_value(headers, "last-modified")
        .and_then(http_date)
        .filter(|t| *t != 0)
        .or_else(|| first_value(headers, "date").and_then(http_date))
        .filter(|t| *t != 0)
        .unwrap_or(now)
}

/// Whether a conditional request gets `304 Not Modified` from an object with `etag` and
/// `last_modified`: an `If-None-Match` that names its entity tag (or `*`), else an
/// `If-Modified-Since` not before it.
pub(crate) fn not_modified(request: &HeaderMap, etag: Option<&str>, last_modified: i64) -> bool {
    let mut if_none_match = false;
    for value in values(request, "if-none-match") {
        if_none_match = true;
        if value == "*" {
            return true;
        }
        let Some(etag) = etag else { break };
        if same_etag(etag, value) {
            return true;
        }
    }
    !if_none_match
        && first_value(request, "if-modified-since")
            .and_then(http_date)
            .is_some_and(|since| last_modified <= since)
}

/// `http_compare_etags()`: the weak comparison of two valid entity tags.
fn same_etag(a: &str, b: &str) -> bool {
    fn opaque(tag: &str) -> Option<&str> {
        let tag = tag.strip_prefix("W/").unwrap_or(tag);
        (tag.len() >= 2 && tag.starts_with('"') && tag.ends_with('"')).then_some(tag)
    }
    matches!((opaque(a), opaque(b)), (Some(a), Some(b)) if a == b)
}

fn starts_with_ignore_case(value: &str, prefix: &str) -> bool {
    value
        .as_bytes()
        .get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// The first field named `name`, whole and trimmed (HAProxy's "full" header search).
pub(crate) fn first_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// Every comma-separated value of every field named `name`, trimmed (commas inside quotes do
/// not separate), as HAProxy's header search without "full".
pub(crate) fn values<'h>(headers: &'h HeaderMap, name: &str) -> impl Iterator<Item = &'h str> {
    let name = HeaderName::from_bytes(name.as_bytes()).ok();
    name.into_iter()
        .flat_map(move |n| headers.get_all(n).into_iter().collect::<Vec<_>>())
        .filter_map(|v| v.to_str().ok())
        .flat_map(split_values)
}

fn split_values(field: &str) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in field.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&field[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&field[start..]);
    parts
        .into_iter()
        .map(|p| p.trim_matches([' ', '\t']))
        .filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn requests_that_are_not_looked_up() {
        let get =
            |h: &[(&str, &str)]| Flags::of_request(&Method::GET, Version::HTTP_11, &headers(h));
        assert!(!get(&[]).ignore);
        assert!(get(&[("authorization", "Basic x")]).ignore);
        assert!(get(&[("cache-control", "max-age=0")]).ignore);
        assert!(get(&[("cache-control", "foo, No-Cache")]).ignore);
        assert!(get(&[("pragma", "no-cache")]).ignore);
        // Pragma is ignored beside Cache-Control.
        assert!(!get(&[("pragma", "no-cache"), ("cache-control", "x")]).ignore);
        let no_store = get(&[("cache-control", "no-store")]);
        assert!(!no_store.ignore && !no_store.cacheable);
        assert!(Flags::of_request(&Method::GET, Version::HTTP_10, &HeaderMap::new()).ignore);
        assert!(Flags::of_request(&Method::POST, Version::HTTP_11, &HeaderMap::new()).ignore);
        assert!(!Flags::of_request(&Method::HEAD, Version::HTTP_2, &HeaderMap::new()).ignore);
    }

    #[test]
    fn responses_that_are_stored() {
        let stored = |status: u16, h: &[(&str, &str)]| {
            let mut f = Flags::of_request(&Method::GET, Version::HTTP_11, &HeaderMap::new());
            f.response(status, &headers(h));
            f.storable()
        };
        assert!(stored(200, &[("cache-control", "max-age=10")]));
        assert!(stored(200, &[("etag", "\"a\"")]));
        assert!(stored(200, &[("expires", "Thu, 01 Jan 1970 00:00:00 GMT")]));
        // Neither freshness nor a validator.
        assert!(!stored(200, &[]));
        assert!(!stored(200, &[("cache-control", "max-age=10, private")]));
        assert!(!stored(
            200,
            &[("cache-control", "no-store"), ("etag", "\"a\"")]
        ));
        assert!(!stored(200, &[("cache-control", "max-age=0")]));
        assert!(!stored(200, &[("pragma", "no-cache"), ("etag", "\"a\"")]));
        assert!(!stored(
            200,
            &[("cache-control", "no-cache=\"set-cookie\", max-age=5")]
        ));
        assert!(!stored(302, &[("cache-control", "max-age=10")]));
        // `public` makes any status cacheable again (cache-store still wants a 200).
        assert!(stored(302, &[("cache-control", "public, max-age=10")]));
    }

    #[test]
    fn freshness() {
        let now = 1_000_000;
        let age = |h: &[(&str, &str)]| max_age(&headers(h), 60, now);
        assert_eq!(age(&[]), Some((60, 0)));
        assert_eq!(age(&[("cache-control", "max-age=10")]), Some((10, 10)));
        assert_eq!(age(&[("cache-control", "max-age=100")]), Some((60, 100)));
        assert_eq!(
            age(&[("cache-control", "max-age=100, s-maxage=\"5\"")]),
            Some((5, 5))
        );
        assert_eq!(age(&[("cache-control", "max-age=abc")]), None);
        assert_eq!(age(&[("expires", "garbage")]), Some((0, 0)));
        let in_30s = httpdate::fmt_http_date(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_030),
        );
        assert_eq!(age(&[("expires", &in_30s)]), Some((30, 30)));
        // max-age wins over Expires.
        assert_eq!(
            age(&[("expires", &in_30s), ("cache-control", "max-age=7")]),
            Some((7, 7))
        );
    }

    #[test]
    fn conditional_requests() {
        let lm = http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        let nm = |h: &[(&str, &str)], etag: Option<&str>| not_modified(&headers(h), etag, lm);
        assert!(nm(&[("if-none-match", "\"x\", \"a\"")], Some("\"a\"")));
        assert!(nm(&[("if-none-match", "W/\"a\"")], Some("\"a\"")));
        assert!(nm(&[("if-none-match", "*")], None));
        assert!(!nm(&[("if-none-match", "\"b\"")], Some("\"a\"")));
        assert!(!nm(&[("if-none-match", "a")], Some("a")));
        assert!(nm(
            &[("if-modified-since", "Wed, 21 Oct 2015 07:28:00 GMT")],
            None
        ));
        assert!(!nm(
            &[("if-modified-since", "Wed, 21 Oct 2015 07:27:59 GMT")],
            None
        ));
        // If-None-Match present: If-Modified-Since is not read.
        assert!(!nm(
            &[
                ("if-none-match", "\"b\""),
                ("if-modified-since", "Wed, 21 Oct 2015 07:28:00 GMT")
            ],
            Some("\"a\"")
        ));
    }

    #[test]
    fn values_split_on_commas_outside_quotes() {
        let h = headers(&[("cache-control", "a, b=\"x,y\" ,c"), ("cache-control", "d")]);
        assert_eq!(
            values(&h, "cache-control").collect::<Vec<_>>(),
            ["a", "b=\"x,y\"", "c", "d"]
        );
    }
}
