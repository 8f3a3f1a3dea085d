//! What happens to one request: SPOE events and rules in HAProxy's order,
//! backend choice, forwarding, response events and rules, access log.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::Either;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body as _, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use spoe::StreamState;
use spoe::config::Event;
use spoe::expr::{AclSet, Sample};
use tokio::time::Instant;

use crate::access::{Access, LineLevel, Logged, Pending, RequestLine, head_size};
use crate::body::{BodyError, Progress, RequestBody};
use crate::generation::{FilterRt, FrontendRt, Generation, ServerRt};
use crate::hop;
use crate::httplog::{ACCESS_LEVEL, SPOE_ERROR_LEVEL, SPOE_LEVEL, Timer};
use crate::limits::ConnCounts;
use crate::log::LogRoute;
use crate::logline::LineFormat;
use crate::metrics::GatewayMetrics;
use crate::model::{AddrPart, GptValue, HttpAction, LogOptions, Reply, ReturnBody, Rule};
use crate::stats::{Counters, Tally};
use crate::sticktable::track::StreamCounters;
use crate::tls::EvaluatedSni;
use crate::txn::{LuaTxn, Txn, UniqueId, render, sample_text};
use smallvec::{SmallVec, smallvec};

pub(crate) use crate::body::{Body, BoxError};

/// What a session reports of an address it does not know (none today: every
/// client connection is TCP).
const UNKNOWN_ADDR: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::UNSPECIFIED,
    0,
));

/// Per-connection state shared by its requests.
#[derive(Debug)]
pub(crate) struct Session {
    /// What the fetches read of the connection (its addresses among it), and its `sess.`
    /// variables.
    pub(crate) conn: spoe_http::ConnectionFacts,
    /// The latest generation whose `on-client-session` event ran (0: none).
    pub(crate) session_event_done: std::sync::atomic::AtomicU64,
    pub(crate) requests: std::sync::atomic::AtomicU64,
    /// `%ac` and `%fc` of its access lines.
    pub(crate) conns: Arc<ConnCounts>,
    /// Its frontend's statistics.
    pub(crate) stats: Arc<Counters>,
    /// When the first request's first bytes arrived (its `%tr`, and the
    /// start of its `%TR`); taken by that request.
    pub(crate) first_bytes: Mutex<Option<(Instant, std::time::SystemTime)>>,
    /// The latest request's body: whether it was read to its end decides
    /// whether the connection can be read again from a message boundary.
    pub(crate) body: Arc<Progress>,
    /// A `101 Switching Protocols` was answered: the tunnel the connection becomes once
    /// hyper wrote it.
    /// Boxed: every connection's session keeps room for it, few ever use it.
    pub(crate) tunnel: Mutex<Option<Box<crate::tunnel::Tunnel>>>,
    /// The server of its latest answered request (`option prefer-last-server`).
    pub(crate) last_server: crate::persist::LastServer,
    /// The connection's task while it waits for its next request, which the stop wakes:
    /// the wait keeps no future of the stop's (issue 21). Here, in room the session's size
    /// class already had.
    pub(crate) idle: futures_util::task::AtomicWaker,
}

impl Session {
    /// The address it was accepted on, which names its frontend (`local()` may be another:
    /// the one a PROXY header announced, which keeps the connection's own). Not a field:
    /// every connection keeps its session, and 32 bytes less put it in a smaller size class.
    pub(crate) fn listener(&self) -> SocketAddr {
        self.conn
            .proxy
            .as_ref()
            .map_or(self.conn.local, |p| p.local)
            .unwrap_or(UNKNOWN_ADDR)
    }

    /// The client's address.
    pub(crate) fn client(&self) -> SocketAddr {
        self.conn.client.unwrap_or(UNKNOWN_ADDR)
    }

    /// The address the client connected to.
    pub(crate) fn local(&self) -> SocketAddr {
        self.conn.local.unwrap_or(UNKNOWN_ADDR)
    }

    /// Whether the latest request's body was read to its end (true before any request).
    pub(crate) fn body_complete(&self) -> bool {
        self.body.complete()
    }

    /// When the head in progress began to arrive (its `%tr`, the start of its
    /// `%TR`): as noted, else now, which is noted.
    pub(crate) fn first_bytes(&self) -> Instant {
        let mut first = self
            .first_bytes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        first
            .get_or_insert_with(|| (Instant::now(), std::time::SystemTime::now()))
            .0
    }
}

/// A request body not yet on its way: still unread, or buffered for
/// `option http-buffer-request`.
enum PendingBody {
    Unread(Incoming),
    Buffered(RequestBody),
    /// Only while being buffered.
    Taken,
}

impl PendingBody {
    /// Buffers the body (once) as `option http-buffer-request` asks, into
    /// `txn.body`. Err: the status to answer (408 for `timeout http-request`,
    /// 400 for a broken body).
    async fn buffer(
        &mut self,
        txn: &mut Txn,
        bound: usize,
        timeouts: crate::model::Timeouts,
        progress: &Arc<Progress>,
    ) -> Result<(), u16> {
        if !matches!(self, Self::Unread(_)) {
            return Ok(());
        }
        let Self::Unread(incoming) = std::mem::replace(self, Self::Taken) else {
            return Ok(());
        };
        let wait = timeouts.http_request.or(timeouts.client);
        let (data, body) =
            RequestBody::buffer(incoming, bound, wait, timeouts.client, progress.clone()).await?;
        txn.body = if data.len() > bound {
            data.slice(..bound)
        } else {
            data
        };
        *self = Self::Buffered(body);
        Ok(())
    }

    fn into_body(self, idle: Option<Duration>, progress: Arc<Progress>) -> RequestBody {
        match self {
            Self::Unread(incoming) => RequestBody::streaming(incoming, idle, progress),
            Self::Buffered(body) => body,
            Self::Taken => RequestBody::empty(progress),
        }
    }
}

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

/// A response that closes the connection after it (HAProxy closes after
/// refusing a request it could not trust).
fn closing(mut r: Response<Body>) -> Response<Body> {
    r.headers_mut()
        .insert("connection", HeaderValue::from_static("close"));
    r
}

fn text_response(status: u16, text: &str) -> Response<Body> {
    let mut r = Response::new(full(text.to_owned()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("text/html"));
    r.headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-cache"));
    r
}

/// HAProxy's page for `status` (`crate::pages`), with its reason phrase; a status HAProxy has
/// no page for gets one in the same layout.
fn error_page(status: u16) -> Response<Body> {
    if let Some(file) = crate::errorfile::lookup(status) {
        return message_response(status, &file);
    }
    let canonical = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    let (reason, text) =
        crate::pages::haproxy_page(status).unwrap_or((canonical, "The request was refused."));
    let mut r = text_response(status, &crate::pages::page_html(status, reason, text));
    if reason != canonical
        && let Ok(phrase) = hyper::ext::ReasonPhrase::try_from(reason.as_bytes())
    {
        r.extensions_mut().insert(phrase);
    }
    r
}

/// The response of an `errorfile` sent for `status`: HAProxy logs the status it answered for
/// (`txn->status`), not the page's own (an `errorloc` page is a 302).
fn message_response(status: u16, file: &crate::errorfile::ErrorFile) -> Response<Body> {
    let mut r = errorfile_response(file);
    if r.status().as_u16() != status {
        r.extensions_mut().insert(LoggedStatus(status));
    }
    r
}

/// The response of an `errorfile`, as the file has it.
fn errorfile_response(file: &crate::errorfile::ErrorFile) -> Response<Body> {
    let mut r = Response::new(full(file.body()));
    *r.status_mut() =
        StatusCode::from_u16(file.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    *r.headers_mut() = file.headers().clone();
    if let Ok(phrase) = hyper::ext::ReasonPhrase::try_from(file.reason()) {
        r.extensions_mut().insert(phrase);
    }
    r
}

/// Whether a request is `monitor-uri`'s: its path with the query (HAProxy's
/// `http_parse_path()`) when the URI starts with `/`, so that a target in absolute form
/// (HTTP/2's, as HAProxy sees it) matches too; else its whole target.
fn monitor_matches(monitor_uri: &str, target: &hyper::Uri) -> bool {
    (monitor_uri.starts_with('/')
        && target.path_and_query().map(|p| p.as_str()) == Some(monitor_uri))
        || *target == *monitor_uri
}

/// An http reply (`deny`, `tarpit`, `return`) for `status`, as `http_reply_to_htx()` makes
/// it: the proxies' page, a whole message from a file, or one built from parts.
fn http_reply(status: u16, reply: &Reply, txn: &Txn) -> Response<Body> {
    match reply {
        Reply::ProxyPage => error_page(status),
        Reply::Message(file) => message_response(status, file),
        Reply::Built {
            content_type,
            headers,
            body,
        } => built_reply(status, content_type.as_deref(), headers, body, txn),
    }
}

/// A reply built from parts: the status, `content-type`, the `hdr` lines (one whose value is
/// empty is left out, as HAProxy does), the body.
fn built_reply(
    status: u16,
    content_type: Option<&str>,
    headers: &[(String, crate::model::LogFormat)],
    body: &Option<ReturnBody>,
    txn: &Txn,
) -> Response<Body> {
    let body = match body {
        Some(ReturnBody::Raw(b)) => b.clone(),
        Some(ReturnBody::LogFormat(f)) => Bytes::from(render(f, txn)),
        None => Bytes::new(),
    };
    let mut r = Response::new(full(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    if let Some(ct) = content_type.and_then(|c| HeaderValue::from_str(c).ok()) {
        r.headers_mut().insert("content-type", ct);
    }
    for (name, fmt) in headers {
        let value = render(fmt, txn);
        if value.is_empty() {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            r.headers_mut().append(n, v);
        }
    }
    r
}

/// The answer of a response rule that answers: HAProxy drops the server's response before it
/// builds the reply (`http_reply_message()` truncates the channel), so the reply's log-format
/// strings see no response (`%[status]`, `%[res.hdr(...)]` are empty).
fn reply_without_response(action: &HttpAction, txn: &mut Txn) -> Response<Body> {
    let held = txn.response.take();
    let r = reply_of(action, txn);
    txn.response = held;
    r
}

/// The answer of a rule that answers (`deny`: HAProxy's error page for its status, or its
/// custom reply; `return`; `redirect`, as `http_apply_redirect_rule()` makes it: the status,
/// an empty body, the location).
fn reply_of(action: &HttpAction, txn: &Txn) -> Response<Body> {
    match action {
        HttpAction::Deny { status, reply }
        | HttpAction::Tarpit { status, reply }
        | HttpAction::Return { status, reply } => http_reply(*status, reply, txn),
        HttpAction::Auth { realm } => auth_page(realm),
        HttpAction::Redirect {
            kind,
            target,
            code,
            drop_query,
            append_slash,
        } => {
            let target = render(target, txn);
            let location = crate::rewrite::redirect_location(
                *kind,
                &target,
                &txn.request,
                *drop_query,
                *append_slash,
            );
            let mut r = Response::new(full(Bytes::new()));
            *r.status_mut() = StatusCode::from_u16(*code).unwrap_or(StatusCode::FOUND);
            if let Ok(v) = HeaderValue::from_str(&location) {
                r.headers_mut().insert("location", v);
            }
            r
        }
        // Not an answering action (not reached).
        _ => error_page(500),
    }
}

/// `http-request auth`: the 401 page (an `errorfile` for 401 included) with the realm's
/// `WWW-Authenticate`, replacing any the page had (`http_action_auth()`).
fn auth_page(realm: &str) -> Response<Body> {
    let mut r = error_page(401);
    let h = r.headers_mut();
    h.remove("www-authenticate");
    if let Ok(v) = HeaderValue::from_str(&format!("Basic realm=\"{realm}\"")) {
        h.insert("www-authenticate", v);
    }
    r
}

fn cond_holds(rule: &Rule, txn: &Txn, acls: &AclSet) -> bool {
    rule.cond.as_ref().is_none_or(|c| c.eval(txn, acls))
}

/// What a rule list decided.
enum Flow {
    Continue,
    /// Answered by a rule, with the termination state of the access line.
    Respond(Response<Body>, &'static str),
    /// Answered by an applet: `use-service prometheus-exporter` or the stats page (HAProxy
    /// logs the applet as the server, `<PROMEX>`, `<STATS>`).
    Service(Response<Body>, &'static str),
    /// `use-service lua.NAME`: the service answers, with the request's body.
    LuaService(String),
    /// `txn:done()` without a reply: the connection closes with no answer.
    Close,
    /// `silent-drop`: the connection is reset with no answer, with the termination state
    /// of the access line and the status it logs (the server's, once it answered).
    Drop(&'static str, Option<u16>),
    /// `tarpit`: the answer, to send once `timeout tarpit` has passed.
    Tarpit(Response<Body>),
}

/// What a Lua action's verdict means to the rules, as HAProxy 2.6 acts on it (`Side`
/// decides: a request is refused, a response replaced).
fn lua_verdict(outcome: spoe_lua::ActionOutcome, side: Side) -> Option<Flow> {
    use spoe_lua::Verdict as V;
    let answer = |status: u16, termination| Some(Flow::Respond(error_page(status), termination));
    match (outcome.verdict, side) {
        (V::Continue | V::Yield, _) => None,
        // No more rules of this ruleset; the transaction goes on.
        (V::Stop | V::Done, _) => Some(Flow::Continue),
        (V::Error, Side::Request) => answer(500, "IR"),
        (V::Error, Side::Response) => answer(500, "IH"),
        (V::Invalid, Side::Request) => Some(Flow::Respond(closing(error_page(400)), "PR")),
        (V::Invalid, Side::Response) => answer(502, "PH"),
        (V::Deny, Side::Request) => answer(403, "PR"),
        // HAProxy 2.6 answers a response's deny with its 200 page.
        (V::Deny, Side::Response) => answer(200, "PH"),
        // HAProxy 2.6: a request aborted without an answer gets a 503; a response goes on.
        (V::Abort, Side::Request) => answer(503, "LR"),
        (V::Abort, Side::Response) => None,
        (V::Terminate, _) => Some(match outcome.reply {
            Some(reply) => Flow::Respond(crate::lua::reply_response(reply), "LR"),
            None => Flow::Close,
        }),
    }
}

struct Ctx<'a> {
    generation: &'a Generation,
    metrics: &'a GatewayMetrics,
    sid: u64,
    /// One SPOE state per filter of this transaction, keyed by the filter's address.
    streams: Vec<(usize, StreamState)>,
    /// The frontend's, backend's and server's statistics, as they are
    /// assigned: a header rewrite that fails counts in each (`wrew`). Inline, as `after`: two
    /// allocations fewer per request.
    counters: SmallVec<[Arc<Counters>; 3]>,
    /// The `http-after-response` rules of the frontend, then of the backend once assigned.
    after: SmallVec<[(&'a [Rule], &'a AclSet); 2]>,
}

impl Ctx<'_> {
    fn stream(&mut self, f: &FilterRt) -> &mut StreamState {
        let key = std::ptr::from_ref(f) as usize;
        let i = match self.streams.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                self.streams.push((
                    key,
                    StreamState {
                        sid: self.sid,
                        ..StreamState::default()
                    },
                ));
                self.streams.len() - 1
            }
        };
        &mut self.streams[i].1
    }

    /// The stats page's answer (`crate::stats_page`): 401 without the credentials `stats
    /// auth` asks for, a 303 with the result after a `POST` (whose form is read up to
    /// `bufsize` bytes), else the page.
    async fn stats_page(
        &self,
        page: &crate::model::StatsPage,
        own: &str,
        admin: bool,
        txn: &Txn,
        body: RequestBody,
        bufsize: usize,
    ) -> Flow {
        use crate::stats_page as sp;
        let boxed = |r: Response<String>| r.map(full);
        if let Some(r) = sp::unauthorized(page, &txn.request.headers) {
            return Flow::Respond(boxed(r), "PR");
        }
        let req = sp::request(page, &txn.request.uri);
        if txn.request.method == hyper::Method::POST {
            let limited = http_body_util::Limited::new(body, bufsize);
            let code = match BodyExt::collect(limited).await {
                Ok(form) => sp::post(self.generation, admin, &form.to_bytes()),
                Err(_) => "EXCD",
            };
            return Flow::Service(boxed(sp::redirect(page, &req, code)), "<STATS>");
        }
        let snapshot = self.metrics.snapshot(self.generation);
        let mut r = boxed(sp::page(page, own, &req, admin, &snapshot));
        if txn.request.method == hyper::Method::HEAD {
            *r.body_mut() = full(Bytes::new());
        }
        Flow::Service(r, "<STATS>")
    }

    /// SPOE `event` on `filters`, in order. Most events send nothing: callers build this
    /// future (an agent's round trip, moved whole by each `.await`) only when
    /// [`sends`] says one of the filters has messages for the event.
    async fn run_event(&mut self, filters: &[FilterRt], event: Event, txn: &mut Txn) {
        for f in filters {
            let filter = f.filter();
            let stream = *self.stream(f);
            let Some(prepared) = filter.prepare_event(event, &*txn, &stream) else {
                continue;
            };
            let mut done = filter.process(prepared, self.stream(f)).await;
            self.metrics.spoe(&filter.config().agent.id, &done);
            log_spoe(f, &done);
            txn.vars.apply(std::mem::take(&mut done.updates));
        }
    }

    async fn send_group(&mut self, filters: &[FilterRt], engine: &str, group: &str, txn: &mut Txn) {
        let Some(f) = filters.iter().find(|f| f.engine.as_deref() == Some(engine)) else {
            return;
        };
        let filter = f.filter();
        let stream = *self.stream(f);
        if let Some(prepared) = filter.prepare_group(group, &*txn, &stream) {
            let mut done = filter.process(prepared, self.stream(f)).await;
            self.metrics.spoe(&filter.config().agent.id, &done);
            log_spoe(f, &done);
            txn.vars.apply(std::mem::take(&mut done.updates));
        }
    }

    /// An `http-request deny` answered: HAProxy's denied requests, of the
    /// frontend and of the backend once one is assigned.
    fn denied(&self) {
        for c in self.counters.iter().take(2) {
            c.denied_req.inc();
        }
    }

    /// `http-after-response` rules on the response held in `txn` (the backend's first, then
    /// the frontend's; `allow` ends a list), as HAProxy runs them on every response, the
    /// server's and its own.
    async fn after_response(&mut self, txn: &mut Txn) {
        if !self.has_after() {
            return;
        }
        let lists = self.after.clone();
        for &(rules, acls) in lists.iter().rev() {
            for rule in rules {
                if !cond_holds(rule, txn, acls) {
                    continue;
                }
                if matches!(rule.action, HttpAction::Allow) {
                    break;
                }
                self.common_action(&rule.action, &[], txn, Side::Response)
                    .await;
            }
        }
    }

    /// Whether `http-after-response` rules are in effect.
    fn has_after(&self) -> bool {
        self.after.iter().any(|(rules, _)| !rules.is_empty())
    }

    /// A response the gateway made, through the `http-after-response` rules. Without such
    /// rules, the common case, the answer is a ready value: the future that runs the rules is
    /// large (it holds an agent's round trip) and every `.await` moves the whole of it, so it
    /// is built, boxed, only when there are rules to run.
    fn answer(
        &mut self,
        r: Response<Body>,
        txn: &mut Txn,
    ) -> impl Future<Output = Response<Body>> + Send {
        if self.has_after() {
            Either::Right(Box::pin(self.answer_after(r, txn)))
        } else {
            Either::Left(std::future::ready(r))
        }
    }

    /// [`Ctx::answer`] with rules to run.
    async fn answer_after(&mut self, r: Response<Body>, txn: &mut Txn) -> Response<Body> {
        let (parts, body) = r.into_parts();
        let held = txn.response.replace(parts);
        self.after_response(txn).await;
        let parts = std::mem::replace(&mut txn.response, held);
        match parts {
            Some(p) => Response::from_parts(p, body),
            None => error_page(500),
        }
    }

    /// A rule list's answer, through the `http-after-response` rules (boxed and built only
    /// when there are some, as [`Ctx::answer`]).
    fn answer_flow(&mut self, flow: Flow, txn: &mut Txn) -> impl Future<Output = Flow> + Send {
        if !self.has_after() {
            return Either::Left(std::future::ready(flow));
        }
        Either::Right(Box::pin(async move {
            match flow {
                Flow::Respond(r, t) => Flow::Respond(self.answer_after(r, txn).await, t),
                Flow::Service(r, applet) => Flow::Service(self.answer_after(r, txn).await, applet),
                other => other,
            }
        }))
    }

    /// A rewrite failed: HAProxy's `wrew`, of each object assigned.
    fn failed_rewrite(&self) {
        for c in self.counters.iter() {
            c.failed_rewrites.inc();
        }
    }

    /// A frontend rule answered (`return`, `redirect`, a service), counted
    /// before the answer is made, as HAProxy counts it (a backend's rules
    /// are not counted: HAProxy counts only what the frontend intercepts).
    fn intercepted(&self) {
        if self.counters.len() == 1
            && let Some(fe) = self.counters.iter().next()
        {
            fe.intercepted.inc();
        }
    }

    /// `http-request` rules.
    async fn request_rules(
        &mut self,
        rules: &[Rule],
        acls: &AclSet,
        filters: &[FilterRt],
        txn: &mut Txn,
    ) -> Flow {
        for rule in rules {
            if !cond_holds(rule, txn, acls) {
                continue;
            }
            match &rule.action {
                HttpAction::Deny { .. } | HttpAction::SilentDrop | HttpAction::Tarpit { .. } => {
                    self.denied();
                }
                // As `http_action_auth()`: intercepted when the frontend's rules answered.
                HttpAction::Auth { .. } => self.intercepted(),
                HttpAction::Return { .. }
                | HttpAction::Redirect { .. }
                | HttpAction::PrometheusExporter
                | HttpAction::LuaService { .. } => self.intercepted(),
                _ => {}
            }
            match &rule.action {
                HttpAction::Deny { .. } => {
                    txn.counters.denied();
                    return Flow::Respond(reply_of(&rule.action, txn), "PR");
                }
                HttpAction::Tarpit { .. } => {
                    txn.counters.denied();
                    return Flow::Tarpit(reply_of(&rule.action, txn));
                }
                HttpAction::Auth { .. } => {
                    txn.counters.denied();
                    return Flow::Respond(reply_of(&rule.action, txn), "LR");
                }
                HttpAction::Return { .. } | HttpAction::Redirect { .. } => {
                    return Flow::Respond(reply_of(&rule.action, txn), "LR");
                }
                HttpAction::SilentDrop => return Flow::Drop("PR", None),
                // The rest of this list is skipped; the request goes on.
                HttpAction::Allow => return Flow::Continue,
                HttpAction::SetHeader { .. }
                | HttpAction::AddHeader { .. }
                | HttpAction::DelHeader { .. }
                | HttpAction::ReplaceHeader { .. }
                | HttpAction::SetLine { .. }
                | HttpAction::ReplaceLine { .. }
                | HttpAction::SetStatus { .. }
                | HttpAction::SetVar { .. }
                | HttpAction::SetAddr { .. }
                | HttpAction::SetLogLevel { .. }
                | HttpAction::TrackSc { .. }
                | HttpAction::ScIncGpc { .. }
                | HttpAction::ScSetGpt0 { .. }
                | HttpAction::Capture { .. }
                | HttpAction::SendSpoeGroup { .. } => {
                    self.common_action(&rule.action, filters, txn, Side::Request)
                        .await;
                }
                HttpAction::CacheUse { cache } => {
                    if let Some(store) = self.generation.caches.get(cache) {
                        let now = crate::cache::serve::now();
                        crate::cache::serve::cache_use(&mut txn.cache, store, &txn.request, now);
                    }
                }
                // Parsed as a response rule only.
                HttpAction::CacheStore { .. } => {}

                HttpAction::Lua { name, args } => {
                    let Some(worker) = txn.lua.as_ref().map(|l| l.worker.clone()) else {
                        continue;
                    };
                    // Boxed: a Lua call's state would otherwise be part of every request's.
                    let outcome = Box::pin(crate::lua::action(&worker, name, args, txn)).await;
                    if let Some(flow) = lua_verdict(outcome, Side::Request) {
                        return flow;
                    }
                }
                HttpAction::LuaService { name } => return Flow::LuaService(name.clone()),
                HttpAction::PrometheusExporter => {
                    let mut r = Response::new(full(self.metrics.encode_text(self.generation)));
                    r.headers_mut().insert(
                        "content-type",
                        HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
                    );
                    return Flow::Service(r, "<PROMEX>");
                }
            }
        }
        Flow::Continue
    }

    /// `http-response` rules (header and variable actions, Lua actions), applied
    /// to the response held in `txn`. A Lua action may replace the response: `Respond` or
    /// `Close`; `Continue` otherwise.
    async fn response_rules(
        &mut self,
        rules: &[Rule],
        acls: &AclSet,
        filters: &[FilterRt],
        txn: &mut Txn,
    ) -> Flow {
        for rule in rules {
            if !cond_holds(rule, txn, acls) {
                continue;
            }
            match &rule.action {
                HttpAction::Lua { name, args } => {
                    let Some(worker) = txn.lua.as_ref().map(|l| l.worker.clone()) else {
                        continue;
                    };
                    // Boxed: a Lua call's state would otherwise be part of every request's.
                    let outcome = Box::pin(crate::lua::action(&worker, name, args, txn)).await;
                    match lua_verdict(outcome, Side::Response) {
                        None => continue,
                        Some(Flow::Continue) => return Flow::Continue,
                        Some(flow) => return flow,
                    }
                }
                HttpAction::Deny { .. } => {
                    // HAProxy's `dresp`, of the frontend, the backend and the server.
                    for c in self.counters.iter() {
                        c.denied_resp.inc();
                    }
                    return Flow::Respond(reply_without_response(&rule.action, txn), "PH");
                }
                HttpAction::Return { .. } | HttpAction::Redirect { .. } => {
                    return Flow::Respond(reply_without_response(&rule.action, txn), "LH");
                }
                HttpAction::SilentDrop => {
                    // As HAProxy's `tcp_exec_action_silent_drop()`: a denied request.
                    self.denied();
                    let status = txn.response.as_ref().map(|r| r.status.as_u16());
                    return Flow::Drop("PR", status);
                }
                HttpAction::Allow => return Flow::Continue,
                HttpAction::CacheStore { cache } => {
                    if let (Some(store), Some(head)) =
                        (self.generation.caches.get(cache), txn.response.as_mut())
                    {
                        let now = crate::cache::serve::now();
                        let storing = crate::cache::serve::cache_store(
                            &txn.cache,
                            store,
                            &txn.request,
                            head,
                            now,
                        );
                        if storing.is_some() {
                            txn.cache.storing = storing;
                        }
                    }
                }
                _ => {
                    self.common_action(&rule.action, filters, txn, Side::Response)
                        .await;
                }
            }
        }
        Flow::Continue
    }

    /// A `cache-use` hit answers instead of a server: HAProxy's cache applet, which takes the
    /// stream where the rule ran (the frontend's hit never reaches a backend) and is logged as
    /// the server `<CACHE>`, `LR`. The stored response goes through the response events and
    /// `rules` (each a rule list with its ACLs and filters, in order), as HAProxy passes an
    /// applet's response through them.
    async fn cache_hit(
        &mut self,
        hit: crate::cache::serve::Hit,
        fe: &FrontendRt,
        rules: &[(&Vec<Rule>, &AclSet, &[FilterRt])],
        txn: &mut Txn,
        access: Box<Access>,
    ) -> Response<Logged<Body>> {
        let now = crate::cache::serve::now();
        let (head, body) =
            crate::cache::serve::hit_response(&hit, &txn.request.method, now).into_parts();
        txn.cache.served_by = Some(hit.cache);
        txn.counters.response(head.status.as_u16());
        txn.response = Some(head);
        for event in [Event::OnTcpResponse, Event::OnHttpResponse] {
            for (_, _, filters) in rules {
                if sends(filters, event) {
                    self.run_event(filters, event, &mut *txn).await;
                }
            }
        }
        for (rules, acls, filters) in rules {
            let flow = self.response_rules(rules, acls, filters, txn).await;
            if !matches!(flow, Flow::Continue) {
                let flow = self.answer_flow(flow, &mut *txn).await;
                return finish_rule(flow, access);
            }
        }
        self.after_response(&mut *txn).await;
        let Some(mut head) = txn.response.take() else {
            return finish(error_page(502), access);
        };
        hop::strip_hop_by_hop(&mut head.headers);
        if txn.request.version < hyper::Version::HTTP_2 {
            hop::close_client_side(&mut head.headers, &fe.model);
        }
        finish_rule(
            Flow::Service(Response::from_parts(head, body), "<CACHE>"),
            access,
        )
    }

    /// `use-service lua.NAME`: the service answers (HAProxy logs it as the server
    /// `<lua.NAME>`), its head through `response_rules` (each a rule list with its ACLs and
    /// filters, in order) as HAProxy passes an applet's response through them; a service that
    /// fails before its head gets HAProxy's 500.
    async fn lua_service(
        &mut self,
        name: &str,
        txn: &mut Txn,
        body: RequestBody,
        response_rules: &[(&Vec<Rule>, &AclSet, &[FilterRt])],
        mut access: Box<Access>,
    ) -> Response<Logged<Body>> {
        access.server = Cow::Owned(format!("<lua.{name}>"));
        let zero = Timer::ms(Duration::ZERO);
        (access.t_queue, access.t_connect, access.t_response) = (zero, zero, zero);
        let Some(worker) = txn.lua.as_ref().map(|l| l.worker.clone()) else {
            access.termination = "IR";
            return finish(error_page(500), access);
        };
        let chunks = futures_util::StreamExt::filter_map(
            http_body_util::BodyStream::new(body),
            |frame| async move { frame.ok().and_then(|f| f.into_data().ok()) },
        );
        // A service that failed before its head answers HAProxy's 500, through the same
        // response rules.
        let (mut call, head, failed) =
            match crate::lua::start_service(&worker, name, txn, Box::pin(chunks)).await {
                Ok((call, head)) => (call, head, None),
                Err(Some(call)) => {
                    let (head, body) = error_page(500).into_parts();
                    (call, head, Some(body))
                }
                Err(None) => {
                    access.termination = "IR";
                    return finish(error_page(500), access);
                }
            };
        // The script is not running while the rules look at the head.
        let Some(mut lent) = call.take_host() else {
            access.termination = "IR";
            return finish(error_page(500), access);
        };
        lent.response = Some(head);
        for (rules, acls, filters) in response_rules {
            let flow = self.response_rules(rules, acls, filters, &mut lent).await;
            if !matches!(flow, Flow::Continue) {
                return finish_rule(flow, access);
            }
        }
        let Some(mut head) = lent.response.take() else {
            return finish(error_page(502), access);
        };
        crate::lua::reason_phrase(&mut head);
        if let Some(body) = failed {
            access.termination = "IR";
            return finish(Response::from_parts(head, body), access);
        }
        call.put_host(lent);
        access.termination = "--";
        finish(
            crate::lua::service_response(&worker, call, head, txn),
            access,
        )
    }

    /// The actions `http-request` and `http-response` rules share; other
    /// actions are not valid on a response (the parser refuses them there).
    async fn common_action(
        &mut self,
        action: &HttpAction,
        filters: &[FilterRt],
        txn: &mut Txn,
        side: Side,
    ) {
        match action {
            HttpAction::SetHeader { name, value } | HttpAction::AddHeader { name, value } => {
                let v = render(value, txn);
                let replace = matches!(action, HttpAction::SetHeader { .. });
                if let Some(h) = side.headers(txn)
                    && !set_header(h, name, &v, replace)
                {
                    self.failed_rewrite();
                }
            }
            HttpAction::DelHeader { name } => {
                if let Some(h) = side.headers(txn) {
                    h.remove(name.as_str());
                }
            }
            HttpAction::ReplaceHeader {
                name,
                regex,
                replace,
                values,
            } => {
                let with = render(replace, txn);
                if let Some(h) = side.headers(txn)
                    && !crate::rewrite::replace_header(h, name, regex, &with, *values)
                {
                    self.failed_rewrite();
                }
            }
            HttpAction::SetLine { part, value } => {
                let v = render(value, txn);
                if !crate::rewrite::set_line(&mut txn.request, *part, &v) {
                    self.failed_rewrite();
                }
            }
            HttpAction::ReplaceLine {
                part,
                regex,
                replace,
            } => {
                let with = render(replace, txn);
                if !crate::rewrite::replace_line(&mut txn.request, *part, regex, &with) {
                    self.failed_rewrite();
                }
            }
            HttpAction::SetStatus { status, reason } => {
                if let Some(r) = txn.response.as_mut() {
                    crate::rewrite::set_status(r, *status, reason.as_deref());
                }
            }
            HttpAction::SetVar { var, expr } => {
                let v = expr.eval(&*txn);
                txn.vars.set_ref(var, v);
            }
            HttpAction::SetAddr { part, expr } => {
                let v = expr.eval(&*txn);
                let conn = &mut txn.conn;
                let at = match part {
                    AddrPart::Src | AddrPart::SrcPort => &mut conn.client,
                    AddrPart::Dst | AddrPart::DstPort => &mut conn.local,
                };
                *at = crate::stream_addr::apply(*part, v, *at);
            }
            HttpAction::TrackSc { slot, key, table } => {
                let key = key.eval(&*txn);
                txn.counters.track(*slot, table, key.as_ref());
            }
            HttpAction::ScIncGpc { slot, which } => txn.counters.inc_gpc(*slot, *which),
            HttpAction::ScSetGpt0 { slot, value } => {
                let v = match value {
                    GptValue::Int(n) => Some(*n),
                    GptValue::Expr(e) => e.eval(&*txn).and_then(|s| match s {
                        Sample::Int(n) => Some(n),
                        Sample::Bool(b) => Some(i64::from(b)),
                        Sample::Str(b) => std::str::from_utf8(&b).ok()?.trim().parse().ok(),
                        _ => None,
                    }),
                };
                if let Some(v) = v {
                    txn.counters.set_gpt0(*slot, v);
                }
            }
            HttpAction::SendSpoeGroup { engine, group } => {
                self.send_group(filters, engine, group, txn).await
            }
            HttpAction::SetLogLevel { level } => match level {
                Some(l) => txn.log_level.set(*l),
                None => txn.log_level.silence(),
            },
            HttpAction::Capture { expr, slot } => {
                crate::capture::store(txn, matches!(side, Side::Response), expr, *slot);
            }
            _ => {}
        }
    }
}

/// Whether one of `filters` has messages for `event` (see [`Ctx::run_event`]).
fn sends(filters: &[FilterRt], event: Event) -> bool {
    filters.iter().any(|f| {
        f.filter()
            .config()
            .agent
            .messages_for(event)
            .next()
            .is_some()
    })
}

/// HAProxy's SPOE line, to the agent's `log` lines: `notice` for a success (unless `option
/// dontlog-normal`), `warning` for a failure.
fn log_spoe(f: &FilterRt, done: &spoe::Done<'_>) {
    if f.log.is_off() {
        return;
    }
    let line = done.log();
    if line.is_error() {
        f.log.send(SPOE_ERROR_LEVEL, line);
    } else if !f.filter().config().agent.dontlog_normal {
        f.log.send(SPOE_LEVEL, line);
    }
}

/// Which message a rule changes.
#[derive(Debug, Clone, Copy)]
enum Side {
    Request,
    Response,
}

impl Side {
    fn headers(self, txn: &mut Txn) -> Option<&mut hyper::HeaderMap> {
        match self {
            Self::Request => Some(&mut txn.request.headers),
            Self::Response => txn.response.as_mut().map(|r| &mut r.headers),
        }
    }
}

/// Sets or adds a header; false when its name or value is not valid (a
/// failed rewrite, HAProxy's `wrew`).
fn set_header(headers: &mut hyper::HeaderMap, name: &str, value: &str, replace: bool) -> bool {
    let (Ok(n), Ok(v)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) else {
        return false;
    };
    if replace {
        headers.insert(n, v);
    } else {
        headers.append(n, v);
    }
    true
}

/// Why a request is refused before anything else looks at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// HAProxy's parser refuses it too (400, logged as `<BADREQ>`).
    Invalid,
    /// `CONNECT`: the gateway makes no tunnels (501).
    Tunnel,
}

/// The checks HAProxy 2.6's HTTP/1 parser makes that hyper does not:
/// several `Host` headers must agree (identical ones are merged into one),
/// and an absolute-form URI's authority must be the `Host` (a `hdr(host)`
/// ACL and the server must not see different hosts). `CONNECT` is refused:
/// HAProxy would open a tunnel, the gateway has none.
fn check_request(
    parts: &mut hyper::http::request::Parts,
    limits: crate::head_room::HeadLimits,
) -> Result<(), Refusal> {
    if parts.method == hyper::Method::CONNECT {
        return Err(Refusal::Tunnel);
    }
    // `tune.bufsize` less `tune.maxrewrite`, as HAProxy measures a head; `tune.http.maxhdr`.
    if !limits.fit(parts) {
        return Err(Refusal::Invalid);
    }
    // HTTP/2 carries the host in `:authority`: HAProxy makes it the `Host`
    // header (rules, agents and HTTP/1 servers see it there).
    if parts.version == hyper::Version::HTTP_2
        && !parts.headers.contains_key(hyper::header::HOST)
        && let Some(authority) = parts.uri.authority()
        && let Ok(v) = HeaderValue::from_str(authority.as_str())
    {
        parts.headers.insert(hyper::header::HOST, v);
    }
    let host = hyper::header::HOST;
    let mut hosts = parts.headers.get_all(&host).iter();
    let first = hosts.next().cloned();
    let mut duplicated = false;
    for other in hosts {
        duplicated = true;
        if !same_host(first.as_ref().map(HeaderValue::as_bytes), other.as_bytes()) {
            return Err(Refusal::Invalid);
        }
    }
    if duplicated && let Some(v) = first.clone() {
        parts.headers.insert(&host, v);
    }
    if !hop::websocket_keyed(&parts.headers, false) {
        return Err(Refusal::Invalid);
    }
    if let (Some(authority), Some(h)) = (parts.uri.authority(), first.as_ref()) {
        let default_port = if parts.uri.scheme_str() == Some("https") {
            ":443"
        } else {
            ":80"
        };
        // Compared in place, ignoring ASCII case: every HTTP/2 request comes here, and
        // building lowered copies cost four allocations per request.
        fn strip<'a>(a: &'a [u8], default_port: &str) -> &'a [u8] {
            let s = std::str::from_utf8(a).unwrap_or_default().trim();
            s.strip_suffix(default_port).unwrap_or(s).as_bytes()
        }
        let authority = authority.as_str();
        // Credentials are not part of the host.
        let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if !strip(authority.as_bytes(), default_port)
            .eq_ignore_ascii_case(strip(h.as_bytes(), default_port))
        {
            return Err(Refusal::Invalid);
        }
    }
    Ok(())
}

/// Two `Host` values name the same host (HAProxy compares them ignoring case).
fn same_host(a: Option<&[u8]>, b: &[u8]) -> bool {
    a.is_some_and(|a| a.trim_ascii().eq_ignore_ascii_case(b.trim_ascii()))
}

/// Handles one request on `generation`, the frontend's `errorfile` pages in effect around the
/// transaction.
///
/// The connection's service builds this future in its box ([`boxed_in_place`]): each future
/// that awaits another holds it inline and moves it when it starts, so with the box lower
/// down, the request, the transaction's slot and the response were copied once per level above
/// it (bench/README.md, "Session 7: the request's copies"). The transaction's slot is here, in
/// the box, for the access line to read once the response is made.
pub(crate) async fn handle(
    req: Request<Incoming>,
    session: Arc<Session>,
    generation: Arc<Generation>,
    metrics: Arc<GatewayMetrics>,
) -> Response<Logged<Body>> {
    let Some(fe) = generation.frontend_for(session.listener()) else {
        // The listener belongs to no frontend of this generation (not reached).
        return error_page(503).map(Logged::unlogged);
    };
    let errorfiles = fe.model.errorfiles.clone();
    let mut txn = None;
    let mut response = crate::errorfile::scope(
        &errorfiles,
        handle_txn(req, session, &generation, metrics, &mut txn),
    )
    .await;
    // What the access line reads of the transaction, as it is when the response starts.
    if let Some(txn) = &mut txn {
        response.body_mut().note_txn(|format, access| {
            access.unique_id = txn.formatted_unique_id().map(str::to_owned);
            access.request_captures.clone_from(&txn.captures.request);
            access.response_captures.clone_from(&txn.captures.response);
            access.samples = format
                .samples()
                .iter()
                .map(|e| e.eval(&*txn).map(|s| sample_text(&s)))
                .collect();
        });
        response
            .body_mut()
            .keep_counters(std::mem::take(&mut txn.counters));
    }
    response
}

/// The future `make` returns, boxed: the box is allocated first and the future built into it.
/// `Box::pin(make())` builds the future on the stack and copies the whole of it into the box,
/// its largest state included (2 KiB for a request's: the largest copy of a request,
/// bench/README.md).
pub(crate) fn boxed_in_place<F: Future>(make: impl FnOnce() -> F) -> std::pin::Pin<Box<F>> {
    let slot = Box::new_uninit();
    Box::into_pin(Box::write(slot, make()))
}

/// [`handle`], the transaction left in `slot` once it exists.
async fn handle_txn(
    req: Request<Incoming>,
    session: Arc<Session>,
    generation: &Arc<Generation>,
    metrics: Arc<GatewayMetrics>,
    slot: &mut Option<Txn>,
) -> Response<Logged<Body>> {
    let _guard = generation.enter();
    let Some(fe) = generation.frontend_for(session.listener()) else {
        return error_page(503).map(Logged::unlogged);
    };
    let (mut parts, incoming) = req.into_parts();
    let mut access = Access::boxed(
        session.client(),
        &fe.model.name,
        RequestLine::Line(parts.method.clone(), parts.uri.clone(), parts.version),
        session.conns.clone(),
    );
    access.log_options = fe.model.log_options;
    access.uri_len = generation.config.global.logurilen;
    access.local = session.local();
    access.tls = session.conn.tls.is_some();
    if let Some(format) = &fe.model.access_format {
        access.httplog = (!fe.log.is_off()).then(|| fe.log.clone());
        access.format = Some(format.clone());
    } else if !fe.log.is_off() {
        // HAProxy's line for a stream of a frontend without a log format.
        fe.log.send(
            ACCESS_LEVEL,
            &format_args!(
                "Connect from {}:{} to {}:{} ({}/HTTP)",
                session.client().ip(),
                session.client().port(),
                session.local().ip(),
                session.local().port(),
                fe.model.name
            ),
        );
    }
    access.bodiless = parts.method == hyper::Method::HEAD;
    let tally = access.tally.insert(Tally::new(fe.counters.clone()));
    let first_bytes = session
        .first_bytes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    if let Some((at, wall)) = first_bytes {
        access.t_request = Timer::ms(at.elapsed());
        access.started = at;
        access.received = wall;
    }
    let limits = crate::head_room::HeadLimits::of(&generation.config.global);
    if let Err(refusal) = check_request(&mut parts, limits) {
        access.termination = "PR";
        let status = match refusal {
            Refusal::Invalid => {
                // As HAProxy logs and counts what its parser refused.
                tally.invalid();
                access.request = RequestLine::Bad;
                access.t_request = Timer::NEVER;
                400
            }
            Refusal::Tunnel => 501,
        };
        return finish(closing(error_page(status)), access);
    }
    let timeouts = fe.model.timeouts;
    session.body.start(incoming.is_end_stream());
    let progress = session.body.clone();
    let mut body = PendingBody::Unread(incoming);
    let bufsize = generation.config.global.bufsize;
    // From here, a client that goes away is logged with the phase it left in.
    let mut pending = Pending::new(access);
    // The stream id of SPOE log lines: unique across the process, as HAProxy's.
    let sid = metrics.next_unique_id();
    pending.get().request_counter = sid;
    session.requests.fetch_add(1, Ordering::Relaxed);
    let log_level = if generation.sets_log_level {
        LineLevel::shared()
    } else {
        LineLevel::default()
    };
    pending.get().level = log_level.clone();
    let lua = generation.lua_worker().map(|worker| LuaTxn {
        worker,
        private: None,
        log: fe.log.clone(),
        declared: generation.declared_proc_vars.clone(),
    });
    let capture_slots = fe.model.captures.clone();
    let captures = crate::capture::start(
        capture_slots.as_deref(),
        fe.model.access_format.is_some(),
        &parts,
    );
    let txn = slot.insert(Txn {
        request: parts,
        body: Bytes::new(),
        response: None,
        conn: session.conn.clone(),
        unique_id: UniqueId {
            generation: generation.id,
            sid,
        },
        unique_id_format: fe.model.unique_id_format.clone(),
        environment: generation.config.global.environment.clone(),
        unique_id_text: std::sync::OnceLock::new(),
        vars: spoe_http::Vars::new(
            Some(session.conn.session_vars().clone()),
            Some(generation.proc_vars.clone()),
        ),
        lua,
        log_level,
        counters: StreamCounters::new(&generation.tables),
        captures,
        capture_slots,
        userlists: generation.config.userlists.clone(),
        auth_verdicts: None,
        cache: crate::cache::serve::CacheTxn::default(),
    });
    // crypt(3) of the credentials, off this thread, before any rule reads them.
    if !txn.userlists.lists.is_empty() {
        txn.auth_verdicts = txn.userlists.clone().prepare(&txn.request.headers).await;
    }
    let mut ctx = Ctx {
        generation,
        metrics: &metrics,
        sid,
        streams: Vec::new(),
        counters: smallvec![fe.counters.clone()],
        after: smallvec![(fe.model.http_after_response.as_slice(), &fe.model.acls)],
    };

    // on-client-session: once per connection and generation.
    // A connection's requests take the current generation in turn, so
    // generation ids only grow along a connection: the last one is enough.
    let first = session
        .session_event_done
        .fetch_max(generation.id, Ordering::Relaxed)
        < generation.id;
    if first && sends(&fe.filters, Event::OnClientSession) {
        ctx.run_event(&fe.filters, Event::OnClientSession, &mut *txn)
            .await;
    }
    // As HAProxy: the session's event at the stream's start, then the request's content
    // inspection (on-frontend-tcp-request, analyser AN_REQ_INSPECT_FE, which runs before
    // AN_REQ_WAIT_HTTP where `monitor-uri` is answered), then the body (http-buffer-request),
    // then the frontend's HTTP event and rules.
    if sends(&fe.filters, Event::OnFrontendTcpRequest) {
        ctx.run_event(&fe.filters, Event::OnFrontendTcpRequest, &mut *txn)
            .await;
    }
    // `tcp-request content reject`: the connection is reset with no answer
    // (`sc_must_kill_conn()`), a request denied by the frontend (`PR`).
    if crate::tcp::inspect::http_content_rejects(&fe.model.tcp_rules, &fe.model.acls, &mut *txn) {
        ctx.denied();
        return tcp_rejected(pending.take());
    }
    // `monitor-uri`: answered before the request's HTTP rules and agents, and not logged
    // (HAProxy's SF_MONITOR).
    if let Some(uri) = &fe.model.monitor_uri
        && monitor_matches(uri, &txn.request.uri)
    {
        fe.counters.intercepted.inc();
        drop(pending.take());
        return error_page(200).map(Logged::unlogged);
    }
    if fe.model.http_buffer_request
        && let Err(status) = body.buffer(&mut *txn, bufsize, timeouts, &progress).await
    {
        return body_refused(status, pending.take());
    }
    if sends(&fe.filters, Event::OnFrontendHttpRequest) {
        ctx.run_event(&fe.filters, Event::OnFrontendHttpRequest, &mut *txn)
            .await;
    }
    let fe_acls = &fe.model.acls;
    txn.counters.enter_proxy(&fe.model.name);
    let mut flow = ctx
        .request_rules(&fe.model.http_request, fe_acls, &fe.filters, &mut *txn)
        .await;
    stream_addresses(pending.get(), &txn.conn);
    // `redirect` lines, after the rules (even after an `allow`), as HAProxy runs them.
    if matches!(flow, Flow::Continue) {
        flow = ctx
            .request_rules(&fe.model.redirects, fe_acls, &fe.filters, &mut *txn)
            .await;
    }
    let flow = match flow {
        Flow::Tarpit(r) => tarpit(r, &fe.model.timeouts, pending.get()).await,
        flow => flow,
    };
    if let Flow::LuaService(name) = flow {
        let request_body = body.into_body(timeouts.client, progress);
        let rules = [(&fe.model.http_response, fe_acls, &fe.filters[..])];
        // Boxed, as the other rare branches: their states stay out of the request's.
        return Box::pin(ctx.lua_service(&name, txn, request_body, &rules, pending.take())).await;
    }
    if !matches!(flow, Flow::Continue) {
        let flow = ctx.answer_flow(flow, &mut *txn).await;
        return finish_rule(flow, pending.take());
    }
    // The frontend's `cache-use` found the object: no backend (HAProxy's applet target).
    if let Some(hit) = txn.cache.hit.take() {
        fe.counters.intercepted.inc();
        let rules = [(&fe.model.http_response, fe_acls, &fe.filters[..])];
        return ctx.cache_hit(hit, fe, &rules, txn, pending.take()).await;
    }
    if let Some(page) = &fe.model.stats
        && crate::stats_page::matches(page, &txn.request.method, &txn.request.uri)
    {
        fe.counters.intercepted.inc();
        let admin = page.admin.iter().any(|c| c.eval(&*txn, fe_acls));
        let request_body = body.into_body(timeouts.client, progress);
        let r =
            Box::pin(ctx.stats_page(page, &fe.model.name, admin, txn, request_body, bufsize)).await;
        return finish_rule(r, pending.take());
    }
    let backend_name = fe
        .model
        .use_backends
        .iter()
        .find(|u| u.cond.as_ref().is_none_or(|c| c.eval(&*txn, fe_acls)))
        .and_then(|u| match &u.format {
            None => Some(u.backend.clone()),
            // A built name that is no HTTP backend's: the default backend, as HAProxy's
            // `process_switching_rules()`.
            Some(format) => Some(render(format, &*txn)).filter(|name| {
                ctx.generation
                    .backends
                    .get(name.as_str())
                    .is_some_and(|b| b.model.mode == crate::model::Mode::Http)
            }),
        })
        .or_else(|| fe.model.default_backend.clone());
    let Some(be) = backend_name
        .as_deref()
        .and_then(|n| ctx.generation.backends.get(n))
    else {
        let mut access = pending.take();
        if let Some(name) = backend_name {
            access.backend = Some(name);
        }
        access.termination = "SC";
        return finish(ctx.answer(error_page(503), &mut *txn).await, access);
    };
    pending.get().backend = Some(be.model.name.clone());
    txn.counters.enter_proxy(&be.model.name);
    crate::errorfile::enter_backend(&be.model.errorfiles);
    pending.tally().backend(be.counters.clone());
    ctx.counters.push(be.counters.clone());
    ctx.after
        .push((&be.model.http_after_response, &be.model.acls));
    // A filter sees the backend's events whichever side declared it: the
    // frontend's filters first, as HAProxy calls them in that order.
    for filters in [&fe.filters, &be.filters] {
        if sends(filters, Event::OnBackendTcpRequest) {
            ctx.run_event(filters, Event::OnBackendTcpRequest, &mut *txn)
                .await;
        }
    }
    if be.model.http_buffer_request
        && let Err(status) = body
            .buffer(&mut *txn, bufsize, be.model.timeouts, &progress)
            .await
    {
        return body_refused(status, pending.take());
    }
    for filters in [&fe.filters, &be.filters] {
        if sends(filters, Event::OnBackendHttpRequest) {
            ctx.run_event(filters, Event::OnBackendHttpRequest, &mut *txn)
                .await;
        }
    }
    let mut flow = ctx
        .request_rules(
            &be.model.http_request,
            &be.model.acls,
            &be.filters,
            &mut *txn,
        )
        .await;
    stream_addresses(pending.get(), &txn.conn);
    if matches!(flow, Flow::Continue) {
        flow = ctx
            .request_rules(&be.model.redirects, &be.model.acls, &be.filters, &mut *txn)
            .await;
    }
    let flow = match flow {
        Flow::Tarpit(r) => tarpit(r, &be.model.timeouts, pending.get()).await,
        flow => flow,
    };
    if let Flow::LuaService(name) = flow {
        let request_body = body.into_body(timeouts.client, progress);
        let rules = [
            (&be.model.http_response, &be.model.acls, &be.filters[..]),
            (&fe.model.http_response, fe_acls, &fe.filters[..]),
        ];
        // Boxed, as the other rare branches: their states stay out of the request's.
        return Box::pin(ctx.lua_service(&name, txn, request_body, &rules, pending.take())).await;
    }
    if !matches!(flow, Flow::Continue) {
        let flow = ctx.answer_flow(flow, &mut *txn).await;
        return finish_rule(flow, pending.take());
    }
    if let Some(page) = &be.model.stats
        && crate::stats_page::matches(page, &txn.request.method, &txn.request.uri)
    {
        let admin = page.admin.iter().any(|c| c.eval(&*txn, &be.model.acls));
        let request_body = body.into_body(timeouts.client, progress);
        let r =
            Box::pin(ctx.stats_page(page, &be.model.name, admin, txn, request_body, bufsize)).await;
        return finish_rule(r, pending.take());
    }
    if let Some(hit) = txn.cache.hit.take() {
        let rules = [
            (&be.model.http_response, &be.model.acls, &be.filters[..]),
            (&fe.model.http_response, fe_acls, &fe.filters[..]),
        ];
        return ctx.cache_hit(hit, fe, &rules, txn, pending.take()).await;
    }
    // The unique ID is built now if nothing read it yet, and sent to the server when a header
    // is named (HAProxy's `http_process_request()`, after every request rule).
    if let Some(id) = txn.formatted_unique_id()
        && let Some(name) = &fe.model.unique_id_header
        && let Ok(value) = HeaderValue::from_str(id)
    {
        txn.request.headers.append(name.clone(), value);
    }
    // `compression`: the algorithm the request accepts, chosen after every request rule
    // (HAProxy's filter sees the headers then); `offload` hides it from the server.
    let (fe_comp, be_comp) = (
        fe.model.compression.as_deref(),
        be.model.compression.as_deref(),
    );
    let comp = (fe_comp.is_some() || be_comp.is_some())
        .then(|| crate::compress::select_request(fe_comp, be_comp, &mut txn.request.headers))
        .flatten()
        .map(|algo| {
            let facts = crate::compress::RequestFacts {
                v11: txn.request.version >= hyper::Version::HTTP_11,
                head: txn.request.method == hyper::Method::HEAD,
            };
            (algo, facts)
        });
    hop::add_forwarded_for(
        &mut txn.request.headers,
        &fe.model,
        &be.model,
        txn.conn.client.unwrap_or(UNKNOWN_ADDR).ip(),
    );
    // None on a Unix socket, where HAProxy adds no header either.
    if let Some(dst) = txn.conn.local {
        hop::add_original_to(&mut txn.request.headers, &fe.model, &be.model, dst.ip());
    }
    // `force-persist` / `ignore-persist`, then `use-server`, a persistence cookie and `stick
    // match|on` choose the server before balancing does, the first to choose wins (HAProxy's
    // `process_server_rules()`, `http_process_request()`, `process_sticking_rules()`).
    let rules = &*be.model.server_rules;
    let (prst, mut direct) = if rules.is_empty() {
        (crate::persist::Prst::Normal, None)
    } else {
        let prst = crate::persist::prst(rules, txn);
        (prst, crate::persist::use_server(be, txn, prst))
    };
    let mut persistence = be.model.cookie.as_deref().map(|persist| {
        let candidates: Vec<crate::cookie::Candidate<'_>> = be
            .servers
            .iter()
            .map(|s| crate::cookie::Candidate {
                cookie: s.model.cookie.as_deref(),
                running: crate::generation::health::running(s),
            })
            .collect();
        let state = crate::cookie::on_request(
            persist,
            &mut txn.request.headers,
            &candidates,
            be.model.persist || prst == crate::persist::Prst::Force,
            prst == crate::persist::Prst::Ignore,
            direct,
        );
        if persist.logged() {
            pending.get().cookies = state.letters();
        }
        state
    });
    if let Some(p) = &persistence {
        direct = p.direct;
    }
    let mut sticks = None;
    if !rules.is_empty() {
        let (chosen, pending) = crate::persist::stick(be, txn, prst, direct);
        if let (Some(si), Some(p)) = (chosen, persistence.as_mut()) {
            // The stream is direct now: the cookie is not inserted again.
            p.direct = Some(si);
        }
        direct = chosen;
        sticks = Some(pending);
    }
    let target = match direct.or_else(|| crate::persist::prefer_last(be, &session.last_server)) {
        Some(si) => Some(crate::balance::Target::Server(si)),
        None => crate::balance::target_for(be, txn),
    };
    let Some(target) = target else {
        return finish(
            ctx.answer(error_page(503), &mut *txn).await,
            no_server(pending.take()),
        );
    };
    let mut want = match target {
        crate::balance::Target::Server(si) => Some(si),
        crate::balance::Target::Queue => None,
    };
    let mut first = true;
    let mut request_body = body.into_body(timeouts.client, progress.clone());
    let server_conn = hop::ServerConnection::of(&txn.request.headers, &fe.model, &be.model);
    let mut conn_retries = 0u32;
    // Cuts the exchange with the server it went to (`on-marked-down shutdown-sessions`...).
    let mut cut;
    // A connect that fails is retried (`retries`), on the same server or on another one
    // (`option redispatch`), as HAProxy's `back_handle_st_cer()` does; the body, unread by
    // then, goes again.
    let (upstream, queue_time, sent_at, si, _slot) = loop {
        // A server's `maxconn`: beyond it requests queue, at most `timeout queue`
        // (HAProxy's default for it is `timeout connect`), then get a 503.
        let queued_at = Instant::now();
        let slot = crate::attempt::server_slot(be, want, |at| {
            pending.phase = "CQ";
            at.record(pending.get());
        })
        .await;
        let slot = match slot {
            Ok(slot) => slot,
            Err(refused) => {
                let mut access = pending.take();
                let (termination, at) = crate::attempt::refusal(&refused);
                access.t_queue = Timer::ms(queued_at.elapsed());
                access.termination = termination;
                at.record(&mut access);
                if let Some(t) = &access.tally {
                    t.connection_failed();
                }
                return finish(ctx.answer(error_page(503), &mut *txn).await, access);
            }
        };
        // The backend's line hands the slot of whichever server frees first.
        let Some(si) = slot.as_ref().map(|s| s.server).or(want) else {
            return finish(
                ctx.answer(error_page(503), &mut *txn).await,
                no_server(pending.take()),
            );
        };
        if first {
            first = false;
            let s = &be.servers[si];
            pending.get().server = Cow::Owned(s.name.clone());
            pending.tally().server(s.counters.clone());
            ctx.counters.push(s.counters.clone());
        }
        if let Some(left) = slot.as_ref().and_then(|s| s.waited) {
            crate::attempt::Positions::of(Some(left)).record(pending.get());
        }
        let server = &be.servers[si];
        pending.get().server_addr = Some(server.addr_now());
        if let Some(name) = &rules.send_name_header {
            crate::persist::send_name(&mut txn.request.headers, name, &server.name);
        }
        let queue_time = queued_at.elapsed();
        pending.get().t_queue = Timer::ms(queue_time);
        pending.phase = "CH";
        server.active.fetch_add(1, Ordering::Relaxed);
        let sent_at = Instant::now();
        let (attempt, reclaim) = request_body.reclaimable();
        cut = server.cut_watch();
        let upstream = forward(
            txn,
            attempt,
            &progress,
            server,
            be.model.timeouts.server,
            &server_conn,
            cut.clone(),
        )
        .await;
        server.active.fetch_sub(1, Ordering::Relaxed);
        let back = reclaim
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let refused = matches!(upstream, Err((_, "SC")));
        let connect_failed = refused || matches!(upstream, Err((_, "sC")));
        match back {
            Some(body) if connect_failed && conn_retries < be.model.retry.retries => {
                request_body = body;
                conn_retries += 1;
                pending.get().retries = conn_retries as usize;
                drop(slot);
                let next =
                    crate::balance::retry_server(be, si, conn_retries, direct.is_some(), txn);
                if next != si {
                    direct = None;
                }
                if next != si
                    && let (Some(p), Some(persist)) =
                        (persistence.as_mut(), be.model.cookie.as_deref())
                {
                    p.redispatched();
                    if persist.logged() {
                        pending.get().cookies = p.letters();
                    }
                }
                if next != si {
                    let new = &be.servers[next];
                    pending.get().server = Cow::Owned(new.name.clone());
                    pending.tally().redispatch(new.counters.clone());
                    ctx.counters.truncate(2);
                    ctx.counters.push(new.counters.clone());
                }
                crate::attempt::before_retry(be, si, next, refused).await;
                want = Some(next);
            }
            _ => break (upstream, queue_time, sent_at, si, slot),
        }
    };
    let server = &be.servers[si];
    let mut access = pending.take();
    access.server_conns = server.active.load(Ordering::Relaxed);
    access.backend_conns = be
        .servers
        .iter()
        .map(|s| s.active.load(Ordering::Relaxed))
        .sum();
    let resp = match upstream {
        Ok(r) => {
            if rules.prefer_last {
                session.last_server.remember(server);
            }
            r
        }
        Err((status, termination)) => {
            // The connect time is not measured apart from the response's:
            // 0 once connected, -1 when the connection failed.
            access.t_connect = if matches!(termination, "SC" | "sC") {
                Timer::NEVER
            } else {
                Timer::ms(Duration::ZERO)
            };
            access.termination = termination;
            if let Some(t) = &access.tally {
                match termination {
                    "SC" | "sC" => t.connection_failed(),
                    "PH" | "SH" | "sH" | "DH" | "UH" => t.response_failed(),
                    _ => {}
                }
            }
            return finish(ctx.answer(error_page(status), &mut *txn).await, access);
        }
    };
    access.t_connect = Timer::ms(Duration::ZERO);
    let response_time = sent_at.elapsed();
    access.t_response = Timer::ms(response_time);
    if let Some(t) = access.tally.as_mut() {
        t.answered(queue_time, response_time);
    }
    if !hop::websocket_keyed(resp.headers(), true) {
        // As HAProxy's parser: an invalid response (PH).
        access.termination = "PH";
        if let Some(t) = &access.tally {
            t.response_failed();
        }
        return finish(error_page(502), access);
    }
    let mut resp = resp;
    // The server switched protocols as the client asked: the connection becomes a tunnel
    // once the 101 is out (HAProxy's tunnel mode).
    let tunnel = (matches!(server_conn, hop::ServerConnection::Upgrade(_))
        && resp.status() == StatusCode::SWITCHING_PROTOCOLS)
        .then(|| {
            crate::tunnel::Tunnel::new(
                hyper::upgrade::on(&mut resp),
                be.model.timeouts.tunnel,
                timeouts.client,
                be.model.timeouts.server,
                cut,
            )
        });
    let (rparts, rbody) = resp.into_parts();
    txn.counters.response(rparts.status.as_u16());
    if let Some(slots) = &txn.capture_slots
        && !slots.response.is_empty()
    {
        txn.captures.response = crate::capture::on_response(slots, &rparts.headers);
    }
    txn.captures.response_version = Some(rparts.version);
    txn.response = Some(rparts);
    // on-tcp-response and on-http-response, then http-response rules:
    // backend's first, then frontend's.
    for event in [Event::OnTcpResponse, Event::OnHttpResponse] {
        for filters in [&be.filters, &fe.filters] {
            if sends(filters, event) {
                ctx.run_event(filters, event, &mut *txn).await;
            }
        }
    }
    // `stick store-request|store-response`: the server answered (HAProxy's
    // `process_store_rules()`, before the `http-response` rules).
    if let Some(pending) = sticks {
        crate::persist::on_response(be, txn, pending, si);
    }
    let mut flow = ctx
        .response_rules(
            &be.model.http_response,
            &be.model.acls,
            &be.filters,
            &mut *txn,
        )
        .await;
    if matches!(flow, Flow::Continue) {
        flow = ctx
            .response_rules(&fe.model.http_response, fe_acls, &fe.filters, &mut *txn)
            .await;
    }
    if !matches!(flow, Flow::Continue) {
        let flow = ctx.answer_flow(flow, &mut *txn).await;
        return finish_rule(flow, access);
    }
    if let (Some(persist), Some(state), Some(head)) = (
        be.model.cookie.as_deref(),
        persistence.as_mut(),
        txn.response.as_mut(),
    ) {
        crate::cookie::on_response(
            persist,
            state,
            (head.status.as_u16(), &mut head.headers),
            server.model.cookie.as_deref(),
            &txn.request.method,
        );
        if persist.logged() {
            access.cookies = state.letters();
        }
    }
    ctx.after_response(&mut *txn).await;
    // The rules rewrote the head in place; nothing takes it away.
    let Some(mut rparts) = txn.response.take() else {
        return finish(error_page(502), access);
    };
    crate::lua::reason_phrase(&mut rparts);
    // The compression filter decides on the head as the rules left it.
    let comp = comp
        .filter(|(_, facts)| {
            tunnel.is_none()
                && crate::compress::compressible(
                    fe_comp,
                    be_comp,
                    *facts,
                    rparts.status.as_u16(),
                    rparts.version >= hyper::Version::HTTP_11,
                    &rparts.headers,
                )
        })
        .map(|(algo, _)| algo);
    if let Some(algo) = comp {
        crate::compress::compressed_head(algo, &mut rparts.headers);
    }
    let switching = hop::upgrade(&rparts.headers);
    hop::strip_hop_by_hop(&mut rparts.headers);
    let mut agreed = None;
    match (tunnel, switching) {
        (Some(tunnel), Some(protocol)) => {
            hop::mark_upgrade(&mut rparts.headers, protocol);
            agreed = Some(tunnel);
        }
        // HTTP/2 has no connection header: its streams end, not its connection.
        _ if txn.request.version < hyper::Version::HTTP_2 => {
            hop::close_client_side(&mut rparts.headers, &fe.model);
        }
        _ => {}
    }
    let mut body = rbody.map_err(BoxError::from).boxed();
    // `cache-store` accepted the response: its body is copied as it goes, before compression.
    if let Some(storing) = txn.cache.storing.take() {
        body = crate::cache::serve::StoringBody::new(body, storing).boxed();
    }
    if let Some(algo) = comp {
        body = crate::compress::Compressed::new(body, algo).boxed();
    }
    let mut r = finish(Response::from_parts(rparts, body), access);
    if let Some(mut tunnel) = agreed {
        // The line is written when the tunnel ends, as HAProxy's.
        tunnel.line = r
            .body_mut()
            .take_access()
            .map(|access| crate::tunnel::Line::new(access, server.clone()));
        *session
            .tunnel
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Box::new(tunnel));
    }
    r
}

/// Sends the request to `addr` and waits for the response head. The body
/// streams to the server meanwhile; `timeout server` runs while neither the
/// body moves nor the response head comes (HAProxy's inactivity timeout).
/// Err: the status to answer and the termination state.
async fn forward(
    txn: &Txn,
    body: RequestBody,
    progress: &Progress,
    server: &ServerRt,
    server_timeout: Option<Duration>,
    server_conn: &hop::ServerConnection,
    cut: Option<tokio_util::sync::CancellationToken>,
) -> Result<Response<Incoming>, (u16, &'static str)> {
    let addr = server.target(txn.conn.local);
    // The request target as sent: origin form, or `*` (`OPTIONS *`).
    let path = txn
        .request
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| hyper::http::uri::PathAndQuery::from_static("/"));
    let mut headers = txn.request.headers.clone();
    hop::strip_hop_by_hop(&mut headers);
    server_conn.apply(&mut headers);
    let upstream = server.upstream();
    let uri = match upstream {
        crate::generation::Upstream::Own(_) => {
            // As hyper-util's client: a request without `Host` gets the server's address.
            if !headers.contains_key(hyper::header::HOST)
                && let Some(host) = crate::generation::host_of(addr)
            {
                headers.insert(hyper::header::HOST, host);
            }
            hyper::Uri::from(path)
        }
        crate::generation::Upstream::Hyper(_) => absolute_target(txn, server, addr, path)?,
    };
    let mut req = Request::new(body);
    *req.method_mut() = txn.request.method.clone();
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    let call = async move {
        match upstream {
            crate::generation::Upstream::Own(pool) => pool.send(req, addr).await.map_err(|e| {
                tracing::debug!(server = %addr, error = %e, "backend request failed");
                match &e {
                    crate::generation::SendError::Connect(cause) => connect_failure(&**cause),
                    crate::generation::SendError::Exchange(cause) => {
                        exchange_failure(&e, cause.is_parse())
                    }
                }
            }),
            crate::generation::Upstream::Hyper(client) => client.request(req).await.map_err(|e| {
                tracing::debug!(server = %addr, error = %e, "backend request failed");
                let parse = std::error::Error::source(&e)
                    .and_then(|s| s.downcast_ref::<hyper::Error>())
                    .is_some_and(hyper::Error::is_parse);
                match BodyError::find(&e) {
                    Some(client_fault) => client_fault,
                    None if e.is_connect() => connect_failure(&e),
                    None => response_failure(parse),
                }
            }),
        }
    };
    match (server_timeout, cut) {
        (None, None) => call.await,
        (d, cut) => {
            tokio::pin!(call);
            let mut deadline = d.map(|d| Instant::now() + d);
            loop {
                tokio::select! {
                    r = &mut call => break r,
                    // `on-marked-down shutdown-sessions`...: HAProxy answers a 502 (`DH`);
                    // the server's connection is dropped with the call.
                    () = crate::cut::cancelled(cut.as_ref()) => {
                        return Err((502, crate::cut::termination(server, true)));
                    }
                    () = crate::cut::sleep_until(deadline) => {
                        let moved = d.map(|d| progress.last() + d);
                        if moved.is_some_and(|m| m <= Instant::now()) {
                            return Err((504, "sH"));
                        }
                        deadline = moved;
                    }
                }
            }
        }
    }
}

/// The absolute URI hyper-util's client takes: the server's address as the authority (its
/// pool's key), with the PROXY header and the evaluated SNI of the connection in the user part
/// (`crate::upstream_key`). Err: an SNI that no certificate can match (503 `SC`), or a target
/// that makes no URI.
fn absolute_target(
    txn: &Txn,
    server: &ServerRt,
    addr: SocketAddr,
    path: hyper::http::uri::PathAndQuery,
) -> Result<hyper::Uri, (u16, &'static str)> {
    let mut target = hyper::http::uri::Parts::default();
    target.scheme = Some(if server.model.tls.is_some() {
        hyper::http::uri::Scheme::HTTPS
    } else {
        hyper::http::uri::Scheme::HTTP
    });
    let header = server.model.send_proxy.map(|spec| {
        let origin = crate::proxy_proto::Origin::of(&txn.conn, txn.formatted_unique_id());
        crate::proxy_proto::header(spec, &origin)
    });
    let evaluated = server
        .model
        .tls
        .as_deref()
        .and_then(|tls| Some((tls, tls.sni_expr.as_ref()?)))
        .map(|(tls, expr)| tls.evaluated_sni(expr.eval(txn).map(|s| sample_text(&s))));
    let sni = match evaluated {
        None | Some(EvaluatedSni::None) => None,
        Some(EvaluatedSni::Name(name)) => Some(name),
        Some(EvaluatedSni::Refused(value)) => {
            tracing::debug!(server = %addr, sni = %value, "sni is not a DNS name: no certificate can match it");
            return Err((503, "SC"));
        }
    };
    target.authority = crate::upstream_key::ConnKey {
        proxy: header.as_deref(),
        sni: sni.as_deref(),
    }
    .authority(addr, &server.authority);
    target.path_and_query = Some(path);
    hyper::Uri::from_parts(target).map_err(|_| (400u16, "PR"))
}

/// No connection to the server, as HAProxy: 503, `SC`, or `sC` when `timeout connect` ran
/// out (an `io::Error` that timed out among `e`'s causes).
fn connect_failure(e: &(dyn std::error::Error + 'static)) -> (u16, &'static str) {
    let timed_out = std::iter::successors(Some(e), |s| s.source())
        .filter_map(|s| s.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::TimedOut);
    (503, if timed_out { "sC" } else { "SC" })
}

/// A failed exchange, as HAProxy: the client's body failed (its fault), an invalid response
/// (502 `PH`, `parse`), a connection closed or broken before the response's head (502 `SH`).
fn exchange_failure(e: &(dyn std::error::Error + 'static), parse: bool) -> (u16, &'static str) {
    BodyError::find(e).unwrap_or_else(|| response_failure(parse))
}

/// No response from the server, as HAProxy: an invalid one 502 `PH` (`parse`), a connection
/// closed or broken before the response's head 502 `SH`.
fn response_failure(parse: bool) -> (u16, &'static str) {
    if parse { (502, "PH") } else { (502, "SH") }
}

/// The access line of a connection refused before it sent a whole request
/// head (HAProxy's `<BADREQ>`, with its `-1` timers): `bytes` were sent.
pub(crate) fn log_refused(
    session: &Session,
    frontend: &str,
    httplog: Option<(LogRoute, Arc<LineFormat>)>,
    log_options: LogOptions,
    status: Option<u16>,
    termination: &'static str,
    bytes: u64,
) {
    let mut access = Access::new(
        session.client(),
        frontend,
        RequestLine::Bad,
        session.conns.clone(),
    );
    if let Some((at, wall)) = session
        .first_bytes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
    {
        access.started = at;
        access.received = wall;
    }
    access.t_request = Timer::NEVER;
    access.local = session.local();
    access.tls = session.conn.tls.is_some();
    if let Some((route, format)) = httplog {
        access.httplog = Some(route);
        access.format = Some(format);
    }
    access.log_options = log_options;
    access.status = status;
    access.termination = termination;
    // A request HAProxy's parser refused, or did not get in time: counted as
    // a request, and an invalid one, when an answer was sent.
    if status.is_some() {
        let tally = Tally::new(session.stats.clone());
        tally.invalid();
        access.tally = Some(tally);
    }
    access.write(bytes);
}

/// Answers a request whose body `option http-buffer-request` could not
/// wait for, and closes: 408 when the client was too slow (`cR`), 400 when
/// its body broke (`CR`).
fn body_refused(status: u16, mut access: Box<Access>) -> Response<Logged<Body>> {
    access.termination = if status == 408 { "cR" } else { "CR" };
    if let Some(t) = &access.tally {
        t.invalid();
    }
    finish(closing(error_page(status)), access)
}

/// `tarpit`: holds the request `timeout tarpit` of the proxy whose rules are running (the
/// backend's once assigned; `timeout connect` without one, as HAProxy's proxy check fills it;
/// neither: no wait), then answers and closes, logged `PT` with the time held since the
/// request began as `Tw` (`http_process_tarpit()`). The request's body is not read; the
/// task holds only its head meanwhile.
/// Awaited only for a `Flow::Tarpit`: the other answers do not build its future.
async fn tarpit(r: Response<Body>, timeouts: &crate::model::Timeouts, access: &mut Access) -> Flow {
    if let Some(d) = timeouts.tarpit.or(timeouts.connect) {
        tokio::time::sleep(d).await;
    }
    access.t_queue = Timer::ms(access.started.elapsed());
    Flow::Respond(closing(r), "PT")
}

/// Hands a rule's answer to the client.
fn finish_rule(flow: Flow, mut access: Box<Access>) -> Response<Logged<Body>> {
    let (r, termination) = match flow {
        Flow::Respond(r, termination) => (r, termination),
        Flow::Service(r, applet) => {
            access.server = Cow::Borrowed(applet);
            let zero = Timer::ms(Duration::ZERO);
            (access.t_queue, access.t_connect, access.t_response) = (zero, zero, zero);
            (r, "LR")
        }
        Flow::Close => {
            access.termination = "LR";
            return finish(close_silently(false, Some(200)), access);
        }
        Flow::Drop(termination, status) => {
            access.termination = termination;
            return finish(close_silently(true, status), access);
        }
        // Not a rule's answer: the request goes on (not reached); a tarpit's answer is
        // made once held.
        Flow::Continue | Flow::LuaService(_) | Flow::Tarpit(_) => (error_page(500), "PR"),
    };
    access.termination = termination;
    finish(r, access)
}

/// The access line names the addresses the request rules left (`set-src`, `set-dst`...),
/// as HAProxy's names the stream's.
fn stream_addresses(access: &mut Access, conn: &spoe_http::ConnectionFacts) {
    access.client = conn.client.unwrap_or(UNKNOWN_ADDR);
    access.local = conn.local.unwrap_or(UNKNOWN_ADDR);
}

/// `tcp-request content reject` on a request of a `mode http` frontend: the connection
/// closes with no answer. HAProxy's HTTP analysers never saw the request: its access line
/// says `<BADREQ>`, no request time, status -1, `PR`.
fn tcp_rejected(mut access: Box<Access>) -> Response<Logged<Body>> {
    access.termination = "PR";
    access.request = RequestLine::Bad;
    access.t_request = Timer::NEVER;
    finish(close_silently(false, None), access)
}

/// The status an error page stands for, when the page (an `errorloc` redirect) has another.
#[derive(Debug, Clone, Copy)]
struct LoggedStatus(u16);

/// Marks a response that must not be sent: the connection closes with no answer
/// (`txn:done()` without a reply), or is reset (`silent-drop`). The connection's service
/// sees the mark.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CloseSilently {
    /// `silent-drop`: a reset rather than a close.
    pub(crate) reset: bool,
    /// The status the access line logs (none: HAProxy's -1).
    pub(crate) status: Option<u16>,
}

fn close_silently(reset: bool, status: Option<u16>) -> Response<Body> {
    let mut r = closing(Response::new(full(Bytes::new())));
    r.extensions_mut().insert(CloseSilently { reset, status });
    r
}

/// Hands `r` to the client; its access line is written when its body ends.
fn finish(r: Response<Body>, mut access: Box<Access>) -> Response<Logged<Body>> {
    // A connection closed or reset with no answer sent nothing: HAProxy logs the server's
    // status, or -1, and no bytes.
    if let Some(close) = r.extensions().get::<CloseSilently>() {
        access.status = close.status;
        let (parts, body) = r.into_parts();
        return Response::from_parts(parts, Logged::new(body, access));
    }
    access.status = Some(
        r.extensions()
            .get::<LoggedStatus>()
            .map_or(r.status().as_u16(), |s| s.0),
    );
    access.bodiless |= matches!(r.status().as_u16(), 100..=199 | 204 | 304);
    let (parts, body) = r.into_parts();
    access.head_bytes = head_size(parts.status, &parts.headers);
    // hyper writes no length for an informational or `204` answer.
    if !parts.headers.contains_key(hyper::header::CONTENT_LENGTH)
        && !matches!(parts.status.as_u16(), 100..=199 | 204)
        && let Some(n) = hyper::body::Body::size_hint(&body).exact()
    {
        // hyper adds "content-length: N\r\n".
        access.head_bytes += 18 + n.to_string().len() as u64;
    }
    Response::from_parts(parts, Logged::new(body, access))
}

/// A request no server takes (none up, or none weighted): logged `SC`, a failed connection.
fn no_server(mut access: Box<Access>) -> Box<Access> {
    access.termination = "SC";
    if let Some(t) = &access.tally {
        t.connection_failed();
    }
    access
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(raw_uri: &str, hosts: &[&str]) -> (Result<(), Refusal>, Vec<String>) {
        let mut b = Request::builder().uri(raw_uri);
        for h in hosts {
            b = b.header("host", *h);
        }
        let method = if raw_uri.contains('/') || raw_uri == "*" {
            hyper::Method::GET
        } else {
            hyper::Method::CONNECT
        };
        let (mut parts, ()) = b.method(method).body(()).unwrap().into_parts();
        let r = check_request(&mut parts, crate::head_room::HeadLimits::NONE);
        let left = parts
            .headers
            .get_all("host")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        (r, left)
    }

    #[test]
    fn hosts_must_agree_and_identical_ones_merge() {
        assert_eq!(checked("/", &["a"]), (Ok(()), vec!["a".to_owned()]));
        assert_eq!(checked("/", &["a", "A "]), (Ok(()), vec!["a".to_owned()]));
        assert_eq!(checked("/", &["a", "b"]).0, Err(Refusal::Invalid));
        assert_eq!(checked("/", &["a", "a", "b"]).0, Err(Refusal::Invalid));
        assert_eq!(checked("/", &[]), (Ok(()), vec![]));
    }

    #[test]
    fn an_absolute_uri_must_name_the_host() {
        assert_eq!(checked("http://public/x", &["public"]).0, Ok(()));
        assert_eq!(checked("http://Public:80/x", &["public"]).0, Ok(()));
        assert_eq!(checked("http://public/x", &["public:80"]).0, Ok(()));
        assert_eq!(checked("https://public:443/", &["public"]).0, Ok(()));
        assert_eq!(checked("http://u:p@public/", &["public"]).0, Ok(()));
        assert_eq!(checked("http://public/x", &[]).0, Ok(()));
        assert_eq!(
            checked("http://admin.example/", &["public"]).0,
            Err(Refusal::Invalid)
        );
        assert_eq!(
            checked("http://public:8080/", &["public"]).0,
            Err(Refusal::Invalid)
        );
    }

    #[test]
    fn connect_is_refused_and_options_star_is_not() {
        assert_eq!(checked("host:443", &["host:443"]).0, Err(Refusal::Tunnel));
        assert_eq!(checked("*", &["a"]).0, Ok(()));
    }
}

#[cfg(test)]
mod future_sizes;
