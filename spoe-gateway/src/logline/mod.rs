//! Access-line formats: `log-format`, and `option httplog`, `option httplog clf` and `option
//! tcplog` as the presets HAProxy 2.6 defines them (`default_http_log_format`,
//! `clf_http_log_format`, `default_tcp_log_format` in `src/log.c`), rendered as
//! `sess_build_logline()` renders them.
//!
//! What the gateway cannot know is refused when the format is read, naming the variable: `%U`
//! (bytes from the client), `%bi`/`%bp` (the source address of the server connection),
//! `%sslc`/`%sslv`. `%Th` and `%Ti` are 0 (no handshake or idle time is measured apart from
//! the request's), so `%Tq` is `%TR` and `%Tt` is `%Ta`. Dates are UTC (`%Tl`, `%trl` say
//! `+0000`). `%[EXPR]` may read what HAProxy keeps until the line is written (variables, the
//! connection; not headers, an error as in HAProxy; `status` has no value then, as in
//! HAProxy); it is evaluated when the response head is sent, with the transaction's variables
//! of that moment; a request refused before its head has none (`-`). `%ID` of a request
//! that never reached a backend (`http-request return`, `deny`) is built from the request as
//! it was; HAProxy builds it only when it writes the line, when the request's headers are gone
//! (`%[req.hdr(host)]` in `unique-id-format` then says `-` in HAProxy's line).

mod parse;
mod render;

use std::sync::atomic::{AtomicU64, Ordering};

use spoe::config::reader::Word;
use spoe::expr::SampleExpr;

pub(crate) use render::{Facts, Line};

/// `option httplog`.
pub(crate) const HTTPLOG: &str = "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r";
/// `option httplog clf`.
pub(crate) const HTTPLOG_CLF: &str = "%{+Q}o %{-Q}ci - - [%trg] %r %ST %B \"\" \"\" %cp %ms %ft %b %s %TR %Tw %Tc %Tr %Ta %tsc %ac %fc %bc %sc %rc %sq %bq %CC %CS %hrl %hsl";
/// `option tcplog`.
pub(crate) const TCPLOG: &str =
    "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq";

/// A format's node options (`LOG_OPT_*`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Opts {
    /// `M`: `-` for an empty value (on by default in `log-format`).
    pub(crate) mandatory: bool,
    /// `Q`: in double quotes.
    pub(crate) quote: bool,
    /// `X`: hexadecimal (addresses, ports, counters).
    pub(crate) hexa: bool,
    /// `E`: `"`, `\` and `]` escaped with `\`.
    pub(crate) escape: bool,
}

/// HAProxy's log-format variables the gateway writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Var {
    ClientIp,
    ClientPort,
    FrontendIp,
    FrontendPort,
    ServerIp,
    ServerPort,
    Date,
    DateRequest,
    DateGmt,
    DateRequestGmt,
    DateLocal,
    DateRequestLocal,
    Timestamp,
    Millis,
    Frontend,
    FrontendXprt,
    Backend,
    Server,
    Th,
    Ti,
    TR,
    Tq,
    Tw,
    Tc,
    Tr,
    Td,
    Ta,
    Tt,
    Tu,
    Status,
    Bytes,
    CookieClient,
    CookieServer,
    Termination,
    TerminationCookies,
    ActConn,
    FeConn,
    BeConn,
    SrvConn,
    Retries,
    ServerQueue,
    BackendQueue,
    HeadersRequest,
    HeadersRequestList,
    HeadersResponse,
    HeadersResponseList,
    Request,
    HttpPath,
    HttpPathOnly,
    HttpQuery,
    HttpUri,
    HttpMethod,
    HttpVersion,
    RequestCounter,
    LogCount,
    Hostname,
    Pid,
    UniqueId,
}

/// One piece of a format.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    /// A space (spaces in a row print one, and none at the start).
    Separator,
    /// Text as written.
    Text(String),
    /// `%VAR`.
    Var(Var, Opts),
    /// `%[EXPR]`: the index of its expression.
    Sample(usize, Opts),
}

/// A parsed access-line format.
#[derive(Debug)]
pub(crate) struct LineFormat {
    nodes: Vec<Node>,
    samples: Vec<SampleExpr>,
    /// `%lc`: lines written with this format (HAProxy's per-frontend `log_count`).
    count: AtomicU64,
}

impl LineFormat {
    fn new(nodes: Vec<Node>, samples: Vec<SampleExpr>) -> Self {
        Self {
            nodes,
            samples,
            count: AtomicU64::new(0),
        }
    }

    /// Parses a `log-format` string; the error is HAProxy's (after `failed to parse
    /// log-format : `).
    pub(crate) fn parse(word: &Word) -> Result<Self, String> {
        parse::parse(word)
    }

    /// One of the presets ([`HTTPLOG`], [`HTTPLOG_CLF`], [`TCPLOG`]).
    pub(crate) fn preset(text: &str, span: spoe::config::Span) -> Self {
        match parse::parse(&Word::synthetic(text, span)) {
            Ok(f) => f,
            // The presets are constants the tests parse.
            Err(_) => Self::new(vec![Node::Text(text.to_owned())], Vec::new()),
        }
    }

    /// The `%[EXPR]` expressions, in the order [`Facts::samples`] holds their values.
    pub(crate) fn samples(&self) -> &[SampleExpr] {
        &self.samples
    }

    /// Counts a line written (`%lc`), returning the count before it.
    pub(crate) fn next_count(&self) -> u64 {
        self.count.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn nodes(&self) -> &[Node] {
        &self.nodes
    }
}

#[cfg(test)]
mod tests;
