//! The agent's end of one SPOP connection, without I/O: the shape of
//! quinn-proto's `Connection`. Bytes in, events and bytes out, time passed
//! in; the runtime (`spoa`) only moves bytes, runs handlers and owns timers.
//!
//! ```text
//!  bytes read ───handle_input(buf, now)──┐          ┌──poll_event()──> Hello, Notify, ..., Closed
//!  verdicts ─────send_ack(ticket, ..)────┤ Agent-   │
//!  timer ────────handle_timeout(now)─────┤ Connection├──poll_transmit(buf)──> bytes to write
//!  stop ─────────shutdown(..)────────────┘          └──poll_timeout()──> when to call handle_timeout
//! ```
//!
//! Its life: HAPROXY-HELLO within the hello timeout ([`AgentEvent::Hello`]),
//! then the runtime's [`AgentConnection::accept`] (or `refuse`, when it has
//! no room) sends AGENT-HELLO; a health check ends there. Then NOTIFY frames
//! (reassembled from fragments when HAProxy 2.4-3.0 sends them) are handed
//! out as [`AgentEvent::Notify`], at most `max_in_flight` at once: past it,
//! input is left in the buffer and [`AgentConnection::wants_input`] says to
//! stop reading (backpressure). Each is answered by [`AgentConnection::send_ack`].
//! HAPROXY-DISCONNECT, a graceful stop, an idle connection, a protocol error
//! or the peer's close end it with [`AgentEvent::Closed`], after
//! AGENT-DISCONNECT when one is due.

mod end;
mod tickets;

use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

use bytes::BytesMut;

pub use end::{ConnectionEnd, Fragmentation};
pub use tickets::Ticket;
use tickets::Tickets;

use crate::action::Action;
use crate::error::EncodeError;
use crate::frame::{Body, Frame, FrameDecoder, FrameEncoder, FrameHeader};
use crate::hello::{
    AgentHello, Capabilities, Disconnect, HAPROXY_DEFAULT_FRAME_SIZE, HaproxyHello,
};
use crate::message::Message;
use crate::reassembly::{Reassembler, Reassembly};
use crate::status::Status;

/// What an [`AgentConnection`] is configured with.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AgentConfig {
    /// The largest frame accepted and announced (the engine's offer caps it).
    pub max_frame_size: u32,
    /// NOTIFY frames handed out and not answered at once; past it, input is
    /// left unread.
    pub max_in_flight: usize,
    /// Largest payload reassembled from fragmented NOTIFY frames.
    pub reassembly_limit: usize,
    /// When to announce `fragmentation`.
    pub fragmentation: Fragmentation,
    /// How long the engine has to send its HAPROXY-HELLO.
    pub hello_timeout: Duration,
    /// After the handshake, how long the connection may go without a frame
    /// while nothing is in flight; then AGENT-DISCONNECT 2.
    pub idle_timeout: Duration,
    /// After HAPROXY-DISCONNECT, how long the NOTIFY frames in flight may
    /// take to be answered before AGENT-DISCONNECT 0 is sent anyway.
    pub disconnect_grace: Duration,
}

impl Default for AgentConfig {
    /// HAProxy's frame size, 64 in flight, 1 MiB reassembled, hello 5 s,
    /// idle 5 min, 11 s to answer after HAPROXY-DISCONNECT.
    fn default() -> Self {
        Self {
            max_frame_size: HAPROXY_DEFAULT_FRAME_SIZE,
            max_in_flight: 64,
            reassembly_limit: 1 << 20,
            fragmentation: Fragmentation::Auto,
            hello_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(300),
            disconnect_grace: Duration::from_secs(11),
        }
    }
}

/// What happened on an [`AgentConnection`], in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentEvent {
    /// A valid HAPROXY-HELLO came ([`AgentConnection::hello`]): answer it
    /// with [`AgentConnection::accept`], or [`AgentConnection::refuse`].
    Hello {
        /// It is a `spop-check` health check: accepting answers it and ends
        /// the connection.
        healthcheck: bool,
    },
    /// A whole NOTIFY, to be answered with [`AgentConnection::send_ack`].
    Notify {
        /// What the answer brings back.
        ticket: Ticket,
        /// The engine's stream-id.
        stream_id: u64,
        /// The engine's frame-id.
        frame_id: u64,
        /// The messages, in the engine's order.
        messages: Vec<Message>,
    },
    /// The engine abandoned a fragmented NOTIFY: no answer is expected.
    Aborted {
        /// Its stream-id.
        stream_id: u64,
        /// Its frame-id.
        frame_id: u64,
    },
    /// A frame of a type this codec does not know was skipped.
    Skipped(FrameHeader),
    /// The engine sent HAPROXY-DISCONNECT: what is in flight is still
    /// answered (within the disconnect grace), then AGENT-DISCONNECT 0 ends
    /// the connection.
    EngineDisconnect(Disconnect),
    /// The connection is over: write what [`AgentConnection::poll_transmit`]
    /// gives, then close. What is still in flight will not be answered.
    Closed(ConnectionEnd),
}

/// Why [`AgentConnection::send_ack`] sent nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AckError {
    /// The ACK would exceed the negotiated max-frame-size (ACKs are never
    /// fragmented: no HAProxy accepts one). The ticket is still good: answer
    /// with something smaller.
    #[error(transparent)]
    TooBig(EncodeError),
    /// The ticket was used already, or the connection ended since.
    #[error("no NOTIFY in flight for this ticket (answered already, or the connection ended)")]
    UnknownTicket,
}

#[derive(Debug)]
enum State {
    /// Waiting for HAPROXY-HELLO until `deadline`.
    Hello {
        deadline: Option<Instant>,
    },
    /// HELLO read and answerable; the runtime decides.
    Admission,
    Running,
    /// Graceful stop: what was read is answered, until `deadline`.
    Draining {
        deadline: Option<Instant>,
    },
    /// HAPROXY-DISCONNECT came: what is in flight is answered, until `deadline`.
    Finishing {
        deadline: Option<Instant>,
        disconnect: Disconnect,
    },
    Closed,
}

/// The agent's end of one connection. See the [module](self) documentation.
#[derive(Debug)]
pub struct AgentConnection {
    config: AgentConfig,
    state: State,
    decoder: FrameDecoder,
    encoder: FrameEncoder,
    reassembler: Reassembler,
    hello: Option<HaproxyHello>,
    agreed: Option<AgentHello>,
    tickets: Tickets,
    /// When the last frame came or the last ACK left (the idle timeout's start).
    last_activity: Instant,
    /// While draining: a frame that is not part of a NOTIFY was met, take no more.
    input_done: bool,
    events: VecDeque<AgentEvent>,
    transmit: BytesMut,
    end: Option<ConnectionEnd>,
}

impl AgentConnection {
    /// A connection just accepted at `now`.
    pub fn new(config: AgentConfig, now: Instant) -> Self {
        Self {
            state: State::Hello {
                deadline: now.checked_add(config.hello_timeout),
            },
            decoder: FrameDecoder::new(config.max_frame_size),
            encoder: FrameEncoder::new(config.max_frame_size),
            reassembler: Reassembler::new(config.reassembly_limit),
            config,
            hello: None,
            agreed: None,
            tickets: Tickets::default(),
            last_activity: now,
            input_done: false,
            events: VecDeque::new(),
            transmit: BytesMut::new(),
            end: None,
        }
    }

    /// The engine's HAPROXY-HELLO, once it came.
    pub fn hello(&self) -> Option<&HaproxyHello> {
        self.hello.as_ref()
    }

    /// The AGENT-HELLO this side answers (or answered): version,
    /// max-frame-size and capabilities agreed on.
    pub fn agreed(&self) -> Option<&AgentHello> {
        self.agreed.as_ref()
    }

    /// NOTIFY frames handed out and not answered.
    pub fn in_flight(&self) -> usize {
        self.tickets.len()
    }

    /// Whether to read more from the socket: the handshake is awaited, or
    /// NOTIFY frames are served below `max_in_flight`.
    pub fn wants_input(&self) -> bool {
        match self.state {
            State::Hello { .. } => true,
            State::Running => self.tickets.len() < self.config.max_in_flight,
            _ => false,
        }
    }

    /// How the connection ended, once it did.
    pub fn end(&self) -> Option<&ConnectionEnd> {
        self.end.as_ref()
    }

    /// The connection ended (see [`AgentEvent::Closed`]).
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<AgentEvent> {
        self.events.pop_front()
    }

    /// Moves the bytes to send to the end of `dst`; false when there are
    /// none. Frames are whole: write all of `dst` or close.
    pub fn poll_transmit(&mut self, dst: &mut BytesMut) -> bool {
        crate::frame::transmit(&mut self.transmit, dst)
    }

    /// When [`AgentConnection::handle_timeout`] is next due, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Hello { deadline }
            | State::Draining { deadline }
            | State::Finishing { deadline, .. } => *deadline,
            State::Running if self.tickets.is_empty() => {
                self.last_activity.checked_add(self.config.idle_timeout)
            }
            State::Running | State::Admission | State::Closed => None,
        }
    }

    /// Takes the whole frames at the front of `buf`, as far as the state
    /// allows (one HELLO; NOTIFY frames up to `max_in_flight`). Call it
    /// after each read, and after each ACK (a freed slot may take a frame
    /// already buffered). Bytes of a partial frame stay in `buf`, which the
    /// decoder reserves room in, up to max-frame-size.
    pub fn handle_input(&mut self, buf: &mut BytesMut, now: Instant) {
        loop {
            let take = match self.state {
                State::Hello { .. } => true,
                State::Running => self.tickets.len() < self.config.max_in_flight,
                State::Draining { .. } => {
                    !self.input_done && self.tickets.len() < self.config.max_in_flight
                }
                State::Admission | State::Finishing { .. } | State::Closed => false,
            };
            if !take {
                return;
            }
            let frame = match self.decoder.decode(buf) {
                Ok(Some(f)) => f,
                Ok(None) => return,
                Err(e) => {
                    if matches!(self.state, State::Draining { .. }) {
                        self.input_done = true;
                        self.close_if_drained();
                    } else {
                        self.refuse(e.status(), e.to_string());
                    }
                    return;
                }
            };
            self.last_activity = now;
            if matches!(self.state, State::Hello { .. }) {
                self.on_hello(frame);
            } else {
                self.on_frame(frame, now);
            }
        }
    }

    fn on_hello(&mut self, frame: Frame) {
        let Body::HaproxyHello(kv) = frame.body else {
            let what = format!("expected HAPROXY-HELLO, got {:?}", frame.header.frame_type);
            return self.refuse(Status::INVALID_FRAME, what);
        };
        let hello = match HaproxyHello::from_kv(&kv) {
            Ok(h) => h,
            Err(e) => return self.refuse(e.status(), e.to_string()),
        };
        let ours = Capabilities {
            pipelining: true,
            async_: false,
            // Only HAProxy 2.4-3.0 send fragments, and only they announce
            // `async`; see `Fragmentation`.
            fragmentation: match self.config.fragmentation {
                Fragmentation::Auto => {
                    hello.capabilities.fragmentation || hello.capabilities.async_
                }
                Fragmentation::Always => true,
                Fragmentation::Never => false,
            },
        };
        match AgentHello::answer(&hello, self.config.max_frame_size, ours) {
            Ok(answer) => {
                let healthcheck = hello.healthcheck;
                self.hello = Some(hello);
                self.agreed = Some(answer);
                self.state = State::Admission;
                self.events.push_back(AgentEvent::Hello { healthcheck });
            }
            Err(e) => self.refuse(e.status(), e.to_string()),
        }
    }

    fn on_frame(&mut self, frame: Frame, now: Instant) {
        let draining = matches!(self.state, State::Draining { .. });
        let header = frame.header;
        match frame.body {
            Body::Notify(_) | Body::Fragment(_) => match self.reassembler.push(frame) {
                Ok(Reassembly::Complete(f)) => {
                    if let Body::Notify(messages) = f.body {
                        self.hand_out(f.header.stream_id, f.header.frame_id, messages);
                    }
                }
                Ok(Reassembly::Pending) => {}
                Ok(Reassembly::Aborted {
                    stream_id,
                    frame_id,
                }) => self.events.push_back(AgentEvent::Aborted {
                    stream_id,
                    frame_id,
                }),
                Err(_) if draining => {
                    self.input_done = true;
                    self.close_if_drained();
                }
                Err(e) => self.refuse(e.status(), e.to_string()),
            },
            Body::Unknown(_) => self.events.push_back(AgentEvent::Skipped(header)),
            // Stopping already: answer what was read before it, then go.
            _ if draining => {
                self.input_done = true;
                self.close_if_drained();
            }
            Body::HaproxyDisconnect(kv) => {
                let disconnect =
                    Disconnect::from_kv(&kv).unwrap_or_else(|_| Disconnect::new(Status::UNKNOWN));
                self.events
                    .push_back(AgentEvent::EngineDisconnect(disconnect.clone()));
                self.state = State::Finishing {
                    deadline: now.checked_add(self.config.disconnect_grace),
                    disconnect,
                };
                self.close_if_drained();
            }
            Body::HaproxyHello(_)
            | Body::AgentHello(_)
            | Body::AgentDisconnect(_)
            | Body::Ack(_) => {
                self.refuse(
                    Status::INVALID_FRAME,
                    format!(
                        "unexpected {:?} frame after the handshake",
                        header.frame_type
                    ),
                );
            }
        }
    }

    fn hand_out(&mut self, stream_id: u64, frame_id: u64, messages: Vec<Message>) {
        match self.tickets.issue(stream_id, frame_id) {
            Some(ticket) => self.events.push_back(AgentEvent::Notify {
                ticket,
                stream_id,
                frame_id,
                messages,
            }),
            None => self.refuse(Status::RESOURCE, "too many NOTIFY frames in flight".into()),
        }
    }

    /// Answers the HELLO (after [`AgentEvent::Hello`]) with AGENT-HELLO. A
    /// health check ends there ([`ConnectionEnd::HealthCheck`]); otherwise
    /// NOTIFY frames are taken from now on, under the agreed max-frame-size.
    /// Does nothing in another state.
    pub fn accept(&mut self, now: Instant) {
        if !matches!(self.state, State::Admission) {
            return;
        }
        let Some(answer) = &self.agreed else {
            return;
        };
        Frame::agent_hello(answer).encode(&mut self.transmit);
        self.decoder.set_max_frame_size(answer.max_frame_size);
        self.encoder.set_max_frame_size(answer.max_frame_size);
        self.last_activity = now;
        if self.hello.as_ref().is_some_and(|h| h.healthcheck) {
            self.close(ConnectionEnd::HealthCheck);
        } else {
            self.state = State::Running;
        }
    }

    /// Ends the connection with AGENT-DISCONNECT `status` (nothing is sent
    /// for [`Status::IO`]: the peer is gone).
    pub fn refuse(&mut self, status: Status, reason: String) {
        self.close(if status == Status::IO {
            ConnectionEnd::Io(reason)
        } else {
            ConnectionEnd::Refused { status, reason }
        });
    }

    /// A graceful stop: NOTIFY frames already in `buf` are taken too (up to
    /// `max_in_flight`), what is in flight may be answered until `now +
    /// grace`, then AGENT-DISCONNECT 0 ends the connection. Before the
    /// handshake, it is refused with status 0.
    pub fn shutdown(&mut self, buf: &mut BytesMut, now: Instant, grace: Duration) {
        match self.state {
            State::Hello { .. } | State::Admission => {
                self.refuse(Status::NORMAL, "agent is stopping".into());
            }
            State::Running => {
                self.state = State::Draining {
                    deadline: now.checked_add(grace),
                };
                self.handle_input(buf, now);
                self.close_if_drained();
            }
            State::Draining { .. } | State::Finishing { .. } | State::Closed => {}
        }
    }

    /// Answers the NOTIFY of `ticket` with an ACK of `actions`. On
    /// [`AckError::TooBig`] nothing is sent and the ticket stays good.
    pub fn send_ack(
        &mut self,
        ticket: Ticket,
        actions: &[Action],
        now: Instant,
    ) -> Result<(), AckError> {
        let (stream_id, frame_id) = self.tickets.get(ticket).ok_or(AckError::UnknownTicket)?;
        self.encoder
            .encode_ack(stream_id, frame_id, actions, &mut self.transmit)
            .map_err(AckError::TooBig)?;
        self.tickets.take(ticket);
        self.last_activity = now;
        self.close_if_drained();
        Ok(())
    }

    /// Time passed: the hello, idle, drain or disconnect timer may be due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due = |deadline: &Option<Instant>| deadline.is_some_and(|d| now >= d);
        match &self.state {
            State::Hello { deadline } if due(deadline) => self.refuse(
                Status::TIMEOUT,
                "no HAPROXY-HELLO within the hello timeout".into(),
            ),
            State::Running
                if self.tickets.is_empty()
                    && due(&self.last_activity.checked_add(self.config.idle_timeout)) =>
            {
                self.close(ConnectionEnd::IdleTimeout);
            }
            State::Draining { deadline } if due(deadline) => self.close(ConnectionEnd::Shutdown),
            State::Finishing {
                deadline,
                disconnect,
            } if due(deadline) => {
                let end = ConnectionEnd::EngineDisconnect(disconnect.clone());
                self.close(end);
            }
            _ => {}
        }
    }

    /// The engine closed its side (end of stream).
    pub fn handle_eof(&mut self) {
        self.peer_gone(None, false);
    }

    /// Reading failed.
    pub fn handle_read_error(&mut self, e: &io::Error) {
        self.peer_gone(
            Some(e.to_string()),
            e.kind() == io::ErrorKind::ConnectionReset,
        );
    }

    /// Writing failed: the connection is over, whatever was in flight.
    pub fn handle_write_error(&mut self, e: &io::Error) {
        let end = match self.state {
            State::Closed => return,
            State::Hello { .. } | State::Admission => {
                ConnectionEnd::Io(format!("writing AGENT-HELLO: {e}"))
            }
            _ => ConnectionEnd::Io(format!("writing to the engine failed: {e}")),
        };
        self.close(end);
    }

    fn peer_gone(&mut self, error: Option<String>, reset: bool) {
        let in_flight = self.tickets.len();
        let end = match self.state {
            State::Closed => return,
            State::Hello { .. } | State::Admission => ConnectionEnd::Io(
                error.unwrap_or_else(|| "connection closed before HAPROXY-HELLO".into()),
            ),
            _ if in_flight > 0 => ConnectionEnd::ClosedInFlight { in_flight },
            _ if reset => ConnectionEnd::Reset,
            _ => ConnectionEnd::Closed,
        };
        self.close(end);
    }

    /// While stopping, ends the connection once nothing is in flight.
    fn close_if_drained(&mut self) {
        if !self.tickets.is_empty() {
            return;
        }
        match &self.state {
            State::Draining { .. } => self.close(ConnectionEnd::Shutdown),
            State::Finishing { disconnect, .. } => {
                let end = ConnectionEnd::EngineDisconnect(disconnect.clone());
                self.close(end);
            }
            _ => {}
        }
    }

    fn close(&mut self, end: ConnectionEnd) {
        if matches!(self.state, State::Closed) {
            return;
        }
        if let Some(status) = end.farewell() {
            Frame::agent_disconnect(&Disconnect::new(status)).encode(&mut self.transmit);
        }
        self.state = State::Closed;
        self.tickets.clear();
        self.events.push_back(AgentEvent::Closed(end.clone()));
        self.end = Some(end);
    }
}

#[cfg(test)]
mod tests;
