//! The codec's and the agent state machine's per-message work, timed in thread CPU time
//! (CLOCK_THREAD_CPUTIME_ID) rather than wall time, so that other processes on a shared machine
//! do not count: each operation runs ITERS times per round, and the best round of ROUNDS is
//! printed as `name<TAB>ns per operation`. Built by bench/codec-cpu.sh against two trees'
//! `spop`; `agent_connection_steady_state` only where `spop::agent` exists (feature `machine`).
//! The frames are spop/benches/fixture's, and the operations those of spop/benches/codec.rs.
use std::hint::black_box;
#[cfg(feature = "machine")]
use std::time::Instant;

use bytes::BytesMut;
use spop::{Body, FrameDecoder, FrameEncoder};

#[path = "../../spop/benches/fixture/mod.rs"]
mod fixture;
use fixture::{ack, notify};

const MFS: u32 = 16380;

fn cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec the call writes into.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn measure(name: &str, iters: u64, rounds: usize, mut f: impl FnMut()) {
    for _ in 0..iters / 4 {
        f();
    }
    let mut best = f64::MAX;
    for _ in 0..rounds {
        let t = cpu_ns();
        for _ in 0..iters {
            f();
        }
        best = best.min((cpu_ns() - t) as f64 / iters as f64);
    }
    println!("{name}\t{best:.1}");
}

fn main() {
    let mut wire = BytesMut::new();
    notify().encode(&mut wire);
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let (n, r) = (env("ITERS", 200_000), env("ROUNDS", 9) as usize);
    {
        let mut dec = FrameDecoder::new(MFS);
        let enc = FrameEncoder::new(MFS);
        let mut buf = BytesMut::with_capacity(16 * 1024);
        let mut out = BytesMut::with_capacity(1024);
        measure("agent_loop_steady_state", n, r, || {
            buf.extend_from_slice(black_box(&wire));
            let f = dec.decode(&mut buf).unwrap().unwrap();
            let reply = ack(f.header.stream_id, f.header.frame_id);
            out.clear();
            enc.encode(&reply, &mut out).unwrap();
            black_box(&out);
            drop(f);
        });
    }
    {
        let enc = FrameEncoder::new(MFS);
        let reply = ack(1234, 56);
        let mut out = BytesMut::with_capacity(1024);
        measure("encode_ack_3_setvars", n, r, || {
            out.clear();
            enc.encode(black_box(&reply), &mut out).unwrap();
            black_box(&out);
        });
    }
    {
        let enc = FrameEncoder::new(MFS);
        let (mut messages, mut args) = (Vec::with_capacity(4), Vec::with_capacity(16));
        let mut out = BytesMut::with_capacity(1024);
        let mut reply = ack(0, 0);
        measure("view_decode_notify_encode_ack", n, r, || {
            let f = spop::view::split_frame(black_box(&wire), MFS)
                .unwrap()
                .unwrap();
            spop::view::decode_messages(f.payload, f.payload_offset, &mut messages, &mut args)
                .unwrap();
            reply.header.stream_id = f.header.stream_id;
            reply.header.frame_id = f.header.frame_id;
            out.clear();
            enc.encode(&reply, &mut out).unwrap();
            black_box((&messages, &args, &out));
        });
    }
    #[cfg(feature = "machine")]
    {
        use spop::agent::{AgentConfig, AgentConnection, AgentEvent};
        let now = Instant::now();
        let mut config = AgentConfig::default();
        config.max_frame_size = MFS;
        let mut conn = AgentConnection::new(config, now);
        let mut b = BytesMut::new();
        spop::Frame::haproxy_hello(&spop::engine::Haproxy::V2_6.hello(None)).encode(&mut b);
        conn.handle_input(&mut b, now);
        assert!(matches!(conn.poll_event(), Some(AgentEvent::Hello { .. })));
        conn.accept(now);
        let mut out = BytesMut::new();
        assert!(conn.poll_transmit(&mut out));
        let Body::Ack(actions) = ack(0, 0).body else {
            unreachable!()
        };
        let mut buf = BytesMut::with_capacity(16 * 1024);
        measure("agent_connection_steady_state", n, r, || {
            buf.extend_from_slice(black_box(&wire));
            conn.handle_input(&mut buf, now);
            let Some(AgentEvent::Notify {
                ticket, messages, ..
            }) = conn.poll_event()
            else {
                unreachable!()
            };
            conn.send_ack(ticket, &actions, now).unwrap();
            out.clear();
            conn.poll_transmit(&mut out);
            black_box((&out, messages));
        });
    }
}
