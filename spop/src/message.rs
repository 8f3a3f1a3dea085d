//! LIST-OF-MESSAGES, the NOTIFY payload:
//! `[ <NAME: varint length + bytes> <NB-ARGS: u8> <KV-LIST of NB-ARGS> ]...`.

use bytes::{BufMut, Bytes};

use crate::data::{TypedData, bytes_encoded_len, encode_bytes};
use crate::error::{DecodeError, EncodeError};
use crate::kv::Kv;
use crate::reader::Reader;

/// One SPOE message: a name and up to 255 arguments.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Message {
    /// The message's name (`spoe-message NAME`).
    pub name: Bytes,
    /// The arguments in the order the engine sent them.
    pub args: Vec<Kv>,
}

impl Message {
    /// A message with no arguments yet.
    pub fn new(name: impl Into<Bytes>) -> Self {
        Self {
            name: name.into(),
            args: Vec::new(),
        }
    }

    /// Appends an argument (builder style).
    #[must_use]
    pub fn arg(mut self, name: impl Into<Bytes>, value: impl Into<TypedData>) -> Self {
        self.args.push(Kv::new(name, value));
        self
    }

    /// The name as text, when it is UTF-8.
    pub fn name_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.name).ok()
    }

    /// The first argument called `name`.
    pub fn get(&self, name: &str) -> Option<&TypedData> {
        crate::kv::find(&self.args, name)
    }

    /// Bytes [`Message::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        self.args
            .iter()
            .fold(bytes_encoded_len(&self.name).saturating_add(1), |n, kv| {
                n.saturating_add(kv.encoded_len())
            })
    }

    /// Checks what the wire format cannot express.
    pub fn validate(&self) -> Result<(), EncodeError> {
        if self.args.len() > usize::from(u8::MAX) {
            return Err(EncodeError::TooManyArgs {
                what: "message",
                count: self.args.len(),
            });
        }
        Ok(())
    }

    /// Writes the message. More than 255 arguments are cut to 255: call
    /// [`Message::validate`] first (the frame encoder does).
    pub fn encode(&self, dst: &mut impl BufMut) {
        encode_bytes(&self.name, dst);
        let n = self.args.len().min(usize::from(u8::MAX));
        dst.put_u8(n as u8);
        for kv in self.args.iter().take(n) {
            kv.encode(dst);
        }
    }

    #[inline]
    pub(crate) fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let name = r.bytes("message name")?;
        let nb_args = r.u8("message NB-ARGS")?;
        // nb_args is at most 255 and every argument takes at least 2 bytes.
        let mut args = Vec::with_capacity(usize::from(nb_args).min(r.remaining() / 2));
        for _ in 0..nb_args {
            args.push(Kv::decode(r)?);
        }
        Ok(Self { name, args })
    }
}

/// Decodes messages until the payload ends.
pub(crate) fn decode_list(r: &mut Reader) -> Result<Vec<Message>, DecodeError> {
    let mut out = Vec::with_capacity(1);
    while !r.is_empty() {
        out.push(Message::decode(r)?);
    }
    Ok(out)
}
