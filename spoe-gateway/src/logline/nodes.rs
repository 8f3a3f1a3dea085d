//! The pieces of a format.

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
