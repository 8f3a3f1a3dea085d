//! The PROXY protocol header written to a server (`server ... send-proxy | send-proxy-v2
//! [proxy-v2-options authority,unique-id]`), byte for byte as HAProxy 2.6 writes it
//! (`make_proxy_line()` in `src/connection.c`). One writer for the HTTP path, the TCP path
//! and the health checks; the reader of `bind ... accept-proxy` is [`recv`].

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

pub(crate) mod recv;

/// `send-proxy` (version 1, text) or `send-proxy-v2` (binary), with the v2 options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SendProxy {
    /// `send-proxy-v2`.
    pub(crate) v2: bool,
    /// `proxy-v2-options authority`: the client's TLS server name (`PP2_TYPE_AUTHORITY`).
    pub(crate) authority: bool,
    /// `proxy-v2-options unique-id`: the request's unique ID (`PP2_TYPE_UNIQUE_ID`).
    pub(crate) unique_id: bool,
}

/// What a stream's header says: its client's connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin<'a> {
    /// The client's address (`None` on a Unix socket: HAProxy's `UNKNOWN` / `LOCAL`).
    pub(crate) src: Option<SocketAddr>,
    /// The address the client connected to.
    pub(crate) dst: Option<SocketAddr>,
    /// The protocol the client's TLS negotiated (`PP2_TYPE_ALPN`, always sent when there is
    /// one).
    pub(crate) alpn: Option<&'a [u8]>,
    /// The server name of the client's TLS hello.
    pub(crate) sni: Option<&'a str>,
    /// The request's unique ID (HTTP, with a `unique-id-format`).
    pub(crate) unique_id: Option<&'a str>,
}

impl<'a> Origin<'a> {
    /// The client connection `conn`, with the request's unique ID when it has one.
    pub(crate) fn of(conn: &'a spoe_http::ConnectionFacts, unique_id: Option<&'a str>) -> Self {
        let tls = conn.tls.as_deref();
        Self {
            src: conn.client,
            dst: conn.local,
            alpn: tls.and_then(|t| t.alpn.as_deref()),
            sni: tls.and_then(|t| t.sni.as_deref()),
            unique_id,
        }
    }
}

/// `PP2_SIGNATURE`.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
const PP2_TYPE_ALPN: u8 = 0x01;
const PP2_TYPE_AUTHORITY: u8 = 0x02;
const PP2_TYPE_UNIQUE_ID: u8 = 0x05;

/// The header of a stream from `origin`.
pub(crate) fn header(spec: SendProxy, origin: &Origin<'_>) -> Vec<u8> {
    let (Some(src), Some(dst)) = (origin.src, origin.dst) else {
        if !spec.v2 {
            return b"PROXY UNKNOWN\r\n".to_vec();
        }
        let mut out = V2_SIGNATURE.to_vec();
        out.extend_from_slice(&[0x20, 0x00, 0x00, 0x00]); // LOCAL, unspecified
        return with_tlvs(out, spec, origin);
    };
    if !spec.v2 {
        return v1(src, dst);
    }
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(V2_SIGNATURE);
    out.push(0x21); // version 2, PROXY
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            out.extend_from_slice(&[0x11, 0, 0]); // TCP over IPv4, length later
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
        }
        (s, d) => {
            out.extend_from_slice(&[0x21, 0, 0]); // TCP over IPv6
            out.extend_from_slice(&v6(s).octets());
            out.extend_from_slice(&v6(d).octets());
        }
    }
    out.extend_from_slice(&src.port().to_be_bytes());
    out.extend_from_slice(&dst.port().to_be_bytes());
    with_tlvs(out, spec, origin)
}

/// The v2 header `out` with its TLVs and its length.
fn with_tlvs(mut out: Vec<u8>, spec: SendProxy, origin: &Origin<'_>) -> Vec<u8> {
    if let Some(alpn) = origin.alpn {
        tlv(&mut out, PP2_TYPE_ALPN, alpn);
    }
    if spec.authority
        && let Some(sni) = origin.sni
    {
        tlv(&mut out, PP2_TYPE_AUTHORITY, sni.as_bytes());
    }
    if spec.unique_id {
        tlv(
            &mut out,
            PP2_TYPE_UNIQUE_ID,
            origin.unique_id.unwrap_or_default().as_bytes(),
        );
    }
    let len = u16::try_from(out.len() - 16).unwrap_or(u16::MAX);
    out[14..16].copy_from_slice(&len.to_be_bytes());
    out
}

/// The header of a health check's connection (`local` to `peer`): version 1 names that
/// connection itself; version 2 is a `LOCAL` command without addresses, as HAProxy sends for
/// connections it initiates.
pub(crate) fn check_header(spec: SendProxy, local: SocketAddr, peer: SocketAddr) -> Vec<u8> {
    if !spec.v2 {
        return v1(local, peer);
    }
    let mut out = V2_SIGNATURE.to_vec();
    out.extend_from_slice(&[0x20, 0x00, 0x00, 0x00]);
    out
}

/// `PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n`; an IPv4 address beside an IPv6 one is written
/// IPv4-mapped.
fn v1(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let line = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => format!("PROXY TCP4 {s} {d}"),
        (s, d) => format!("PROXY TCP6 {} {}", v6(s), v6(d)),
    };
    format!("{line} {} {}\r\n", src.port(), dst.port()).into_bytes()
}

fn v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

fn tlv(out: &mut Vec<u8>, kind: u8, value: &[u8]) {
    let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
    out.push(kind);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&value[..usize::from(len)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(src: &str, dst: &str) -> Origin<'static> {
        Origin {
            src: src.parse().ok(),
            dst: dst.parse().ok(),
            alpn: None,
            sni: None,
            unique_id: None,
        }
    }

    const V1: SendProxy = SendProxy {
        v2: false,
        authority: false,
        unique_id: false,
    };

    #[test]
    fn version_1_lines_are_haproxys() {
        assert_eq!(
            header(V1, &origin("127.0.0.1:37150", "127.0.0.1:18090")),
            b"PROXY TCP4 127.0.0.1 127.0.0.1 37150 18090\r\n"
        );
        assert_eq!(
            header(V1, &origin("[::1]:5", "10.0.0.1:80")),
            b"PROXY TCP6 ::1 ::ffff:10.0.0.1 5 80\r\n"
        );
        assert_eq!(header(V1, &origin("unix", "unix")), b"PROXY UNKNOWN\r\n");
    }

    #[test]
    fn version_2_headers_are_haproxys() {
        let v2 = SendProxy { v2: true, ..V1 };
        // As HAProxy 2.6 sent it for 127.0.0.1:37160 -> 127.0.0.1:18090.
        assert_eq!(
            header(v2, &origin("127.0.0.1:37160", "127.0.0.1:18090")),
            b"\r\n\r\n\x00\r\nQUIT\n!\x11\x00\x0c\x7f\x00\x00\x01\x7f\x00\x00\x01\x91(F\xaa"
        );
        assert_eq!(
            check_header(
                v2,
                "127.0.0.1:1".parse().unwrap(),
                "127.0.0.1:2".parse().unwrap()
            ),
            b"\r\n\r\n\x00\r\nQUIT\n \x00\x00\x00"
        );
        let mut o = origin("127.0.0.1:1", "127.0.0.1:2");
        o.alpn = Some(b"h2");
        o.unique_id = Some("id");
        let h = header(
            SendProxy {
                v2: true,
                unique_id: true,
                authority: true,
            },
            &o,
        );
        assert_eq!(&h[14..16], &[0, 12 + 5 + 5]);
        assert_eq!(&h[28..], b"\x01\x00\x02h2\x05\x00\x02id");
    }
}
