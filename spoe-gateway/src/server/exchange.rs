//! What a client connection holds between its requests: the socket and the
//! bytes read past the last request, nothing of HTTP. hyper keeps a read and a
//! write buffer (8 KiB each) for as long as its connection object lives, so
//! the gateway hands the socket back from hyper once the client has been idle
//! for a moment and keeps only the socket while the client stays idle (HAProxy
//! keeps no buffer on an idle connection either); see `http1.rs` for when.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::rt::TokioIo;

use super::stream::ClientStream;
use crate::body::Progress;
use crate::stats::{Counters, Wire};

/// The client's socket, with the bytes hyper had read past the previous
/// request (a pipelined request), which are read first.
#[derive(Debug)]
pub(crate) struct ClientIo {
    /// The socket, its bytes counted into the frontend's statistics.
    pub(crate) sock: TokioIo<Wire<ClientStream>>,
    /// Never empty when set. Boxed: few connections have any, and every idle
    /// connection's task keeps this field (24 bytes less than a `Bytes`, issue 21).
    pub(crate) unread: Option<Box<Bytes>>,
    exchange: Arc<Exchange>,
    /// Its listener has quick ACKs off (`option tcp-smart-accept`): a request whose body is
    /// to come turns them on, so that a client waiting for an ACK before it sends the body
    /// is not delayed (HAProxy's `http_wait_for_request()`).
    rearm_quickack: bool,
}

impl ClientIo {
    pub(crate) fn new(
        sock: ClientStream,
        exchange: Arc<Exchange>,
        frontend: Arc<Counters>,
    ) -> Self {
        Self {
            sock: TokioIo::new(Wire::client(sock, frontend)),
            unread: None,
            exchange,
            rearm_quickack: false,
        }
    }

    /// With quick ACKs turned back on for request bodies (see [`ClientIo::rearm_quickack`]).
    pub(crate) fn rearming_quickack(mut self, on: bool) -> Self {
        self.rearm_quickack = on;
        self
    }
}

impl Read for ClientIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        if let Some(unread) = &mut self.unread {
            let n = unread.len().min(buf.remaining());
            buf.put_slice(&unread.split_to(n));
            if unread.is_empty() {
                self.unread = None;
            }
            self.exchange.bytes_read();
            return Poll::Ready(Ok(()));
        }
        if self.rearm_quickack && self.exchange.body_to_come() {
            let tcp = socket2::SockRef::from(self.sock.inner().get_ref().tcp());
            if let Err(e) = tcp.set_tcp_quickack(true) {
                tracing::debug!(error = %e, "cannot turn quick ACKs back on");
            }
        }
        let r = Pin::new(&mut self.sock).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            self.exchange.bytes_read();
        }
        r
    }
}

impl Write for ClientIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.sock).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.sock).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.sock).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.sock.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.sock).poll_write_vectored(cx, bufs)
    }
}

/// What the connection's loop learns from its requests and responses.
///
/// The client is idle when its responses are complete (hyper dropped their
/// bodies) and no byte came since. Asked to stop then, hyper ends without
/// writing anything more, and the next request (if any arrived since, or
/// read with the last one: pipelined) stays in the socket or in the bytes
/// hyper hands back. Asked earlier, hyper would already be serving a
/// pipelined request and would tell that client to close.
///
/// It is handed back only where hyper would have kept it alive (its rules,
/// `proto/h1/role.rs`: the request's version and `Connection`,
/// Content-Length with Transfer-Encoding, an upgrade; the response's
/// `Connection: close`, a body delimited by the close).
#[derive(Debug)]
pub(crate) struct Exchange {
    /// The latest request's body: bytes read before its end are not a head.
    body: Arc<Progress>,
    /// Responses of the current hyper connection whose body hyper dropped.
    done: AtomicUsize,
    /// Requests the current hyper connection passed to the service.
    heads: AtomicUsize,
    /// Responses the service gave the current hyper connection.
    answered: AtomicUsize,
    /// The connection ends after this exchange.
    close: AtomicBool,
    /// The request was HTTP/1.0.
    http10: AtomicBool,
    /// Bytes of a request head arrived and the head is not complete yet.
    head_begun: AtomicBool,
    /// A rule dropped the connection (`silent-drop`): it is reset when closed.
    drop: AtomicBool,
    /// The latest request has a body still to read, and the socket was not told yet.
    body_pending: AtomicBool,
}

/// Where a connection is, for a stop that waits for it or cuts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting for a request (nothing would be cut).
    Idle,
    /// A request head has begun and is not complete.
    Head,
    /// A request is being served.
    Busy,
}

impl Exchange {
    /// The exchanges of a connection whose requests' bodies progress in `body`.
    pub(crate) fn new(body: Arc<Progress>) -> Arc<Self> {
        Arc::new(Self {
            body,
            done: AtomicUsize::new(0),
            heads: AtomicUsize::new(0),
            answered: AtomicUsize::new(0),
            close: AtomicBool::new(false),
            http10: AtomicBool::new(false),
            head_begun: AtomicBool::new(false),
            drop: AtomicBool::new(false),
            body_pending: AtomicBool::new(false),
        })
    }

    /// Notes what the request says about the connection.
    pub(crate) fn request<B>(&self, req: &hyper::Request<B>) {
        let h = req.headers();
        let http10 = req.version() == hyper::Version::HTTP_10;
        let close = if http10 {
            !has_token(h, "keep-alive")
        } else {
            has_token(h, "close")
        } || (h.contains_key(hyper::header::TRANSFER_ENCODING)
            && h.contains_key(hyper::header::CONTENT_LENGTH))
            || h.contains_key(hyper::header::UPGRADE);
        self.heads.fetch_add(1, Ordering::Relaxed);
        self.head_begun.store(false, Ordering::Relaxed);
        self.http10.store(http10, Ordering::Relaxed);
        let body = h.contains_key(hyper::header::TRANSFER_ENCODING)
            || h.get(hyper::header::CONTENT_LENGTH)
                .is_some_and(|v| v.as_bytes() != b"0");
        if body {
            self.body_pending.store(true, Ordering::Relaxed);
        }
        if close {
            self.close.store(true, Ordering::Relaxed);
        }
    }

    /// Whether a request's body is to come and the socket was not told yet (once per request).
    pub(crate) fn body_to_come(&self) -> bool {
        self.body_pending.load(Ordering::Relaxed)
            && self.body_pending.swap(false, Ordering::Relaxed)
    }

    /// Notes what the response says about the connection.
    pub(crate) fn response<B: Body>(&self, resp: &hyper::Response<B>) {
        self.answered.fetch_add(1, Ordering::Relaxed);
        let h = resp.headers();
        let close_delimited = self.http10.load(Ordering::Relaxed)
            && !h.contains_key(hyper::header::CONTENT_LENGTH)
            && resp.body().size_hint().exact().is_none();
        if has_token(h, "close") || close_delimited {
            self.close.store(true, Ordering::Relaxed);
        }
    }

    /// A rule dropped the connection (`silent-drop`): an HTTP/1 socket is closed with a reset
    /// (lingering off), HAProxy's fallback when it cannot make the socket vanish; an HTTP/2
    /// connection is closed at once, all its streams with it.
    pub(crate) fn silent_drop(&self) {
        self.drop.store(true, Ordering::Relaxed);
    }

    /// Whether a rule dropped the connection.
    pub(crate) fn dropped(&self) -> bool {
        self.drop.load(Ordering::Relaxed)
    }

    /// The first bytes of a request head arrived.
    pub(crate) fn head_started(&self) {
        self.head_begun.store(true, Ordering::Relaxed);
    }

    /// Where the connection is now: serving a request while the service has
    /// seen more heads than hyper dropped response bodies.
    pub(crate) fn phase(&self) -> Phase {
        if self.heads.load(Ordering::Relaxed) > self.done.load(Ordering::Relaxed) {
            Phase::Busy
        } else if self.head_begun.load(Ordering::Relaxed) {
            Phase::Head
        } else {
            Phase::Idle
        }
    }

    /// Whether a response is given and not yet sent whole: the client is expected to read.
    pub(crate) fn sending(&self) -> bool {
        self.answered.load(Ordering::Relaxed) > self.done.load(Ordering::Relaxed)
    }

    /// Whether the current hyper connection passed a request to the service.
    pub(crate) fn served_any(&self) -> bool {
        self.heads.load(Ordering::Relaxed) > 0
    }

    /// Starts a new hyper connection.
    pub(crate) fn reset(&self) {
        self.heads.store(0, Ordering::Relaxed);
        self.answered.store(0, Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
        self.close.store(false, Ordering::Relaxed);
    }

    /// hyper read bytes: when no request is in progress, the last body was
    /// read to its end and no head had begun, they begin one.
    fn bytes_read(&self) {
        let heads = self.heads.load(Ordering::Relaxed);
        if self.done.load(Ordering::Relaxed) == heads
            && !self.head_begun.load(Ordering::Relaxed)
            && self.body.complete()
        {
            self.head_begun.store(true, Ordering::Relaxed);
        }
    }

    /// Whether the current hyper connection answered a request, hyper is done
    /// with every response, and the client sent nothing since.
    pub(crate) fn is_idle(&self) -> bool {
        let heads = self.heads.load(Ordering::Relaxed);
        heads > 0
            && self.done.load(Ordering::Relaxed) == heads
            && !self.head_begun.load(Ordering::Relaxed)
    }

    /// Whether the hyper connection that ended completed every exchange it
    /// started, after which hyper would have kept the connection alive.
    pub(crate) fn reusable(&self) -> bool {
        let heads = self.heads.load(Ordering::Relaxed);
        !self.close.load(Ordering::Relaxed)
            && heads > 0
            && self.done.load(Ordering::Relaxed) == heads
    }

    /// How many requests began, responses were given and responses ended on
    /// the current hyper connection: it moved when this did. (An HTTP/2
    /// connection's timers follow it. Its requests are served on the
    /// connection's own task, so the task reads it after each turn instead
    /// of waiting on a notice: `http2.rs`.)
    pub(crate) fn changes(&self) -> usize {
        self.heads.load(Ordering::Relaxed)
            + self.answered.load(Ordering::Relaxed)
            + self.done.load(Ordering::Relaxed)
    }
}

/// Whether a `Connection` header of `h` lists `token`.
fn has_token(h: &hyper::HeaderMap, token: &str) -> bool {
    h.get_all(hyper::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// A response body that tells its connection when hyper is done with it
/// (hyper drops the body once it wrote its end, or gave up on it).
#[derive(Debug)]
pub(crate) struct Tracked<B> {
    inner: B,
    exchange: Arc<Exchange>,
}

impl<B> Tracked<B> {
    pub(crate) fn new(inner: B, exchange: Arc<Exchange>) -> Self {
        Self { inner, exchange }
    }
}

impl<B> Drop for Tracked<B> {
    fn drop(&mut self) {
        self.exchange.done.fetch_add(1, Ordering::Relaxed);
    }
}

impl<B: Body + Unpin> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::Full;

    use super::*;

    fn request(version: hyper::Version, headers: &[(&str, &str)]) -> hyper::Request<()> {
        let mut b = hyper::Request::builder().version(version);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    /// One exchange: the request, a response with `headers` and a body of `len` bytes (`None`:
    /// unknown length), hyper done with the body.
    fn after(
        req: &hyper::Request<()>,
        headers: &[(&str, &str)],
        len: Option<usize>,
    ) -> Arc<Exchange> {
        let ex = Exchange::new(Progress::new());
        ex.reset();
        ex.request(req);
        let mut resp = hyper::Response::new(Full::new(Bytes::from(vec![b'x'; len.unwrap_or(1)])));
        for (k, v) in headers {
            resp.headers_mut().insert(
                hyper::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                hyper::header::HeaderValue::from_str(v).unwrap(),
            );
        }
        if len.is_none() {
            // A body whose length is not known in advance.
            let body = http_body_util::StreamBody::new(futures_util::stream::empty::<
                Result<Frame<Bytes>, std::convert::Infallible>,
            >());
            let resp = resp.map(|_| body);
            ex.response(&resp);
            drop(Tracked::new(resp.into_body(), ex.clone()));
        } else {
            ex.response(&resp);
            drop(Tracked::new(resp.into_body(), ex.clone()));
        }
        ex
    }

    /// A case: its name, the request, the response's headers and body length, whether the
    /// connection is handed back.
    type Case = (
        &'static str,
        hyper::Request<()>,
        &'static [(&'static str, &'static str)],
        Option<usize>,
        bool,
    );

    #[test]
    fn a_connection_goes_idle_head_busy_idle() {
        let ex = Exchange::new(Progress::new());
        assert_eq!(ex.phase(), Phase::Idle, "nothing read yet");
        ex.head_started();
        assert_eq!(ex.phase(), Phase::Head);
        ex.reset();
        let req = request(hyper::Version::HTTP_11, &[]);
        ex.request(&req);
        let body = Tracked::new(Full::new(Bytes::new()), ex.clone());
        assert_eq!(ex.phase(), Phase::Busy);
        drop(body);
        assert_eq!(ex.phase(), Phase::Idle);
        ex.head_started();
        assert_eq!(ex.phase(), Phase::Head);
    }

    #[test]
    fn handed_back_only_where_hyper_keeps_alive() {
        const HTTP_10: hyper::Version = hyper::Version::HTTP_10;
        const HTTP_11: hyper::Version = hyper::Version::HTTP_11;
        let cases: [Case; 8] = [
            ("HTTP/1.1", request(HTTP_11, &[]), &[], Some(2), true),
            (
                "close",
                request(HTTP_11, &[("connection", "keep-alive, Close")]),
                &[],
                Some(2),
                false,
            ),
            ("HTTP/1.0", request(HTTP_10, &[]), &[], Some(2), false),
            (
                "HTTP/1.0 keep-alive",
                request(HTTP_10, &[("connection", "keep-alive")]),
                &[],
                Some(2),
                true,
            ),
            (
                "HTTP/1.0 keep-alive, unknown length",
                request(HTTP_10, &[("connection", "keep-alive")]),
                &[],
                None,
                false,
            ),
            (
                "CL and TE",
                request(
                    HTTP_11,
                    &[("content-length", "3"), ("transfer-encoding", "chunked")],
                ),
                &[],
                Some(2),
                false,
            ),
            (
                "upgrade",
                request(HTTP_11, &[("upgrade", "websocket")]),
                &[],
                Some(2),
                false,
            ),
            (
                "response close",
                request(HTTP_11, &[]),
                &[("connection", "close")],
                Some(2),
                false,
            ),
        ];
        for (name, req, resp_headers, len, reusable) in cases {
            assert_eq!(
                after(&req, resp_headers, len).reusable(),
                reusable,
                "{name}"
            );
        }
        // A request whose response hyper has not finished with.
        let ex = Exchange::new(Progress::new());
        ex.reset();
        ex.request(&request(HTTP_11, &[]));
        assert!(!ex.reusable(), "response still in progress");
    }
}
