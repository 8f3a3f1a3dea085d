//! LIST-OF-MESSAGES, the NOTIFY payload:
//! `[ <NAME: varint length + bytes> <NB-ARGS: u8> <KV-LIST of NB-ARGS> ]...`.

use bytes::{BufMut, Bytes};

use crate::convert::{ArgError, TypeError};
use crate::cursor::Reader;
use crate::data::{TypedData, bytes_encoded_len, encode_bytes};
use crate::error::{DecodeError, EncodeError};
use crate::kv::Kv;

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

    /// The argument `name` as `T` (see [`crate::convert`] for what converts
    /// to what), with an error that names the argument, the expected type and
    /// the type received.
    ///
    /// ```
    /// use std::net::Ipv4Addr;
    /// use spop::Message;
    ///
    /// let msg = Message::new("check").arg("ip", Ipv4Addr::LOCALHOST);
    /// let ip: Ipv4Addr = msg.get_as("ip")?;
    /// assert!(ip.is_loopback());
    /// assert_eq!(
    ///     msg.get_as::<bool>("ip").unwrap_err().to_string(),
    ///     "argument \"ip\" of message \"check\": expected BOOL, got IPV4",
    /// );
    /// # Ok::<(), spop::ArgError>(())
    /// ```
    pub fn get_as<'a, T>(&'a self, name: &str) -> Result<T, ArgError>
    where
        T: TryFrom<&'a TypedData, Error = TypeError>,
    {
        let value = self.get(name).ok_or_else(|| ArgError::Missing {
            message: String::from_utf8_lossy(&self.name).into_owned(),
            arg: name.to_owned(),
        })?;
        T::try_from(value).map_err(|source| ArgError::Type {
            message: String::from_utf8_lossy(&self.name).into_owned(),
            arg: name.to_owned(),
            source,
        })
    }

    /// As [`Message::get_as`] for an optional argument: `Ok(None)` when it is
    /// missing or NULL (a sample HAProxy could not fetch, such as an absent
    /// header); an error only when it is there with another type.
    pub fn get_opt<'a, T>(&'a self, name: &str) -> Result<Option<T>, ArgError>
    where
        T: TryFrom<&'a TypedData, Error = TypeError>,
    {
        match self.get(name) {
            None | Some(TypedData::Null) => Ok(None),
            Some(_) => self.get_as(name).map(Some),
        }
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
        let n = self.args.len().min(usize::from(u8::MAX));
        encode_message_head(&self.name, n as u8, dst);
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

/// Writes a message's name and argument count, for senders that evaluate
/// arguments straight into a frame instead of building a [`Message`]: the
/// caller then writes exactly `nb_args` arguments with [`encode_arg`]. The
/// bytes are those [`Message::encode`] writes.
pub fn encode_message_head(name: &[u8], nb_args: u8, dst: &mut impl BufMut) {
    encode_bytes(name, dst);
    dst.put_u8(nb_args);
}

/// Writes one argument of a message begun with [`encode_message_head`].
pub fn encode_arg(name: &[u8], value: &TypedData, dst: &mut impl BufMut) {
    encode_bytes(name, dst);
    value.encode(dst);
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;

    #[test]
    fn parts_encode_as_the_owned_message() {
        let m = Message::new("check")
            .arg("ip", std::net::Ipv4Addr::LOCALHOST)
            .arg("path", "/a")
            .arg("", 7i64);
        let mut owned = BytesMut::new();
        m.encode(&mut owned);
        let mut parts = BytesMut::new();
        encode_message_head(b"check", 3, &mut parts);
        for kv in &m.args {
            encode_arg(&kv.name, &kv.value, &mut parts);
        }
        assert_eq!(owned, parts);
    }
}
