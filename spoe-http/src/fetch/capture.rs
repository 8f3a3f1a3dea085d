//! `capture.req.hdr`, `capture.res.hdr`, `capture.req.method`, `capture.req.uri`,
//! `capture.req.ver`, `capture.res.ver` (`src/http_fetch.c`).

use http::Version;
use spoe::expr::Sample;

use crate::exchange::Exchange;

/// Slot `idx` of `slots`, when something was stored in it.
fn slot(slots: &[Option<String>], idx: i64) -> Option<Sample> {
    let value = slots.get(usize::try_from(idx).ok()?)?.as_ref()?;
    Some(Sample::str(value.clone()))
}

pub(super) fn req_hdr(x: &Exchange<'_>, idx: i64) -> Option<Sample> {
    slot(&x.captures?.request, idx)
}

pub(super) fn res_hdr(x: &Exchange<'_>, idx: i64) -> Option<Sample> {
    slot(&x.captures?.response, idx)
}

pub(super) fn req_method(x: &Exchange<'_>) -> Option<Sample> {
    let (method, _) = x.captures?.request_line.as_ref()?;
    Some(Sample::str(method.as_str().to_owned()))
}

/// The path of the kept target, with its query (`http_parse_path()`: an absolute target
/// loses its scheme and authority; `*` has no path).
pub(super) fn req_uri(x: &Exchange<'_>) -> Option<Sample> {
    let (_, uri) = x.captures?.request_line.as_ref()?;
    let path = uri.path_and_query()?.as_str();
    path.starts_with('/').then(|| Sample::str(path.to_owned()))
}

/// HAProxy's two answers: `HTTP/1.1` for any message flagged 1.1 (HTTP/2's included),
/// `HTTP/1.0` otherwise.
fn version(v: Version) -> Sample {
    Sample::str(if v == Version::HTTP_10 || v == Version::HTTP_09 {
        "HTTP/1.0"
    } else {
        "HTTP/1.1"
    })
}

pub(super) fn req_ver(x: &Exchange<'_>) -> Option<Sample> {
    Some(version(x.request.version))
}

pub(super) fn res_ver(x: &Exchange<'_>) -> Option<Sample> {
    let kept = || x.captures?.response_version;
    Some(version(x.response.map(|r| r.version).or_else(kept)?))
}
