//! What happens to one request: SPOE events and rules in HAProxy's order,
//! backend choice, forwarding, response events and rules, access log.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body as _, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use spoe::StreamState;
use spoe::config::Event;
use spoe::expr::AclSet;
use tokio::time::Instant;

use crate::body::{BodyError, Progress, RequestBody};
use crate::generation::{BackendRt, FilterRt, Generation};
use crate::metrics::GatewayMetrics;
use crate::model::{HttpAction, LogFormat, LogFormatPart, RedirectKind, ReturnBody, Rule};
use crate::txn::{ResponseView, Txn, Vars, sample_text};

/// The body of every response the gateway sends.
pub(crate) type Body = BoxBody<Bytes, hyper::Error>;

/// Per-connection state shared by its requests.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) client: SocketAddr,
    pub(crate) local: SocketAddr,
    pub(crate) vars: Arc<Mutex<Vars>>,
    /// Generation ids whose `on-client-session` event already ran.
    pub(crate) session_event_done: Mutex<Vec<u64>>,
    pub(crate) requests: std::sync::atomic::AtomicU64,
    /// The latest request's body: whether it was read to its end decides
    /// whether the connection can be read again from a message boundary.
    pub(crate) body: Arc<Progress>,
}

impl Session {
    /// Whether the latest request's body was read to its end (true before any request).
    pub(crate) fn body_complete(&self) -> bool {
        self.body.complete()
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

fn text_response(status: u16, text: &str) -> Response<Body> {
    let mut r = Response::new(full(text.to_owned()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("text/html"));
    r.headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-cache"));
    r
}

/// HAProxy's error page for `status`.
fn error_page(status: u16) -> Response<Body> {
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    text_response(
        status,
        &format!(
            "<html><body><h1>{status} {reason}</h1>\nThe request was refused.\n</body></html>\n"
        ),
    )
}

/// Evaluates a log-format string.
pub(crate) fn render(fmt: &LogFormat, txn: &Txn) -> String {
    let mut out = String::new();
    for part in &fmt.0 {
        match part {
            LogFormatPart::Text(t) => out.push_str(t),
            LogFormatPart::Sample(e) => {
                if let Some(s) = e.eval(txn) {
                    out.push_str(&sample_text(&s));
                }
            }
        }
    }
    out
}

fn cond_holds(rule: &Rule, txn: &Txn, acls: &AclSet) -> bool {
    rule.cond.as_ref().is_none_or(|c| c.eval(txn, acls))
}

/// What a rule list decided.
enum Flow {
    Continue,
    Respond(Response<Body>, &'static str),
}

struct Ctx<'a> {
    generation: &'a Generation,
    metrics: &'a GatewayMetrics,
    sid: u64,
    /// One SPOE state per filter of this transaction, keyed by the filter's address.
    streams: Vec<(usize, StreamState)>,
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

    async fn run_event(&mut self, filters: &[FilterRt], event: Event, txn: &mut Txn) {
        for f in filters {
            let filter = f.filter();
            let stream = *self.stream(f);
            let Some(prepared) = filter.prepare_event(event, &*txn, &stream) else {
                continue;
            };
            let mut done = filter.process(prepared, self.stream(f)).await;
            self.metrics.spoe(&filter.config().agent.id, &done);
            txn.apply(std::mem::take(&mut done.updates));
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
            txn.apply(std::mem::take(&mut done.updates));
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
                HttpAction::Deny { status } => return Flow::Respond(error_page(*status), "PR"),
                HttpAction::Return {
                    status,
                    content_type,
                    headers,
                    body,
                } => {
                    let body_text = match body {
                        Some(ReturnBody::String(s)) => s.clone(),
                        Some(ReturnBody::LogFormat(f)) => render(f, txn),
                        None => String::new(),
                    };
                    let mut r = Response::new(full(body_text));
                    *r.status_mut() = StatusCode::from_u16(*status).unwrap_or(StatusCode::OK);
                    if let Some(ct) = content_type
                        .as_deref()
                        .and_then(|c| HeaderValue::from_str(c).ok())
                    {
                        r.headers_mut().insert("content-type", ct);
                    }
                    for (name, fmt) in headers {
                        let value = render(fmt, txn);
                        // HAProxy leaves out a header whose value is empty.
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
                    return Flow::Respond(r, "PR");
                }
                HttpAction::SetHeader { .. }
                | HttpAction::AddHeader { .. }
                | HttpAction::DelHeader { .. }
                | HttpAction::SetVar { .. }
                | HttpAction::SendSpoeGroup { .. } => {
                    self.common_action(&rule.action, filters, txn, Side::Request)
                        .await;
                }
                HttpAction::Redirect { kind, target, code } => {
                    let t = render(target, txn);
                    let location = match kind {
                        RedirectKind::Location => t,
                        RedirectKind::Prefix => format!("{}{}", t.trim_end_matches('/'), txn.uri),
                    };
                    let mut r = Response::new(full(Bytes::new()));
                    *r.status_mut() = StatusCode::from_u16(*code).unwrap_or(StatusCode::FOUND);
                    if let Ok(v) = HeaderValue::from_str(&location) {
                        r.headers_mut().insert("location", v);
                    }
                    return Flow::Respond(r, "PR");
                }
                HttpAction::PrometheusExporter => {
                    self.metrics.agent_connections.set(
                        i64::try_from(self.generation.agent_connections()).unwrap_or(i64::MAX),
                    );
                    self.metrics.agent_protocol_errors.set(
                        i64::try_from(self.generation.agent_protocol_errors()).unwrap_or(i64::MAX),
                    );
                    let mut r = Response::new(full(self.metrics.encode_text()));
                    r.headers_mut().insert(
                        "content-type",
                        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                    );
                    return Flow::Respond(r, "PR");
                }
            }
        }
        Flow::Continue
    }

    /// `http-response` rules (header and variable actions only), applied
    /// to the response held in `txn`.
    async fn response_rules(
        &mut self,
        rules: &[Rule],
        acls: &AclSet,
        filters: &[FilterRt],
        txn: &mut Txn,
    ) {
        for rule in rules {
            if cond_holds(rule, txn, acls) {
                self.common_action(&rule.action, filters, txn, Side::Response)
                    .await;
            }
        }
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
                if let Some(h) = side.headers(txn) {
                    set_header(h, name, &v, replace);
                }
            }
            HttpAction::DelHeader { name } => {
                if let Some(h) = side.headers(txn) {
                    h.remove(name.as_str());
                }
            }
            HttpAction::SetVar { var, expr } => {
                let v = expr.eval(&*txn);
                crate::txn::with_full_name(var, |name| txn.set_var(name, v));
            }
            HttpAction::SendSpoeGroup { engine, group } => {
                self.send_group(filters, engine, group, txn).await
            }
            _ => {}
        }
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
            Self::Request => Some(&mut txn.headers),
            Self::Response => txn.response.as_mut().map(|r| &mut r.headers),
        }
    }
}

fn set_header(headers: &mut hyper::HeaderMap, name: &str, value: &str, replace: bool) {
    let (Ok(n), Ok(v)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) else {
        return;
    };
    if replace {
        headers.insert(n, v);
    } else {
        headers.append(n, v);
    }
}

/// Picks an up server with a non-zero weight: weighted round robin, or the
/// fewest active requests per unit of weight (`leastconn`).
fn pick_server(backend: &BackendRt) -> Option<usize> {
    let weight = |i: usize| backend.model.servers.get(i).map_or(1, |s| s.weight);
    let candidates: Vec<usize> = (0..backend.servers.len())
        .filter(|&i| backend.servers[i].up.load(Ordering::Relaxed) && weight(i) > 0)
        .collect();
    match backend.model.balance {
        crate::model::Balance::RoundRobin => {
            let total: u64 = candidates.iter().map(|&i| u64::from(weight(i))).sum();
            if total == 0 {
                return None;
            }
            let mut at = backend.next.fetch_add(1, Ordering::Relaxed) as u64 % total;
            for &i in &candidates {
                let w = u64::from(weight(i));
                if at < w {
                    return Some(i);
                }
                at -= w;
            }
            None
        }
        crate::model::Balance::LeastConn => candidates.iter().copied().min_by_key(|&i| {
            (backend.servers[i].active.load(Ordering::Relaxed) as u64 * 256) / u64::from(weight(i))
        }),
    }
}

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// One access-log line's facts (the status is filled in by [`finish`]).
struct Access<'a> {
    frontend: &'a str,
    backend: &'a str,
    server: &'a str,
    status: u16,
    termination: &'a str,
}

impl<'a> Access<'a> {
    fn new(frontend: &'a str, backend: &'a str, server: &'a str, termination: &'a str) -> Self {
        Self {
            frontend,
            backend,
            server,
            status: 0,
            termination,
        }
    }
}

/// Handles one request on `generation`.
pub(crate) async fn handle(
    req: Request<Incoming>,
    session: Arc<Session>,
    generation: Arc<Generation>,
    metrics: Arc<GatewayMetrics>,
) -> Response<Body> {
    let started = Instant::now();
    let _guard = generation.enter();
    let Some(fe) = generation.frontend_for(session.local) else {
        return error_page(503);
    };
    let (parts, incoming) = req.into_parts();
    let timeouts = fe.model.timeouts;
    session.body.start(incoming.is_end_stream());
    let progress = session.body.clone();
    let mut pending = PendingBody::Unread(incoming);
    let bufsize = generation.config.global.bufsize;
    // The stream id of SPOE log lines: unique across the process, as HAProxy's.
    let sid = metrics.next_unique_id();
    session.requests.fetch_add(1, Ordering::Relaxed);
    let mut txn = Txn {
        client: session.client,
        local: session.local,
        method: parts.method,
        uri: parts.uri,
        version: parts.version,
        headers: parts.headers,
        body: Bytes::new(),
        response: None,
        unique_id: (generation.id, sid),
        vars: Vars::new(),
        sess: session.vars.clone(),
        proc: generation.proc_vars.clone(),
    };
    let mut ctx = Ctx {
        generation: &generation,
        metrics: &metrics,
        sid,
        streams: Vec::new(),
    };

    // on-client-session: once per connection and generation.
    let first = {
        let mut done = session
            .session_event_done
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let first = !done.contains(&generation.id);
        if first {
            done.push(generation.id);
        }
        first
    };
    if first {
        ctx.run_event(&fe.filters, Event::OnClientSession, &mut txn)
            .await;
    }
    // As HAProxy: the session's event at the stream's start, then the body
    // (http-buffer-request), then the frontend's HTTP event and rules.
    if fe.model.http_buffer_request
        && let Err(status) = pending.buffer(&mut txn, bufsize, timeouts, &progress).await
    {
        let term = if status == 408 { "cR" } else { "CR" };
        return finish(
            error_page(status),
            &txn,
            &metrics,
            started,
            Access::new(&fe.model.name, &fe.model.name, "<NOSRV>", term),
        );
    }
    ctx.run_event(&fe.filters, Event::OnFrontendHttpRequest, &mut txn)
        .await;
    let fe_acls = &fe.model.acls;
    if let Flow::Respond(r, term) = ctx
        .request_rules(&fe.model.http_request, fe_acls, &fe.filters, &mut txn)
        .await
    {
        return finish(
            r,
            &txn,
            &metrics,
            started,
            Access::new(&fe.model.name, &fe.model.name, "<NOSRV>", term),
        );
    }
    let backend_name = fe
        .model
        .use_backends
        .iter()
        .find(|u| u.cond.as_ref().is_none_or(|c| c.eval(&txn, fe_acls)))
        .map(|u| u.backend.clone())
        .or_else(|| fe.model.default_backend.clone());
    let Some(be) = backend_name
        .as_deref()
        .and_then(|n| ctx.generation.backends.get(n))
    else {
        return finish(
            error_page(503),
            &txn,
            &metrics,
            started,
            Access::new(
                &fe.model.name,
                backend_name.as_deref().unwrap_or(&fe.model.name),
                "<NOSRV>",
                "SC",
            ),
        );
    };
    if be.model.http_buffer_request
        && let Err(status) = pending
            .buffer(&mut txn, bufsize, be.model.timeouts, &progress)
            .await
    {
        let term = if status == 408 { "cR" } else { "CR" };
        return finish(
            error_page(status),
            &txn,
            &metrics,
            started,
            Access::new(&fe.model.name, &be.model.name, "<NOSRV>", term),
        );
    }
    ctx.run_event(&be.filters, Event::OnBackendHttpRequest, &mut txn)
        .await;
    if let Flow::Respond(r, term) = ctx
        .request_rules(
            &be.model.http_request,
            &be.model.acls,
            &be.filters,
            &mut txn,
        )
        .await
    {
        return finish(
            r,
            &txn,
            &metrics,
            started,
            Access::new(&fe.model.name, &be.model.name, "<NOSRV>", term),
        );
    }
    let Some(si) = pick_server(be) else {
        return finish(
            error_page(503),
            &txn,
            &metrics,
            started,
            Access::new(&fe.model.name, &be.model.name, "<NOSRV>", "SC"),
        );
    };
    let server = &be.servers[si];
    // A server's `maxconn`: beyond it requests queue, at most `timeout queue`
    // (HAProxy's default for it is `timeout connect`), then get a 503.
    let _slot = match &server.slots {
        Some(slots) => {
            let wait = be
                .model
                .timeouts
                .queue
                .or(be.model.timeouts.connect)
                .unwrap_or(crate::generation::DEFAULT_TIMEOUT_CONNECT);
            match tokio::time::timeout(wait, slots.clone().acquire_owned()).await {
                Ok(Ok(permit)) => Some(permit),
                _ => {
                    return finish(
                        error_page(503),
                        &txn,
                        &metrics,
                        started,
                        Access::new(&fe.model.name, &be.model.name, &server.name, "sQ"),
                    );
                }
            }
        }
        None => None,
    };
    server.active.fetch_add(1, Ordering::Relaxed);
    let body = pending.into_body(timeouts.client, progress.clone());
    let upstream = forward(
        &txn,
        body,
        &progress,
        be,
        server.addr,
        be.model.timeouts.server,
    )
    .await;
    server.active.fetch_sub(1, Ordering::Relaxed);
    let resp = match upstream {
        Ok(r) => r,
        Err((status, term)) => {
            return finish(
                error_page(status),
                &txn,
                &metrics,
                started,
                Access::new(&fe.model.name, &be.model.name, &server.name, term),
            );
        }
    };
    let (mut rparts, rbody) = resp.into_parts();
    txn.response = Some(ResponseView {
        status: rparts.status.as_u16(),
        version: rparts.version,
        headers: std::mem::take(&mut rparts.headers),
    });
    // on-http-response, then http-response rules: backend's first, then frontend's.
    ctx.run_event(&be.filters, Event::OnHttpResponse, &mut txn)
        .await;
    ctx.run_event(&fe.filters, Event::OnHttpResponse, &mut txn)
        .await;
    ctx.response_rules(
        &be.model.http_response,
        &be.model.acls,
        &be.filters,
        &mut txn,
    )
    .await;
    ctx.response_rules(&fe.model.http_response, fe_acls, &fe.filters, &mut txn)
        .await;
    if let Some(view) = txn.response.as_mut() {
        rparts.headers = std::mem::take(&mut view.headers);
    }
    for h in HOP_BY_HOP {
        rparts.headers.remove(*h);
    }
    let r = Response::from_parts(rparts, rbody.boxed());
    finish(
        r,
        &txn,
        &metrics,
        started,
        Access::new(&fe.model.name, &be.model.name, &server.name, "--"),
    )
}

/// Sends the request to `addr` and waits for the response head. The body
/// streams to the server meanwhile; `timeout server` runs while neither the
/// body moves nor the response head comes (HAProxy's inactivity timeout).
/// Err: the status to answer and the termination state.
async fn forward(
    txn: &Txn,
    body: RequestBody,
    progress: &Progress,
    be: &BackendRt,
    addr: SocketAddr,
    server_timeout: Option<Duration>,
) -> Result<Response<Incoming>, (u16, &'static str)> {
    let path = txn.uri.path_and_query().map_or("/", |p| p.as_str());
    let uri: hyper::Uri = format!("http://{addr}{path}")
        .parse()
        .map_err(|_| (400u16, "PR"))?;
    let mut req = Request::new(body);
    *req.method_mut() = txn.method.clone();
    *req.uri_mut() = uri;
    let mut headers = txn.headers.clone();
    for h in HOP_BY_HOP {
        headers.remove(*h);
    }
    *req.headers_mut() = headers;
    let call = be.client(addr).request(req);
    let result = match server_timeout {
        Some(d) => {
            tokio::pin!(call);
            let mut deadline = Instant::now() + d;
            loop {
                tokio::select! {
                    r = &mut call => break r,
                    () = tokio::time::sleep_until(deadline) => {
                        let moved = progress.last() + d;
                        if moved <= Instant::now() {
                            return Err((504, "sH"));
                        }
                        deadline = moved;
                    }
                }
            }
        }
        None => call.await,
    };
    result.map_err(|e| {
        tracing::debug!(server = %addr, error = %e, "backend request failed");
        if let Some(client_fault) = BodyError::find(&e) {
            return client_fault;
        }
        // As HAProxy: no connection is 503, a broken or invalid response 502.
        if e.is_connect() {
            (503, "SC")
        } else {
            (502, "SH")
        }
    })
}

/// The access-log line of a request refused before it was complete (bad
/// head, bad body, slow client), in the same format as [`finish`]'s.
pub(crate) fn log_refused(
    metrics: &GatewayMetrics,
    client: SocketAddr,
    frontend: &str,
    status: u16,
    termination: &str,
    request: &str,
    started: Instant,
) {
    metrics.request(frontend, status);
    tracing::info!(
        target: "spoe::access",
        "{}:{} {frontend} {frontend}/<NOSRV> {} {status} {termination} \"{request}\"",
        client.ip(),
        client.port(),
        started.elapsed().as_millis(),
    );
}

fn finish(
    r: Response<Body>,
    txn: &Txn,
    metrics: &GatewayMetrics,
    started: Instant,
    mut a: Access<'_>,
) -> Response<Body> {
    a.status = r.status().as_u16();
    metrics.request(a.frontend, a.status);
    tracing::info!(
        target: "spoe::access",
        "{}:{} {} {}/{} {} {} {} \"{} {} {:?}\"",
        txn.client.ip(),
        txn.client.port(),
        a.frontend,
        a.backend,
        a.server,
        started.elapsed().as_millis(),
        a.status,
        a.termination,
        txn.method,
        txn.uri,
        txn.version
    );
    r
}
