//! Request bodies on their way to a server: streamed as they arrive, with
//! backpressure (a frame is read from the client only when the server's
//! connection takes the previous one), and buffered only for
//! `option http-buffer-request`, at most `tune.bufsize` bytes (as HAProxy: a
//! body that does not fit is not waited for; what was buffered goes first and
//! the rest follows as it comes).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use hyper::HeaderMap;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use tokio::time::{Instant, Sleep};

/// Why a request body did not reach its end.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    /// The client's connection failed or the body's framing was invalid.
    #[error("reading the client's request body failed: {0}")]
    Client(#[source] hyper::Error),
    /// The client sent nothing for `timeout client`.
    #[error("the client sent no request body data for {0:?} (timeout client)")]
    ClientTimeout(Duration),
}

impl BodyError {
    /// The error's status and termination state, if `e`'s causes include a
    /// request body error (the client's fault rather than the server's).
    pub(crate) fn find(e: &(dyn std::error::Error + 'static)) -> Option<(u16, &'static str)> {
        let mut cause = Some(e);
        while let Some(c) = cause {
            if let Some(b) = c.downcast_ref::<Self>() {
                return Some(match b {
                    Self::Client(_) => (400, "CD"),
                    Self::ClientTimeout(_) => (408, "cD"),
                });
            }
            cause = c.source();
        }
        None
    }
}

/// When the current request's body last moved (a frame went to the server),
/// to make `timeout server` an inactivity timeout while a body streams, and
/// whether it was read to its end.
#[derive(Debug)]
pub(crate) struct Progress {
    base: Instant,
    /// Milliseconds since `base`.
    last_ms: AtomicU64,
    /// The client's body reached its end (nothing of it is left unread on the
    /// connection: the next request can be read from it).
    complete: AtomicBool,
}

impl Progress {
    /// One per client connection, made at its accept (and not per request:
    /// an allocation kept from a request would sit among the request's
    /// freed buffers and keep the allocator from reusing or returning them).
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            base: Instant::now(),
            last_ms: AtomicU64::new(0),
            complete: AtomicBool::new(true),
        })
    }

    /// A new request starts; `complete` when it has no body.
    pub(crate) fn start(&self, complete: bool) {
        self.touch();
        self.complete.store(complete, Ordering::Relaxed);
    }

    fn touch(&self) {
        let ms = u64::try_from(spoe::clock::since(self.base).as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// When a frame last moved (or when the body started).
    pub(crate) fn last(&self) -> Instant {
        self.base + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }

    /// Whether the whole request body was read from the client.
    pub(crate) fn complete(&self) -> bool {
        self.complete.load(Ordering::Relaxed)
    }

    fn set_complete(&self) {
        self.complete.store(true, Ordering::Relaxed);
    }
}

/// A request body on its way to a server.
#[derive(Debug)]
pub(crate) struct RequestBody {
    /// Bytes buffered for `option http-buffer-request`, sent first.
    head: Option<Bytes>,
    /// Trailers read while buffering.
    trailers: Option<HeaderMap>,
    /// The rest, still on the client's connection.
    rest: Option<Incoming>,
    /// `timeout client` while the rest streams.
    idle: Option<Duration>,
    sleep: Option<Pin<Box<Sleep>>>,
    progress: Arc<Progress>,
    /// Where the body goes back when dropped before its first byte was read (see
    /// [`reclaimable`](Self::reclaimable)).
    reclaim: Option<Reclaim>,
    /// A frame was read from it.
    polled: bool,
}

/// Holds a body that went back: the request's connection failed before it was read, so
/// the request can be sent again (`retries`).
pub(crate) type Reclaim = Arc<std::sync::Mutex<Option<RequestBody>>>;

impl Drop for RequestBody {
    fn drop(&mut self) {
        if self.polled {
            return;
        }
        let Some(slot) = self.reclaim.take() else {
            return;
        };
        let back = Self {
            head: self.head.take(),
            trailers: self.trailers.take(),
            rest: self.rest.take(),
            idle: self.idle,
            sleep: None,
            progress: self.progress.clone(),
            reclaim: None,
            polled: false,
        };
        *slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(back);
    }
}

impl RequestBody {
    /// The body, and where it goes back if it is dropped unread (a failed connect).
    pub(crate) fn reclaimable(mut self) -> (Self, Reclaim) {
        let slot = Reclaim::default();
        self.reclaim = Some(slot.clone());
        (self, slot)
    }

    /// A body that streams `incoming` from its first byte.
    pub(crate) fn streaming(
        incoming: Incoming,
        idle: Option<Duration>,
        progress: Arc<Progress>,
    ) -> Self {
        let rest = (!incoming.is_end_stream()).then_some(incoming);
        if rest.is_none() {
            progress.set_complete();
        }
        Self {
            head: None,
            trailers: None,
            rest,
            idle,
            sleep: None,
            progress,
            reclaim: None,
            polled: false,
        }
    }

    /// No body (a body lost to a failed buffering never reaches a server).
    pub(crate) fn empty(progress: Arc<Progress>) -> Self {
        Self {
            head: None,
            trailers: None,
            rest: None,
            idle: None,
            sleep: None,
            progress,
            reclaim: None,
            polled: false,
        }
    }

    /// Reads `incoming` until its end or until `bound` bytes arrived, for at
    /// most `wait`. Returns what was read (for `req.body`: at most `bound`
    /// bytes plus the rest of the last frame read) and the body to
    /// forward (what was read first, then the rest). On a timeout, 408; on a
    /// client error, 400.
    pub(crate) async fn buffer(
        mut incoming: Incoming,
        bound: usize,
        wait: Option<Duration>,
        idle: Option<Duration>,
        progress: Arc<Progress>,
    ) -> Result<(Bytes, Self), u16> {
        let mut data = BytesMut::new();
        let mut trailers = None;
        let read = async {
            while data.len() < bound && !incoming.is_end_stream() {
                match std::future::poll_fn(|cx| Pin::new(&mut incoming).poll_frame(cx)).await {
                    None => break,
                    Some(Ok(frame)) => match frame.into_data() {
                        Ok(d) => data.extend_from_slice(&d),
                        Err(frame) => trailers = frame.into_trailers().ok(),
                    },
                    Some(Err(_)) => return Err(400u16),
                }
            }
            Ok(())
        };
        match wait {
            Some(d) => tokio::time::timeout(d, read).await.map_err(|_| 408u16)??,
            None => read.await?,
        }
        let whole = incoming.is_end_stream() || trailers.is_some();
        let data = data.freeze();
        let mut body = Self::streaming(incoming, idle, progress);
        if whole {
            body.rest = None;
            body.progress.set_complete();
        }
        body.head = (!data.is_empty()).then(|| data.clone());
        body.trailers = trailers;
        Ok((data, body))
    }

    fn moved(&mut self) {
        self.progress.touch();
        if let (Some(sleep), Some(idle)) = (self.sleep.as_mut(), self.idle) {
            sleep.as_mut().reset(Instant::now() + idle);
        }
    }
}

impl HttpBody for RequestBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        this.polled = true;
        if let Some(head) = this.head.take() {
            this.moved();
            return Poll::Ready(Some(Ok(Frame::data(head))));
        }
        let Some(rest) = this.rest.as_mut() else {
            return Poll::Ready(this.trailers.take().map(|t| Ok(Frame::trailers(t))));
        };
        match Pin::new(&mut *rest).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                // A body with a length ends with its last byte: hyper's
                // client may not poll for the end after it.
                if rest.is_end_stream() {
                    this.rest = None;
                    this.progress.set_complete();
                }
                this.moved();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.rest = None;
                Poll::Ready(Some(Err(BodyError::Client(e))))
            }
            Poll::Ready(None) => {
                this.rest = None;
                this.progress.set_complete();
                Poll::Ready(None)
            }
            Poll::Pending => {
                let Some(idle) = this.idle else {
                    return Poll::Pending;
                };
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                ready!(sleep.as_mut().poll(cx));
                this.rest = None;
                Poll::Ready(Some(Err(BodyError::ClientTimeout(idle))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.head.is_none() && self.rest.is_none() && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        let head = self.head.as_ref().map_or(0, |h| h.len() as u64);
        match &self.rest {
            None => SizeHint::with_exact(head),
            Some(rest) => {
                let r = rest.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(r.lower().saturating_add(head));
                if let Some(upper) = r.upper() {
                    hint.set_upper(upper.saturating_add(head));
                }
                hint
            }
        }
    }
}

/// The body of every response the gateway sends. Its error ends the connection mid-response:
/// a server's body that broke, or a Lua service that failed after its head.
pub(crate) type Body = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// An error of a response body.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
