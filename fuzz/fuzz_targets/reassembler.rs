//! Arbitrary bytes decoded as a stream of frames, every NOTIFY and UNSET of
//! which goes to a `Reassembler`: no panic, and the payload it holds never
//! exceeds its limit.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use spop::{Body, FrameDecoder, FrameType, Reassembler, Reassembly};

fuzz_target!(|data: &[u8]| {
    let [limit, stream @ ..] = data else {
        return;
    };
    let limit = usize::from(*limit) * 4;
    let mut r = Reassembler::new(limit);
    let mut dec = FrameDecoder::new(65535);
    let mut buf = BytesMut::from(stream);
    // Bytes of the payload being reassembled, as far as the answers tell.
    let mut pending = 0usize;
    while let Ok(Some(frame)) = dec.decode(&mut buf) {
        let t = frame.header.frame_type;
        let fragment_len = match &frame.body {
            Body::Fragment(b) => b.len(),
            _ => 0,
        };
        match r.push(frame) {
            Ok(Reassembly::Complete(f)) => {
                assert_eq!(f.header.frame_type, FrameType::NOTIFY);
                assert!(matches!(f.body, Body::Notify(_)));
                assert!(!r.is_pending());
                pending = 0;
            }
            Ok(Reassembly::Pending) => {
                assert!(r.is_pending());
                pending = if t == FrameType::NOTIFY {
                    fragment_len
                } else {
                    pending + fragment_len
                };
                assert!(
                    pending <= limit,
                    "{pending} bytes pending over the {limit} limit"
                );
            }
            Ok(Reassembly::Aborted { .. }) => {
                assert!(!r.is_pending());
                pending = 0;
            }
            // A runtime closes the connection here; going on must still be safe.
            Err(e) => {
                let _ = (e.to_string(), e.status());
            }
        }
    }
});
