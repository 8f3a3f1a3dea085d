//! The agent's state machine alone: bytes in, frames and events out, no
//! socket and no clock (instants are built from one base).

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::*;
use crate::action::VarScope;
use crate::data::TypedData;
use crate::frame::{Flags, FrameType};
use crate::kv::Kv;

const S: Duration = Duration::from_secs(1);

fn hello_with(caps: &str, mfs: u32) -> HaproxyHello {
    HaproxyHello {
        supported_versions: "2.0".into(),
        max_frame_size: mfs,
        capabilities: Capabilities::parse(caps),
        healthcheck: false,
        engine_id: Some("engine".into()),
    }
}

/// HAProxy 2.6's HELLO.
fn hello() -> HaproxyHello {
    hello_with("pipelining,async", 16380)
}

fn wire(frames: &[Frame]) -> BytesMut {
    let mut b = BytesMut::new();
    for f in frames {
        f.encode(&mut b);
    }
    b
}

fn notify(stream_id: u64, frame_id: u64, v: i64) -> Frame {
    Frame::notify(stream_id, frame_id, vec![Message::new("m").arg("v", v)])
}

fn fragment(t: FrameType, flags: u32, payload: &[u8]) -> Frame {
    Frame {
        header: FrameHeader {
            frame_type: t,
            flags: Flags(flags),
            stream_id: 5,
            frame_id: 6,
        },
        body: Body::Fragment(Bytes::copy_from_slice(payload)),
    }
}

/// A connection and the instant it started at.
struct Agent {
    conn: AgentConnection,
    t0: Instant,
    input: BytesMut,
}

impl Agent {
    fn new(config: AgentConfig) -> Self {
        let t0 = Instant::now();
        Self {
            conn: AgentConnection::new(config, t0),
            t0,
            input: BytesMut::new(),
        }
    }

    fn at(&self, d: Duration) -> Instant {
        self.t0 + d
    }

    fn feed(&mut self, frames: &[Frame]) {
        self.feed_raw(&wire(frames));
    }

    fn feed_raw(&mut self, bytes: &[u8]) {
        self.input.extend_from_slice(bytes);
        let now = self.t0;
        self.conn.handle_input(&mut self.input, now);
    }

    fn events(&mut self) -> Vec<AgentEvent> {
        std::iter::from_fn(|| self.conn.poll_event()).collect()
    }

    /// The frames queued for the engine.
    fn sent(&mut self) -> Vec<Frame> {
        let mut out = BytesMut::new();
        self.conn.poll_transmit(&mut out);
        let mut d = FrameDecoder::new(u32::MAX);
        let mut frames = Vec::new();
        while let Some(f) = d.decode(&mut out).unwrap() {
            frames.push(f);
        }
        assert!(out.is_empty(), "whole frames only");
        frames
    }

    /// HELLO, accepted; the AGENT-HELLO.
    fn handshake_with(&mut self, hello: &HaproxyHello) -> AgentHello {
        self.feed(&[Frame::haproxy_hello(hello)]);
        assert_eq!(
            self.events(),
            vec![AgentEvent::Hello {
                healthcheck: hello.healthcheck
            }]
        );
        self.conn.accept(self.t0);
        let sent = self.sent();
        let [
            Frame {
                body: Body::AgentHello(kv),
                ..
            },
        ] = &sent[..]
        else {
            panic!("expected AGENT-HELLO, got {sent:?}")
        };
        AgentHello::from_kv(kv, hello.max_frame_size).unwrap()
    }

    fn handshake(&mut self) -> AgentHello {
        self.handshake_with(&hello())
    }

    /// The tickets and ids of the NOTIFY events.
    fn notifies(&mut self) -> Vec<(Ticket, u64, u64)> {
        self.events()
            .into_iter()
            .map(|e| match e {
                AgentEvent::Notify {
                    ticket,
                    stream_id,
                    frame_id,
                    ..
                } => (ticket, stream_id, frame_id),
                other => panic!("expected NOTIFY, got {other:?}"),
            })
            .collect()
    }

    /// Expects AGENT-DISCONNECT `status` as the last frame sent, and the end.
    fn expect_disconnect(&mut self, status: Status) -> ConnectionEnd {
        let sent = self.sent();
        let Some(Frame {
            body: Body::AgentDisconnect(kv),
            ..
        }) = sent.last()
        else {
            panic!("expected AGENT-DISCONNECT {status}, got {sent:?}")
        };
        let d = Disconnect::from_kv(kv).unwrap();
        assert_eq!(d.status, status, "{d:?}");
        assert_eq!(d.message, status.reason().unwrap());
        self.closed()
    }

    fn closed(&mut self) -> ConnectionEnd {
        assert!(self.conn.is_closed());
        let end = self.conn.end().cloned().unwrap();
        assert!(
            self.events().contains(&AgentEvent::Closed(end.clone())),
            "a Closed event"
        );
        end
    }
}

fn config() -> AgentConfig {
    AgentConfig::default()
}

// ===== handshake =====

#[test]
fn the_handshake_answers_version_size_and_capabilities() {
    let mut a = Agent::new(AgentConfig {
        max_frame_size: 4096,
        ..config()
    });
    let answer = a.handshake();
    assert_eq!(answer.version, crate::Version::V2_0);
    assert_eq!(answer.max_frame_size, 4096, "ours is smaller");
    assert_eq!(
        answer.capabilities.to_string(),
        "pipelining,fragmentation",
        "pipelining always; async never; fragmentation to an engine that announced async"
    );
    assert_eq!(a.conn.agreed(), Some(&answer));
    assert_eq!(a.conn.hello().unwrap().engine_id.as_deref(), Some("engine"));

    let mut a = Agent::new(config());
    assert_eq!(
        a.handshake_with(&hello_with("pipelining", 1024))
            .max_frame_size,
        1024
    );
}

#[test]
fn the_agent_hello_carries_max_frame_size_as_uint32() {
    let mut a = Agent::new(config());
    a.feed(&[Frame::haproxy_hello(&hello())]);
    a.events();
    a.conn.accept(a.t0);
    let sent = a.sent();
    let Body::AgentHello(kv) = &sent[0].body else {
        unreachable!()
    };
    assert_eq!(
        crate::kv::find(kv, "max-frame-size"),
        Some(&TypedData::Uint32(16380))
    );
}

#[test]
fn fragmentation_is_announced_to_engines_that_fragment() {
    for (policy, offered, answered) in [
        (Fragmentation::Auto, "pipelining", "pipelining"),
        (Fragmentation::Auto, "", ""),
        (
            Fragmentation::Auto,
            "pipelining,async",
            "pipelining,fragmentation",
        ),
        (Fragmentation::Auto, "async", "fragmentation"),
        (
            Fragmentation::Auto,
            "pipelining,fragmentation",
            "pipelining,fragmentation",
        ),
        (
            Fragmentation::Always,
            "pipelining",
            "pipelining,fragmentation",
        ),
        (
            Fragmentation::Never,
            "pipelining,fragmentation",
            "pipelining",
        ),
    ] {
        let mut a = Agent::new(AgentConfig {
            fragmentation: policy,
            ..config()
        });
        let caps = a.handshake_with(&hello_with(offered, 16380)).capabilities;
        assert_eq!(
            caps.to_string(),
            answered,
            "{policy:?}, engine offers {offered:?}"
        );
    }
}

#[test]
fn a_health_check_is_answered_then_ends_without_disconnect() {
    let mut a = Agent::new(config());
    let mut h = hello();
    h.healthcheck = true;
    a.handshake_with(&h);
    assert_eq!(a.closed(), ConnectionEnd::HealthCheck);
    assert!(
        a.sent().is_empty(),
        "no AGENT-DISCONNECT after the AGENT-HELLO"
    );
}

#[test]
fn nothing_is_read_while_the_runtime_decides() {
    let mut a = Agent::new(config());
    a.feed(&[Frame::haproxy_hello(&hello()), notify(1, 1, 1)]);
    assert_eq!(a.events(), vec![AgentEvent::Hello { healthcheck: false }]);
    assert!(!a.conn.wants_input());
    assert_eq!(
        a.conn.poll_timeout(),
        None,
        "the runtime bounds its own wait"
    );
    a.conn.refuse(Status::RESOURCE, "full".into());
    assert_eq!(
        a.expect_disconnect(Status::RESOURCE),
        ConnectionEnd::Refused {
            status: Status::RESOURCE,
            reason: "full".into()
        }
    );
}

#[test]
fn bad_hellos_get_the_matching_status() {
    let base = hello().to_kv();
    let without = |key: &str| -> Vec<Kv> {
        base.iter()
            .filter(|kv| kv.name != key.as_bytes())
            .cloned()
            .collect()
    };
    let with = |key: &'static str, v: TypedData| -> Vec<Kv> {
        let mut kv = without(key);
        kv.push(Kv::new(key, v));
        kv
    };
    for (kv, status) in [
        (without("supported-versions"), Status::NO_VERSION),
        (without("max-frame-size"), Status::NO_FRAME_SIZE),
        (without("capabilities"), Status::NO_CAPABILITIES),
        (
            with("supported-versions", "1.0".into()),
            Status::BAD_VERSION,
        ),
        (
            with("max-frame-size", TypedData::Uint32(100)),
            Status::BAD_FRAME_SIZE,
        ),
        (
            with("supported-versions", TypedData::Uint32(2)),
            Status::INVALID_FRAME,
        ),
    ] {
        let mut a = Agent::new(config());
        a.feed(&[Frame {
            header: FrameHeader {
                frame_type: FrameType::HAPROXY_HELLO,
                flags: Flags::FIN,
                stream_id: 0,
                frame_id: 0,
            },
            body: Body::HaproxyHello(kv),
        }]);
        let end = a.expect_disconnect(status);
        assert!(
            matches!(end, ConnectionEnd::Refused { status: s, .. } if s == status),
            "{end:?}"
        );
    }
}

#[test]
fn a_notify_before_the_hello_is_invalid() {
    let mut a = Agent::new(config());
    a.feed(&[notify(1, 1, 5)]);
    a.expect_disconnect(Status::INVALID_FRAME);
}

#[test]
fn length_prefixes_are_checked_before_anything_is_buffered() {
    for (bytes, status) in [
        (vec![0xff, 0xff, 0xff, 0xff], Status::FRAME_TOO_BIG),
        (vec![0x00, 0x00, 0x3f, 0xfd], Status::FRAME_TOO_BIG),
        (vec![0, 0, 0, 0], Status::INVALID_FRAME),
    ] {
        let mut a = Agent::new(config());
        a.feed_raw(&bytes);
        assert!(
            a.input.capacity() < 1024,
            "nothing reserved for a refused length"
        );
        a.expect_disconnect(status);
    }
    // After the handshake the negotiated (smaller) size is the bound.
    let mut a = Agent::new(config());
    a.handshake_with(&hello_with("pipelining", 512));
    a.feed(&[Frame::notify(
        1,
        1,
        vec![Message::new("m").arg("v", TypedData::binary(vec![0u8; 600]))],
    )]);
    a.expect_disconnect(Status::FRAME_TOO_BIG);
}

#[test]
fn a_silent_engine_times_out_the_hello() {
    let mut a = Agent::new(config());
    assert_eq!(a.conn.poll_timeout(), Some(a.at(5 * S)));
    a.conn.handle_timeout(a.at(4 * S));
    assert!(!a.conn.is_closed());
    a.conn.handle_timeout(a.at(5 * S));
    let end = a.expect_disconnect(Status::TIMEOUT);
    assert!(matches!(end, ConnectionEnd::Refused { status, .. } if status == Status::TIMEOUT));
}

#[test]
fn the_hello_may_come_one_byte_at_a_time() {
    let mut a = Agent::new(config());
    for byte in wire(&[Frame::haproxy_hello(&hello())]) {
        assert!(a.events().is_empty());
        a.feed_raw(&[byte]);
    }
    assert_eq!(a.events(), vec![AgentEvent::Hello { healthcheck: false }]);
}

#[test]
fn the_peer_going_away_during_the_handshake_is_an_io_end() {
    let mut a = Agent::new(config());
    a.conn.handle_eof();
    assert_eq!(
        a.closed(),
        ConnectionEnd::Io("connection closed before HAPROXY-HELLO".into())
    );
    assert!(a.sent().is_empty(), "nobody to tell");
    let mut a = Agent::new(config());
    a.feed(&[Frame::haproxy_hello(&hello())]);
    a.events();
    a.conn
        .handle_write_error(&io::Error::from(io::ErrorKind::BrokenPipe));
    assert!(matches!(a.closed(), ConnectionEnd::Io(e) if e.starts_with("writing AGENT-HELLO")));
}

// ===== NOTIFY and ACK =====

#[test]
fn notifies_are_handed_out_with_their_ids_and_answered_with_tickets() {
    let mut a = Agent::new(config());
    a.handshake();
    a.feed(&[notify(3, 4, 7), notify(1 << 40, 300, 8)]);
    let events = a.events();
    let AgentEvent::Notify {
        ticket, messages, ..
    } = &events[0]
    else {
        panic!("{events:?}")
    };
    assert_eq!(messages[0].get("v"), Some(&TypedData::Int64(7)));
    let AgentEvent::Notify {
        ticket: second,
        stream_id,
        frame_id,
        ..
    } = &events[1]
    else {
        panic!("{events:?}")
    };
    assert_eq!((*stream_id, *frame_id), (1 << 40, 300));
    assert_eq!(a.conn.in_flight(), 2);
    let set = Action::set_var(VarScope::Transaction, "v", 8i64);
    a.conn
        .send_ack(*second, std::slice::from_ref(&set), a.t0)
        .unwrap();
    a.conn.send_ack(*ticket, &[], a.t0).unwrap();
    assert_eq!(
        a.sent(),
        vec![
            Frame::ack(1 << 40, 300, vec![set]),
            Frame::ack(3, 4, vec![])
        ],
        "ACKs leave in the order they are given, with their NOTIFY's ids"
    );
    assert_eq!(
        a.conn.send_ack(*ticket, &[], a.t0),
        Err(AckError::UnknownTicket),
        "one answer per NOTIFY"
    );
    assert_eq!(a.conn.in_flight(), 0);
}

#[test]
fn an_ack_too_big_is_refused_and_the_ticket_stays_good() {
    let mut a = Agent::new(config());
    a.handshake_with(&hello_with("pipelining", 256));
    a.feed(&[notify(1, 1, 1)]);
    let [(ticket, ..)] = a.notifies()[..] else {
        unreachable!()
    };
    let big = Action::set_var(
        VarScope::Transaction,
        "big",
        TypedData::binary(vec![0; 300]),
    );
    let e = a.conn.send_ack(ticket, &[big], a.t0).unwrap_err();
    assert!(
        matches!(
            e,
            AckError::TooBig(EncodeError::FrameTooBig { max: 256, .. })
        ),
        "{e:?}"
    );
    assert!(a.sent().is_empty(), "nothing half-written");
    a.conn.send_ack(ticket, &[], a.t0).unwrap();
    assert_eq!(a.sent(), vec![Frame::ack(1, 1, vec![])]);
}

#[test]
fn reading_stops_at_the_in_flight_bound_and_resumes_per_answer() {
    let mut a = Agent::new(AgentConfig {
        max_in_flight: 2,
        ..config()
    });
    a.handshake();
    a.feed(&(0..5).map(|i| notify(i, 1, 0)).collect::<Vec<_>>());
    let first = a.notifies();
    assert_eq!(first.len(), 2, "only two handed out");
    assert!(!a.conn.wants_input(), "backpressure: stop reading");
    assert!(!a.input.is_empty(), "the rest stays buffered");
    a.conn.send_ack(first[0].0, &[], a.t0).unwrap();
    assert!(a.conn.wants_input());
    a.feed(&[]);
    let next = a.notifies();
    assert_eq!(
        next.iter().map(|n| n.1).collect::<Vec<_>>(),
        vec![2],
        "one ACK frees one slot"
    );
}

#[test]
fn unknown_frame_types_are_skipped() {
    let mut a = Agent::new(config());
    a.handshake();
    a.feed_raw(&[0, 0, 0, 9, 42, 0, 0, 0, 1, 0, 0, 0xde, 0xad]);
    a.feed(&[notify(3, 4, 7)]);
    let events = a.events();
    assert!(matches!(&events[0], AgentEvent::Skipped(h) if h.frame_type == FrameType(42)));
    assert!(matches!(
        &events[1],
        AgentEvent::Notify {
            stream_id: 3,
            frame_id: 4,
            ..
        }
    ));
}

#[test]
fn invalid_frames_after_the_handshake_are_refused() {
    let cases: Vec<(Vec<u8>, Status)> = vec![
        // NOTIFY whose typed data uses reserved type 12.
        (
            vec![0, 0, 0, 12, 3, 0, 0, 0, 1, 1, 1, 1, b'm', 1, 0, 0x0c],
            Status::INVALID_FRAME,
        ),
        // NOTIFY with a string running past the frame.
        (
            vec![0, 0, 0, 11, 3, 0, 0, 0, 1, 1, 1, 5, b'm', b'x', 0],
            Status::INVALID_FRAME,
        ),
        // An ACK sent to an agent.
        (
            vec![0, 0, 0, 7, 103, 0, 0, 0, 1, 1, 1],
            Status::INVALID_FRAME,
        ),
        // A second HAPROXY-HELLO.
        (vec![0, 0, 0, 7, 1, 0, 0, 0, 1, 0, 0], Status::INVALID_FRAME),
    ];
    for (bytes, status) in cases {
        let mut a = Agent::new(config());
        a.handshake();
        a.feed(&[notify(1, 1, 1)]);
        a.feed_raw(&bytes);
        a.expect_disconnect(status);
        assert!(
            a.events().is_empty(),
            "the NOTIFY in flight is dropped with the connection"
        );
    }
}

#[test]
fn fragmented_notifies_are_reassembled_and_limits_hold() {
    let msg = Message::new("m").arg("path", "/".repeat(3000));
    let mut payload = Vec::new();
    msg.encode(&mut payload);

    let mut a = Agent::new(config());
    a.handshake();
    a.feed(&[
        fragment(FrameType::NOTIFY, 0, &payload[..1000]),
        fragment(FrameType::UNSET, 0, &payload[1000..2000]),
    ]);
    assert!(a.events().is_empty());
    a.feed(&[fragment(FrameType::UNSET, 1, &payload[2000..])]);
    let events = a.events();
    assert!(
        matches!(&events[..], [AgentEvent::Notify { stream_id: 5, frame_id: 6, messages, .. }] if messages == &vec![msg.clone()])
    );
    // Aborted: no NOTIFY, no answer expected.
    a.feed(&[
        fragment(FrameType::NOTIFY, 0, &payload[..10]),
        fragment(FrameType::UNSET, 3, &[]),
    ]);
    assert_eq!(
        a.events(),
        vec![AgentEvent::Aborted {
            stream_id: 5,
            frame_id: 6
        }]
    );
    // Interlaced fragments are refused with 11.
    a.feed(&[
        fragment(FrameType::NOTIFY, 0, &payload[..10]),
        notify(7, 7, 1),
    ]);
    a.expect_disconnect(Status::INTERLACED_FRAMES);

    // Oversized payloads with 3.
    let mut a = Agent::new(AgentConfig {
        reassembly_limit: 2048,
        ..config()
    });
    a.handshake();
    a.feed(&[
        fragment(FrameType::NOTIFY, 0, &payload[..1500]),
        fragment(FrameType::UNSET, 0, &payload[1500..]),
    ]);
    a.expect_disconnect(Status::FRAME_TOO_BIG);
}

// ===== endings =====

#[test]
fn haproxy_disconnect_answers_what_is_in_flight_first() {
    let mut a = Agent::new(config());
    a.handshake();
    a.feed(&[
        notify(1, 1, 1),
        notify(2, 1, 2),
        Frame::haproxy_disconnect(&Disconnect::new(Status::NORMAL)),
        notify(3, 1, 3),
    ]);
    let events = a.events();
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(matches!(&events[2], AgentEvent::EngineDisconnect(d) if d.status == Status::NORMAL));
    assert!(!a.conn.wants_input(), "nothing is read after the goodbye");
    let (t1, t2) = match (&events[0], &events[1]) {
        (AgentEvent::Notify { ticket: t1, .. }, AgentEvent::Notify { ticket: t2, .. }) => {
            (*t1, *t2)
        }
        _ => panic!("{events:?}"),
    };
    a.conn.send_ack(t2, &[], a.t0).unwrap();
    assert!(!a.conn.is_closed());
    a.conn.send_ack(t1, &[], a.t0).unwrap();
    let sent = a.sent();
    assert_eq!(
        &sent[..2],
        &[Frame::ack(2, 1, vec![]), Frame::ack(1, 1, vec![])]
    );
    a.conn.poll_transmit(&mut BytesMut::new());
    assert!(
        matches!(a.conn.end(), Some(ConnectionEnd::EngineDisconnect(d)) if d.status == Status::NORMAL)
    );
    assert_eq!(
        sent[2],
        Frame::agent_disconnect(&Disconnect::new(Status::NORMAL))
    );
}

#[test]
fn handlers_past_the_disconnect_grace_are_given_up() {
    let mut a = Agent::new(config());
    a.handshake();
    a.feed(&[
        notify(1, 1, 1),
        Frame::haproxy_disconnect(&Disconnect::new(Status::NORMAL)),
    ]);
    assert_eq!(a.conn.poll_timeout(), Some(a.at(11 * S)));
    a.conn.handle_timeout(a.at(11 * S));
    assert!(matches!(
        a.expect_disconnect(Status::NORMAL),
        ConnectionEnd::EngineDisconnect(_)
    ));
}

#[test]
fn shutdown_answers_what_was_read_then_says_goodbye() {
    let mut a = Agent::new(config());
    a.handshake();
    a.feed(&[notify(1, 1, 1)]);
    let [(t1, ..)] = a.notifies()[..] else {
        unreachable!()
    };
    // Read by the socket, not yet taken: taken by the stop too.
    a.input.extend_from_slice(&wire(&[notify(2, 1, 2)]));
    a.conn.shutdown(&mut a.input, a.t0, 5 * S);
    let [(t2, 2, 1)] = a.notifies()[..] else {
        panic!("the buffered NOTIFY is answered too")
    };
    assert!(!a.conn.wants_input());
    a.conn.send_ack(t1, &[], a.t0).unwrap();
    a.conn.send_ack(t2, &[], a.t0).unwrap();
    let sent = a.sent();
    assert_eq!(sent.len(), 3);
    assert_eq!(
        sent[2],
        Frame::agent_disconnect(&Disconnect::new(Status::NORMAL))
    );
    assert_eq!(a.closed(), ConnectionEnd::Shutdown);
}

#[test]
fn shutdown_with_nothing_in_flight_says_goodbye_at_once_and_bounds_the_rest() {
    let mut a = Agent::new(config());
    a.handshake();
    a.conn.shutdown(&mut BytesMut::new(), a.t0, 5 * S);
    assert_eq!(a.expect_disconnect(Status::NORMAL), ConnectionEnd::Shutdown);

    let mut a = Agent::new(config());
    a.handshake();
    a.feed(&[notify(1, 1, 1)]);
    a.conn.shutdown(&mut BytesMut::new(), a.t0, 5 * S);
    assert_eq!(a.conn.poll_timeout(), Some(a.at(5 * S)));
    a.conn.handle_timeout(a.at(5 * S));
    assert_eq!(a.expect_disconnect(Status::NORMAL), ConnectionEnd::Shutdown);

    // Before the handshake: refused with status 0.
    let mut a = Agent::new(config());
    a.conn.shutdown(&mut BytesMut::new(), a.t0, 5 * S);
    assert!(matches!(
        a.expect_disconnect(Status::NORMAL),
        ConnectionEnd::Refused { .. }
    ));
}

#[test]
fn idle_connections_are_closed_and_activity_or_work_keeps_them() {
    let mut a = Agent::new(AgentConfig {
        idle_timeout: 5 * S,
        ..config()
    });
    a.handshake();
    assert_eq!(a.conn.poll_timeout(), Some(a.at(5 * S)));
    // A frame at 4 s pushes the timeout.
    a.input.extend_from_slice(&wire(&[notify(1, 1, 1)]));
    let at = a.at(4 * S);
    a.conn.handle_input(&mut a.input, at);
    let [(t, ..)] = a.notifies()[..] else {
        unreachable!()
    };
    assert_eq!(
        a.conn.poll_timeout(),
        None,
        "never idle while a NOTIFY is answered"
    );
    a.conn.send_ack(t, &[], a.at(12 * S)).unwrap();
    a.sent();
    a.conn.handle_timeout(a.at(16 * S));
    assert!(!a.conn.is_closed(), "5 s after the last ACK, not before");
    a.conn.handle_timeout(a.at(17 * S));
    assert_eq!(
        a.expect_disconnect(Status::TIMEOUT),
        ConnectionEnd::IdleTimeout
    );
}

#[test]
fn how_the_engine_leaves_decides_the_end() {
    let running = || {
        let mut a = Agent::new(config());
        a.handshake();
        a
    };
    let mut a = running();
    a.conn.handle_eof();
    assert_eq!(a.closed(), ConnectionEnd::Closed);
    let mut a = running();
    a.conn
        .handle_read_error(&io::Error::from(io::ErrorKind::ConnectionReset));
    assert_eq!(
        a.closed(),
        ConnectionEnd::Reset,
        "HAProxy 3.1+ resets after the last ACK"
    );
    let mut a = running();
    a.feed(&[notify(1, 1, 1)]);
    a.conn
        .handle_read_error(&io::Error::from(io::ErrorKind::ConnectionReset));
    assert_eq!(a.closed(), ConnectionEnd::ClosedInFlight { in_flight: 1 });
    let mut a = running();
    a.feed(&[notify(1, 1, 1)]);
    a.conn
        .handle_write_error(&io::Error::from(io::ErrorKind::BrokenPipe));
    assert!(
        matches!(a.closed(), ConnectionEnd::Io(e) if e.starts_with("writing to the engine failed"))
    );
    assert!(a.sent().is_empty());
}
