//! `http-request set-src|set-src-port|set-dst|set-dst-port`: the request's client and
//! destination addresses, as HAProxy 2.6's `tcp_action_req_set_src()`, `..._set_dst()`,
//! `..._set_dst_port()` in `src/tcp_act.c` change the stream's (`s->scf->src|dst`). What
//! later reads them sees the new value: the rules' `src`/`dst` fetches, `option forwardfor`
//! and `originalto`, the access line's `%ci`/`%cp`/`%fi`/`%fp`, and, for a server at
//! `0.0.0.0`, the address the request goes to (`crate::hop::server_target`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use spoe::expr::{Sample, SampleType};

use crate::model::AddrPart;

/// `address` after a `set-*` rule whose expression gave `value` (none: unchanged, as
/// HAProxy leaves it when the fetch fails or is no address). An address keeps its port; a
/// port is cut to 16 bits (`htons()`); a port set on no address (a Unix socket) makes
/// `0.0.0.0:port`, an address set on none `ADDR:0`.
pub(crate) fn apply(
    part: AddrPart,
    value: Option<Sample>,
    address: Option<SocketAddr>,
) -> Option<SocketAddr> {
    let Some(value) = value else {
        return address;
    };
    let unspecified = || SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
    match part {
        AddrPart::Src | AddrPart::Dst => {
            let ip = match value.cast(SampleType::Addr) {
                Some(Sample::Ipv4(a)) => IpAddr::V4(a),
                Some(Sample::Ipv6(a)) => IpAddr::V6(a),
                _ => return address,
            };
            let port = address.map_or(0, |a| a.port());
            Some(SocketAddr::new(ip, port))
        }
        AddrPart::SrcPort | AddrPart::DstPort => {
            let Some(Sample::Int(port)) = value.cast(SampleType::Int) else {
                return address;
            };
            let mut a = address.unwrap_or_else(unspecified);
            // HAProxy's `htons(sint)`: the low 16 bits.
            a.set_port(port as u16);
            Some(a)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Option<SocketAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn an_address_keeps_its_port_and_a_port_its_address() {
        let v4 = Some(Sample::Ipv4("10.1.2.3".parse().unwrap()));
        assert_eq!(
            apply(AddrPart::Src, v4.clone(), addr("127.0.0.1:4000")),
            addr("10.1.2.3:4000")
        );
        assert_eq!(
            apply(
                AddrPart::Dst,
                Some(Sample::str("::1")),
                addr("127.0.0.1:80")
            ),
            addr("[::1]:80")
        );
        assert_eq!(
            apply(
                AddrPart::DstPort,
                Some(Sample::str("8080")),
                addr("[::1]:80")
            ),
            addr("[::1]:8080")
        );
        assert_eq!(
            apply(
                AddrPart::SrcPort,
                Some(Sample::Int(65537)),
                addr("10.0.0.1:5")
            ),
            addr("10.0.0.1:1")
        );
        assert_eq!(apply(AddrPart::Src, v4, None), addr("10.1.2.3:0"));
        assert_eq!(
            apply(AddrPart::DstPort, Some(Sample::Int(81)), None),
            addr("0.0.0.0:81")
        );
    }

    #[test]
    fn no_value_or_no_address_leaves_it() {
        let at = addr("127.0.0.1:80");
        assert_eq!(apply(AddrPart::Dst, None, at), at);
        assert_eq!(apply(AddrPart::Dst, Some(Sample::str("nope")), at), at);
        assert_eq!(apply(AddrPart::DstPort, Some(Sample::str("")), at), at);
        // `c_str2int()`: no digits read is 0.
        assert_eq!(
            apply(AddrPart::DstPort, Some(Sample::str("x")), at),
            addr("127.0.0.1:0")
        );
    }
}
