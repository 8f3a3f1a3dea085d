//! Arbitrary bytes, cut into arbitrary reads, fed to both ends of a
//! connection (`spop::agent::AgentConnection` after a valid HELLO, and
//! `spop::engine::EngineConnection` after a valid AGENT-HELLO), with every
//! NOTIFY answered: no panic, input bounded by a frame, and on the engine's
//! side nothing in flight beyond its slots.
#![no_main]

use std::time::{Duration, Instant};

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use spop::agent::{AgentConfig, AgentConnection, AgentEvent};
use spop::engine::{EngineConfig, EngineConnection, Haproxy};
use spop::{AgentHello, Capabilities, Frame, Version};

const MAX: u32 = 1024;

fuzz_target!(|data: &[u8]| {
    let [cut, rest @ ..] = data else {
        return;
    };
    let chunk = usize::from(*cut).max(1);
    let t0 = Instant::now();

    // The agent.
    let mut config = AgentConfig::default();
    config.max_frame_size = MAX;
    config.max_in_flight = 4;
    let mut agent = AgentConnection::new(config, t0);
    let mut hello = Haproxy::V2_6.hello(None);
    hello.max_frame_size = MAX;
    let mut buf = BytesMut::new();
    Frame::haproxy_hello(&hello).encode(&mut buf);
    let mut out = BytesMut::new();
    for (i, part) in rest.chunks(chunk).enumerate() {
        let now = t0 + Duration::from_millis(i as u64);
        if agent.wants_input() {
            buf.extend_from_slice(part);
        }
        agent.handle_input(&mut buf, now);
        while let Some(event) = agent.poll_event() {
            match event {
                AgentEvent::Hello { .. } => agent.accept(now),
                AgentEvent::Notify { ticket, .. } => {
                    let _ = agent.send_ack(ticket, &[], now);
                }
                _ => {}
            }
        }
        agent.handle_timeout(now);
        if agent.wants_input() {
            assert!(buf.len() < MAX as usize + 4, "{} bytes left", buf.len());
        }
        out.clear();
        agent.poll_transmit(&mut out);
    }

    // The engine.
    let mut engine = EngineConnection::<usize>::new(EngineConfig::new(hello), t0);
    let mut buf = BytesMut::new();
    Frame::agent_hello(&AgentHello {
        version: Version::V2_0,
        max_frame_size: MAX,
        capabilities: Capabilities::parse("pipelining"),
    })
    .encode(&mut buf);
    for (i, part) in rest.chunks(chunk).enumerate() {
        let now = t0 + Duration::from_millis(i as u64);
        buf.extend_from_slice(part);
        engine.handle_input(&mut buf, now);
        let _ = engine.send_notify(&[1, b'm', 0], now + Duration::from_millis(5), i, now);
        while engine.poll_event().is_some() {}
        engine.handle_timeout(now);
        assert!(engine.in_flight() <= engine.slots());
        out.clear();
        engine.poll_transmit(&mut out);
    }
});
