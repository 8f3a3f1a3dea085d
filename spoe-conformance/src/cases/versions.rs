//! What differs between HAProxy <= 3.0 and 3.1+.

use bytes::{Bytes, BytesMut};
use spop::engine::Haproxy;
use spop::{Body, Flags, Frame, FrameHeader, FrameType, TypedData};

use super::{close_wait, connected, hello, message, notify_payload, raw_frame, until_closed};
use crate::case::{Case, Group, Verdict};
use crate::peer::{Peer, PeerError, check_ack};
use crate::settings::Settings;

pub(crate) const OTHER_HELLO: Case = Case {
    id: "versions-other-hello",
    group: Group::Versions,
    checks: "the other HAProxy generation's HELLO also works (2.6: \"pipelining,async\"; 3.x: \"pipelining\")",
    section: "3.2.1, 3.2.4",
    required: false,
    run: |s| {
        Box::pin(async move {
            let other = match s.haproxy {
                Haproxy::V2_6 => Haproxy::V3_1,
                Haproxy::V3_1 => Haproxy::V2_6,
            };
            let mut peer = Peer::connect(&s.target).await?;
            let h = hello(other);
            let a = peer.handshake(&h).await?;
            peer.notify(1, 1, vec![message(s).arg("a", 1i64)]).await?;
            Ok(Verdict::pass(format!(
                "HAProxy {other}'s HELLO (capabilities {:?}) answered with {:?}, then an ACK",
                h.capabilities.to_string(),
                a.capabilities.to_string()
            )))
        })
    },
};

pub(crate) const FIN_ON_EVERY_FRAME: Case = Case {
    id: "versions-fin-on-every-frame",
    group: Group::Versions,
    checks: "every frame the agent sends (AGENT-HELLO, ACK, AGENT-DISCONNECT) has FIN: HAProxy never reassembles agent fragments (3.1+: status 10)",
    section: "3.2",
    required: true,
    run: |s| {
        Box::pin(async move {
            let (mut peer, _) = connected(s).await?;
            peer.notify(1, 1, vec![message(s).arg("a", 1i64)]).await?;
            peer.disconnect().await?;
            let (frames, _) = until_closed(&mut peer, close_wait(s)).await;
            let fin: Vec<&String> = peer
                .violations
                .iter()
                .filter(|v| v.contains("FIN"))
                .collect();
            Ok(match fin.first() {
                None => Verdict::pass(format!("{} frames, all with FIN", 2 + frames.len())),
                Some(v) => Verdict::fail(format!("the agent sent {v}")),
            })
        })
    },
};

/// Skips unless HAProxy <= 3.0 is played and the agent announced fragmentation.
async fn fragmenting(s: &Settings) -> Result<Result<Peer, Verdict>, PeerError> {
    if s.haproxy == Haproxy::V3_1 {
        return Ok(Err(Verdict::skip("HAProxy 3.1+ never sends fragments")));
    }
    let (peer, answer) = connected(s).await?;
    if !answer.capabilities.fragmentation {
        return Ok(Err(Verdict::skip(
            "the agent does not announce fragmentation: HAProxy 2.6 sends it whole frames only",
        )));
    }
    Ok(Ok(peer))
}

fn split_notify(s: &Settings, stream_id: u64) -> (Frame, Frame) {
    let payload = notify_payload(&[message(s).arg("big", TypedData::string("f".repeat(600)))]);
    let (a, b) = payload.split_at(payload.len() / 2);
    let fragment = |frame_type, flags, part: &[u8]| Frame {
        header: FrameHeader {
            frame_type,
            flags,
            stream_id,
            frame_id: 1,
        },
        body: Body::Fragment(Bytes::copy_from_slice(part)),
    };
    (
        fragment(FrameType::NOTIFY, Flags(0), a),
        fragment(FrameType::UNSET, Flags::FIN, b),
    )
}

pub(crate) const FRAGMENTED_NOTIFY: Case = Case {
    id: "versions-fragmented-notify",
    group: Group::Versions,
    checks: "HAProxy <= 3.0, agent announced fragmentation: a NOTIFY in two fragments (NOTIFY without FIN, UNSET with FIN) gets one ACK",
    section: "3.2 (2.6), 3.2.3 (2.6)",
    required: true,
    run: |s| {
        Box::pin(async move {
            let mut peer = match fragmenting(s).await? {
                Ok(p) => p,
                Err(skip) => return Ok(skip),
            };
            let (first, second) = split_notify(s, 9);
            peer.send(&first, "NOTIFY fragment 1").await?;
            peer.send(&second, "UNSET fragment 2").await?;
            let f = peer.frame("an ACK").await?;
            check_ack(&f, 9, 1)?;
            Ok(Verdict::pass("one ACK for the two fragments"))
        })
    },
};

pub(crate) const ABORTED_FRAGMENTS: Case = Case {
    id: "versions-aborted-fragments",
    group: Group::Versions,
    checks: "HAProxy <= 3.0: a fragmented NOTIFY abandoned with ABORT gets no ACK, and the next NOTIFY gets its own",
    section: "3.2 (2.6)",
    required: false,
    run: |s| {
        Box::pin(async move {
            let mut peer = match fragmenting(s).await? {
                Ok(p) => p,
                Err(skip) => return Ok(skip),
            };
            let (first, _) = split_notify(s, 9);
            let mut out = BytesMut::new();
            first.encode(&mut out);
            out.extend_from_slice(&raw_frame(
                FrameType::UNSET,
                Flags(Flags::FIN.0 | Flags::ABORT.0),
                9,
                1,
                b"",
            ));
            Frame::notify(10, 1, vec![message(s).arg("a", 1i64)]).encode(&mut out);
            peer.send_raw(&out, "an aborted NOTIFY and a whole one")
                .await?;
            let f = peer.frame("an ACK").await?;
            if f.header.stream_id == 9 {
                return Ok(Verdict::warn("the aborted NOTIFY was acknowledged"));
            }
            check_ack(&f, 10, 1)?;
            Ok(Verdict::pass(
                "no ACK for the aborted NOTIFY; the next one got its ACK",
            ))
        })
    },
};

pub(crate) const ASYNC: Case = Case {
    id: "versions-async",
    group: Group::Versions,
    checks: "HAProxy <= 3.0, agent announced async: a NOTIFY gets its ACK on its own connection or on another one of the same engine-id",
    section: "3.2.1 (2.6)",
    required: false,
    run: |s| {
        Box::pin(async move {
            if s.haproxy == Haproxy::V3_1 {
                return Ok(Verdict::skip("HAProxy 3.1+ removed async"));
            }
            let (mut a, answer) = connected(s).await?;
            if !answer.capabilities.async_ {
                return Ok(Verdict::skip(
                    "the agent does not announce async: every ACK comes on its NOTIFY's connection, which every other case checks",
                ));
            }
            let (mut b, _) = connected(s).await?;
            a.send(
                &Frame::notify(31, 1, vec![message(s).arg("a", 1i64)]),
                "NOTIFY",
            )
            .await?;
            let f = tokio::select! {
                f = a.frame("an ACK") => f?,
                f = b.frame("an ACK") => f?,
            };
            check_ack(&f, 31, 1)?;
            Ok(Verdict::pass(
                "the ACK came back on one of the engine's connections",
            ))
        })
    },
};
