//! Reading frames in place: names, strings and binaries as `&[u8]` slices of
//! the input, arguments collected into vectors the caller reuses. No
//! allocation and no reference counting in steady state; this is the fast
//! path for hot loops (an agent's dispatch, a benchmark). The owned types
//! ([`crate::TypedData`], [`crate::Message`]) are built from these views.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use bytes::Bytes;

use crate::data::{DataType, TypedData};
use crate::error::{DecodeError, DecodeErrorKind};
use crate::frame::{Flags, FrameHeader, FrameType, LENGTH_PREFIX};
use crate::varint::{self, VarintError};

/// A bounds-checked cursor over a borrowed slice.
#[derive(Debug)]
pub(crate) struct SliceReader<'a> {
    buf: &'a [u8],
    /// Offset of `buf[0]` from the start of the frame.
    pos: usize,
}

impl<'a> SliceReader<'a> {
    pub(crate) fn new(buf: &'a [u8], pos: usize) -> Self {
        Self { buf, pos }
    }

    pub(crate) fn offset(&self) -> usize {
        self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn truncated(&self, what: &'static str, needed: u64) -> DecodeError {
        DecodeError::new(
            self.pos,
            DecodeErrorKind::Truncated {
                what,
                needed,
                available: self.buf.len(),
            },
        )
    }

    #[inline]
    fn advance(&mut self, n: usize) {
        self.buf = self.buf.get(n..).unwrap_or_default();
        self.pos = self.pos.saturating_add(n);
    }

    #[inline]
    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        let Some(&b) = self.buf.first() else {
            return Err(self.truncated(what, 1));
        };
        self.advance(1);
        Ok(b)
    }

    #[inline]
    pub(crate) fn array<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<[u8; N], DecodeError> {
        let arr = self
            .buf
            .get(..N)
            .and_then(|s| <[u8; N]>::try_from(s).ok())
            .ok_or_else(|| self.truncated(what, N as u64))?;
        self.advance(N);
        Ok(arr)
    }

    #[inline]
    pub(crate) fn varint(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        match varint::decode(self.buf) {
            Ok((v, n)) => {
                self.advance(n);
                Ok(v)
            }
            Err(VarintError::Truncated) => Err(self.truncated(what, 1)),
            Err(VarintError::TooLong) => Err(DecodeError::new(
                self.pos,
                DecodeErrorKind::VarintTooLong { what },
            )),
            Err(VarintError::Overflow) => Err(DecodeError::new(
                self.pos,
                DecodeErrorKind::VarintOverflow { what },
            )),
        }
    }

    /// A varint length followed by that many bytes.
    #[inline]
    pub(crate) fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let n = self.varint(what)?;
        let out = usize::try_from(n)
            .ok()
            .and_then(|len| self.buf.get(..len))
            .ok_or_else(|| self.truncated(what, n))?;
        self.advance(out.len());
        Ok(out)
    }
}

use crate::data::FLAG_TRUE;

/// A typed value borrowed from a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataView<'a> {
    /// NULL.
    Null,
    /// BOOL.
    Bool(bool),
    /// INT32.
    Int32(i32),
    /// UINT32.
    Uint32(u32),
    /// INT64.
    Int64(i64),
    /// UINT64.
    Uint64(u64),
    /// IPV4.
    Ipv4(Ipv4Addr),
    /// IPV6.
    Ipv6(Ipv6Addr),
    /// STRING.
    Str(&'a [u8]),
    /// BINARY.
    Bin(&'a [u8]),
}

impl<'a> DataView<'a> {
    #[inline]
    pub(crate) fn decode(r: &mut SliceReader<'a>) -> Result<Self, DecodeError> {
        let start = r.offset();
        let byte = r.u8("typed data")?;
        let out_of_range = |data_type, value| {
            DecodeError::new(start, DecodeErrorKind::IntOutOfRange { data_type, value })
        };
        Ok(match DataType(byte & 0x0f) {
            DataType::NULL => Self::Null,
            // HAProxy: `(type & 0xF0) == 0x10`; any other flag nibble is false.
            DataType::BOOL => Self::Bool(byte & 0xf0 == FLAG_TRUE),
            DataType::INT32 => {
                let v = r.varint("INT32 value")?;
                // HAProxy sign-extends to 64 bits; some agents send the 32-bit
                // two's complement instead. Both mean the same i32.
                let as_i32 = i32::try_from(v as i64)
                    .ok()
                    .or_else(|| u32::try_from(v).ok().map(|u| u as i32));
                Self::Int32(as_i32.ok_or_else(|| out_of_range("INT32", v))?)
            }
            DataType::UINT32 => {
                let v = r.varint("UINT32 value")?;
                Self::Uint32(u32::try_from(v).map_err(|_| out_of_range("UINT32", v))?)
            }
            DataType::INT64 => Self::Int64(r.varint("INT64 value")? as i64),
            DataType::UINT64 => Self::Uint64(r.varint("UINT64 value")?),
            DataType::IPV4 => Self::Ipv4(Ipv4Addr::from(r.array::<4>("IPV4 value")?)),
            DataType::IPV6 => Self::Ipv6(Ipv6Addr::from(r.array::<16>("IPV6 value")?)),
            DataType::STRING => Self::Str(r.bytes("STRING value")?),
            DataType::BINARY => Self::Bin(r.bytes("BINARY value")?),
            _ => {
                return Err(DecodeError::new(
                    start,
                    DecodeErrorKind::UnknownDataType { byte },
                ));
            }
        })
    }

    /// The owned value; strings and binaries share `buf` when they are
    /// slices of it, and are copied otherwise.
    pub fn to_owned_in(&self, buf: &Bytes) -> TypedData {
        let share = |s: &[u8]| {
            let base = buf.as_ptr() as usize;
            let at = s.as_ptr() as usize;
            match at.checked_sub(base) {
                Some(off) if off.saturating_add(s.len()) <= buf.len() => {
                    buf.slice(off..off.saturating_add(s.len()))
                }
                _ => Bytes::copy_from_slice(s),
            }
        };
        match *self {
            Self::Null => TypedData::Null,
            Self::Bool(v) => TypedData::Bool(v),
            Self::Int32(v) => TypedData::Int32(v),
            Self::Uint32(v) => TypedData::Uint32(v),
            Self::Int64(v) => TypedData::Int64(v),
            Self::Uint64(v) => TypedData::Uint64(v),
            Self::Ipv4(a) => TypedData::Ipv4(a),
            Self::Ipv6(a) => TypedData::Ipv6(a),
            Self::Str(s) => TypedData::Str(share(s)),
            Self::Bin(s) => TypedData::Bin(share(s)),
        }
    }
}

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
    let Some(len) = crate::frame::check_len(src, max_frame_size)? else {
        return Ok(None);
    };
    let total = LENGTH_PREFIX.saturating_add(len as usize);
    let Some(frame) = src.get(LENGTH_PREFIX..total) else {
        return Ok(None);
    };
    let mut r = SliceReader::new(frame, LENGTH_PREFIX);
    let frame_type = FrameType(r.u8("frame type")?);
    let flags = Flags(u32::from_be_bytes(r.array::<4>("frame flags")?));
    let stream_id = r.varint("stream-id")?;
    let frame_id = r.varint("frame-id")?;
    let header = FrameHeader {
        frame_type,
        flags,
        stream_id,
        frame_id,
    };
    Ok(Some(FrameSlice {
        header,
        payload: r.buf,
        payload_offset: r.pos,
        len: total,
    }))
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;
    use crate::{Frame, Message};

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
