//! The engine's end of one connection to the agent under test: HAProxy's
//! engine is `spop`'s own state machine (driven by `spop_io::EnginePeer`),
//! and what the agent does is described for the report.
//!
//! Before a handshake, frames go out and come back as they are (to send
//! what HAProxy never does and see how the agent refuses it); from the
//! handshake on, the state machine judges the agent as HAProxy would, and
//! what it refuses is an [`Event::Refused`] with HAProxy's status.

use std::fmt;
use std::io;
use std::time::Duration;

use spop::engine::{EngineConfig, EngineEnd, EngineEvent};
use spop::{
    AgentHello, Body, Disconnect, Frame, FrameType, HaproxyHello, Kv, KvText, Message, Status,
};
use spop_io::Addr;
use spop_io::{EnginePeer, HandshakeFailed, ReadError};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

/// How long the state machine itself waits (for an AGENT-HELLO, an ACK, an
/// AGENT-DISCONNECT): longer than any case, whose own deadline decides.
const ENGINE_PATIENCE: Duration = Duration::from_secs(3600);

/// Why a step with the agent could not go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// The connection could not be opened.
    // OS errors are said in the messages and are not the errors' `source`:
    // a chain printer would say them twice.
    #[error("connecting to {target}: {error}")]
    Connect {
        /// The agent.
        target: String,
        /// The OS error.
        error: io::Error,
    },
    /// Writing failed (the agent reset or closed the connection).
    #[error("writing {what}: {error}")]
    Write {
        /// What was being written.
        what: &'static str,
        /// The OS error.
        error: io::Error,
    },
    /// The agent's answer was not the one the case needs.
    #[error("expected {expected}, got {got}")]
    Unexpected {
        /// What the case waited for.
        expected: &'static str,
        /// What came instead.
        got: String,
    },
}

/// What came from the agent.
#[derive(Debug)]
pub enum Event {
    /// A whole frame: before the handshake as it came; after it, as HAProxy's
    /// engine accepted it (an ACK, AGENT-DISCONNECT, a skipped type).
    Frame(Frame),
    /// Something HAProxy's engine refuses (a frame above the negotiated
    /// max-frame-size, without FIN, with unknown ids, or invalid): it closes
    /// the connection with `status`.
    Refused {
        /// The status of HAProxy's HAPROXY-DISCONNECT.
        status: Status,
        /// What the agent sent.
        reason: String,
    },
    /// The agent closed its side (EOF). `pending` bytes of an unfinished frame were left.
    Closed {
        /// Bytes of an incomplete frame received before the close.
        pending: usize,
    },
    /// Reading failed (a reset).
    Reset(String),
    /// Bytes that are not a valid frame.
    Garbage(String),
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Frame(frame) => f.write_str(&describe(frame)),
            Self::Refused { status, reason } => {
                write!(f, "{reason} (HAProxy disconnects with status {})", status.0)
            }
            Self::Closed { pending: 0 } => f.write_str("the connection closed"),
            Self::Closed { pending } => {
                write!(
                    f,
                    "the connection closed after {pending} bytes of an incomplete frame"
                )
            }
            Self::Reset(e) => write!(f, "the connection failed: {e}"),
            Self::Garbage(e) => write!(f, "bytes that are not a frame: {e}"),
        }
    }
}

/// One frame in a few words: its type, ids and the gist of its payload.
pub(crate) fn describe(frame: &Frame) -> String {
    let h = &frame.header;
    let kind = h
        .frame_type
        .name()
        .map_or_else(|| format!("frame type {}", h.frame_type.0), str::to_owned);
    match &frame.body {
        Body::AgentDisconnect(kv) | Body::HaproxyDisconnect(kv) => match Disconnect::from_kv(kv) {
            Ok(d) => format!("{kind} status {} ({:?})", d.status.0, d.message),
            Err(e) => format!("{kind} with a bad payload ({e})"),
        },
        Body::Ack(actions) => format!(
            "ACK stream-id {} frame-id {} with {} action(s)",
            h.stream_id,
            h.frame_id,
            actions.len()
        ),
        Body::AgentHello(kv) => format!("{kind} {}", KvText(kv)),
        _ => format!(
            "{kind} stream-id {} frame-id {} flags {:#x}",
            h.stream_id, h.frame_id, h.flags.0
        ),
    }
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

impl fmt::Debug for dyn Io {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Io")
    }
}

/// The engine's end of one connection to the agent.
#[derive(Debug)]
pub struct Peer {
    peer: EnginePeer<Box<dyn Io>>,
    /// The max-frame-size the handshake settled, once it did.
    pub negotiated: Option<u32>,
    /// What the agent sent that HAProxy would refuse, in order.
    pub violations: Vec<String>,
}

impl Peer {
    /// Opens a connection (TCP with `TCP_NODELAY`, as HAProxy does).
    pub async fn connect(target: &Addr) -> Result<Self, PeerError> {
        let io = target.connect().await.map_err(|error| PeerError::Connect {
            target: target.to_string(),
            error,
        })?;
        Ok(Self::over(Box::new(io)))
    }

    /// Opens a TCP connection that ends with a reset (SO_LINGER 0) when
    /// dropped, as HAProxy 3.1+ closes after the last ACK. `None` on a Unix
    /// socket, which cannot be reset.
    pub async fn connect_resettable(target: &Addr) -> Result<Option<Self>, PeerError> {
        let Addr::Tcp(a) = target else {
            return Ok(None);
        };
        let connect_err = |error| PeerError::Connect {
            target: target.to_string(),
            error,
        };
        let s = tokio::net::TcpStream::connect(a)
            .await
            .map_err(connect_err)?;
        s.set_nodelay(true).map_err(connect_err)?;
        // SO_LINGER 0: closing sends RST instead of FIN.
        s.set_zero_linger().map_err(connect_err)?;
        Ok(Some(Self::over(Box::new(s))))
    }

    fn over(io: Box<dyn Io>) -> Self {
        Self {
            peer: EnginePeer::new(io),
            negotiated: None,
            violations: Vec::new(),
        }
    }

    /// Writes bytes as they are, in one write. After the handshake, the ACK
    /// of each NOTIFY among them (whole, or the first of its fragments) is
    /// awaited as HAProxy's own, so that an agent answering it is seen
    /// answering, not breaking the protocol.
    pub async fn send_raw(&mut self, bytes: &[u8], what: &'static str) -> Result<(), PeerError> {
        let mut at = 0;
        while let Some(Ok(Some(f))) = bytes
            .get(at..)
            .map(|b| spop::view::split_frame(b, u32::MAX))
        {
            let h = f.header;
            if h.frame_type == FrameType::NOTIFY && !h.flags.abort() {
                self.expect_ack(h.stream_id, h.frame_id);
            }
            at += f.len;
        }
        self.peer
            .send_raw(bytes)
            .await
            .map_err(|error| PeerError::Write { what, error })
    }

    /// Writes one frame as it is (no max-frame-size check: cases send
    /// oversized frames on purpose). After the handshake, the ACK of a
    /// NOTIFY sent this way is awaited as HAProxy's own.
    pub async fn send(&mut self, frame: &Frame, what: &'static str) -> Result<(), PeerError> {
        let deadline = Instant::now() + ENGINE_PATIENCE;
        self.peer
            .send_frame(frame, deadline)
            .await
            .map_err(|error| PeerError::Write { what, error })
    }

    /// After the handshake: the ACK of a NOTIFY the case writes itself with
    /// [`Peer::send_raw`] is awaited as HAProxy's own.
    pub fn expect_ack(&mut self, stream_id: u64, frame_id: u64) {
        let now = Instant::now();
        if let Some(conn) = self.peer.connection_mut() {
            let _ = conn.expect_ack(
                stream_id,
                frame_id,
                (now + ENGINE_PATIENCE).into_std(),
                (),
                now.into_std(),
            );
        }
    }

    /// Queues one NOTIFY with these ids (HAProxy 2.x's: the stream's, and a
    /// frame-id per event), written with the next [`Peer::flush`].
    pub fn queue_notify(
        &mut self,
        stream_id: u64,
        frame_id: u64,
        messages: &[Message],
    ) -> Result<(), PeerError> {
        let mut payload = bytes::BytesMut::new();
        messages.iter().for_each(|m| m.encode(&mut payload));
        let now = Instant::now();
        let conn = self.peer.connection_mut().ok_or(PeerError::Unexpected {
            expected: "a handshake before a NOTIFY",
            got: "none".into(),
        })?;
        conn.send_notify_with_ids(
            stream_id,
            frame_id,
            &payload,
            (now + ENGINE_PATIENCE).into_std(),
            (),
            now.into_std(),
        )
        .map_err(|e| PeerError::Unexpected {
            expected: "a NOTIFY HAProxy would send",
            got: e.to_string(),
        })
    }

    /// Writes what is queued.
    pub async fn flush(&mut self, what: &'static str) -> Result<(), PeerError> {
        self.peer
            .flush()
            .await
            .map_err(|error| PeerError::Write { what, error })
    }

    /// Sends HAPROXY-DISCONNECT status 0 (after what is queued) and waits for
    /// the agent's answer as HAProxy does; [`Peer::next`] tells what came.
    pub async fn disconnect(&mut self) -> Result<(), PeerError> {
        let now = Instant::now().into_std();
        match self.peer.connection_mut() {
            Some(conn) => conn.disconnect(Status::NORMAL, now),
            None => {
                let bye = Frame::haproxy_disconnect(&Disconnect::new(Status::NORMAL));
                return self.send(&bye, "HAPROXY-DISCONNECT").await;
            }
        }
        self.flush("HAPROXY-DISCONNECT").await
    }

    /// Closes the write side (the agent reads EOF).
    pub async fn shutdown_write(&mut self) {
        let _ = self.peer.shutdown_write().await;
    }

    /// The next thing the agent does (an ACK is counted in the run's
    /// verdicts).
    pub async fn next(&mut self) -> Event {
        let event = self.next_event().await;
        if let Event::Frame(frame) = &event {
            crate::verdicts::record(frame);
        }
        event
    }

    async fn next_event(&mut self) -> Event {
        loop {
            if self.peer.connection().is_none() {
                return self.next_raw().await;
            }
            // Once the state machine is over (and its events told), what
            // the agent still sends is read as it is.
            let event = match self.peer.next_event().await {
                Ok(Some(e)) => e,
                Ok(None) => return self.next_raw().await,
                Err(e) => return Event::Reset(e.to_string()),
            };
            if let Some(seen) = self.seen(event) {
                return seen;
            }
        }
    }

    async fn next_raw(&mut self) -> Event {
        match self.peer.recv_frame().await {
            Ok(Some(frame)) => {
                self.check(&frame);
                Event::Frame(frame)
            }
            Ok(None) => Event::Closed { pending: 0 },
            Err(ReadError::Truncated { buffered }) => Event::Closed { pending: buffered },
            Err(ReadError::Decode(e)) => Event::Garbage(e.to_string()),
            Err(e) => Event::Reset(e.to_string()),
        }
    }

    /// Before the handshake: frames HAProxy would refuse, noted.
    fn check(&mut self, frame: &Frame) {
        if !frame.header.flags.fin() {
            self.violations
                .push(format!("{} without the FIN flag", describe(frame)));
        }
    }

    /// What the state machine saw, as the case reads it; `None` for what
    /// only concerns the engine.
    fn seen(&mut self, event: EngineEvent<()>) -> Option<Event> {
        Some(match event {
            EngineEvent::Ack {
                stream_id,
                frame_id,
                actions,
                ..
            }
            | EngineEvent::ForeignAck {
                stream_id,
                frame_id,
                actions,
            } => Event::Frame(Frame::ack(stream_id, frame_id, actions.to_vec())),
            EngineEvent::Skipped(header) | EngineEvent::Ignored(header) => Event::Frame(Frame {
                header,
                body: if header.frame_type == FrameType::ACK {
                    Body::Ack(Vec::new())
                } else {
                    Body::Unknown(bytes::Bytes::new())
                },
            }),
            EngineEvent::Invalid(e) => {
                self.violations.push(e.to_string());
                Event::Refused {
                    status: e.status(),
                    reason: e.to_string(),
                }
            }
            EngineEvent::Closed { reply: Some(d) } => Event::Frame(Frame::agent_disconnect(&d)),
            EngineEvent::Closing { end, .. } => match end {
                EngineEnd::AgentDisconnect(d) => Event::Frame(Frame::agent_disconnect(&d)),
                EngineEnd::Refused { status, reason } | EngineEnd::Handshake { status, reason } => {
                    self.violations.push(reason.clone());
                    Event::Refused { status, reason }
                }
                EngineEnd::Broken(reason) if reason == "agent closed the connection" => {
                    Event::Closed {
                        pending: self.peer.buffered(),
                    }
                }
                EngineEnd::Broken(reason) => Event::Reset(reason),
                _ => return None,
            },
            EngineEvent::Ready(_)
            | EngineEvent::Expired { .. }
            | EngineEvent::LateAck { .. }
            | EngineEvent::Closed { reply: None } => return None,
        })
    }

    /// The next event, which must be a frame.
    pub async fn frame(&mut self, expected: &'static str) -> Result<Frame, PeerError> {
        match self.next().await {
            Event::Frame(f) => Ok(f),
            other => Err(PeerError::Unexpected {
                expected,
                got: other.to_string(),
            }),
        }
    }

    /// Sends a HAPROXY-HELLO made of `kv`, as it is, and returns the agent's
    /// first answer (read as it is: the case judges it).
    pub async fn hello_kv(&mut self, kv: Vec<Kv>) -> Result<Event, PeerError> {
        self.send(&Frame::haproxy_hello_kv(kv), "HAPROXY-HELLO")
            .await?;
        Ok(self.next().await)
    }

    /// A handshake with `hello` through HAProxy's state machine: the
    /// agent's AGENT-HELLO, judged with HAProxy's rules. The negotiated
    /// max-frame-size is kept.
    pub async fn handshake(&mut self, hello: &HaproxyHello) -> Result<AgentHello, PeerError> {
        self.handshake_kv(hello, hello.to_kv()).await
    }

    /// [`Peer::handshake`] with a HELLO made of `kv`, the answer judged
    /// against `hello`'s offer.
    pub async fn handshake_kv(
        &mut self,
        hello: &HaproxyHello,
        kv: Vec<Kv>,
    ) -> Result<AgentHello, PeerError> {
        let mut config = EngineConfig::new(hello.clone());
        config.timeout_hello = ENGINE_PATIENCE;
        match self.peer.handshake_kv(config, kv).await {
            Ok(answer) => {
                self.negotiated = Some(answer.max_frame_size);
                Ok(answer)
            }
            Err(HandshakeFailed::Io(error)) => Err(PeerError::Write {
                what: "HAPROXY-HELLO",
                error,
            }),
            Err(HandshakeFailed::Ended(end)) => Err(PeerError::Unexpected {
                expected: "an AGENT-HELLO HAProxy accepts",
                got: match self.seen(EngineEvent::Closing {
                    end,
                    in_flight: Vec::new(),
                    reused: false,
                }) {
                    Some(Event::Refused { status, reason }) => format!(
                        "{reason} (HAProxy, having offered {}, disconnects with status {})",
                        hello.max_frame_size, status.0
                    ),
                    Some(other) => other.to_string(),
                    None => "the end of the connection".to_owned(),
                },
            }),
            Err(e) => Err(PeerError::Unexpected {
                expected: "an AGENT-HELLO HAProxy accepts",
                got: e.to_string(),
            }),
        }
    }

    /// Sends one NOTIFY and waits for its ACK (same ids), returning the ACK.
    pub async fn notify(
        &mut self,
        stream_id: u64,
        frame_id: u64,
        messages: Vec<Message>,
    ) -> Result<Frame, PeerError> {
        self.queue_notify(stream_id, frame_id, &messages)?;
        self.flush("NOTIFY").await?;
        let frame = self.frame("an ACK").await?;
        check_ack(&frame, stream_id, frame_id)?;
        Ok(frame)
    }

    /// Waits until the agent closes the connection, skipping frames; returns
    /// the frames seen before the close.
    pub async fn until_closed(&mut self) -> (Vec<Frame>, Event) {
        let mut frames = Vec::new();
        loop {
            match self.next().await {
                Event::Frame(f) => frames.push(f),
                end => return (frames, end),
            }
        }
    }
}

/// Checks that `frame` is the ACK of NOTIFY (`stream_id`, `frame_id`).
pub(crate) fn check_ack(frame: &Frame, stream_id: u64, frame_id: u64) -> Result<(), PeerError> {
    let h = &frame.header;
    if h.frame_type != FrameType::ACK {
        return Err(PeerError::Unexpected {
            expected: "an ACK",
            got: describe(frame),
        });
    }
    if (h.stream_id, h.frame_id) != (stream_id, frame_id) {
        return Err(PeerError::Unexpected {
            expected: "an ACK with the NOTIFY's stream-id and frame-id",
            got: format!(
                "ACK stream-id {} frame-id {} for NOTIFY stream-id {stream_id} frame-id {frame_id}",
                h.stream_id, h.frame_id
            ),
        });
    }
    Ok(())
}
