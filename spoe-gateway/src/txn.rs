//! One HTTP transaction as the gateway holds it while it runs rules and SPOE events: the
//! request and response heads it may rewrite, the buffered body, and the variables. What the
//! sample language reads of it is answered by `spoe-http` (one implementation of each fetch,
//! shared with `SpoeLayer`); what only a proxy has (backend, server, queue) is in the access
//! record.

use std::fmt;

use bytes::Bytes;
use hyper::http::{request, response};
use spoe::expr::{Fetch, FetchKind, Sample};
use spoe_http::{ConnectionFacts, Exchange, Vars};

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
    /// The worker's Lua, when the configuration loads any.
    pub(crate) lua: Option<std::sync::Arc<spoe_lua::LuaWorker>>,
    /// What `txn:set_priv()` stored.
    pub(crate) lua_private: Option<spoe_lua::Private>,
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
            FetchKind::Lua { name, args } => self.lua.as_ref()?.fetch(name, args, self),
            kind => self.exchange().fetch(kind),
        }
    }

    fn lua_convert(&self, name: &str, args: &[String], input: Sample) -> Option<Sample> {
        self.lua.as_ref()?.convert(name, args, input)
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
