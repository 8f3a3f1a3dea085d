//! IP networks as HAProxy reads them (`str2net()`, `str62net()`), and membership
//! (`ipcmp2net()`): `option forwardfor except`, `resolve-net`; and TCP connections from a
//! given local address (`source`).

use std::net::{IpAddr, SocketAddr};

use tokio::net::{TcpSocket, TcpStream};

/// An IPv4 or IPv6 network (`str2net()`, `str62net()`), its address already masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Net {
    /// IPv4 address and mask.
    V4(std::net::Ipv4Addr, std::net::Ipv4Addr),
    /// IPv6 address and prefix length.
    V6(std::net::Ipv6Addr, u8),
}

/// Whether `ip` is in `net` (`ipcmp2net()`: an address of the other family never is).
pub(crate) fn in_net(ip: IpAddr, net: &Net) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), Net::V4(addr, mask)) => a & *mask == *addr,
        (IpAddr::V6(a), Net::V6(addr, len)) => {
            let bits = u128::MAX.checked_shl(128 - u32::from(*len)).unwrap_or(0);
            u128::from(a) & bits == u128::from(*addr)
        }
        _ => false,
    }
}

/// A TCP connection to `to`, from `source` (any port) when given (`source ADDR`).
pub(crate) async fn connect(to: SocketAddr, source: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let Some(ip) = source else {
        return TcpStream::connect(to).await;
    };
    let socket = match to {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(ip, 0))?;
    socket.connect(to).await
}
