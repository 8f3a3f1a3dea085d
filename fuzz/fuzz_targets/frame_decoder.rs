//! Arbitrary bytes, cut into arbitrary chunks, fed to `FrameDecoder` the way
//! a runtime does: append a chunk, decode until `Ok(None)` or `Err`.
//!
//! Input layout: byte 0 picks max-frame-size, byte 1 seeds the chunk sizes,
//! the rest is the stream.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use spop::{FrameDecoder, LENGTH_PREFIX};

fuzz_target!(|data: &[u8]| {
    let [pick, seed, stream @ ..] = data else {
        return;
    };
    let max = match pick % 4 {
        0 => 16380,
        1 => 256,
        2 => u32::from(*pick),
        _ => 65535,
    };
    let bound = max as usize + LENGTH_PREFIX + 64 + stream.len();
    let mut dec = FrameDecoder::new(max);
    let mut buf = BytesMut::new();
    let mut rng = u32::from(*seed) | 1;
    let mut rest = stream;
    while !rest.is_empty() {
        // xorshift32: chunk sizes 1..=64.
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        let n = (rng as usize % 64 + 1).min(rest.len());
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        buf.extend_from_slice(chunk);
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(frame)) => {
                    assert!(frame.frame_len() > 0);
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = (e.to_string(), e.status());
                    return;
                }
            }
            assert!(
                buf.capacity() <= bound,
                "capacity {} > {bound}",
                buf.capacity()
            );
        }
        assert!(
            buf.capacity() <= bound,
            "capacity {} > {bound}",
            buf.capacity()
        );
    }
});
