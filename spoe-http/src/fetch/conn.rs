//! Connection fetches: `src`, `src_port`, `dst`, `dst_port` (`fc_*` are the same here: the
//! host sees the client connection only), and `fe_name`.

use std::net::SocketAddr;

use spoe::expr::Sample;

use crate::exchange::Exchange;

/// An address as a sample, of its socket's family: an IPv4 client of a dual-stack socket is
/// `::ffff:a.b.c.d`, an IPv6 sample, as in HAProxy 2.6 (`smp_fetch_src()`); IP patterns and
/// `ipmask` still match it as IPv4.
fn ip(addr: SocketAddr) -> Sample {
    match addr {
        SocketAddr::V4(a) => Sample::Ipv4(*a.ip()),
        SocketAddr::V6(a) => Sample::Ipv6(*a.ip()),
    }
}

fn port(addr: SocketAddr) -> Sample {
    Sample::Int(i64::from(addr.port()))
}

/// `src`: the client's address.
pub(super) fn src(x: &Exchange<'_>) -> Option<Sample> {
    x.connection()?.client.map(ip)
}

/// `src_port`.
pub(super) fn src_port(x: &Exchange<'_>) -> Option<Sample> {
    x.connection()?.client.map(port)
}

/// `dst`: the address the client connected to.
pub(super) fn dst(x: &Exchange<'_>) -> Option<Sample> {
    x.connection()?.local.map(ip)
}

/// `dst_port`.
pub(super) fn dst_port(x: &Exchange<'_>) -> Option<Sample> {
    x.connection()?.local.map(port)
}

/// `fe_name`: the frontend that accepted the connection.
pub(super) fn fe_name(x: &Exchange<'_>) -> Option<Sample> {
    x.connection()?.frontend.as_deref().map(Sample::str)
}
