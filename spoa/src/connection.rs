//! One engine connection: handshake, pipelined dispatch, ACK writing, drain.
//!
//! Three kinds of task cooperate, all owned by [`run`]:
//! - `run` itself reads and decodes frames, and stops reading when
//!   `max_in_flight` handlers are busy (a semaphore permit is taken before
//!   each read: backpressure reaches the engine through TCP);
//! - one task per NOTIFY runs the handler under its budget and queues the
//!   encoded ACK, whatever happened to the handler;
//! - one writer task writes queued frames, coalescing those that are ready
//!   together into one write. A frame is never split across writes, and a
//!   write is never a cancellable `select!` branch: it completes or the
//!   connection is closed.

use std::io;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use spop::{
    AgentHello, Body, Capabilities, DecodeError, Disconnect, Frame, FrameDecoder, FrameEncoder,
    HaproxyHello, Reassembler, Reassembly, Status,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

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
    fn next_buffered(&mut self) -> Option<Frame> {
        self.decoder.decode(&mut self.buf).ok().flatten()
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
    Running::new(
        reader,
        wr,
        peer,
        peer_s,
        shared,
        FrameEncoder::new(answer.max_frame_size),
    )
    .serve(shutdown)
    .await
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
    WriterFailed,
}

struct Running<IO, H> {
    reader: FrameReader<ReadHalf<IO>>,
    peer: Option<SocketAddr>,
    peer_s: String,
    shared: Arc<Shared<H>>,
    encoder: Arc<FrameEncoder>,
    permits: Arc<Semaphore>,
    handlers: JoinSet<()>,
    out: mpsc::Sender<Bytes>,
    writer: JoinSet<()>,
    writer_failed: CancellationToken,
    reassembler: Reassembler,
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
        let cfg = &shared.config;
        // Every handler holds a permit while it may send, so this capacity
        // never blocks a handler for long; +1 for the final DISCONNECT.
        let (out, rx) = mpsc::channel(cfg.max_in_flight.saturating_add(1));
        let writer_failed = CancellationToken::new();
        let mut writer = JoinSet::new();
        writer.spawn(write_loop(wr, rx, cfg.write_timeout, writer_failed.clone()));
        Self {
            reader,
            peer,
            peer_s,
            permits: Arc::new(Semaphore::new(cfg.max_in_flight)),
            reassembler: Reassembler::new(cfg.reassembly_limit),
            encoder: Arc::new(encoder),
            handlers: JoinSet::new(),
            out,
            writer,
            writer_failed,
            shared,
        }
    }

    fn in_flight(&self) -> usize {
        self.shared
            .config
            .max_in_flight
            .saturating_sub(self.permits.available_permits())
    }

    async fn serve(mut self, shutdown: CancellationToken) -> ConnectionEnd {
        let stop = self.read_loop(&shutdown).await;
        let shared = self.shared.clone();
        let cfg = &shared.config;
        let (end, farewell) = match stop {
            Stop::Shutdown => {
                // Frames the engine already sent are answered too.
                while let Some(frame) = self.reader.next_buffered() {
                    let Ok(permit) = self.permits.clone().try_acquire_owned() else {
                        break;
                    };
                    if self.dispatch(frame, permit).is_err() {
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
                // Handlers are bounded by their budget; the margin covers queueing.
                self.finish_handlers(cfg.handler_timeout.saturating_add(cfg.write_timeout))
                    .await;
                (ConnectionEnd::EngineDisconnect(d), Some(Status::NORMAL))
            }
            Stop::Refuse(status, reason) => {
                warn!(peer = %self.peer_s, %status, %reason, "closing engine connection");
                self.handlers.shutdown().await;
                (ConnectionEnd::Refused { status, reason }, Some(status))
            }
            Stop::Eof | Stop::Io(_) if self.in_flight() == 0 => {
                self.handlers.shutdown().await;
                (ConnectionEnd::Closed, None)
            }
            stop @ (Stop::Eof | Stop::Io(_)) => {
                let in_flight = self.in_flight();
                let cause = match stop {
                    Stop::Io(e) => e.to_string(),
                    _ => "end of stream".to_owned(),
                };
                warn!(peer = %self.peer_s, in_flight, %cause, "engine closed the connection with NOTIFY frames unanswered");
                self.handlers.shutdown().await;
                (ConnectionEnd::ClosedInFlight { in_flight }, None)
            }
            Stop::WriterFailed => {
                self.handlers.shutdown().await;
                (
                    ConnectionEnd::Io("writing to the engine failed or timed out".into()),
                    None,
                )
            }
        };
        if let Some(status) = farewell {
            self.shared.metrics.disconnect(Direction::Sent, status);
            let _ = self
                .out
                .try_send(encode(&Frame::agent_disconnect(&Disconnect::new(status))));
        }
        // Closing the channel lets the writer flush what is queued and shut
        // the socket down; its writes are bounded by write_timeout.
        drop(self.out);
        let _ = timeout(cfg.write_timeout.saturating_mul(2), self.writer.join_next()).await;
        self.writer.shutdown().await;
        debug!(peer = %self.peer_s, ?end, "connection ended");
        end
    }

    async fn read_loop(&mut self, shutdown: &CancellationToken) -> Stop {
        loop {
            while self.handlers.try_join_next().is_some() {}
            let permit = tokio::select! {
                biased;
                () = shutdown.cancelled() => return Stop::Shutdown,
                () = self.writer_failed.cancelled() => return Stop::WriterFailed,
                p = self.permits.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => return Stop::WriterFailed,
                },
            };
            let frame = tokio::select! {
                biased;
                () = shutdown.cancelled() => return Stop::Shutdown,
                () = self.writer_failed.cancelled() => return Stop::WriterFailed,
                r = self.reader.next() => r,
            };
            let frame = match frame {
                Ok(Some(f)) => f,
                Ok(None) => return Stop::Eof,
                Err(ReadError::Io(e)) => return Stop::Io(e),
                Err(ReadError::Decode(e)) => return Stop::Refuse(e.status(), e.to_string()),
            };
            if let Err(stop) = self.dispatch(frame, permit) {
                return stop;
            }
        }
    }

    /// Handles one frame from the engine.
    fn dispatch(&mut self, frame: Frame, permit: OwnedSemaphorePermit) -> Result<(), Stop> {
        let header = frame.header;
        match frame.body {
            Body::Notify(_) | Body::Fragment(_) => match self.reassembler.push(frame) {
                Ok(Reassembly::Complete(f)) => {
                    if let Body::Notify(messages) = f.body {
                        self.spawn_handler(f.header.stream_id, f.header.frame_id, messages, permit);
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

    fn spawn_handler(
        &mut self,
        stream_id: u64,
        frame_id: u64,
        messages: Vec<spop::Message>,
        permit: OwnedSemaphorePermit,
    ) {
        let shared = self.shared.clone();
        let encoder = self.encoder.clone();
        let out = self.out.clone();
        let request = Request {
            stream_id,
            frame_id,
            messages,
            peer: self.peer,
        };
        self.handlers.spawn(async move {
            let started = Instant::now();
            let metrics = &shared.metrics;
            metrics.in_flight().inc();
            let cfg = &shared.config;
            let result = timeout(
                cfg.handler_timeout,
                AssertUnwindSafe(shared.handler.handle(request)).catch_unwind(),
            )
            .await;
            let (actions, mut outcome) = match result {
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
            let mut buf = BytesMut::new();
            if let Err(e) = encoder.encode(&Frame::ack(stream_id, frame_id, actions), &mut buf) {
                warn!(stream_id, frame_id, error = %e, "ACK does not fit: sending fallback actions");
                outcome = Outcome::TooBig;
                buf.clear();
                if encoder
                    .encode(&Frame::ack(stream_id, frame_id, cfg.fallback_actions.clone()), &mut buf)
                    .is_err()
                {
                    buf.clear();
                    Frame::ack(stream_id, frame_id, Vec::new()).encode(&mut buf);
                }
            }
            metrics.in_flight().dec();
            metrics.message(outcome, started.elapsed().as_secs_f64());
            // Fails only when the writer is gone, and then the connection is closing.
            let _ = out.send(buf.freeze()).await;
            drop(permit);
        });
    }

    async fn finish_handlers(&mut self, grace: std::time::Duration) {
        if timeout(grace, async {
            while self.handlers.join_next().await.is_some() {}
        })
        .await
        .is_err()
        {
            warn!(peer = %self.peer_s, left = self.handlers.len(), "handlers still running after the grace period: cancelling them");
            self.handlers.shutdown().await;
        }
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut wr: W,
    mut rx: mpsc::Receiver<Bytes>,
    limit: std::time::Duration,
    failed: CancellationToken,
) {
    const COALESCE_LIMIT: usize = 64 * 1024;
    let mut buf = BytesMut::with_capacity(8 * 1024);
    while let Some(first) = rx.recv().await {
        buf.extend_from_slice(&first);
        while buf.len() < COALESCE_LIMIT {
            match rx.try_recv() {
                Ok(more) => buf.extend_from_slice(&more),
                Err(_) => break,
            }
        }
        match timeout(limit, wr.write_all(&buf)).await {
            Ok(Ok(())) => buf.clear(),
            Ok(Err(e)) => {
                debug!(error = %e, "write to engine failed");
                failed.cancel();
                return;
            }
            Err(_) => {
                warn!(timeout = ?limit, "write to engine timed out");
                failed.cancel();
                return;
            }
        }
    }
    let _ = timeout(limit, wr.shutdown()).await;
}
