//! SPOP 2.0, the wire protocol between HAProxy's Stream Processing Offload
//! Engine and its agents, as a sans-IO codec.
//!
//! ```text
//!   bytes from a socket                                 bytes to a socket
//!          |                                                    ^
//!          v                                                    |
//!   FrameDecoder::decode(&mut BytesMut)          FrameEncoder::encode(&Frame, &mut BytesMut)
//!          |   (length checked against max-frame-size           ^
//!          |    before a byte is buffered)                      |
//!          v                                                    |
//!        Frame { header, body: Notify | Ack | HaproxyHello | ... }
//!          |                                                    ^
//!          v                                                    |
//!   HaproxyHello::from_kv / AgentHello::answer / Reassembler::push  (pure rules)
//! ```
//!
//! Above the codec, the two ends of a connection as state machines without
//! I/O, in the shape of quinn-proto's `Connection` (bytes in, events and
//! bytes out, time passed in): [`agent::AgentConnection`] (handshake,
//! pipelined NOTIFY frames handed out and answered, drain, limits) and
//! [`engine::EngineConnection`] (HELLO, NOTIFY with ids and deadlines, ACK
//! matching, health checks, DISCONNECT, HAProxy 2.x and 3.x behaviours).
//!
//! Everything is pure: the runtimes (`spoa`, `spoe`) move bytes and own time.
//! Decoding never panics, whatever the input; strings and binaries are
//! slices of the frame's buffer, not copies.
//!
//! ```
//! use bytes::BytesMut;
//! use spop::{Action, Body, Frame, FrameDecoder, Message, VarScope};
//!
//! let mut wire = BytesMut::new();
//! Frame::notify(1, 1, vec![Message::new("check").arg("ip", std::net::Ipv4Addr::LOCALHOST)]).encode(&mut wire);
//!
//! let mut decoder = FrameDecoder::new(16380);
//! let frame = decoder.decode(&mut wire).unwrap().expect("a whole frame");
//! let Body::Notify(messages) = &frame.body else { unreachable!() };
//! assert_eq!(messages[0].get("ip").and_then(|v| v.as_ip()), Some("127.0.0.1".parse().unwrap()));
//!
//! let mut out = BytesMut::new();
//! Frame::ack(1, 1, vec![Action::set_var(VarScope::Session, "score", 10)]).encode(&mut out);
//! ```
//!
//! What this crate does not do: I/O (see the `spop-io` crate for the async
//! reader, writer and addresses), timers (it says when it wants to be woken),
//! or deciding what to do with a message. It does not send fragmented frames;
//! it only reassembles fragments from older engines ([`Reassembler`]).

#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

mod action;
pub mod agent;
pub mod convert;
mod cursor;
mod data;
pub mod engine;
mod error;
mod frame;
mod hello;
mod kv;
mod message;
mod reassembly;
mod sniff;
mod status;
pub mod varint;
pub mod view;

pub use action::{ACTION_SET_VAR, ACTION_UNSET_VAR, Action, ActionList, VarScope};
pub use convert::{ArgError, TypeError};
pub use data::{DataType, TypedData};
pub use error::{DecodeError, DecodeErrorKind, EncodeError};
pub use frame::{
    Body, Flags, Frame, FrameDecoder, FrameEncoder, FrameHeader, FrameType, LENGTH_PREFIX,
};
pub use hello::{
    AgentHello, Capabilities, Disconnect, HAPROXY_DEFAULT_FRAME_SIZE, HandshakeError, HaproxyHello,
    MIN_FRAME_SIZE, SUPPORTED_VERSIONS, Version, check_agent_frame_size, choose_version,
    negotiate_max_frame_size,
};
pub use kv::{Kv, KvText, find};
pub use message::{Message, encode_arg, encode_message_head};
pub use reassembly::{Reassembler, Reassembly, ReassemblyError};
pub use sniff::sniff;
pub use status::Status;
