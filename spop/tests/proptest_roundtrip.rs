//! `decode(encode(x)) == x` for every codec value, through `FrameDecoder`,
//! with `encoded_len()` checked against the bytes written and the byte layout
//! checked against `spop-reference.md` by independent reference encoders.

mod strategies;

use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;
use spop::{
    Action, ActionList, AgentHello, Body, DataType, Disconnect, EncodeError, Flags, Frame,
    FrameDecoder, FrameEncoder, FrameHeader, FrameType, HaproxyHello, Kv, Message, TypedData,
    varint,
};
use strategies::*;

/// The spec's varint encoder, transcribed literally.
fn ref_varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    if v < 240 {
        out.push(v as u8);
        return out;
    }
    out.push(((v | 0xf0) & 0xff) as u8);
    v = (v - 240) >> 4;
    while v >= 128 {
        out.push(((v | 0x80) & 0xff) as u8);
        v = (v - 128) >> 7;
    }
    out.push(v as u8);
    out
}

/// The spec's varint decoder, in 128-bit arithmetic so it cannot overflow.
fn ref_varint_decode(src: &[u8]) -> Option<(u128, usize)> {
    let mut it = src.iter().copied();
    let b = it.next()?;
    if b < 240 {
        return Some((u128::from(b), 1));
    }
    let mut value = u128::from(b);
    let mut shift = 4;
    let mut len = 1;
    loop {
        let b = it.next()?;
        len += 1;
        value += u128::from(b) << shift;
        shift += 7;
        if b < 128 {
            return Some((value, len));
        }
    }
}

/// The varint length the spec's range table gives.
fn table_len(v: u64) -> usize {
    const BOUNDS: [u64; 5] = [240, 2288, 264_432, 33_818_864, 4_328_786_160];
    match BOUNDS.iter().position(|&b| v < b) {
        Some(i) => i + 1,
        // Past 5 bytes each byte adds 7 bits: find the length by counting.
        None => ref_varint(v).len(),
    }
}

fn ref_bytes(b: &[u8]) -> Vec<u8> {
    let mut out = ref_varint(b.len() as u64);
    out.extend_from_slice(b);
    out
}

/// Typed data as `spop-reference.md` lays it out.
fn ref_typed(d: &TypedData) -> Vec<u8> {
    let with = |t: u8, rest: Vec<u8>| {
        let mut out = vec![t];
        out.extend(rest);
        out
    };
    match d {
        TypedData::Null => vec![0x00],
        TypedData::Bool(true) => vec![0x11],
        TypedData::Bool(false) => vec![0x01],
        // Signed values: the varint of the 64-bit two's complement.
        TypedData::Int32(v) => with(2, ref_varint(i64::from(*v) as u64)),
        TypedData::Uint32(v) => with(3, ref_varint(u64::from(*v))),
        TypedData::Int64(v) => with(4, ref_varint(*v as u64)),
        TypedData::Uint64(v) => with(5, ref_varint(*v)),
        TypedData::Ipv4(a) => with(6, a.octets().to_vec()),
        TypedData::Ipv6(a) => with(7, a.octets().to_vec()),
        TypedData::Str(b) => with(8, ref_bytes(b)),
        TypedData::Bin(b) => with(9, ref_bytes(b)),
    }
}

fn ref_kv(kv: &Kv) -> Vec<u8> {
    let mut out = ref_bytes(&kv.name);
    out.extend(ref_typed(&kv.value));
    out
}

fn ref_message(m: &Message) -> Vec<u8> {
    let mut out = ref_bytes(&m.name);
    out.push(m.args.len() as u8);
    m.args.iter().for_each(|kv| out.extend(ref_kv(kv)));
    out
}

fn ref_action(a: &Action) -> Vec<u8> {
    match a {
        Action::SetVar { scope, name, value } => {
            let mut out = vec![1, 3, *scope as u8];
            out.extend(ref_bytes(name));
            out.extend(ref_typed(value));
            out
        }
        Action::UnsetVar { scope, name } => {
            let mut out = vec![2, 2, *scope as u8];
            out.extend(ref_bytes(name));
            out
        }
        Action::Unknown { action_type, rest } => {
            let mut out = vec![*action_type];
            out.extend_from_slice(rest);
            out
        }
    }
}

fn ref_payload(body: &Body) -> Vec<u8> {
    match body {
        Body::HaproxyHello(kv)
        | Body::HaproxyDisconnect(kv)
        | Body::AgentHello(kv)
        | Body::AgentDisconnect(kv) => kv.iter().flat_map(ref_kv).collect(),
        Body::Notify(m) => m.iter().flat_map(ref_message).collect(),
        Body::Ack(a) => a.iter().flat_map(ref_action).collect(),
        Body::Fragment(b) | Body::Unknown(b) => b.to_vec(),
    }
}

/// A whole frame as `spop-reference.md` lays it out.
fn ref_frame(f: &Frame) -> Vec<u8> {
    let mut rest = vec![f.header.frame_type.0];
    rest.extend(f.header.flags.0.to_be_bytes());
    rest.extend(ref_varint(f.header.stream_id));
    rest.extend(ref_varint(f.header.frame_id));
    rest.extend(ref_payload(&f.body));
    let mut out = (rest.len() as u32).to_be_bytes().to_vec();
    out.extend(rest);
    out
}

/// Encodes `f`, checking `encoded_len()` and the reference layout.
fn encode_checked(f: &Frame) -> BytesMut {
    let mut buf = BytesMut::new();
    f.encode(&mut buf);
    assert_eq!(buf.len(), f.encoded_len(), "encoded_len of {f:?}");
    assert_eq!(buf.len(), f.frame_len() + 4, "frame_len of {f:?}");
    assert_eq!(&buf[..], &ref_frame(f)[..], "byte layout of {f:?}");
    buf
}

/// Decodes exactly one frame from `buf` through a `FrameDecoder`.
fn decode_one(mut buf: BytesMut) -> Frame {
    let mut dec = FrameDecoder::new(u32::MAX);
    let f = dec
        .decode(&mut buf)
        .expect("a valid frame")
        .expect("a whole frame");
    assert!(buf.is_empty(), "{} byte(s) left after the frame", buf.len());
    f
}

fn round_trip(f: &Frame) -> Frame {
    decode_one(encode_checked(f))
}

/// One message carrying `args`, in a NOTIFY.
fn notify_with(args: Vec<Kv>) -> Frame {
    Frame::notify(
        1,
        2,
        vec![Message {
            name: Bytes::from_static(b"m"),
            args,
        }],
    )
}

proptest! {
    #![proptest_config(config(2048))]

    #[test]
    fn varint_matches_the_spec(v in u64_edgy()) {
        let mut out = Vec::new();
        varint::encode(v, &mut out);
        prop_assert_eq!(&out, &ref_varint(v));
        prop_assert_eq!(out.len(), varint::encoded_len(v));
        prop_assert_eq!(out.len(), table_len(v));
        prop_assert!(out.len() <= varint::MAX_LEN);
        prop_assert_eq!(varint::decode(&out), Ok((v, out.len())));
        prop_assert_eq!(ref_varint_decode(&out), Some((u128::from(v), out.len())));
        // Trailing bytes are not consumed.
        out.extend_from_slice(&[0xff, 0x00]);
        prop_assert_eq!(varint::decode(&out), Ok((v, out.len() - 2)));
    }

    #[test]
    fn varint_decode_agrees_with_the_spec_on_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..12)) {
        match (varint::decode(&bytes), ref_varint_decode(&bytes)) {
            (Ok((v, n)), Some((rv, rn))) => {
                prop_assert_eq!(u128::from(v), rv);
                prop_assert_eq!(n, rn);
            }
            // Refused: too long or past 64 bits, or truncated.
            (Err(_), Some((rv, rn))) => prop_assert!(rn > varint::MAX_LEN || rv > u128::from(u64::MAX)),
            (Err(varint::VarintError::Truncated), None) => {}
            (got, want) => prop_assert!(false, "{:?} vs spec {:?}", got, want),
        }
    }
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn typed_data_round_trips(d in typed_data()) {
        let mut out = Vec::new();
        d.encode(&mut out);
        prop_assert_eq!(out.len(), d.encoded_len());
        prop_assert_eq!(&out, &ref_typed(&d));
        prop_assert_eq!(DataType(out[0] & 0x0f), d.data_type());
        prop_assert!(d.data_type().name().is_some());

        let f = notify_with(vec![Kv { name: Bytes::new(), value: d.clone() }]);
        let Body::Notify(m) = round_trip(&f).body else { panic!("not a NOTIFY") };
        prop_assert_eq!(&m[0].args[0].value, &d);
    }

    #[test]
    fn kv_round_trips(kv in kv()) {
        let mut out = Vec::new();
        kv.encode(&mut out);
        prop_assert_eq!(out.len(), kv.encoded_len());
        prop_assert_eq!(&out, &ref_kv(&kv));
        let f = Frame {
            header: FrameHeader { frame_type: FrameType::AGENT_DISCONNECT, flags: Flags::FIN, stream_id: 0, frame_id: 0 },
            body: Body::AgentDisconnect(vec![kv.clone(), kv.clone()]),
        };
        prop_assert_eq!(round_trip(&f), f);
    }

    #[test]
    fn message_round_trips(m in message()) {
        prop_assert!(m.args.len() <= 255);
        prop_assert_eq!(m.validate(), Ok(()));
        let mut out = Vec::new();
        m.encode(&mut out);
        prop_assert_eq!(out.len(), m.encoded_len());
        prop_assert_eq!(&out, &ref_message(&m));
        let f = Frame::notify(7, 8, vec![m.clone()]);
        let got = round_trip(&f);
        prop_assert_eq!(&got, &f);
        let Body::Notify(ms) = got.body else { panic!("not a NOTIFY") };
        prop_assert_eq!(ms[0].args.len(), m.args.len());
    }

    #[test]
    fn action_round_trips(a in action(), list in actions()) {
        let mut out = Vec::new();
        a.encode(&mut out);
        prop_assert_eq!(out.len(), a.encoded_len());
        prop_assert_eq!(&out, &ref_action(&a));
        let f = Frame::ack(3, 4, vec![a]);
        prop_assert_eq!(round_trip(&f), f);
        // A list, possibly ended by an unknown action.
        let f = Frame::ack(3, 4, list);
        prop_assert_eq!(round_trip(&f), f);
    }

    #[test]
    fn action_list_reads_in_place_what_the_owned_decoder_reads(
        list in actions(),
        junk in prop::collection::vec(any::<u8>(), 0..40),
    ) {
        // A valid list: the same actions, borrowed then owned.
        let mut payload = Vec::new();
        list.iter().for_each(|a| a.encode(&mut payload));
        let in_place = ActionList::decode(Bytes::from(payload), 7).unwrap();
        prop_assert_eq!(&in_place.to_vec(), &list);
        prop_assert!(in_place == list);
        prop_assert_eq!(in_place.len(), list.len());
        // Any bytes: the same verdict, the same error at the same offset.
        let mut frame = BytesMut::new();
        FrameHeader {
            frame_type: FrameType::ACK,
            flags: Flags::FIN,
            stream_id: 1,
            frame_id: 1,
        }
        .encode_with_payload(&junk, &mut frame);
        let owned = FrameDecoder::new(u32::MAX).decode(&mut frame.clone());
        let view = spop::view::split_frame(&frame, u32::MAX).unwrap().unwrap();
        let checked = ActionList::check(view.payload, view.payload_offset);
        match (owned, checked) {
            (Ok(Some(Frame { body: Body::Ack(actions), .. })), Ok(())) => {
                let list = ActionList::decode(Bytes::copy_from_slice(view.payload), view.payload_offset).unwrap();
                prop_assert_eq!(list.to_vec(), actions);
            }
            (Err(a), Err(b)) => prop_assert_eq!(a, b),
            (a, b) => prop_assert!(false, "owned {a:?}, in place {b:?}"),
        }
    }

    #[test]
    fn frame_round_trips(f in frame(), split in any::<prop::sample::Index>()) {
        let buf = encode_checked(&f);
        prop_assert_eq!(&decode_one(buf.clone()), &f);
        prop_assert_eq!(Frame::decode(buf.clone().freeze().slice(4..)), Ok(f.clone()));

        // Split in two: nothing until the last byte, then the frame.
        let at = split.index(buf.len());
        let mut dec = FrameDecoder::new(u32::MAX);
        let mut input = BytesMut::from(&buf[..at]);
        prop_assert_eq!(dec.decode(&mut input), Ok(None));
        input.put_slice(&buf[at..]);
        prop_assert_eq!(dec.decode(&mut input), Ok(Some(f)));
        prop_assert!(input.is_empty());
    }

    #[test]
    fn frames_back_to_back(frames in prop::collection::vec(frame(), 1..5)) {
        let mut buf = BytesMut::new();
        let mut total = 0;
        for f in &frames {
            f.encode(&mut buf);
            total += f.encoded_len();
        }
        prop_assert_eq!(buf.len(), total);
        let max = frames.iter().map(|f| f.frame_len()).max().unwrap_or(0);
        let mut dec = FrameDecoder::new(u32::try_from(max).unwrap_or(u32::MAX));
        for f in &frames {
            prop_assert_eq!(dec.decode(&mut buf), Ok(Some(f.clone())));
        }
        prop_assert_eq!(dec.decode(&mut buf), Ok(None));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn encoder_enforces_max_frame_size(f in frame()) {
        let len = f.frame_len();
        let mut dst = BytesMut::from(&b"keep"[..]);
        let at_limit = FrameEncoder::new(u32::try_from(len).unwrap_or(u32::MAX));
        prop_assert_eq!(at_limit.encode(&f, &mut dst), Ok(()));
        prop_assert_eq!(dst.len(), 4 + f.encoded_len());
        let below = FrameEncoder::new(u32::try_from(len - 1).unwrap_or(u32::MAX));
        let mut dst = BytesMut::from(&b"keep"[..]);
        prop_assert_eq!(
            below.encode(&f, &mut dst),
            Err(EncodeError::FrameTooBig { len, max: (len - 1) as u32 })
        );
        prop_assert_eq!(&dst[..], b"keep", "nothing written on error");
        // The decoder refuses the same frame with the lower bound.
        let mut buf = encode_checked(&f);
        let mut dec = FrameDecoder::new((len - 1) as u32);
        prop_assert!(dec.decode(&mut buf).is_err());
    }

    #[test]
    fn haproxy_hello_round_trips(h in haproxy_hello()) {
        let f = Frame::haproxy_hello(&h);
        let got = round_trip(&f);
        prop_assert_eq!(&got, &f);
        let Body::HaproxyHello(kv) = got.body else { panic!("not a HAPROXY-HELLO") };
        prop_assert_eq!(HaproxyHello::from_kv(&kv), Ok(h));
    }

    #[test]
    fn agent_hello_round_trips(h in agent_hello()) {
        let f = Frame::agent_hello(&h);
        let got = round_trip(&f);
        prop_assert_eq!(&got, &f);
        let Body::AgentHello(kv) = got.body else { panic!("not an AGENT-HELLO") };
        prop_assert_eq!(AgentHello::from_kv(&kv, u32::MAX), Ok(h.clone()));
        prop_assert_eq!(AgentHello::from_kv(&kv, h.max_frame_size), Ok(h));
    }

    #[test]
    fn disconnects_round_trip(d in disconnect()) {
        for f in [Frame::haproxy_disconnect(&d), Frame::agent_disconnect(&d)] {
            let got = round_trip(&f);
            prop_assert_eq!(&got, &f);
            let (Body::HaproxyDisconnect(kv) | Body::AgentDisconnect(kv)) = got.body else {
                panic!("not a DISCONNECT")
            };
            prop_assert_eq!(Disconnect::from_kv(&kv), Ok(d.clone()));
        }
    }
}

#[test]
fn more_than_255_args_is_refused_by_the_encoder() {
    let m = Message {
        name: Bytes::from_static(b"m"),
        args: vec![Kv::new("", TypedData::Null); 256],
    };
    assert_eq!(
        m.validate(),
        Err(EncodeError::TooManyArgs {
            what: "message",
            count: 256
        })
    );
    let mut dst = BytesMut::new();
    let f = Frame::notify(1, 1, vec![m]);
    assert!(matches!(
        FrameEncoder::new(u32::MAX).encode(&f, &mut dst),
        Err(EncodeError::TooManyArgs { .. })
    ));
    assert!(dst.is_empty());
}

/// The oracle itself agrees with `spop-reference.md`'s table.
#[test]
fn reference_varint_matches_the_documented_table() {
    let table: &[(u64, &[u8])] = &[
        (0, &[0x00]),
        (239, &[0xef]),
        (240, &[0xf0, 0x00]),
        (300, &[0xfc, 0x03]),
        (2287, &[0xff, 0x7f]),
        (2288, &[0xf0, 0x80, 0x00]),
        (264_431, &[0xff, 0xff, 0x7f]),
        (264_432, &[0xf0, 0x80, 0x80, 0x00]),
    ];
    for &(v, bytes) in table {
        assert_eq!(ref_varint(v), bytes, "{v}");
        assert_eq!(ref_varint_decode(bytes), Some((u128::from(v), bytes.len())));
        let mut out = Vec::new();
        varint::encode(v, &mut out);
        assert_eq!(out, bytes, "{v}");
    }
    assert_eq!(ref_varint(u64::MAX).len(), varint::MAX_LEN);
    // -42 as INT64: the type byte, then a 10-byte varint.
    assert_eq!(ref_typed(&TypedData::Int64(-42)).len(), 11);
}

/// HAProxy 2.6 reads a BOOL as `(type & 0xF0) == 0x10` (`spoe_decode_data`):
/// only the exact flag nibble 0x1 is true; any other nibble is false.
#[test]
fn bool_follows_haproxys_flag_mask() {
    for high in 0u8..16 {
        let byte = high << 4 | 0x01;
        // NOTIFY: message "m", argument "b" of type byte `byte`.
        let mut buf = BytesMut::from(&[0, 0, 0, 13, 3, 0, 0, 0, 1, 0, 1, 1, b'm', 1, 1, b'b'][..]);
        buf.put_u8(byte);
        let f = decode_one(buf);
        let Body::Notify(m) = f.body else {
            panic!("not a NOTIFY")
        };
        assert_eq!(
            m[0].args[0].value,
            TypedData::Bool(high == 1),
            "type byte {byte:#04x}"
        );
    }
}
