//! Request bodies under a [`BodyPolicy`]: buffered up to a bound for `req.body` and replayed
//! whole to the handler ([`SpoeBody`]), and the response body type of a layer that may answer
//! itself ([`SpoeResponseBody`]).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use pin_project_lite::pin_project;
use tokio::time::Instant;

/// How the layer treats request bodies for `req.body`, `req.body_len` and `req.body_size`.
/// A body is never cut: what the agent did not see still reaches the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyPolicy {
    /// Nothing is buffered: `req.body` is empty and `req.body_len` 0 (HAProxy without
    /// `option http-buffer-request`); the body streams to the handler untouched.
    NotSent,
    /// Up to `max` bytes are buffered before the request messages are sent (HAProxy's
    /// `option http-buffer-request` with `tune.bufsize`).
    Buffer {
        /// The most bytes the agent sees.
        max: usize,
        /// What happens to a longer body.
        larger: Larger,
        /// How long the client may take to send them (HAProxy's `timeout http-request`):
        /// then the request is answered 408.
        wait: Duration,
    },
}

/// What [`BodyPolicy::Buffer`] does with a body longer than its bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Larger {
    /// Sends its first `max` bytes: the agent sees `req.body_len < req.body_size` when
    /// `Content-Length` announced the whole (a chunked body has no announced size: then the
    /// two are equal, as in HAProxy); the handler gets the whole body.
    SendPartial,
    /// Answers 413 without calling the handler (at once when `Content-Length` says so).
    Refuse,
}

impl BodyPolicy {
    /// The default `wait` of [`BodyPolicy::Buffer`]: HAProxy's usual `timeout http-request`.
    pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

    /// Buffers up to `max` bytes and sends a longer body's first `max` bytes.
    pub fn partial(max: usize) -> Self {
        Self::Buffer {
            max,
            larger: Larger::SendPartial,
            wait: Self::DEFAULT_WAIT,
        }
    }

    /// Buffers up to `max` bytes and answers 413 to a longer body.
    pub fn refuse_larger(max: usize) -> Self {
        Self::Buffer {
            max,
            larger: Larger::Refuse,
            wait: Self::DEFAULT_WAIT,
        }
    }

    /// The same policy with another `wait` (no effect on [`BodyPolicy::NotSent`]).
    #[must_use]
    pub fn wait(self, wait: Duration) -> Self {
        match self {
            Self::Buffer { max, larger, .. } => Self::Buffer { max, larger, wait },
            Self::NotSent => Self::NotSent,
        }
    }
}

/// Why a body could not be buffered: the status the layer answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// 413: longer than the bound, with [`Larger::Refuse`].
    TooLarge,
    /// 408: not sent within `wait`.
    Timeout,
    /// 400: the body broke (the client's stream failed).
    Broken,
}

impl Refused {
    pub(crate) fn status(self) -> http::StatusCode {
        match self {
            Self::TooLarge => http::StatusCode::PAYLOAD_TOO_LARGE,
            Self::Timeout => http::StatusCode::REQUEST_TIMEOUT,
            Self::Broken => http::StatusCode::BAD_REQUEST,
        }
    }
}

pin_project! {
    /// The request body the handler gets: what was buffered, then the rest of the client's
    /// body, unchanged.
    #[derive(Debug)]
    pub struct SpoeBody<B> {
        head: Option<Bytes>,
        leftover: Option<Frame<Bytes>>,
        #[pin]
        rest: Option<B>,
    }
}

impl<B> SpoeBody<B> {
    /// The client's body, untouched.
    pub(crate) fn untouched(body: B) -> Self {
        Self {
            head: None,
            leftover: None,
            rest: Some(body),
        }
    }
}

/// Reads `body` up to `max` bytes, at most until `deadline`. Returns what the agent sees and
/// the body to replay.
pub(crate) async fn buffer<B>(
    mut body: B,
    max: usize,
    larger: Larger,
    wait: Duration,
    announced: Option<u64>,
) -> Result<(Bytes, SpoeBody<B>), Refused>
where
    B: Body<Data = Bytes> + Unpin,
{
    if larger == Larger::Refuse && announced.is_some_and(|n| n > max as u64) {
        return Err(Refused::TooLarge);
    }
    let deadline = Instant::now() + wait;
    let mut data = BytesMut::new();
    let mut leftover = None;
    let mut ended = false;
    while data.len() <= max {
        if body.is_end_stream() {
            ended = true;
            break;
        }
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(Refused::Timeout),
            Ok(None) => {
                ended = true;
                break;
            }
            Ok(Some(Err(_))) => return Err(Refused::Broken),
            Ok(Some(Ok(frame))) => frame,
        };
        match frame.into_data() {
            Ok(chunk) => {
                let room = max - data.len();
                if chunk.len() <= room {
                    data.extend_from_slice(&chunk);
                    continue;
                }
                if larger == Larger::Refuse {
                    return Err(Refused::TooLarge);
                }
                data.extend_from_slice(&chunk[..room]);
                leftover = Some(Frame::data(chunk.slice(room..)));
                break;
            }
            // Trailers end the body.
            Err(frame) => {
                leftover = Some(frame);
                ended = true;
                break;
            }
        }
    }
    let head = data.freeze();
    let replay = SpoeBody {
        head: (!head.is_empty()).then(|| head.clone()),
        leftover,
        rest: (!ended).then_some(body),
    };
    Ok((head, replay))
}

impl<B> Body for SpoeBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        if let Some(head) = this.head.take() {
            return Poll::Ready(Some(Ok(Frame::data(head))));
        }
        if let Some(frame) = this.leftover.take() {
            return Poll::Ready(Some(Ok(frame)));
        }
        match this.rest.as_pin_mut() {
            Some(rest) => rest.poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.head.is_none()
            && self.leftover.is_none()
            && self.rest.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        let held = self.head.as_ref().map_or(0, |h| h.len() as u64)
            + self
                .leftover
                .as_ref()
                .and_then(Frame::data_ref)
                .map_or(0, |d| d.len() as u64);
        let mut hint = self
            .rest
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint);
        hint.set_lower(hint.lower() + held);
        if let Some(upper) = hint.upper() {
            hint.set_upper(upper + held);
        }
        hint
    }
}

pin_project! {
    /// The response body: the handler's, or the layer's own answer (a deny, a failure, a
    /// refused body).
    #[derive(Debug)]
    pub struct SpoeResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProjected]
    #[derive(Debug)]
    enum Kind<B> {
        Inner {
            #[pin]
            body: B,
        },
        Own {
            data: Option<Bytes>,
        },
    }
}

impl<B> SpoeResponseBody<B> {
    pub(crate) fn inner(body: B) -> Self {
        Self {
            kind: Kind::Inner { body },
        }
    }

    pub(crate) fn own(data: Bytes) -> Self {
        Self {
            kind: Kind::Own {
                data: (!data.is_empty()).then_some(data),
            },
        }
    }
}

impl<B> Body for SpoeResponseBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().kind.project() {
            KindProjected::Inner { body } => body.poll_frame(cx),
            KindProjected::Own { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Own { data } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Own { data } => SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64)),
        }
    }
}

/// The length `Content-Length` announces, if any.
pub(crate) fn announced(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::convert::Infallible;

    use http_body_util::BodyExt;

    use super::*;

    /// A body of fixed chunks, each its own frame.
    struct Chunks(VecDeque<Bytes>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
        }
    }

    fn chunks(parts: &[&'static [u8]]) -> Chunks {
        Chunks(parts.iter().map(|p| Bytes::from_static(p)).collect())
    }

    #[tokio::test]
    async fn a_longer_body_is_sent_partial_and_replayed_whole() {
        let body = chunks(&[b"hello ", b"wor", b"ld"]);
        let (seen, replay) = buffer(body, 8, Larger::SendPartial, Duration::from_secs(1), None)
            .await
            .unwrap();
        assert_eq!(&seen[..], b"hello wo");
        let whole = replay.collect().await.unwrap().to_bytes();
        assert_eq!(&whole[..], b"hello world");
    }

    #[tokio::test]
    async fn a_body_within_the_bound_is_seen_whole() {
        let (seen, replay) = buffer(
            chunks(&[b"ab", b"cd"]),
            4,
            Larger::Refuse,
            Duration::from_secs(1),
            Some(4),
        )
        .await
        .unwrap();
        assert_eq!(&seen[..], b"abcd");
        assert_eq!(&replay.collect().await.unwrap().to_bytes()[..], b"abcd");
    }

    #[tokio::test]
    async fn refusals() {
        let refused = |r: Result<(Bytes, SpoeBody<Chunks>), Refused>| r.err();
        // Announced too long: refused before reading.
        let r = buffer(
            chunks(&[]),
            4,
            Larger::Refuse,
            Duration::from_secs(1),
            Some(5),
        )
        .await;
        assert_eq!(refused(r), Some(Refused::TooLarge));
        // Chunked and too long: refused once the bound is crossed.
        let r = buffer(
            chunks(&[b"abc", b"de"]),
            4,
            Larger::Refuse,
            Duration::from_secs(1),
            None,
        )
        .await;
        assert_eq!(refused(r), Some(Refused::TooLarge));
        assert_eq!(Refused::TooLarge.status(), 413);
        assert_eq!(Refused::Timeout.status(), 408);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_too_slow_gets_408() {
        let never = http_body_util::StreamBody::new(futures_util::stream::pending::<
            Result<Frame<Bytes>, Infallible>,
        >());
        let r = buffer(never, 4, Larger::SendPartial, Duration::from_secs(2), None).await;
        assert_eq!(r.err(), Some(Refused::Timeout));
    }
}
