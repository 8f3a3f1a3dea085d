//! The statistics page (`stats enable|uri|...`), as HAProxy 2.6 serves it
//! (`http_stats_check_uri()`, `http_handle_stats()` in `src/http_ana.c`, the stats applet in
//! `src/stats.c`): a `GET`, `HEAD` or `POST` whose path (with its query) starts with the
//! page's `uri`, once the proxy's `http-request` rules let it through, is answered by the
//! page. After the prefix, `;csv` asks for the CSV (the same as `show stat`), `;up` hides the
//! servers that are not up, `;norefresh` drops the `Refresh` header, `;st=CODE` shows the
//! result of an admin action, `scope=NAME` shows only the proxies whose name contains NAME.
//!
//! With `stats auth`, a request without one of its `user:password` pairs gets HAProxy's 401
//! page asking for the realm. A `POST` (the HTML form of `stats admin`) sets servers' states
//! when a `stats admin` condition holds; either way it is answered by a 303 to the page with
//! the result (`;st=DONE`, `DENY`...), as HAProxy does.
//!
//! Every figure is a [`Row`] of the gateway's statistics (the ones `show stat` and the
//! Prometheus exporter read); the page adds each SPOE agent's events processed, errors and
//! mean processing time, which HAProxy's page does not show.

mod html;

use hyper::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use hyper::{Method, Response, StatusCode, Uri};

use crate::generation::{Admin, Generation};
use crate::metrics::snapshot::Snapshot;
use crate::model::{DEFAULT_STATS_REALM, StatsPage};
use crate::stats::{ObjType, Row, csv_document};

/// What the request asks of the page (the options after the page's prefix).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PageRequest {
    /// `;csv`.
    pub(crate) csv: bool,
    /// `;up`: servers that are not up are hidden.
    pub(crate) up: bool,
    /// `;norefresh` (only read when the page refreshes).
    pub(crate) norefresh: bool,
    /// `;st=CODE`: the result of the last admin action.
    pub(crate) status: Option<String>,
    /// `scope=TEXT`: only the proxies whose name contains it.
    pub(crate) scope: Option<String>,
}

/// The results of an admin action, as HAProxy names them in `;st=`.
const STATUS_CODES: &[&str] = &[
    "DENY", "DONE", "ERRP", "EXCD", "NONE", "PART", "UNKN", "IVAL",
];

/// The request target the page's prefix is compared with: the path and query when the
/// prefix starts with `/`, else the whole target.
fn target<'u>(page: &StatsPage, uri: &'u Uri) -> std::borrow::Cow<'u, str> {
    if page.uri.starts_with('/') {
        uri.path_and_query()
            .map_or(std::borrow::Cow::Borrowed("/"), |p| {
                std::borrow::Cow::Borrowed(p.as_str())
            })
    } else {
        std::borrow::Cow::Owned(uri.to_string())
    }
}

/// Whether the request is the page's (HAProxy's `http_stats_check_uri()`).
pub(crate) fn matches(page: &StatsPage, method: &Method, uri: &Uri) -> bool {
    (*method == Method::GET || *method == Method::HEAD || *method == Method::POST)
        && target(page, uri).starts_with(&*page.uri)
}

/// The options after the prefix.
pub(crate) fn request(page: &StatsPage, uri: &Uri) -> PageRequest {
    let target = target(page, uri);
    let rest = target.get(page.uri.len()..).unwrap_or_default();
    let status = rest.find(";st=").map(|i| {
        let code = rest.get(i + 4..i + 8).unwrap_or_default();
        STATUS_CODES
            .iter()
            .find(|c| **c == code)
            .unwrap_or(&"UNKN")
            .to_string()
    });
    let scope = rest.find("scope=").and_then(|i| {
        let text: String = rest[i + 6..]
            .chars()
            .take_while(|c| !matches!(c, ';' | '&' | ' '))
            .take(15)
            .collect();
        // HAProxy clears a scope with characters a proxy name cannot have.
        text.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
            .then_some(text)
            .filter(|t| !t.is_empty())
    });
    PageRequest {
        csv: rest.contains(";csv"),
        up: rest.contains(";up"),
        norefresh: page.refresh.is_some() && rest.contains(";norefresh"),
        status,
        scope,
    }
}

/// `None` when the request may see the page; else HAProxy's 401 answer asking for the realm.
pub(crate) fn unauthorized(page: &StatsPage, headers: &HeaderMap) -> Option<Response<String>> {
    if page.users.is_empty() {
        return None;
    }
    let credentials = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, b64) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("basic")
                .then(|| {
                    use base64::Engine as _;
                    base64::engine::general_purpose::STANDARD
                        .decode(b64.trim())
                        .ok()
                })
                .flatten()
        })
        .and_then(|raw| String::from_utf8(raw).ok());
    let allowed = credentials
        .as_deref()
        .and_then(|c| c.split_once(':'))
        .is_some_and(|(u, p)| page.users.iter().any(|(user, pass)| user == u && pass == p));
    if allowed {
        return None;
    }
    let realm = page.realm.as_deref().unwrap_or(DEFAULT_STATS_REALM);
    let (reason, text) = crate::pages::haproxy_page(401).unwrap_or(("Unauthorized", ""));
    let mut r = Response::new(crate::pages::page_html(401, reason, text));
    *r.status_mut() = StatusCode::UNAUTHORIZED;
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static("text/html"));
    h.insert("cache-control", HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&format!("Basic realm=\"{realm}\"")) {
        h.insert("www-authenticate", v);
    }
    Some(r)
}

/// The answer to a `GET` or `HEAD`: the CSV or the HTML page.
pub(crate) fn page(
    page: &StatsPage,
    own_proxy: &str,
    req: &PageRequest,
    admin: bool,
    snapshot: &Snapshot,
) -> Response<String> {
    let rows = shown(page, own_proxy, req, &snapshot.rows);
    let (body, content_type) = if req.csv {
        (csv_document(&rows), "text/plain")
    } else {
        let view = html::View {
            page,
            req,
            admin,
            snapshot,
            rows: &rows,
        };
        (view.render(), "text/html")
    };
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert("cache-control", HeaderValue::from_static("no-cache"));
    h.insert("content-type", HeaderValue::from_static(content_type));
    if let Some(refresh) = page.refresh.filter(|_| !req.norefresh)
        && let Ok(v) = HeaderValue::from_str(&refresh.as_secs().to_string())
    {
        h.insert("refresh", v);
    }
    r
}

/// The rows the page shows: the proxies of `stats scope` (`.` is the page's own) and of the
/// request's scope, without the servers that are not up under `;up`.
fn shown(page: &StatsPage, own: &str, req: &PageRequest, rows: &[Row]) -> Vec<Row> {
    rows.iter()
        .filter(|r| {
            page.scope.is_empty()
                || page
                    .scope
                    .iter()
                    .any(|s| s == r.proxy() || (s == "." && r.proxy() == own))
        })
        .filter(|r| {
            req.scope
                .as_ref()
                .is_none_or(|s| r.proxy().contains(s.as_str()))
        })
        .filter(|r| !req.up || r.obj != ObjType::Server || r.state == crate::stats::ServerState::Up)
        .cloned()
        .collect()
}

/// An admin form's action, and the state it sets.
fn action(name: &str) -> Option<Admin> {
    match name {
        "ready" | "enable" | "start" => Some(Admin::Ready),
        "drain" | "stop" => Some(Admin::Drain),
        "maint" | "disable" => Some(Admin::Maint),
        _ => None,
    }
}

/// `application/x-www-form-urlencoded` pairs, decoded.
fn form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Applies an admin form (`b=BACKEND&s=SERVER...&action=ACTION`) and gives the result code
/// (HAProxy's `stats_process_http_post()`); `allowed` is whether a `stats admin` rule holds.
pub(crate) fn post(generation: &Generation, allowed: bool, body: &[u8]) -> &'static str {
    if !allowed {
        return "DENY";
    }
    let pairs = form(body);
    let get = |key: &str| pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v);
    let backend = get("b").and_then(|b| generation.backend_by_ref(b));
    let Some(backend) = backend else {
        return "ERRP";
    };
    let Some(state) = get("action").map(|a| action(a)) else {
        return "NONE";
    };
    let Some(state) = state else {
        return "ERRP";
    };
    let (mut total, mut altered) = (0, 0);
    for (_, name) in pairs.iter().filter(|(k, _)| k == "s") {
        total += 1;
        if let Some(server) = backend.server(name) {
            backend.set_admin(server, state);
            altered += 1;
        }
    }
    match (total, altered) {
        (0, _) => "NONE",
        (_, 0) => "ERRP",
        (t, a) if t == a => "DONE",
        _ => "PART",
    }
}

/// HAProxy's answer to a `POST`: a 303 to the page with the result.
pub(crate) fn redirect(page: &StatsPage, req: &PageRequest, code: &str) -> Response<String> {
    let mut location = format!("{};st={code}", page.uri);
    if req.up {
        location.push_str(";up");
    }
    if req.norefresh {
        location.push_str(";norefresh");
    }
    if let Some(scope) = &req.scope {
        location.push_str(";scope=");
        location.push_str(scope);
    }
    let mut r = Response::new(String::new());
    *r.status_mut() = StatusCode::SEE_OTHER;
    let h = r.headers_mut();
    h.insert("cache-control", HeaderValue::from_static("no-cache"));
    h.insert("content-type", HeaderValue::from_static("text/plain"));
    if let Ok(v) = HeaderValue::from_str(&location) {
        h.insert("location", v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(uri: &str) -> StatsPage {
        StatsPage {
            uri: uri.into(),
            ..StatsPage::default()
        }
    }

    #[test]
    fn the_prefix_and_options_are_haproxys() {
        let p = page("/stats");
        let uri: Uri = "/stats;csv;up?scope=app".parse().unwrap();
        assert!(matches(&p, &Method::GET, &uri));
        assert!(!matches(&p, &Method::PUT, &uri));
        assert!(matches(&p, &Method::GET, &"/statsfoo".parse().unwrap()));
        assert!(!matches(&p, &Method::GET, &"/stat".parse().unwrap()));
        let r = request(&p, &uri);
        assert!(r.csv && r.up && !r.norefresh);
        assert_eq!(r.scope.as_deref(), Some("app"));
        let r = request(&p, &"/stats;st=DONE".parse().unwrap());
        assert_eq!(r.status.as_deref(), Some("DONE"));
        let r = request(&p, &"/stats;st=XXXX".parse().unwrap());
        assert_eq!(r.status.as_deref(), Some("UNKN"));
    }

    #[test]
    fn auth_asks_for_the_realm() {
        let mut p = page("/");
        p.users.push(("admin".into(), "s3cret".into()));
        p.realm = Some("Ops".into());
        let r = unauthorized(&p, &HeaderMap::new()).unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"Ops\"");
        let mut h = HeaderMap::new();
        // admin:s3cret
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Basic YWRtaW46czNjcmV0"),
        );
        assert!(unauthorized(&p, &h).is_none());
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Basic YWRtaW46eA=="),
        );
        assert!(unauthorized(&p, &h).is_some());
    }

    #[test]
    fn forms_decode() {
        assert_eq!(
            form(b"s=s%201&s=s2&action=maint&b=%23app"),
            [
                ("s".into(), "s 1".into()),
                ("s".into(), "s2".into()),
                ("action".into(), "maint".into()),
                ("b".into(), "#app".into())
            ]
        );
    }
}
