//! One HTTP transaction as the gateway holds it while it runs rules and SPOE events: the
//! request and response heads it may rewrite, the buffered body, and the variables. What the
//! sample language reads of it is answered by `spoe-http` (one implementation of each fetch,
//! shared with `SpoeLayer`); what only a proxy has (backend, server, queue) is in the access
//! record.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use hyper::http::{request, response};
use spoe::expr::{Fetch, FetchKind, Sample};
use spoe_http::{ConnectionFacts, Exchange, Vars};

use crate::access::LineLevel;
use crate::httplog::LUA_ERROR_LEVEL;
use crate::log::LogRoute;
use crate::model::{LogFormat, LogFormatPart};
use crate::sticktable::track::StreamCounters;

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
    /// The frontend's `unique-id-format`: with one, `unique-id` is what it builds, once.
    pub(crate) unique_id_format: Option<Arc<LogFormat>>,
    /// The ID the format built, when something read it.
    pub(crate) unique_id_text: OnceLock<String>,
    /// Its variables, with its session's and generation's stores.
    pub(crate) vars: Vars,
    /// The environment `env()` reads when the configuration changed it (`setenv`...).
    pub(crate) environment: Option<Arc<BTreeMap<String, String>>>,
    /// Its Lua side, when the configuration loads Lua.
    pub(crate) lua: Option<LuaTxn>,
    /// The level of its access line, shared with the line.
    pub(crate) log_level: LineLevel,
    /// Its stick counters (`track-sc*`) and the tables its fetches read.
    pub(crate) counters: StreamCounters,
    /// What its frontend captured (`crate::capture`), and the frontend's slots.
    pub(crate) captures: spoe_http::Captures,
    pub(crate) capture_slots: Option<Arc<crate::model::CaptureSlots>>,
    /// The configuration's userlists (`http_auth`, `http_auth_group`), and what was found
    /// of the request's credentials off the serving thread (`crate::auth`).
    pub(crate) userlists: Arc<crate::auth::Userlists>,
    pub(crate) auth_verdicts: Option<crate::auth::Verdicts>,
    /// What `cache-use` found and which cache answered (`crate::cache`).
    pub(crate) cache: crate::cache::serve::CacheTxn,
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
            .unique_id(&self.unique_id)
            .captures(&self.captures);
        match &self.response {
            Some(r) => x.response(r),
            None => x,
        }
    }
}

impl Txn {
    /// The ID `unique-id-format` builds, built on the first call (HAProxy's
    /// `stream_generate_unique_id()`): later reads, the SPOE messages and the header sent to the
    /// server all see the same one. `None` without a format.
    pub(crate) fn formatted_unique_id(&self) -> Option<&str> {
        let format = self.unique_id_format.as_deref()?;
        if let Some(id) = self.unique_id_text.get() {
            return Some(id);
        }
        // While it is built, `unique-id` (in its own format) has no value, as in HAProxy.
        let id = render(format, &Building(self));
        Some(self.unique_id_text.get_or_init(|| id))
    }
}

impl Txn {
    /// `None` without `Authorization: Basic` credentials (or without the userlist); else
    /// the userlist's index and the user when they are valid in userlist `name` (HAProxy's
    /// `check_user()`).
    fn authenticated(&self, name: &str) -> Option<Option<(usize, String)>> {
        let (list, _) = self.userlists.get(name)?;
        let Some(spoe_http::Credentials::Basic { user, pass }) =
            spoe_http::credentials(&self.request.headers)
        else {
            return None;
        };
        Some(
            self.userlists
                .check(list, &user, &pass, self.auth_verdicts.as_ref())
                .then_some((list, user)),
        )
    }
}

/// A transaction whose unique ID is being built.
struct Building<'t>(&'t Txn);

impl Fetch for Building<'_> {
    fn fetch(&self, kind: &FetchKind) -> Option<Sample> {
        match kind {
            FetchKind::UniqueId => None,
            _ => self.0.fetch(kind),
        }
    }

    fn lua_convert(&self, name: &str, args: &[String], input: Sample) -> Option<Sample> {
        self.0.lua_convert(name, args, input)
    }

    fn env(&self, name: &str) -> Option<Sample> {
        self.0.env(name)
    }
}

impl Fetch for Txn {
    fn fetch(&self, kind: &FetchKind) -> Option<Sample> {
        match kind {
            FetchKind::UniqueId if self.unique_id_format.is_some() => {
                self.formatted_unique_id().map(Sample::str)
            }
            FetchKind::Lua { name, args } => self.lua.as_ref()?.worker.fetch(name, args, self),
            FetchKind::ResCacheHit => Some(Sample::Bool(self.cache.served_by.is_some())),
            FetchKind::ResCacheName => self.cache.served_by.as_deref().map(Sample::str),
            FetchKind::Counter(c) => self
                .counters
                .fetch(c, || self.exchange().fetch(&FetchKind::Src)),
            // No value without Basic credentials, as HAProxy's `smp_fetch_http_auth()`.
            FetchKind::HttpAuth { userlist } => self
                .authenticated(userlist)
                .map(|valid| Sample::Bool(valid.is_some())),
            FetchKind::HttpAuthGroup { userlist } => self
                .authenticated(userlist)
                .flatten()
                .map(|(_, user)| Sample::str(user)),
            kind => self.exchange().fetch(kind),
        }
    }

    fn lua_convert(&self, name: &str, args: &[String], input: Sample) -> Option<Sample> {
        self.lua.as_ref()?.worker.convert(name, args, input, self)
    }

    fn fetch_all(&self, kind: &FetchKind) -> Vec<Sample> {
        match kind {
            FetchKind::UniqueId if self.unique_id_format.is_some() => {
                self.fetch(kind).into_iter().collect()
            }
            // In an ACL: the user's groups, which its patterns name (`pat_match_auth()`).
            FetchKind::HttpAuthGroup { userlist } => self
                .authenticated(userlist)
                .flatten()
                .map(|(list, user)| {
                    self.userlists
                        .groups(list, &user)
                        .into_iter()
                        .map(Sample::str)
                        .collect()
                })
                .unwrap_or_default(),
            _ => self.exchange().fetch_all(kind),
        }
    }

    fn env(&self, name: &str) -> Option<Sample> {
        match &self.environment {
            Some(env) => env.get(name).map(|v| Sample::str(v.clone())),
            None => self.exchange().env(name),
        }
    }
}

/// Evaluates a log-format string (an expression without a value adds nothing).
pub(crate) fn render<H: Fetch + ?Sized>(fmt: &LogFormat, host: &H) -> String {
    let mut out = String::new();
    for part in &fmt.0 {
        match part {
            LogFormatPart::Text(t) => out.push_str(t),
            LogFormatPart::Sample(e) => {
                if let Some(s) = e.eval(host) {
                    out.push_str(&sample_text(&s));
                }
            }
        }
    }
    out
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
