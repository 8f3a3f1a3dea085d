//! [`Exchange`]: one HTTP exchange as the sample language sees it, borrowed from the host.

use std::fmt;

use bytes::Bytes;
use http::{request, response};

use crate::captures::Captures;
use crate::conn::ConnectionFacts;
use crate::vars::Vars;

/// The body when the host gives none: nothing buffered.
static NO_BODY: Bytes = Bytes::new();

/// One HTTP exchange as HAProxy's fetches read it (its [`Fetch`](spoe::expr::Fetch)
/// implementation is the `fetch` module's): the request head, what of its body was
/// buffered, the response head once there is one, the client connection, the variables and
/// the unique id. Every part is borrowed: building one costs nothing, and a fetch copies only
/// the value it returns.
///
/// ```
/// use spoe::expr::{Fetch, FetchKind, Sample};
/// use spoe_http::{ConnectionFacts, Exchange};
///
/// let (parts, ()) = http::Request::get("/login?next=/home")
///     .header("user-agent", "Googlebot/2.1")
///     .body(())
///     .unwrap()
///     .into_parts();
/// let conn = ConnectionFacts::tcp("192.0.2.7:50000".parse().unwrap(), "127.0.0.1:8080".parse().unwrap());
/// let exchange = Exchange::new(&parts).conn(&conn);
/// assert_eq!(exchange.fetch(&FetchKind::Path), Some(Sample::str("/login")));
/// assert_eq!(exchange.fetch(&FetchKind::Src), Some(Sample::Ipv4([192, 0, 2, 7].into())));
/// ```
///
/// What it answers and how is HAProxy 2.6's (`src/http_fetch.c`), with these limits of the
/// `http` crate: header names are lower case (as in HAProxy's HTX), and the headers of one
/// name come out together, where HAProxy keeps the order of the wire when names interleave.
#[derive(Clone, Copy)]
pub struct Exchange<'a> {
    pub(crate) request: &'a request::Parts,
    pub(crate) body: &'a Bytes,
    pub(crate) response: Option<&'a response::Parts>,
    conn: Option<&'a ConnectionFacts>,
    pub(crate) vars: Option<&'a Vars>,
    pub(crate) unique_id: Option<&'a dyn fmt::Display>,
    pub(crate) captures: Option<&'a Captures>,
}

impl fmt::Debug for Exchange<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exchange")
            .field("method", &self.request.method)
            .field("uri", &self.request.uri)
            .field("body_len", &self.body.len())
            .field("status", &self.response.map(|r| r.status))
            .field("conn", &self.connection())
            .finish_non_exhaustive()
    }
}

impl<'a> Exchange<'a> {
    /// The exchange of `request`: no body buffered, no response yet, no variables. The
    /// connection is the request's [`ConnectionFacts`] extension, if it has one.
    pub fn new(request: &'a request::Parts) -> Self {
        Self {
            request,
            body: &NO_BODY,
            response: None,
            conn: None,
            vars: None,
            unique_id: None,
            captures: None,
        }
    }

    /// What of the request body was buffered (`req.body`, `req.body_len`; `req.body_size` adds
    /// what `Content-Length` announces beyond it, as HAProxy does).
    #[must_use]
    pub fn body(mut self, body: &'a Bytes) -> Self {
        self.body = body;
        self
    }

    /// The response head (`status`, `res.hdr()`...), which also makes `hdr()` read the
    /// response: the exchange is then at a response event.
    #[must_use]
    pub fn response(mut self, response: &'a response::Parts) -> Self {
        self.response = Some(response);
        self
    }

    /// The client connection, when the host keeps it apart from the request's extensions.
    #[must_use]
    pub fn conn(mut self, conn: &'a ConnectionFacts) -> Self {
        self.conn = Some(conn);
        self
    }

    /// The variables `var()` reads.
    #[must_use]
    pub fn vars(mut self, vars: &'a Vars) -> Self {
        self.vars = Some(vars);
        self
    }

    /// The request's unique id (`unique-id`), formatted only when a fetch reads it. Without
    /// one, `unique-id` has no value, as in HAProxy without `unique-id-format`.
    #[must_use]
    pub fn unique_id(mut self, id: &'a dyn fmt::Display) -> Self {
        self.unique_id = Some(id);
        self
    }

    /// What the proxy captured (`capture.req.hdr()`, `capture.req.method`...). Without it,
    /// those fetches have no value, as in a proxy that captures nothing.
    #[must_use]
    pub fn captures(mut self, captures: &'a Captures) -> Self {
        self.captures = Some(captures);
        self
    }

    /// The client connection: the one given to [`conn`](Self::conn), else the request's
    /// [`ConnectionFacts`] extension.
    pub fn connection(&self) -> Option<&'a ConnectionFacts> {
        self.conn
            .or_else(|| self.request.extensions.get::<ConnectionFacts>())
    }
}
