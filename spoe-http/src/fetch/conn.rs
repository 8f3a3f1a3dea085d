//! Connection fetches: `src`, `src_port`, `dst`, `dst_port`, their `fc_*` forms (the
//! connection's own addresses, which differ after a PROXY header), `fc_rcvd_proxy`,
//! `fc_pp_authority`, `fc_pp_unique_id`, and `fe_name`.

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

/// The connection's own addresses: (source, destination).
fn own(x: &Exchange<'_>) -> Option<(Option<SocketAddr>, Option<SocketAddr>)> {
    let c = x.connection()?;
    Some(match &c.proxy {
        Some(p) => (p.client, p.local),
        None => (c.client, c.local),
    })
}

/// `fc_src`.
pub(super) fn fc_src(x: &Exchange<'_>) -> Option<Sample> {
    own(x)?.0.map(ip)
}

/// `fc_src_port`.
pub(super) fn fc_src_port(x: &Exchange<'_>) -> Option<Sample> {
    own(x)?.0.map(port)
}

/// `fc_dst`.
pub(super) fn fc_dst(x: &Exchange<'_>) -> Option<Sample> {
    own(x)?.1.map(ip)
}

/// `fc_dst_port`.
pub(super) fn fc_dst_port(x: &Exchange<'_>) -> Option<Sample> {
    own(x)?.1.map(port)
}

/// `fc_rcvd_proxy`.
pub(super) fn fc_rcvd_proxy(x: &Exchange<'_>) -> Option<Sample> {
    Some(Sample::Bool(x.connection()?.proxy.is_some()))
}

/// `fc_pp_authority`, `fc_pp_unique_id` (`unique_id`): absent without the TLV.
pub(super) fn fc_pp_tlv(x: &Exchange<'_>, unique_id: bool) -> Option<Sample> {
    let p = x.connection()?.proxy.as_ref()?;
    let value = if unique_id {
        &p.unique_id
    } else {
        &p.authority
    };
    value
        .as_ref()
        .map(|v| Sample::str(String::from_utf8_lossy(v)))
}
