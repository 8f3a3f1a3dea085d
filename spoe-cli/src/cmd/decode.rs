//! `spoe decode`: SPOP frames as hex (a capture, a log, a test vector) to one
//! JSON object per frame per line.
//!
//! Frames before an error are printed; the error names the byte offset from
//! the start of the whole input. Names and STRING values that are not UTF-8
//! are printed lossily (U+FFFD), STRING values then with a `"hex"` field
//! holding the exact bytes.

use std::io::{self, BufWriter, Read, Write};

use anyhow::{Context, Result, anyhow, bail};
use bytes::BytesMut;
use clap::Args;
use serde_json::{Map, Value};
use spop::{
    Body, DecodeErrorKind, Frame, FrameDecoder, FrameType, HAPROXY_DEFAULT_FRAME_SIZE, Kv,
    LENGTH_PREFIX, Message, TypedData,
};

use crate::json;

#[derive(Debug, Args)]
pub(crate) struct DecodeArgs {
    /// Frames as hex, back to back, length prefixes included. Whitespace is
    /// ignored anywhere and case does not matter; several arguments are
    /// joined. Read from standard input when absent or `-`.
    #[arg(value_name = "HEX")]
    hex: Vec<String>,
    /// The largest frame accepted, length prefix excluded (HAProxy's default
    /// is 16380). Raise it for captures from peers that negotiated more; a
    /// length prefix above it is rejected before anything else is read.
    #[arg(long, value_name = "N", default_value_t = HAPROXY_DEFAULT_FRAME_SIZE)]
    max_frame_size: u32,
}

pub(crate) fn run(args: DecodeArgs) -> Result<()> {
    let text = match args.hex.as_slice() {
        [] => read_stdin()?,
        [dash] if dash == "-" => read_stdin()?,
        parts => parts.join(" "),
    };
    let bytes = parse_hex(&text)?;
    if bytes.is_empty() {
        bail!("no input: give the frames as hex, as an argument or on standard input");
    }
    let mut out = BufWriter::new(io::stdout().lock());
    let decoded = decode_frames(&bytes, args.max_frame_size, |frame| {
        serde_json::to_writer(&mut out, &frame_json(frame))?;
        out.write_all(b"\n")
    });
    // The frames decoded before an error are printed all the same.
    let flushed = out.flush();
    match decoded.and(flushed.map_err(Into::into)) {
        Err(e) if is_broken_pipe(&e) => Ok(()),
        other => other,
    }
}

fn read_stdin() -> Result<String> {
    let mut raw = Vec::new();
    io::stdin()
        .read_to_end(&mut raw)
        .context("reading hex from standard input")?;
    // Non-UTF-8 bytes become U+FFFD, which the hex parser then reports.
    Ok(String::from_utf8_lossy(&raw).into_owned())
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Hex digits to bytes, whitespace ignored. Errors name the character
/// position (from 0) in `text`.
fn parse_hex(text: &str) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 2);
    let mut high: Option<u8> = None;
    let mut digits = 0usize;
    for (pos, c) in text.chars().enumerate() {
        if c.is_whitespace() {
            continue;
        }
        let Some(nibble) = c.to_digit(16) else {
            bail!("invalid hex digit {c:?} at character {pos} of the input");
        };
        digits += 1;
        let nibble = nibble as u8;
        match high.take() {
            None => high = Some(nibble),
            Some(h) => out.push(h << 4 | nibble),
        }
    }
    if high.is_some() {
        bail!("odd number of hex digits ({digits}): the last byte is missing a digit");
    }
    Ok(out)
}

/// Decodes `input` frame by frame, handing each to `emit`. Stops at the first
/// invalid or incomplete frame, with an error naming its offset in `input`.
fn decode_frames(
    input: &[u8],
    max_frame_size: u32,
    mut emit: impl FnMut(&Frame) -> io::Result<()>,
) -> Result<()> {
    let mut decoder = FrameDecoder::new(max_frame_size);
    let mut buf = BytesMut::from(input);
    let mut offset = 0usize;
    let mut index = 1usize;
    while !buf.is_empty() {
        let before = buf.len();
        match decoder.decode(&mut buf) {
            Ok(Some(frame)) => {
                emit(&frame).context("writing to standard output")?;
                offset += before - buf.len();
                index += 1;
            }
            Ok(None) => {
                let need = match decoder.peek_len(&buf) {
                    Ok(Some(len)) => LENGTH_PREFIX + len as usize - buf.len(),
                    _ => LENGTH_PREFIX - buf.len(),
                };
                let what = if buf.len() < LENGTH_PREFIX {
                    " to complete its 4-byte length prefix"
                } else {
                    ""
                };
                bail!("truncated frame at byte {offset}: need {need} more bytes{what}");
            }
            Err(e) => {
                let hint = match e.kind {
                    DecodeErrorKind::FrameTooBig { .. } => {
                        " (raise --max-frame-size if the peers negotiated more)"
                    }
                    _ => "",
                };
                return Err(anyhow!("{}{hint}", e.shifted(offset))).with_context(|| {
                    format!("invalid frame #{index} (starting at byte {offset})")
                });
            }
        }
    }
    Ok(())
}

fn frame_type_name(t: FrameType) -> String {
    match t.name() {
        Some(name) => name.to_owned(),
        None => format!("UNKNOWN({})", t.0),
    }
}

/// One frame: type, flags, ids, then what the body holds.
fn frame_json(frame: &Frame) -> Value {
    let h = &frame.header;
    let mut m = Map::new();
    m.insert("type".into(), frame_type_name(h.frame_type).into());
    m.insert("fin".into(), h.flags.fin().into());
    m.insert("abort".into(), h.flags.abort().into());
    // Reserved bits are shown only when a peer sets them.
    if h.flags.0 & !0b11 != 0 {
        m.insert("flags".into(), h.flags.0.into());
    }
    m.insert("stream_id".into(), h.stream_id.into());
    m.insert("frame_id".into(), h.frame_id.into());
    match &frame.body {
        Body::HaproxyHello(kv) | Body::AgentHello(kv) => {
            m.insert("kv".into(), kv_list(kv));
        }
        Body::HaproxyDisconnect(kv) | Body::AgentDisconnect(kv) => {
            m.insert("kv".into(), kv_list(kv));
            let status = match spop::find(kv, "status-code") {
                Some(TypedData::Int32(v)) => Value::from(*v),
                Some(TypedData::Uint32(v)) => Value::from(*v),
                Some(TypedData::Int64(v)) => Value::from(*v),
                Some(TypedData::Uint64(v)) => Value::from(*v),
                _ => Value::Null,
            };
            let message = match spop::find(kv, "message") {
                Some(TypedData::Str(s)) => json::name(s),
                _ => Value::Null,
            };
            m.insert("status_code".into(), status);
            m.insert("message".into(), message);
        }
        Body::Notify(messages) => {
            let list = messages.iter().map(message_json).collect::<Vec<_>>();
            m.insert("messages".into(), list.into());
        }
        Body::Ack(actions) => {
            let list = actions.iter().map(json::action).collect::<Vec<_>>();
            m.insert("actions".into(), list.into());
        }
        Body::Fragment(payload) | Body::Unknown(payload) => {
            m.insert("payload_hex".into(), hex::encode(payload).into());
        }
    }
    Value::Object(m)
}

fn message_json(message: &Message) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json::name(&message.name));
    m.insert("args".into(), kv_list(&message.args));
    Value::Object(m)
}

fn kv_list(list: &[Kv]) -> Value {
    list.iter()
        .map(|kv| {
            let mut m = Map::new();
            m.insert("name".into(), json::name(&kv.name));
            json::typed_fields(&kv.value, &mut m);
            Value::Object(m)
        })
        .collect::<Vec<_>>()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_ignores_whitespace_and_case() {
        assert_eq!(parse_hex("0a B\n c\t0 0").unwrap(), vec![0x0a, 0xbc, 0x00]);
        assert_eq!(parse_hex("").unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn hex_errors_name_the_character() {
        let e = parse_hex("00 1g").unwrap_err().to_string();
        assert_eq!(e, "invalid hex digit 'g' at character 4 of the input");
        let e = parse_hex("abc").unwrap_err().to_string();
        assert_eq!(
            e,
            "odd number of hex digits (3): the last byte is missing a digit"
        );
    }
}
