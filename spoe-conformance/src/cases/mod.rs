//! The cases, one module per group, and what they share: HAProxy's HELLOs, a
//! connected peer, the way a refusal is judged, and the liveness probe that
//! tells a crash from a refusal. Most cases are a [`crate::script`]: connect,
//! hello, send, expect.

use std::time::Duration;

use bytes::{BufMut, BytesMut};
use spop::engine::Haproxy;
use spop::{
    AgentHello, Body, Disconnect, Flags, Frame, FrameHeader, FrameType, HaproxyHello, Message,
    Status,
};

use crate::case::{Case, Verdict};
use crate::peer::{Event, Peer, PeerError, describe};
use crate::settings::Settings;

mod data;
mod handshake;
mod limits;
mod pipelining;
mod teardown;
mod timing;
mod versions;

/// Every case, in running order.
pub(crate) static ALL: &[Case] = &[
    handshake::HELLO,
    handshake::UNKNOWN_KEY,
    handshake::FRAME_SIZE_BELOW,
    handshake::FRAME_SIZE_MINIMUM,
    handshake::FRAME_SIZE_ABOVE,
    handshake::FRAME_SIZE_TOO_SMALL,
    handshake::VERSIONS_LIST,
    handshake::CAPABILITIES_EMPTY,
    handshake::CAPABILITIES_UNKNOWN,
    handshake::CAPABILITIES_SPACES,
    handshake::MISSING_VERSION,
    handshake::MISSING_FRAME_SIZE,
    handshake::UNSUPPORTED_VERSION,
    handshake::HEALTHCHECK,
    handshake::NOTIFY_FIRST,
    data::NULL,
    data::BOOL,
    data::INT64,
    data::IPV4,
    data::IPV6,
    data::STRING,
    data::BINARY,
    data::EMPTY_VALUES,
    data::NON_UTF8_STRING,
    data::MANY_ARGS,
    data::UNNAMED_ARGS,
    data::UNKNOWN_MESSAGE,
    data::SEVERAL_MESSAGES,
    data::LARGE_IDS,
    pipelining::ANNOUNCED,
    pipelining::IN_FLIGHT_20,
    pipelining::FRAME_IDS_IN_STREAM,
    limits::ACK_WITHIN_FRAME_SIZE,
    limits::FRAME_ABOVE_MAX,
    limits::LENGTH_ABOVE_64K,
    limits::TRUNCATED_PAYLOAD,
    limits::HALF_FRAME_EOF,
    limits::UNKNOWN_FRAME_TYPE,
    limits::ZERO_LENGTH,
    limits::RESERVED_DATA_TYPE,
    teardown::DISCONNECT,
    teardown::DISCONNECT_IN_FLIGHT,
    teardown::RESET_AFTER_ACK,
    teardown::EOF_AFTER_ACK,
    versions::OTHER_HELLO,
    versions::FIN_ON_EVERY_FRAME,
    versions::FRAGMENTED_NOTIFY,
    versions::ABORTED_FRAGMENTS,
    versions::ASYNC,
    timing::HELLO_BUDGET,
    timing::ACK_BUDGET,
    timing::KEEPS_READING,
];

/// The engine-id HAProxy 2.6.12 sends is a UUID; any constant one will do.
const ENGINE_ID: &str = "8b5c3a1e-6f0d-4b2a-9c7e-1d2f3a4b5c6d";

/// The HELLO the selected HAProxy sends, byte for byte in content.
pub(crate) fn hello(version: Haproxy) -> HaproxyHello {
    version.hello(Some(ENGINE_ID.to_owned()))
}

/// A connection that finished the selected HAProxy's handshake.
pub(crate) async fn connected(settings: &Settings) -> Result<(Peer, AgentHello), PeerError> {
    let mut peer = Peer::connect(&settings.target).await?;
    let answer = peer.handshake(&hello(settings.haproxy)).await?;
    Ok((peer, answer))
}

/// The message the cases send, with `args`.
pub(crate) fn message(settings: &Settings) -> Message {
    Message::new(settings.message.clone())
}

/// Fails the verdict when the agent sent frames HAProxy refuses along the way.
pub(crate) fn with_violations(peer: &Peer, verdict: Verdict) -> Verdict {
    match peer.violations.first() {
        Some(v) if verdict.outcome != crate::case::Outcome::Fail => {
            Verdict::fail(format!("{}; but the agent sent {v}", verdict.seen))
        }
        _ => verdict,
    }
}

/// Waits up to `within` for the agent to close, collecting its frames.
/// `None` as the end: still open.
pub(crate) async fn until_closed(peer: &mut Peer, within: Duration) -> (Vec<Frame>, Option<Event>) {
    let mut frames = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, peer.next()).await {
            Ok(Event::Frame(f)) => frames.push(f),
            Ok(end) => return (frames, Some(end)),
            Err(_) => return (frames, None),
        }
    }
}

/// How long a case waits for a close before concluding the agent keeps the
/// connection: most of the case's deadline, so the verdict says what was seen.
pub(crate) fn close_wait(settings: &Settings) -> Duration {
    settings.case_timeout.mul_f32(0.6)
}

/// Judges what the agent did with input it must refuse: HAProxy's answer is
/// AGENT-DISCONNECT with `expected` and a close. Another error status or a
/// bare close is a warning (HAProxy closes either way, logging another
/// reason); keeping the connection open, or answering as if the input were
/// fine, is `otherwise` (fail for required cases).
pub(crate) async fn judge_refusal(
    peer: &mut Peer,
    settings: &Settings,
    expected: Status,
) -> Verdict {
    let (frames, end) = until_closed(peer, close_wait(settings)).await;
    let disconnect = frames.iter().find_map(|f| match &f.body {
        Body::AgentDisconnect(kv) => Some(Disconnect::from_kv(kv)),
        _ => None,
    });
    let before: Vec<String> = frames
        .iter()
        .filter(|f| f.header.frame_type != FrameType::AGENT_DISCONNECT)
        .map(describe)
        .collect();
    let end_text = match &end {
        Some(e) => e.to_string(),
        None => format!(
            "the connection stayed open for {} ms",
            close_wait(settings).as_millis()
        ),
    };
    let prefix = if before.is_empty() {
        String::new()
    } else {
        format!("{}, ", before.join(", "))
    };
    match (disconnect, end) {
        (Some(Ok(d)), Some(_)) if d.status == expected => Verdict::pass(format!(
            "{prefix}AGENT-DISCONNECT status {} ({:?}), then {end_text}",
            d.status.0, d.message
        )),
        (Some(Ok(d)), Some(_)) if d.status != Status::NORMAL => Verdict::warn(format!(
            "{prefix}AGENT-DISCONNECT status {} ({:?}) where HAProxy uses {} ({}), then {end_text}",
            d.status.0,
            d.message,
            expected.0,
            expected.reason().unwrap_or("?")
        )),
        (Some(Ok(_)), Some(_)) => Verdict::fail(format!(
            "{prefix}AGENT-DISCONNECT status 0 (normal) for input that is an error ({} expected), then {end_text}",
            expected.0
        )),
        (Some(Err(e)), _) => Verdict::fail(format!(
            "{prefix}an AGENT-DISCONNECT whose payload does not decode ({e})"
        )),
        (Some(Ok(d)), None) => Verdict::fail(format!(
            "{prefix}AGENT-DISCONNECT status {}, but {end_text}: SPOE.txt 3.2.9 says the agent closes just after",
            d.status.0
        )),
        (None, Some(_)) if before.is_empty() => Verdict::warn(format!(
            "{end_text} without AGENT-DISCONNECT (HAProxy expects status {}: {})",
            expected.0,
            expected.reason().unwrap_or("?")
        )),
        (None, Some(_)) => Verdict::warn(format!(
            "{prefix}then {end_text}, without AGENT-DISCONNECT {}",
            expected.0
        )),
        (None, None) if before.is_empty() => Verdict::fail(format!(
            "no AGENT-DISCONNECT, and {end_text}: a peer would wait on it until a timeout"
        )),
        (None, None) => Verdict::fail(format!(
            "{prefix}as if the input were valid, and {end_text}: the agent did not refuse it (expected AGENT-DISCONNECT {}: {})",
            expected.0,
            expected.reason().unwrap_or("?")
        )),
    }
}

/// After input meant to hurt it: does the agent still serve a new connection
/// (handshake and one ACK)? Tells a refusal from a crash.
pub(crate) async fn alive(settings: &Settings) -> Result<(), String> {
    let attempt = async {
        let (mut peer, _) = connected(settings).await?;
        peer.notify(1, 1, vec![message(settings).arg("alive", 1i64)])
            .await?;
        Ok::<_, PeerError>(())
    };
    match tokio::time::timeout(close_wait(settings), attempt).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("afterwards a new connection failed: {e}")),
        Err(_) => Err(format!(
            "afterwards a new connection got no ACK within {} ms",
            close_wait(settings).as_millis()
        )),
    }
}

/// Appends the liveness probe's finding: a dead agent fails the case whatever
/// the refusal looked like.
pub(crate) async fn then_alive(settings: &Settings, verdict: Verdict) -> Verdict {
    match alive(settings).await {
        Ok(()) => Verdict {
            outcome: verdict.outcome,
            seen: format!("{}; the agent still serves new connections", verdict.seen),
        },
        Err(e) => Verdict::fail(format!("{}; {e}", verdict.seen)),
    }
}

/// A frame made of a header and a payload encoded by hand.
pub(crate) fn raw_frame(
    frame_type: FrameType,
    flags: Flags,
    stream_id: u64,
    frame_id: u64,
    payload: &[u8],
) -> BytesMut {
    let mut out = BytesMut::new();
    FrameHeader {
        frame_type,
        flags,
        stream_id,
        frame_id,
    }
    .encode_with_payload(payload, &mut out);
    out
}

/// A NOTIFY's payload (the LIST-OF-MESSAGES), encoded.
pub(crate) fn notify_payload(messages: &[Message]) -> BytesMut {
    let mut out = BytesMut::new();
    for m in messages {
        m.encode(&mut out);
    }
    out
}

/// A NOTIFY frame exactly `len` bytes long (the length prefix excluded),
/// padded with a BINARY argument.
pub(crate) fn notify_of_len(settings: &Settings, len: usize) -> BytesMut {
    let mut pad = len.saturating_sub(64);
    for _ in 0..4 {
        let frame = Frame::notify(
            1,
            1,
            vec![message(settings).arg("pad", spop::TypedData::binary(vec![0x61u8; pad]))],
        );
        let got = frame.frame_len();
        if got == len {
            break;
        }
        pad = (pad + len).saturating_sub(got);
    }
    let mut out = BytesMut::new();
    Frame::notify(
        1,
        1,
        vec![message(settings).arg("pad", spop::TypedData::binary(vec![0x61u8; pad]))],
    )
    .encode(&mut out);
    out
}

/// A length prefix followed by `len` bytes of a NOTIFY header and padding,
/// without building the value (for lengths above what the codec is asked to
/// encode).
pub(crate) fn oversized_frame(len: u32) -> BytesMut {
    let mut out = BytesMut::with_capacity(len as usize + 4);
    out.put_u32(len);
    out.put_u8(FrameType::NOTIFY.0);
    out.put_u32(Flags::FIN.0);
    out.put_u8(1);
    out.put_u8(1);
    out.resize(len as usize + 4, 0);
    out
}
