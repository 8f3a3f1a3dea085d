//! [`Captures`]: what a proxy captured of an exchange for its logs (HAProxy's `req_cap`,
//! `res_cap` and `txn->uri`), read by the `capture.*` fetches.

/// The captures of one exchange, filled by the host (the gateway's `capture` directives and
/// actions): each request and response slot of the frontend in declaration order, `None`
/// until something is stored in it, and the request line as received when the frontend logs
/// one.
#[derive(Debug, Clone, Default)]
pub struct Captures {
    /// Request slots (`capture.req.hdr(N)`, `%hr`).
    pub request: Vec<Option<String>>,
    /// Response slots (`capture.res.hdr(N)`, `%hs`).
    pub response: Vec<Option<String>>,
    /// The method and target of the request line, before any rewrite (`capture.req.method`,
    /// `capture.req.uri`).
    pub request_line: Option<(http::Method, http::Uri)>,
    /// The response's version, kept once its head went on (`capture.res.ver` in the access
    /// line).
    pub response_version: Option<http::Version>,
}
