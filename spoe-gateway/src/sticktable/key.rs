//! A table's key type (`type ip|ipv6|integer|string [len N]|binary [len N]`) and keys: a
//! sample converted to the table's type as HAProxy's `smp_to_stkey()` does, stored as the
//! bytes HAProxy stores (so that `show table` lists them in HAProxy's order).

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use spoe::expr::Sample;

/// A table's key type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyType {
    /// `ip`: an IPv4 address.
    Ip,
    /// `ipv6`.
    Ipv6,
    /// `integer`: 32 bits.
    Integer,
    /// `string [len N]`: at most `N` bytes (32 by default).
    String(usize),
    /// `binary [len N]`: `N` bytes, padded with zeros (32 by default).
    Binary(usize),
}

impl KeyType {
    /// Its name in `type` and in `show table`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Ip => "ip",
            Self::Ipv6 => "ipv6",
            Self::Integer => "integer",
            Self::String(_) => "string",
            Self::Binary(_) => "binary",
        }
    }

    /// The key of `sample` in a table of this type (`None`: the sample does not convert, and
    /// nothing is tracked).
    pub(crate) fn key(self, sample: &Sample) -> Option<Box<[u8]>> {
        match self {
            Self::Ip => ipv4(sample).map(|a| Box::from(&a.octets()[..])),
            Self::Ipv6 => ipv6(sample).map(|a| Box::from(&a.octets()[..])),
            Self::Integer => integer(sample).map(|n| Box::from(&n.to_le_bytes()[..])),
            Self::String(len) => {
                let text = text(sample);
                let end = text.iter().position(|b| *b == 0).unwrap_or(text.len());
                Some(Box::from(&text[..end.min(len)]))
            }
            Self::Binary(len) => {
                let mut bytes = match sample {
                    Sample::Str(b) | Sample::Bin(b) => b.to_vec(),
                    Sample::Ipv4(a) => a.octets().to_vec(),
                    Sample::Ipv6(a) => a.octets().to_vec(),
                    Sample::Int(n) => n.to_be_bytes().to_vec(),
                    Sample::Bool(b) => i64::from(*b).to_be_bytes().to_vec(),
                };
                bytes.resize(len, 0);
                Some(bytes.into_boxed_slice())
            }
        }
    }

    /// The key a `show table ... key K` or `clear table ... key K` command names.
    pub(crate) fn parse(self, text: &str) -> Option<Box<[u8]>> {
        match self {
            Self::Ip => text
                .parse::<Ipv4Addr>()
                .ok()
                .map(|a| Box::from(&a.octets()[..])),
            Self::Ipv6 => text
                .parse::<Ipv6Addr>()
                .ok()
                .map(|a| Box::from(&a.octets()[..])),
            Self::Integer => text
                .parse::<u32>()
                .ok()
                .map(|n| Box::from(&n.to_le_bytes()[..])),
            Self::String(_) => self.key(&Sample::str(text.to_owned())),
            Self::Binary(_) => {
                let bytes = hex(text)?;
                self.key(&Sample::Bin(bytes.into()))
            }
        }
    }

    /// ` key=...` as `show table` writes it.
    pub(crate) fn write_key(self, key: &[u8], out: &mut String) {
        out.push_str(" key=");
        match self {
            Self::Ip => {
                let a: [u8; 4] = key.try_into().unwrap_or_default();
                let _ = write!(out, "{}", Ipv4Addr::from(a));
            }
            Self::Ipv6 => {
                let a: [u8; 16] = key.try_into().unwrap_or_default();
                let _ = write!(out, "{}", Ipv6Addr::from(a));
            }
            Self::Integer => {
                let n: [u8; 4] = key.try_into().unwrap_or_default();
                let _ = write!(out, "{}", u32::from_le_bytes(n));
            }
            Self::String(_) => dump_text(key, out),
            Self::Binary(_) => {
                for b in key {
                    let _ = write!(out, "{b:02X}");
                }
            }
        }
    }
}

fn ipv4(sample: &Sample) -> Option<Ipv4Addr> {
    match sample {
        Sample::Ipv4(a) => Some(*a),
        Sample::Ipv6(a) => a.to_ipv4_mapped(),
        Sample::Int(n) => Some(Ipv4Addr::from(*n as u32)),
        Sample::Str(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
        Sample::Bin(_) | Sample::Bool(_) => None,
    }
}

fn ipv6(sample: &Sample) -> Option<Ipv6Addr> {
    match sample {
        Sample::Ipv6(a) => Some(*a),
        Sample::Ipv4(a) => Some(a.to_ipv6_mapped()),
        Sample::Str(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
        _ => None,
    }
}

fn integer(sample: &Sample) -> Option<u32> {
    match sample {
        Sample::Int(n) => Some(*n as u32),
        Sample::Bool(b) => Some(u32::from(*b)),
        Sample::Ipv4(a) => Some(u32::from(*a)),
        Sample::Str(b) => {
            let t = std::str::from_utf8(b).ok()?;
            t.trim().parse::<i64>().ok().map(|n| n as u32)
        }
        _ => None,
    }
}

fn text(sample: &Sample) -> Vec<u8> {
    match sample {
        Sample::Str(b) | Sample::Bin(b) => b.to_vec(),
        Sample::Int(n) => n.to_string().into_bytes(),
        Sample::Bool(b) => u8::from(*b).to_string().into_bytes(),
        Sample::Ipv4(a) => a.to_string().into_bytes(),
        Sample::Ipv6(a) => a.to_string().into_bytes(),
    }
}

fn hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// HAProxy's `dump_text()`: printable ASCII as is, `\` before space, `=` and `\`, C escapes,
/// `\xHH` for the rest; stops at a NUL.
fn dump_text(bytes: &[u8], out: &mut String) {
    for &c in bytes.iter().take_while(|c| **c != 0) {
        match c {
            b' ' | b'=' | b'\\' => {
                out.push('\\');
                out.push(c as char);
            }
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            0x1b => out.push_str("\\e"),
            c if c.is_ascii_graphic() => out.push(c as char),
            c => {
                let _ = write!(out, "\\x{c:02X}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(t: KeyType, key: &[u8]) -> String {
        let mut s = String::new();
        t.write_key(key, &mut s);
        s
    }

    #[test]
    fn keys_as_haproxy_stores_and_shows_them() {
        let ip = KeyType::Ip
            .key(&Sample::Ipv4([192, 0, 2, 1].into()))
            .unwrap();
        assert_eq!(&*ip, &[192, 0, 2, 1]);
        assert_eq!(shown(KeyType::Ip, &ip), " key=192.0.2.1");
        let mapped = KeyType::Ip
            .key(&Sample::Ipv6("::ffff:10.0.0.1".parse().unwrap()))
            .unwrap();
        assert_eq!(shown(KeyType::Ip, &mapped), " key=10.0.0.1");
        assert!(
            KeyType::Ip
                .key(&Sample::Ipv6("::1".parse().unwrap()))
                .is_none()
        );
        let s = KeyType::String(4).key(&Sample::str("a b=cdef")).unwrap();
        assert_eq!(shown(KeyType::String(4), &s), " key=a\\ b\\=");
        let n = KeyType::Integer.key(&Sample::Int(258)).unwrap();
        assert_eq!(shown(KeyType::Integer, &n), " key=258");
        let b = KeyType::Binary(4).key(&Sample::str("ab")).unwrap();
        assert_eq!(shown(KeyType::Binary(4), &b), " key=61620000");
        assert_eq!(KeyType::Binary(4).parse("61620000").unwrap(), b);
        assert_eq!(KeyType::Ip.parse("192.0.2.1").unwrap(), ip);
    }
}
