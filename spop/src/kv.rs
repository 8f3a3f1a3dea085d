//! KV-LIST: `[ <NAME: varint length + bytes> <VALUE: typed data> ]...`, used
//! by HELLO and DISCONNECT payloads and by message arguments.

use bytes::{BufMut, Bytes};

use crate::cursor::Reader;
use crate::data::{TypedData, bytes_encoded_len, encode_bytes};
use crate::error::DecodeError;

/// One name/value pair. The name may be empty (an unnamed message argument).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Kv {
    /// The name's bytes (not guaranteed UTF-8).
    pub name: Bytes,
    /// The value.
    pub value: TypedData,
}

impl Kv {
    /// A pair from a name and anything that converts into [`TypedData`].
    pub fn new(name: impl Into<Bytes>, value: impl Into<TypedData>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }

    /// The name as text, when it is UTF-8.
    pub fn name_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.name).ok()
    }

    /// Bytes [`Kv::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        bytes_encoded_len(&self.name).saturating_add(self.value.encoded_len())
    }

    /// Writes the name and the typed value.
    pub fn encode(&self, dst: &mut impl BufMut) {
        encode_bytes(&self.name, dst);
        self.value.encode(dst);
    }

    #[inline]
    pub(crate) fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let name = r.bytes("KV name")?;
        let value = TypedData::decode(r)?;
        Ok(Self { name, value })
    }
}

/// Decodes KV pairs until the payload ends.
pub(crate) fn decode_list(r: &mut Reader) -> Result<Vec<Kv>, DecodeError> {
    let mut out = Vec::new();
    while !r.is_empty() {
        out.push(Kv::decode(r)?);
    }
    Ok(out)
}

/// The first value named `name` in a KV list.
pub fn find<'a>(list: &'a [Kv], name: &str) -> Option<&'a TypedData> {
    list.iter()
        .find(|kv| kv.name == name.as_bytes())
        .map(|kv| &kv.value)
}
