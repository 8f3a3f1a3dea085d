//! Arbitrary bytes read as one frame (after the length prefix); whatever
//! decodes must re-encode to a frame that decodes to itself, and re-encoding
//! that gives the same bytes.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use spop::{Frame, FrameDecoder};

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = Frame::decode(Bytes::copy_from_slice(data)) else {
        return;
    };
    let mut encoded = BytesMut::new();
    frame.encode(&mut encoded);
    assert_eq!(encoded.len(), frame.encoded_len());
    let first = encoded.clone();
    let again = FrameDecoder::new(u32::MAX)
        .decode(&mut encoded)
        .expect("a re-encoded frame decodes")
        .expect("a whole frame");
    assert!(encoded.is_empty());
    assert_eq!(again, frame);
    let mut second = BytesMut::new();
    again.encode(&mut second);
    assert_eq!(first, second, "encoding is deterministic");
});
