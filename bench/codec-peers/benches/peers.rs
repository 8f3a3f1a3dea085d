//! Our codec against crates.io's `spop` (the peer), on the same bytes: the
//! NOTIFY of `spop/benches/codec.rs` (one message, nine arguments, 256
//! bytes) and the ACK answering it (three SET-VARs, 63 bytes).
//!
//! Run with `bench/codec.sh`; the figures live in `bench/README.md`.
//! `codec_peers::check()` runs once before any timing: every codec must
//! decode the nine arguments to the constructor's values and both must
//! encode the same ACK bytes.
//!
//! Codecs, each on its fastest path for the job:
//! - `ours_view`: `spop::view::split_frame` + `decode_messages` from a
//!   long-lived buffer into two reused vectors (names and values are slices;
//!   no allocation in steady state), ACK through `FrameEncoder`.
//! - `ours_owned`: `FrameDecoder::decode` into an owned `Frame` (names and
//!   values are `Bytes` sharing the read buffer). It needs a `BytesMut`: a
//!   fresh copy per iteration is made in `iter_batched_ref`'s setup and freed
//!   outside the timing, as in `spop/benches/codec.rs`.
//! - `peer`: `parser::parse_frame_with_limit` from a long-lived slice (it
//!   needs no copy) into a `Box<dyn SpopFrame>` (a `String` per name and
//!   STRING value, a `Vec` per BINARY), ACK through
//!   `SpopFrame::serialize_into` a reused `Vec` (the peer's documented
//!   allocation-free path; its `SpopCodec` encoder takes a
//!   `Box<dyn SpopFrame>` and copies through a scratch buffer, so it can only
//!   be slower).
//!
//! The ACK's actions are built once, as a handler's fixed answer would be;
//! the codec's work is to encode them under the NOTIFY's ids. Dropping a
//! decoded frame is timed: a runtime pays it for every request.

use std::hint::black_box;

use bytes::BytesMut;
use codec_peers::{MAX_FRAME_SIZE, check, ours_ack, peer_ack, wire};
use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use peer_spop::SpopFrame as _;

const DECODE: &str = "decode_notify_9_args";
const ENCODE: &str = "encode_ack_3_setvars";
const BOTH: &str = "decode_notify_encode_ack";

fn peers(c: &mut Criterion) {
    check();
    let wire = wire();
    let mut g = c.benchmark_group("peers");

    // ---- decode ----
    g.bench_function(BenchmarkId::new(DECODE, "ours_view"), |b| {
        let (mut messages, mut args) = (Vec::with_capacity(4), Vec::with_capacity(16));
        b.iter(|| {
            let f = spop::view::split_frame(black_box(&wire), MAX_FRAME_SIZE)
                .expect("valid")
                .expect("whole");
            spop::view::decode_messages(f.payload, f.payload_offset, &mut messages, &mut args)
                .expect("valid");
            black_box((&messages, &args));
        });
    });
    g.bench_function(BenchmarkId::new(DECODE, "ours_owned"), |b| {
        let mut dec = spop::FrameDecoder::new(MAX_FRAME_SIZE);
        b.iter_batched_ref(
            || BytesMut::from(&wire[..]),
            |buf| drop(black_box(dec.decode(black_box(buf)).expect("valid"))),
            BatchSize::SmallInput,
        );
    });
    g.bench_function(BenchmarkId::new(DECODE, "peer"), |b| {
        b.iter(|| {
            let (_, frame) =
                peer_spop::parser::parse_frame_with_limit(black_box(&wire), MAX_FRAME_SIZE)
                    .expect("valid");
            drop(black_box(frame));
        });
    });

    // ---- encode (one encoder on our side, whichever path decoded) ----
    g.bench_function(BenchmarkId::new(ENCODE, "ours"), |b| {
        let enc = spop::FrameEncoder::new(MAX_FRAME_SIZE);
        let reply = ours_ack(1234, 56);
        let mut out = BytesMut::with_capacity(1024);
        b.iter(|| {
            out.clear();
            enc.encode(black_box(&reply), &mut out).expect("fits");
            black_box(&out);
        });
    });
    g.bench_function(BenchmarkId::new(ENCODE, "peer"), |b| {
        let reply = peer_ack(1234, 56);
        let mut out = Vec::with_capacity(1024);
        b.iter(|| {
            out.clear();
            black_box(&reply).serialize_into(&mut out).expect("encodes");
            black_box(&out);
        });
    });

    // ---- decode the NOTIFY, encode the ACK under its ids ----
    g.bench_function(BenchmarkId::new(BOTH, "ours_view"), |b| {
        let enc = spop::FrameEncoder::new(MAX_FRAME_SIZE);
        let (mut messages, mut args) = (Vec::with_capacity(4), Vec::with_capacity(16));
        let mut out = BytesMut::with_capacity(1024);
        let mut reply = ours_ack(0, 0);
        b.iter(|| {
            let f = spop::view::split_frame(black_box(&wire), MAX_FRAME_SIZE)
                .expect("valid")
                .expect("whole");
            spop::view::decode_messages(f.payload, f.payload_offset, &mut messages, &mut args)
                .expect("valid");
            reply.header.stream_id = f.header.stream_id;
            reply.header.frame_id = f.header.frame_id;
            out.clear();
            enc.encode(&reply, &mut out).expect("fits");
            black_box((&messages, &args, &out));
        });
    });
    g.bench_function(BenchmarkId::new(BOTH, "ours_owned"), |b| {
        let mut dec = spop::FrameDecoder::new(MAX_FRAME_SIZE);
        let enc = spop::FrameEncoder::new(MAX_FRAME_SIZE);
        let mut out = BytesMut::with_capacity(1024);
        let mut reply = ours_ack(0, 0);
        b.iter_batched_ref(
            || BytesMut::from(&wire[..]),
            |buf| {
                let frame = dec.decode(black_box(buf)).expect("valid").expect("whole");
                reply.header.stream_id = frame.header.stream_id;
                reply.header.frame_id = frame.header.frame_id;
                out.clear();
                enc.encode(&reply, &mut out).expect("fits");
                black_box(&out);
                drop(black_box(frame));
            },
            BatchSize::SmallInput,
        );
    });
    g.bench_function(BenchmarkId::new(BOTH, "peer"), |b| {
        let mut reply = peer_ack(0, 0);
        let mut out = Vec::with_capacity(1024);
        b.iter(|| {
            let (_, frame) =
                peer_spop::parser::parse_frame_with_limit(black_box(&wire), MAX_FRAME_SIZE)
                    .expect("valid");
            let meta = frame.metadata();
            reply.stream_id = meta.stream_id;
            reply.frame_id = meta.frame_id;
            out.clear();
            reply.serialize_into(&mut out).expect("encodes");
            black_box(&out);
            drop(black_box(frame));
        });
    });

    g.finish();
}

criterion_group!(benches, peers);
criterion_main!(benches);
