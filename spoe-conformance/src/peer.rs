//! The engine's end of one connection: raw bytes out, decoded frames in, and a
//! record of what the agent sent that HAProxy would not accept.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::str::FromStr;

use bytes::BytesMut;
use spop::{
    AgentHello, Body, Disconnect, Flags, Frame, FrameDecoder, FrameHeader, FrameType, HaproxyHello,
    Kv, Message,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Where the agent listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// TCP.
    Tcp(SocketAddr),
    /// A Unix socket path.
    Unix(PathBuf),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(a) => write!(f, "{a}"),
            Self::Unix(p) => write!(f, "unix@{}", p.display()),
        }
    }
}

impl FromStr for Target {
    type Err = String;

    /// `IP:PORT`, `unix@PATH` or `unix:PATH` (host names are resolved by the caller).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(p) = s.strip_prefix("unix@").or_else(|| s.strip_prefix("unix:")) {
            return Ok(Self::Unix(PathBuf::from(p)));
        }
        s.parse()
            .map(Self::Tcp)
            .map_err(|_| format!("agent address {s:?}: expected IP:PORT or unix@PATH"))
    }
}

/// Frames larger than this are not buffered even to report them: the length
/// alone is reported.
const READ_LIMIT: u32 = 1 << 20;

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
    /// A whole frame.
    Frame(Frame),
    /// The agent closed its side (EOF). `pending` bytes of an unfinished frame were left.
    Closed {
        /// Bytes of an incomplete frame received before the close.
        pending: usize,
    },
    /// Reading failed (a reset).
    Reset(io::Error),
    /// Bytes that are not a valid frame.
    Garbage(String),
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Frame(frame) => f.write_str(&describe(frame)),
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
        Body::AgentHello(kv) => {
            let keys: Vec<String> = kv
                .iter()
                .map(|k| {
                    format!(
                        "{}={}",
                        String::from_utf8_lossy(&k.name),
                        value_text(&k.value)
                    )
                })
                .collect();
            format!("{kind} {}", keys.join(" "))
        }
        _ => format!(
            "{kind} stream-id {} frame-id {} flags {:#x}",
            h.stream_id, h.frame_id, h.flags.0
        ),
    }
}

/// A typed value as a person reads it: strings quoted, numbers bare.
fn value_text(v: &spop::TypedData) -> String {
    use spop::TypedData as T;
    match v {
        T::Null => "NULL".to_owned(),
        T::Bool(b) => b.to_string(),
        T::Int32(i) => i.to_string(),
        T::Uint32(i) => i.to_string(),
        T::Int64(i) => i.to_string(),
        T::Uint64(i) => i.to_string(),
        T::Ipv4(a) => a.to_string(),
        T::Ipv6(a) => a.to_string(),
        T::Str(b) => format!("{:?}", String::from_utf8_lossy(b)),
        T::Bin(b) => format!("{} bytes", b.len()),
    }
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// The engine's end of one connection to the agent.
pub struct Peer {
    io: Pin<Box<dyn Io>>,
    tcp: Option<SocketAddr>,
    buf: BytesMut,
    decoder: FrameDecoder,
    /// The max-frame-size the handshake settled, once it did.
    pub negotiated: Option<u32>,
    /// What the agent sent that HAProxy would refuse (oversized frames, frames
    /// without FIN), in order.
    pub violations: Vec<String>,
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer")
            .field("tcp", &self.tcp)
            .field("negotiated", &self.negotiated)
            .finish_non_exhaustive()
    }
}

impl Peer {
    /// Opens a connection (TCP with `TCP_NODELAY`, as HAProxy does).
    pub async fn connect(target: &Target) -> Result<Self, PeerError> {
        let connect_err = |error| PeerError::Connect {
            target: target.to_string(),
            error,
        };
        let (io, tcp): (Pin<Box<dyn Io>>, _) = match target {
            Target::Tcp(a) => {
                let s = tokio::net::TcpStream::connect(a)
                    .await
                    .map_err(connect_err)?;
                s.set_nodelay(true).map_err(connect_err)?;
                (Box::pin(s), Some(*a))
            }
            Target::Unix(p) => {
                let s = tokio::net::UnixStream::connect(p)
                    .await
                    .map_err(connect_err)?;
                (Box::pin(s), None)
            }
        };
        Ok(Self {
            io,
            tcp,
            buf: BytesMut::with_capacity(16 * 1024),
            decoder: FrameDecoder::new(READ_LIMIT),
            negotiated: None,
            violations: Vec::new(),
        })
    }

    /// Opens a TCP connection that ends with a reset (SO_LINGER 0) when
    /// dropped, as HAProxy 3.1+ closes after the last ACK. `None` on a Unix
    /// socket, which cannot be reset.
    pub async fn connect_resettable(target: &Target) -> Result<Option<Self>, PeerError> {
        let Target::Tcp(a) = target else {
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
        Ok(Some(Self {
            io: Box::pin(s),
            tcp: Some(*a),
            buf: BytesMut::new(),
            decoder: FrameDecoder::new(READ_LIMIT),
            negotiated: None,
            violations: Vec::new(),
        }))
    }

    /// Writes bytes as they are, in one write.
    pub async fn send_raw(&mut self, bytes: &[u8], what: &'static str) -> Result<(), PeerError> {
        self.io
            .write_all(bytes)
            .await
            .map_err(|error| PeerError::Write { what, error })
    }

    /// Writes one frame (no max-frame-size check: cases send oversized frames
    /// on purpose).
    pub async fn send(&mut self, frame: &Frame, what: &'static str) -> Result<(), PeerError> {
        let mut out = BytesMut::new();
        frame.encode(&mut out);
        self.send_raw(&out, what).await
    }

    /// Closes the write side (the agent reads EOF).
    pub async fn shutdown_write(&mut self) {
        let _ = self.io.shutdown().await;
    }

    /// The next thing the agent does. Frames are checked against the
    /// negotiated max-frame-size and for FIN; breaches go to `violations`.
    pub async fn next(&mut self) -> Event {
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(frame)) => {
                    self.check(&frame);
                    return Event::Frame(frame);
                }
                Ok(None) => {}
                Err(e) => return Event::Garbage(e.to_string()),
            }
            match self.io.read_buf(&mut self.buf).await {
                Ok(0) => {
                    return Event::Closed {
                        pending: self.buf.len(),
                    };
                }
                Ok(_) => {}
                Err(e) => return Event::Reset(e),
            }
        }
    }

    fn check(&mut self, frame: &Frame) {
        crate::tally(frame);
        let len = frame.frame_len();
        if let Some(max) = self.negotiated
            && len > max as usize
        {
            self.violations.push(format!(
                "{} of {len} bytes above the negotiated max-frame-size {max}",
                describe(frame)
            ));
        }
        if !frame.header.flags.fin() {
            self.violations
                .push(format!("{} without the FIN flag", describe(frame)));
        }
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

    /// Sends a HAPROXY-HELLO made of `kv` and returns the agent's first frame.
    pub async fn hello_kv(&mut self, kv: Vec<Kv>) -> Result<Event, PeerError> {
        self.send(&hello_frame(kv), "HAPROXY-HELLO").await?;
        Ok(self.next().await)
    }

    /// A whole handshake with `hello`: the agent's AGENT-HELLO read with
    /// HAProxy's rules. The negotiated max-frame-size is kept.
    pub async fn handshake(&mut self, hello: &HaproxyHello) -> Result<AgentHello, PeerError> {
        let event = self.hello_kv(hello.to_kv()).await?;
        let Event::Frame(frame) = event else {
            return Err(PeerError::Unexpected {
                expected: "AGENT-HELLO",
                got: event.to_string(),
            });
        };
        let Body::AgentHello(kv) = &frame.body else {
            return Err(PeerError::Unexpected {
                expected: "AGENT-HELLO",
                got: describe(&frame),
            });
        };
        let answer =
            AgentHello::from_kv(kv, hello.max_frame_size).map_err(|e| PeerError::Unexpected {
                expected: "an AGENT-HELLO HAProxy accepts",
                got: format!(
                    "{} ({e}; HAProxy disconnects with status {})",
                    describe(&frame),
                    e.status().0
                ),
            })?;
        self.negotiated = Some(answer.max_frame_size);
        Ok(answer)
    }

    /// Sends one NOTIFY and waits for its ACK (same ids), returning the ACK.
    pub async fn notify(
        &mut self,
        stream_id: u64,
        frame_id: u64,
        messages: Vec<Message>,
    ) -> Result<Frame, PeerError> {
        self.send(&Frame::notify(stream_id, frame_id, messages), "NOTIFY")
            .await?;
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

/// A HAPROXY-HELLO frame with exactly `kv`.
pub(crate) fn hello_frame(kv: Vec<Kv>) -> Frame {
    Frame {
        header: FrameHeader {
            frame_type: FrameType::HAPROXY_HELLO,
            flags: Flags::FIN,
            stream_id: 0,
            frame_id: 0,
        },
        body: Body::HaproxyHello(kv),
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
    if let Body::Fragment(_) = frame.body {
        return Err(PeerError::Unexpected {
            expected: "a whole ACK (FIN set)",
            got: describe(frame),
        });
    }
    Ok(())
}
