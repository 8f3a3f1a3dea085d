//! One engine connection: this task moves its bytes, runs its handlers and
//! owns its timer; [`spop::agent::AgentConnection`] decides everything the
//! protocol decides (handshake, what is taken and when, ACKs, drain,
//! timeouts, refusals).
//!
//! The handlers of the connection's NOTIFY frames are polled together in
//! this task (no task per message, no cross-thread hop), up to
//! `max_in_flight`; at the bound the state machine stops taking frames and
//! the task stops reading, so backpressure reaches the engine through TCP.
//! ACKs that are ready together leave in one write. A write is never a
//! cancellable `select!` branch: it completes or the connection is closed.

use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use spop::agent::{AckError, AgentConnection, AgentEvent, ConnectionEnd, Ticket};
use spop::{Action, Message, Status};
use spop_io::{FrameReader, FrameWriter};
use tokio::io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::error::Elapsed;
use tokio::time::{Instant, Sleep, timeout, timeout_at};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::admission::Admission;
use crate::engine_info::EngineInfo;
use crate::error_var::ErrorCause;
use crate::handler::{Actions, Handler, HandlerError};
use crate::metrics::{Direction, Outcome};
use crate::request::Request;
use crate::shared::Shared;

/// Why a handler produced no verdict, and the handler's error if it gave one.
struct Undelivered {
    cause: ErrorCause,
    detail: Option<String>,
}

/// A handler's answer, ready to be encoded.
struct Answer {
    ticket: Ticket,
    stream_id: u64,
    frame_id: u64,
    verdict: Result<Vec<Action>, Undelivered>,
    started: Instant,
}

type HandlerFuture = Pin<Box<dyn Future<Output = Answer> + Send>>;

/// What a handler's call came to: its actions, or why there are none (an
/// error, a panic, the budget spent: `Err(Elapsed)`).
fn verdict<H: Handler>(
    result: Result<std::thread::Result<Result<Actions, HandlerError>>, Elapsed>,
    shared: &Shared<H>,
) -> Result<Vec<Action>, Undelivered> {
    let undelivered = |cause, detail| {
        Err(Undelivered {
            cause,
            detail: Some(detail),
        })
    };
    match result {
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
            format!(
                "no verdict within the {:?} budget",
                shared.config.handler_timeout
            ),
        ),
    }
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
    let cfg = &shared.config;
    let (reader, writer) = spop_io::split(io, cfg.max_frame_size);
    let mut task = Task {
        conn: AgentConnection::new(cfg.agent_config(), Instant::now().into_std()),
        reader,
        writer,
        peer,
        peer_s: peer.map_or_else(|| "unix".to_owned(), |p| p.to_string()),
        handlers: FuturesUnordered::new(),
        engine: Arc::default(),
        admission: Some(admission),
        _slot: None,
        handshake_done: false,
        answered_inline: false,
        refused_over_limit: false,
        read_error: None,
        timer: Box::pin(tokio::time::sleep_until(Instant::now())),
        armed: None,
        shared: shared.clone(),
    };
    let end = task.serve(&shutdown).await;
    debug!(peer = %task.peer_s, ?end, "connection ended");
    end
}

struct Task<IO, H> {
    conn: AgentConnection,
    reader: FrameReader<ReadHalf<IO>>,
    writer: FrameWriter<WriteHalf<IO>>,
    peer: Option<SocketAddr>,
    peer_s: String,
    shared: Arc<Shared<H>>,
    handlers: FuturesUnordered<HandlerFuture>,
    /// What the handshake agreed on, handed to every [`Request`].
    engine: Arc<EngineInfo>,
    /// Taken when the HELLO comes.
    admission: Option<Admission>,
    /// Held until the connection ends.
    _slot: Option<OwnedSemaphorePermit>,
    handshake_done: bool,
    /// A handler answered during its first poll since the state machine
    /// last took frames: its slot is free for a frame already read.
    answered_inline: bool,
    /// The refusal was logged already (rate-limited) by the admission.
    refused_over_limit: bool,
    /// What the last read failed with, for the log line of an abrupt end.
    read_error: Option<String>,
    /// One timer for the connection's life. It is reset only when the
    /// state machine's next deadline moves earlier; a deadline pushed back
    /// (the idle timeout, after each frame) lets it fire early once and be
    /// re-armed, so a busy connection costs no timer update per frame.
    timer: Pin<Box<Sleep>>,
    armed: Option<Instant>,
}

impl<IO, H> Task<IO, H>
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
    H: Handler,
{
    async fn serve(&mut self, shutdown: &CancellationToken) -> ConnectionEnd {
        let shared = self.shared.clone();
        let cfg = &shared.config;
        let mut stopping = false;
        // One clock read per wake-up: the handlers' start and budget, the
        // ACKs' latency, the idle timer and the write bound all use it.
        let mut now = Instant::now();
        loop {
            // What the state machine decided, and the answers ready now (a
            // handler that did not have to wait): they share the next write.
            loop {
                if let Some(end) = self.handle_events(shutdown, now).await {
                    return self.finish(end).await;
                }
                let mut answered = std::mem::take(&mut self.answered_inline);
                while let Some(Some(answer)) = self.handlers.next().now_or_never() {
                    self.queue_ack(answer, now);
                    answered = true;
                }
                if !answered {
                    break;
                }
                // Freed slots take the frames already read.
                self.conn
                    .handle_input(self.reader.buffer_mut(), now.into_std());
            }
            if self.conn.poll_transmit(self.writer.buffer_mut()) {
                let deadline = now + cfg.write_timeout;
                if let Err(e) = self.writer.flush_until(deadline).await {
                    self.conn.handle_write_error(&e);
                    continue;
                }
            }
            self.arm_timer();
            let can_read = self.conn.wants_input();
            tokio::select! {
                biased;
                () = shutdown.cancelled(), if !stopping => {
                    stopping = true;
                    now = Instant::now();
                    self.conn.shutdown(self.reader.buffer_mut(), now.into_std(), cfg.drain_grace);
                }
                () = self.timer.as_mut(), if self.armed.is_some() => {
                    self.armed = None;
                    now = Instant::now();
                    self.conn.handle_timeout(now.into_std());
                }
                Some(answer) = self.handlers.next(), if !self.handlers.is_empty() => {
                    now = Instant::now();
                    self.queue_ack(answer, now);
                    self.conn.handle_input(self.reader.buffer_mut(), now.into_std());
                }
                read = self.reader.fill(), if can_read => {
                    now = Instant::now();
                    match read {
                        Ok(0) => self.conn.handle_eof(),
                        Ok(_) => self.conn.handle_input(self.reader.buffer_mut(), now.into_std()),
                        Err(e) => {
                            self.read_error = Some(e.to_string());
                            self.conn.handle_read_error(&e);
                        }
                    }
                }
            }
        }
    }

    fn arm_timer(&mut self) {
        match (self.conn.poll_timeout().map(Instant::from_std), self.armed) {
            (Some(at), Some(armed)) if at >= armed => {}
            (Some(at), _) => {
                self.timer.as_mut().reset(at);
                self.armed = Some(at);
            }
            // Left armed: when it fires, nothing is due and it is not re-armed.
            (None, _) => {}
        }
    }

    /// Acts on the state machine's events; the end, once it came.
    async fn handle_events(
        &mut self,
        shutdown: &CancellationToken,
        now: Instant,
    ) -> Option<ConnectionEnd> {
        while let Some(event) = self.conn.poll_event() {
            match event {
                AgentEvent::Hello { healthcheck } => self.admit(healthcheck, shutdown).await,
                AgentEvent::Notify {
                    ticket,
                    stream_id,
                    frame_id,
                    messages,
                } => self.start_handler(ticket, stream_id, frame_id, messages, now),
                AgentEvent::Aborted {
                    stream_id,
                    frame_id,
                } => {
                    debug!(peer = %self.peer_s, stream_id, frame_id, "engine aborted a fragmented NOTIFY");
                }
                AgentEvent::Skipped(header) => {
                    debug!(peer = %self.peer_s, frame_type = ?header.frame_type, "skipping unknown frame type");
                }
                AgentEvent::EngineDisconnect(d) => {
                    info!(peer = %self.peer_s, status = %d.status, message = %d.message, "engine disconnects");
                    self.shared
                        .metrics
                        .disconnect(Direction::Received, d.status);
                }
                AgentEvent::Closed(end) => return Some(end),
            }
        }
        None
    }

    /// Accepts the HELLO, once the connection has a slot.
    async fn admit(&mut self, healthcheck: bool, shutdown: &CancellationToken) {
        let cfg = &self.shared.config;
        let slot = match self.admission.take() {
            Some(Admission::Admitted(slot)) => slot,
            None | Some(Admission::OverLimit { .. }) if healthcheck => None,
            None => None,
            Some(Admission::OverLimit {
                slots,
                wait,
                waiting,
            }) => {
                // Waiting rather than refusing at once: HAProxy 2.6 opens a
                // new connection as soon as one is refused while streams are
                // queued (`spoe_release_appctx`), thousands per second
                // against an agent that answers at once (measured: 7398 in 2 s).
                let slot = tokio::select! {
                    r = timeout(wait, slots.acquire_owned()) => r.ok().and_then(Result::ok),
                    () = shutdown.cancelled() => None,
                };
                drop(waiting);
                let Some(slot) = slot else {
                    let status = Status::RESOURCE;
                    if let Some(suppressed) = self.shared.over_limit_log.admit() {
                        warn!(peer = %self.peer_s, max_connections = cfg.max_connections, waited = ?wait, %status, suppressed, "refusing engine connection: too many connections open");
                    }
                    self.refused_over_limit = true;
                    self.conn.refuse(
                        status,
                        format!(
                            "the max_connections limit ({}) was reached and no connection ended within {wait:?}",
                            cfg.max_connections
                        ),
                    );
                    return;
                };
                Some(slot)
            }
        };
        self._slot = slot;
        self.conn.accept(Instant::now().into_std());
        self.handshake_done = true;
        if healthcheck {
            self.shared.metrics.health_check();
            debug!(peer = %self.peer_s, "spop-check health check answered");
        } else if let (Some(hello), Some(answer)) = (self.conn.hello(), self.conn.agreed()) {
            debug!(peer = %self.peer_s, max_frame_size = answer.max_frame_size, capabilities = %answer.capabilities, "handshake done");
            self.engine = Arc::new(EngineInfo::from_handshake(hello, answer));
        }
    }

    /// Calls the handler of one NOTIFY and polls it once, here: a handler
    /// that does not wait (the echo example, a lookup in memory) is answered
    /// at once, with no task node, no timer and no in-flight count, which
    /// nothing could observe between its call and its answer. One that waits
    /// joins the connection's other handlers under its budget.
    fn start_handler(
        &mut self,
        ticket: Ticket,
        stream_id: u64,
        frame_id: u64,
        messages: Vec<Message>,
        started: Instant,
    ) {
        let shared = self.shared.clone();
        // The budget runs from this wake-up's clock read: no clock read per
        // message.
        let deadline = started + shared.config.handler_timeout;
        let request = Request::from_parts(
            stream_id,
            frame_id,
            messages,
            self.peer,
            deadline,
            self.engine.clone(),
        );
        // The call owns a reference to the handler: it may outlive this turn.
        let handler = shared.clone();
        let mut call = Box::pin(async move {
            AssertUnwindSafe(handler.handler.handle(request))
                .catch_unwind()
                .await
        });
        // A first poll with a waker that does nothing: if the handler waits,
        // the set below polls it again at once with the task's waker, which
        // replaces this one wherever the handler registered it.
        if let Some(result) = (&mut call).now_or_never() {
            let answer = Answer {
                ticket,
                stream_id,
                frame_id,
                verdict: verdict(Ok(result), &shared),
                started,
            };
            self.queue_ack(answer, started);
            self.answered_inline = true;
            return;
        }
        shared.metrics.in_flight().inc();
        self.handlers.push(Box::pin(async move {
            let result = timeout_at(deadline, call).await;
            shared.metrics.in_flight().dec();
            Answer {
                ticket,
                stream_id,
                frame_id,
                verdict: verdict(result, &shared),
                started,
            }
        }));
    }

    /// Sends an answer's ACK. A verdict that cannot be delivered is answered
    /// with the fallback actions and the error variable, counted and logged
    /// (rate-limited).
    ///
    /// A verdict larger than the negotiated max-frame-size is not sent in
    /// fragments: HAProxy 2.4 to 3.0 (`spoe_handle_agentack_frame` in
    /// src/flt_spoe.c, read in v2.6.0 and v3.0.0) answer an ACK without FIN
    /// with "fragmentation not supported" (status 10) and close the
    /// connection, failing every stream waiting on it, and they never
    /// announce `fragmentation` in their HELLO; 3.1+ (`mux_spop`) refuses
    /// any frame without FIN the same way. The error variable (code 13) is
    /// the only way the stream can learn that the verdict is lost.
    fn queue_ack(&mut self, answer: Answer, now: Instant) {
        let Answer {
            ticket,
            stream_id,
            frame_id,
            verdict,
            started,
        } = answer;
        let metrics = self.shared.metrics.clone();
        let undelivered = match verdict {
            Ok(actions) => match self.conn.send_ack(ticket, &actions, now.into_std()) {
                Ok(()) => None,
                Err(AckError::TooBig(e)) => Some(Undelivered {
                    cause: ErrorCause::AckTooBig,
                    detail: Some(e.to_string()),
                }),
                // The connection ended meanwhile: nobody to answer.
                Err(_) => return,
            },
            Err(u) => Some(u),
        };
        let outcome = match undelivered {
            None => Outcome::Ok,
            Some(u) => {
                self.queue_error_ack(ticket, stream_id, frame_id, &u, now);
                u.cause.into()
            }
        };
        metrics.message(
            outcome,
            now.saturating_duration_since(started).as_secs_f64(),
        );
    }

    /// Sends the ACK of an undelivered verdict: the fallback actions and
    /// the error variable; if they do not fit, the error variable alone
    /// (which always fits: its name is at most 64 bytes and a frame at
    /// least 256).
    fn queue_error_ack(
        &mut self,
        ticket: Ticket,
        stream_id: u64,
        frame_id: u64,
        u: &Undelivered,
        now: Instant,
    ) {
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
        let now = now.into_std();
        if self.conn.send_ack(ticket, &actions, now).is_err() {
            let alone: Vec<Action> = error.into_iter().collect();
            if self.conn.send_ack(ticket, &alone, now).is_err() {
                let _ = self.conn.send_ack(ticket, &[], now);
            }
        }
    }

    fn drop_handlers(&mut self) -> usize {
        let n = self.handlers.len();
        self.handlers = FuturesUnordered::new();
        self.shared.metrics.in_flight().dec_by(n as i64);
        n
    }

    /// Logs the end, cancels what is still running, sends what the state
    /// machine has left to say (AGENT-HELLO of a health check,
    /// AGENT-DISCONNECT) and closes this side.
    async fn finish(&mut self, end: ConnectionEnd) -> ConnectionEnd {
        let left = self.drop_handlers();
        let peer = &self.peer_s;
        match &end {
            ConnectionEnd::Refused { .. } if self.refused_over_limit => {}
            ConnectionEnd::Refused { status, reason } if self.handshake_done => {
                warn!(peer, %status, %reason, "closing engine connection");
            }
            ConnectionEnd::Refused { status, reason } => {
                warn!(peer, %status, %reason, "refusing engine connection");
            }
            ConnectionEnd::Io(reason) if !self.handshake_done => {
                // The peer is gone: nobody to tell.
                debug!(peer, %reason, "connection closed during handshake");
            }
            ConnectionEnd::ClosedInFlight { in_flight } => {
                let cause = self.read_error.as_deref().unwrap_or("end of stream");
                warn!(peer, in_flight, %cause, "engine closed the connection with NOTIFY frames unanswered");
            }
            ConnectionEnd::Shutdown | ConnectionEnd::EngineDisconnect(_) if left > 0 => {
                warn!(
                    peer,
                    left, "handlers still running after the grace period: cancelling them"
                );
            }
            _ => {}
        }
        if let Some(status) = end.farewell() {
            self.shared.metrics.disconnect(Direction::Sent, status);
        }
        if self.conn.poll_transmit(self.writer.buffer_mut()) {
            let limit = self.shared.config.write_timeout;
            if self
                .writer
                .flush_until(Instant::now() + limit)
                .await
                .is_ok()
            {
                let _ = timeout(limit, self.writer.shutdown()).await;
            }
        }
        end
    }
}
