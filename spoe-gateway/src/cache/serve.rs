//! The cache's part of one transaction: what `http-request cache-use` found, what
//! `http-response cache-store` decided, the response of a hit, and the body copied into the
//! cache as it streams to the client (HAProxy's cache filter, `cache_store_http_payload()`).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body as _, Frame, SizeHint};
use hyper::header::{HeaderMap, HeaderValue};
use hyper::http::{request, response};
use hyper::{Method, Response, StatusCode, Version};

use super::policy::{self, Flags};
use super::store::{Entry, Lookup, Store};
use super::vary::{self, SecondaryKey};
use crate::body::{Body, BoxError};

/// What the cache rules left in a transaction.
#[derive(Debug, Default)]
pub(crate) struct CacheTxn {
    /// The flags `cache-use` set.
    flags: Flags,
    /// The object's key, once `cache-use` built it.
    key: Option<String>,
    /// The request's secondary key, when one was built.
    secondary: Option<SecondaryKey>,
    /// A fresh object found: it answers instead of a server.
    pub(crate) hit: Option<Hit>,
    /// The cache that answered (`res.cache_hit`, `res.cache_name`).
    pub(crate) served_by: Option<Arc<str>>,
    /// What `cache-store` accepted, to copy the body of.
    pub(crate) storing: Option<Storing>,
}

/// A fresh object found by `cache-use`.
#[derive(Debug)]
pub(crate) struct Hit {
    pub(crate) cache: Arc<str>,
    pub(crate) entry: Arc<Entry>,
    /// A conditional request the object satisfies: `304 Not Modified`.
    pub(crate) not_modified: bool,
}

/// The key of a request (HAProxy's `sha1_hosturi()` before the hash): its absolute URI, or
/// `https://` with the `Host` header and the URI; `None` without a host.
pub(crate) fn primary_key(request: &request::Parts) -> Option<String> {
    let uri = &request.uri;
    if uri.authority().is_some() {
        return Some(uri.to_string());
    }
    let host = request.headers.get(hyper::header::HOST)?.to_str().ok()?;
    Some(format!("https://{host}{uri}"))
}

/// Seconds since the epoch: the cache's clock, as HAProxy's `now.tv_sec`.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `http-request cache-use`: looks the request up in `store`.
pub(crate) fn cache_use(state: &mut CacheTxn, store: &Store, request: &request::Parts, now: i64) {
    state.flags = Flags::of_request(&request.method, request.version, &request.headers);
    // Built for every method: a successful unsafe request drops the object.
    state.key = primary_key(request);
    let Some(key) = state.key.as_deref() else {
        return;
    };
    if state.flags.ignore {
        return;
    }
    match store.lookup(key, now, |sig| {
        SecondaryKey::of_request(&request.headers, sig)
    }) {
        Lookup::Hit(entry) => {
            let not_modified =
                policy::not_modified(&request.headers, entry.etag.as_deref(), entry.last_modified);
            state.hit = Some(Hit {
                cache: Arc::from(store.decl.name.as_str()),
                entry,
                not_modified,
            });
        }
        Lookup::Miss(secondary) => {
            if secondary.is_some() {
                state.secondary = secondary;
            }
        }
    }
}

/// An object `cache-store` accepted: its body is copied as it streams.
#[derive(Debug)]
pub(crate) struct Storing {
    store: Arc<Store>,
    key: String,
    entry: Entry,
    body: BytesMut,
}

/// `http-response cache-store`: whether (and what) to store of the response `head` to
/// `request`. As HAProxy, the origin's `Age` of a response it stores is taken off the
/// response itself (the client's miss has none).
pub(crate) fn cache_store(
    state: &CacheTxn,
    store: &Arc<Store>,
    request: &request::Parts,
    head: &mut response::Parts,
    now: i64,
) -> Option<Storing> {
    let decl = &store.decl;
    if state.served_by.is_some() || request.version < Version::HTTP_11 {
        return None;
    }
    let status = head.status.as_u16();
    if request.method != Method::GET {
        let safe = [Method::OPTIONS, Method::HEAD, Method::TRACE].contains(&request.method);
        if (200..400).contains(&status)
            && !safe
            && let Some(key) = &state.key
        {
            store.invalidate(key);
        }
        return None;
    }
    let key = state.key.clone()?;
    if status != 200 {
        return None;
    }
    let length = head
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if length.is_some_and(|l| l > decl.max_object_size) {
        return None;
    }
    let signature = if decl.process_vary {
        vary::signature(&head.headers)?
    } else if head.headers.contains_key(hyper::header::VARY) {
        return None;
    } else {
        0
    };
    let mut flags = state.flags;
    flags.response(status, &head.headers);
    if !flags.storable() {
        return None;
    }
    let vary = if signature == 0 {
        None
    } else {
        Some((
            signature,
            state.secondary?.stored(signature, &head.headers)?,
        ))
    };
    let (bounded, announced) = policy::max_age(&head.headers, decl.max_age, now)?;
    let mut age = 0;
    if let Some(v) = head.headers.get(hyper::header::AGE) {
        age = v
            .to_str()
            .ok()?
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|a| *a > 0)?;
        if age > announced {
            return None;
        }
        head.headers.remove(hyper::header::AGE);
    }
    let mut headers = head.headers.clone();
    crate::hop::strip_hop_by_hop(&mut headers);
    let etag = headers
        .get_all(hyper::header::ETAG)
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let entry = Entry {
        status: head.status,
        reason: head.extensions.get::<hyper::ext::ReasonPhrase>().cloned(),
        last_modified: policy::last_modified(&headers, now),
        headers,
        body: Bytes::new(),
        expire: now + bounded,
        stored_at: now,
        age,
        etag,
        vary,
    };
    Some(Storing {
        store: store.clone(),
        key,
        entry,
        body: BytesMut::new(),
    })
}

/// The response of a hit at `now` (HAProxy's `http_cache_io_handler()`): the stored head
/// with `Age`, as a `304 Not Modified` for a conditional request it satisfies; no body to
/// a HEAD or with a 304.
pub(crate) fn hit_response(hit: &Hit, method: &Method, now: i64) -> Response<Body> {
    let entry = &hit.entry;
    let mut headers: HeaderMap = entry.headers.clone();
    headers.append(hyper::header::AGE, HeaderValue::from(entry.age_at(now)));
    let bodiless = hit.not_modified || method == Method::HEAD;
    let body = if bodiless {
        Bytes::new()
    } else {
        entry.body.clone()
    };
    let mut r = Response::new(
        http_body_util::Full::new(body)
            .map_err(|never| match never {})
            .boxed(),
    );
    if hit.not_modified {
        *r.status_mut() = StatusCode::NOT_MODIFIED;
    } else {
        *r.status_mut() = entry.status;
        if let Some(reason) = &entry.reason {
            r.extensions_mut().insert(reason.clone());
        }
    }
    *r.headers_mut() = headers;
    r
}

/// A response body copied into the cache as it goes: the object is stored once the body
/// ended, dropped when it grows past `max-object-size` or fails.
pub(crate) struct StoringBody {
    inner: Body,
    storing: Option<Storing>,
}

impl std::fmt::Debug for StoringBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoringBody")
            .field("storing", &self.storing.is_some())
            .finish_non_exhaustive()
    }
}

impl StoringBody {
    pub(crate) fn new(inner: Body, storing: Storing) -> Self {
        let mut body = Self {
            inner,
            storing: Some(storing),
        };
        // A body already at its end (none) is polled by nobody.
        if body.inner.is_end_stream() {
            body.complete();
        }
        body
    }

    fn complete(&mut self) {
        if let Some(mut s) = self.storing.take() {
            s.entry.body = s.body.freeze();
            // Refused (too large, too many variants): the response goes on uncached.
            let _ = s.store.insert(&s.key, s.entry, now());
        }
    }
}

impl hyper::body::Body for StoringBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(s)) = (frame.data_ref(), this.storing.as_mut()) {
                    let size = s.entry.size() + (s.body.len() + data.len()) as u64;
                    if size > s.store.decl.max_object_size {
                        this.storing = None;
                    } else {
                        s.body.extend_from_slice(data);
                    }
                }
                if this.inner.is_end_stream() {
                    this.complete();
                }
            }
            Poll::Ready(None) => this.complete(),
            Poll::Ready(Some(Err(_))) => this.storing = None,
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
