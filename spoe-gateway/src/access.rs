//! The access line of one request, written when the request ends, with what
//! the client really got: the status sent (or `-1`), the bytes, and the
//! termination state of how it ended (answered, refused, timed out, aborted
//! by the client, cut by the server).
//!
//! The line is HAProxy's httplog line ([`crate::httplog`]), written as the
//! frontend's `log` lines say, when the frontend has `option httplog` and a
//! `log` line (HAProxy writes nothing otherwise).

use std::borrow::Cow;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI8, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tokio::time::Instant;

use crate::httplog::{ACCESS_LEVEL, ERROR_LEVEL, Timer};
use crate::limits::ConnCounts;
use crate::log::LogRoute;
use crate::logline::{Facts, Line, LineFormat};
use crate::model::LogOptions;
use crate::stats::{Counters, End, Tally};
use crate::sticktable::track::StreamCounters;

/// The level of a request's access line as the request's rules set it (`set-log-level`,
/// `txn:set_loglevel()`), shared by the transaction and its line, which may be written by
/// whoever ends the request. Only requests of configurations that can change it hold one;
/// the others write at [`ACCESS_LEVEL`].
#[derive(Debug, Clone, Default)]
pub(crate) struct LineLevel(Option<Arc<AtomicI8>>);

/// No level set: the line's default.
const DEFAULT_LEVEL: i8 = -1;
/// `silent`: no line.
const SILENT: i8 = -2;

impl LineLevel {
    /// A level the rules may set.
    pub(crate) fn shared() -> Self {
        Self(Some(Arc::new(AtomicI8::new(DEFAULT_LEVEL))))
    }

    fn store(&self, v: i8) {
        if let Some(cell) = &self.0 {
            cell.store(v, Ordering::Relaxed);
        }
    }

    /// Sets the level (0 emerg to 7 debug).
    pub(crate) fn set(&self, level: u8) {
        self.store(i8::try_from(level.min(7)).unwrap_or(DEFAULT_LEVEL));
    }

    /// Back to the line's default level.
    pub(crate) fn reset(&self) {
        self.store(DEFAULT_LEVEL);
    }

    /// No line for this request.
    pub(crate) fn silence(&self) {
        self.store(SILENT);
    }

    /// Whether the rules set a level.
    fn is_set(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|cell| cell.load(Ordering::Relaxed) != DEFAULT_LEVEL)
    }

    /// The level to write the line at; `None`: no line.
    fn get(&self) -> Option<u8> {
        match self.0.as_ref().map(|cell| cell.load(Ordering::Relaxed)) {
            Some(SILENT) => None,
            Some(v) => Some(u8::try_from(v).unwrap_or(ACCESS_LEVEL)),
            None => Some(ACCESS_LEVEL),
        }
    }
}

/// A connection counted in its frontend's statistics until it drops (the
/// `maxconn` slots count it in `%ac` and `%fc`).
#[derive(Debug)]
pub(crate) struct Counted(Arc<Counters>);

impl Counted {
    /// A connection accepted: also the frontend's connection and session
    /// (HAProxy's `conn_tot` and `stot`, one each in HTTP/1).
    pub(crate) fn new(fe: Arc<Counters>) -> Self {
        fe.cum_conn.inc();
        fe.conn_rate.add();
        fe.session_starts();
        Self(fe)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.session_ends();
    }
}

/// The request an access line names, formatted only when a line is written.
#[derive(Debug, Clone)]
pub(crate) enum RequestLine {
    /// A request the gateway could not read or trust (`<BADREQ>`).
    Bad,
    /// `METHOD URI VERSION`.
    Line(hyper::Method, hyper::Uri, hyper::Version),
}

impl std::fmt::Display for RequestLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bad => f.write_str("<BADREQ>"),
            Self::Line(method, uri, version) => write!(f, "{method} {uri} {version:?}"),
        }
    }
}

/// Everything an access line says but the bytes and the end.
#[derive(Debug)]
pub(crate) struct Access {
    pub(crate) client: SocketAddr,
    pub(crate) received: SystemTime,
    /// When the request started (`%tr`), for `%Ta`.
    pub(crate) started: Instant,
    pub(crate) t_request: Timer,
    pub(crate) frontend: String,
    /// `None` until a backend is chosen: the line names the frontend there, as HAProxy's
    /// (no copy of the frontend's name per request).
    pub(crate) backend: Option<String>,
    /// `<NOSRV>` until a server or an applet is chosen: a static name is not copied.
    pub(crate) server: Cow<'static, str>,
    pub(crate) t_queue: Timer,
    pub(crate) t_connect: Timer,
    pub(crate) t_response: Timer,
    pub(crate) status: Option<u16>,
    /// Two letters: who ended the request (`-`, `P`, `L`, `c`, `C`, `S`,
    /// `s`) and in which phase (`-`, `R`, `Q`, `C`, `H`, `D`).
    pub(crate) termination: &'static str,
    /// The last two letters of `%tsc`: what the persistence cookie said and became (`--`
    /// without cookie persistence).
    pub(crate) cookies: [u8; 2],
    pub(crate) conns: Arc<ConnCounts>,
    /// `%bc`, `%sc`: requests the backend and the server were serving.
    pub(crate) backend_conns: usize,
    pub(crate) server_conns: usize,
    /// `%sq`, `%bq`: HAProxy's positions in the server's and the backend's queue (1 plus
    /// the requests that left the line while this one waited; 0: it did not wait there).
    pub(crate) server_queue: usize,
    pub(crate) backend_queue: usize,
    /// `%rc`: connection attempts retried (`retries`).
    pub(crate) retries: usize,
    /// What `%r` says.
    pub(crate) request: RequestLine,
    /// `Some` with an access-line format and a `log` line: where the line goes.
    pub(crate) httplog: Option<LogRoute>,
    /// The frontend's access-line format (with `httplog`).
    pub(crate) format: Option<Arc<LineFormat>>,
    /// The address the client connected to (`%fi:%fp`) and whether it is TLS (`%ft`).
    pub(crate) local: SocketAddr,
    pub(crate) tls: bool,
    /// The server's address (`%si:%sp`), once one was chosen.
    pub(crate) server_addr: Option<SocketAddr>,
    /// `%rt`: the request's number in the process.
    pub(crate) request_counter: u64,
    /// `tune.http.logurilen` (1024 by default): the request line `%r` and `%H*` read is cut to
    /// one byte less, as HAProxy captures it.
    pub(crate) uri_len: usize,
    /// `%ID`: the request's unique ID, when the frontend has a format for it.
    pub(crate) unique_id: Option<String>,
    /// The values of the format's `%[EXPR]`, taken from the transaction.
    pub(crate) samples: Vec<Option<String>>,
    /// `%hr`, `%hs`: the frontend's request and response capture slots.
    pub(crate) request_captures: Vec<Option<String>>,
    pub(crate) response_captures: Vec<Option<String>>,
    /// Bytes of the response head sent.
    pub(crate) head_bytes: u64,
    /// The stick counters the request tracks: they count the bytes sent and stop tracking
    /// when the response ends (HAProxy's `stream_store_counters()` at the stream's end).
    pub(crate) counters: StreamCounters,
    /// The response has no body to send (`HEAD`, 204, 304): hyper drops it
    /// unread, which is not the client leaving.
    pub(crate) bodiless: bool,
    /// The request's statistics, ended when the line is written.
    pub(crate) tally: Option<Tally>,
    /// The line's level.
    pub(crate) level: LineLevel,
    /// The frontend's `dontlog-normal`, `log-separate-errors`.
    pub(crate) log_options: LogOptions,
}

impl Access {
    /// `termination`, or `K` and its phase when the gateway is closing
    /// connections by force.
    fn ended_as(&self, termination: &'static str) -> &'static str {
        if !self.conns.killing.load(Ordering::Relaxed) {
            return termination;
        }
        match termination.as_bytes().get(1) {
            Some(b'Q') => "KQ",
            Some(b'H') => "KH",
            Some(b'D') => "KD",
            _ => "KR",
        }
    }

    /// [`Access::new`] in a box, built there: a request's line is moved with its response
    /// through every level of the request's futures, so it travels as a pointer.
    pub(crate) fn boxed(
        client: SocketAddr,
        frontend: &str,
        request: RequestLine,
        conns: Arc<ConnCounts>,
    ) -> Box<Self> {
        Box::write(
            Box::new_uninit(),
            Self::new(client, frontend, request, conns),
        )
    }

    /// A request of `client` on `frontend`, started now.
    // Inlined so that [`Access::boxed`] writes the line into its box rather than copying it
    // there (callgrind: a 704-byte copy per request when called).
    #[inline(always)]
    pub(crate) fn new(
        client: SocketAddr,
        frontend: &str,
        request: RequestLine,
        conns: Arc<ConnCounts>,
    ) -> Self {
        Self {
            client,
            received: SystemTime::now(),
            started: spoe::clock::now(),
            t_request: Timer::ms(Duration::ZERO),
            frontend: frontend.to_owned(),
            backend: None,
            server: Cow::Borrowed("<NOSRV>"),
            t_queue: Timer::NEVER,
            t_connect: Timer::NEVER,
            t_response: Timer::NEVER,
            status: None,
            termination: "--",
            cookies: *b"--",
            conns,
            backend_conns: 0,
            server_conns: 0,
            retries: 0,
            server_queue: 0,
            backend_queue: 0,
            request,
            httplog: None,
            format: None,
            local: SocketAddr::from(([0, 0, 0, 0], 0)),
            tls: false,
            server_addr: None,
            request_counter: 0,
            uri_len: crate::model::DEFAULT_LOGURILEN,
            unique_id: None,
            samples: Vec::new(),
            request_captures: Vec::new(),
            response_captures: Vec::new(),
            head_bytes: 0,
            counters: StreamCounters::default(),
            bodiless: false,
            tally: None,
            level: LineLevel::default(),
            log_options: LogOptions::default(),
        }
    }

    /// Writes the line (`body_bytes` of body were sent), and ends the
    /// request's statistics with what it says.
    pub(crate) fn write(&mut self, body_bytes: u64) {
        let active = spoe::clock::since(self.started);
        if let Some(tally) = self.tally.as_mut() {
            tally.end(End {
                status: self.status,
                termination: self.termination,
                total: active,
            });
        }
        let Some(route) = &self.httplog else {
            return;
        };
        // HAProxy's `strm_log()`: an error is a termination state other than `--` and `L*`, or
        // a status of 500 or more.
        let error = !matches!(self.termination.as_bytes().first(), Some(b'-' | b'L'))
            || self.status.is_some_and(|s| s >= 500);
        if !error && self.log_options.dont_log_normal {
            return;
        }
        let Some(level) = self.level.get() else {
            return;
        };
        let level = match level {
            ACCESS_LEVEL if error && self.log_options.separate_errors && !self.level.is_set() => {
                ERROR_LEVEL
            }
            l => l,
        };
        let Some(format) = &self.format else {
            return;
        };
        let (uri, version, cut);
        let request = match &self.request {
            RequestLine::Bad => None,
            RequestLine::Line(method, u, v) => {
                uri = u.to_string();
                version = version_text(*v);
                let room = self.uri_len.saturating_sub(1);
                if method.as_str().len() + uri.len() + version.len() + 2 > room {
                    cut = captured(method.as_str(), &uri, &version, room);
                    Some(split_captured(&cut))
                } else {
                    Some((method.as_str(), uri.as_str(), &*version))
                }
            }
        };
        let line = Line {
            format,
            facts: Facts {
                client: self.client,
                local: self.local,
                server_addr: self.server_addr,
                received: self.received,
                frontend: &self.frontend,
                tls: self.tls,
                backend: self.backend.as_deref().unwrap_or(&self.frontend),
                server: &self.server,
                t_request: self.t_request,
                t_queue: self.t_queue,
                t_connect: self.t_connect,
                t_response: self.t_response,
                t_active: active,
                status: self.status,
                bytes: self.head_bytes + body_bytes,
                termination: self.termination,
                cookies: self.cookies,
                counters: [
                    self.conns.process.load(Ordering::Relaxed),
                    self.conns.frontend.load(Ordering::Relaxed),
                    self.backend_conns,
                    self.server_conns,
                    self.retries,
                ],
                queues: [self.server_queue, self.backend_queue],
                request,
                request_counter: self.request_counter,
                log_count: format.next_count(),
                unique_id: self.unique_id.as_deref(),
                request_captures: &self.request_captures,
                response_captures: &self.response_captures,
                samples: &self.samples,
            },
        };
        route.send(level, &line);
    }
}

/// A response body that writes the request's access line when it is done:
/// at its end, or when it is dropped before (the client went away: `CD`), or
/// when the server's body fails (`SD`).
pub(crate) struct Logged<B: HttpBody> {
    inner: B,
    /// Boxed: the response that carries the line is moved at each level of the request's
    /// futures and into hyper's dispatcher; inline, the line (700 bytes) was copied each time
    /// (bench/README.md, "Session 7: the request's copies").
    access: Option<Box<Access>>,
    sent: u64,
    failed: bool,
    ended: bool,
}

impl<B: HttpBody> std::fmt::Debug for Logged<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logged").field("sent", &self.sent).finish()
    }
}

impl<B: HttpBody> Logged<B> {
    pub(crate) fn new(inner: B, access: Box<Access>) -> Self {
        Self {
            inner,
            access: Some(access),
            sent: 0,
            failed: false,
            ended: false,
        }
    }

    /// Fills what the access line reads of the transaction (`note` gets the line's format),
    /// when the line has a format.
    pub(crate) fn note_txn(&mut self, note: impl FnOnce(&LineFormat, &mut Access)) {
        if let Some(access) = self.access.as_mut()
            && access.httplog.is_some()
            && let Some(format) = access.format.clone()
        {
            note(&format, access);
        }
    }

    /// Hands the request's stick counters to the line, which keeps them until the response
    /// ends (without a line they stop now).
    pub(crate) fn keep_counters(&mut self, counters: StreamCounters) {
        if let Some(access) = self.access.as_mut() {
            access.counters = counters;
        }
    }

    /// Takes the access line away, for whatever ends the exchange later (a tunnel after a
    /// `101`): the body then writes none.
    pub(crate) fn take_access(&mut self) -> Option<Box<Access>> {
        self.access.take()
    }

    /// A body without an access line.
    pub(crate) fn unlogged(inner: B) -> Self {
        Self {
            inner,
            access: None,
            sent: 0,
            failed: false,
            ended: false,
        }
    }
}

impl<B: HttpBody<Data = Bytes> + Unpin> HttpBody for Logged<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(f))) => {
                if let Some(d) = f.data_ref() {
                    self.sent += d.len() as u64;
                }
            }
            Poll::Ready(Some(Err(_))) => self.failed = true,
            Poll::Ready(None) => self.ended = true,
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B: HttpBody> Drop for Logged<B> {
    fn drop(&mut self) {
        let Some(mut access) = self.access.take() else {
            return;
        };
        if self.failed {
            access.termination = "SD";
        } else if !(self.ended || access.bodiless || self.inner.is_end_stream()) {
            access.termination = access.ended_as("CD");
        }
        access.counters.bytes_out(access.head_bytes + self.sent);
        access.write(self.sent);
    }
}

/// The access line of a request that ends without a response (the client
/// closed its connection while the gateway waited on an agent or a server):
/// written on drop unless [`Pending::take`] took it, with status `-1` and
/// termination `C` plus the phase it was in.
#[derive(Debug)]
pub(crate) struct Pending {
    access: Option<Box<Access>>,
    /// The termination state if the client leaves now: `CR` (request,
    /// agents, rules), `CQ` (queued for a server), `CH` (the server's answer).
    pub(crate) phase: &'static str,
}

impl Pending {
    pub(crate) fn new(access: Box<Access>) -> Self {
        Self {
            access: Some(access),
            phase: "CR",
        }
    }

    pub(crate) fn get(&mut self) -> &mut Access {
        self.access.get_or_insert_with(unreachable_access)
    }

    /// The request's statistics (begun where the request is read; counted
    /// nowhere if a request got here without them).
    pub(crate) fn tally(&mut self) -> &mut Tally {
        self.get()
            .tally
            .get_or_insert_with(|| Tally::new(Arc::default()))
    }

    /// The line, to be written by whoever ends the request.
    pub(crate) fn take(&mut self) -> Box<Access> {
        self.access.take().unwrap_or_else(unreachable_access)
    }
}

/// Only reached if a request ended twice; an empty line rather than a panic.
fn unreachable_access() -> Box<Access> {
    Access::boxed(
        SocketAddr::from(([0, 0, 0, 0], 0)),
        "-",
        RequestLine::Bad,
        Arc::default(),
    )
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(mut access) = self.access.take() {
            access.status = None;
            access.termination = access.ended_as(self.phase);
            access.write(0);
        }
    }
}

/// The size of a response head as hyper writes it in HTTP/1 (status line,
/// headers, blank line; no `date` of its own on either protocol, as HAProxy).
/// An HTTP/2 response is counted the same although it goes out in HPACK:
/// HAProxy's `%B` for one response is the same whichever protocol the client
/// speaks.
pub(crate) fn head_size(status: hyper::StatusCode, headers: &hyper::HeaderMap) -> u64 {
    // "HTTP/1.1 200 OK\r\n", and "\r\n" at the end.
    let mut n = 9 + 4 + status.canonical_reason().map_or(0, str::len) + 2 + 2;
    for (name, value) in headers {
        n += name.as_str().len() + 2 + value.len() + 2;
    }
    n as u64
}

/// A request's version as the access line writes it (`HTTP/1.1`): the common ones without
/// formatting (a logged line allocates nothing for them), any other as `http` prints it.
fn version_text(v: hyper::Version) -> Cow<'static, str> {
    match v {
        hyper::Version::HTTP_10 => "HTTP/1.0".into(),
        hyper::Version::HTTP_11 => "HTTP/1.1".into(),
        hyper::Version::HTTP_2 => "HTTP/2.0".into(),
        other => format!("{other:?}").into(),
    }
}

/// The request line as HAProxy captures it for its logs: `METHOD URI VERSION` cut to `room`
/// bytes (`tune.http.logurilen` less one).
fn captured(method: &str, uri: &str, version: &str, room: usize) -> String {
    let mut line = format!("{method} {uri} {version}");
    let mut end = room.min(line.len());
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line.truncate(end);
    line
}

/// Method, URI and version of a captured line, as HAProxy reads them back from it (`%HM`,
/// `%HU`, `%HV`): split at its spaces; a line cut before its version says `HTTP/0.9`.
fn split_captured(line: &str) -> (&str, &str, &str) {
    let (method, rest) = line.split_once(' ').unwrap_or((line, ""));
    match rest.split_once(' ') {
        Some((uri, version)) => (method, uri, version),
        None => (method, rest, "HTTP/0.9"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What HAProxy 2.6.12 logs with `tune.http.logurilen 30` and
    /// `log-format "%r|%HM|%HU|%HP|%HQ|%HV"`.
    #[test]
    fn a_long_request_line_is_cut_as_haproxy_cuts_it() {
        let room = 30;
        let long = captured("GET", &format!("/{}?q=1", "a".repeat(40)), "HTTP/1.1", room);
        assert_eq!(long, format!("GET /{}", "a".repeat(25)));
        assert_eq!(
            split_captured(&long),
            ("GET", &*format!("/{}", "a".repeat(25)), "HTTP/0.9")
        );
        let short = captured("GET", &format!("/{}?q=1", "a".repeat(17)), "HTTP/1.1", room);
        assert_eq!(short, format!("GET /{}?q=1 HTT", "a".repeat(17)));
        assert_eq!(
            split_captured(&short),
            ("GET", &*format!("/{}?q=1", "a".repeat(17)), "HTT")
        );
    }

    #[test]
    fn head_size_counts_what_hyper_writes() {
        let mut h = hyper::HeaderMap::new();
        h.insert("content-length", "77".parse().unwrap());
        // "HTTP/1.1 400 Bad Request\r\n" 26, "content-length: 77\r\n" 20, "\r\n" 2.
        assert_eq!(head_size(hyper::StatusCode::BAD_REQUEST, &h), 48);
        // A server's `date` is counted as any header.
        h.insert("date", "Fri, 04 Dec 2026 16:25:31 GMT".parse().unwrap());
        assert_eq!(head_size(hyper::StatusCode::BAD_REQUEST, &h), 85);
    }
}
