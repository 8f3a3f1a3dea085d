//! The request contents of a `mode tcp` connection as HAProxy 2.6's `src/payload.c` reads them:
//! `req.len`, `req.payload(o,l)`, and the TLS ClientHello fetches (`req.ssl_hello_type`,
//! `req.ssl_ver`, `req.ssl_sni`). Each answer is a value, "not this" (no value), or "too
//! short" (no value yet: more bytes may give one, HAProxy's `SMP_F_MAY_CHANGE`).

/// A contents fetch's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Read<T> {
    /// The value.
    Value(T),
    /// The contents are not what the fetch reads: no value, ever.
    No,
    /// Not enough bytes yet.
    TooShort,
}

use Read::{No, TooShort, Value};

/// `req.payload(offset,length)` (length 0: to the end of the contents).
pub(crate) fn payload(data: &[u8], offset: usize, length: usize) -> Read<&[u8]> {
    if length == 0 {
        return match data.get(offset..) {
            Some(rest) => Value(rest),
            None => TooShort,
        };
    }
    match data.get(offset..offset.saturating_add(length)) {
        Some(bytes) => Value(bytes),
        None => TooShort,
    }
}

/// `req.ssl_hello_type` (`smp_fetch_ssl_hello_type()`): the handshake type of an SSLv3+
/// record, once the whole handshake message is there.
pub(crate) fn hello_type(data: &[u8]) -> Read<u8> {
    let Some(&first) = data.first() else {
        return TooShort;
    };
    if !((0x14..=0x17).contains(&first) || first == 0xff) {
        return No;
    }
    if data.len() < 9 {
        return TooShort;
    }
    if (u32::from(data[1]) << 16) + u32::from(data[2]) < 0x0003_0000 {
        return No;
    }
    if (usize::from(data[3]) << 8) + usize::from(data[4]) < 4 {
        return No;
    }
    let len = (usize::from(data[6]) << 16) + (usize::from(data[7]) << 8) + usize::from(data[8]);
    if data.len() < 9 + len {
        return TooShort;
    }
    Value(data[5])
}

/// `req.ssl_ver` (`smp_fetch_req_ssl_ver()`, SSLv3+ records): the ClientHello's version as
/// `major << 16 | minor`, once the record's header and the hello's version are there.
pub(crate) fn ssl_version(data: &[u8]) -> Read<u32> {
    let Some(&first) = data.first() else {
        return TooShort;
    };
    if !((0x14..=0x17).contains(&first) || first == 0xff) {
        // An SSLv2 hello: not read by the gateway.
        return No;
    }
    if data.len() < 11 {
        return TooShort;
    }
    let record = (u32::from(data[1]) << 16) + u32::from(data[2]);
    let len = (usize::from(data[3]) << 8) + usize::from(data[4]);
    if record < 0x0003_0000 || !(6..=(1 << 14) + 2048).contains(&len) {
        return No;
    }
    Value((u32::from(data[9]) << 16) + u32::from(data[10]))
}

/// `req.ssl_sni` (`smp_fetch_ssl_hello_sni()`): the host name of the ClientHello's
/// `server_name` extension, once the whole hello is there.
pub(crate) fn sni(data: &[u8]) -> Read<&[u8]> {
    let Some(&first) = data.first() else {
        return TooShort;
    };
    if first != 0x16 {
        return No;
    }
    if data.len() < 3 {
        return TooShort;
    }
    if data[1] < 3 {
        return No;
    }
    if data.len() < 5 {
        return TooShort;
    }
    if (usize::from(data[3]) << 8) + usize::from(data[4])
        < 1 + 3 + 2 + 32 + 1 + 2 + 2 + 1 + 1 + 2 + 2
    {
        return No;
    }
    let hs = &data[5..];
    let Some(&kind) = hs.first() else {
        return TooShort;
    };
    if kind != 1 {
        return No;
    }
    if hs.len() < 4 {
        return TooShort;
    }
    let len = (usize::from(hs[1]) << 16) + (usize::from(hs[2]) << 8) + usize::from(hs[3]);
    if len < 2 + 32 + 1 + 2 + 2 + 1 + 1 + 2 + 2 {
        return No;
    }
    // HAProxy compares `len` with the bytes after the record header, the hello's own 4-byte
    // header included, and may then read 4 bytes past what came; the whole hello is waited
    // for here.
    if hs.len() < 4 + len {
        return TooShort;
    }
    match hello_sni(&hs[4..], len) {
        Some(name) => Value(name),
        None => No,
    }
}

/// The server name in a ClientHello's body `h` of `len` bytes (as announced; `h` may hold
/// less, as HAProxy's own test allows, so every read is checked).
fn hello_sni(h: &[u8], len: usize) -> Option<&[u8]> {
    let (major, minor) = (*h.first()?, *h.get(1)?);
    if major < 3 || minor < 1 {
        return None;
    }
    let session_id = usize::from(*h.get(34)?);
    if session_id > 32 || session_id > len.checked_sub(35)? {
        return None;
    }
    let mut left = len - 35 - session_id;
    let mut at = 35 + session_id;
    let u16_at = |i: usize| -> Option<usize> {
        Some((usize::from(*h.get(i)?) << 8) + usize::from(*h.get(i + 1)?))
    };
    let ciphers = u16_at(at)?;
    if left < 4 || ciphers < 2 || ciphers > left {
        return None;
    }
    left -= 2 + ciphers;
    at += 2 + ciphers;
    let methods = usize::from(*h.get(at)?);
    if left < 2 || methods < 1 || methods > left {
        return None;
    }
    left -= 1 + methods;
    at += 1 + methods;
    if left < 2 {
        return None;
    }
    let ext_total = u16_at(at)?;
    if ext_total > left - 2 {
        return None;
    }
    let mut left = ext_total;
    at += 2;
    while left >= 4 {
        let kind = u16_at(at)?;
        let ext_len = u16_at(at + 2)?;
        if ext_len > left - 4 {
            return None;
        }
        if kind == 0 {
            if ext_len < 2 {
                return None;
            }
            let list = u16_at(at + 4)?;
            if list < 4 || list > left - 6 {
                return None;
            }
            if *h.get(at + 6)? == 0 {
                let name_len = u16_at(at + 7)?;
                return h.get(at + 9..at + 9 + name_len);
            }
        }
        left -= 4 + ext_len;
        at += 4 + ext_len;
    }
    None
}

/// A TLS 1.2 ClientHello for `name` with one cipher, one compression method and the
/// `server_name` extension after another one.
#[cfg(test)]
pub(crate) fn client_hello(name: &str) -> Vec<u8> {
    let n = name.len();
    let mut ext = vec![0x00, 0x17, 0x00, 0x00]; // extended_master_secret, empty
    ext.extend_from_slice(&[0x00, 0x00]);
    ext.extend_from_slice(&u16::try_from(n + 5).unwrap().to_be_bytes());
    ext.extend_from_slice(&u16::try_from(n + 3).unwrap().to_be_bytes());
    ext.push(0);
    ext.extend_from_slice(&u16::try_from(n).unwrap().to_be_bytes());
    ext.extend_from_slice(name.as_bytes());
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[7; 32]);
    body.push(0); // session id
    body.extend_from_slice(&[0x00, 0x02, 0xc0, 0x2f]);
    body.extend_from_slice(&[0x01, 0x00]);
    body.extend_from_slice(&u16::try_from(ext.len()).unwrap().to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![0x01, 0x00];
    hs.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    hs.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&u16::try_from(hs.len()).unwrap().to_be_bytes());
    record.extend_from_slice(&hs);
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_hello_gives_its_name_type_and_version_once_whole() {
        let hello = client_hello("db.example.org");
        assert_eq!(sni(&hello), Value(&b"db.example.org"[..]));
        assert_eq!(hello_type(&hello), Value(1));
        assert_eq!(ssl_version(&hello), Value(0x0003_0003));
        for cut in [0, 1, 4, 9, hello.len() - 1] {
            assert_eq!(sni(&hello[..cut]), TooShort, "{cut} bytes");
            assert_eq!(hello_type(&hello[..cut]), TooShort, "{cut} bytes");
        }
    }

    #[test]
    fn other_contents_are_no_hello() {
        let http = b"GET / HTTP/1.1\r\nhost: a\r\n\r\n";
        assert_eq!(sni(http), No);
        assert_eq!(hello_type(http), No);
        assert_eq!(ssl_version(http), No);
        assert_eq!(payload(http, 0, 3), Value(&b"GET"[..]));
        assert_eq!(payload(http, 4, 0), Value(&http[4..]));
        assert_eq!(payload(http, 20, 100), TooShort);
    }
}
