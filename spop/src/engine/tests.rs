//! The engine's state machine alone: bytes in, frames and events out, no
//! socket and no clock (instants are built from one base). The fault plan's
//! engine cases (F1-F9, F19) at the protocol level.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::*;
use crate::action::VarScope;
use crate::action::{Action, ActionList};
use crate::message::Message;

const MS: Duration = Duration::from_millis(1);

fn wire(frames: &[Frame]) -> BytesMut {
    let mut b = BytesMut::new();
    for f in frames {
        f.encode(&mut b);
    }
    b
}

fn agent_hello(mfs: u32, caps: &str) -> Frame {
    Frame::agent_hello(&AgentHello {
        version: crate::Version::V2_0,
        max_frame_size: mfs,
        capabilities: Capabilities::parse(caps),
    })
}

fn payload(v: i64) -> Bytes {
    let mut b = BytesMut::new();
    Message::new("m").arg("v", v).encode(&mut b);
    b.freeze()
}

fn set(v: i64) -> Action {
    Action::set_var(VarScope::Transaction, "v", v)
}

struct Engine {
    conn: EngineConnection<&'static str>,
    t0: Instant,
    input: BytesMut,
}

impl Engine {
    fn with(config: EngineConfig) -> Self {
        let t0 = Instant::now();
        Self {
            conn: EngineConnection::new(config, t0),
            t0,
            input: BytesMut::new(),
        }
    }

    fn new() -> Self {
        let mut c = EngineConfig::new(Haproxy::V3_1.hello(Some("id".into())));
        c.timeout_hello = 1000 * MS;
        c.timeout_idle = Some(30_000 * MS);
        c.max_waiting_frames = 3;
        Self::with(c)
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    fn feed(&mut self, frames: &[Frame]) {
        self.feed_raw(&wire(frames), 0);
    }

    fn feed_raw(&mut self, bytes: &[u8], ms: u64) {
        self.input.extend_from_slice(bytes);
        let now = self.at(ms);
        self.conn.handle_input(&mut self.input, now);
    }

    fn events(&mut self) -> Vec<EngineEvent<&'static str>> {
        std::iter::from_fn(|| self.conn.poll_event()).collect()
    }

    fn sent(&mut self) -> Vec<Frame> {
        let mut out = BytesMut::new();
        self.conn.poll_transmit(&mut out);
        let mut d = FrameDecoder::new(u32::MAX);
        std::iter::from_fn(|| d.decode(&mut out).unwrap()).collect()
    }

    /// A ready connection (the agent announces `caps`).
    fn ready(caps: &str) -> Self {
        let mut e = Self::new();
        let hello = e.sent();
        assert_eq!(hello.len(), 1);
        e.feed(&[agent_hello(16380, caps)]);
        assert!(matches!(e.events()[..], [EngineEvent::Ready(_)]));
        e
    }

    fn notify(&mut self, v: i64, deadline_ms: u64, user: &'static str) -> (u64, u64) {
        let (deadline, now) = (self.at(deadline_ms), self.t0);
        self.conn
            .send_notify(&payload(v), deadline, user, now)
            .unwrap()
    }

    /// The HAPROXY-DISCONNECT status sent, if any.
    fn disconnect_sent(&mut self) -> Option<Status> {
        self.sent().into_iter().find_map(|f| match f.body {
            Body::HaproxyDisconnect(kv) => Some(Disconnect::from_kv(&kv).unwrap().status),
            _ => None,
        })
    }

    fn closing(&mut self) -> (EngineEnd, Vec<&'static str>, bool) {
        self.events()
            .into_iter()
            .find_map(|e| match e {
                EngineEvent::Closing {
                    end,
                    in_flight,
                    reused,
                } => Some((end, in_flight, reused)),
                _ => None,
            })
            .expect("a Closing event")
    }
}

// ===== handshake =====

#[test]
fn the_hello_offers_what_the_haproxy_generation_offers() {
    let mut e = Engine::new();
    let sent = e.sent();
    let Body::HaproxyHello(kv) = &sent[0].body else {
        panic!("{sent:?}")
    };
    let h = HaproxyHello::from_kv(kv).unwrap();
    assert_eq!(h, Haproxy::V3_1.hello(Some("id".into())));
    assert_eq!(h.capabilities.to_string(), "pipelining");
    assert_eq!(
        Haproxy::V2_6.hello(None).capabilities.to_string(),
        "pipelining,async"
    );
    assert_eq!("3.0".parse(), Ok(Haproxy::V2_6));
    assert_eq!("3.2".parse(), Ok(Haproxy::V3_1));
    assert!("1.8".parse::<Haproxy>().is_err());
}

#[test]
fn pipelining_decides_the_slots() {
    let e = Engine::ready("pipelining");
    assert_eq!(e.conn.slots(), 3);
    let e = Engine::ready("");
    assert_eq!(
        e.conn.slots(),
        1,
        "F9: without pipelining, one stream per connection"
    );
    assert_eq!(e.conn.agreed().unwrap().max_frame_size, 16380);
}

#[test]
fn f9_bad_agent_hellos_map_to_their_status() {
    let hello = |kv: Vec<Kv>| Frame {
        header: FrameHeader {
            frame_type: FrameType::AGENT_HELLO,
            flags: Flags::FIN,
            stream_id: 0,
            frame_id: 0,
        },
        body: Body::AgentHello(kv),
    };
    let mfs = |v: u32| Kv::new("max-frame-size", v);
    let version = |v: &str| Kv::new("version", v.to_owned());
    for (frame, status, farewell) in [
        (hello(vec![mfs(16380)]), Status::NO_VERSION, true),
        (
            hello(vec![version("3.0"), mfs(16380)]),
            Status::BAD_VERSION,
            true,
        ),
        (hello(vec![version("2.0")]), Status::NO_FRAME_SIZE, true),
        (
            hello(vec![version("2.0"), mfs(16381)]),
            Status::BAD_FRAME_SIZE,
            true,
        ),
        (
            hello(vec![version("2.0"), mfs(255)]),
            Status::BAD_FRAME_SIZE,
            true,
        ),
        (Frame::ack(1, 1, vec![]), Status::INVALID_FRAME, true),
    ] {
        let mut e = Engine::new();
        e.sent();
        e.feed(&[frame]);
        let (end, in_flight, _) = e.closing();
        assert!(
            matches!(&end, EngineEnd::Handshake { status: s, .. } if *s == status),
            "{end:?}"
        );
        assert!(in_flight.is_empty());
        assert_eq!(e.disconnect_sent(), farewell.then_some(status), "{status}");
        assert!(
            e.conn.is_closed(),
            "a failed handshake does not wait for a reply"
        );
    }
}

#[test]
fn f9_no_hello_times_out_and_a_hello_in_single_bytes_works() {
    let mut e = Engine::new();
    e.sent();
    assert_eq!(e.conn.poll_timeout(), Some(e.at(1000)));
    e.conn.handle_timeout(e.at(999));
    assert!(e.events().is_empty());
    e.conn.handle_timeout(e.at(1000));
    assert!(
        matches!(e.closing().0, EngineEnd::Handshake { status, .. } if status == Status::TIMEOUT)
    );
    assert_eq!(e.disconnect_sent(), Some(Status::TIMEOUT));

    let mut e = Engine::new();
    for b in wire(&[agent_hello(16380, "pipelining")]) {
        e.feed_raw(&[b], 0);
    }
    assert!(e.conn.is_ready());
}

#[test]
fn the_socket_ending_during_the_handshake_is_an_io_failure() {
    let mut e = Engine::new();
    e.sent();
    e.conn.handle_eof(e.t0);
    assert_eq!(
        e.closing().0,
        EngineEnd::Broken("agent closed the connection".into())
    );
    assert_eq!(e.disconnect_sent(), None);

    // A refusal is the agent's goodbye: nothing is sent back.
    let mut e = Engine::new();
    e.sent();
    e.feed(&[Frame::agent_disconnect(&Disconnect::new(
        Status::BAD_VERSION,
    ))]);
    let (end, ..) = e.closing();
    assert_eq!(end.status(), Some(Status::BAD_VERSION));
    assert!(matches!(end, EngineEnd::AgentDisconnect(_)));
    assert_eq!(e.disconnect_sent(), None);
}

#[test]
fn a_health_check_passes_on_a_valid_agent_hello_and_ends() {
    let mut hello = Haproxy::V2_6.hello(None);
    hello.healthcheck = true;
    hello.capabilities = Capabilities::default();
    let mut e = Engine::with(EngineConfig::new(hello));
    let sent = e.sent();
    let Body::HaproxyHello(kv) = &sent[0].body else {
        unreachable!()
    };
    assert!(HaproxyHello::from_kv(kv).unwrap().healthcheck);
    e.feed(&[agent_hello(16380, "")]);
    let events = e.events();
    assert!(matches!(events[0], EngineEvent::Ready(_)));
    assert!(matches!(
        &events[1],
        EngineEvent::Closing {
            end: EngineEnd::HealthCheck,
            ..
        }
    ));
    assert_eq!(events[2], EngineEvent::Closed { reply: None });
    assert_eq!(e.disconnect_sent(), None, "a check just closes");
}

// ===== NOTIFY and ACK =====

#[test]
fn acks_are_matched_by_ids_and_give_the_value_back() {
    let mut e = Engine::ready("pipelining");
    assert_eq!(e.notify(1, 500, "a"), (1, 1));
    assert_eq!(e.notify(2, 500, "b"), (2, 1));
    assert_eq!(
        e.sent(),
        vec![
            Frame::notify(1, 1, vec![Message::new("m").arg("v", 1i64)]),
            Frame::notify(2, 1, vec![Message::new("m").arg("v", 2i64)]),
        ]
    );
    e.feed(&[Frame::ack(2, 1, vec![set(2)]), Frame::ack(1, 1, vec![])]);
    let events = e.events();
    assert!(
        matches!(&events[0], EngineEvent::Ack { stream_id: 2, user: "b", actions, .. } if actions == &vec![set(2)])
    );
    assert!(matches!(
        &events[1],
        EngineEvent::Ack {
            stream_id: 1,
            user: "a",
            ..
        }
    ));
    assert_eq!(e.conn.in_flight(), 0);
}

#[test]
fn haproxy_2_ids_are_the_callers() {
    let mut e = Engine::ready("pipelining");
    let (deadline, now) = (e.at(500), e.t0);
    e.conn
        .send_notify_with_ids(77, 2, &payload(1), deadline, "x", now)
        .unwrap();
    assert_eq!(
        e.conn
            .send_notify_with_ids(77, 2, &payload(1), deadline, "y", now),
        Err(NotifyError::DuplicateIds("y"))
    );
    assert_eq!(e.sent()[0].header.stream_id, 77);
    e.feed(&[Frame::ack(77, 2, vec![])]);
    assert!(matches!(
        e.events()[..],
        [EngineEvent::Ack {
            frame_id: 2,
            user: "x",
            ..
        }]
    ));
}

#[test]
fn slots_and_the_negotiated_size_bound_what_is_sent() {
    let mut e = Engine::new();
    let now = e.t0;
    assert_eq!(
        e.conn.send_notify(&payload(1), now, "early", now),
        Err(NotifyError::NotReady("early"))
    );
    e.feed(&[agent_hello(256, "")]);
    e.events();
    e.notify(1, 500, "a");
    assert_eq!(
        e.conn.send_notify(&payload(2), now, "b", now),
        Err(NotifyError::NoSlot("b"))
    );
    e.feed(&[Frame::ack(1, 1, vec![])]);
    e.events();
    e.sent();
    let big = vec![0u8; 300];
    assert!(matches!(
        e.conn.send_notify(&big, now, "big", now),
        Err(NotifyError::TooBig {
            user: "big",
            max: 256,
            ..
        })
    ));
    assert!(
        e.sent().is_empty(),
        "F5: a NOTIFY too big for the agent is not sent"
    );
}

#[test]
fn f1_a_deadline_frees_the_slot_and_the_late_ack_is_dropped() {
    let mut e = Engine::ready("pipelining");
    e.notify(1, 500, "slow");
    e.notify(2, 800, "other");
    assert_eq!(e.conn.poll_timeout(), Some(e.at(500)));
    e.conn.handle_timeout(e.at(500));
    assert_eq!(
        e.events(),
        vec![EngineEvent::Expired {
            stream_id: 1,
            frame_id: 1,
            user: "slow"
        }]
    );
    assert_eq!(e.conn.poll_timeout(), Some(e.at(800)));
    e.feed(&[Frame::ack(1, 1, vec![set(1)]), Frame::ack(2, 1, vec![])]);
    let events = e.events();
    assert_eq!(
        events[0],
        EngineEvent::LateAck {
            stream_id: 1,
            frame_id: 1
        }
    );
    assert!(
        matches!(events[1], EngineEvent::Ack { user: "other", .. }),
        "other streams are unaffected"
    );
    assert!(e.conn.is_ready(), "the connection stays up");
    assert_eq!(
        e.notify(3, 900, "next"),
        (3, 1),
        "an expired stream-id is not reused"
    );
}

#[test]
fn f2_when_every_slot_times_out_in_a_row_the_connection_is_closed_with_2() {
    let mut e = Engine::ready("pipelining");
    e.notify(1, 100, "a");
    e.notify(2, 100, "b");
    e.notify(3, 200, "c");
    e.sent();
    e.conn.handle_timeout(e.at(100));
    assert_eq!(e.events().len(), 2);
    assert!(e.conn.is_ready(), "2 of 3 slots");
    e.conn.handle_timeout(e.at(200));
    let events = e.events();
    assert!(matches!(events[0], EngineEvent::Expired { user: "c", .. }));
    assert!(matches!(
        &events[1],
        EngineEvent::Closing {
            end: EngineEnd::Stalled,
            ..
        }
    ));
    assert_eq!(e.disconnect_sent(), Some(Status::TIMEOUT));
}

#[test]
fn an_ack_in_between_resets_the_timeout_streak() {
    let mut e = Engine::ready("");
    e.notify(1, 100, "a");
    e.conn.handle_timeout(e.at(100));
    // One slot: one timeout is every slot.
    assert!(matches!(e.closing().0, EngineEnd::Stalled));

    let mut e = Engine::ready("pipelining");
    e.notify(1, 100, "a");
    e.notify(2, 100, "b");
    e.conn.handle_timeout(e.at(100));
    e.notify(3, 300, "c");
    e.feed(&[Frame::ack(3, 1, vec![])]);
    e.notify(4, 400, "d");
    e.notify(5, 400, "e");
    e.notify(6, 400, "f");
    e.conn.handle_timeout(e.at(400));
    let events = e.events();
    assert!(
        matches!(
            events.last(),
            Some(EngineEvent::Closing {
                end: EngineEnd::Stalled,
                ..
            })
        ),
        "three in a row after the ACK"
    );
}

#[test]
fn f3_the_socket_ending_hands_everything_back_at_once() {
    let mut e = Engine::ready("pipelining");
    e.notify(1, 500, "a");
    e.feed(&[Frame::ack(1, 1, vec![])]);
    e.notify(2, 500, "b");
    e.notify(3, 500, "c");
    e.events();
    e.conn.handle_eof(e.t0);
    let (end, in_flight, reused) = e.closing();
    assert_eq!(end, EngineEnd::Broken("agent closed the connection".into()));
    assert_eq!(end.status(), Some(Status::IO));
    assert_eq!(in_flight, vec!["b", "c"], "oldest first");
    assert!(
        reused,
        "an ACK came before: the message may be retried elsewhere"
    );
    assert!(e.conn.is_closed(), "no goodbye on a dead socket");
}

#[test]
fn f4_f5_f8_garbage_oversized_and_non_fin_frames_are_refused() {
    let non_fin_ack = {
        let mut f = Frame::ack(1, 1, vec![]);
        f.header.flags = Flags(0);
        wire(&[f])
    };
    for (bytes, status) in [
        (vec![0, 0, 0, 0], Status::INVALID_FRAME),
        (vec![0xff, 0xff, 0xff, 0xff], Status::FRAME_TOO_BIG),
        (vec![0, 0, 0x40, 0x00], Status::FRAME_TOO_BIG),
        (vec![0, 0, 0, 6, 103, 0, 0, 0, 1, 1], Status::INVALID_FRAME),
        (non_fin_ack.to_vec(), Status::FRAGMENTATION_NOT_SUPPORTED),
        (
            wire(&[Frame::notify(1, 1, vec![])]).to_vec(),
            Status::INVALID_FRAME,
        ),
    ] {
        let mut e = Engine::ready("pipelining");
        e.notify(1, 500, "a");
        e.sent();
        e.feed_raw(&bytes, 0);
        let (end, in_flight, _) = e.closing();
        assert!(
            matches!(&end, EngineEnd::Refused { status: s, .. } if *s == status),
            "{end:?}"
        );
        assert_eq!(in_flight, vec!["a"], "fail fast");
        assert_eq!(e.disconnect_sent(), Some(status));
        assert!(
            e.input.capacity() < 1024,
            "nothing buffered for a refused length"
        );
    }
}

#[test]
fn f6_an_ack_with_unknown_ids_is_refused_with_12_and_applied_nowhere() {
    let mut e = Engine::ready("pipelining");
    e.notify(1, 500, "a");
    e.feed(&[Frame::ack(9, 1, vec![set(1)])]);
    let (end, in_flight, _) = e.closing();
    assert!(
        matches!(end, EngineEnd::Refused { status, .. } if status == Status::FRAME_ID_NOT_FOUND)
    );
    assert_eq!(in_flight, vec!["a"]);
    // A duplicate ACK is an unknown one.
    let mut e = Engine::ready("pipelining");
    e.notify(1, 500, "a");
    e.feed(&[Frame::ack(1, 1, vec![]), Frame::ack(1, 1, vec![])]);
    let events = e.events();
    assert!(matches!(events[0], EngineEvent::Ack { .. }));
    assert!(matches!(
        &events[1],
        EngineEvent::Closing { end: EngineEnd::Refused { status, .. }, .. } if *status == Status::FRAME_ID_NOT_FOUND
    ));
}

#[test]
fn f7_f8_unknown_actions_pass_and_an_empty_ack_succeeds() {
    let mut e = Engine::ready("pipelining");
    e.notify(1, 500, "a");
    e.notify(2, 500, "b");
    let unknown = Action::Unknown {
        action_type: 9,
        rest: Bytes::from_static(&[1, 2]),
    };
    e.feed(&[
        Frame::ack(1, 1, vec![set(1), unknown.clone()]),
        Frame::ack(2, 1, vec![]),
    ]);
    let events = e.events();
    assert!(
        matches!(&events[0], EngineEvent::Ack { actions, .. } if actions == &vec![set(1), unknown])
    );
    assert!(matches!(&events[1], EngineEvent::Ack { actions, .. } if actions.is_empty()));
}

#[test]
fn unknown_frame_types_are_skipped() {
    let mut e = Engine::ready("pipelining");
    e.feed_raw(&[0, 0, 0, 8, 42, 0, 0, 0, 1, 0, 0, 7], 0);
    assert!(matches!(e.events()[..], [EngineEvent::Skipped(h)] if h.frame_type == FrameType(42)));
    assert!(e.conn.is_ready());
}

#[test]
fn the_agents_goodbye_fails_what_is_in_flight_without_ours() {
    let mut e = Engine::ready("pipelining");
    e.notify(1, 500, "a");
    e.sent();
    e.feed(&[Frame::agent_disconnect(&Disconnect::new(Status::RESOURCE))]);
    let (end, in_flight, _) = e.closing();
    assert_eq!(end.status(), Some(Status::RESOURCE));
    assert_eq!(in_flight, vec!["a"]);
    assert_eq!(e.disconnect_sent(), None);
    assert!(e.conn.is_closed());
}

// ===== idle, drain, goodbye =====

#[test]
fn idle_connections_say_goodbye_and_wait_for_the_answer() {
    let mut e = Engine::ready("pipelining");
    assert_eq!(e.conn.poll_timeout(), Some(e.at(30_000)));
    e.notify(1, 500, "a");
    e.feed(&[Frame::ack(1, 1, vec![])]);
    e.input.extend_from_slice(&wire(&[]));
    // Idle counts from the last ACK (at 0 here).
    e.conn.handle_timeout(e.at(29_999));
    assert!(e.conn.is_ready());
    e.conn.handle_timeout(e.at(30_000));
    assert!(matches!(e.closing().0, EngineEnd::Idle));
    assert_eq!(e.disconnect_sent(), Some(Status::NORMAL));
    assert!(!e.conn.is_closed(), "waits for AGENT-DISCONNECT");
    assert_eq!(
        e.conn.poll_timeout(),
        Some(e.at(31_000)),
        "at most timeout hello"
    );
    e.feed(&[
        Frame::ack(5, 1, vec![]),
        Frame::agent_disconnect(&Disconnect::new(Status::NORMAL)),
    ]);
    let events = e.events();
    assert!(matches!(events[0], EngineEvent::Ignored(h) if h.frame_type == FrameType::ACK));
    assert_eq!(
        events[1],
        EngineEvent::Closed {
            reply: Some(Disconnect::new(Status::NORMAL))
        }
    );
}

#[test]
fn the_wait_for_the_agents_goodbye_is_bounded() {
    let mut e = Engine::ready("pipelining");
    e.conn.disconnect(Status::NORMAL, e.t0);
    assert_eq!(e.disconnect_sent(), Some(Status::NORMAL));
    assert!(matches!(
        e.closing().0,
        EngineEnd::Disconnected(Status::NORMAL)
    ));
    e.conn.handle_timeout(e.at(1000));
    assert_eq!(e.events(), vec![EngineEvent::Closed { reply: None }]);
}

#[test]
fn drain_closes_idle_connections_at_once_and_busy_ones_after_their_ack() {
    let mut e = Engine::ready("pipelining");
    e.conn.drain(e.t0);
    assert!(matches!(e.closing().0, EngineEnd::Drained));
    assert_eq!(e.disconnect_sent(), Some(Status::NORMAL));

    let mut e = Engine::ready("pipelining");
    e.notify(1, 500, "a");
    e.sent();
    e.conn.drain(e.t0);
    let now = e.t0;
    assert_eq!(
        e.conn.send_notify(&payload(2), now, "b", now),
        Err(NotifyError::NotReady("b")),
        "a draining connection takes nothing new"
    );
    assert!(e.events().is_empty());
    e.feed(&[Frame::ack(1, 1, vec![])]);
    let events = e.events();
    assert!(matches!(events[0], EngineEvent::Ack { user: "a", .. }));
    assert!(matches!(
        &events[1],
        EngineEvent::Closing {
            end: EngineEnd::Drained,
            ..
        }
    ));

    // Drained during the handshake: it closes as soon as it is ready.
    let mut e = Engine::new();
    e.conn.drain(e.t0);
    e.feed(&[agent_hello(16380, "pipelining")]);
    assert!(matches!(e.closing().0, EngineEnd::Drained));
}

#[test]
fn abort_hands_everything_back_without_goodbye() {
    let mut e = Engine::ready("pipelining");
    e.notify(1, 500, "a");
    e.sent();
    e.conn.abort();
    let events = e.events();
    assert!(
        matches!(&events[0], EngineEvent::Closing { end: EngineEnd::Aborted, in_flight, .. } if in_flight == &vec!["a"])
    );
    assert_eq!(events[1], EngineEvent::Closed { reply: None });
    assert_eq!(EngineEnd::Aborted.status(), None);
    assert!(e.sent().is_empty());
    e.conn.abort();
    assert!(e.events().is_empty(), "once");
}

// ===== HAProxy 2.x =====

#[test]
fn with_async_agreed_a_foreign_ack_is_handed_out_not_refused() {
    let mut c = EngineConfig::new(Haproxy::V2_6.hello(None));
    c.max_waiting_frames = 2;
    let mut e = Engine::with(c);
    e.sent();
    e.feed(&[agent_hello(16380, "pipelining,async")]);
    e.events();
    e.feed(&[Frame::ack(31, 1, vec![set(1)])]);
    assert_eq!(
        e.events(),
        vec![EngineEvent::ForeignAck {
            stream_id: 31,
            frame_id: 1,
            actions: ActionList::from(vec![set(1)])
        }]
    );
    assert!(e.conn.is_ready());
}

#[test]
fn a_kit_may_send_its_own_fragments_and_wait_for_their_ack() {
    let mut e = Engine::ready("pipelining");
    let (deadline, now) = (e.at(500), e.t0);
    e.conn.expect_ack(9, 1, deadline, "frag", now).unwrap();
    e.feed(&[Frame::ack(9, 1, vec![])]);
    assert!(matches!(
        e.events()[..],
        [EngineEvent::Ack { user: "frag", .. }]
    ));
}

#[test]
fn a_custom_hello_is_sent_as_given_and_judged_against_the_offer() {
    let t0 = Instant::now();
    let mut c = EngineConfig::new(Haproxy::V2_6.hello(None));
    c.hello.max_frame_size = 1024;
    let kv = vec![Kv::new("conformance-key", "x")];
    let mut e = EngineConnection::<()>::with_hello_kv(c, kv.clone(), t0);
    let mut out = BytesMut::new();
    e.poll_transmit(&mut out);
    let f = FrameDecoder::new(u32::MAX)
        .decode(&mut out)
        .unwrap()
        .unwrap();
    assert_eq!(f.body, Body::HaproxyHello(kv));
    let mut input = wire(&[agent_hello(2048, "")]);
    e.handle_input(&mut input, t0);
    assert!(matches!(
        e.poll_event(),
        Some(EngineEvent::Closing {
            end: EngineEnd::Handshake {
                status: Status::BAD_FRAME_SIZE,
                ..
            },
            ..
        })
    ));
}
