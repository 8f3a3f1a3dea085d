//! Both ends of a connection, driven by arbitrary bytes, frames and calls in
//! any order: no panic, input bounded by one frame, at most the allowed
//! NOTIFY frames in flight, whole frames out, and on the engine's side every
//! NOTIFY's value handed back exactly once (ACK, deadline or close).

mod strategies;

use std::collections::BTreeSet;
use std::io;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use proptest::collection::vec;
use proptest::prelude::*;
use spop::agent::{AgentConfig, AgentConnection, AgentEvent, Fragmentation, Ticket};
use spop::engine::{EngineConfig, EngineConnection, EngineEvent, Haproxy};
use spop::{Action, Frame, LENGTH_PREFIX, Status, TypedData, VarScope};
use strategies::*;

/// Bytes appended per step at most.
const CHUNK: usize = 300;

#[derive(Debug, Clone)]
enum Input {
    Bytes(Vec<u8>),
    Frames(Vec<Frame>),
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        vec(any::<u8>(), 0..CHUNK).prop_map(Input::Bytes),
        vec(small_frame(), 1..3).prop_map(Input::Frames),
    ]
}

fn bytes_of(i: &Input) -> Vec<u8> {
    match i {
        Input::Bytes(b) => b.clone(),
        Input::Frames(f) => {
            let mut b = BytesMut::new();
            f.iter().for_each(|f| f.encode(&mut b));
            b.to_vec()
        }
    }
}

/// Checks that `out` holds whole frames, each within `max` bytes (payloads
/// are the caller's: only the framing is checked).
fn whole_frames(out: &mut BytesMut, max: u32) {
    let mut at = 0;
    while at < out.len() {
        let f = spop::view::split_frame(&out[at..], max)
            .expect("a frame within max-frame-size")
            .expect("a whole frame");
        at += f.len;
    }
    out.clear();
}

// ===== the agent =====

#[derive(Debug, Clone)]
enum AgentStep {
    Feed(Input),
    Accept,
    Refuse,
    Ack(prop::sample::Index, u8),
    Advance(u16),
    Shutdown,
    Eof,
    Reset,
}

fn agent_step() -> impl Strategy<Value = AgentStep> {
    prop_oneof![
        6 => input().prop_map(AgentStep::Feed),
        2 => Just(AgentStep::Accept),
        1 => Just(AgentStep::Refuse),
        4 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, n)| AgentStep::Ack(i, n)),
        2 => any::<u16>().prop_map(AgentStep::Advance),
        1 => Just(AgentStep::Shutdown),
        1 => Just(AgentStep::Eof),
        1 => Just(AgentStep::Reset),
    ]
}

fn hello_bytes(mfs: u32) -> Vec<u8> {
    let mut hello = Haproxy::V2_6.hello(Some("x".into()));
    hello.max_frame_size = mfs;
    let mut b = BytesMut::new();
    Frame::haproxy_hello(&hello).encode(&mut b);
    b.to_vec()
}

fn run_agent(max_frame_size: u32, max_in_flight: usize, valid_hello: bool, steps: &[AgentStep]) {
    let mut config = AgentConfig::default();
    config.max_frame_size = max_frame_size;
    config.max_in_flight = max_in_flight;
    config.reassembly_limit = 4096;
    config.fragmentation = Fragmentation::Auto;
    let t0 = Instant::now();
    let mut now = t0;
    let mut conn = AgentConnection::new(config, now);
    let mut buf = BytesMut::new();
    if valid_hello {
        buf.extend_from_slice(&hello_bytes(16380));
    }
    let mut tickets: Vec<Ticket> = Vec::new();
    let mut closed = false;
    for step in steps {
        // A runtime reads only while the connection wants input: what is
        // buffered is then at most a frame plus one read.
        let mut bound = max_frame_size as usize + LENGTH_PREFIX + buf.len().max(CHUNK) + 64;
        match step {
            AgentStep::Feed(i) => {
                if conn.wants_input() {
                    let bytes = bytes_of(i);
                    bound += bytes.len();
                    buf.extend_from_slice(&bytes);
                }
            }
            AgentStep::Accept => conn.accept(now),
            AgentStep::Refuse => conn.refuse(Status::RESOURCE, "full".into()),
            AgentStep::Ack(i, n) => {
                if !tickets.is_empty() {
                    let t = tickets.swap_remove(i.index(tickets.len()));
                    let actions: Vec<Action> = (0..*n)
                        .map(|k| {
                            Action::set_var(
                                VarScope::Transaction,
                                format!("v{k}"),
                                TypedData::binary(vec![k; 40]),
                            )
                        })
                        .collect();
                    if conn.send_ack(t, &actions, now).is_err() {
                        // As a runtime does: the error variable alone fits.
                        let _ = conn.send_ack(t, &[], now);
                    }
                }
            }
            AgentStep::Advance(ms) => {
                now += Duration::from_millis(u64::from(*ms) * 8);
                conn.handle_timeout(now);
            }
            AgentStep::Shutdown => conn.shutdown(&mut buf, now, Duration::from_secs(1)),
            AgentStep::Eof => conn.handle_eof(),
            AgentStep::Reset => {
                conn.handle_read_error(&io::Error::from(io::ErrorKind::ConnectionReset))
            }
        }
        conn.handle_input(&mut buf, now);
        assert!(
            buf.len() <= bound,
            "{} bytes buffered, bound {bound}",
            buf.len()
        );
        if conn.wants_input() {
            // Everything whole was taken: at most a partial frame is left.
            assert!(
                buf.len() < max_frame_size as usize + LENGTH_PREFIX,
                "{} bytes left",
                buf.len()
            );
        }
        assert!(buf.capacity() <= 2 * bound, "capacity {}", buf.capacity());
        assert!(conn.in_flight() <= max_in_flight);
        while let Some(event) = conn.poll_event() {
            assert!(!closed, "an event after Closed: {event:?}");
            match event {
                AgentEvent::Notify { ticket, .. } => tickets.push(ticket),
                AgentEvent::Closed(_) => {
                    closed = true;
                    tickets.clear();
                }
                _ => {}
            }
        }
        assert_eq!(conn.in_flight(), tickets.len());
        let mut out = BytesMut::new();
        if conn.poll_transmit(&mut out) {
            let max = conn
                .agreed()
                .map_or(max_frame_size, |a| a.max_frame_size.max(64));
            whole_frames(&mut out, max.max(256));
        }
        assert_eq!(closed, conn.is_closed());
        if let Some(at) = conn.poll_timeout() {
            assert!(at >= t0);
        }
    }
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn the_agent_survives_anything(
        max_frame_size in prop::sample::select(vec![256u32, 1024, 16380]),
        max_in_flight in 1usize..5,
        valid_hello in any::<bool>(),
        steps in vec(agent_step(), 0..40),
    ) {
        run_agent(max_frame_size, max_in_flight, valid_hello, &steps);
    }
}

// ===== the engine =====

#[derive(Debug, Clone)]
enum EngineStep {
    Feed(Input),
    AgentHello(bool),
    Notify(u16, u16),
    NotifyWithIds(u8, u8, u16),
    Ack(prop::sample::Index),
    Advance(u16),
    Drain,
    Disconnect,
    Abort,
    Eof,
}

fn engine_step() -> impl Strategy<Value = EngineStep> {
    prop_oneof![
        4 => input().prop_map(EngineStep::Feed),
        2 => any::<bool>().prop_map(EngineStep::AgentHello),
        4 => (0u16..400, any::<u16>()).prop_map(|(len, d)| EngineStep::Notify(len, d)),
        1 => (any::<u8>(), any::<u8>(), any::<u16>()).prop_map(|(s, f, d)| EngineStep::NotifyWithIds(s, f, d)),
        4 => any::<prop::sample::Index>().prop_map(EngineStep::Ack),
        2 => any::<u16>().prop_map(EngineStep::Advance),
        1 => Just(EngineStep::Drain),
        1 => Just(EngineStep::Disconnect),
        1 => Just(EngineStep::Abort),
        1 => Just(EngineStep::Eof),
    ]
}

fn run_engine(version: Haproxy, steps: &[EngineStep]) {
    let mut config = EngineConfig::new(version.hello(Some("e".into())));
    config.max_waiting_frames = 3;
    config.timeout_idle = Some(Duration::from_secs(2));
    let t0 = Instant::now();
    let mut now = t0;
    let mut conn = EngineConnection::<u64>::new(config, now);
    let mut buf = BytesMut::new();
    // The values in flight, and the ids of those sent (to ACK them).
    let mut waiting: BTreeSet<u64> = BTreeSet::new();
    let mut sent: Vec<(u64, u64)> = Vec::new();
    let mut next_user = 0u64;
    let mut closed = false;
    for step in steps {
        match step {
            EngineStep::Feed(i) => buf.extend_from_slice(&bytes_of(i)),
            EngineStep::AgentHello(pipelining) => {
                let mut b = BytesMut::new();
                Frame::agent_hello(&spop::AgentHello {
                    version: spop::Version::V2_0,
                    max_frame_size: 1024,
                    capabilities: spop::Capabilities {
                        pipelining: *pipelining,
                        async_: *pipelining,
                        fragmentation: false,
                    },
                })
                .encode(&mut b);
                buf.extend_from_slice(&b);
            }
            EngineStep::Notify(len, d) => {
                let payload = vec![0u8; usize::from(*len)];
                let deadline = now + Duration::from_millis(u64::from(*d));
                if let Ok(ids) = conn.send_notify(&payload, deadline, next_user, now) {
                    waiting.insert(next_user);
                    sent.push(ids);
                }
                next_user += 1;
            }
            EngineStep::NotifyWithIds(s, f, d) => {
                let deadline = now + Duration::from_millis(u64::from(*d));
                let (s, f) = (u64::from(*s), u64::from(*f));
                if conn
                    .send_notify_with_ids(s, f, &[1, b'm', 0], deadline, next_user, now)
                    .is_ok()
                {
                    waiting.insert(next_user);
                    sent.push((s, f));
                }
                next_user += 1;
            }
            EngineStep::Ack(i) => {
                if !sent.is_empty() {
                    let (s, f) = sent[i.index(sent.len())];
                    Frame::ack(s, f, vec![]).encode(&mut buf);
                }
            }
            EngineStep::Advance(ms) => {
                now += Duration::from_millis(u64::from(*ms) / 16);
                conn.handle_timeout(now);
            }
            EngineStep::Drain => conn.drain(now),
            EngineStep::Disconnect => conn.disconnect(Status::NORMAL, now),
            EngineStep::Abort => conn.abort(),
            EngineStep::Eof => conn.handle_eof(now),
        }
        conn.handle_input(&mut buf, now);
        assert!(buf.capacity() <= 64 * 1024, "capacity {}", buf.capacity());
        assert!(conn.in_flight() <= conn.slots());
        while let Some(event) = conn.poll_event() {
            assert!(!closed, "an event after Closed: {event:?}");
            match event {
                EngineEvent::Ack { user, .. } | EngineEvent::Expired { user, .. } => {
                    assert!(waiting.remove(&user), "value {user} handed back twice");
                }
                EngineEvent::Closing { in_flight, .. } => {
                    for user in in_flight {
                        assert!(waiting.remove(&user), "value {user} handed back twice");
                    }
                    assert!(waiting.is_empty(), "values never handed back: {waiting:?}");
                }
                EngineEvent::Closed { .. } => closed = true,
                _ => {}
            }
        }
        assert_eq!(conn.in_flight(), waiting.len());
        let mut out = BytesMut::new();
        if conn.poll_transmit(&mut out) {
            whole_frames(&mut out, 16380);
        }
        assert_eq!(closed, conn.is_closed());
    }
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn the_engine_survives_anything_and_resolves_every_notify(
        version in prop::sample::select(vec![Haproxy::V2_6, Haproxy::V3_1]),
        steps in vec(engine_step(), 0..50),
    ) {
        run_engine(version, &steps);
    }
}
