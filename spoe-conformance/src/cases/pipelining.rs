//! Several NOTIFY frames in flight on one connection.

use std::collections::BTreeSet;

use spop::FrameType;

use super::{connected, message, with_violations};
use crate::case::{Case, Group, Verdict};
use crate::peer::{Peer, PeerError, describe};
use crate::settings::Settings;

pub(crate) const ANNOUNCED: Case = Case {
    id: "pipelining-announced",
    group: Group::Pipelining,
    checks: "offered pipelining, the agent announces it (else HAProxy sends one NOTIFY per connection at a time)",
    section: "3.2.1",
    required: false,
    run: |s| {
        Box::pin(async move {
            let (_, answer) = connected(s).await?;
            Ok(if answer.capabilities.pipelining {
                Verdict::pass(format!(
                    "capabilities {:?}",
                    answer.capabilities.to_string()
                ))
            } else {
                Verdict::warn(format!(
                    "capabilities {:?}: without pipelining HAProxy needs one connection per message in flight",
                    answer.capabilities.to_string()
                ))
            })
        })
    },
};

/// Sends `n` NOTIFY frames in one write (stream-ids `first..first+n`,
/// frame-id 1) and reads `n` ACKs. Returns whether they came in order.
pub(crate) async fn burst(
    peer: &mut Peer,
    s: &Settings,
    first: u64,
    n: u64,
) -> Result<bool, PeerError> {
    for id in first..first + n {
        peer.queue_notify(id, 1, &[message(s).arg("i", id as i64)])?;
    }
    peer.flush("pipelined NOTIFY frames").await?;
    let mut waiting: BTreeSet<u64> = (first..first + n).collect();
    let mut in_order = true;
    let mut expected_next = first;
    while !waiting.is_empty() {
        let frame = peer.frame("an ACK").await?;
        let h = frame.header;
        if h.frame_type != FrameType::ACK || h.frame_id != 1 || !waiting.remove(&h.stream_id) {
            return Err(PeerError::Unexpected {
                expected: "an ACK for one of the NOTIFY frames in flight",
                got: format!(
                    "{} with {} ACK(s) still missing",
                    describe(&frame),
                    waiting.len()
                ),
            });
        }
        in_order &= h.stream_id == expected_next;
        expected_next = h.stream_id + 1;
    }
    Ok(in_order)
}

pub(crate) const IN_FLIGHT_20: Case = Case {
    id: "pipelining-20-in-flight",
    group: Group::Pipelining,
    checks: "20 NOTIFY in flight on one connection (max-waiting-frames 20) get 20 ACKs with matching ids, in any order",
    section: "3.2.1",
    required: true,
    run: |s| {
        Box::pin(async move {
            let (mut peer, answer) = connected(s).await?;
            if !answer.capabilities.pipelining {
                return Ok(Verdict::skip(
                    "the agent does not announce pipelining: HAProxy will not pipeline",
                ));
            }
            let in_order = burst(&mut peer, s, 100, 20).await?;
            Ok(with_violations(
                &peer,
                Verdict::pass(format!(
                    "20 ACKs, {}",
                    if in_order { "in order" } else { "out of order" }
                )),
            ))
        })
    },
};

pub(crate) const FRAME_IDS_IN_STREAM: Case = Case {
    id: "pipelining-frame-ids-in-stream",
    group: Group::Pipelining,
    checks: "NOTIFY frames 1, 2, 3 of one stream (one per event) each get the ACK with their frame-id",
    section: "3.2.6, 3.2.7",
    required: true,
    run: |s| {
        Box::pin(async move {
            let (mut peer, _) = connected(s).await?;
            for frame_id in 1..=3 {
                peer.notify(77, frame_id, vec![message(s).arg("f", frame_id as i64)])
                    .await?;
            }
            Ok(with_violations(
                &peer,
                Verdict::pass("ACKs for stream-id 77 frame-ids 1, 2, 3"),
            ))
        })
    },
};
