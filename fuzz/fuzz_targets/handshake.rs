//! Arbitrary bytes read as a HELLO or DISCONNECT frame, then through the
//! handshake rules. An accepted HAPROXY-HELLO must get an answer that the
//! engine side accepts back.
#![no_main]

use bytes::{BufMut, Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use spop::{
    AgentHello, Body, Capabilities, Disconnect, Frame, FrameDecoder, HaproxyHello, MIN_FRAME_SIZE,
};

fuzz_target!(|data: &[u8]| {
    let (Some(&kind), Some(&last)) = (data.first(), data.last()) else {
        return;
    };
    // Either the bytes are a whole frame (after its prefix), or a KV list put
    // behind a control-frame header chosen by the first byte.
    let frame = if kind & 0x80 == 0 {
        Bytes::copy_from_slice(data)
    } else {
        let t = [1u8, 2, 101, 102][usize::from(kind & 3)];
        let mut b = BytesMut::new();
        b.put_slice(&[t, 0, 0, 0, 1, 0, 0]);
        b.put_slice(&data[1..]);
        b.freeze()
    };
    let Ok(frame) = Frame::decode(frame) else {
        return;
    };
    // The agent's own limit, from the last byte: 256 ..= 16576.
    let our_size = MIN_FRAME_SIZE + u32::from(last) * 64;
    match &frame.body {
        Body::HaproxyHello(kv) => {
            let Ok(hello) = HaproxyHello::from_kv(kv) else {
                return;
            };
            assert!(hello.max_frame_size >= MIN_FRAME_SIZE);
            assert_eq!(HaproxyHello::from_kv(&hello.to_kv()), Ok(hello.clone()));
            let caps = Capabilities::parse("pipelining,async,fragmentation");
            let Ok(answer) = AgentHello::answer(&hello, our_size, caps) else {
                return;
            };
            assert!(answer.max_frame_size <= hello.max_frame_size.max(MIN_FRAME_SIZE));
            assert!(answer.max_frame_size <= our_size.max(MIN_FRAME_SIZE));
            // The engine reads the answer back from the wire.
            let mut wire = BytesMut::new();
            Frame::agent_hello(&answer).encode(&mut wire);
            let back = FrameDecoder::new(u32::MAX)
                .decode(&mut wire)
                .expect("valid")
                .expect("whole");
            let Body::AgentHello(kv) = back.body else {
                panic!("not an AGENT-HELLO");
            };
            assert_eq!(AgentHello::from_kv(&kv, hello.max_frame_size), Ok(answer));
        }
        Body::AgentHello(kv) => {
            if let Ok(h) = AgentHello::from_kv(kv, our_size) {
                assert!((MIN_FRAME_SIZE..=our_size).contains(&h.max_frame_size));
                assert_eq!(AgentHello::from_kv(&h.to_kv(), our_size), Ok(h));
            }
        }
        Body::HaproxyDisconnect(kv) | Body::AgentDisconnect(kv) => {
            if let Ok(d) = Disconnect::from_kv(kv) {
                assert_eq!(Disconnect::from_kv(&d.to_kv()), Ok(d));
            }
        }
        _ => {}
    }
});
