//! Reading frames in place: names, strings and binaries as `&[u8]` slices of
//! the input, arguments collected into vectors the caller reuses. No
//! allocation and no reference counting in steady state; this is the fast
//! path for hot loops (an agent's dispatch, a benchmark). The owned types
//! ([`crate::TypedData`], [`crate::Message`]) are built from these views.

use std::ops::Range;

pub use crate::action::ActionView;
use crate::cursor::SliceReader;
pub use crate::data::DataView;
use crate::error::DecodeError;
use crate::frame::{FrameHeader, LENGTH_PREFIX, check_len};

/// A message argument borrowed from a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvView<'a> {
    /// The name (may be empty).
    pub name: &'a [u8],
    /// The value.
    pub value: DataView<'a>,
}

/// A message borrowed from a frame; its arguments are `args[range]` of the
/// vector passed to [`decode_messages`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageView<'a> {
    /// The message's name.
    pub name: &'a [u8],
    /// Where its arguments are in the argument vector.
    pub args: Range<usize>,
}

/// Decodes a LIST-OF-MESSAGES in place. `messages` and `args` are cleared
/// first; reuse them across calls to avoid allocating. `offset` is the
/// payload's position in its frame, for error offsets.
pub fn decode_messages<'a>(
    payload: &'a [u8],
    offset: usize,
    messages: &mut Vec<MessageView<'a>>,
    args: &mut Vec<KvView<'a>>,
) -> Result<(), DecodeError> {
    messages.clear();
    args.clear();
    let mut r = SliceReader::new(payload, offset);
    while !r.is_empty() {
        let name = r.bytes("message name")?;
        let nb_args = r.u8("message NB-ARGS")?;
        let first = args.len();
        for _ in 0..nb_args {
            let name = r.bytes("KV name")?;
            let value = DataView::decode(&mut r)?;
            args.push(KvView { name, value });
        }
        messages.push(MessageView {
            name,
            args: first..args.len(),
        });
    }
    Ok(())
}

/// A whole frame at the front of a buffer, read in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameSlice<'a> {
    /// Type, flags and ids.
    pub header: FrameHeader,
    /// The payload.
    pub payload: &'a [u8],
    /// Offset of the payload in the frame (prefix included), for errors.
    pub payload_offset: usize,
    /// Bytes the frame takes in the buffer, prefix included.
    pub len: usize,
}

/// Splits the first whole frame off `src` without copying. `Ok(None)` when
/// `src` holds less than a frame. The length is checked against
/// `max_frame_size` before anything else.
pub fn split_frame(src: &[u8], max_frame_size: u32) -> Result<Option<FrameSlice<'_>>, DecodeError> {
    let Some(len) = check_len(src, max_frame_size)? else {
        return Ok(None);
    };
    let total = LENGTH_PREFIX.saturating_add(len as usize);
    let Some(frame) = src.get(LENGTH_PREFIX..total) else {
        return Ok(None);
    };
    let mut r = SliceReader::new(frame, LENGTH_PREFIX);
    let header = FrameHeader::decode(&mut r)?;
    Ok(Some(FrameSlice {
        header,
        payload_offset: r.offset(),
        payload: r.rest(),
        len: total,
    }))
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use std::net::Ipv4Addr;

    use super::*;
    use crate::{Frame, Message, TypedData};

    #[test]
    fn views_match_the_owned_decoder() {
        let msgs = vec![
            Message::new("a")
                .arg("s", "text")
                .arg("", 5i64)
                .arg("ip", Ipv4Addr::LOCALHOST),
            Message::new("b").arg("bin", TypedData::binary(vec![1, 2, 3])),
        ];
        let mut wire = BytesMut::new();
        Frame::notify(3, 4, msgs).encode(&mut wire);
        let frozen = wire.freeze();
        let f = split_frame(&frozen, 16380).unwrap().unwrap();
        assert_eq!(
            (f.header.stream_id, f.header.frame_id, f.len),
            (3, 4, frozen.len())
        );
        let (mut m, mut a) = (Vec::new(), Vec::new());
        decode_messages(f.payload, f.payload_offset, &mut m, &mut a).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].name, b"a");
        assert_eq!(a[m[0].args.clone()].len(), 3);
        assert_eq!(a[0].value, DataView::Str(b"text"));
        let owned: Vec<TypedData> = a.iter().map(|kv| kv.value.to_owned_in(&frozen)).collect();
        assert_eq!(owned[3], TypedData::binary(vec![1, 2, 3]));
        assert!(split_frame(&frozen[..5], 16380).unwrap().is_none());
        assert!(split_frame(&[0xff, 0xff, 0xff, 0xff], 16380).is_err());
    }
}
