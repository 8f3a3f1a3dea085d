//! Proptest strategies for every codec value, shared by the property tests.
//!
//! Each test binary uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use spop::{
    Action, AgentHello, Body, Capabilities, Disconnect, Flags, Frame, FrameHeader, FrameType,
    HaproxyHello, Kv, Message, Status, TypedData, VarScope, Version,
};

/// Frame types the codec knows; anything else decodes as `Body::Unknown`.
pub(crate) const KNOWN_TYPES: [u8; 7] = [0, 1, 2, 3, 101, 102, 103];

/// A `u64` biased towards the varint length boundaries and the extremes.
pub(crate) fn u64_edgy() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => any::<u64>(),
        2 => 0u64..300,
        2 => prop::sample::select(vec![
            0u64,
            239,
            240,
            2287,
            2288,
            264_431,
            264_432,
            33_818_863,
            33_818_864,
            4_328_786_159,
            4_328_786_160,
            u64::from(u32::MAX),
            i64::MAX as u64,
            1 << 63,
            u64::MAX - 1,
            u64::MAX,
        ]),
        // Every varint length, from its lower bound upwards.
        2 => (0u32..64).prop_flat_map(|bits| {
            let lo = 1u64 << bits;
            lo..=lo.saturating_mul(2).saturating_sub(1).max(lo)
        }),
    ]
}

/// Arbitrary bytes, sometimes long enough for a 2- or 3-byte varint length.
pub(crate) fn bytes_any() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        8 => vec(any::<u8>(), 0..24),
        1 => vec(any::<u8>(), 230..260),
        1 => vec(any::<u8>(), 2280..2300),
    ]
    .prop_map(Bytes::from)
}

/// A short name (KV names, message names, variable names): text or raw bytes.
pub(crate) fn name() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        4 => "[a-z][a-z0-9._-]{0,15}".prop_map(Bytes::from),
        1 => Just(Bytes::new()),
        1 => vec(any::<u8>(), 0..20).prop_map(Bytes::from),
        1 => vec(any::<u8>(), 236..245).prop_map(Bytes::from),
    ]
}

/// Every one of the ten typed-data types.
pub(crate) fn typed_data() -> impl Strategy<Value = TypedData> {
    prop_oneof![
        Just(TypedData::Null),
        any::<bool>().prop_map(TypedData::Bool),
        prop_oneof![any::<i32>(), Just(i32::MIN), Just(i32::MAX), Just(-1)]
            .prop_map(TypedData::Int32),
        prop_oneof![any::<u32>(), Just(u32::MAX), 0u32..300].prop_map(TypedData::Uint32),
        prop_oneof![any::<i64>(), Just(i64::MIN), Just(i64::MAX), -300i64..300]
            .prop_map(TypedData::Int64),
        u64_edgy().prop_map(TypedData::Uint64),
        any::<[u8; 4]>().prop_map(|o| TypedData::Ipv4(Ipv4Addr::from(o))),
        any::<[u8; 16]>().prop_map(|o| TypedData::Ipv6(Ipv6Addr::from(o))),
        prop_oneof![".{0,20}".prop_map(Bytes::from), bytes_any(),].prop_map(TypedData::Str),
        bytes_any().prop_map(TypedData::Bin),
    ]
}

/// One KV pair.
pub(crate) fn kv() -> impl Strategy<Value = Kv> {
    (name(), typed_data()).prop_map(|(name, value)| Kv { name, value })
}

/// A message with 0..=255 arguments (mostly few, sometimes the maximum).
pub(crate) fn message() -> impl Strategy<Value = Message> {
    let args = prop_oneof![
        8 => vec(kv(), 0..10),
        1 => vec(kv(), 250..=255),
    ];
    (name(), args).prop_map(|(name, args)| Message { name, args })
}

/// A message with a few arguments: cheaper, for the many-case properties.
pub(crate) fn small_message() -> impl Strategy<Value = Message> {
    (name(), vec(kv(), 0..6)).prop_map(|(name, args)| Message { name, args })
}

/// A variable scope.
pub(crate) fn scope() -> impl Strategy<Value = VarScope> {
    prop::sample::select(VarScope::ALL.to_vec())
}

/// SET-VAR or UNSET-VAR.
pub(crate) fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (scope(), name(), typed_data()).prop_map(|(scope, name, value)| Action::SetVar {
            scope,
            name,
            value
        }),
        (scope(), name()).prop_map(|(scope, name)| Action::UnsetVar { scope, name }),
    ]
}

/// A list of actions, possibly ended by an unknown action (which swallows the
/// rest of the payload, so it can only come last).
pub(crate) fn actions() -> impl Strategy<Value = Vec<Action>> {
    let unknown = (
        any::<u8>().prop_filter("known action", |t| !matches!(t, 1 | 2)),
        bytes_any(),
    )
        .prop_map(|(action_type, rest)| Action::Unknown { action_type, rest });
    (vec(action(), 0..6), proptest::option::of(unknown)).prop_map(|(mut list, last)| {
        list.extend(last);
        list
    })
}

/// A capability set.
pub(crate) fn capabilities() -> impl Strategy<Value = Capabilities> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(pipelining, async_, fragmentation)| {
        Capabilities {
            pipelining,
            async_,
            fragmentation,
        }
    })
}

/// A HAPROXY-HELLO that `HaproxyHello::from_kv` reads back unchanged.
pub(crate) fn haproxy_hello() -> impl Strategy<Value = HaproxyHello> {
    (
        prop_oneof![Just("2.0".to_owned()), "[0-9., ]{0,12}", ".{0,12}"],
        prop_oneof![256u32..=u32::MAX, Just(16380u32), Just(256u32)],
        capabilities(),
        any::<bool>(),
        proptest::option::of("[0-9a-f-]{0,36}"),
    )
        .prop_map(
            |(supported_versions, max_frame_size, capabilities, healthcheck, engine_id)| {
                HaproxyHello {
                    supported_versions,
                    max_frame_size,
                    capabilities,
                    healthcheck,
                    engine_id,
                }
            },
        )
}

/// An AGENT-HELLO that `AgentHello::from_kv(_, u32::MAX)` reads back unchanged.
pub(crate) fn agent_hello() -> impl Strategy<Value = AgentHello> {
    (256u32..=u32::MAX, capabilities()).prop_map(|(max_frame_size, capabilities)| AgentHello {
        version: Version::V2_0,
        max_frame_size,
        capabilities,
    })
}

/// A DISCONNECT payload.
pub(crate) fn disconnect() -> impl Strategy<Value = Disconnect> {
    (prop_oneof![0u32..=13, Just(99u32), any::<u32>()], ".{0,40}").prop_map(|(code, message)| {
        Disconnect {
            status: Status(code),
            message,
        }
    })
}

/// Flags with FIN set and ABORT clear (a whole frame), reserved bits arbitrary.
pub(crate) fn whole_flags() -> impl Strategy<Value = Flags> {
    prop_oneof![
        3 => Just(Flags::FIN),
        1 => any::<u32>().prop_map(|f| Flags((f | Flags::FIN.0) & !Flags::ABORT.0)),
    ]
}

/// Flags of a fragment: FIN clear, or ABORT set.
pub(crate) fn fragment_flags() -> impl Strategy<Value = Flags> {
    any::<u32>().prop_map(|f| {
        if f & Flags::FIN.0 != 0 {
            Flags(f | Flags::ABORT.0)
        } else {
            Flags(f)
        }
    })
}

fn header(frame_type: FrameType, flags: Flags, stream_id: u64, frame_id: u64) -> FrameHeader {
    FrameHeader {
        frame_type,
        flags,
        stream_id,
        frame_id,
    }
}

/// A frame of every type: the four control frames via their typed structs,
/// NOTIFY, ACK, fragments (NOTIFY without FIN or with ABORT, UNSET), and
/// unknown types.
pub(crate) fn frame() -> impl Strategy<Value = Frame> {
    frame_with(message().boxed())
}

/// [`frame()`] with NOTIFY messages of a few arguments.
pub(crate) fn small_frame() -> impl Strategy<Value = Frame> {
    frame_with(small_message().boxed())
}

fn frame_with(message: BoxedStrategy<Message>) -> impl Strategy<Value = Frame> {
    let ids = || (u64_edgy(), u64_edgy());
    prop_oneof![
        haproxy_hello().prop_map(|h| Frame::haproxy_hello(&h)),
        agent_hello().prop_map(|h| Frame::agent_hello(&h)),
        disconnect().prop_map(|d| Frame::haproxy_disconnect(&d)),
        disconnect().prop_map(|d| Frame::agent_disconnect(&d)),
        // Control frames with extra keys and reserved flag bits.
        (
            prop::sample::select(vec![1u8, 2, 101, 102]),
            whole_flags(),
            vec(kv(), 0..8)
        )
            .prop_map(|(t, flags, kv)| {
                let body = match t {
                    1 => Body::HaproxyHello(kv),
                    2 => Body::HaproxyDisconnect(kv),
                    101 => Body::AgentHello(kv),
                    _ => Body::AgentDisconnect(kv),
                };
                Frame {
                    header: header(FrameType(t), flags, 0, 0),
                    body,
                }
            }),
        (ids(), whole_flags(), vec(message, 0..4)).prop_map(|((sid, fid), flags, m)| Frame {
            header: header(FrameType::NOTIFY, flags, sid, fid),
            body: Body::Notify(m),
        }),
        (ids(), whole_flags(), actions()).prop_map(|((sid, fid), flags, a)| Frame {
            header: header(FrameType::ACK, flags, sid, fid),
            body: Body::Ack(a),
        }),
        (
            prop::sample::select(vec![FrameType::NOTIFY, FrameType::ACK]),
            ids(),
            fragment_flags(),
            bytes_any()
        )
            .prop_map(|(t, (sid, fid), flags, payload)| Frame {
                header: header(t, flags, sid, fid),
                body: Body::Fragment(payload),
            }),
        (ids(), any::<u32>(), bytes_any()).prop_map(|((sid, fid), flags, payload)| Frame {
            header: header(FrameType::UNSET, Flags(flags), sid, fid),
            body: Body::Fragment(payload),
        }),
        (
            any::<u8>().prop_filter("known type", |t| !KNOWN_TYPES.contains(t)),
            ids(),
            any::<u32>(),
            bytes_any()
        )
            .prop_map(|(t, (sid, fid), flags, payload)| Frame {
                header: header(FrameType(t), Flags(flags), sid, fid),
                body: Body::Unknown(payload),
            }),
    ]
}

/// A proptest configuration running `cases` cases. XorShift instead of the
/// default ChaCha: in an unoptimised test build ChaCha takes most of the run
/// time, and these properties need volume rather than cryptographic randomness.
pub(crate) fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        rng_algorithm: proptest::test_runner::RngAlgorithm::XorShift,
        ..ProptestConfig::default()
    }
}
