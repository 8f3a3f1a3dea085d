//! What `server` and `default-server` lines say about resolving a host name (read by
//! `proxy/server_dns.rs`, kept with the other server settings in `lower::ServerSettings`).

use std::net::IpAddr;

use spoe::config::Span;

use crate::net::Net;
use crate::resolve::Prefer;

/// One `init-addr` method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum InitAddr {
    /// `last`: the address a server state file kept (a reload starts from the last answer).
    Last,
    /// `libc`: the system's resolver.
    Libc,
    /// `none`: no address; the server starts in maintenance.
    None,
    /// An IP address.
    Ip(IpAddr),
}

/// What `server` lines say about resolving their host name.
#[derive(Debug, Clone, Default)]
pub(super) struct DnsSettings {
    pub(super) resolvers: Option<(String, Span)>,
    pub(super) prefer: Prefer,
    pub(super) allow_dup_ip: bool,
    pub(super) nets: Vec<Net>,
    /// `None`: HAProxy's default, `last,libc`.
    pub(super) init_addr: Option<Vec<InitAddr>>,
}
