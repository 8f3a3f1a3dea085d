//! Whether the peer of a loopback TCP connection has read everything sent to it, from the
//! kernel's table of IPv4 sockets (`/proc/net/tcp`): an event to wait on instead of a sleep
//! when a test must know a proxy saw one part of a message before it sends the next.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The `tx_queue` (sent, not acknowledged) and `rx_queue` (received, not read) of the IPv4
/// socket whose local and remote addresses are `local` and `remote`.
fn queues(local: SocketAddr, remote: SocketAddr) -> Option<(u64, u64)> {
    let hex = |a: SocketAddr| -> Option<String> {
        let SocketAddr::V4(v4) = a else { return None };
        // The address in the kernel's byte order (little-endian here), the port in network order.
        Some(format!(
            "{:08X}:{:04X}",
            u32::from_le_bytes(v4.ip().octets()),
            v4.port()
        ))
    };
    let (l, r) = (hex(local)?, hex(remote)?);
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.get(1) != Some(&l.as_str()) || f.get(2) != Some(&r.as_str()) {
            return None;
        }
        let (tx, rx) = f.get(4)?.split_once(':')?;
        Some((
            u64::from_str_radix(tx, 16).ok()?,
            u64::from_str_radix(rx, 16).ok()?,
        ))
    })
}

/// Waits (at most `within`) until the peer of `sock` acknowledged everything `sock` sent and
/// its program read it: `sock`'s send queue is empty and so is the peer socket's receive
/// queue. Returns whether it happened.
pub(crate) fn read_by_peer(sock: &TcpStream, within: Duration) -> bool {
    let (Ok(me), Ok(peer)) = (sock.local_addr(), sock.peer_addr()) else {
        return false;
    };
    super::wait_until(within, || {
        queues(me, peer).is_some_and(|(tx, _)| tx == 0)
            && queues(peer, me).is_some_and(|(_, rx)| rx == 0)
    })
}
