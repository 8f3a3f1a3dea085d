//! KV-LIST: `[ <NAME: varint length + bytes> <VALUE: typed data> ]...`, used
//! by HELLO and DISCONNECT payloads and by message arguments.

use std::fmt;

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

/// A KV list as a person reads it, for logs and reports: `name=value`
/// separated by spaces, strings quoted, binaries as their length.
#[derive(Debug, Clone, Copy)]
pub struct KvText<'a>(pub &'a [Kv]);

impl fmt::Display for KvText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        for kv in self.0 {
            write!(f, "{sep}{}=", String::from_utf8_lossy(&kv.name))?;
            match &kv.value {
                TypedData::Null => f.write_str("NULL")?,
                TypedData::Bool(b) => write!(f, "{b}")?,
                TypedData::Int32(i) => write!(f, "{i}")?,
                TypedData::Uint32(i) => write!(f, "{i}")?,
                TypedData::Int64(i) => write!(f, "{i}")?,
                TypedData::Uint64(i) => write!(f, "{i}")?,
                TypedData::Ipv4(a) => write!(f, "{a}")?,
                TypedData::Ipv6(a) => write!(f, "{a}")?,
                TypedData::Str(b) => write!(f, "{:?}", String::from_utf8_lossy(b))?,
                TypedData::Bin(b) => write!(f, "{} bytes", b.len())?,
            }
            sep = " ";
        }
        Ok(())
    }
}

/// The first value named `name` in a KV list.
pub fn find<'a>(list: &'a [Kv], name: &str) -> Option<&'a TypedData> {
    list.iter()
        .find(|kv| kv.name == name.as_bytes())
        .map(|kv| &kv.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_reads_as_text() {
        let list = [
            Kv::new("version", "2.0"),
            Kv::new("max-frame-size", 16380u32),
            Kv::new("b", TypedData::binary(vec![1, 2])),
            Kv::new("n", TypedData::Null),
        ];
        assert_eq!(
            KvText(&list).to_string(),
            "version=\"2.0\" max-frame-size=16380 b=2 bytes n=NULL"
        );
    }
}
