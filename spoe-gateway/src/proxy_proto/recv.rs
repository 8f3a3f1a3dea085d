//! The PROXY protocol header a client sends first on a `bind ... accept-proxy` listener
//! (version 1 text or version 2 binary), read as HAProxy 2.6's `conn_recv_proxy()` reads it:
//! the whole header must be in what the first read returns (HAProxy peeks once and takes a
//! short read as truncated), and each way it can be wrong has HAProxy's error and message.
//! Sans-IO: [`parse`] reads a buffer; the listener peeks, parses and consumes the header.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{PP2_TYPE_AUTHORITY, PP2_TYPE_UNIQUE_ID, V2_SIGNATURE};

/// `PP2_HEADER_LEN`: the signature, version and command, family, length.
const V2_HEADER_LEN: usize = 16;
/// `PP2_TYPE_CRC32C`.
const PP2_TYPE_CRC32C: u8 = 0x03;
/// `PP2_AUTHORITY_MAX`.
const AUTHORITY_MAX: usize = 255;
/// `UNIQUEID_LEN`.
const UNIQUE_ID_MAX: usize = 128;

/// What a valid header announces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Announced {
    /// The client's address (`None`: `UNKNOWN`, `LOCAL`, or a family HAProxy does not take:
    /// the connection's own addresses stay).
    pub(crate) src: Option<SocketAddr>,
    /// The address the client connected to.
    pub(crate) dst: Option<SocketAddr>,
    /// `PP2_TYPE_AUTHORITY` (`fc_pp_authority`).
    pub(crate) authority: Option<Vec<u8>>,
    /// `PP2_TYPE_UNIQUE_ID` (`fc_pp_unique_id`).
    pub(crate) unique_id: Option<Vec<u8>>,
}

/// Why a connection waiting for its PROXY header was closed (HAProxy's `CO_ER_PRX_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ProxyHeaderError {
    /// The client closed before sending anything.
    #[error("Connection closed while waiting for PROXY protocol header")]
    Empty,
    /// Reading failed.
    #[error("Connection error while waiting for PROXY protocol header")]
    Abort,
    /// Nothing came within `timeout client`.
    #[error("Timeout while waiting for PROXY protocol header")]
    Timeout,
    /// The first read did not hold the whole header.
    #[error("Truncated PROXY protocol header received")]
    Truncated,
    /// Neither `PROXY ` nor version 2's signature.
    #[error("Received something which does not look like a PROXY protocol header")]
    NotHeader,
    /// A header, but a wrong one.
    #[error("Received an invalid PROXY protocol header")]
    BadHeader,
    /// A version 1 protocol other than `TCP4`, `TCP6` and `UNKNOWN`.
    #[error("Received an unhandled protocol in the PROXY protocol header")]
    BadProto,
}

impl ProxyHeaderError {
    /// The `result` label of the `spoe_proxy_headers` metric.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::Abort => "abort",
            Self::Timeout => "timeout",
            Self::Truncated => "truncated",
            Self::NotHeader => "not_header",
            Self::BadHeader => "bad_header",
            Self::BadProto => "bad_proto",
        }
    }

    /// Whether `option dontlognull` leaves its line out: nothing came (HAProxy's
    /// `session_kill_embryonic()` tests `CO_ER_PRX_EMPTY`, `CO_ER_PRX_ABORT`, and no error
    /// yet, which a timeout is when it tests).
    pub(crate) fn is_null(self) -> bool {
        matches!(self, Self::Empty | Self::Abort | Self::Timeout)
    }
}

/// The most a header is read from: HAProxy peeks into one buffer (`tune.bufsize`).
pub(crate) const PEEK_MAX: usize = 16384;

/// The header at the start of `buf` (what one read returned): its length and what it says.
pub(crate) fn parse(buf: &[u8]) -> Result<(usize, Announced), ProxyHeaderError> {
    if buf.is_empty() {
        return Err(ProxyHeaderError::Empty);
    }
    if buf.len() < 6 {
        return Err(ProxyHeaderError::Truncated);
    }
    if buf.starts_with(b"PROXY ") {
        v1(buf)
    } else {
        v2(buf)
    }
}

/// `PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n` or `PROXY UNKNOWN...\r\n`.
fn v1(buf: &[u8]) -> Result<(usize, Announced), ProxyHeaderError> {
    use ProxyHeaderError::{BadHeader, BadProto, Truncated};
    let rest = &buf[6..];
    if buf.len() < 9 {
        return Err(Truncated);
    }
    let v4 = rest.starts_with(b"TCP4 ");
    if !v4 && !rest.starts_with(b"TCP6 ") {
        // HAProxy takes `UNKNOWN` followed by the line's end only.
        return if rest.starts_with(b"UNKNOWN\r\n") {
            Ok((6 + 9, Announced::default()))
        } else if b"UNKNOWN\r\n".starts_with(&rest[..rest.len().min(9)]) {
            Err(Truncated)
        } else {
            Err(BadProto)
        };
    }
    let line = &rest[5..];
    let Some(cr) = line.iter().position(|&b| b == b'\r') else {
        return Err(Truncated);
    };
    match line.get(cr + 1) {
        None => return Err(Truncated),
        Some(b'\n') => {}
        Some(_) => return Err(BadHeader),
    }
    let fields: Vec<&[u8]> = line[..cr].split(|&b| b == b' ').collect();
    let [src, dst, sport, dport] = fields[..] else {
        return Err(BadHeader);
    };
    let ip = |s: &[u8]| -> Result<IpAddr, ProxyHeaderError> {
        let s = std::str::from_utf8(s).map_err(|_| BadHeader)?;
        if v4 {
            s.parse::<Ipv4Addr>().map(IpAddr::V4).map_err(|_| BadHeader)
        } else {
            s.parse::<Ipv6Addr>().map(IpAddr::V6).map_err(|_| BadHeader)
        }
    };
    // HAProxy's `read_uint()` then `htons()`: digits only (none is 0), kept modulo 2^16.
    let port = |s: &[u8]| -> Result<u16, ProxyHeaderError> {
        if !s.iter().all(u8::is_ascii_digit) {
            return Err(BadHeader);
        }
        let n = s.iter().fold(0u32, |n, d| {
            n.wrapping_mul(10).wrapping_add(u32::from(d - b'0'))
        });
        Ok(n as u16)
    };
    let announced = Announced {
        src: Some(SocketAddr::new(ip(src)?, port(sport)?)),
        dst: Some(SocketAddr::new(ip(dst)?, port(dport)?)),
        ..Announced::default()
    };
    Ok((6 + 5 + cr + 2, announced))
}

/// Version 2: the signature, `0x2_` (version 2, command), the family, the length, the
/// addresses, TLVs.
fn v2(buf: &[u8]) -> Result<(usize, Announced), ProxyHeaderError> {
    use ProxyHeaderError::{BadHeader, NotHeader, Truncated};
    if buf.len() < V2_HEADER_LEN {
        return Err(Truncated);
    }
    if &buf[..12] != V2_SIGNATURE || buf[12] & 0xf0 != 0x20 {
        return Err(NotHeader);
    }
    let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    let total = V2_HEADER_LEN + len;
    if buf.len() < total {
        return Err(Truncated);
    }
    let mut announced = Announced::default();
    match buf[12] & 0x0f {
        // LOCAL: the connection's own addresses stay.
        0x00 => return Ok((total, announced)),
        0x01 => {}
        _ => return Err(BadHeader),
    }
    let body = &buf[V2_HEADER_LEN..total];
    let port = |at: usize| u16::from_be_bytes([body[at], body[at + 1]]);
    let mut tlvs = match buf[13] {
        0x11 => {
            if len < 12 {
                return Err(BadHeader);
            }
            let ip = |at: usize| IpAddr::from([body[at], body[at + 1], body[at + 2], body[at + 3]]);
            announced.src = Some(SocketAddr::new(ip(0), port(8)));
            announced.dst = Some(SocketAddr::new(ip(4), port(10)));
            12
        }
        0x21 => {
            if len < 36 {
                return Err(BadHeader);
            }
            let ip = |at: usize| {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&body[at..at + 16]);
                IpAddr::from(octets)
            };
            announced.src = Some(SocketAddr::new(ip(0), port(32)));
            announced.dst = Some(SocketAddr::new(ip(16), port(34)));
            36
        }
        // Another family (Unix, UDP, unspecified): TLVs from the start, addresses kept.
        _ => 0,
    };
    while tlvs < len {
        if tlvs + 3 > len {
            return Err(BadHeader);
        }
        let kind = body[tlvs];
        let size = usize::from(u16::from_be_bytes([body[tlvs + 1], body[tlvs + 2]]));
        let value_at = tlvs + 3;
        tlvs = value_at + size;
        if tlvs > len {
            return Err(BadHeader);
        }
        let value = &body[value_at..tlvs];
        match kind {
            PP2_TYPE_CRC32C => {
                if size != 4 {
                    return Err(BadHeader);
                }
                let mut copy = buf[..total].to_vec();
                let at = V2_HEADER_LEN + value_at;
                copy[at..at + 4].fill(0);
                if crc32c(&copy).to_be_bytes() != value {
                    return Err(BadHeader);
                }
            }
            PP2_TYPE_AUTHORITY if size > AUTHORITY_MAX => return Err(BadHeader),
            PP2_TYPE_AUTHORITY => announced.authority = Some(value.to_vec()),
            PP2_TYPE_UNIQUE_ID if size > UNIQUE_ID_MAX => return Err(BadHeader),
            PP2_TYPE_UNIQUE_ID => announced.unique_id = Some(value.to_vec()),
            _ => {}
        }
    }
    Ok((total, announced))
}

/// CRC-32C (Castagnoli, reflected, as HAProxy's `hash_crc32c()`), bit by bit: it runs only on
/// a header that carries the TLV.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::{Announced, ProxyHeaderError, crc32c, parse};
    use crate::proxy_proto::{Origin, SendProxy, header};

    fn addr(s: &str) -> std::net::SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn version_1_lines_give_their_addresses_and_length() {
        let line = b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET / HTTP/1.1\r\n";
        let (len, a) = parse(line).unwrap();
        assert_eq!(&line[len..len + 3], b"GET");
        assert_eq!(a.src, Some(addr("192.0.2.1:56324")));
        assert_eq!(a.dst, Some(addr("198.51.100.2:443")));
        let (_, a) = parse(b"PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n").unwrap();
        assert_eq!(a.src, Some(addr("[2001:db8::1]:1")));
        assert_eq!(
            parse(b"PROXY UNKNOWN\r\nrest").unwrap(),
            (15, Announced::default())
        );
        // HAProxy keeps a port modulo 2^16.
        let (_, a) = parse(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n").unwrap();
        assert_eq!(a.dst, Some(addr("5.6.7.8:34463")));
    }

    #[test]
    fn what_haproxy_refuses_has_its_error() {
        use ProxyHeaderError::*;
        let cases: &[(&[u8], ProxyHeaderError)] = &[
            (b"", Empty),
            (b"PROX", Truncated),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2", Truncated),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", BadHeader),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", BadHeader),
            (b"PROXY TCP4 1.2.3.999 5.6.7.8 1 2\r\n", BadHeader),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2x\r\n", BadHeader),
            (b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", BadProto),
            (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", NotHeader),
            (b"GET / HTTP/1.0\r\n", NotHeader),
            (b"GET / HTTP/1.0\r", Truncated),
        ];
        for (bytes, expected) in cases {
            assert_eq!(
                parse(bytes).map(|_| ()),
                Err(*expected),
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn version_2_headers_as_the_gateway_writes_them_read_back() {
        let origin = Origin {
            src: Some(addr("[2001:db8::7]:40000")),
            dst: Some(addr("[2001:db8::8]:8443")),
            alpn: None,
            sni: Some("example.org"),
            unique_id: Some("abc"),
        };
        let spec = SendProxy {
            v2: true,
            authority: true,
            unique_id: true,
        };
        let mut bytes = header(spec, &origin);
        let len = bytes.len();
        bytes.extend_from_slice(b"after");
        let (used, a) = parse(&bytes).unwrap();
        assert_eq!(used, len);
        assert_eq!(a.src, origin.src);
        assert_eq!(a.dst, origin.dst);
        assert_eq!(a.authority.as_deref(), Some(b"example.org".as_slice()));
        assert_eq!(a.unique_id.as_deref(), Some(b"abc".as_slice()));
        // A cut one, a wrong version, a wrong command, a TLV past the end.
        assert_eq!(parse(&bytes[..len - 1]), Err(ProxyHeaderError::Truncated));
        let mut wrong = bytes.clone();
        wrong[12] = 0x11;
        assert_eq!(parse(&wrong), Err(ProxyHeaderError::NotHeader));
        wrong[12] = 0x22;
        assert_eq!(parse(&wrong), Err(ProxyHeaderError::BadHeader));
        let mut long = bytes[..len].to_vec();
        long[15] += 1;
        long.push(0x05);
        assert_eq!(parse(&long), Err(ProxyHeaderError::BadHeader));
        // LOCAL: nothing announced.
        let mut local = bytes[..16].to_vec();
        local[12] = 0x20;
        local[14..16].copy_from_slice(&0u16.to_be_bytes());
        assert_eq!(parse(&local).unwrap(), (16, Announced::default()));
    }

    #[test]
    fn a_crc32c_tlv_is_checked() {
        // The check value of CRC-32C.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        let origin = Origin {
            src: Some(addr("192.0.2.1:1000")),
            dst: Some(addr("192.0.2.2:80")),
            alpn: None,
            sni: None,
            unique_id: None,
        };
        let spec = SendProxy {
            v2: true,
            authority: false,
            unique_id: false,
        };
        let mut bytes = header(spec, &origin);
        let body_len = u16::from_be_bytes([bytes[14], bytes[15]]) + 7;
        bytes[14..16].copy_from_slice(&body_len.to_be_bytes());
        bytes.extend_from_slice(&[0x03, 0, 4, 0, 0, 0, 0]);
        let crc = crc32c(&bytes);
        let at = bytes.len() - 4;
        bytes[at..].copy_from_slice(&crc.to_be_bytes());
        assert!(parse(&bytes).is_ok());
        bytes[at] ^= 1;
        assert_eq!(parse(&bytes), Err(ProxyHeaderError::BadHeader));
    }
}
