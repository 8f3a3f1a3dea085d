//! Codec micro-benchmarks: what an agent pays per request to decode a NOTIFY
//! and encode its ACK.
//!
//! Run with `cargo bench -p spop --bench codec`; the figures live in
//! `bench/README.md`.
//!
//! How the input is prepared, and why:
//! - `decode_notify_9_args` decodes with `FrameDecoder::decode`, the call a
//!   runtime makes, from a fresh `BytesMut` per iteration, made in
//!   `iter_batched_ref`'s setup: neither the copy nor the input buffer's free
//!   is timed. Dropping the decoded frame is timed, since a runtime pays it
//!   for every request (and keeping thousands of frames alive until the end of
//!   a batch would time page faults instead of the codec). Decoding from a
//!   fresh copy means the first `split_to` promotes the buffer to a shared one
//!   (one small allocation), which a long-lived read buffer pays once per
//!   reallocation only, so this figure slightly overestimates the steady state.
//! - `encode_ack_3_setvars` encodes a prepared ACK into one reused `BytesMut`
//!   (`clear()` per iteration), through `FrameEncoder` (max-frame-size check
//!   included).
//! - `decode_notify_encode_ack` is both: decode, build the ACK for the
//!   NOTIFY's ids, encode it, drop the NOTIFY.
//! - `agent_loop_steady_state` is the per-request work of a runtime with
//!   long-lived buffers: append the frame's bytes to a reused read buffer (a
//!   socket read's memcpy), decode, build and encode the ACK, drop everything.
//!   Nothing is excluded.
//! - `view_decode_notify_9_args` and `view_decode_notify_encode_ack` are the
//!   in-place path (`spop::view`): the frame is split off a long-lived read
//!   buffer, its messages and arguments are read as slices into two vectors
//!   reused across iterations (no allocation, no reference count), and the
//!   ACK's actions (built once, as a handler would) are encoded under the
//!   NOTIFY's ids. Nothing else is excluded.
//! - `agent_connection_steady_state` is `agent_loop_steady_state` through the
//!   agent's state machine (`spop::agent::AgentConnection`, what `spoa` runs
//!   on): the NOTIFY's bytes appended to the read buffer, `handle_input`, the
//!   `Notify` event, `send_ack` with the handler's actions (built once), and
//!   `poll_transmit` into the write buffer. The difference between the two is
//!   what the state machine costs per message (tickets, events, timers).

use std::hint::black_box;

use std::time::Instant;

use bytes::BytesMut;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use spop::agent::{AgentConfig, AgentConnection, AgentEvent};
use spop::engine::Haproxy;
use spop::{Body, Frame, FrameDecoder, FrameEncoder};

// Shared with bench/codec-peers, which times another codec on the same frames.
mod fixture;
use fixture::{ack, notify};

const MAX_FRAME_SIZE: u32 = 16380;

fn wire() -> BytesMut {
    let mut wire = BytesMut::new();
    notify().encode(&mut wire);
    wire
}

/// Decodes the NOTIFY in `buf` and encodes the ACK for it into `out`.
fn answer(
    dec: &mut FrameDecoder,
    enc: &FrameEncoder,
    buf: &mut BytesMut,
    out: &mut BytesMut,
) -> Frame {
    let frame = dec.decode(buf).expect("valid").expect("whole");
    debug_assert!(matches!(frame.body, Body::Notify(_)));
    let reply = ack(frame.header.stream_id, frame.header.frame_id);
    out.clear();
    enc.encode(&reply, out).expect("fits");
    frame
}

fn codec(c: &mut Criterion) {
    let wire = wire();
    let mut g = c.benchmark_group("codec");

    g.bench_function("decode_notify_9_args", |b| {
        let mut dec = FrameDecoder::new(MAX_FRAME_SIZE);
        b.iter_batched_ref(
            || wire.clone(),
            |buf| drop(black_box(dec.decode(black_box(buf)))),
            BatchSize::SmallInput,
        );
    });

    g.bench_function("encode_ack_3_setvars", |b| {
        let enc = FrameEncoder::new(MAX_FRAME_SIZE);
        let reply = ack(1234, 56);
        let mut out = BytesMut::with_capacity(1024);
        b.iter(|| {
            out.clear();
            enc.encode(black_box(&reply), &mut out).expect("fits");
            black_box(&out);
        });
    });

    g.bench_function("decode_notify_encode_ack", |b| {
        let mut dec = FrameDecoder::new(MAX_FRAME_SIZE);
        let enc = FrameEncoder::new(MAX_FRAME_SIZE);
        let mut out = BytesMut::with_capacity(1024);
        b.iter_batched_ref(
            || wire.clone(),
            |buf| {
                let frame = answer(&mut dec, &enc, black_box(buf), &mut out);
                black_box(&out);
                drop(frame);
            },
            BatchSize::SmallInput,
        );
    });

    g.bench_function("agent_loop_steady_state", |b| {
        let mut dec = FrameDecoder::new(MAX_FRAME_SIZE);
        let enc = FrameEncoder::new(MAX_FRAME_SIZE);
        let mut buf = BytesMut::with_capacity(16 * 1024);
        let mut out = BytesMut::with_capacity(1024);
        b.iter(|| {
            buf.extend_from_slice(black_box(&wire));
            let frame = answer(&mut dec, &enc, &mut buf, &mut out);
            black_box(&out);
            drop(frame);
        });
    });

    g.bench_function("view_decode_notify_9_args", |b| {
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

    g.bench_function("view_decode_notify_encode_ack", |b| {
        let enc = FrameEncoder::new(MAX_FRAME_SIZE);
        let (mut messages, mut args) = (Vec::with_capacity(4), Vec::with_capacity(16));
        let mut out = BytesMut::with_capacity(1024);
        // The ACK's actions are the handler's to build; the codec's work is to
        // encode them under the NOTIFY's ids.
        let mut reply = ack(0, 0);
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

    g.bench_function("agent_connection_steady_state", |b| {
        let now = Instant::now();
        let mut conn = agent_after_handshake(now);
        let Body::Ack(actions) = ack(0, 0).body else {
            unreachable!("the fixture's ACK");
        };
        let mut buf = BytesMut::with_capacity(16 * 1024);
        let mut out = BytesMut::with_capacity(1024);
        b.iter(|| {
            buf.extend_from_slice(black_box(&wire));
            conn.handle_input(&mut buf, now);
            let Some(AgentEvent::Notify {
                ticket, messages, ..
            }) = conn.poll_event()
            else {
                unreachable!("one NOTIFY in, one event out");
            };
            conn.send_ack(ticket, &actions, now).expect("fits");
            out.clear();
            conn.poll_transmit(&mut out);
            black_box((&out, messages));
        });
    });

    g.finish();
}

/// An agent's connection past HAProxy 2.6's handshake, its answer written.
fn agent_after_handshake(now: Instant) -> AgentConnection {
    let mut config = AgentConfig::default();
    config.max_frame_size = MAX_FRAME_SIZE;
    let mut conn = AgentConnection::new(config, now);
    let mut buf = BytesMut::new();
    Frame::haproxy_hello(&Haproxy::V2_6.hello(None)).encode(&mut buf);
    conn.handle_input(&mut buf, now);
    assert!(matches!(conn.poll_event(), Some(AgentEvent::Hello { .. })));
    conn.accept(now);
    let mut out = BytesMut::new();
    assert!(conn.poll_transmit(&mut out), "the AGENT-HELLO");
    conn
}

criterion_group!(benches, codec);
criterion_main!(benches);
