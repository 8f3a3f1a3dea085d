//! Body fetches. `req.body` is what the host buffered of the request body (HAProxy's
//! `option http-buffer-request`), `req.body_len` its length, and `req.body_size` adds what
//! `Content-Length` announces beyond it (HAProxy's `htx->extra`): an agent tells a whole body
//! (`req.body_len == req.body_size`) from a partial one. A chunked body has no announced
//! size: its `req.body_size` is what was buffered, in HAProxy too.
//!
//! No host here holds the response body at `on-http-response`: `res.body` is empty and
//! `res.len` 0, what HAProxy gives before any of the body reached its buffer. `req.len` is the
//! buffered body's length (HAProxy's own figure counts its internal header blocks too, which
//! it documents as "not accurate").

use bytes::Bytes;
use spoe::expr::Sample;

use crate::exchange::Exchange;

/// `req.body`: the buffered request body (a binary sample; empty when nothing was buffered).
pub(super) fn req_body(x: &Exchange<'_>) -> Option<Sample> {
    Some(Sample::Bin(x.body.clone()))
}

/// `req.body_len`, `req.len`: the length of the buffered body.
pub(super) fn req_body_len(x: &Exchange<'_>) -> Option<Sample> {
    Some(Sample::Int(x.body.len() as i64))
}

/// `req.body_size`: the announced length (`Content-Length`), else what was buffered.
pub(super) fn req_body_size(x: &Exchange<'_>) -> Option<Sample> {
    let buffered = x.body.len() as i64;
    let announced = x
        .request
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.trim().parse::<i64>().ok());
    Some(Sample::Int(announced.map_or(buffered, |n| n.max(buffered))))
}

/// `res.len`: nothing of the response body is held.
pub(super) fn res_len(x: &Exchange<'_>) -> Option<Sample> {
    x.response.map(|_| Sample::Int(0))
}

/// `res.body`: nothing of the response body is held.
pub(super) fn res_body(x: &Exchange<'_>) -> Option<Sample> {
    x.response.map(|_| Sample::Bin(Bytes::new()))
}
