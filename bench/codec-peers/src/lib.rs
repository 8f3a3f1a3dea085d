//! Fixtures for `benches/peers.rs`: the NOTIFY and ACK of
//! `spop/benches/codec.rs` (its fixture module, included by path), and checks
//! that each codec really decodes the nine arguments and encodes the same ACK,
//! so that no figure can come from a no-op.
//!
//! "Ours" is this repository's `spop` (by path); "peer" is crates.io's `spop`
//! (`peer_spop` here). The peer is an agent-side crate: it decodes
//! HAPROXY-HELLO, HAPROXY-DISCONNECT and NOTIFY, and encodes the agent's
//! frames (AGENT-HELLO, AGENT-DISCONNECT, ACK); it cannot decode an ACK nor
//! encode a NOTIFY. The benchmark only needs what an agent does: decode a
//! NOTIFY, encode an ACK.

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::BytesMut;
use peer_spop::SpopFrame as _;

// The frames of spop's own codec benchmark, the same file.
#[path = "../../../spop/benches/fixture/mod.rs"]
mod fixture;

/// The largest frame both codecs accept (HAProxy's default, `tune.bufsize - 4`).
pub const MAX_FRAME_SIZE: u32 = 16380;

/// The NOTIFY of `spop/benches/codec.rs` as HAProxy sends it (256 bytes with
/// the length prefix): stream 1234, frame 56, one message `check-request`
/// with nine arguments (a unique-id STRING, INT64, negative INT64, BOOL,
/// IPV4, IPV6, a 38-byte BINARY, a path STRING, a method STRING).
pub const NOTIFY_HEX: &str = concat!(
    "000000fc0300000001f23e380d636865636b2d726571756573740909756e69717565",
    "5f6964082e37663030303030313a633261345f30613030303030323a316639305f36",
    "356631613362325f303030313a326133660862797465735f696e04f88aae45056465",
    "6c746104f6eefefefefefefefe0e0373736c110373726306c0a80a17047372633607",
    "20010db80000000000000000deadbeef08686472735f62696e092904686f73740b65",
    "78616d706c652e636f6d0a757365722d6167656e740a6375726c2f382e352e300000",
    "047061746808202f6170692f76312f75736572732f34322f6f72646572733f6c696d",
    "69743d3130066d6574686f640804504f5354",
);

/// The ACK answering it (63 bytes): SET-VAR sess.ip_score INT32 10, SET-VAR
/// txn.verdict STRING "allow", SET-VAR req.risk INT64 -3.
pub const ACK_HEX: &str = concat!(
    "0000003b6700000001f23e380103010869705f73636f7265020a0103020776657264",
    "6963740805616c6c6f77010303047269736b04fdf0fefefefefefefe0e",
);

/// Bytes from hex digits.
pub fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd number of hex digits");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// The NOTIFY, built by `spop/benches/codec.rs`'s fixture.
pub fn ours_notify() -> spop::Frame {
    fixture::notify()
}

/// The NOTIFY's bytes; checks that our constructor still gives [`NOTIFY_HEX`].
pub fn wire() -> Vec<u8> {
    let wire = unhex(NOTIFY_HEX);
    let mut built = BytesMut::new();
    ours_notify().encode(&mut built);
    assert_eq!(
        &built[..],
        &wire[..],
        "spop/benches/codec.rs's NOTIFY changed"
    );
    wire
}

/// Our ACK with its three SET-VARs (`spop/benches/codec.rs`'s fixture).
pub fn ours_ack(stream_id: u64, frame_id: u64) -> spop::Frame {
    fixture::ack(stream_id, frame_id)
}

/// The peer's ACK with the same three SET-VARs.
pub fn peer_ack(stream_id: u64, frame_id: u64) -> peer_spop::frames::Ack {
    use peer_spop::VarScope;
    peer_spop::frames::Ack::new(stream_id, frame_id)
        .set_var(VarScope::Session, "ip_score", 10i32)
        .set_var(VarScope::Transaction, "verdict", "allow")
        .set_var(VarScope::Request, "risk", -3i64)
}

/// A decoded argument value in a form both codecs map to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// NULL.
    Null,
    /// BOOL.
    Bool(bool),
    /// Any of the four integer types, with its type name.
    Int(&'static str, i128),
    /// IPV4.
    V4(Ipv4Addr),
    /// IPV6.
    V6(Ipv6Addr),
    /// STRING.
    Str(Vec<u8>),
    /// BINARY.
    Bin(Vec<u8>),
}

/// One message's name and arguments.
pub type Decoded = (Vec<u8>, Vec<(Vec<u8>, Value)>);

/// What the NOTIFY holds, read from the constructor (not from a decoder).
pub fn expected() -> Vec<Decoded> {
    let spop::Body::Notify(messages) = ours_notify().body else {
        unreachable!("a NOTIFY")
    };
    messages.iter().map(ours_owned_message).collect()
}

fn ours_owned_value(v: &spop::TypedData) -> Value {
    use spop::TypedData as T;
    match v {
        T::Null => Value::Null,
        T::Bool(b) => Value::Bool(*b),
        T::Int32(n) => Value::Int("INT32", (*n).into()),
        T::Uint32(n) => Value::Int("UINT32", (*n).into()),
        T::Int64(n) => Value::Int("INT64", (*n).into()),
        T::Uint64(n) => Value::Int("UINT64", (*n).into()),
        T::Ipv4(a) => Value::V4(*a),
        T::Ipv6(a) => Value::V6(*a),
        T::Str(s) => Value::Str(s.to_vec()),
        T::Bin(s) => Value::Bin(s.to_vec()),
    }
}

fn ours_owned_message(m: &spop::Message) -> Decoded {
    let args = m
        .args
        .iter()
        .map(|kv| (kv.name.to_vec(), ours_owned_value(&kv.value)));
    (m.name.to_vec(), args.collect())
}

/// The NOTIFY as our owned decoder (`FrameDecoder::decode`) reads it.
pub fn decode_ours_owned(wire: &[u8]) -> Vec<Decoded> {
    let mut buf = BytesMut::from(wire);
    let frame = spop::FrameDecoder::new(MAX_FRAME_SIZE)
        .decode(&mut buf)
        .expect("valid")
        .expect("whole");
    assert!(buf.is_empty(), "one frame");
    assert_eq!((frame.header.stream_id, frame.header.frame_id), (1234, 56));
    let spop::Body::Notify(messages) = frame.body else {
        panic!("not a NOTIFY: {:?}", frame.body)
    };
    messages.iter().map(ours_owned_message).collect()
}

/// The NOTIFY as our in-place reader (`spop::view`) reads it.
pub fn decode_ours_view(wire: &[u8]) -> Vec<Decoded> {
    use spop::view::DataView as D;
    let f = spop::view::split_frame(wire, MAX_FRAME_SIZE)
        .expect("valid")
        .expect("whole");
    assert_eq!(f.len, wire.len(), "one frame");
    assert_eq!((f.header.stream_id, f.header.frame_id), (1234, 56));
    let (mut messages, mut args) = (Vec::new(), Vec::new());
    spop::view::decode_messages(f.payload, f.payload_offset, &mut messages, &mut args)
        .expect("valid");
    let value = |v: &D<'_>| match *v {
        D::Null => Value::Null,
        D::Bool(b) => Value::Bool(b),
        D::Int32(n) => Value::Int("INT32", n.into()),
        D::Uint32(n) => Value::Int("UINT32", n.into()),
        D::Int64(n) => Value::Int("INT64", n.into()),
        D::Uint64(n) => Value::Int("UINT64", n.into()),
        D::Ipv4(a) => Value::V4(a),
        D::Ipv6(a) => Value::V6(a),
        D::Str(s) => Value::Str(s.to_vec()),
        D::Bin(s) => Value::Bin(s.to_vec()),
    };
    messages
        .iter()
        .map(|m| {
            let kvs = args[m.args.clone()]
                .iter()
                .map(|kv| (kv.name.to_vec(), value(&kv.value)));
            (m.name.to_vec(), kvs.collect())
        })
        .collect()
}

/// The NOTIFY as the peer's parser (`parser::parse_frame_with_limit`) reads it.
pub fn decode_peer(wire: &[u8]) -> Vec<Decoded> {
    use peer_spop::TypedData as T;
    let (rest, frame) =
        peer_spop::parser::parse_frame_with_limit(wire, MAX_FRAME_SIZE).expect("valid");
    assert!(rest.is_empty(), "one frame");
    let meta = frame.metadata();
    assert_eq!((meta.stream_id, meta.frame_id), (1234, 56));
    let peer_spop::FramePayload::ListOfMessages(messages) = frame.payload() else {
        panic!("not a NOTIFY: {:?}", frame.frame_type())
    };
    let value = |v: &T| match v {
        T::Null => Value::Null,
        T::Bool(b) => Value::Bool(*b),
        T::Int32(n) => Value::Int("INT32", (*n).into()),
        T::UInt32(n) => Value::Int("UINT32", (*n).into()),
        T::Int64(n) => Value::Int("INT64", (*n).into()),
        T::UInt64(n) => Value::Int("UINT64", (*n).into()),
        T::IPv4(a) => Value::V4(*a),
        T::IPv6(a) => Value::V6(*a),
        T::String(s) => Value::Str(s.as_bytes().to_vec()),
        T::Binary(s) => Value::Bin(s.clone()),
    };
    messages
        .iter()
        .map(|m| {
            let kvs = m
                .args
                .iter()
                .map(|(n, v)| (n.as_bytes().to_vec(), value(v)));
            (m.name.as_bytes().to_vec(), kvs.collect())
        })
        .collect()
}

/// Our ACK's bytes, through `FrameEncoder`.
pub fn encode_ours(stream_id: u64, frame_id: u64) -> Vec<u8> {
    let mut out = BytesMut::new();
    spop::FrameEncoder::new(MAX_FRAME_SIZE)
        .encode(&ours_ack(stream_id, frame_id), &mut out)
        .expect("fits");
    out.to_vec()
}

/// The peer's ACK's bytes, through `SpopFrame::serialize_into`.
pub fn encode_peer(stream_id: u64, frame_id: u64) -> Vec<u8> {
    let mut out = Vec::new();
    peer_ack(stream_id, frame_id)
        .serialize_into(&mut out)
        .expect("encodes");
    out
}

/// Panics unless every codec decodes the NOTIFY into the same nine arguments
/// as the constructor holds, and both encode the same ACK bytes.
pub fn check() {
    let wire = wire();
    let expected = expected();
    assert_eq!(expected.len(), 1, "one message");
    assert_eq!(expected[0].1.len(), 9, "nine arguments");
    assert_eq!(decode_ours_view(&wire), expected, "ours (view)");
    assert_eq!(decode_ours_owned(&wire), expected, "ours (owned)");
    assert_eq!(decode_peer(&wire), expected, "peer");
    let ack = unhex(ACK_HEX);
    assert_eq!(encode_ours(1234, 56), ack, "ours: ACK");
    assert_eq!(encode_peer(1234, 56), ack, "peer: ACK");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_codec_reads_and_writes_the_same_frames() {
        check();
    }

    #[test]
    fn the_peer_does_not_decode_an_ack() {
        let ack = unhex(ACK_HEX);
        assert!(peer_spop::parser::parse_frame_with_limit(&ack, MAX_FRAME_SIZE).is_err());
        let mut buf = BytesMut::from(&ack[..]);
        let frame = spop::FrameDecoder::new(MAX_FRAME_SIZE)
            .decode(&mut buf)
            .expect("valid")
            .expect("whole");
        assert!(matches!(frame.body, spop::Body::Ack(ref a) if a.len() == 3));
    }
}
