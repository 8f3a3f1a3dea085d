//! A backend's rules about which server takes a request before balancing does, as the
//! configuration gives them (`stick`, `use-server`, `force-persist`, `ignore-persist`,
//! `http-send-name-header`); what they do at run time is `persist.rs`.

use spoe::expr::{AclSet, Condition, SampleExpr};

/// A backend's rules about its servers' choice, as configured.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServerRules {
    /// `force-persist` and `ignore-persist` lines, in order: the first that holds decides.
    pub(crate) persist: Vec<PersistRule>,
    /// `use-server` lines, in order.
    pub(crate) use_server: Vec<UseServer>,
    /// `stick match|on|store-request` lines, in order.
    pub(crate) stick_request: Vec<StickRule>,
    /// `stick store-response` lines, in order.
    pub(crate) stick_response: Vec<StickRule>,
    /// `http-send-name-header [NAME]`: the header that tells the server its name.
    pub(crate) send_name_header: Option<hyper::header::HeaderName>,
    /// `option prefer-last-server`, effective with `http-reuse never` (HAProxy keeps a
    /// client's server connections private then; with the other modes its HTTP/1 server
    /// connections go back to the server's pool, and the option changes nothing).
    pub(crate) prefer_last: bool,
    /// `http-reuse`.
    pub(crate) reuse: HttpReuse,
    /// The proxy's ACLs, which the conditions name (a `listen` keeps its own with its
    /// frontend half).
    pub(crate) acls: AclSet,
}

impl ServerRules {
    /// Whether the backend has no rule at all (the request path skips this module).
    pub(crate) fn is_empty(&self) -> bool {
        self.persist.is_empty()
            && self.use_server.is_empty()
            && self.stick_request.is_empty()
            && self.stick_response.is_empty()
    }
}

/// `force-persist if COND` or `ignore-persist if COND`.
#[derive(Debug, Clone)]
pub(crate) struct PersistRule {
    /// `force-persist` (else `ignore-persist`).
    pub(crate) force: bool,
    pub(crate) cond: Condition,
}

/// `use-server NAME if COND`.
#[derive(Debug, Clone)]
pub(crate) struct UseServer {
    /// The server's index in its backend.
    pub(crate) server: usize,
    pub(crate) cond: Condition,
}

/// What a `stick` line does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StickKind {
    /// `stick match`: looks the key up.
    Match,
    /// `stick on`: looks it up, and stores it.
    On,
    /// `stick store-request` (or `store`): stores the request's key.
    StoreRequest,
    /// `stick store-response`: stores the response's key.
    StoreResponse,
}

impl StickKind {
    pub(crate) fn matches(self) -> bool {
        matches!(self, Self::Match | Self::On)
    }

    pub(crate) fn stores(self) -> bool {
        !matches!(self, Self::Match)
    }
}

/// `stick KIND PATTERN [table T] [if|unless COND]`.
#[derive(Debug, Clone)]
pub(crate) struct StickRule {
    pub(crate) kind: StickKind,
    pub(crate) pattern: SampleExpr,
    /// The table's name (the backend's own when the line names none).
    pub(crate) table: String,
    pub(crate) cond: Option<Condition>,
}

/// `http-reuse never|safe|aggressive|always`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum HttpReuse {
    /// `never`: the gateway keeps no idle connection to the servers.
    Never,
    /// `safe` (the default), `aggressive`, `always`: an idle connection to the server takes
    /// the next request of any client.
    #[default]
    Pooled,
}
