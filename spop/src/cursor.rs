//! The bottom layer of decoding: bounds-checked cursors over one frame's
//! bytes. [`SliceReader`] borrows the bytes and is the one parser of the
//! wire's primitives (bytes, fixed arrays, varints, length-prefixed
//! strings); [`Reader`] runs it over a shared `Bytes` and hands out owned
//! slices of the frame's buffer (no copy). Typed data ([`crate::data`]) is
//! read with these; frames ([`crate::frame`]) are read above typed data.

use bytes::{Buf, Bytes};

use crate::error::{DecodeError, DecodeErrorKind};
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

    /// Everything left, consumed.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let out = self.buf;
        self.advance(out.len());
        out
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

/// A [`SliceReader`] over a shared buffer: what it reads is consumed, and
/// slices it returns share the buffer.

#[derive(Debug)]
pub(crate) struct Reader {
    buf: Bytes,
    /// Offset of `buf[0]` from the start of the frame.
    pos: usize,
}

impl Reader {
    pub(crate) fn new(buf: Bytes, pos: usize) -> Self {
        Self { buf, pos }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The bytes not read yet.
    pub(crate) fn buf(&self) -> &Bytes {
        &self.buf
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Runs `read` over the remaining bytes; returns its value and how
    /// many bytes it read (not consumed yet: see [`Reader::advance`]).
    #[inline]
    pub(crate) fn read<'s, T>(
        &'s self,
        read: impl FnOnce(&mut SliceReader<'s>) -> Result<T, DecodeError>,
    ) -> Result<(T, usize), DecodeError> {
        let mut r = SliceReader::new(&self.buf, self.pos);
        let value = read(&mut r)?;
        let used = r.offset().saturating_sub(self.pos);
        Ok((value, used))
    }

    /// Runs `read` over the remaining bytes and consumes what it read.
    #[inline]
    pub(crate) fn take<T>(
        &mut self,
        read: impl FnOnce(&mut SliceReader<'_>) -> Result<T, DecodeError>,
    ) -> Result<T, DecodeError> {
        let (v, used) = self.read(read)?;
        self.advance(used);
        Ok(v)
    }

    /// Consumes `n` bytes.
    #[inline]
    pub(crate) fn advance(&mut self, n: usize) {
        self.buf.advance(n.min(self.buf.len()));
        self.pos = self.pos.saturating_add(n);
    }

    #[inline]
    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        self.take(|r| r.u8(what))
    }

    /// A varint length followed by that many bytes, sharing the frame's buffer.
    #[inline]
    pub(crate) fn bytes(&mut self, what: &'static str) -> Result<Bytes, DecodeError> {
        let ((start, len), used) = self.read(|r| {
            let before = r.offset();
            let s = r.bytes(what)?;
            // Where the bytes start within what this reader still holds.
            Ok((
                r.offset().saturating_sub(before).saturating_sub(s.len()),
                s.len(),
            ))
        })?;
        let out = self.buf.slice(start..start.saturating_add(len));
        self.advance(used);
        Ok(out)
    }

    /// Everything left.
    pub(crate) fn rest(&mut self) -> Bytes {
        let n = self.buf.len();
        self.pos = self.pos.saturating_add(n);
        std::mem::take(&mut self.buf)
    }
}
