//! `errorfile CODE FILE`: the response a proxy sends instead of HAProxy's own page for
//! `CODE` (`http_str_to_htx()` and `http_error_message()` in HAProxy 2.6's `src/http_htx.c`
//! and `src/http_ana.c`). The file is a whole HTTP/1 response, read and checked when the
//! configuration is; it is sent as it is, its status line and headers included.
//!
//! Which proxy's files apply is HAProxy's rule: the backend's once the request has one, else
//! the frontend's (each with what `defaults` handed down). A request carries them in a task
//! local ([`scope`], [`enter_backend`]), which `crate::proxy`'s page builder reads, so that
//! every place that answers with a page gets the file without being handed it.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};

/// The files of a proxy, by status.
pub(crate) type ErrorFiles = Arc<BTreeMap<u16, Arc<ErrorFile>>>;

/// The statuses HAProxy 2.6 has a page for (`http_err_codes[]` in `src/http.c`): the only ones
/// `errorfile` takes.
pub(crate) const STATUSES: &[u16] = &[
    200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 421, 422, 425, 429, 500, 501, 502, 503, 504,
];

/// A response read from an error file.
#[derive(Debug)]
pub(crate) struct ErrorFile {
    status: u16,
    reason: Bytes,
    headers: HeaderMap,
    body: Bytes,
}

/// HAProxy's most headers in a message (`tune.http.maxhdr`'s default).
const MAX_HEADERS: usize = 101;

impl ErrorFile {
    /// Reads `raw` as HAProxy does; the error is HAProxy's text.
    pub(crate) fn parse(raw: &[u8]) -> Result<Self, String> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        let head_len = match resp.parse(raw) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => {
                return Err(format!(
                    "unabled to parse headers (error offset: {})",
                    raw.len()
                ));
            }
            Err(e) => return Err(format!("unabled to parse headers ({e})")),
        };
        let status = resp.code.unwrap_or(0);
        if status < 200 && (status == 100 || status >= 102) {
            return Err(format!(
                "invalid http status code for an error message ({status})"
            ));
        }
        let body = &raw[head_len..];
        let mut map = HeaderMap::new();
        let mut content_length = None;
        for h in resp.headers.iter() {
            let name = HeaderName::from_bytes(h.name.as_bytes())
                .map_err(|_| format!("unabled to parse headers (header '{}')", h.name))?;
            if name == hyper::header::TRANSFER_ENCODING {
                return Err("chunk-encoded payload not supported".to_owned());
            }
            if name == hyper::header::CONTENT_LENGTH {
                content_length = std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.trim().parse::<usize>().ok());
                // The length is the body's: hyper writes it.
                continue;
            }
            let value = HeaderValue::from_bytes(h.value)
                .map_err(|_| format!("unabled to parse headers (header '{}')", h.name))?;
            map.append(name, value);
        }
        let bodiless = matches!(status, 204 | 304) || content_length == Some(0);
        if bodiless && !body.is_empty() {
            return Err("message payload not expected".to_owned());
        }
        if let Some(n) = content_length
            && n != body.len()
        {
            return Err(format!(
                "payload size does not match the announced content-length ({} != {n})",
                body.len()
            ));
        }
        Ok(Self {
            status,
            reason: Bytes::copy_from_slice(resp.reason.unwrap_or("").as_bytes()),
            headers: map,
            body: Bytes::copy_from_slice(body),
        })
    }

    /// The page `http-error` builds from parts (`http_reply_to_htx()`): the status with its
    /// usual reason, the `hdr` headers, `content-type` with a payload, the payload.
    pub(crate) fn built(
        status: u16,
        content_type: Option<&str>,
        headers: &[(String, String)],
        body: Bytes,
    ) -> Result<Self, String> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            if value.is_empty() {
                continue;
            }
            let n = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("invalid header name '{name}'"))?;
            let v = HeaderValue::from_str(value)
                .map_err(|_| format!("invalid value '{value}' of header '{name}'"))?;
            map.append(n, v);
        }
        if let Some(ct) = content_type.filter(|_| !body.is_empty()) {
            let v =
                HeaderValue::from_str(ct).map_err(|_| format!("invalid content-type '{ct}'"))?;
            map.insert(hyper::header::CONTENT_TYPE, v);
        }
        Ok(Self {
            status,
            reason: Bytes::new(),
            headers: map,
            body,
        })
    }

    /// Its status.
    pub(crate) fn status(&self) -> u16 {
        self.status
    }

    /// Its reason phrase.
    pub(crate) fn reason(&self) -> &[u8] {
        &self.reason
    }

    /// Its headers (without `Content-Length`, which follows the body).
    pub(crate) fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// Its body.
    pub(crate) fn body(&self) -> Bytes {
        self.body.clone()
    }
}

/// The files a request's pages come from.
#[derive(Debug)]
struct Pages {
    frontend: ErrorFiles,
    backend: Option<ErrorFiles>,
}

tokio::task_local! {
    static PAGES: RefCell<Pages>;
}

/// Runs `request` (one request's handling) with `frontend`'s files in effect.
pub(crate) fn scope<F: Future>(
    frontend: &ErrorFiles,
    request: F,
) -> impl Future<Output = F::Output> {
    PAGES.scope(
        RefCell::new(Pages {
            frontend: frontend.clone(),
            backend: None,
        }),
        request,
    )
}

/// The request has its backend: its files come first from now on.
pub(crate) fn enter_backend(backend: &ErrorFiles) {
    let _ = PAGES.try_with(|p| p.borrow_mut().backend = Some(backend.clone()));
}

/// The file for `status` in effect for the running request, if any.
pub(crate) fn lookup(status: u16) -> Option<Arc<ErrorFile>> {
    PAGES
        .try_with(|p| {
            let p = p.borrow();
            p.backend
                .as_ref()
                .and_then(|b| b.get(&status))
                .or_else(|| p.frontend.get(&status))
                .cloned()
        })
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_read_as_haproxy_reads_it() {
        let f = ErrorFile::parse(
            b"HTTP/1.0 503 Service Unavailable\r\nCache-Control: no-cache\r\nConnection: close\r\n\
              Content-Type: text/html\r\n\r\n<html>down</html>\n",
        )
        .unwrap();
        assert_eq!(f.status(), 503);
        assert_eq!(f.reason(), b"Service Unavailable");
        assert_eq!(f.headers().len(), 3);
        assert_eq!(&f.body()[..], b"<html>down</html>\n");
        let lf = ErrorFile::parse(b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok").unwrap();
        assert_eq!(&lf.body()[..], b"ok");
        for (raw, error) in [
            (
                &b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok"[..],
                "payload size does not match",
            ),
            (
                b"HTTP/1.1 204 No Content\r\n\r\nx",
                "message payload not expected",
            ),
            (b"HTTP/1.1 100 Continue\r\n\r\n", "invalid http status code"),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                "chunk-encoded",
            ),
            (b"not http\r\n\r\n", "unabled to parse headers"),
        ] {
            let e = ErrorFile::parse(raw).unwrap_err();
            assert!(e.contains(error), "{e}");
        }
    }
}
