//! One engine connection: handshake, pipelined dispatch, ACK writing, drain.
//!
//! After the handshake one task serves the connection: it reads and decodes
//! frames, runs the handlers of its NOTIFY frames concurrently (polled
//! together, up to `max_in_flight`; at the bound it stops reading, so
//! backpressure reaches the engine through TCP), and writes the ACKs that
//! are ready together in one write. A frame is never split across writes,
//! and a write is never a cancellable `select!` branch: it completes or the
//! connection is closed. No task per message, no cross-thread hop.

use std::io;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use std::future::Future;
use std::pin::Pin;

use bytes::{Bytes, BytesMut};
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use spop::{
    AgentHello, Body, Capabilities, DecodeError, Disconnect, Frame, FrameDecoder, FrameEncoder,
    HaproxyHello, Reassembler, Reassembly, Status,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::Fragmentation;
use crate::context::EngineInfo;
use crate::error_var::ErrorCause;
use crate::handler::{Handler, Request};
use crate::metrics::{Direction, Outcome};
use crate::server::Shared;

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionEnd {
    /// A `spop-check` health check was answered.
    HealthCheck,
    /// The engine sent HAPROXY-DISCONNECT; in-flight ACKs were sent, then
    /// AGENT-DISCONNECT 0.
    EngineDisconnect(Disconnect),
    /// The agent is stopping: in-flight ACKs were sent, then AGENT-DISCONNECT 0.
    Shutdown,
    /// The engine closed the connection with nothing in flight.
    Closed,
    /// The engine reset the connection with nothing in flight: HAProxy 3.1+
    /// does so right after the last ACK. A normal end.
    Reset,
    /// Nothing came from the engine for [`crate::Config::idle_timeout`] and
    /// no handler was running: AGENT-DISCONNECT 2 was sent.
    IdleTimeout,
    /// The engine closed the connection while `in_flight` NOTIFY frames were
    /// unanswered.
    ClosedInFlight {
        /// Handlers that were cancelled.
        in_flight: usize,
    },
    /// The agent refused something and sent AGENT-DISCONNECT with `status`.
    Refused {
        /// The status sent.
        status: Status,
        /// Why.
        reason: String,
    },
    /// Reading or writing failed.
    Io(String),
}

impl ConnectionEnd {
    /// The metric label of this end (`spoa_connection_ends_total{end=...}`).
    pub fn label(&self) -> &'static str {
        match self {
            Self::HealthCheck => "health_check",
            Self::EngineDisconnect(_) => "engine_disconnect",
            Self::Shutdown => "shutdown",
            Self::Closed => "closed",
            Self::Reset => "reset",
            Self::IdleTimeout => "idle_timeout",
            Self::ClosedInFlight { .. } => "closed_in_flight",
            Self::Refused { .. } => "refused",
            Self::Io(_) => "io",
        }
    }
}

/// Whether a connection is served, or must first wait for a free slot.
pub(crate) enum Admission {
    /// Served, holding its slot (none when served outside a limit).
    Admitted(Option<OwnedSemaphorePermit>),
    /// `max_connections` were open when it came: after its HELLO it waits up
    /// to `wait` for a slot, else is refused with AGENT-DISCONNECT 13.
    /// Health checks are answered without a slot.
    OverLimit {
        slots: Arc<Semaphore>,
        wait: std::time::Duration,
        /// Counts it among the connections waiting; dropped once it has a
        /// slot or is refused.
        waiting: CountGuard,
    },
}

/// One unit of a shared count, given back on drop (also when a task panics).
pub(crate) struct CountGuard(Arc<AtomicUsize>);

impl CountGuard {
    pub(crate) fn take(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count.clone())
    }
}

impl Drop for CountGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

enum ReadError {
    Io(io::Error),
    Decode(DecodeError),
}

/// Reads whole frames; partial input stays in `buf` across calls, so
/// [`FrameReader::next`] is cancel-safe.
struct FrameReader<R> {
    rd: R,
    buf: BytesMut,
    decoder: FrameDecoder,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// The next frame; `Ok(None)` at a clean end of stream.
    async fn next(&mut self) -> Result<Option<Frame>, ReadError> {
        loop {
            if let Some(frame) = self
                .decoder
                .decode(&mut self.buf)
                .map_err(ReadError::Decode)?
            {
                return Ok(Some(frame));
            }
            if self.buf.capacity() == self.buf.len() {
                self.buf.reserve(4096);
            }
            if self
                .rd
                .read_buf(&mut self.buf)
                .await
                .map_err(ReadError::Io)?
                == 0
            {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(ReadError::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "connection closed inside a frame ({} bytes buffered)",
                            self.buf.len()
                        ),
                    )))
                };
            }
        }
    }

    /// A frame already buffered, without reading the socket.
    fn next_buffered(&mut self) -> Result<Option<Frame>, DecodeError> {
        self.decoder.decode(&mut self.buf)
    }
}

fn encode(frame: &Frame) -> Bytes {
    let mut b = BytesMut::new();
    frame.encode(&mut b);
    b.freeze()
}

/// Serves one connection until it ends.
pub(crate) async fn run<IO, H>(
    io: IO,
    peer: Option<SocketAddr>,
    shared: Arc<Shared<H>>,
    shutdown: CancellationToken,
    admission: Admission,
) -> ConnectionEnd
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
    H: Handler,
{
    let (rd, mut wr) = tokio::io::split(io);
    let cfg = &shared.config;
    let mut reader = FrameReader {
        rd,
        buf: BytesMut::with_capacity(4096),
        decoder: FrameDecoder::new(cfg.max_frame_size),
    };
    let peer_s = peer.map_or_else(|| "unix".to_owned(), |p| p.to_string());

    let hello = match handshake(&mut reader, &shared, &shutdown).await {
        Ok(h) => h,
        Err((status, reason)) => return refuse(&mut wr, &shared, &peer_s, status, reason).await,
    };
    // Held until the connection ends.
    let _slot = match admission {
        Admission::Admitted(slot) => slot,
        Admission::OverLimit { .. } if hello.healthcheck => None,
        Admission::OverLimit {
            slots,
            wait,
            waiting,
        } => {
            // Waiting rather than refusing at once: HAProxy 2.6 opens a new
            // connection as soon as one is refused while streams are queued
            // (`spoe_release_appctx`), thousands per second against an
            // agent that answers at once (measured: 7398 in 2 s).
            let slot = tokio::select! {
                r = timeout(wait, slots.acquire_owned()) => r.ok().and_then(Result::ok),
                () = shutdown.cancelled() => None,
            };
            drop(waiting);
            let Some(slot) = slot else {
                let status = Status::RESOURCE;
                if let Some(suppressed) = shared.over_limit_log.admit() {
                    warn!(peer = %peer_s, max_connections = cfg.max_connections, waited = ?wait, %status, suppressed, "refusing engine connection: too many connections open");
                }
                send_disconnect(&mut wr, &shared, status).await;
                return ConnectionEnd::Refused {
                    status,
                    reason: format!(
                        "the max_connections limit ({}) was reached and no connection ended within {wait:?}",
                        cfg.max_connections
                    ),
                };
            };
            Some(slot)
        }
    };
    let ours = Capabilities {
        pipelining: true,
        async_: false,
        // Only HAProxy 2.4-3.0 send fragments, and only they announce
        // `async`; see `Fragmentation`.
        fragmentation: match cfg.fragmentation {
            Fragmentation::Auto => hello.capabilities.fragmentation || hello.capabilities.async_,
            Fragmentation::Always => true,
            Fragmentation::Never => false,
        },
    };
    let answer = match AgentHello::answer(&hello, cfg.max_frame_size, ours) {
        Ok(a) => a,
        Err(e) => return refuse(&mut wr, &shared, &peer_s, e.status(), e.to_string()).await,
    };
    if let Err(e) = write_frame(&mut wr, &Frame::agent_hello(&answer), cfg.write_timeout).await {
        return ConnectionEnd::Io(format!("writing AGENT-HELLO: {e}"));
    }
    if hello.healthcheck {
        shared.metrics.health_check();
        let _ = timeout(cfg.write_timeout, wr.shutdown()).await;
        debug!(peer = %peer_s, "spop-check health check answered");
        return ConnectionEnd::HealthCheck;
    }
    debug!(peer = %peer_s, max_frame_size = answer.max_frame_size, capabilities = %answer.capabilities, "handshake done");
    reader.decoder.set_max_frame_size(answer.max_frame_size);
    let mut running = Running::new(
        reader,
        wr,
        peer,
        peer_s,
        shared,
        FrameEncoder::new(answer.max_frame_size),
    );
    running.engine = Arc::new(EngineInfo::from_handshake(&hello, &answer));
    running.serve(shutdown).await
}

async fn handshake<R: AsyncRead + Unpin, H>(
    reader: &mut FrameReader<R>,
    shared: &Shared<H>,
    shutdown: &CancellationToken,
) -> Result<HaproxyHello, (Status, String)> {
    let first = tokio::select! {
        r = timeout(shared.config.hello_timeout, reader.next()) => r,
        () = shutdown.cancelled() => return Err((Status::NORMAL, "agent is stopping".into())),
    };
    let frame = match first {
        Err(_) => {
            return Err((
                Status::TIMEOUT,
                "no HAPROXY-HELLO within the hello timeout".into(),
            ));
        }
        Ok(Err(ReadError::Decode(e))) => return Err((e.status(), e.to_string())),
        Ok(Err(ReadError::Io(e))) => return Err((Status::IO, e.to_string())),
        Ok(Ok(None)) => return Err((Status::IO, "connection closed before HAPROXY-HELLO".into())),
        Ok(Ok(Some(f))) => f,
    };
    let Body::HaproxyHello(kv) = frame.body else {
        return Err((
            Status::INVALID_FRAME,
            format!("expected HAPROXY-HELLO, got {:?}", frame.header.frame_type),
        ));
    };
    HaproxyHello::from_kv(&kv).map_err(|e| (e.status(), e.to_string()))
}

async fn refuse<W: AsyncWrite + Unpin, H>(
    wr: &mut W,
    shared: &Shared<H>,
    peer: &str,
    status: Status,
    reason: String,
) -> ConnectionEnd {
    if status == Status::IO {
        // The peer is gone: nobody to tell.
        debug!(peer, %reason, "connection closed during handshake");
        return ConnectionEnd::Io(reason);
    }
    warn!(peer, %status, %reason, "refusing engine connection");
    send_disconnect(wr, shared, status).await;
    ConnectionEnd::Refused { status, reason }
}

/// Sends AGENT-DISCONNECT `status` and closes our side.
async fn send_disconnect<W: AsyncWrite + Unpin, H>(wr: &mut W, shared: &Shared<H>, status: Status) {
    shared.metrics.disconnect(Direction::Sent, status);
    let _ = write_frame(
        wr,
        &Frame::agent_disconnect(&Disconnect::new(status)),
        shared.config.write_timeout,
    )
    .await;
    let _ = timeout(shared.config.write_timeout, wr.shutdown()).await;
}

async fn write_frame<W: AsyncWrite + Unpin>(
    wr: &mut W,
    frame: &Frame,
    limit: std::time::Duration,
) -> io::Result<()> {
    timeout(limit, wr.write_all(&encode(frame)))
        .await
        .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out")))
}

/// Why the read loop stopped.
enum Stop {
    Shutdown,
    EngineDisconnect(Disconnect),
    Refuse(Status, String),
    Eof,
    Io(io::Error),
    WriteFailed(io::Error),
    Idle,
}

/// Why a handler produced no verdict, and the handler's error if it gave one.
struct Undelivered {
    cause: ErrorCause,
    detail: Option<String>,
}

/// A handler's answer, ready to be encoded.
struct Answer {
    stream_id: u64,
    frame_id: u64,
    verdict: Result<Vec<spop::Action>, Undelivered>,
    started: Instant,
}

type HandlerFuture = Pin<Box<dyn Future<Output = Answer> + Send>>;

/// The running phase of a connection: one task reads frames, polls the
/// handlers of this connection concurrently (no task per message, no
/// cross-thread hop), and writes the ACKs that are ready together in one
/// write. Writes happen between `select!`s, never inside one.
struct Running<IO, H> {
    reader: FrameReader<ReadHalf<IO>>,
    wr: WriteHalf<IO>,
    wbuf: BytesMut,
    peer: Option<SocketAddr>,
    peer_s: String,
    shared: Arc<Shared<H>>,
    encoder: FrameEncoder,
    handlers: FuturesUnordered<HandlerFuture>,
    reassembler: Reassembler,
    /// What the handshake agreed on, handed to every [`Request`].
    engine: Arc<EngineInfo>,
}

impl<IO, H> Running<IO, H>
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
    H: Handler,
{
    fn new(
        reader: FrameReader<ReadHalf<IO>>,
        wr: WriteHalf<IO>,
        peer: Option<SocketAddr>,
        peer_s: String,
        shared: Arc<Shared<H>>,
        encoder: FrameEncoder,
    ) -> Self {
        Self {
            reader,
            wr,
            wbuf: BytesMut::with_capacity(8 * 1024),
            peer,
            peer_s,
            reassembler: Reassembler::new(shared.config.reassembly_limit),
            encoder,
            handlers: FuturesUnordered::new(),
            shared,
            engine: Arc::default(),
        }
    }

    async fn serve(mut self, shutdown: CancellationToken) -> ConnectionEnd {
        let stop = self.read_loop(&shutdown).await;
        let shared = self.shared.clone();
        let cfg = &shared.config;
        let (end, farewell) = match stop {
            Stop::Shutdown => {
                // Frames the engine already sent are answered too.
                while self.handlers.len() < cfg.max_in_flight {
                    let Ok(Some(frame)) = self.reader.next_buffered() else {
                        break;
                    };
                    if self.dispatch(frame).is_err() {
                        break;
                    }
                }
                self.finish_handlers(cfg.drain_grace).await;
                (ConnectionEnd::Shutdown, Some(Status::NORMAL))
            }
            Stop::EngineDisconnect(d) => {
                self.shared
                    .metrics
                    .disconnect(Direction::Received, d.status);
                // Handlers are bounded by their budget; the margin covers the writes.
                self.finish_handlers(cfg.handler_timeout.saturating_add(cfg.write_timeout))
                    .await;
                (ConnectionEnd::EngineDisconnect(d), Some(Status::NORMAL))
            }
            Stop::Refuse(status, reason) => {
                warn!(peer = %self.peer_s, %status, %reason, "closing engine connection");
                self.drop_handlers();
                (ConnectionEnd::Refused { status, reason }, Some(status))
            }
            Stop::Io(e)
                if self.handlers.is_empty() && e.kind() == io::ErrorKind::ConnectionReset =>
            {
                (ConnectionEnd::Reset, None)
            }
            Stop::Eof | Stop::Io(_) if self.handlers.is_empty() => (ConnectionEnd::Closed, None),
            Stop::Idle => (ConnectionEnd::IdleTimeout, Some(Status::TIMEOUT)),
            stop @ (Stop::Eof | Stop::Io(_)) => {
                let in_flight = self.handlers.len();
                let cause = match stop {
                    Stop::Io(e) => e.to_string(),
                    _ => "end of stream".to_owned(),
                };
                warn!(peer = %self.peer_s, in_flight, %cause, "engine closed the connection with NOTIFY frames unanswered");
                self.drop_handlers();
                (ConnectionEnd::ClosedInFlight { in_flight }, None)
            }
            Stop::WriteFailed(e) => {
                self.drop_handlers();
                (
                    ConnectionEnd::Io(format!("writing to the engine failed: {e}")),
                    None,
                )
            }
        };
        if let Some(status) = farewell {
            self.shared.metrics.disconnect(Direction::Sent, status);
            Frame::agent_disconnect(&Disconnect::new(status)).encode(&mut self.wbuf);
            if self.flush().await.is_ok() {
                let _ = timeout(cfg.write_timeout, self.wr.shutdown()).await;
            }
        }
        debug!(peer = %self.peer_s, ?end, "connection ended");
        end
    }

    async fn read_loop(&mut self, shutdown: &CancellationToken) -> Stop {
        let max = self.shared.config.max_in_flight;
        let idle_timeout = self.shared.config.idle_timeout;
        // One timer for the connection's life, pushed back lazily: it only
        // looks at `last_activity` when it fires, so a busy connection costs
        // one clock read per loop turn and no timer update.
        let mut last_activity = Instant::now();
        let idle = tokio::time::sleep_until(last_activity + idle_timeout);
        tokio::pin!(idle);
        loop {
            let can_read = self.handlers.len() < max;
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return Stop::Shutdown,
                () = &mut idle, if self.handlers.is_empty() => {
                    let due = last_activity + idle_timeout;
                    if Instant::now() >= due {
                        return Stop::Idle;
                    }
                    idle.as_mut().reset(due);
                    continue;
                }
                Some(answer) = self.handlers.next(), if !self.handlers.is_empty() => self.queue_ack(answer),
                frame = self.reader.next(), if can_read => {
                    let frame = match frame {
                        Ok(Some(f)) => f,
                        Ok(None) => return Stop::Eof,
                        Err(ReadError::Io(e)) => return Stop::Io(e),
                        Err(ReadError::Decode(e)) => return Stop::Refuse(e.status(), e.to_string()),
                    };
                    if let Err(stop) = self.dispatch(frame) {
                        return stop;
                    }
                    // Take every frame this read brought, so that their
                    // ACKs can share one write.
                    while self.handlers.len() < max {
                        let frame = match self.reader.next_buffered() {
                            Ok(Some(f)) => f,
                            Ok(None) => break,
                            Err(e) => return Stop::Refuse(e.status(), e.to_string()),
                        };
                        if let Err(stop) = self.dispatch(frame) {
                            return stop;
                        }
                    }
                }
            }
            // ACKs that are ready together leave in one write.
            while let Some(Some(answer)) = self.handlers.next().now_or_never() {
                self.queue_ack(answer);
            }
            if let Err(e) = self.flush().await {
                return Stop::WriteFailed(e);
            }
            last_activity = Instant::now();
        }
    }

    /// Writes what is queued, whole, within the write timeout.
    async fn flush(&mut self) -> io::Result<()> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let limit = self.shared.config.write_timeout;
        let r = timeout(limit, self.wr.write_all(&self.wbuf))
            .await
            .unwrap_or_else(|_| {
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "engine is not reading",
                ))
            });
        self.wbuf.clear();
        r
    }

    /// Handles one frame from the engine.
    fn dispatch(&mut self, frame: Frame) -> Result<(), Stop> {
        let header = frame.header;
        match frame.body {
            Body::Notify(_) | Body::Fragment(_) => match self.reassembler.push(frame) {
                Ok(Reassembly::Complete(f)) => {
                    if let Body::Notify(messages) = f.body {
                        self.start_handler(f.header.stream_id, f.header.frame_id, messages);
                    }
                    Ok(())
                }
                Ok(Reassembly::Pending) => Ok(()),
                Ok(Reassembly::Aborted {
                    stream_id,
                    frame_id,
                }) => {
                    debug!(peer = %self.peer_s, stream_id, frame_id, "engine aborted a fragmented NOTIFY");
                    Ok(())
                }
                Err(e) => Err(Stop::Refuse(e.status(), e.to_string())),
            },
            Body::HaproxyDisconnect(kv) => {
                let d =
                    Disconnect::from_kv(&kv).unwrap_or_else(|_| Disconnect::new(Status::UNKNOWN));
                info!(peer = %self.peer_s, status = %d.status, message = %d.message, "engine disconnects");
                Err(Stop::EngineDisconnect(d))
            }
            Body::Unknown(_) => {
                debug!(peer = %self.peer_s, frame_type = ?header.frame_type, "skipping unknown frame type");
                Ok(())
            }
            Body::HaproxyHello(_)
            | Body::AgentHello(_)
            | Body::AgentDisconnect(_)
            | Body::Ack(_) => Err(Stop::Refuse(
                Status::INVALID_FRAME,
                format!(
                    "unexpected {:?} frame after the handshake",
                    header.frame_type
                ),
            )),
        }
    }

    fn start_handler(&mut self, stream_id: u64, frame_id: u64, messages: Vec<spop::Message>) {
        let shared = self.shared.clone();
        let request = Request::from_parts(
            stream_id,
            frame_id,
            messages,
            self.peer,
            Instant::now() + shared.config.handler_timeout,
            self.engine.clone(),
        );
        shared.metrics.in_flight().inc();
        self.handlers.push(Box::pin(async move {
            let started = Instant::now();
            let cfg = &shared.config;
            let result = timeout(
                cfg.handler_timeout,
                AssertUnwindSafe(shared.handler.handle(request)).catch_unwind(),
            )
            .await;
            let undelivered = |cause, detail| {
                Err(Undelivered {
                    cause,
                    detail: Some(detail),
                })
            };
            let verdict = match result {
                Ok(Ok(Ok(actions))) => Ok(actions.into_vec()),
                Ok(Ok(Err(e))) => undelivered(ErrorCause::HandlerError, e.to_string()),
                Ok(Err(panic)) => undelivered(
                    ErrorCause::HandlerPanic,
                    panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a panic without a message".to_owned()),
                ),
                Err(_) => undelivered(
                    ErrorCause::BudgetOverrun,
                    format!("no verdict within the {:?} budget", cfg.handler_timeout),
                ),
            };
            Answer {
                stream_id,
                frame_id,
                verdict,
                started,
            }
        }));
    }

    /// Encodes an answer's ACK into the write buffer. A verdict that cannot
    /// be delivered is answered with the fallback actions and the error
    /// variable, counted and logged (rate-limited).
    ///
    /// A verdict larger than the negotiated max-frame-size is not sent in
    /// fragments: HAProxy 2.4 to 3.0 (`spoe_handle_agentack_frame` in
    /// src/flt_spoe.c, read in v2.6.0 and v3.0.0) answer an ACK without FIN
    /// with "fragmentation not supported" (status 10) and close the
    /// connection, failing every stream waiting on it, and they never
    /// announce `fragmentation` in their HELLO; 3.1+ (`mux_spop`) refuses
    /// any frame without FIN the same way. The error variable (code 13) is
    /// the only way the stream can learn that the verdict is lost.
    fn queue_ack(&mut self, answer: Answer) {
        let Answer {
            stream_id,
            frame_id,
            verdict,
            started,
        } = answer;
        let mark = self.wbuf.len();
        let undelivered = match verdict {
            Ok(actions) => match self
                .encoder
                .encode(&Frame::ack(stream_id, frame_id, actions), &mut self.wbuf)
            {
                Ok(()) => None,
                Err(e) => {
                    self.wbuf.truncate(mark);
                    Some(Undelivered {
                        cause: ErrorCause::AckTooBig,
                        detail: Some(e.to_string()),
                    })
                }
            },
            Err(u) => Some(u),
        };
        let outcome = match undelivered {
            None => Outcome::Ok,
            Some(u) => {
                self.queue_error_ack(stream_id, frame_id, &u);
                u.cause.into()
            }
        };
        let metrics = &self.shared.metrics;
        metrics.in_flight().dec();
        metrics.message(outcome, started.elapsed().as_secs_f64());
    }

    /// Queues the ACK of an undelivered verdict: the fallback actions and
    /// the error variable; if they do not fit, the error variable alone
    /// (which always fits: its name is at most 64 bytes and a frame at
    /// least 256).
    fn queue_error_ack(&mut self, stream_id: u64, frame_id: u64, u: &Undelivered) {
        let cfg = &self.shared.config;
        self.shared.metrics.undelivered(u.cause);
        if let Some(suppressed) = self.shared.undelivered_log[u.cause.index()].admit() {
            let detail = u.detail.as_deref().unwrap_or("");
            let code = u.cause.code();
            match &cfg.error_var {
                Some(var) => {
                    let var = String::from_utf8_lossy(&var.name);
                    warn!(peer = %self.peer_s, stream_id, frame_id, cause = u.cause.label(), code, error = detail, suppressed, "verdict not delivered: answering with the error variable {var} = {code}");
                }
                None => {
                    warn!(peer = %self.peer_s, stream_id, frame_id, cause = u.cause.label(), code, error = detail, suppressed, "verdict not delivered: answering with the fallback actions only (error_var is None: fail-open)");
                }
            }
        }
        let error = cfg.error_var.as_ref().map(|v| v.action(u.cause));
        let mut actions = cfg.fallback_actions.clone();
        actions.extend(error.clone());
        let mark = self.wbuf.len();
        if self
            .encoder
            .encode(&Frame::ack(stream_id, frame_id, actions), &mut self.wbuf)
            .is_err()
        {
            self.wbuf.truncate(mark);
            let alone = Frame::ack(stream_id, frame_id, error.into_iter().collect());
            if self.encoder.encode(&alone, &mut self.wbuf).is_err() {
                self.wbuf.truncate(mark);
                Frame::ack(stream_id, frame_id, Vec::new()).encode(&mut self.wbuf);
            }
        }
    }

    fn drop_handlers(&mut self) {
        let n = self.handlers.len();
        self.handlers = FuturesUnordered::new();
        self.shared.metrics.in_flight().dec_by(n as i64);
    }

    /// Runs the remaining handlers to completion (at most `grace`), writing
    /// their ACKs as they finish.
    async fn finish_handlers(&mut self, grace: std::time::Duration) {
        let deadline = Instant::now() + grace;
        while !self.handlers.is_empty() {
            match tokio::time::timeout_at(deadline, self.handlers.next()).await {
                Ok(Some(answer)) => {
                    self.queue_ack(answer);
                    while let Some(Some(answer)) = self.handlers.next().now_or_never() {
                        self.queue_ack(answer);
                    }
                    if self.flush().await.is_err() {
                        self.drop_handlers();
                        return;
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    warn!(peer = %self.peer_s, left = self.handlers.len(), "handlers still running after the grace period: cancelling them");
                    self.drop_handlers();
                    return;
                }
            }
        }
    }
}
