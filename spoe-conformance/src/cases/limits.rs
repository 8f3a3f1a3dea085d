//! Frames the agent must refuse, and the size of what it sends back.

use bytes::BufMut;
use spop::{Body, Flags, FrameType, Status};

use super::{
    close_wait, connected, judge_refusal, message, notify_of_len, notify_payload, oversized_frame,
    raw_frame, then_alive, until_closed,
};
use crate::case::{Case, Group, Verdict};
use crate::peer::{Event, PeerError, describe};
use crate::script::script;
use crate::settings::Settings;

pub(crate) const ACK_WITHIN_FRAME_SIZE: Case = Case {
    id: "limits-ack-within-frame-size",
    group: Group::Limits,
    checks: "a NOTIFY whose echo would exceed max-frame-size: the agent's ACK stays within the negotiated size (or it disconnects with status 3)",
    section: "3.2, 3.2.5",
    required: true,
    run: |s| Box::pin(ack_within(s)),
};

async fn ack_within(s: &Settings) -> Result<Verdict, PeerError> {
    let (mut peer, answer) = connected(s).await?;
    let max = answer.max_frame_size as usize;
    // Each argument costs 8 bytes in the NOTIFY and 11 as a SET-VAR: an echo
    // of the whole list does not fit. The NOTIFY itself does.
    let build = |count: usize| {
        let mut messages = Vec::new();
        let mut m = message(s);
        for i in 0..count {
            if m.args.len() == 255 {
                messages.push(std::mem::replace(&mut m, message(s)));
            }
            m = m.arg(format!("a{:04}", i % 10_000), 1i64);
        }
        messages.push(m);
        spop::Frame::notify(1, 1, messages)
    };
    let mut count = max / 8;
    let mut frame = build(count);
    while frame.frame_len() > max && count > 0 {
        count -= (frame.frame_len() - max).div_ceil(8);
        frame = build(count);
    }
    let sent = frame.frame_len();
    peer.send(&frame, "NOTIFY").await?;
    let verdict = match peer.next().await {
        Event::Frame(f) if f.header.frame_type == FrameType::ACK => Verdict::pass(format!(
            "an ACK of {} bytes for a NOTIFY of {sent} (max-frame-size {max})",
            f.frame_len()
        )),
        Event::Frame(f) => match &f.body {
            Body::AgentDisconnect(_) => Verdict::pass(format!(
                "{} for a NOTIFY of {sent} whose answer would not fit {max}",
                describe(&f)
            )),
            _ => Verdict::fail(format!("expected an ACK, got {}", describe(&f))),
        },
        Event::Refused { status, reason } => Verdict::fail(format!(
            "for a NOTIFY of {sent}: {reason}: HAProxy closes the connection (status {})",
            status.0
        )),
        other => Verdict::fail(format!("expected an ACK, got {other}")),
    };
    // The size is judged above; drop the generic violation to keep one message.
    peer.violations.clear();
    Ok(verdict)
}

pub(crate) const FRAME_ABOVE_MAX: Case = Case {
    id: "limits-frame-above-max",
    group: Group::Limits,
    checks: "a frame one byte above the negotiated max-frame-size: AGENT-DISCONNECT status 3, and the agent lives on",
    section: "3.2, 3.5",
    required: true,
    run: |s| {
        Box::pin(async move {
            let (mut peer, answer) = connected(s).await?;
            let frame = notify_of_len(s, answer.max_frame_size as usize + 1);
            peer.send_raw(&frame, "an oversized NOTIFY").await?;
            let v = judge_refusal(&mut peer, s, Status::FRAME_TOO_BIG).await;
            Ok(then_alive(s, v).await)
        })
    },
};

pub(crate) const LENGTH_ABOVE_64K: Case = Case {
    id: "limits-length-above-64k",
    group: Group::Limits,
    checks: "a length prefix of 70000 (above 64 KiB, above any max-frame-size offered): AGENT-DISCONNECT status 3, no crash",
    section: "3.2, 3.5",
    required: true,
    run: |s| {
        script(s)
            .hello()
            .raw_may_fail(oversized_frame(70_000), "a 70000-byte frame")
            .then_alive()
            .expect_refusal(Status::FRAME_TOO_BIG)
    },
};

pub(crate) const TRUNCATED_PAYLOAD: Case = Case {
    id: "limits-truncated-payload",
    group: Group::Limits,
    checks: "a NOTIFY whose STRING length runs past the frame's end: AGENT-DISCONNECT status 4 (invalid frame), no crash",
    section: "3.2, 3.5",
    required: true,
    run: |s| {
        let mut payload = bytes::BytesMut::new();
        spop::encode_message_head(s.message.as_bytes(), 1, &mut payload);
        payload.put_u8(1);
        payload.put_slice(b"a");
        payload.put_u8(0x08); // STRING
        payload.put_u8(50); // 50 bytes announced...
        payload.put_slice(b"only ten.."); // ...10 present
        let frame = raw_frame(FrameType::NOTIFY, Flags::FIN, 1, 1, &payload);
        script(s)
            .hello()
            .raw(frame, "a truncated NOTIFY")
            .then_alive()
            .expect_refusal(Status::INVALID_FRAME)
    },
};

pub(crate) const HALF_FRAME_EOF: Case = Case {
    id: "limits-half-frame-eof",
    group: Group::Limits,
    checks: "half a frame, then the engine's side closes: the agent closes too (no hang, no crash)",
    section: "3.2",
    required: true,
    run: |s| {
        Box::pin(async move {
            let (mut peer, _) = connected(s).await?;
            let payload =
                notify_payload(&[message(s).arg("a", spop::TypedData::string("x".repeat(64)))]);
            let frame = raw_frame(FrameType::NOTIFY, Flags::FIN, 1, 1, &payload);
            let half = frame.len() / 2;
            peer.send_raw(frame.get(..half).unwrap_or_default(), "half a NOTIFY")
                .await?;
            peer.shutdown_write().await;
            let (frames, end) = until_closed(&mut peer, close_wait(s)).await;
            let sent: Vec<String> = frames.iter().map(describe).collect();
            let v = match end {
                Some(e) if sent.is_empty() => Verdict::pass(format!("{e}")),
                Some(e) => Verdict::pass(format!("{}, then {e}", sent.join(", "))),
                None => Verdict::fail(format!(
                    "the connection stayed open {} ms after the engine closed its side",
                    close_wait(s).as_millis()
                )),
            };
            Ok(then_alive(s, v).await)
        })
    },
};

pub(crate) const UNKNOWN_FRAME_TYPE: Case = Case {
    id: "limits-unknown-frame-type",
    group: Group::Limits,
    checks: "a frame of unknown type 42 is skipped (the next NOTIFY gets its ACK) or refused with AGENT-DISCONNECT; no hang, no crash",
    section: "3.2.2",
    required: true,
    run: |s| {
        Box::pin(async move {
            let (mut peer, _) = connected(s).await?;
            let mut out = raw_frame(FrameType(42), Flags::FIN, 0, 0, b"\x00\x01\x02");
            spop::Frame::notify(5, 1, vec![message(s).arg("a", 1i64)]).encode(&mut out);
            peer.send_raw(&out, "a type-42 frame and a NOTIFY").await?;
            let v = match tokio::time::timeout(close_wait(s), peer.next()).await {
                Ok(Event::Frame(f)) if f.header.frame_type == FrameType::ACK => {
                    match crate::peer::check_ack(&f, 5, 1) {
                        Ok(()) => Verdict::pass("skipped it: the NOTIFY after it got its ACK"),
                        Err(e) => Verdict::fail(e.to_string()),
                    }
                }
                Ok(Event::Frame(f)) if f.header.frame_type == FrameType::AGENT_DISCONNECT => {
                    let (_, end) = until_closed(&mut peer, close_wait(s)).await;
                    let end = end.map_or_else(
                        || "the connection stayed open".to_owned(),
                        |e| e.to_string(),
                    );
                    Verdict::pass(format!("refused it: {}, then {end}", describe(&f)))
                }
                Ok(other) => Verdict::warn(format!("{other}")),
                Err(_) => Verdict::fail(format!(
                    "neither skipped nor refused: nothing within {} ms",
                    close_wait(s).as_millis()
                )),
            };
            Ok(then_alive(s, v).await)
        })
    },
};

pub(crate) const ZERO_LENGTH: Case = Case {
    id: "limits-zero-length",
    group: Group::Limits,
    checks: "a frame length of 0: AGENT-DISCONNECT status 4 (invalid frame)",
    section: "3.2",
    required: false,
    run: |s| {
        script(s)
            .hello()
            .raw(bytes::BytesMut::from(&[0u8, 0, 0, 0][..]), "a zero length")
            .then_alive()
            .expect_refusal(Status::INVALID_FRAME)
    },
};

pub(crate) const RESERVED_DATA_TYPE: Case = Case {
    id: "limits-reserved-data-type",
    group: Group::Limits,
    checks: "an argument of reserved data type 10: AGENT-DISCONNECT status 4 (invalid frame)",
    section: "3.1",
    required: false,
    run: |s| {
        let mut payload = bytes::BytesMut::new();
        spop::encode_message_head(s.message.as_bytes(), 1, &mut payload);
        payload.put_u8(1);
        payload.put_slice(b"a");
        payload.put_u8(0x0a);
        payload.put_slice(&[0, 0, 0, 0]);
        let frame = raw_frame(FrameType::NOTIFY, Flags::FIN, 1, 1, &payload);
        script(s)
            .hello()
            .raw(frame, "a NOTIFY with data type 10")
            .then_alive()
            .expect_refusal(Status::INVALID_FRAME)
    },
};
