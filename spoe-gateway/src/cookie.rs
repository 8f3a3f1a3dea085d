//! Cookie persistence (`cookie NAME insert|prefix|rewrite ...` and `server ... cookie VALUE`),
//! as HAProxy 2.6 runs it (`http_manage_client_side_cookies()`,
//! `http_manage_server_side_cookies()` and the insertion in `http_process_res_common()`, in
//! `src/http_ana.c`): the server a request's cookie names, what the server sees of the cookie,
//! the `Set-Cookie` the client gets, and the two letters of `%tsc`.
//!
//! Pure functions over header maps; the request path calls [`on_request`] before it balances
//! and [`on_response`] after the `http-response` rules.

use hyper::HeaderMap;
use hyper::header::{CACHE_CONTROL, COOKIE, HeaderValue, PRAGMA, SET_COOKIE};

/// `cookie NAME [mode] [options]` of a backend.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CookiePersist {
    /// The cookie's name.
    pub(crate) name: String,
    /// `insert`, `prefix`, `rewrite`, or none (passive: read, never written).
    pub(crate) mode: Option<CookieMode>,
    /// `indirect`: the client's cookie is not shown to the server (insert), and the server's
    /// own `Set-Cookie` of it is removed when the client already had it.
    pub(crate) indirect: bool,
    /// `nocache`: `Cache-control: private` on a cacheable response that sets the cookie.
    pub(crate) nocache: bool,
    /// `postonly`: the cookie is inserted on answers to `POST` only.
    pub(crate) postonly: bool,
    /// `preserve`: a server's own `Set-Cookie` of the name is left alone.
    pub(crate) preserve: bool,
    /// `httponly`, `secure`.
    pub(crate) httponly: bool,
    /// `secure`.
    pub(crate) secure: bool,
    /// `domain D` (each one more `; domain=D`), as HAProxy joins them.
    pub(crate) domain: Option<String>,
    /// `attr A` (joined with `; `).
    pub(crate) attrs: Option<String>,
}

impl CookiePersist {
    /// Whether `%tsc` shows its letters (HAProxy's `PR_CK_ANY`: a mode or `indirect`).
    pub(crate) fn logged(&self) -> bool {
        self.mode.is_some() || self.indirect
    }
}

/// How a persistence cookie is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CookieMode {
    /// `insert`: the gateway sets the cookie.
    Insert,
    /// `prefix`: the server's cookie carries `SERVER~` in front of its value.
    Prefix,
    /// `rewrite`: the server's cookie value is replaced by the server's name.
    Rewrite,
}

/// What the request's cookie said (HAProxy's `TX_CK_*`, the third letter of `%tsc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Seen {
    /// `N`: no persistence cookie.
    #[default]
    None,
    /// `I`: it named no server.
    Invalid,
    /// `D`: it named a server that is down.
    Down,
    /// `V`: it named a server that takes it.
    Valid,
    /// `U`: a server was already chosen.
    Unused,
}

/// What happened to the response's cookie (HAProxy's `TX_SCK_*`, the fourth letter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Written {
    /// `N`: none.
    #[default]
    None,
    /// `P`: the server's was passed unchanged.
    Passed,
    /// `D`: the server's was deleted.
    Deleted,
    /// `I`: the gateway inserted one.
    Inserted,
    /// `R`: the server's was rewritten.
    Replaced,
    /// `U`: the gateway refreshed the client's.
    Updated,
}

/// The persistence state of a transaction.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Persistence {
    /// What the request's cookie said.
    pub(crate) seen: Seen,
    /// What the response's cookie became.
    pub(crate) written: Written,
    /// The server the cookie chose (HAProxy's `SF_DIRECT`); cleared when a retry goes
    /// elsewhere.
    pub(crate) direct: Option<usize>,
    /// `ignore-persist` held: the cookie chooses no server, and the response's cookies are
    /// left as they are (HAProxy's `SF_IGNORE_PRST`).
    pub(crate) ignore: bool,
    /// The dates the client's cookie carried (`NAME=SRV|last|first`), in seconds.
    last_date: u32,
    first_date: u32,
}

impl Persistence {
    /// The two letters of `%tsc` after the termination state.
    pub(crate) fn letters(&self) -> [u8; 2] {
        let seen = match self.seen {
            Seen::None => b'N',
            Seen::Invalid => b'I',
            Seen::Down => b'D',
            Seen::Valid => b'V',
            Seen::Unused => b'U',
        };
        let written = match self.written {
            Written::None => b'N',
            Written::Passed => b'P',
            Written::Deleted => b'D',
            Written::Inserted => b'I',
            Written::Replaced => b'R',
            Written::Updated => b'U',
        };
        [seen, written]
    }
}

/// A server as persistence sees it.
pub(crate) struct Candidate<'a> {
    /// `cookie VALUE` of its line.
    pub(crate) cookie: Option<&'a str>,
    /// Not stopped (HAProxy's `cur_state != SRV_ST_STOPPED`: up, draining included).
    pub(crate) running: bool,
}

/// One cookie of a `Cookie` header: the delimiter before it, its text as written (blanks
/// included) and trimmed, its name and value (trimmed).
struct Crumb<'a> {
    delim: Option<u8>,
    raw: &'a str,
    text: &'a str,
    name: &'a str,
    value: Option<&'a str>,
}

/// Splits a `Cookie` value on `;` and `,` outside quotes.
fn crumbs(header: &str) -> Vec<Crumb<'_>> {
    let bytes = header.as_bytes();
    let mut out = Vec::new();
    let (mut start, mut delim, mut quoted) = (0, None, false);
    for i in 0..=bytes.len() {
        let c = bytes.get(i).copied();
        match c {
            Some(b'"') => quoted = !quoted,
            Some(b';' | b',') | None if !quoted || c.is_none() => {
                let raw = &header[start..i];
                let text = raw.trim_matches([' ', '\t']);
                let (name, value) = match text.split_once('=') {
                    Some((n, v)) => (n.trim(), Some(v.trim())),
                    None => (text, None),
                };
                out.push(Crumb {
                    delim,
                    raw,
                    text,
                    name,
                    value,
                });
                delim = c;
                start = i + 1;
            }
            _ => {}
        }
    }
    out
}

/// Reads the request's persistence cookie: the server it names when that server takes it
/// (`Persistence::direct`) and no `use-server` rule chose one (`assigned`), and the `Cookie` headers as the server must see them (`prefix`
/// strips `SERVER~`, `insert indirect` removes the cookie).
pub(crate) fn on_request(
    persist: &CookiePersist,
    headers: &mut HeaderMap,
    servers: &[Candidate<'_>],
    persist_down: bool,
    ignore: bool,
    assigned: Option<usize>,
) -> Persistence {
    let mut state = Persistence {
        ignore,
        direct: assigned,
        ..Persistence::default()
    };
    if !headers.contains_key(COOKIE) {
        return state;
    }
    let old: Vec<HeaderValue> = headers.get_all(COOKIE).iter().cloned().collect();
    let mut new = Vec::with_capacity(old.len());
    let remove_ours = persist.mode == Some(CookieMode::Insert) && persist.indirect;
    for value in old {
        let Ok(text) = value.to_str() else {
            new.push(value);
            continue;
        };
        // (delimiter before, text as written, trimmed text, a removed cookie came before).
        let mut kept: Vec<(Option<u8>, String, String, bool)> = Vec::new();
        let mut changed = false;
        let mut removed = false;
        for crumb in crumbs(text) {
            let ours = crumb.name == persist.name && !crumb.name.starts_with('$');
            let Some(value) = crumb.value.filter(|_| ours) else {
                kept.push((crumb.delim, crumb.raw.into(), crumb.text.into(), removed));
                removed = false;
                continue;
            };
            let (server_id, rest) = if persist.mode == Some(CookieMode::Prefix) {
                match value.split_once('~') {
                    Some((id, rest)) => (id, Some(rest)),
                    None => (value, None),
                }
            } else {
                let (id, dates) = value.split_once('|').unwrap_or((value, ""));
                state.read_dates(dates);
                (id, None)
            };
            state.choose(server_id, servers, persist_down);
            if let Some(rest) = rest {
                let lead = &crumb.raw[..crumb.raw.len() - crumb.raw.trim_start().len()];
                let new = format!("{}={rest}", crumb.name);
                kept.push((crumb.delim, format!("{lead}{new}"), new, removed));
                removed = false;
                changed = true;
            } else if remove_ours {
                changed = true;
                removed = true;
            } else {
                kept.push((crumb.delim, crumb.raw.into(), crumb.text.into(), removed));
                removed = false;
            }
        }
        if !changed {
            new.push(value);
            continue;
        }
        // HAProxy's `http_del_hdr_value()`: after a removed cookie, the next one's delimiter
        // and a space join what is left; a removed first cookie takes its blanks with it.
        let mut out = String::with_capacity(text.len());
        for (i, (delim, raw, trimmed, after_removal)) in kept.iter().enumerate() {
            match (i, after_removal) {
                (0, true) => out.push_str(trimmed),
                (0, false) => out.push_str(raw),
                (_, true) => {
                    out.push(char::from(delim.unwrap_or(b';')));
                    out.push(' ');
                    out.push_str(trimmed);
                }
                (_, false) => {
                    out.push(char::from(delim.unwrap_or(b';')));
                    out.push_str(raw);
                }
            }
        }
        let out = out.trim();
        if !out.is_empty()
            && let Ok(v) = HeaderValue::from_str(out)
        {
            new.push(v);
        }
    }
    headers.remove(COOKIE);
    for v in new {
        headers.append(COOKIE, v);
    }
    state
}

impl Persistence {
    /// A retry went to another server (`option redispatch`): the client learns its new
    /// server, and a valid cookie is logged as naming a down one (HAProxy's
    /// `assign_server_and_queue()`).
    pub(crate) fn redispatched(&mut self) {
        self.direct = None;
        if self.seen == Seen::Valid {
            self.seen = Seen::Down;
        }
    }

    /// One occurrence of the cookie naming `id`: the first server running with that cookie
    /// (or any such server with `option persist`).
    fn choose(&mut self, id: &str, servers: &[Candidate<'_>], persist_down: bool) {
        if self.direct.is_some() || self.ignore {
            if !matches!(self.seen, Seen::Down) {
                self.seen = Seen::Unused;
            }
            return;
        }
        let mut found = false;
        if !id.is_empty() {
            for (i, s) in servers.iter().enumerate() {
                if s.cookie != Some(id) {
                    continue;
                }
                if s.running || persist_down {
                    self.seen = if s.running { Seen::Valid } else { Seen::Down };
                    self.direct = Some(i);
                    return;
                }
                self.seen = Seen::Down;
                found = true;
            }
        }
        if !found && !matches!(self.seen, Seen::Down) {
            self.seen = Seen::Invalid;
        }
    }

    /// `|LAST[|FIRST]` after the server's cookie (5 base64 characters each, in units of 4 s).
    fn read_dates(&mut self, dates: &str) {
        if dates.is_empty() {
            return;
        }
        let mut parts = dates.split('|');
        if let Some(v) = parts.next().and_then(b64tos30) {
            self.last_date = v << 2;
        }
        if let Some(v) = parts.next().filter(|p| p.len() >= 5).and_then(b64tos30) {
            self.first_date = v << 2;
        }
    }
}

/// HAProxy's `b64tos30()`: 5 base64 characters as a 30-bit number (`None`: invalid, or 0).
fn b64tos30(text: &str) -> Option<u32> {
    let bytes = text.as_bytes().get(..5)?;
    let mut out = 0u32;
    for &c in bytes {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        out = (out << 6) | u32::from(v);
    }
    (out > 0).then_some(out)
}

/// The response as the persistence mode wants it: the server's own cookie of the name
/// passed, deleted or rewritten, then the gateway's `Set-Cookie` (and `Cache-control:
/// private` with `nocache`) when the client must learn its server.
pub(crate) fn on_response(
    persist: &CookiePersist,
    state: &mut Persistence,
    response: (u16, &mut HeaderMap),
    server_cookie: Option<&str>,
    method: &hyper::Method,
) {
    let (status, headers) = response;
    if (status < 200 && status != 101) || state.ignore {
        return;
    }
    server_side(persist, state, headers, server_cookie);
    let cacheable = matches!(
        *method,
        hyper::Method::GET | hyper::Method::HEAD | hyper::Method::OPTIONS | hyper::Method::TRACE
    ) && matches!(
        status,
        200 | 203 | 204 | 206 | 300 | 301 | 404 | 405 | 410 | 414 | 501
    ) && (!persist.nocache || response_cacheable(status, headers));
    let now = unix_now();
    let dated = state.last_date != 0 && (state.last_date < now || state.first_date != 0);
    let dated = dated || state.first_date != 0;
    let insert = persist.mode == Some(CookieMode::Insert)
        && !(state.written == Written::Passed && persist.preserve)
        && (state.direct.is_none() || dated)
        && (!persist.postonly || *method == hyper::Method::POST);
    if !insert {
        return;
    }
    let mut line = match server_cookie {
        None => format!(
            "{}=; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/",
            persist.name
        ),
        Some(value) => format!("{}={value}; path=/", persist.name),
    };
    if let Some(domain) = &persist.domain {
        line.push_str("; domain=");
        line.push_str(domain);
    }
    if persist.httponly {
        line.push_str("; HttpOnly");
    }
    if persist.secure {
        line.push_str("; Secure");
    }
    if let Some(attrs) = &persist.attrs {
        line.push_str("; ");
        line.push_str(attrs);
    }
    if let Ok(v) = HeaderValue::from_str(&line) {
        headers.append(SET_COOKIE, v);
    }
    state.written = if server_cookie.is_some() && state.direct.is_some() {
        Written::Updated
    } else {
        Written::Inserted
    };
    if persist.nocache && cacheable {
        headers.append(CACHE_CONTROL, HeaderValue::from_static("private"));
    }
}

/// The server's `Set-Cookie` of the persistence name (`Set-Cookie2` is not read).
fn server_side(
    persist: &CookiePersist,
    state: &mut Persistence,
    headers: &mut HeaderMap,
    server_cookie: Option<&str>,
) {
    if !headers.contains_key(SET_COOKIE) {
        return;
    }
    let old: Vec<HeaderValue> = headers.get_all(SET_COOKIE).iter().cloned().collect();
    let mut new = Vec::with_capacity(old.len());
    for value in old {
        let text = value.to_str().unwrap_or_default();
        // A `Set-Cookie` carries one cookie; its attributes follow the first `;`.
        let (pair, attrs) = match text.find(';') {
            Some(at) => text.split_at(at),
            None => (text, ""),
        };
        let (name, cookie_value) = match pair.split_once('=') {
            Some((n, v)) => (n.trim(), v.trim()),
            None => ("", ""),
        };
        if name.is_empty() || name != persist.name {
            new.push(value);
            continue;
        }
        state.written = Written::Passed;
        if persist.preserve {
            new.push(value);
        } else if persist.mode == Some(CookieMode::Insert)
            || (state.direct.is_some() && persist.indirect)
        {
            state.written = Written::Deleted;
        } else if let (Some(mode), Some(id)) = (persist.mode, server_cookie) {
            let rewritten = match mode {
                CookieMode::Rewrite => format!("{name}={id}{attrs}"),
                CookieMode::Prefix => format!("{name}={id}~{cookie_value}{attrs}"),
                CookieMode::Insert => unreachable!("handled above"),
            };
            state.written = Written::Replaced;
            new.push(HeaderValue::from_str(&rewritten).unwrap_or(value));
        } else {
            new.push(value);
        }
    }
    headers.remove(SET_COOKIE);
    for v in new {
        headers.append(SET_COOKIE, v);
    }
}

/// HAProxy's `http_check_response_for_cacheability()` as far as `nocache` reads it: a
/// `Pragma: no-cache` or a `Cache-Control` of `private`, `no-cache`, `no-store`,
/// `max-age=0` or `s-maxage=0` makes the response uncacheable (`public` cacheable again); one
/// with neither freshness (`max-age`, `s-maxage`, `Expires`) nor a validator (`ETag`,
/// `Last-Modified`) is not cached either (2.6.12 adds no `Cache-control: private` to it).
fn response_cacheable(status: u16, headers: &HeaderMap) -> bool {
    if status < 200 {
        return false;
    }
    if headers
        .get(PRAGMA)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"no-cache"))
    {
        return false;
    }
    let mut cacheable = true;
    let mut fresh = false;
    for value in headers.get_all(CACHE_CONTROL) {
        for item in value.to_str().unwrap_or_default().split(',') {
            let item = item.trim();
            let lower = item.to_ascii_lowercase();
            if lower == "public" {
                cacheable = true;
            } else if ["private", "no-cache", "no-store", "max-age=0", "s-maxage=0"]
                .contains(&lower.as_str())
            {
                cacheable = false;
            } else if lower.starts_with("s-maxage") || lower.starts_with("max-age") {
                fresh = true;
            }
        }
    }
    let fresh = fresh || headers.contains_key(hyper::header::EXPIRES);
    let validator = headers.contains_key(hyper::header::ETAG)
        || headers.contains_key(hyper::header::LAST_MODIFIED);
    cacheable && (fresh || validator)
}

fn unix_now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn persist(mode: Option<CookieMode>, indirect: bool) -> CookiePersist {
        CookiePersist {
            name: "SRV".to_owned(),
            mode,
            indirect,
            ..CookiePersist::default()
        }
    }

    fn servers() -> Vec<Candidate<'static>> {
        vec![
            Candidate {
                cookie: Some("s1"),
                running: true,
            },
            Candidate {
                cookie: Some("s2"),
                running: false,
            },
        ]
    }

    fn cookie_of(h: &HeaderMap) -> Vec<String> {
        h.get_all(COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn insert_indirect_removes_the_cookie_as_haproxy_joins_what_is_left() {
        let p = persist(Some(CookieMode::Insert), true);
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("a=1; SRV=s1; b=2"));
        let st = on_request(&p, &mut h, &servers(), false, false, None);
        assert_eq!(st.direct, Some(0));
        assert_eq!(st.seen, Seen::Valid);
        assert_eq!(cookie_of(&h), ["a=1; b=2"]);
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("SRV=s2"));
        let st = on_request(&p, &mut h, &servers(), false, false, None);
        assert_eq!((st.direct, st.seen), (None, Seen::Down));
        assert!(cookie_of(&h).is_empty());
    }

    #[test]
    fn prefix_strips_the_server_and_rewrites_the_answer() {
        let p = persist(Some(CookieMode::Prefix), false);
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("SRV=s1~abc; x=y"));
        let mut st = on_request(&p, &mut h, &servers(), false, false, None);
        assert_eq!(cookie_of(&h), ["SRV=abc; x=y"]);
        let mut r = HeaderMap::new();
        r.append(SET_COOKIE, HeaderValue::from_static("SRV=new; path=/"));
        on_response(&p, &mut st, (200, &mut r), Some("s1"), &hyper::Method::GET);
        assert_eq!(r.get(SET_COOKIE).unwrap(), "SRV=s1~new; path=/");
        assert_eq!(st.letters(), *b"VR");
    }

    #[test]
    fn insert_writes_haproxys_set_cookie_with_nocache() {
        let mut p = persist(Some(CookieMode::Insert), true);
        p.nocache = true;
        p.httponly = true;
        p.domain = Some("example.com".to_owned());
        let mut st = Persistence::default();
        let mut r = HeaderMap::new();
        r.append(hyper::header::ETAG, HeaderValue::from_static("\"v1\""));
        on_response(&p, &mut st, (200, &mut r), Some("s1"), &hyper::Method::GET);
        assert_eq!(
            r.get(SET_COOKIE).unwrap(),
            "SRV=s1; path=/; domain=example.com; HttpOnly"
        );
        assert_eq!(r.get(CACHE_CONTROL).unwrap(), "private");
        assert_eq!(st.letters(), *b"NI");
        assert_eq!(b64tos30("AAAAB"), Some(1));
    }
}
