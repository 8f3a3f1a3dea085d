//! The engine's end of one SPOP connection, without I/O: the shape of
//! quinn-proto's `Connection`. Bytes in, events and bytes out, time passed
//! in; the runtime (the `spoe` engine, a test kit) only moves bytes and owns
//! timers.
//!
//! ```text
//!  bytes read ──handle_input(buf, now)──┐            ┌──poll_event()──> Ready, Ack, Expired, Closing, Closed
//!  messages ────send_notify(..)─────────┤ Engine-    │
//!  timer ───────handle_timeout(now)─────┤ Connection ├──poll_transmit(buf)──> bytes to write
//!  drain, stop ─drain(), abort()────────┘            └──poll_timeout()──> when to call handle_timeout
//! ```
//!
//! Its life: HAPROXY-HELLO is queued at once; a valid AGENT-HELLO within
//! `timeout hello` makes it [`EngineEvent::Ready`] with `slots` NOTIFY
//! frames allowed in flight (`max-waiting-frames` when both sides announce
//! pipelining, else 1). Each NOTIFY carries a user value `T` and a deadline;
//! its ACK, matched by stream-id and frame-id, gives `T` back
//! ([`EngineEvent::Ack`]), and so does its deadline
//! ([`EngineEvent::Expired`]; a late ACK is then dropped). When the
//! connection must end (idle, drained, refused, stalled, the agent's
//! goodbye, the socket's end), [`EngineEvent::Closing`] hands back every
//! NOTIFY still waiting at once, HAPROXY-DISCONNECT is sent when due, and
//! [`EngineEvent::Closed`] follows the agent's AGENT-DISCONNECT (or the
//! hello timeout).
//!
//! The two HAProxy generations ([`Haproxy`]) differ in what they offer in
//! the HELLO (`async` up to 3.0) and in the ids of a NOTIFY: 3.1+ numbers
//! streams per connection with frame-id 1 ([`EngineConnection::send_notify`]),
//! 2.x sends the HTTP stream's id and one frame-id per event of that stream
//! ([`EngineConnection::send_notify_with_ids`]). With `async` agreed (2.x
//! only), an ACK for a NOTIFY of another connection is handed out as
//! [`EngineEvent::ForeignAck`] instead of being refused.

mod in_flight;

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::str::FromStr;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use in_flight::{Cancelled, InFlight};

use crate::action::ActionList;
use crate::error::DecodeError;
use crate::frame::{Body, Flags, Frame, FrameDecoder, FrameEncoder, FrameHeader, FrameType};
use crate::hello::{
    AgentHello, Capabilities, Disconnect, HAPROXY_DEFAULT_FRAME_SIZE, HaproxyHello,
};
use crate::kv::{Kv, KvText};
use crate::status::Status;

/// Which HAProxy an engine connection behaves like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Haproxy {
    /// HAProxy 2.4 to 3.0 (the applet engine): offers `pipelining,async`;
    /// NOTIFY ids are the stream's id and a frame-id per event.
    V2_6,
    /// HAProxy 3.1 and later (`mux_spop`): offers `pipelining`; streams are
    /// numbered per connection.
    V3_1,
}

impl Haproxy {
    /// The HAPROXY-HELLO this HAProxy sends with its defaults (tune.bufsize
    /// 16384, `option pipelining`, and `option async` up to 3.0).
    pub fn hello(self, engine_id: Option<String>) -> HaproxyHello {
        HaproxyHello {
            supported_versions: "2.0".into(),
            max_frame_size: HAPROXY_DEFAULT_FRAME_SIZE,
            capabilities: Capabilities {
                pipelining: true,
                async_: self == Self::V2_6,
                fragmentation: false,
            },
            healthcheck: false,
            engine_id,
        }
    }
}

impl fmt::Display for Haproxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V2_6 => "2.6",
            Self::V3_1 => "3.x",
        })
    }
}

impl FromStr for Haproxy {
    type Err = String;

    /// `2.6` (also `2`, `2.x`, `3.0`) or `3.x` (also `3`, `3.1` to `3.4`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "2.6" | "2" | "2.x" | "3.0" => Ok(Self::V2_6),
            "3.x" | "3" | "3.1" | "3.2" | "3.3" | "3.4" => Ok(Self::V3_1),
            _ => Err(format!(
                "HAProxy version {s:?}: expected 2.6 (2.6 to 3.0) or 3.x (3.1 and later)"
            )),
        }
    }
}

/// What an [`EngineConnection`] is configured with.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EngineConfig {
    /// The HAPROXY-HELLO offered: max-frame-size, capabilities, engine-id,
    /// and `healthcheck` for an `option spop-check` probe (which ends once
    /// the AGENT-HELLO is judged).
    pub hello: HaproxyHello,
    /// NOTIFY frames in flight at once when both sides announce pipelining.
    pub max_waiting_frames: usize,
    /// `timeout hello`: bound on the handshake, and on waiting for the
    /// agent's AGENT-DISCONNECT after ours.
    pub timeout_hello: Duration,
    /// `timeout idle`: a ready connection with nothing in flight for this
    /// long is closed with HAPROXY-DISCONNECT 0. `None`: never.
    pub timeout_idle: Option<Duration>,
}

impl EngineConfig {
    /// An engine offering `hello`, with 20 frames in flight, a 5 s hello
    /// timeout and no idle timeout.
    pub fn new(hello: HaproxyHello) -> Self {
        Self {
            hello,
            max_waiting_frames: 20,
            timeout_hello: Duration::from_secs(5),
            timeout_idle: None,
        }
    }
}

/// Why an engine connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EngineEnd {
    /// This side refused the handshake with `status`: an AGENT-HELLO
    /// HAProxy does not accept, another frame, or the hello timeout.
    Handshake {
        /// The status it failed with.
        status: Status,
        /// What happened.
        reason: String,
    },
    /// A health check's AGENT-HELLO was valid.
    HealthCheck,
    /// Nothing in flight for `timeout idle`: HAPROXY-DISCONNECT 0.
    Idle,
    /// Drained: HAPROXY-DISCONNECT 0 once nothing was in flight.
    Drained,
    /// This side sent HAPROXY-DISCONNECT with this status on request.
    Disconnected(Status),
    /// The agent said goodbye (or refused the handshake).
    AgentDisconnect(Disconnect),
    /// The agent broke the protocol: HAPROXY-DISCONNECT with `status`.
    Refused {
        /// The status sent.
        status: Status,
        /// What the agent did.
        reason: String,
    },
    /// Every slot's NOTIFY timed out in a row: HAPROXY-DISCONNECT 2.
    Stalled,
    /// The socket closed or failed.
    Broken(String),
    /// Stopped at once ([`EngineConnection::abort`]).
    Aborted,
}

impl EngineEnd {
    /// The SPOP status the NOTIFY frames still waiting end with (HAProxy
    /// records 256 + it); `None` when the engine stopped.
    pub fn status(&self) -> Option<Status> {
        Some(match self {
            Self::Handshake { status, .. } | Self::Refused { status, .. } => *status,
            Self::Disconnected(status) => *status,
            Self::HealthCheck | Self::Idle | Self::Drained => Status::NORMAL,
            Self::AgentDisconnect(d) => d.status,
            Self::Stalled => Status::TIMEOUT,
            Self::Broken(_) => Status::IO,
            Self::Aborted => return None,
        })
    }
}

/// What happened on an [`EngineConnection`], in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineEvent<T> {
    /// The handshake is done: NOTIFY frames may be sent.
    Ready(AgentHello),
    /// The ACK of a NOTIFY.
    Ack {
        /// Its stream-id.
        stream_id: u64,
        /// Its frame-id.
        frame_id: u64,
        /// The agent's actions, read in place.
        actions: ActionList,
        /// The NOTIFY's value.
        user: T,
        /// When the NOTIFY was queued for writing.
        sent_at: Instant,
    },
    /// A NOTIFY's deadline passed: its slot is free, its late ACK will be dropped.
    Expired {
        /// Its stream-id.
        stream_id: u64,
        /// Its frame-id.
        frame_id: u64,
        /// Its value.
        user: T,
    },
    /// An ACK came after its NOTIFY's deadline, and was dropped.
    LateAck {
        /// Its stream-id.
        stream_id: u64,
        /// Its frame-id.
        frame_id: u64,
    },
    /// With `async` agreed (HAProxy <= 3.0): an ACK for a NOTIFY this
    /// connection does not wait on, which may belong to another connection
    /// of the same engine.
    ForeignAck {
        /// Its stream-id.
        stream_id: u64,
        /// Its frame-id.
        frame_id: u64,
        /// The agent's actions, read in place.
        actions: ActionList,
    },
    /// A frame of a type this codec does not know was skipped.
    Skipped(FrameHeader),
    /// The connection ends: no NOTIFY may be sent any more, and every one
    /// still waiting is handed back, oldest first.
    Closing {
        /// Why.
        end: EngineEnd,
        /// The values of the NOTIFY frames that will get no ACK here.
        in_flight: Vec<T>,
        /// At least one ACK came on this connection before (a failure may
        /// then be the stale connection's, not the message's).
        reused: bool,
    },
    /// A frame the agent sent after the connection began to close, ignored.
    Ignored(FrameHeader),
    /// Bytes that are not a valid frame, sent after the connection began to
    /// close: the wait for AGENT-DISCONNECT ends.
    Invalid(DecodeError),
    /// Over: write what is left to transmit, then close the socket.
    Closed {
        /// The agent's AGENT-DISCONNECT answering this side's, when it came.
        reply: Option<Disconnect>,
    },
}

/// Why a NOTIFY was not sent. The value comes back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError<T> {
    /// The handshake is not done, or the connection is closing.
    #[error("the connection does not take NOTIFY frames (handshake not done, or closing)")]
    NotReady(T),
    /// Every slot is taken.
    #[error("every slot of the connection is taken")]
    NoSlot(T),
    /// The NOTIFY would exceed the negotiated max-frame-size.
    #[error("NOTIFY of {len} bytes over max-frame-size {max}")]
    TooBig {
        /// The value.
        user: T,
        /// The frame's length.
        len: usize,
        /// The negotiated limit.
        max: u32,
    },
    /// A NOTIFY with these ids is already waiting.
    #[error("a NOTIFY with these stream-id and frame-id is already in flight")]
    DuplicateIds(T),
}

#[derive(Debug)]
enum State {
    Handshake {
        deadline: Option<Instant>,
    },
    Ready,
    /// HAPROXY-DISCONNECT sent: waiting for AGENT-DISCONNECT until `deadline`.
    Closing {
        deadline: Option<Instant>,
    },
    Closed,
}

/// The engine's end of one connection. See the [module](self) documentation.
#[derive(Debug)]
pub struct EngineConnection<T> {
    config: EngineConfig,
    state: State,
    decoder: FrameDecoder,
    encoder: FrameEncoder,
    agreed: Option<AgentHello>,
    slots: usize,
    in_flight: InFlight<T>,
    cancelled: Cancelled,
    next_stream: u64,
    reused: bool,
    consecutive_timeouts: usize,
    draining: bool,
    idle_since: Instant,
    events: VecDeque<EngineEvent<T>>,
    transmit: BytesMut,
}

impl<T> EngineConnection<T> {
    /// A connection just opened at `now`; its HAPROXY-HELLO is queued.
    pub fn new(config: EngineConfig, now: Instant) -> Self {
        let kv = config.hello.to_kv();
        Self::with_hello_kv(config, kv, now)
    }

    /// A connection whose HELLO is `kv` exactly, for kits that send what
    /// HAProxy never does (missing keys, odd values). The answer is judged
    /// against `config.hello`'s max-frame-size.
    pub fn with_hello_kv(config: EngineConfig, kv: Vec<Kv>, now: Instant) -> Self {
        let mut transmit = BytesMut::new();
        Frame::haproxy_hello_kv(kv).encode(&mut transmit);
        let max = config.hello.max_frame_size;
        Self {
            state: State::Handshake {
                deadline: now.checked_add(config.timeout_hello),
            },
            decoder: FrameDecoder::new(max),
            encoder: FrameEncoder::new(max),
            config,
            agreed: None,
            slots: 0,
            in_flight: InFlight::default(),
            cancelled: Cancelled::default(),
            next_stream: 1,
            reused: false,
            consecutive_timeouts: 0,
            draining: false,
            idle_since: now,
            events: VecDeque::new(),
            transmit,
        }
    }

    /// The AGENT-HELLO, once the handshake is done.
    pub fn agreed(&self) -> Option<&AgentHello> {
        self.agreed.as_ref()
    }

    /// NOTIFY frames allowed in flight at once (0 before the handshake).
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// NOTIFY frames waiting for their ACK.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The handshake is done and the connection takes NOTIFY frames.
    pub fn is_ready(&self) -> bool {
        matches!(self.state, State::Ready)
    }

    /// The connection is over ([`EngineEvent::Closed`]).
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<EngineEvent<T>> {
        self.events.pop_front()
    }

    /// Moves the bytes to send to the end of `dst`; false when there are
    /// none. Frames are whole: write all of `dst` or close.
    pub fn poll_transmit(&mut self, dst: &mut BytesMut) -> bool {
        crate::frame::transmit(&mut self.transmit, dst)
    }

    /// When [`EngineConnection::handle_timeout`] is next due, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Handshake { deadline } | State::Closing { deadline } => *deadline,
            State::Ready => match self.in_flight.next_deadline() {
                Some(at) => Some(at),
                None => self
                    .config
                    .timeout_idle
                    .and_then(|idle| self.idle_since.checked_add(idle)),
            },
            State::Closed => None,
        }
    }

    /// Takes every whole frame at the front of `buf`. Bytes of a partial
    /// frame stay in `buf`, which the decoder reserves room in, up to
    /// max-frame-size.
    pub fn handle_input(&mut self, buf: &mut BytesMut, now: Instant) {
        while !matches!(self.state, State::Closed) {
            if matches!(self.state, State::Ready) {
                match self.take_ack(buf) {
                    Ok(Some((h, actions))) => {
                        self.on_ack(h, actions, now);
                        continue;
                    }
                    Ok(None) => {}
                    Err(e) => return self.refuse(e.status(), e.to_string(), now),
                }
            }
            let frame = match self.decoder.decode(buf) {
                Ok(Some(f)) => f,
                Ok(None) => return,
                Err(e) => {
                    let reason = e.to_string();
                    match self.state {
                        State::Handshake { .. } => {
                            self.fail_handshake(e.status(), reason, true);
                        }
                        State::Ready => self.refuse(e.status(), reason, now),
                        State::Closing { .. } => {
                            self.events.push_back(EngineEvent::Invalid(e));
                            self.finish();
                        }
                        State::Closed => {}
                    }
                    return;
                }
            };
            match self.state {
                State::Handshake { .. } => self.on_hello(frame, now),
                State::Ready => self.on_frame(frame, now),
                State::Closing { .. } => match frame.body {
                    Body::AgentDisconnect(kv) => {
                        let d = Disconnect::from_kv(&kv)
                            .unwrap_or_else(|_| Disconnect::new(Status::UNKNOWN));
                        self.finish_with(Some(d));
                    }
                    _ => self.events.push_back(EngineEvent::Ignored(frame.header)),
                },
                State::Closed => return,
            }
        }
    }

    /// A whole ACK at the front of `buf`, read in place: its actions are
    /// checked there and kept as a slice of the read buffer
    /// ([`ActionList`]), with no owned action built. `None` when the front
    /// is not a whole ACK (the owned decoder then takes it).
    fn take_ack(
        &self,
        buf: &mut BytesMut,
    ) -> Result<Option<(FrameHeader, ActionList)>, DecodeError> {
        let Some(f) = crate::view::split_frame(buf, self.decoder.max_frame_size())? else {
            return Ok(None);
        };
        let h = f.header;
        if h.frame_type != FrameType::ACK || !h.flags.fin() || h.flags.abort() {
            return Ok(None);
        }
        ActionList::check(f.payload, f.payload_offset)?;
        let (offset, len) = (f.payload_offset, f.len);
        let payload = buf.split_to(len).freeze().slice(offset..);
        Ok(Some((h, ActionList::checked(payload, offset))))
    }

    fn on_hello(&mut self, frame: Frame, now: Instant) {
        let offered = self.config.hello.max_frame_size;
        let agent = match frame.body {
            Body::AgentHello(kv) => match AgentHello::from_kv(&kv, offered) {
                Ok(a) => a,
                Err(e) => {
                    let reason = format!("AGENT-HELLO {}: {e}", KvText(&kv));
                    return self.fail_handshake(e.status(), reason, true);
                }
            },
            Body::AgentDisconnect(kv) => {
                let d =
                    Disconnect::from_kv(&kv).unwrap_or_else(|_| Disconnect::new(Status::UNKNOWN));
                self.end(EngineEnd::AgentDisconnect(d));
                return self.finish();
            }
            _ => {
                let reason = format!("expected AGENT-HELLO, got {:?}", frame.header.frame_type);
                return self.fail_handshake(Status::INVALID_FRAME, reason, true);
            }
        };
        self.decoder.set_max_frame_size(agent.max_frame_size);
        self.encoder.set_max_frame_size(agent.max_frame_size);
        self.slots = if self.config.hello.capabilities.pipelining && agent.capabilities.pipelining {
            self.config.max_waiting_frames.max(1)
        } else {
            1
        };
        self.state = State::Ready;
        self.idle_since = now;
        self.agreed = Some(agent.clone());
        self.events.push_back(EngineEvent::Ready(agent));
        if self.config.hello.healthcheck {
            self.close(EngineEnd::HealthCheck, None, now);
        } else {
            self.close_if_drained(now);
        }
    }

    fn on_frame(&mut self, frame: Frame, now: Instant) {
        let h = frame.header;
        match frame.body {
            Body::Ack(actions) => self.on_ack(h, ActionList::from(actions), now),
            Body::Fragment(_) if h.frame_type == FrameType::ACK => self.refuse(
                Status::FRAGMENTATION_NOT_SUPPORTED,
                "an ACK without the FIN flag: fragmented ACKs are not supported".into(),
                now,
            ),
            Body::AgentDisconnect(kv) => {
                let d =
                    Disconnect::from_kv(&kv).unwrap_or_else(|_| Disconnect::new(Status::UNKNOWN));
                self.close(EngineEnd::AgentDisconnect(d), None, now);
            }
            Body::Unknown(_) => self.events.push_back(EngineEvent::Skipped(h)),
            _ => self.refuse(
                Status::INVALID_FRAME,
                format!("unexpected {:?} frame from the agent", h.frame_type),
                now,
            ),
        }
    }

    fn on_ack(&mut self, h: FrameHeader, actions: ActionList, now: Instant) {
        let ids = (h.stream_id, h.frame_id);
        let Some(entry) = self.in_flight.remove(ids) else {
            if self.cancelled.take(ids) {
                self.events.push_back(EngineEvent::LateAck {
                    stream_id: h.stream_id,
                    frame_id: h.frame_id,
                });
            } else if self.agreed.as_ref().is_some_and(|a| a.capabilities.async_)
                && self.config.hello.capabilities.async_
            {
                self.events.push_back(EngineEvent::ForeignAck {
                    stream_id: h.stream_id,
                    frame_id: h.frame_id,
                    actions,
                });
            } else {
                self.refuse(
                    Status::FRAME_ID_NOT_FOUND,
                    format!(
                        "ACK for unknown stream-id {} frame-id {}",
                        h.stream_id, h.frame_id
                    ),
                    now,
                );
            }
            return;
        };
        self.reused = true;
        self.consecutive_timeouts = 0;
        if self.in_flight.is_empty() {
            self.idle_since = now;
        }
        self.events.push_back(EngineEvent::Ack {
            stream_id: h.stream_id,
            frame_id: h.frame_id,
            actions,
            user: entry.user,
            sent_at: entry.sent_at,
        });
        self.close_if_drained(now);
    }

    /// Queues a NOTIFY of `payload` (an encoded LIST-OF-MESSAGES) on the
    /// next stream-id, frame-id 1, as HAProxy 3.1+ does. Its ACK or its
    /// `deadline` gives `user` back. Returns the ids.
    pub fn send_notify(
        &mut self,
        payload: &[u8],
        deadline: Instant,
        user: T,
        now: Instant,
    ) -> Result<(u64, u64), NotifyError<T>> {
        let ids = (self.next_stream, 1);
        self.notify(ids, payload, deadline, user, now)?;
        self.next_stream = self.next_stream.wrapping_add(1);
        Ok(ids)
    }

    /// Queues a NOTIFY with the ids HAProxy 2.x uses: the stream's id, and
    /// a frame-id per event of that stream.
    pub fn send_notify_with_ids(
        &mut self,
        stream_id: u64,
        frame_id: u64,
        payload: &[u8],
        deadline: Instant,
        user: T,
        now: Instant,
    ) -> Result<(), NotifyError<T>> {
        self.notify((stream_id, frame_id), payload, deadline, user, now)
    }

    /// Waits for the ACK of a NOTIFY the caller wrote itself (a kit sending
    /// fragments or raw bytes): as if it had been sent here.
    pub fn expect_ack(
        &mut self,
        stream_id: u64,
        frame_id: u64,
        deadline: Instant,
        user: T,
        now: Instant,
    ) -> Result<(), NotifyError<T>> {
        let ids = (stream_id, frame_id);
        self.admit(ids, user)
            .map(|user| self.track(ids, user, deadline, now))
    }

    fn notify(
        &mut self,
        ids: (u64, u64),
        payload: &[u8],
        deadline: Instant,
        user: T,
        now: Instant,
    ) -> Result<(), NotifyError<T>> {
        let user = self.admit(ids, user)?;
        let header = FrameHeader {
            frame_type: FrameType::NOTIFY,
            flags: Flags::FIN,
            stream_id: ids.0,
            frame_id: ids.1,
        };
        if self
            .encoder
            .encode_with_payload(&header, payload, &mut self.transmit)
            .is_err()
        {
            let len = header.encoded_len().saturating_add(payload.len());
            return Err(NotifyError::TooBig {
                user,
                len,
                max: self.encoder.max_frame_size(),
            });
        }
        self.track(ids, user, deadline, now);
        Ok(())
    }

    fn admit(&self, ids: (u64, u64), user: T) -> Result<T, NotifyError<T>> {
        if !matches!(self.state, State::Ready) || self.draining {
            return Err(NotifyError::NotReady(user));
        }
        if self.in_flight.len() >= self.slots {
            return Err(NotifyError::NoSlot(user));
        }
        if self.in_flight.contains(ids) || self.cancelled.contains(ids) {
            return Err(NotifyError::DuplicateIds(user));
        }
        Ok(user)
    }

    fn track(&mut self, ids: (u64, u64), user: T, deadline: Instant, now: Instant) {
        self.in_flight.insert(ids, user, now, deadline);
    }

    /// Drains: HAPROXY-DISCONNECT 0 as soon as nothing is in flight (now,
    /// if nothing is); no NOTIFY is taken any more.
    pub fn drain(&mut self, now: Instant) {
        self.draining = true;
        if matches!(self.state, State::Handshake { .. }) {
            // Nothing can be in flight yet: it closes once ready.
            return;
        }
        self.close_if_drained(now);
    }

    /// Sends HAPROXY-DISCONNECT `status` now (what is in flight is handed
    /// back) and waits for the agent's AGENT-DISCONNECT.
    pub fn disconnect(&mut self, status: Status, now: Instant) {
        match self.state {
            State::Handshake { .. } => {
                self.fail_handshake(status, "disconnected during the handshake".into(), true);
            }
            State::Ready => self.close(EngineEnd::Disconnected(status), Some(status), now),
            State::Closing { .. } | State::Closed => {}
        }
    }

    /// Stops at once, without goodbye: what is in flight is handed back.
    pub fn abort(&mut self) {
        if matches!(self.state, State::Handshake { .. } | State::Ready) {
            self.end(EngineEnd::Aborted);
        }
        self.finish();
    }

    /// Time passed: the hello, a NOTIFY's deadline, the idle timeout or the
    /// wait for AGENT-DISCONNECT may be due.
    pub fn handle_timeout(&mut self, now: Instant) {
        match &self.state {
            State::Handshake { deadline } if deadline.is_some_and(|d| now >= d) => {
                self.fail_handshake(
                    Status::TIMEOUT,
                    "no AGENT-HELLO within timeout hello".into(),
                    true,
                );
            }
            State::Ready => self.expire(now),
            State::Closing { deadline } if deadline.is_some_and(|d| now >= d) => self.finish(),
            _ => {}
        }
    }

    fn expire(&mut self, now: Instant) {
        while let Some(((stream_id, frame_id), entry)) = self.in_flight.pop_expired(now) {
            self.cancelled.insert((stream_id, frame_id));
            self.consecutive_timeouts = self.consecutive_timeouts.saturating_add(1);
            self.events.push_back(EngineEvent::Expired {
                stream_id,
                frame_id,
                user: entry.user,
            });
            if self.in_flight.is_empty() {
                self.idle_since = now;
            }
        }
        if self.consecutive_timeouts >= self.slots {
            return self.close(EngineEnd::Stalled, Some(Status::TIMEOUT), now);
        }
        if self.in_flight.is_empty()
            && self
                .config
                .timeout_idle
                .and_then(|idle| self.idle_since.checked_add(idle))
                .is_some_and(|at| now >= at)
        {
            return self.close(EngineEnd::Idle, Some(Status::NORMAL), now);
        }
        self.close_if_drained(now);
    }

    /// The agent closed its side (end of stream).
    pub fn handle_eof(&mut self, now: Instant) {
        self.gone("agent closed the connection".into(), now);
    }

    /// Reading failed.
    pub fn handle_read_error(&mut self, e: &io::Error, now: Instant) {
        self.gone(e.to_string(), now);
    }

    /// Writing failed.
    pub fn handle_write_error(&mut self, e: &io::Error, now: Instant) {
        self.gone(format!("write failed: {e}"), now);
    }

    fn gone(&mut self, reason: String, now: Instant) {
        match self.state {
            State::Handshake { .. } => {
                self.end(EngineEnd::Broken(reason));
                self.finish();
            }
            State::Ready => self.close(EngineEnd::Broken(reason), None, now),
            State::Closing { .. } => self.finish(),
            State::Closed => {}
        }
    }

    fn refuse(&mut self, status: Status, reason: String, now: Instant) {
        self.close(EngineEnd::Refused { status, reason }, Some(status), now);
    }

    fn fail_handshake(&mut self, status: Status, reason: String, farewell: bool) {
        if farewell {
            Frame::haproxy_disconnect(&Disconnect::new(status)).encode(&mut self.transmit);
        }
        self.end(EngineEnd::Handshake { status, reason });
        self.finish();
    }

    fn close_if_drained(&mut self, now: Instant) {
        if self.draining && self.in_flight.is_empty() && matches!(self.state, State::Ready) {
            self.close(EngineEnd::Drained, Some(Status::NORMAL), now);
        }
    }

    /// Ends a ready connection: HAPROXY-DISCONNECT `farewell` and a wait for
    /// the agent's answer, or closed at once.
    fn close(&mut self, end: EngineEnd, farewell: Option<Status>, now: Instant) {
        if !matches!(self.state, State::Ready) {
            return;
        }
        self.end(end);
        match farewell {
            Some(status) => {
                Frame::haproxy_disconnect(&Disconnect::new(status)).encode(&mut self.transmit);
                self.state = State::Closing {
                    deadline: now.checked_add(self.config.timeout_hello),
                };
            }
            None => self.finish(),
        }
    }

    /// Hands back what is in flight with [`EngineEvent::Closing`].
    fn end(&mut self, end: EngineEnd) {
        let in_flight = self.in_flight.drain().into_iter().map(|(_, u)| u).collect();
        self.events.push_back(EngineEvent::Closing {
            end,
            in_flight,
            reused: self.reused,
        });
        self.state = State::Closing { deadline: None };
    }

    fn finish(&mut self) {
        self.finish_with(None);
    }

    fn finish_with(&mut self, reply: Option<Disconnect>) {
        if !matches!(self.state, State::Closed) {
            self.state = State::Closed;
            self.events.push_back(EngineEvent::Closed { reply });
        }
    }
}

#[cfg(test)]
mod tests;
