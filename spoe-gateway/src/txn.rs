//! One HTTP transaction as the gateway holds it while it runs rules and SPOE events: the
//! request and response heads it may rewrite, the buffered body, and the variables. What the
//! sample language reads of it is answered by `spoe-http` (one implementation of each fetch,
//! shared with `SpoeLayer`); what only a proxy has (backend, server, queue) is in the access
//! record.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use hyper::http::{request, response};
use spoe::expr::{Fetch, FetchKind, Sample};
use spoe_http::{ConnectionFacts, Exchange, Vars};

use crate::access::LineLevel;
use crate::httplog::LUA_ERROR_LEVEL;
use crate::log::LogRoute;

/// A transaction being processed.
#[derive(Debug)]
pub(crate) struct Txn {
    pub(crate) request: request::Parts,
    /// The body `option http-buffer-request` buffered (`req.body`): at most
    /// `tune.bufsize` bytes, empty without the option.
    pub(crate) body: Bytes,
    pub(crate) response: Option<response::Parts>,
    pub(crate) conn: ConnectionFacts,
    pub(crate) unique_id: UniqueId,
    /// Its variables, with its session's and generation's stores.
    pub(crate) vars: Vars,
    /// Its Lua side, when the configuration loads Lua.
    pub(crate) lua: Option<LuaTxn>,
    /// The level of its access line, shared with the line.
    pub(crate) log_level: LineLevel,
}

/// A transaction's Lua side, when the configuration loads Lua.
#[derive(Debug)]
pub(crate) struct LuaTxn {
    /// The worker's Lua.
    pub(crate) worker: Arc<spoe_lua::LuaWorker>,
    /// What `txn:set_priv()` stored.
    pub(crate) private: Option<spoe_lua::Private>,
    /// Where Lua's error lines go: the frontend's `log` lines. (HAProxy writes them to the
    /// proxy running the rule; the gateway's backends have no `log` lines of their own.)
    pub(crate) log: LogRoute,
    /// The `proc.` variables the configuration names, which exist from the start.
    pub(crate) declared: Arc<BTreeSet<String>>,
}

impl LuaTxn {
    /// The same Lua side, without the private data (for a stand-in transaction).
    pub(crate) fn share(&self) -> Self {
        Self {
            worker: self.worker.clone(),
            private: None,
            log: self.log.clone(),
            declared: self.declared.clone(),
        }
    }

    /// Writes a Lua error line where HAProxy writes it.
    pub(crate) fn log_error(&self, line: &str) {
        self.log.send(LUA_ERROR_LEVEL, &line);
    }
}

/// `unique-id`: the generation and the stream id, formatted when read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UniqueId {
    pub(crate) generation: u64,
    pub(crate) sid: u64,
}

impl fmt::Display for UniqueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}-{:x}", self.generation, self.sid)
    }
}

impl Txn {
    /// The transaction as the fetches see it.
    fn exchange(&self) -> Exchange<'_> {
        let x = Exchange::new(&self.request)
            .body(&self.body)
            .conn(&self.conn)
            .vars(&self.vars)
            .unique_id(&self.unique_id);
        match &self.response {
            Some(r) => x.response(r),
            None => x,
        }
    }
}

impl Fetch for Txn {
    fn fetch(&self, kind: &FetchKind) -> Option<Sample> {
        match kind {
            FetchKind::Lua { name, args } => self.lua.as_ref()?.worker.fetch(name, args, self),
            kind => self.exchange().fetch(kind),
        }
    }

    fn lua_convert(&self, name: &str, args: &[String], input: Sample) -> Option<Sample> {
        self.lua.as_ref()?.worker.convert(name, args, input, self)
    }

    fn fetch_all(&self, kind: &FetchKind) -> Vec<Sample> {
        self.exchange().fetch_all(kind)
    }
}

/// A sample as text, the way log-format strings print it.
pub(crate) fn sample_text(s: &Sample) -> String {
    match s {
        Sample::Bool(b) => if *b { "1" } else { "0" }.to_owned(),
        Sample::Int(i) => i.to_string(),
        Sample::Ipv4(a) => a.to_string(),
        Sample::Ipv6(a) => a.to_string(),
        Sample::Str(b) | Sample::Bin(b) => String::from_utf8_lossy(b).into_owned(),
    }
}
