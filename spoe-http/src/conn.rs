//! What a host knows about the client connection a request came on: addresses, TLS, and the
//! session's variables (HAProxy's `sess.` scope lives as long as the connection).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::tls::TlsFacts;
use crate::vars::SharedVars;

/// The client connection of a request: what `src`, `dst`, `ssl_fc*` and `ssl_c_*` read.
///
/// A host builds one per accepted connection and hands it to every request of that
/// connection, either directly ([`Exchange::conn`](crate::Exchange::conn)) or as a request
/// extension (an `http::Extensions` entry of this type), which is how a tower layer finds
/// it. Cloning is cheap (reference counts): the session's variables are shared by the
/// clones, as HAProxy shares them between the streams of one connection.
#[derive(Debug, Clone)]
pub struct ConnectionFacts {
    /// The client's address (`src`, `src_port`); `None` on a Unix socket, where HAProxy's
    /// `src` has no value either.
    pub client: Option<SocketAddr>,
    /// The address the client connected to (`dst`, `dst_port`); `None` on a Unix socket.
    pub local: Option<SocketAddr>,
    /// The TLS session, when the connection has one (`ssl_fc` is whether it does).
    pub tls: Option<Arc<TlsFacts>>,
    /// The name of the frontend (or `listen` section) that accepted it (`fe_name`).
    pub frontend: Option<Arc<str>>,
    /// The PROXY header it began with (`bind ... accept-proxy`): `client` and `local` are
    /// then the header's addresses, and this keeps the connection's own.
    pub proxy: Option<Arc<ReceivedProxy>>,
    /// What the requests of the connection share.
    session: Arc<Session>,
}

/// What a connection's PROXY header said beyond its addresses, and the connection's own
/// addresses (`fc_src`, `fc_dst`), which the header's replaced in `src` and `dst`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceivedProxy {
    /// The connection's own source address.
    pub client: Option<SocketAddr>,
    /// The connection's own destination address.
    pub local: Option<SocketAddr>,
    /// `PP2_TYPE_AUTHORITY` (`fc_pp_authority`).
    pub authority: Option<Vec<u8>>,
    /// `PP2_TYPE_UNIQUE_ID` (`fc_pp_unique_id`).
    pub unique_id: Option<Vec<u8>>,
}

/// The client session: its `sess.` variables, and whether its `on-client-session` event ran.
#[derive(Debug, Default)]
struct Session {
    vars: SharedVars,
    started: AtomicBool,
}

impl ConnectionFacts {
    /// A TCP connection from `client` to `local`, without TLS.
    pub fn tcp(client: SocketAddr, local: SocketAddr) -> Self {
        Self {
            client: Some(client),
            local: Some(local),
            tls: None,
            frontend: None,
            proxy: None,
            session: Arc::default(),
        }
    }

    /// A connection whose addresses are unknown (a Unix socket, an in-process test).
    pub fn unknown() -> Self {
        Self {
            client: None,
            local: None,
            tls: None,
            frontend: None,
            proxy: None,
            session: Arc::default(),
        }
    }

    /// The same connection over TLS.
    #[must_use]
    pub fn with_tls(mut self, tls: impl Into<Arc<TlsFacts>>) -> Self {
        self.tls = Some(tls.into());
        self
    }

    /// The same connection, accepted by frontend `name`.
    #[must_use]
    pub fn with_frontend(mut self, name: impl Into<Arc<str>>) -> Self {
        self.frontend = Some(name.into());
        self
    }

    /// The store of the connection's `sess.` variables (shared by its clones).
    pub fn session_vars(&self) -> &SharedVars {
        &self.session.vars
    }

    /// Marks the client session as started: `true` the first time only (when a host runs
    /// `on-client-session`).
    pub fn start_session(&self) -> bool {
        !self.session.started.swap(true, Ordering::Relaxed)
    }
}
