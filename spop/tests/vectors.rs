//! Frames captured from Debian's HAProxy 2.6.12 (see `tests/vectors/README.md`),
//! decoded byte for byte, and re-encoded identically.

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::{Bytes, BytesMut};
use spop::{Body, Capabilities, Flags, Frame, FrameDecoder, FrameType, HaproxyHello, TypedData};

fn vector(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let hex: String = text.split_whitespace().collect();
    hex::decode(hex).unwrap()
}

fn decode_whole(bytes: &[u8]) -> Frame {
    let mut buf = BytesMut::from(bytes);
    let frame = FrameDecoder::new(16380)
        .decode(&mut buf)
        .unwrap()
        .expect("a whole frame");
    assert!(buf.is_empty(), "one frame per vector");
    // Re-encoding gives the captured bytes back.
    let mut again = BytesMut::new();
    frame.encode(&mut again);
    assert_eq!(
        &again[..],
        bytes,
        "re-encoding differs from HAProxy's bytes"
    );
    frame
}

#[test]
fn haproxy_2_6_hello() {
    let frame = decode_whole(&vector("haproxy-2.6-hello.hex"));
    assert_eq!(frame.header.frame_type, FrameType::HAPROXY_HELLO);
    assert_eq!(frame.header.flags, Flags::FIN);
    assert_eq!((frame.header.stream_id, frame.header.frame_id), (0, 0));
    let Body::HaproxyHello(kv) = &frame.body else {
        panic!("{frame:?}")
    };
    let names: Vec<_> = kv.iter().map(|kv| kv.name_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "supported-versions",
            "max-frame-size",
            "capabilities",
            "engine-id"
        ]
    );
    let hello = HaproxyHello::from_kv(kv).unwrap();
    assert_eq!(hello.supported_versions, "2.0");
    assert_eq!(hello.max_frame_size, 16380);
    assert_eq!(hello.capabilities, Capabilities::parse("pipelining,async"));
    assert!(!hello.healthcheck);
    assert_eq!(hello.engine_id.as_deref().map(str::len), Some(36));
    // HAProxy sends max-frame-size as UINT32.
    assert_eq!(kv[1].value, TypedData::Uint32(16380));
}

#[test]
fn haproxy_2_6_notify_with_every_sample_type() {
    let frame = decode_whole(&vector("haproxy-2.6-notify.hex"));
    assert_eq!(frame.header.frame_type, FrameType::NOTIFY);
    assert_eq!(frame.header.flags, Flags::FIN);
    assert_eq!((frame.header.stream_id, frame.header.frame_id), (0, 1));
    let Body::Notify(messages) = &frame.body else {
        panic!("{frame:?}")
    };
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!(m.name_str(), Some("golden"));
    let expect: Vec<(&str, TypedData)> = vec![
        ("s", TypedData::Str(Bytes::from_static(b"hello"))),
        ("i", TypedData::Int64(42)),
        ("n", TypedData::Int64(-42)),
        ("big", TypedData::Int64(5_000_000_000)),
        ("b", TypedData::Bool(true)),
        ("ip4", TypedData::Ipv4(Ipv4Addr::LOCALHOST)),
        (
            "ip6",
            TypedData::Ipv6("2001:db8::1".parse::<Ipv6Addr>().unwrap()),
        ),
        (
            "bin",
            TypedData::Bin(Bytes::from_static(&[0xca, 0xfe, 0x00, 0xff])),
        ),
        ("path", TypedData::Str(Bytes::from_static(b"/golden/path"))),
        ("method", TypedData::Str(Bytes::from_static(b"GET"))),
    ];
    let got: Vec<(&str, TypedData)> = m
        .args
        .iter()
        .map(|kv| (kv.name_str().unwrap(), kv.value.clone()))
        .collect();
    assert_eq!(got, expect);
}

#[test]
fn the_capture_split_anywhere_decodes_the_same() {
    let bytes = [
        vector("haproxy-2.6-hello.hex"),
        vector("haproxy-2.6-notify.hex"),
    ]
    .concat();
    let whole: Vec<Frame> = {
        let mut buf = BytesMut::from(&bytes[..]);
        let mut d = FrameDecoder::new(16380);
        std::iter::from_fn(|| d.decode(&mut buf).unwrap()).collect()
    };
    assert_eq!(whole.len(), 2);
    for split in 0..bytes.len() {
        let mut d = FrameDecoder::new(16380);
        let mut buf = BytesMut::from(&bytes[..split]);
        let mut out = Vec::new();
        while let Some(f) = d.decode(&mut buf).unwrap() {
            out.push(f);
        }
        buf.extend_from_slice(&bytes[split..]);
        while let Some(f) = d.decode(&mut buf).unwrap() {
            out.push(f);
        }
        assert_eq!(out, whole, "split at {split}");
    }
}
