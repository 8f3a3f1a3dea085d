//! What a `resolvers` section and a server's DNS settings say.

use std::net::SocketAddr;
use std::time::Duration;

use crate::net::Net;

/// A `resolvers NAME` section (`cfg_parse_resolvers()` in `src/resolvers.c`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolvers {
    /// Its name.
    pub(crate) name: String,
    /// `nameserver NAME ADDR:PORT` (UDP), and those of `/etc/resolv.conf` with
    /// `parse-resolv-conf`, in order.
    pub(crate) nameservers: Vec<(String, SocketAddr)>,
    /// `accepted_payload_size` (512 by default): the EDNS payload announced, and the most
    /// bytes of an answer read.
    pub(crate) payload: u16,
    /// `resolve_retries` (3 by default): the tries of one resolution.
    pub(crate) retries: u32,
    /// `timeout resolve` (1 s by default): how often a name is resolved again.
    pub(crate) resolve: Duration,
    /// `timeout retry` (1 s by default): how long a try waits for its answers.
    pub(crate) retry: Duration,
    /// `hold ...`.
    pub(crate) hold: Hold,
}

impl Resolvers {
    /// A section with HAProxy's defaults (`resolvers_new()`).
    pub(crate) fn new(name: String) -> Self {
        Self {
            name,
            nameservers: Vec::new(),
            payload: 512,
            retries: 3,
            resolve: Duration::from_secs(1),
            retry: Duration::from_secs(1),
            hold: Hold::default(),
        }
    }
}

/// `hold valid|nx|other|refused|timeout|obsolete PERIOD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hold {
    /// How long a valid answer serves a new requester without a new query (10 s).
    pub(crate) valid: Duration,
    /// How long after the last valid answer an NX answer puts the servers in maintenance.
    pub(crate) nx: Duration,
    /// The same, for an answer with no usable record or another error.
    pub(crate) other: Duration,
    /// The same, for a refused query.
    pub(crate) refused: Duration,
    /// The same, for no answer at all.
    pub(crate) timeout: Duration,
    /// How long a record missing from the answers is kept (0 by default).
    pub(crate) obsolete: Duration,
}

impl Default for Hold {
    fn default() -> Self {
        let thirty = Duration::from_secs(30);
        Self {
            valid: Duration::from_secs(10),
            nx: thirty,
            other: thirty,
            refused: thirty,
            timeout: thirty,
            obsolete: Duration::ZERO,
        }
    }
}

/// `resolve-prefer ipv4|ipv6` (IPv6 by default, as HAProxy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Prefer {
    /// A records first.
    V4,
    /// AAAA records first.
    #[default]
    V6,
}

/// How a server named by a host name is resolved at run time (`resolvers NAME` on its line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerDns {
    /// The host name, as written.
    pub(crate) fqdn: String,
    /// The `resolvers` section.
    pub(crate) resolvers: String,
    /// `resolve-prefer`.
    pub(crate) prefer: Prefer,
    /// `resolve-opts allow-dup-ip`: several servers of the backend may take the same record.
    pub(crate) allow_dup_ip: bool,
    /// `resolve-net`: networks whose addresses are preferred, in order.
    pub(crate) nets: Vec<Net>,
}
