//! Ending a connection: DISCONNECT exchanges, resets, half-closes.

use spop::{Body, Disconnect, Frame, FrameType};

use super::{close_wait, connected, message, then_alive, until_closed, with_violations};
use crate::case::{Case, Group, Verdict};
use crate::peer::{Event, Peer, describe};
use crate::settings::Settings;

/// Judges the answer to a HAPROXY-DISCONNECT: AGENT-DISCONNECT then a close.
fn judge_goodbye(frames: &[Frame], end: Option<Event>, s: &Settings) -> Verdict {
    let reply = frames.iter().find_map(|f| match &f.body {
        Body::AgentDisconnect(kv) => Some((describe(f), Disconnect::from_kv(kv))),
        _ => None,
    });
    let acks = frames
        .iter()
        .filter(|f| f.header.frame_type == FrameType::ACK)
        .count();
    let acks = if acks == 0 {
        String::new()
    } else {
        format!("{acks} ACK(s), ")
    };
    match (reply, end) {
        (Some((d, Ok(_))), Some(e)) => Verdict::pass(format!("{acks}{d}, then {e}")),
        (Some((d, Ok(_))), None) => Verdict::warn(format!(
            "{acks}{d}, but the connection stayed open {} ms (SPOE.txt: the agent closes just after; HAProxy closes it anyway)",
            close_wait(s).as_millis()
        )),
        (Some((d, Err(e))), _) => {
            Verdict::fail(format!("{acks}{d}: its payload does not decode ({e})"))
        }
        (None, Some(e)) => Verdict::warn(format!(
            "{acks}{e} without AGENT-DISCONNECT: HAProxy waits for one and logs an I/O error instead"
        )),
        (None, None) => Verdict::fail(format!(
            "{acks}no AGENT-DISCONNECT and no close within {} ms: HAProxy waits for the reply until a timeout",
            close_wait(s).as_millis()
        )),
    }
}

pub(crate) const DISCONNECT: Case = Case {
    id: "teardown-disconnect",
    group: Group::Teardown,
    checks: "HAPROXY-DISCONNECT status 0 gets AGENT-DISCONNECT, then the agent closes",
    section: "3.2.3, 3.2.8, 3.2.9",
    required: true,
    run: |s| {
        Box::pin(async move {
            let (mut peer, _) = connected(s).await?;
            peer.disconnect().await?;
            let (frames, end) = until_closed(&mut peer, close_wait(s)).await;
            Ok(with_violations(&peer, judge_goodbye(&frames, end, s)))
        })
    },
};

pub(crate) const DISCONNECT_IN_FLIGHT: Case = Case {
    id: "teardown-disconnect-in-flight",
    group: Group::Teardown,
    checks: "a NOTIFY followed at once by HAPROXY-DISCONNECT: the agent answers AGENT-DISCONNECT and closes (the ACK may come first)",
    section: "3.2.8",
    required: false,
    run: |s| {
        Box::pin(async move {
            let (mut peer, _) = connected(s).await?;
            // One write: the NOTIFY, then HAPROXY-DISCONNECT.
            peer.queue_notify(1, 1, &[message(s).arg("a", 1i64)])?;
            peer.disconnect().await?;
            let (frames, end) = until_closed(&mut peer, close_wait(s)).await;
            Ok(with_violations(&peer, judge_goodbye(&frames, end, s)))
        })
    },
};

pub(crate) const RESET_AFTER_ACK: Case = Case {
    id: "teardown-reset-after-ack",
    group: Group::Teardown,
    checks: "the engine resets the connection right after an ACK (HAProxy 3.1+): the agent treats it as a close and serves new connections",
    section: "HAProxy 3.1+ (mux_spop)",
    required: true,
    run: |s| {
        Box::pin(async move {
            let Some(mut peer) = Peer::connect_resettable(&s.target).await? else {
                return Ok(Verdict::skip("a Unix socket cannot be reset"));
            };
            peer.handshake(&super::hello(s.haproxy)).await?;
            peer.notify(1, 1, vec![message(s).arg("a", 1i64)]).await?;
            drop(peer);
            Ok(then_alive(s, Verdict::pass("ACK, then a TCP reset from the engine")).await)
        })
    },
};

pub(crate) const EOF_AFTER_ACK: Case = Case {
    id: "teardown-eof-after-ack",
    group: Group::Teardown,
    checks: "the engine closes its side without DISCONNECT after an ACK (3.1+ idle close): the agent closes too",
    section: "HAProxy 3.1+ (mux_spop)",
    required: true,
    run: |s| {
        Box::pin(async move {
            let (mut peer, _) = connected(s).await?;
            peer.notify(1, 1, vec![message(s).arg("a", 1i64)]).await?;
            peer.shutdown_write().await;
            let (frames, end) = until_closed(&mut peer, close_wait(s)).await;
            let sent: Vec<String> = frames.iter().map(describe).collect();
            let prefix = if sent.is_empty() {
                String::new()
            } else {
                format!("{}, ", sent.join(", "))
            };
            let v = match end {
                Some(e) => Verdict::pass(format!("{prefix}{e}")),
                None => Verdict::warn(format!(
                    "{prefix}the half-closed connection stayed open {} ms (a leaked connection per engine close)",
                    close_wait(s).as_millis()
                )),
            };
            Ok(then_alive(s, v).await)
        })
    },
};
