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
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::context::EngineInfo;
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
    /// The engine closed the connection (or reset it) with nothing in flight.
    Closed,
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
    let ours = Capabilities {
        pipelining: true,
        async_: false,
        fragmentation: cfg.fragmentation,
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
    shared.metrics.disconnect(Direction::Sent, status);
    let _ = write_frame(
        wr,
        &Frame::agent_disconnect(&Disconnect::new(status)),
        shared.config.write_timeout,
    )
    .await;
    let _ = timeout(shared.config.write_timeout, wr.shutdown()).await;
    ConnectionEnd::Refused { status, reason }
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
}

/// A handler's answer, ready to be encoded.
struct Answer {
    stream_id: u64,
    frame_id: u64,
    actions: Vec<spop::Action>,
    outcome: Outcome,
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
            Stop::Eof | Stop::Io(_) if self.handlers.is_empty() => (ConnectionEnd::Closed, None),
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
        loop {
            let can_read = self.handlers.len() < max;
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return Stop::Shutdown,
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
            let (actions, outcome) = match result {
                Ok(Ok(Ok(actions))) => (actions.into_vec(), Outcome::Ok),
                Ok(Ok(Err(e))) => {
                    warn!(stream_id, frame_id, error = %e, "handler failed: sending fallback actions");
                    (cfg.fallback_actions.clone(), Outcome::Error)
                }
                Ok(Err(_panic)) => {
                    warn!(stream_id, frame_id, "handler panicked: sending fallback actions");
                    (cfg.fallback_actions.clone(), Outcome::Panic)
                }
                Err(_) => {
                    warn!(stream_id, frame_id, budget = ?cfg.handler_timeout, "handler overran its budget: sending fallback actions");
                    (cfg.fallback_actions.clone(), Outcome::Timeout)
                }
            };
            Answer {
                stream_id,
                frame_id,
                actions,
                outcome,
                started,
            }
        }));
    }

    /// Encodes an answer's ACK into the write buffer; an answer too big for a
    /// frame is replaced by the fallback actions (or an empty ACK).
    fn queue_ack(&mut self, answer: Answer) {
        let Answer {
            stream_id,
            frame_id,
            actions,
            mut outcome,
            started,
        } = answer;
        let cfg = &self.shared.config;
        let mark = self.wbuf.len();
        if let Err(e) = self
            .encoder
            .encode(&Frame::ack(stream_id, frame_id, actions), &mut self.wbuf)
        {
            warn!(stream_id, frame_id, error = %e, "ACK does not fit: sending fallback actions");
            outcome = Outcome::TooBig;
            self.wbuf.truncate(mark);
            if self
                .encoder
                .encode(
                    &Frame::ack(stream_id, frame_id, cfg.fallback_actions.clone()),
                    &mut self.wbuf,
                )
                .is_err()
            {
                self.wbuf.truncate(mark);
                Frame::ack(stream_id, frame_id, Vec::new()).encode(&mut self.wbuf);
            }
        }
        let metrics = &self.shared.metrics;
        metrics.in_flight().dec();
        metrics.message(outcome, started.elapsed().as_secs_f64());
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
