//! The gateway's side of HAProxy's Lua API (`spoe-lua`): the transaction lent to scripts,
//! and what actions and services answer turned into responses.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Frame;
use hyper::header::{HeaderName, HeaderValue};
use hyper::http::{request, response};
use hyper::{Response, StatusCode};
use spoe::expr::Sample;
use spoe_lua::{ActionOutcome, LuaWorker, Private, ReasonPhrase, Reply, TxnHost, TxnView};

use crate::body::{Body, BoxError};
use crate::httplog::LUA_ERROR_LEVEL;
use crate::log::LogRoute;
use crate::txn::{LuaTxn, Txn};

impl TxnView for Txn {
    fn var(&self, name: &str) -> Option<Sample> {
        self.vars.sample(name)
    }

    fn request(&self) -> &request::Parts {
        &self.request
    }

    fn response(&self) -> Option<&response::Parts> {
        self.response.as_ref()
    }

    fn private(&self) -> Option<&Private> {
        self.lua.as_ref()?.private.as_ref()
    }

    fn log_error(&self, line: &str) {
        if let Some(lua) = &self.lua {
            lua.log_error(line);
        }
    }
}

impl TxnHost for Txn {
    fn set_var(&mut self, name: &str, value: Sample, if_exists: bool) -> bool {
        if spoe::expr::VarRef::parse(name).is_err() {
            return false;
        }
        // HAProxy 2.6's `vars_set_by_name_ifexist()`: only a `proc.` variable must exist, and
        // one does when the configuration names it or while it holds a value.
        if if_exists
            && name.starts_with("proc.")
            && self.vars.sample(name).is_none()
            && !self.lua.as_ref().is_some_and(|l| l.declared.contains(name))
        {
            return false;
        }
        self.vars.set(name, Some(value));
        true
    }

    fn unset_var(&mut self, name: &str) -> bool {
        if spoe::expr::VarRef::parse(name).is_err() {
            return false;
        }
        self.vars.set(name, None);
        true
    }

    fn request_mut(&mut self) -> &mut request::Parts {
        &mut self.request
    }

    fn response_mut(&mut self) -> Option<&mut response::Parts> {
        self.response.as_mut()
    }

    fn private_slot(&mut self) -> Option<&mut Option<Private>> {
        self.lua.as_mut().map(|l| &mut l.private)
    }

    fn set_log_level(&mut self, level: Option<u8>) -> bool {
        match level {
            Some(l) => self.log_level.set(l),
            None => self.log_level.reset(),
        }
        true
    }
}

impl Txn {
    /// An empty transaction standing in for this one while a Lua call holds it (nothing
    /// reads it but, for a service, where its error lines go: `keep_log`).
    fn stand_in(&self, keep_log: bool) -> Self {
        let (request, ()) = hyper::Request::new(()).into_parts();
        Self {
            request,
            body: Bytes::new(),
            response: None,
            conn: self.conn.clone(),
            unique_id: self.unique_id,
            unique_id_format: None,
            unique_id_text: std::sync::OnceLock::new(),
            vars: spoe_http::Vars::new(None, None),
            environment: self.environment.clone(),
            lua: self.lua.as_ref().filter(|_| keep_log).map(LuaTxn::share),
            log_level: crate::access::LineLevel::default(),
            counters: crate::sticktable::track::StreamCounters::default(),
            captures: spoe_http::Captures::default(),
            capture_slots: None,
            userlists: self.userlists.clone(),
            auth_verdicts: None,
            cache: crate::cache::serve::CacheTxn::default(),
        }
    }
}

/// The reason phrase a script set, as hyper sends it.
pub(crate) fn reason_phrase(parts: &mut response::Parts) {
    if let Some(ReasonPhrase(r)) = parts.extensions.remove::<ReasonPhrase>()
        && let Ok(reason) = hyper::ext::ReasonPhrase::try_from(r.into_bytes())
    {
        parts.extensions.insert(reason);
    }
}

/// Runs the Lua action `name` on `txn` (lent to the script for the time of the call).
pub(crate) async fn action(
    worker: &LuaWorker,
    name: &str,
    args: &[String],
    txn: &mut Txn,
) -> ActionOutcome {
    let stand_in = txn.stand_in(false);
    let lent = std::mem::replace(txn, stand_in);
    let (back, outcome) = worker.action(name, args, lent).await;
    *txn = back;
    outcome
}

fn full(b: Bytes) -> Body {
    http_body_util::Full::new(b)
        .map_err(|never| match never {})
        .boxed()
}

fn status_with_reason<B>(r: &mut Response<B>, status: u16, reason: Option<&str>) {
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(reason) = reason.and_then(|r| hyper::ext::ReasonPhrase::try_from(r.as_bytes()).ok())
    {
        r.extensions_mut().insert(reason);
    }
}

fn append_header<B>(r: &mut Response<B>, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        r.headers_mut().append(n, v);
    }
}

/// The response `txn:done(reply)` asked for (its length is the body's, as HAProxy computes
/// it).
pub(crate) fn reply_response(reply: Reply) -> Response<Body> {
    let mut r = Response::new(full(reply.body));
    status_with_reason(&mut r, reply.status, reply.reason.as_deref());
    for (name, value) in &reply.headers {
        if !name.eq_ignore_ascii_case("transfer-encoding") {
            append_header(&mut r, name, value);
        }
    }
    r
}

/// Starts the service `name` with `txn` lent to it, and runs it until its response head.
/// `Err` holds the call when the service failed before its head (HAProxy answers 500; the
/// transaction is still the call's); `None` when it could not start at all.
pub(crate) async fn start_service(
    worker: &Arc<LuaWorker>,
    name: &str,
    txn: &mut Txn,
    body: spoe_lua::BodyStream,
) -> Result<(spoe_lua::ServiceCall<Txn>, response::Parts), Option<spoe_lua::ServiceCall<Txn>>> {
    let stand_in = txn.stand_in(true);
    let lent = std::mem::replace(txn, stand_in);
    let log = |line: &str| txn.log_error(line);
    let mut call = match worker.service(name, lent, body) {
        Ok(call) => call,
        Err(e) => {
            worker.report_service_error(&e, &log);
            return Err(None);
        }
    };
    let head = match call.head().await {
        Ok(head) => head,
        Err(e) => {
            worker.report_service_error(&e, &log);
            return Err(Some(call));
        }
    };
    let mut r = Response::new(());
    status_with_reason(&mut r, head.status, head.reason.as_deref());
    for (name, value) in &head.headers {
        append_header(&mut r, name, value);
    }
    Ok((call, r.into_parts().0))
}

/// The response of a started service: `head`, and a body streamed from the script as the
/// client reads it; `txn` stands in for the transaction the service holds (its log).
pub(crate) fn service_response(
    worker: &Arc<LuaWorker>,
    call: spoe_lua::ServiceCall<Txn>,
    head: response::Parts,
    txn: &Txn,
) -> Response<Body> {
    let body = ServiceBody {
        call: std::sync::Mutex::new(call),
        worker: worker.clone(),
        log: txn.lua.as_ref().map(|l| l.log.clone()).unwrap_or_default(),
    }
    .boxed();
    Response::from_parts(head, body)
}

/// A Lua service's response body: polling it runs the script until it sends more.
struct ServiceBody {
    /// A mutex only to be `Sync` as response bodies must; polling has `&mut`.
    call: std::sync::Mutex<spoe_lua::ServiceCall<Txn>>,
    worker: Arc<LuaWorker>,
    /// Where its error lines go.
    log: LogRoute,
}

impl hyper::body::Body for ServiceBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let call = this
            .call
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        call.poll_chunk(cx).map(|chunk| {
            chunk.map(|c| match c {
                Ok(bytes) => Ok(Frame::data(bytes)),
                // HAProxy cuts the response: the client sees it end early.
                Err(e) => {
                    let log = &this.log;
                    this.worker.report_service_error(&e, &|line: &str| {
                        log.send(LUA_ERROR_LEVEL, &line);
                    });
                    Err(BoxError::from(e))
                }
            })
        })
    }
}
