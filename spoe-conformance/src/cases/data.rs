//! Every data type HAProxy puts in a NOTIFY, and the shapes of its messages.

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::Bytes;
use spop::{Message, TypedData};

use super::message;
use crate::case::{Case, CaseFuture, Group};
use crate::script::script;
use crate::settings::Settings;

/// One NOTIFY with `messages` on a fresh connection; an ACK with its ids passes.
fn round_trip(
    s: &Settings,
    stream_id: u64,
    frame_id: u64,
    messages: Vec<Message>,
) -> CaseFuture<'_> {
    script(s)
        .hello()
        .notify(stream_id, frame_id, messages)
        .expect_ack()
}

fn args<'s>(s: &'s Settings, args: Vec<(&'static str, TypedData)>) -> CaseFuture<'s> {
    let mut m = message(s);
    for (name, value) in args {
        m = m.arg(name, value);
    }
    round_trip(s, 1, 1, vec![m])
}

pub(crate) const NULL: Case = Case {
    id: "data-null",
    group: Group::Data,
    checks: "a NULL argument (a missing sample) is acknowledged",
    section: "3.1",
    required: true,
    run: |s| args(s, vec![("null", TypedData::Null)]),
};

pub(crate) const BOOL: Case = Case {
    id: "data-bool",
    group: Group::Data,
    checks: "BOOL true and false (the value in the flag bit) are acknowledged",
    section: "3.1",
    required: true,
    run: |s| {
        args(
            s,
            vec![("t", TypedData::Bool(true)), ("f", TypedData::Bool(false))],
        )
    },
};

pub(crate) const INT64: Case = Case {
    id: "data-int64",
    group: Group::Data,
    checks: "INT64 0, -1, -42, 2^32+1, i64::MIN and i64::MAX (HAProxy sends every integer as INT64) are acknowledged",
    section: "3.1",
    required: true,
    run: |s| {
        args(
            s,
            vec![
                ("zero", TypedData::Int64(0)),
                ("minus_one", TypedData::Int64(-1)),
                ("neg", TypedData::Int64(-42)),
                ("above_u32", TypedData::Int64((1 << 32) + 1)),
                ("min", TypedData::Int64(i64::MIN)),
                ("max", TypedData::Int64(i64::MAX)),
            ],
        )
    },
};

pub(crate) const IPV4: Case = Case {
    id: "data-ipv4",
    group: Group::Data,
    checks: "IPV4 arguments (src, dst) are acknowledged",
    section: "3.1",
    required: true,
    run: |s| {
        args(
            s,
            vec![
                ("src", TypedData::Ipv4(Ipv4Addr::new(192, 0, 2, 10))),
                ("zero", TypedData::Ipv4(Ipv4Addr::UNSPECIFIED)),
            ],
        )
    },
};

pub(crate) const IPV6: Case = Case {
    id: "data-ipv6",
    group: Group::Data,
    checks: "IPV6 arguments are acknowledged",
    section: "3.1",
    required: true,
    run: |s| {
        args(
            s,
            vec![
                (
                    "src",
                    TypedData::Ipv6("2001:db8::1".parse().unwrap_or(Ipv6Addr::LOCALHOST)),
                ),
                (
                    "mapped",
                    TypedData::Ipv6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped()),
                ),
            ],
        )
    },
};

pub(crate) const STRING: Case = Case {
    id: "data-string",
    group: Group::Data,
    checks: "STRING arguments (method, path, a 2000-byte header) are acknowledged",
    section: "3.1",
    required: true,
    run: |s| {
        args(
            s,
            vec![
                ("method", TypedData::string("GET")),
                ("path", TypedData::string("/a/b?c=d&e=%20")),
                ("long", TypedData::string("x".repeat(2000))),
            ],
        )
    },
};

pub(crate) const BINARY: Case = Case {
    id: "data-binary",
    group: Group::Data,
    checks: "BINARY arguments (req.hdrs_bin-like bytes, NULs included) are acknowledged",
    section: "3.1",
    required: true,
    run: |s| {
        args(
            s,
            vec![
                (
                    "hdrs",
                    TypedData::Bin(Bytes::from_static(b"\x04host\x0bexample.com\x00\x00")),
                ),
                (
                    "bytes",
                    TypedData::Bin((0u8..=255).collect::<Vec<u8>>().into()),
                ),
            ],
        )
    },
};

pub(crate) const EMPTY_VALUES: Case = Case {
    id: "data-empty-values",
    group: Group::Data,
    checks: "an empty STRING and an empty BINARY (an empty header, req.body without a body) are acknowledged",
    section: "3.1",
    required: true,
    run: |s| {
        args(
            s,
            vec![
                ("s", TypedData::Str(Bytes::new())),
                ("b", TypedData::Bin(Bytes::new())),
            ],
        )
    },
};

pub(crate) const NON_UTF8_STRING: Case = Case {
    id: "data-non-utf8-string",
    group: Group::Data,
    checks: "a STRING that is not UTF-8 (a Latin-1 header value) is acknowledged",
    section: "3.1",
    required: false,
    run: |s| {
        args(
            s,
            vec![("hdr", TypedData::Str(Bytes::from_static(b"caf\xe9")))],
        )
    },
};

pub(crate) const MANY_ARGS: Case = Case {
    id: "data-many-args",
    group: Group::Data,
    checks: "a message with 255 arguments (NB-ARGS is one byte) is acknowledged",
    section: "3.2",
    required: true,
    run: |s| {
        let mut m = message(s);
        for i in 0..255i64 {
            m = m.arg(format!("a{i}"), i);
        }
        round_trip(s, 1, 1, vec![m])
    },
};

pub(crate) const UNNAMED_ARGS: Case = Case {
    id: "data-unnamed-args",
    group: Group::Data,
    checks: "arguments with empty names (`args src` without name=) are acknowledged",
    section: "2.3, 3.2",
    required: true,
    run: |s| {
        let m = message(s)
            .arg("", Ipv4Addr::new(192, 0, 2, 1))
            .arg("", TypedData::string("GET"));
        round_trip(s, 1, 1, vec![m])
    },
};

pub(crate) const UNKNOWN_MESSAGE: Case = Case {
    id: "data-unknown-message",
    group: Group::Data,
    checks: "a message the agent has no handler for still gets an ACK (an empty one will do)",
    section: "3.2.6, 3.4",
    required: true,
    run: |s| {
        round_trip(
            s,
            1,
            1,
            vec![Message::new("conformance-unknown-message").arg("a", 1i64)],
        )
    },
};

pub(crate) const SEVERAL_MESSAGES: Case = Case {
    id: "data-several-messages",
    group: Group::Data,
    checks: "one NOTIFY carrying three messages (all messages of one event share a NOTIFY) gets one ACK",
    section: "3.3",
    required: true,
    run: |s| {
        let msgs = vec![
            message(s).arg("a", 1i64),
            Message::new("conformance-second").arg("b", TypedData::string("x")),
            Message::new("conformance-third"),
        ];
        round_trip(s, 1, 1, msgs)
    },
};

pub(crate) const LARGE_IDS: Case = Case {
    id: "data-large-ids",
    group: Group::Data,
    checks: "stream-id 2^40+7 and frame-id 300 (multi-byte varints) come back unchanged in the ACK",
    section: "3.2, 3.2.7",
    required: true,
    run: |s| round_trip(s, (1 << 40) + 7, 300, vec![message(s).arg("a", 1i64)]),
};
