//! A proxy's socket settings as its lines say them (`option tcpka|clitcpka|srvtcpka|nolinger|
//! tcp-smart-accept|tcp-smart-connect`, `clitcpka-*`, `srvtcpka-*`, read in
//! `proxy/sockets.rs`), and what they make of its client and server sockets.

use crate::sockopt::{ClientSock, Keepalive, ServerSock};

/// A proxy's socket settings as read (handed down by `defaults`).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct SockSettings {
    /// `option clitcpka` (or `tcpka`).
    pub(super) cli_ka: bool,
    /// `option srvtcpka` (or `tcpka`).
    pub(super) srv_ka: bool,
    /// `clitcpka-cnt|idle|intvl`.
    pub(super) cli: Keepalive,
    /// `srvtcpka-cnt|idle|intvl`.
    pub(super) srv: Keepalive,
    /// `option nolinger` (both sides, as HAProxy's `PR_O_TCP_NOLING`).
    pub(super) nolinger: bool,
    /// `[no] option tcp-smart-accept`.
    pub(super) smart_accept: Option<bool>,
    /// `backlog N` (a frontend's listeners' default).
    pub(super) backlog: Option<u32>,
    /// `option tcp-smart-connect`.
    pub(super) smart_connect: bool,
}

impl SockSettings {
    /// What its frontend half sets on client connections.
    pub(super) fn client(&self) -> ClientSock {
        ClientSock {
            keepalive: self.cli_ka.then_some(self.cli),
            nolinger: self.nolinger,
            smart_accept: self.smart_accept,
            backlog: self.backlog,
        }
    }

    /// What its backend half sets on server connections.
    pub(super) fn server(&self) -> ServerSock {
        ServerSock {
            keepalive: self.srv_ka.then_some(self.srv),
            nolinger: self.nolinger,
            smart_connect: self.smart_connect,
        }
    }
}
