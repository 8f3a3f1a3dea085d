//! A bounds-checked cursor over one frame's bytes that hands out owned
//! slices sharing the frame's buffer (no copy). Every read goes through
//! [`SliceReader`], the one parser; this only turns its borrowed results
//! into shared `Bytes`.

use bytes::{Buf, Bytes};

use crate::data::TypedData;
use crate::error::DecodeError;
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

    /// Runs `read` over the remaining bytes, then consumes what it read.
    #[inline]
    fn read<'s, T>(
        &'s self,
        read: impl FnOnce(&mut SliceReader<'s>) -> Result<T, DecodeError>,
    ) -> Result<(T, usize), DecodeError> {
        let mut r = SliceReader::new(&self.buf, self.pos);
        let value = read(&mut r)?;
        let used = r.offset().saturating_sub(self.pos);
        Ok((value, used))
    }

    #[inline]
    fn advance(&mut self, n: usize) {
        self.buf.advance(n.min(self.buf.len()));
        self.pos = self.pos.saturating_add(n);
    }

    #[inline]
    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        let (v, used) = self.read(|r| r.u8(what))?;
        self.advance(used);
        Ok(v)
    }

    #[inline]
    pub(crate) fn array<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<[u8; N], DecodeError> {
        let (v, used) = self.read(|r| r.array::<N>(what))?;
        self.advance(used);
        Ok(v)
    }

    #[inline]
    pub(crate) fn varint(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let (v, used) = self.read(|r| r.varint(what))?;
        self.advance(used);
        Ok(v)
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

    /// A typed value; strings and binaries share the frame's buffer.
    #[inline]
    pub(crate) fn typed_data(&mut self) -> Result<TypedData, DecodeError> {
        let (owned, used) = {
            let (value, used) = self.read(DataView::decode)?;
            (value.to_owned_in(&self.buf), used)
        };
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
