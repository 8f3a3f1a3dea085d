//! A bounds-checked cursor over one frame's bytes. Slices it hands out share
//! the frame's buffer (no copy).

use bytes::{Buf, Bytes};

use crate::data::TypedData;
use crate::error::{DecodeError, DecodeErrorKind};
use crate::varint::{self, VarintError};
use crate::view::{DataView, SliceReader};

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

    pub(crate) fn offset(&self) -> usize {
        self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn err(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError::new(self.pos, kind)
    }

    fn truncated(&self, what: &'static str, needed: u64) -> DecodeError {
        self.err(DecodeErrorKind::Truncated {
            what,
            needed,
            available: self.buf.len(),
        })
    }

    #[inline]
    fn advance(&mut self, n: usize) {
        self.buf.advance(n);
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
        match varint::decode(&self.buf) {
            Ok((v, n)) => {
                self.advance(n);
                Ok(v)
            }
            Err(VarintError::Truncated) => Err(self.truncated(what, 1)),
            Err(VarintError::TooLong) => Err(self.err(DecodeErrorKind::VarintTooLong { what })),
            Err(VarintError::Overflow) => Err(self.err(DecodeErrorKind::VarintOverflow { what })),
        }
    }

    /// `n` bytes, sharing the frame's buffer.
    #[inline]
    pub(crate) fn take(&mut self, n: u64, what: &'static str) -> Result<Bytes, DecodeError> {
        let len = usize::try_from(n)
            .ok()
            .filter(|&len| len <= self.buf.len())
            .ok_or_else(|| self.truncated(what, n))?;
        let out = self.buf.split_to(len);
        self.pos = self.pos.saturating_add(len);
        Ok(out)
    }

    /// A varint length followed by that many bytes.
    #[inline]
    pub(crate) fn bytes(&mut self, what: &'static str) -> Result<Bytes, DecodeError> {
        let n = self.varint(what)?;
        self.take(n, what)
    }

    /// A typed value; strings and binaries share the frame's buffer. The
    /// one parser is [`DataView`]'s: this only makes the result owned.
    #[inline]
    pub(crate) fn typed_data(&mut self) -> Result<TypedData, DecodeError> {
        let mut view = SliceReader::new(&self.buf, self.pos);
        let value = DataView::decode(&mut view)?;
        let used = view.offset().saturating_sub(self.pos);
        let owned = value.to_owned_in(&self.buf);
        self.advance(used);
        Ok(owned)
    }

    /// Everything left.
    pub(crate) fn rest(&mut self) -> Bytes {
        let n = self.buf.len();
        self.pos = self.pos.saturating_add(n);
        std::mem::take(&mut self.buf)
    }
}
