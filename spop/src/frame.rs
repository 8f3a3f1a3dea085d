//! Frames: `<LENGTH: u32 BE> <TYPE: u8> <FLAGS: u32 BE> <STREAM-ID: varint>
//! <FRAME-ID: varint> <PAYLOAD>`, and the encoder that writes them.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::action::{self, Action};
use crate::cursor::{Reader, SliceReader};
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};
use crate::hello::{AgentHello, Disconnect, HaproxyHello};
use crate::kv::{self, Kv};
use crate::message::{self, Message};
use crate::varint;

/// Bytes of the length prefix.
pub const LENGTH_PREFIX: usize = 4;

/// A frame type byte. Unknown types round-trip unchanged.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameType(pub u8);

impl FrameType {
    /// 0: a continuation fragment (HAProxy <= 3.0).
    pub const UNSET: Self = Self(0);
    /// 1: HAPROXY-HELLO.
    pub const HAPROXY_HELLO: Self = Self(1);
    /// 2: HAPROXY-DISCONNECT.
    pub const HAPROXY_DISCONNECT: Self = Self(2);
    /// 3: NOTIFY.
    pub const NOTIFY: Self = Self(3);
    /// 101: AGENT-HELLO.
    pub const AGENT_HELLO: Self = Self(101);
    /// 102: AGENT-DISCONNECT.
    pub const AGENT_DISCONNECT: Self = Self(102);
    /// 103: ACK.
    pub const ACK: Self = Self(103);

    /// The spec's name, or `None` for an unknown type.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::UNSET => "UNSET",
            Self::HAPROXY_HELLO => "HAPROXY-HELLO",
            Self::HAPROXY_DISCONNECT => "HAPROXY-DISCONNECT",
            Self::NOTIFY => "NOTIFY",
            Self::AGENT_HELLO => "AGENT-HELLO",
            Self::AGENT_DISCONNECT => "AGENT-DISCONNECT",
            Self::ACK => "ACK",
            _ => return None,
        })
    }
}

impl fmt::Debug for FrameType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "FrameType({})", self.0),
        }
    }
}

/// Frame flags (a 32-bit big-endian field). Reserved bits round-trip unchanged.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u32);

impl Flags {
    /// Bit 0: last fragment (set on every unfragmented frame).
    pub const FIN: Self = Self(1);
    /// Bit 1: abandon a fragmented payload (sent with FIN).
    pub const ABORT: Self = Self(2);

    /// FIN is set.
    pub fn fin(self) -> bool {
        self.0 & Self::FIN.0 != 0
    }

    /// ABORT is set.
    pub fn abort(self) -> bool {
        self.0 & Self::ABORT.0 != 0
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Flags({:#x}", self.0)?;
        if self.fin() {
            f.write_str(" FIN")?;
        }
        if self.abort() {
            f.write_str(" ABORT")?;
        }
        f.write_str(")")
    }
}

/// Everything before the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameHeader {
    /// The type byte.
    pub frame_type: FrameType,
    /// The flags.
    pub flags: Flags,
    /// Stream-id (0 for HELLO and DISCONNECT).
    pub stream_id: u64,
    /// Frame-id (0 for HELLO and DISCONNECT).
    pub frame_id: u64,
}

impl FrameHeader {
    /// Writes a whole frame made of this header and a payload encoded
    /// beforehand (for instance a NOTIFY's messages, encoded once by the
    /// caller and sent on whichever connection takes it).
    pub fn encode_with_payload(&self, payload: &[u8], dst: &mut BytesMut) {
        let len = self.encoded_len().saturating_add(payload.len());
        dst.reserve(LENGTH_PREFIX.saturating_add(len));
        dst.put_u32(u32::try_from(len).unwrap_or(u32::MAX));
        self.encode(dst);
        dst.put_slice(payload);
    }

    /// Bytes of the header alone (type, flags and both ids).
    pub fn encoded_len(&self) -> usize {
        5usize
            .saturating_add(varint::encoded_len(self.stream_id))
            .saturating_add(varint::encoded_len(self.frame_id))
    }

    fn encode(&self, dst: &mut impl BufMut) {
        dst.put_u8(self.frame_type.0);
        dst.put_u32(self.flags.0);
        varint::encode(self.stream_id, dst);
        varint::encode(self.frame_id, dst);
    }

    /// The one parser of a frame header (type, flags, stream-id,
    /// frame-id), used by [`Frame::decode`] and [`crate::view::split_frame`].
    #[inline]
    pub(crate) fn decode(r: &mut SliceReader<'_>) -> Result<Self, DecodeError> {
        let frame_type = FrameType(r.u8("frame type")?);
        let flags = Flags(u32::from_be_bytes(r.array::<4>("frame flags")?));
        let stream_id = r.varint("stream-id")?;
        let frame_id = r.varint("frame-id")?;
        Ok(Self {
            frame_type,
            flags,
            stream_id,
            frame_id,
        })
    }

    fn control(frame_type: FrameType) -> Self {
        Self {
            frame_type,
            flags: Flags::FIN,
            stream_id: 0,
            frame_id: 0,
        }
    }
}

/// A frame's payload, decoded according to its type and flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// HAPROXY-HELLO's KV list (read it with [`HaproxyHello::from_kv`]).
    HaproxyHello(Vec<Kv>),
    /// HAPROXY-DISCONNECT's KV list (read it with [`Disconnect::from_kv`]).
    HaproxyDisconnect(Vec<Kv>),
    /// AGENT-HELLO's KV list (read it with [`AgentHello::from_kv`]).
    AgentHello(Vec<Kv>),
    /// AGENT-DISCONNECT's KV list (read it with [`Disconnect::from_kv`]).
    AgentDisconnect(Vec<Kv>),
    /// A whole NOTIFY's messages.
    Notify(Vec<Message>),
    /// A whole ACK's actions.
    Ack(Vec<Action>),
    /// Part of a fragmented payload, verbatim: a NOTIFY or ACK without FIN or
    /// with ABORT, or an UNSET continuation. See [`crate::Reassembler`].
    Fragment(Bytes),
    /// A frame type this codec does not know, verbatim.
    Unknown(Bytes),
}

/// One SPOP frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Type, flags and ids. The type must agree with the body's variant; the
    /// constructors below guarantee it.
    pub header: FrameHeader,
    /// The payload.
    pub body: Body,
}

impl Frame {
    /// A HAPROXY-HELLO frame.
    pub fn haproxy_hello(hello: &HaproxyHello) -> Self {
        Self::haproxy_hello_kv(hello.to_kv())
    }

    /// A HAPROXY-HELLO frame of exactly these keys (for kits sending what
    /// HAProxy never does: missing keys, odd values).
    pub fn haproxy_hello_kv(kv: Vec<Kv>) -> Self {
        Self {
            header: FrameHeader::control(FrameType::HAPROXY_HELLO),
            body: Body::HaproxyHello(kv),
        }
    }

    /// An AGENT-HELLO frame.
    pub fn agent_hello(hello: &AgentHello) -> Self {
        Self {
            header: FrameHeader::control(FrameType::AGENT_HELLO),
            body: Body::AgentHello(hello.to_kv()),
        }
    }

    /// A HAPROXY-DISCONNECT frame.
    pub fn haproxy_disconnect(d: &Disconnect) -> Self {
        Self {
            header: FrameHeader::control(FrameType::HAPROXY_DISCONNECT),
            body: Body::HaproxyDisconnect(d.to_kv()),
        }
    }

    /// An AGENT-DISCONNECT frame.
    pub fn agent_disconnect(d: &Disconnect) -> Self {
        Self {
            header: FrameHeader::control(FrameType::AGENT_DISCONNECT),
            body: Body::AgentDisconnect(d.to_kv()),
        }
    }

    /// An unfragmented NOTIFY frame.
    pub fn notify(stream_id: u64, frame_id: u64, messages: Vec<Message>) -> Self {
        Self {
            header: FrameHeader {
                frame_type: FrameType::NOTIFY,
                flags: Flags::FIN,
                stream_id,
                frame_id,
            },
            body: Body::Notify(messages),
        }
    }

    /// An ACK frame.
    pub fn ack(stream_id: u64, frame_id: u64, actions: Vec<Action>) -> Self {
        Self {
            header: FrameHeader {
                frame_type: FrameType::ACK,
                flags: Flags::FIN,
                stream_id,
                frame_id,
            },
            body: Body::Ack(actions),
        }
    }

    /// Length of the payload alone.
    fn payload_len(&self) -> usize {
        match &self.body {
            Body::HaproxyHello(kv)
            | Body::HaproxyDisconnect(kv)
            | Body::AgentHello(kv)
            | Body::AgentDisconnect(kv) => sum_len(kv, Kv::encoded_len),
            Body::Notify(m) => sum_len(m, Message::encoded_len),
            Body::Ack(a) => sum_len(a, Action::encoded_len),
            Body::Fragment(b) | Body::Unknown(b) => b.len(),
        }
    }

    /// The value of the length prefix: the frame's size without the prefix.
    pub fn frame_len(&self) -> usize {
        self.header.encoded_len().saturating_add(self.payload_len())
    }

    /// Bytes [`Frame::encode`] writes, the length prefix included.
    pub fn encoded_len(&self) -> usize {
        LENGTH_PREFIX.saturating_add(self.frame_len())
    }

    /// Writes the whole frame, length prefix first, into one contiguous region
    /// of `dst` (reserved once). Does not check max-frame-size: use
    /// [`FrameEncoder`] on a connection.
    pub fn encode(&self, dst: &mut BytesMut) {
        self.encode_patched(dst);
    }

    /// Writes the frame with a placeholder length, then patches it in: one
    /// pass over the body instead of two. Returns the frame length.
    fn encode_patched(&self, dst: &mut BytesMut) -> usize {
        encode_with(&self.header, dst, |dst| match &self.body {
            Body::HaproxyHello(kv)
            | Body::HaproxyDisconnect(kv)
            | Body::AgentHello(kv)
            | Body::AgentDisconnect(kv) => {
                kv.iter().for_each(|kv| kv.encode(dst));
            }
            Body::Notify(m) => m.iter().for_each(|m| m.encode(dst)),
            Body::Ack(a) => a.iter().for_each(|a| a.encode(dst)),
            Body::Fragment(b) | Body::Unknown(b) => dst.put_slice(b),
        })
    }

    /// Decodes one frame from its bytes after the length prefix (`frame`
    /// holds exactly one frame). Offsets in errors count the prefix.
    pub fn decode(frame: Bytes) -> Result<Self, DecodeError> {
        let mut r = Reader::new(frame, LENGTH_PREFIX);
        let header = r.take(FrameHeader::decode)?;
        let flags = header.flags;
        let whole = flags.fin() && !flags.abort();
        let control = |r: &mut Reader, frame: &'static str| -> Result<Vec<Kv>, DecodeError> {
            if !flags.fin() {
                // Offset of the flags, right after the type byte.
                return Err(DecodeError::new(
                    LENGTH_PREFIX + 1,
                    DecodeErrorKind::FragmentedControlFrame { frame },
                ));
            }
            if header.stream_id != 0 || header.frame_id != 0 {
                return Err(DecodeError::new(
                    LENGTH_PREFIX + 5,
                    DecodeErrorKind::NonZeroIds {
                        frame,
                        stream_id: header.stream_id,
                        frame_id: header.frame_id,
                    },
                ));
            }
            kv::decode_list(r)
        };
        let body = match header.frame_type {
            FrameType::HAPROXY_HELLO => Body::HaproxyHello(control(&mut r, "HAPROXY-HELLO")?),
            FrameType::HAPROXY_DISCONNECT => {
                Body::HaproxyDisconnect(control(&mut r, "HAPROXY-DISCONNECT")?)
            }
            FrameType::AGENT_HELLO => Body::AgentHello(control(&mut r, "AGENT-HELLO")?),
            FrameType::AGENT_DISCONNECT => {
                Body::AgentDisconnect(control(&mut r, "AGENT-DISCONNECT")?)
            }
            FrameType::NOTIFY if whole => Body::Notify(message::decode_list(&mut r)?),
            FrameType::ACK if whole => Body::Ack(action::decode_list(&mut r)?),
            FrameType::NOTIFY | FrameType::ACK | FrameType::UNSET => Body::Fragment(r.rest()),
            _ => Body::Unknown(r.rest()),
        };
        Ok(Self { header, body })
    }
}

/// Moves the bytes queued in `queued` to the end of `dst` (a state
/// machine's `poll_transmit`); false when there are none. When `dst` is
/// empty the two buffers trade places, capacities included: no copy.
pub(crate) fn transmit(queued: &mut BytesMut, dst: &mut BytesMut) -> bool {
    if queued.is_empty() {
        return false;
    }
    if dst.is_empty() {
        std::mem::swap(dst, queued);
    } else {
        dst.extend_from_slice(queued);
        queued.clear();
    }
    true
}

/// Writes `header` and the payload `body` writes, behind a length prefix
/// patched in afterwards. Returns the frame length (prefix excluded).
fn encode_with(
    header: &FrameHeader,
    dst: &mut BytesMut,
    body: impl FnOnce(&mut BytesMut),
) -> usize {
    let start = dst.len();
    dst.put_u32(0);
    header.encode(dst);
    body(dst);
    let len = dst
        .len()
        .saturating_sub(start)
        .saturating_sub(LENGTH_PREFIX);
    let be = u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes();
    if let Some(prefix) = dst.get_mut(start..start.saturating_add(LENGTH_PREFIX)) {
        prefix.copy_from_slice(&be);
    }
    len
}

fn sum_len<T>(items: &[T], len: impl Fn(&T) -> usize) -> usize {
    items.iter().fold(0usize, |n, i| n.saturating_add(len(i)))
}

/// Encodes frames for one connection, refusing any that exceed the negotiated
/// max-frame-size.
#[derive(Debug, Clone)]
pub struct FrameEncoder {
    max_frame_size: u32,
}

impl FrameEncoder {
    /// An encoder bounded by `max_frame_size` (the frame without its prefix).
    pub fn new(max_frame_size: u32) -> Self {
        Self { max_frame_size }
    }

    /// The current bound.
    pub fn max_frame_size(&self) -> u32 {
        self.max_frame_size
    }

    /// Changes the bound (after the handshake).
    pub fn set_max_frame_size(&mut self, max: u32) {
        self.max_frame_size = max;
    }

    /// Appends `frame` to `dst` whole, or nothing on error.
    pub fn encode(&self, frame: &Frame, dst: &mut BytesMut) -> Result<(), EncodeError> {
        if let Body::Notify(m) = &frame.body {
            m.iter().try_for_each(Message::validate)?;
        }
        let start = dst.len();
        let len = frame.encode_patched(dst);
        self.keep_within(start, len, dst)
    }

    /// Appends an ACK of `actions` to `dst` whole, or nothing on error:
    /// [`FrameEncoder::encode`] of [`Frame::ack`] without owning the actions.
    pub fn encode_ack(
        &self,
        stream_id: u64,
        frame_id: u64,
        actions: &[Action],
        dst: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        let header = FrameHeader {
            frame_type: FrameType::ACK,
            flags: Flags::FIN,
            stream_id,
            frame_id,
        };
        let start = dst.len();
        let len = encode_with(&header, dst, |dst| {
            actions.iter().for_each(|a| a.encode(dst))
        });
        self.keep_within(start, len, dst)
    }

    /// Appends a frame made of `header` and a payload encoded beforehand to
    /// `dst` whole, or nothing when it exceeds max-frame-size.
    pub fn encode_with_payload(
        &self,
        header: &FrameHeader,
        payload: &[u8],
        dst: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        let len = header.encoded_len().saturating_add(payload.len());
        if len > self.max_frame_size as usize {
            return Err(EncodeError::FrameTooBig {
                len,
                max: self.max_frame_size,
            });
        }
        header.encode_with_payload(payload, dst);
        Ok(())
    }

    /// Takes back a frame of `len` bytes written at `start` when it exceeds
    /// max-frame-size.
    fn keep_within(&self, start: usize, len: usize, dst: &mut BytesMut) -> Result<(), EncodeError> {
        if len > self.max_frame_size as usize {
            dst.truncate(start);
            return Err(EncodeError::FrameTooBig {
                len,
                max: self.max_frame_size,
            });
        }
        Ok(())
    }
}

/// Reads and checks the length prefix at the front of `src`: `None` when
/// fewer than 4 bytes are there; an error for 0 or above `max`.
pub(crate) fn check_len(src: &[u8], max: u32) -> Result<Option<u32>, DecodeError> {
    let Some(prefix) = src.get(..LENGTH_PREFIX) else {
        return Ok(None);
    };
    let mut be = [0u8; 4];
    be.copy_from_slice(prefix);
    let len = u32::from_be_bytes(be);
    if len == 0 {
        return Err(DecodeError::new(0, DecodeErrorKind::EmptyFrame));
    }
    if len > max {
        return Err(DecodeError::new(
            0,
            DecodeErrorKind::FrameTooBig { len, max },
        ));
    }
    Ok(Some(len))
}

/// Decodes frames incrementally from a connection's read buffer.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_frame_size: u32,
}

impl FrameDecoder {
    /// A decoder that refuses frames longer than `max_frame_size` (the frame
    /// without its prefix).
    pub fn new(max_frame_size: u32) -> Self {
        Self { max_frame_size }
    }

    /// The current bound.
    pub fn max_frame_size(&self) -> u32 {
        self.max_frame_size
    }

    /// Changes the bound (after the handshake).
    pub fn set_max_frame_size(&mut self, max: u32) {
        self.max_frame_size = max;
    }

    /// Reads the length prefix at the front of `src`, if complete, and checks
    /// it. Returns the length of the frame without the prefix.
    pub fn peek_len(&self, src: &[u8]) -> Result<Option<u32>, DecodeError> {
        check_len(src, self.max_frame_size)
    }

    /// Takes one whole frame off the front of `src`.
    ///
    /// Returns `Ok(None)` when more bytes are needed; `src` then has room
    /// reserved for the rest of the frame, which is bounded by max-frame-size
    /// because the length is checked before anything is reserved. After an
    /// error the stream cannot be resynchronised: close the connection with
    /// [`DecodeError::status`].
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        let Some(len) = self.peek_len(src)? else {
            return Ok(None);
        };
        let total = LENGTH_PREFIX.saturating_add(len as usize);
        if let Some(missing) = total.checked_sub(src.len()).filter(|&m| m > 0) {
            src.reserve(missing);
            return Ok(None);
        }
        let mut frame = src.split_to(total).freeze();
        frame = frame.slice(LENGTH_PREFIX..);
        Frame::decode(frame).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::action::VarScope;
    use crate::data::TypedData;
    use crate::hello::Capabilities;
    use crate::status::Status;

    fn round_trip(f: &Frame) -> Frame {
        let mut b = BytesMut::new();
        f.encode(&mut b);
        assert_eq!(b.len(), f.encoded_len());
        let mut d = FrameDecoder::new(u32::MAX);
        let out = d.decode(&mut b).unwrap().unwrap();
        assert!(b.is_empty());
        out
    }

    #[test]
    fn notify_bytes() {
        let f = Frame::notify(
            0,
            1,
            vec![Message::new("check").arg("ip", Ipv4Addr::new(127, 0, 0, 1))],
        );
        let mut b = BytesMut::new();
        f.encode(&mut b);
        let expect: &[u8] = &[
            0, 0, 0, 22, // length
            3, 0, 0, 0, 1, 0, 1, // NOTIFY, FIN, sid 0, fid 1
            5, b'c', b'h', b'e', b'c', b'k', 1, // name, nb-args
            2, b'i', b'p', 6, 127, 0, 0, 1,
        ];
        assert_eq!(&b[..], expect);
        assert_eq!(round_trip(&f), f);
    }

    #[test]
    fn ack_bytes() {
        let f = Frame::ack(
            7,
            300,
            vec![
                Action::set_var(VarScope::Session, "score", 10i32),
                Action::unset_var(VarScope::Request, "tmp"),
            ],
        );
        let mut b = BytesMut::new();
        f.encode(&mut b);
        let expect: &[u8] = &[
            0, 0, 0, 26, 103, 0, 0, 0, 1, 7, 0xfc, 0x03, // ACK FIN sid 7 fid 300
            1, 3, 1, 5, b's', b'c', b'o', b'r', b'e', 2, 10, // SET-VAR sess score INT32 10
            2, 2, 3, 3, b't', b'm', b'p', // UNSET-VAR req tmp
        ];
        assert_eq!(&b[..], expect);
        assert_eq!(round_trip(&f), f);
    }

    #[test]
    fn every_frame_type_round_trips() {
        let hello = HaproxyHello {
            supported_versions: "2.0".into(),
            max_frame_size: 16380,
            capabilities: Capabilities::parse("pipelining,async"),
            healthcheck: true,
            engine_id: Some("id".into()),
        };
        let agent = AgentHello::answer(&hello, 16380, Capabilities::parse("pipelining")).unwrap();
        let frames = [
            Frame::haproxy_hello(&hello),
            Frame::agent_hello(&agent),
            Frame::haproxy_disconnect(&Disconnect::new(Status::NORMAL)),
            Frame::agent_disconnect(&Disconnect::new(Status::IO)),
            Frame::notify(u64::MAX, 0, vec![]),
            Frame::ack(1, 2, vec![]),
            Frame {
                header: FrameHeader {
                    frame_type: FrameType::UNSET,
                    flags: Flags(0),
                    stream_id: 1,
                    frame_id: 2,
                },
                body: Body::Fragment(Bytes::from_static(b"abc")),
            },
            Frame {
                header: FrameHeader {
                    frame_type: FrameType(42),
                    flags: Flags(0xffff_fffc | 1),
                    stream_id: 1,
                    frame_id: 2,
                },
                body: Body::Unknown(Bytes::from_static(b"xyz")),
            },
        ];
        for f in &frames {
            assert_eq!(&round_trip(f), f);
        }
    }

    #[test]
    fn length_is_checked_before_buffering() {
        let mut d = FrameDecoder::new(16380);
        let mut b = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
        let e = d.decode(&mut b).unwrap_err();
        assert_eq!(e.status(), Status::FRAME_TOO_BIG);
        assert!(b.capacity() < 1024, "nothing reserved for a refused length");
        let mut b = BytesMut::from(&[0, 0, 0x3f, 0xfd][..]);
        assert_eq!(
            d.decode(&mut b).unwrap_err().kind,
            DecodeErrorKind::FrameTooBig {
                len: 16381,
                max: 16380
            }
        );
        let mut b = BytesMut::from(&[0, 0, 0, 0][..]);
        assert_eq!(
            d.decode(&mut b).unwrap_err().status(),
            Status::INVALID_FRAME
        );
    }

    #[test]
    fn partial_input_needs_more() {
        let f = Frame::ack(1, 1, vec![Action::set_var(VarScope::Transaction, "a", "b")]);
        let mut full = BytesMut::new();
        f.encode(&mut full);
        let mut d = FrameDecoder::new(16380);
        let mut b = BytesMut::new();
        for (i, byte) in full.iter().enumerate() {
            b.put_u8(*byte);
            let out = d.decode(&mut b).unwrap();
            if i + 1 < full.len() {
                assert!(out.is_none());
            } else {
                assert_eq!(out, Some(f.clone()));
            }
        }
    }

    #[test]
    fn fragments_are_handed_out_raw() {
        let mut f = Frame::notify(1, 1, vec![Message::new("m")]);
        f.header.flags = Flags(0);
        let mut b = BytesMut::new();
        f.encode(&mut b);
        let out = FrameDecoder::new(16380).decode(&mut b).unwrap().unwrap();
        assert_eq!(out.body, Body::Fragment(Bytes::from_static(&[1, b'm', 0])));
    }

    #[test]
    fn control_frames_must_be_whole_with_zero_ids() {
        let mut f = Frame::agent_disconnect(&Disconnect::new(Status::NORMAL));
        f.header.stream_id = 3;
        let mut b = BytesMut::new();
        f.encode(&mut b);
        let e = FrameDecoder::new(16380).decode(&mut b).unwrap_err();
        assert!(matches!(e.kind, DecodeErrorKind::NonZeroIds { .. }));
        let mut f = Frame::haproxy_hello(&HaproxyHello {
            supported_versions: "2.0".into(),
            max_frame_size: 16380,
            capabilities: Capabilities::default(),
            healthcheck: false,
            engine_id: None,
        });
        f.header.flags = Flags(0);
        let mut b = BytesMut::new();
        f.encode(&mut b);
        let e = FrameDecoder::new(16380).decode(&mut b).unwrap_err();
        assert!(matches!(
            e.kind,
            DecodeErrorKind::FragmentedControlFrame { .. }
        ));
    }

    #[test]
    fn unknown_action_ends_the_list() {
        let mut b = BytesMut::new();
        Frame {
            header: FrameHeader {
                frame_type: FrameType::ACK,
                flags: Flags::FIN,
                stream_id: 1,
                frame_id: 1,
            },
            body: Body::Unknown(Bytes::from_static(&[2, 2, 0, 1, b'x', 9, 1, 2, 3])),
        }
        .encode(&mut b);
        let out = FrameDecoder::new(16380).decode(&mut b).unwrap().unwrap();
        assert_eq!(
            out.body,
            Body::Ack(vec![
                Action::unset_var(VarScope::Process, "x"),
                Action::Unknown {
                    action_type: 9,
                    rest: Bytes::from_static(&[1, 2, 3])
                }
            ])
        );
    }

    #[test]
    fn malformed_actions_are_invalid() {
        let ack = |payload: &'static [u8]| {
            let mut b = BytesMut::new();
            Frame {
                header: FrameHeader {
                    frame_type: FrameType::ACK,
                    flags: Flags::FIN,
                    stream_id: 1,
                    frame_id: 1,
                },
                body: Body::Unknown(Bytes::from_static(payload)),
            }
            .encode(&mut b);
            FrameDecoder::new(16380).decode(&mut b).unwrap_err()
        };
        assert!(matches!(
            ack(&[1, 2, 0, 1, b'x']).kind,
            DecodeErrorKind::BadActionArgs { .. }
        ));
        assert!(matches!(
            ack(&[1, 3, 5, 1, b'x', 0]).kind,
            DecodeErrorKind::UnknownScope { scope: 5 }
        ));
        let e = ack(&[1, 3, 0, 1, b'x', 0x0c]);
        assert_eq!(e.kind, DecodeErrorKind::UnknownDataType { byte: 0x0c });
        assert_eq!(e.offset, 16, "offset of the bad type byte from the prefix");
    }

    #[test]
    fn int64_negative_in_ack() {
        let f = Frame::ack(
            1,
            1,
            vec![Action::set_var(
                VarScope::Transaction,
                "n",
                TypedData::Int64(-1),
            )],
        );
        assert_eq!(round_trip(&f), f);
    }
}
