//! Sample fetches: what a host (a proxy, a test) must provide, and the table of the fetches
//! this implementation knows, with HAProxy's argument types, output types and data sources
//! (`sample_fetch_keywords[]` in `src/http_fetch.c`, `src/tcp_sample.c`, `src/sample.c`,
//! `src/vars.c`).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::Bytes;

use super::args::{ArgType, ArgValue};
use super::counters::{CounterFetch, build_counter, counter_sig};
use super::sample::{Sample, SampleType};
use super::script::{SCRIPT_ARGS, script_args, script_fetch};
use crate::vars::VarName;

/// The host side of expression evaluation: returns the data of the stream being processed.
///
/// Constants (`str()`, `int()`...) and `uuid()` never reach the host; `env()` asks
/// [`env`](Self::env), which reads this process's environment unless the host says otherwise;
/// everything else, `var()`
/// included, does. Return `None` when the data does not exist (no such header, variable unset,
/// no response yet): the expression then yields nothing, which is sent as NULL.
pub trait Fetch {
    /// The single value of a fetch, as a sample expression reads it. For the header fetches
    /// with no occurrence given, that is the **last** occurrence (HAProxy's rule outside ACLs).
    fn fetch(&self, kind: &FetchKind) -> Option<Sample>;

    /// The Lua converter `lua.NAME(args)` on `input` ([`Converter::Lua`](super::Converter::Lua)):
    /// hosts that load Lua files run it; `None` (the default) fails the expression.
    fn lua_convert(&self, name: &str, args: &[String], input: Sample) -> Option<Sample> {
        let _ = (name, args, input);
        None
    }

    /// Every value of a fetch, as an ACL iterates over them: for `req.hdr(name)` with no
    /// occurrence, each occurrence in order (HAProxy also splits `hdr()` values on commas;
    /// `fhdr()` does not). The default returns [`fetch`](Self::fetch)'s value alone.
    fn fetch_all(&self, kind: &FetchKind) -> Vec<Sample> {
        self.fetch(kind).into_iter().collect()
    }

    /// The environment variable `name` for `env()`: this process's by default; a host whose
    /// configuration sets variables (`setenv`) answers with those.
    fn env(&self, name: &str) -> Option<Sample> {
        std::env::var_os(name).map(|v| Sample::Str(Bytes::from(v.into_encoded_bytes())))
    }
}

/// A variable scope, as written before the first dot of a variable name.
///
/// Not [`spop::VarScope`]: the configuration language has a sixth scope,
/// `check` (health checks' variables), which the wire format cannot carry;
/// [`VarScope::to_spop`] maps the five others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VarScope {
    /// `proc`: the process.
    Proc,
    /// `sess`: the client session.
    Sess,
    /// `txn`: the HTTP transaction.
    Txn,
    /// `req`: the request only.
    Req,
    /// `res`: the response only.
    Res,
    /// `check`: health checks.
    Check,
}

impl VarScope {
    /// The scope's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Proc => "proc",
            Self::Sess => "sess",
            Self::Txn => "txn",
            Self::Req => "req",
            Self::Res => "res",
            Self::Check => "check",
        }
    }

    /// The SPOP scope of the same name (`check` has none).
    pub fn to_spop(self) -> Option<spop::VarScope> {
        match self {
            Self::Proc => Some(spop::VarScope::Process),
            Self::Sess => Some(spop::VarScope::Session),
            Self::Txn => Some(spop::VarScope::Transaction),
            Self::Req => Some(spop::VarScope::Request),
            Self::Res => Some(spop::VarScope::Response),
            Self::Check => None,
        }
    }
}

/// A variable reference: `txn.crowdsec.remediation` is scope `txn`, name
/// `crowdsec.remediation`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VarRef {
    /// The scope.
    pub scope: VarScope,
    /// `scope.name`, made (and hashed) when the reference is parsed: reading
    /// or setting the variable builds and hashes no string.
    full: VarName,
}

impl VarRef {
    /// Parses `scope.name` the way HAProxy's `vars_hash_name()` does: a known scope, a
    /// non-empty name of `[a-zA-Z0-9_.]`. The error is HAProxy's wording.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("Empty variable name cannot be accepted".to_owned());
        }
        let scopes = [
            ("proc.", VarScope::Proc),
            ("sess.", VarScope::Sess),
            ("txn.", VarScope::Txn),
            ("req.", VarScope::Req),
            ("res.", VarScope::Res),
            ("check.", VarScope::Check),
        ];
        let Some((scope, name)) = scopes.iter().find_map(|(prefix, scope)| {
            text.strip_prefix(prefix)
                .filter(|rest| !rest.is_empty())
                .map(|rest| (*scope, rest))
        }) else {
            return Err(format!(
                "invalid variable name '{text}'. A variable name must be start by its scope. \
                 The scope can be 'proc', 'sess', 'txn', 'req', 'res' or 'check'"
            ));
        };
        if let Some(at) = name.find(|c: char| !is_var_char(c)) {
            return Err(format!("invalid syntax at char '{}'", &name[at..]));
        }
        Ok(Self {
            scope,
            full: VarName::from(text),
        })
    }

    /// The name after the scope's dot (it may contain dots itself).
    pub fn name(&self) -> &str {
        self.full
            .get(self.scope.name().len() + 1..)
            .unwrap_or_default()
    }

    /// The full name, `scope.name`.
    pub fn full(&self) -> &VarName {
        &self.full
    }
}

impl fmt::Display for VarRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

/// The characters HAProxy accepts in variable names and prefixes.
pub fn is_var_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

/// A fetch with its parsed arguments. Header names are kept as written (HTTP header names are
/// case-insensitive: compare them accordingly). `occ` is HAProxy's occurrence: 1 the first,
/// -1 the last, `None` the default.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchKind {
    /// `src`: the client's address (a PROXY header's, or `set-src`'s, when there is one).
    Src,
    /// `src_port`.
    SrcPort,
    /// `dst`: the address the client connected to (a PROXY header's when there is one).
    Dst,
    /// `dst_port`.
    DstPort,
    /// `fc_src`: the client connection's own source address, whatever a PROXY header said.
    FcSrc,
    /// `fc_src_port`.
    FcSrcPort,
    /// `fc_dst`: the client connection's own destination address.
    FcDst,
    /// `fc_dst_port`.
    FcDstPort,
    /// `fc_rcvd_proxy`: whether the client connection began with a PROXY header.
    FcRcvdProxy,
    /// `fc_pp_authority`: the authority TLV of the PROXY v2 header.
    FcPpAuthority,
    /// `fc_pp_unique_id`: the unique ID TLV of the PROXY v2 header.
    FcPpUniqueId,
    /// `ssl_fc`: whether the client connection uses TLS.
    SslFc,
    /// `ssl_fc_sni`: the server name the client sent in its TLS hello.
    SslFcSni,
    /// `ssl_fc_has_sni`: whether the client hello named a server.
    SslFcHasSni,
    /// `ssl_fc_protocol`: `TLSv1.3`, `TLSv1.2`.
    SslFcProtocol,
    /// `ssl_fc_cipher`: the suite's OpenSSL name.
    SslFcCipher,
    /// `ssl_fc_alpn`: the protocol ALPN chose.
    SslFcAlpn,
    /// `ssl_fc_is_resumed`: the TLS session was resumed.
    SslFcIsResumed,
    /// `ssl_fc_has_crt`: the client sent a certificate on this connection.
    SslFcHasCrt,
    /// `ssl_c_used`: the TLS session has a client certificate.
    SslCUsed,
    /// `ssl_c_verify`, `ssl_c_err`, `ssl_c_ca_err`: the client certificate's
    /// verification error (0: none).
    SslCVerify,
    /// `ssl_c_s_dn([entry[,occ[,format]]])`: the client certificate's subject.
    SslCSDn {
        /// The entry (`CN`), or the whole DN.
        entry: Option<String>,
        /// Which occurrence: 1 the first (the default), -1 the last.
        occ: Option<i64>,
        /// `rfc2253`: the LDAP form.
        rfc2253: bool,
    },
    /// `ssl_c_i_dn([entry[,occ[,format]]])`: its issuer.
    SslCIDn {
        /// The entry (`CN`), or the whole DN.
        entry: Option<String>,
        /// Which occurrence: 1 the first (the default), -1 the last.
        occ: Option<i64>,
        /// `rfc2253`: the LDAP form.
        rfc2253: bool,
    },
    /// `ssl_c_serial`: its serial number (binary).
    SslCSerial,
    /// `ssl_c_sha1`: its SHA-1 fingerprint (binary).
    SslCSha1,
    /// `ssl_c_der`: the certificate, DER (binary).
    SslCDer,
    /// `method`: a string sample (`GET`).
    Method,
    /// `path`.
    Path,
    /// `query`: the part after `?`, without it.
    Query,
    /// `url`: the request target as received.
    Url,
    /// `pathq`: the path and the query string, as received (no scheme nor authority).
    PathQ,
    /// `url_ip`: the IPv4 address of an absolute request target (`http://192.0.2.1/`); no
    /// value for a name, an IPv6 address or an origin-form target (HAProxy's `url2sa()`).
    UrlIp,
    /// `url_port`: the port of an absolute request target with an IPv4 address (80 or 443
    /// by the scheme when none is written).
    UrlPort,
    /// `base32`: a 32-bit hash of `Host` and the path (HAProxy's hash and full avalanche).
    Base32,
    /// `base32+src`: `base32` (4 bytes, network order) followed by the client's address.
    Base32Src,
    /// `url32`: a 32-bit hash of `Host` and the path with its query string.
    Url32,
    /// `url32+src`: `url32` (4 bytes, network order) followed by the client's address.
    Url32Src,
    /// `req.hdr_names([delim])`: the request header names, `,` or `delim` between them.
    ReqHdrNames {
        /// The first character separates names (`,` when `None`).
        delim: Option<String>,
    },
    /// `fe_name`: the name of the frontend that accepted the connection.
    FeName,
    /// `http_auth_type`: the scheme of the request's `Authorization` header (`Basic`,
    /// `Bearer`), as HAProxy's `get_http_auth()` reads it.
    HttpAuthType,
    /// `http_auth_user`: the user name of `Authorization: Basic`.
    HttpAuthUser,
    /// `http_auth_pass`: the password of `Authorization: Basic`.
    HttpAuthPass,
    /// `http_auth_bearer([header])`: the token of `Authorization: Bearer`, or of the named
    /// header.
    HttpAuthBearer {
        /// The header read instead of `Authorization`.
        header: Option<String>,
    },
    /// `http_auth(userlist)`: whether the `Authorization: Basic` credentials are those of a
    /// user of the userlist. The host owns the userlists.
    HttpAuth {
        /// The userlist's name.
        userlist: String,
    },
    /// `http_auth_group(userlist)`: the user name when the credentials are valid in the
    /// userlist; in an ACL, each group of the user (an ACL's patterns are group names, as
    /// HAProxy's `pat_match_auth()`). The host owns the userlists.
    HttpAuthGroup {
        /// The userlist's name.
        userlist: String,
    },
    /// `uuid([4])`: a random version 4 UUID, new at each evaluation, computed by `spoe`
    /// itself (never asked to the host).
    Uuid,
    /// `base`: `Host` header and path.
    Base,
    /// `req.ver`, `req_ver`: `1.1`, `2.0`.
    ReqVer,
    /// `req.hdrs`: the request header block as text (a string sample).
    ReqHdrs,
    /// `req.hdrs_bin`: the request headers in HAProxy's binary form (a binary sample).
    ReqHdrsBin,
    /// `req.hdr([name[,occ]])`: a request header value, split on commas.
    ReqHdr {
        /// Header name (all headers when `None`).
        name: Option<String>,
        /// Occurrence.
        occ: Option<i64>,
    },
    /// `req.fhdr([name[,occ]])`: a full request header value (no comma split).
    ReqFhdr {
        /// Header name.
        name: Option<String>,
        /// Occurrence.
        occ: Option<i64>,
    },
    /// `hdr([name[,occ]])`: a header of the channel being analysed: the request in request
    /// events, the response in response events.
    Hdr {
        /// Header name.
        name: Option<String>,
        /// Occurrence.
        occ: Option<i64>,
    },
    /// `req.hdr_cnt([name])`, `hdr_cnt`: how many request header values.
    ReqHdrCnt {
        /// Header name (all headers when `None`).
        name: Option<String>,
    },
    /// `req.hdr_val([name[,occ]])`, `hdr_val`: a request header value as an integer.
    ReqHdrVal {
        /// Header name.
        name: Option<String>,
        /// Occurrence.
        occ: Option<i64>,
    },
    /// `req.hdr_ip([name[,occ]])`, `hdr_ip`: a request header value as an IPv4 (its leading
    /// dotted quad, a port after it ignored) or IPv6 address.
    ReqHdrIp {
        /// Header name.
        name: Option<String>,
        /// Occurrence.
        occ: Option<i64>,
    },
    /// `req.cook([name])`, `cook`: a request cookie's value.
    ReqCook {
        /// Cookie name (the first cookie when `None`).
        name: Option<String>,
    },
    /// `url_param([name[,delim]])`, `urlp`: a query-string parameter.
    UrlParam {
        /// Parameter name (the first when `None`).
        name: Option<String>,
        /// Delimiter characters (`&` when `None`).
        delim: Option<String>,
    },
    /// `req.len`, `req_len`: bytes of request data buffered.
    ReqLen,
    /// `req.ssl_sni`, `req_ssl_sni`: the server name of a TLS ClientHello in the request
    /// contents (a `mode tcp` connection's first bytes).
    ReqSslSni,
    /// `req.ssl_hello_type`, `req_ssl_hello_type`: the TLS handshake type of the request
    /// contents (1: ClientHello).
    ReqSslHelloType,
    /// `req.ssl_ver`, `req_ssl_ver`: the TLS version the ClientHello announces (`0x0303`...).
    ReqSslVer,
    /// `req.payload(offset,length)`, `payload`: bytes of the request contents (length 0: to
    /// the end of what is buffered).
    ReqPayload {
        /// Where the bytes start.
        offset: i64,
        /// How many.
        length: i64,
    },
    /// `res.len`: bytes of response data buffered.
    ResLen,
    /// `req.body`: the buffered request body (a binary sample).
    ReqBody,
    /// `req.body_len`: the length of the buffered body.
    ReqBodyLen,
    /// `req.body_size`: the announced body size.
    ReqBodySize,
    /// `req.proto_http`: whether the request is valid HTTP.
    ReqProtoHttp,
    /// `status`: the response status code.
    Status,
    /// `res.ver`, `resp_ver`.
    ResVer,
    /// `res.cache_hit`: whether a cache answered (a host with `http-request cache-use`).
    ResCacheHit,
    /// `res.cache_name`: the name of the cache that answered.
    ResCacheName,
    /// `res.hdrs`: the response header block as text.
    ResHdrs,
    /// `res.hdrs_bin`.
    ResHdrsBin,
    /// `res.hdr([name[,occ]])`, `shdr`.
    ResHdr {
        /// Header name.
        name: Option<String>,
        /// Occurrence.
        occ: Option<i64>,
    },
    /// `res.fhdr([name[,occ]])`.
    ResFhdr {
        /// Header name.
        name: Option<String>,
        /// Occurrence.
        occ: Option<i64>,
    },
    /// `res.hdr_cnt([name])`, `shdr_cnt`.
    ResHdrCnt {
        /// Header name.
        name: Option<String>,
    },
    /// `res.hdr_val([name[,occ]])`, `shdr_val`.
    ResHdrVal {
        /// Header name.
        name: Option<String>,
        /// Occurrence.
        occ: Option<i64>,
    },
    /// `res.body`.
    ResBody,
    /// `capture.req.hdr(N)`: request capture slot N of the frontend (`capture request header`,
    /// `http-request capture`, `declare capture request`), in declaration order from 0.
    CaptureReqHdr(i64),
    /// `capture.res.hdr(N)`: response capture slot N of the frontend.
    CaptureResHdr(i64),
    /// `capture.req.method`: the method of the request line kept for the logs (as received,
    /// before any rewrite); no value when the frontend logs no request line.
    CaptureReqMethod,
    /// `capture.req.uri`: the path (with its query) of the request line kept for the logs.
    CaptureReqUri,
    /// `capture.req.ver`: `HTTP/1.1` (HTTP/2 included) or `HTTP/1.0`.
    CaptureReqVer,
    /// `capture.res.ver`: the response's, as `capture.req.ver`.
    CaptureResVer,
    /// `unique-id`: the request's unique ID.
    UniqueId,
    /// `var(name[,default])`: a variable. Hosts return `None` when it is unset; the default,
    /// when given, is then used as a string by [`SampleExpr::eval`](super::SampleExpr::eval)
    /// (HAProxy 2.6's rule).
    Var {
        /// The variable.
        var: VarRef,
        /// The default string.
        default: Option<String>,
    },
    /// `env(name)`: an environment variable of this process, read when evaluated.
    Env {
        /// The variable's name.
        name: String,
    },
    /// `lua.NAME(args...)`: a fetch a Lua file registered; the host runs it.
    Lua {
        /// The registered name (without `lua.`).
        name: String,
        /// The string arguments.
        args: Vec<String>,
    },
    /// A stick-table fetch: `sc_http_req_rate(0)`, `sc0_conn_cur`, `src_conn_rate(t)`,
    /// `table_cnt`... (see [`CounterFetch`]).
    Counter(CounterFetch),
    /// `str()`, `int()`, `bool()`, `ipv4()`, `ipv6()`, `bin()`, `meth()`, `always_true`,
    /// `always_false`, and `wait_end` (true: SPOE evaluates final samples): a constant, never
    /// asked to the host.
    Const(Sample),
}

impl FetchKind {
    /// The constant value of `str()` and friends; `None` for fetches the host answers.
    pub fn constant(&self) -> Option<&Sample> {
        match self {
            Self::Const(s) => Some(s),
            _ => None,
        }
    }

    /// Whether HAProxy iterates over several values of this fetch in ACLs.
    pub(crate) fn multi_valued(&self) -> bool {
        matches!(
            self,
            Self::ReqHdr { occ: None, .. }
                | Self::ReqFhdr { occ: None, .. }
                | Self::Hdr { occ: None, .. }
                | Self::ReqHdrVal { occ: None, .. }
                | Self::ReqHdrIp { occ: None, .. }
                | Self::ResHdr { occ: None, .. }
                | Self::ResFhdr { occ: None, .. }
                | Self::ResHdrVal { occ: None, .. }
                | Self::ReqCook { .. }
                | Self::HttpAuthGroup { .. }
        )
    }
}

/// What data a fetch reads, which decides at which SPOE events it has a value (HAProxy's
/// `SMP_USE_*` / `fetch_cap[]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DataSource {
    /// Nothing from the stream (constants, variables, `unique-id`): usable at every event.
    Internal,
    /// The client connection (`src`, `dst`...): usable at every event.
    Connection,
    /// The client session's transport layer (`ssl_fc`...): every event but
    /// `on-client-session`.
    Session,
    /// HTTP request headers or body (`path`, `req.hdr`, `req.body`...): request events and
    /// `on-server-session`.
    RequestHeaders,
    /// Request data in the buffer (`req.len`): request events and `on-server-session`.
    RequestContent,
    /// Response data in the buffer (`res.len`): response events only.
    ResponseContent,
    /// The HTTP request line (`method`, `req.proto_http`): every event but
    /// `on-client-session`.
    Request,
    /// HTTP response headers or body (`res.hdr`...): response events only.
    ResponseHeaders,
    /// The HTTP status line (`status`): response events only.
    Response,
    /// Request or response headers, depending on the channel (`hdr()`): every event but
    /// `on-client-session`.
    ChannelHeaders,
}

impl DataSource {
    /// How an error message names the data.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Internal => "internal data",
            Self::Connection => "the client connection",
            Self::Session => "the client session",
            Self::RequestHeaders => "HTTP request headers",
            Self::RequestContent => "request contents",
            Self::ResponseContent => "response contents",
            Self::Request => "the HTTP request",
            Self::ResponseHeaders => "HTTP response headers",
            Self::Response => "the HTTP response",
            Self::ChannelHeaders => "HTTP headers",
        }
    }
}

/// A fetch's signature: argument types (the first `min` mandatory), output type, data source.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FetchDef {
    pub(crate) args: &'static [ArgType],
    pub(crate) min: usize,
    pub(crate) out: SampleType,
    pub(crate) source: DataSource,
}

const fn def(
    args: &'static [ArgType],
    min: usize,
    out: SampleType,
    source: DataSource,
) -> FetchDef {
    FetchDef {
        args,
        min,
        out,
        source,
    }
}

const NONE: &[ArgType] = &[];
const HDR: &[ArgType] = &[ArgType::Str, ArgType::Int];
const STR1: &[ArgType] = &[ArgType::Str];
const STR2: &[ArgType] = &[ArgType::Str, ArgType::Str];
const DN: &[ArgType] = &[ArgType::Str, ArgType::Int, ArgType::Str];

use DataSource as D;
use SampleType as T;

/// Every fetch this implementation evaluates (aliases included), with its signature: the one
/// list the parser reads. Adding a fetch: a row here, a [`FetchKind`] variant and its case in
/// [`build_fetch`], then its evaluation by the hosts (for HTTP hosts, `spoe-http`'s `fetch`
/// module, whose tests fail until every name here is answered).
const FETCHES: &[(&str, FetchDef)] = &[
    ("src", def(NONE, 0, T::Ipv4, D::Connection)),
    ("fc_src", def(NONE, 0, T::Ipv4, D::Connection)),
    ("dst", def(NONE, 0, T::Ipv4, D::Connection)),
    ("fc_dst", def(NONE, 0, T::Ipv4, D::Connection)),
    ("src_port", def(NONE, 0, T::Int, D::Connection)),
    ("fc_src_port", def(NONE, 0, T::Int, D::Connection)),
    ("dst_port", def(NONE, 0, T::Int, D::Connection)),
    ("fc_dst_port", def(NONE, 0, T::Int, D::Connection)),
    ("fc_rcvd_proxy", def(NONE, 0, T::Bool, D::Connection)),
    ("fc_pp_authority", def(NONE, 0, T::Str, D::Connection)),
    ("fc_pp_unique_id", def(NONE, 0, T::Str, D::Connection)),
    ("ssl_fc", def(NONE, 0, T::Bool, D::Session)),
    ("ssl_fc_sni", def(NONE, 0, T::Str, D::Session)),
    ("ssl_fc_protocol", def(NONE, 0, T::Str, D::Session)),
    ("ssl_fc_cipher", def(NONE, 0, T::Str, D::Session)),
    ("ssl_fc_alpn", def(NONE, 0, T::Str, D::Session)),
    ("ssl_fc_has_sni", def(NONE, 0, T::Bool, D::Session)),
    ("ssl_fc_is_resumed", def(NONE, 0, T::Bool, D::Session)),
    ("ssl_fc_has_crt", def(NONE, 0, T::Bool, D::Session)),
    ("ssl_c_used", def(NONE, 0, T::Bool, D::Session)),
    ("ssl_c_verify", def(NONE, 0, T::Int, D::Session)),
    ("ssl_c_err", def(NONE, 0, T::Int, D::Session)),
    ("ssl_c_ca_err", def(NONE, 0, T::Int, D::Session)),
    ("ssl_c_s_dn", def(DN, 0, T::Str, D::Session)),
    ("ssl_c_i_dn", def(DN, 0, T::Str, D::Session)),
    ("ssl_c_serial", def(NONE, 0, T::Bin, D::Session)),
    ("ssl_c_sha1", def(NONE, 0, T::Bin, D::Session)),
    ("ssl_c_der", def(NONE, 0, T::Bin, D::Session)),
    ("method", def(NONE, 0, T::Meth, D::Request)),
    ("req.proto_http", def(NONE, 0, T::Bool, D::Request)),
    ("path", def(NONE, 0, T::Str, D::RequestHeaders)),
    ("query", def(NONE, 0, T::Str, D::RequestHeaders)),
    ("url", def(NONE, 0, T::Str, D::RequestHeaders)),
    ("base", def(NONE, 0, T::Str, D::RequestHeaders)),
    ("pathq", def(NONE, 0, T::Str, D::RequestHeaders)),
    ("url_ip", def(NONE, 0, T::Ipv4, D::RequestHeaders)),
    ("url_port", def(NONE, 0, T::Int, D::RequestHeaders)),
    ("base32", def(NONE, 0, T::Int, D::RequestHeaders)),
    ("base32+src", def(NONE, 0, T::Bin, D::RequestHeaders)),
    ("url32", def(NONE, 0, T::Int, D::RequestHeaders)),
    ("url32+src", def(NONE, 0, T::Bin, D::RequestHeaders)),
    ("req.hdr_names", def(STR1, 0, T::Str, D::RequestHeaders)),
    ("fe_name", def(NONE, 0, T::Str, D::Connection)),
    ("http_auth_type", def(NONE, 0, T::Str, D::RequestHeaders)),
    ("http_auth_user", def(NONE, 0, T::Str, D::RequestHeaders)),
    ("http_auth_pass", def(NONE, 0, T::Str, D::RequestHeaders)),
    ("http_auth_bearer", def(STR1, 0, T::Str, D::RequestHeaders)),
    ("http_auth", def(STR1, 1, T::Bool, D::RequestHeaders)),
    ("http_auth_group", def(STR1, 1, T::Str, D::RequestHeaders)),
    ("uuid", def(&[ArgType::Int], 0, T::Str, D::Internal)),
    ("req.ver", def(NONE, 0, T::Str, D::RequestHeaders)),
    ("req_ver", def(NONE, 0, T::Str, D::RequestHeaders)),
    ("req.hdrs", def(NONE, 0, T::Bin, D::RequestHeaders)),
    ("req.hdrs_bin", def(NONE, 0, T::Bin, D::RequestHeaders)),
    ("req.body", def(NONE, 0, T::Bin, D::RequestHeaders)),
    ("req.body_len", def(NONE, 0, T::Int, D::RequestHeaders)),
    ("req.body_size", def(NONE, 0, T::Int, D::RequestHeaders)),
    ("req.len", def(NONE, 0, T::Int, D::RequestContent)),
    ("req_len", def(NONE, 0, T::Int, D::RequestContent)),
    ("req.ssl_sni", def(NONE, 0, T::Str, D::RequestContent)),
    ("req_ssl_sni", def(NONE, 0, T::Str, D::RequestContent)),
    (
        "req.ssl_hello_type",
        def(NONE, 0, T::Int, D::RequestContent),
    ),
    (
        "req_ssl_hello_type",
        def(NONE, 0, T::Int, D::RequestContent),
    ),
    ("req.ssl_ver", def(NONE, 0, T::Int, D::RequestContent)),
    ("req_ssl_ver", def(NONE, 0, T::Int, D::RequestContent)),
    (
        "req.payload",
        def(&[ArgType::Int, ArgType::Int], 2, T::Bin, D::RequestContent),
    ),
    (
        "payload",
        def(&[ArgType::Int, ArgType::Int], 2, T::Bin, D::RequestContent),
    ),
    ("res.len", def(NONE, 0, T::Int, D::ResponseContent)),
    ("req.hdr", def(HDR, 0, T::Str, D::RequestHeaders)),
    ("req.fhdr", def(HDR, 0, T::Str, D::RequestHeaders)),
    ("hdr", def(HDR, 0, T::Str, D::ChannelHeaders)),
    ("req.hdr_cnt", def(STR1, 0, T::Int, D::RequestHeaders)),
    ("hdr_cnt", def(STR1, 0, T::Int, D::RequestHeaders)),
    ("req.hdr_val", def(HDR, 0, T::Int, D::RequestHeaders)),
    ("hdr_val", def(HDR, 0, T::Int, D::RequestHeaders)),
    ("req.hdr_ip", def(HDR, 0, T::Addr, D::RequestHeaders)),
    ("hdr_ip", def(HDR, 0, T::Addr, D::RequestHeaders)),
    ("req.cook", def(STR1, 0, T::Str, D::RequestHeaders)),
    ("cook", def(STR1, 0, T::Str, D::RequestHeaders)),
    ("url_param", def(STR2, 0, T::Str, D::RequestHeaders)),
    ("urlp", def(STR2, 0, T::Str, D::RequestHeaders)),
    ("status", def(NONE, 0, T::Int, D::Response)),
    ("res.cache_hit", def(NONE, 0, T::Bool, D::Response)),
    ("res.cache_name", def(NONE, 0, T::Str, D::Response)),
    ("res.ver", def(NONE, 0, T::Str, D::ResponseHeaders)),
    ("resp_ver", def(NONE, 0, T::Str, D::ResponseHeaders)),
    ("res.hdrs", def(NONE, 0, T::Bin, D::ResponseHeaders)),
    ("res.hdrs_bin", def(NONE, 0, T::Bin, D::ResponseHeaders)),
    ("res.body", def(NONE, 0, T::Bin, D::ResponseHeaders)),
    ("res.hdr", def(HDR, 0, T::Str, D::ResponseHeaders)),
    ("shdr", def(HDR, 0, T::Str, D::ResponseHeaders)),
    ("res.fhdr", def(HDR, 0, T::Str, D::ResponseHeaders)),
    ("res.hdr_cnt", def(STR1, 0, T::Int, D::ResponseHeaders)),
    ("shdr_cnt", def(STR1, 0, T::Int, D::ResponseHeaders)),
    ("res.hdr_val", def(HDR, 0, T::Int, D::ResponseHeaders)),
    ("shdr_val", def(HDR, 0, T::Int, D::ResponseHeaders)),
    // HAProxy's `SMP_USE_HRQHP`/`SMP_USE_HRSHP`: kept for the whole transaction.
    (
        "capture.req.hdr",
        def(&[ArgType::Int], 1, T::Str, D::Request),
    ),
    ("capture.req.method", def(NONE, 0, T::Str, D::Request)),
    ("capture.req.uri", def(NONE, 0, T::Str, D::Request)),
    ("capture.req.ver", def(NONE, 0, T::Str, D::Request)),
    (
        "capture.res.hdr",
        def(&[ArgType::Int], 1, T::Str, D::Response),
    ),
    ("capture.res.ver", def(NONE, 0, T::Str, D::Request)),
    ("unique-id", def(NONE, 0, T::Str, D::Internal)),
    ("var", def(STR2, 1, T::Any, D::Internal)),
    ("env", def(STR1, 1, T::Str, D::Internal)),
    ("str", def(STR1, 1, T::Str, D::Internal)),
    ("int", def(&[ArgType::Int], 1, T::Int, D::Internal)),
    ("bool", def(STR1, 1, T::Bool, D::Internal)),
    ("ipv4", def(&[ArgType::Ipv4], 1, T::Ipv4, D::Internal)),
    ("ipv6", def(&[ArgType::Ipv6], 1, T::Ipv6, D::Internal)),
    ("bin", def(STR1, 1, T::Bin, D::Internal)),
    ("meth", def(STR1, 1, T::Meth, D::Internal)),
    ("always_true", def(NONE, 0, T::Bool, D::Internal)),
    ("always_false", def(NONE, 0, T::Bool, D::Internal)),
    ("wait_end", def(NONE, 0, T::Bool, D::Internal)),
];

/// The signature of a fetch this implementation evaluates.
pub(crate) fn fetch_def(name: &str) -> Option<FetchDef> {
    FETCHES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, d)| *d)
        .or_else(|| {
            let sig = counter_sig(name)?;
            let out = if sig.boolean {
                SampleType::Bool
            } else {
                SampleType::Int
            };
            let source = if sig.of_src {
                DataSource::Connection
            } else {
                DataSource::Internal
            };
            Some(def(sig.args, sig.min, out, source))
        })
        // HAProxy declares Lua fetches with `SMP_USE_HTTP_ANY`.
        .or_else(|| {
            script_fetch(name)?;
            Some(def(
                SCRIPT_ARGS,
                0,
                SampleType::Str,
                DataSource::ChannelHeaders,
            ))
        })
}

/// The name of every fetch the sample language accepts (aliases included), in the order of its
/// table: what a host must be able to answer (see [`Fetch`]).
pub fn fetch_names() -> impl Iterator<Item = &'static str> {
    FETCHES.iter().map(|(n, _)| *n)
}

/// Builds the fetch `name` (known to [`fetch_def`]) from its parsed arguments; an error is the
/// reason HAProxy's argument validator gives.
pub(crate) fn build_fetch(name: &str, args: &[ArgValue]) -> Result<FetchKind, String> {
    let str_arg = |i: usize| args.get(i).and_then(ArgValue::as_str).map(str::to_owned);
    let int_arg = |i: usize| args.get(i).and_then(ArgValue::as_int);
    let hdr = || -> Result<(Option<String>, Option<i64>), String> {
        let occ = int_arg(1);
        if occ.is_some_and(|o| o < -MAX_HDR_HISTORY) {
            return Err(format!("header occurrence must be >= {}", -MAX_HDR_HISTORY));
        }
        Ok((str_arg(0), occ))
    };
    let kind = match name {
        "src" => FetchKind::Src,
        "src_port" => FetchKind::SrcPort,
        "dst" => FetchKind::Dst,
        "dst_port" => FetchKind::DstPort,
        "fc_src" => FetchKind::FcSrc,
        "fc_src_port" => FetchKind::FcSrcPort,
        "fc_dst" => FetchKind::FcDst,
        "fc_dst_port" => FetchKind::FcDstPort,
        "fc_rcvd_proxy" => FetchKind::FcRcvdProxy,
        "fc_pp_authority" => FetchKind::FcPpAuthority,
        "fc_pp_unique_id" => FetchKind::FcPpUniqueId,
        "ssl_fc" => FetchKind::SslFc,
        "ssl_fc_sni" => FetchKind::SslFcSni,
        "ssl_fc_has_sni" => FetchKind::SslFcHasSni,
        "ssl_fc_protocol" => FetchKind::SslFcProtocol,
        "ssl_fc_cipher" => FetchKind::SslFcCipher,
        "ssl_fc_alpn" => FetchKind::SslFcAlpn,
        "ssl_fc_is_resumed" => FetchKind::SslFcIsResumed,
        "ssl_fc_has_crt" => FetchKind::SslFcHasCrt,
        "ssl_c_used" => FetchKind::SslCUsed,
        "ssl_c_verify" | "ssl_c_err" | "ssl_c_ca_err" => FetchKind::SslCVerify,
        "ssl_c_s_dn" | "ssl_c_i_dn" => {
            let entry = str_arg(0).filter(|e| !e.is_empty());
            let occ = int_arg(1).filter(|o| *o != 0);
            let rfc2253 = match str_arg(2).as_deref() {
                None | Some("") => false,
                Some("rfc2253") => true,
                Some(other) => {
                    return Err(format!(
                        "only rfc2253 or a blank value are currently supported as the format argument, got '{other}'"
                    ));
                }
            };
            if name == "ssl_c_s_dn" {
                FetchKind::SslCSDn {
                    entry,
                    occ,
                    rfc2253,
                }
            } else {
                FetchKind::SslCIDn {
                    entry,
                    occ,
                    rfc2253,
                }
            }
        }
        "ssl_c_serial" => FetchKind::SslCSerial,
        "ssl_c_sha1" => FetchKind::SslCSha1,
        "ssl_c_der" => FetchKind::SslCDer,
        "method" => FetchKind::Method,
        "req.proto_http" => FetchKind::ReqProtoHttp,
        "path" => FetchKind::Path,
        "query" => FetchKind::Query,
        "url" => FetchKind::Url,
        "base" => FetchKind::Base,
        "pathq" => FetchKind::PathQ,
        "url_ip" => FetchKind::UrlIp,
        "url_port" => FetchKind::UrlPort,
        "base32" => FetchKind::Base32,
        "base32+src" => FetchKind::Base32Src,
        "url32" => FetchKind::Url32,
        "url32+src" => FetchKind::Url32Src,
        "req.hdr_names" => FetchKind::ReqHdrNames { delim: str_arg(0) },
        "fe_name" => FetchKind::FeName,
        "http_auth_type" => FetchKind::HttpAuthType,
        "http_auth_user" => FetchKind::HttpAuthUser,
        "http_auth_pass" => FetchKind::HttpAuthPass,
        "http_auth_bearer" => FetchKind::HttpAuthBearer {
            header: str_arg(0).filter(|h| !h.is_empty()),
        },
        "http_auth" => FetchKind::HttpAuth {
            userlist: str_arg(0).unwrap_or_default(),
        },
        "http_auth_group" => FetchKind::HttpAuthGroup {
            userlist: str_arg(0).unwrap_or_default(),
        },
        "uuid" => match int_arg(0) {
            None | Some(4) => FetchKind::Uuid,
            Some(v) => return Err(format!("Unsupported UUID version: '{v}'")),
        },
        "req.ver" | "req_ver" => FetchKind::ReqVer,
        "req.hdrs" => FetchKind::ReqHdrs,
        "req.hdrs_bin" => FetchKind::ReqHdrsBin,
        "req.body" => FetchKind::ReqBody,
        "req.body_len" => FetchKind::ReqBodyLen,
        "req.len" | "req_len" => FetchKind::ReqLen,
        "req.ssl_sni" | "req_ssl_sni" => FetchKind::ReqSslSni,
        "req.ssl_hello_type" | "req_ssl_hello_type" => FetchKind::ReqSslHelloType,
        "req.ssl_ver" | "req_ssl_ver" => FetchKind::ReqSslVer,
        "req.payload" | "payload" => {
            let (offset, length) = (int_arg(0).unwrap_or(0), int_arg(1).unwrap_or(0));
            if offset < 0 || length < 0 {
                return Err("payload offset and length must be positive".to_owned());
            }
            FetchKind::ReqPayload { offset, length }
        }
        "res.len" => FetchKind::ResLen,
        "req.body_size" => FetchKind::ReqBodySize,
        "req.hdr" => {
            let (name, occ) = hdr()?;
            FetchKind::ReqHdr { name, occ }
        }
        "req.fhdr" => {
            let (name, occ) = hdr()?;
            FetchKind::ReqFhdr { name, occ }
        }
        "hdr" => {
            let (name, occ) = hdr()?;
            FetchKind::Hdr { name, occ }
        }
        "req.hdr_cnt" | "hdr_cnt" => FetchKind::ReqHdrCnt { name: str_arg(0) },
        "req.hdr_val" | "hdr_val" => {
            let (name, occ) = hdr()?;
            FetchKind::ReqHdrVal { name, occ }
        }
        "req.hdr_ip" | "hdr_ip" => {
            let (name, occ) = hdr()?;
            FetchKind::ReqHdrIp { name, occ }
        }
        "req.cook" | "cook" => FetchKind::ReqCook { name: str_arg(0) },
        "url_param" | "urlp" => FetchKind::UrlParam {
            name: str_arg(0),
            delim: str_arg(1),
        },
        "status" => FetchKind::Status,
        "res.ver" | "resp_ver" => FetchKind::ResVer,
        "res.cache_hit" => FetchKind::ResCacheHit,
        "res.cache_name" => FetchKind::ResCacheName,
        "res.hdrs" => FetchKind::ResHdrs,
        "res.hdrs_bin" => FetchKind::ResHdrsBin,
        "res.body" => FetchKind::ResBody,
        "res.hdr" | "shdr" => {
            let (name, occ) = hdr()?;
            FetchKind::ResHdr { name, occ }
        }
        "res.fhdr" => {
            let (name, occ) = hdr()?;
            FetchKind::ResFhdr { name, occ }
        }
        "res.hdr_cnt" | "shdr_cnt" => FetchKind::ResHdrCnt { name: str_arg(0) },
        "res.hdr_val" | "shdr_val" => {
            let (name, occ) = hdr()?;
            FetchKind::ResHdrVal { name, occ }
        }
        "unique-id" => FetchKind::UniqueId,
        "capture.req.hdr" => FetchKind::CaptureReqHdr(int_arg(0).unwrap_or_default()),
        "capture.res.hdr" => FetchKind::CaptureResHdr(int_arg(0).unwrap_or_default()),
        "capture.req.method" => FetchKind::CaptureReqMethod,
        "capture.req.uri" => FetchKind::CaptureReqUri,
        "capture.req.ver" => FetchKind::CaptureReqVer,
        "capture.res.ver" => FetchKind::CaptureResVer,
        "var" => FetchKind::Var {
            var: VarRef::parse(&str_arg(0).unwrap_or_default())?,
            default: str_arg(1),
        },
        "env" => FetchKind::Env {
            name: str_arg(0).unwrap_or_default(),
        },
        "str" => FetchKind::Const(Sample::str(str_arg(0).unwrap_or_default())),
        "int" => FetchKind::Const(Sample::Int(int_arg(0).unwrap_or_default())),
        "bool" => {
            let text = str_arg(0).unwrap_or_default().to_ascii_lowercase();
            let value = match text.as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err("Expects 'true', 'false', '0' or '1'".to_owned()),
            };
            FetchKind::Const(Sample::Bool(value))
        }
        "ipv4" => match args.first() {
            Some(ArgValue::Ipv4(a)) => FetchKind::Const(Sample::Ipv4(*a)),
            _ => FetchKind::Const(Sample::Ipv4(Ipv4Addr::UNSPECIFIED)),
        },
        "ipv6" => match args.first() {
            Some(ArgValue::Ipv6(a)) => FetchKind::Const(Sample::Ipv6(*a)),
            _ => FetchKind::Const(Sample::Ipv6(Ipv6Addr::UNSPECIFIED)),
        },
        "bin" => FetchKind::Const(Sample::Bin(parse_hex(&str_arg(0).unwrap_or_default())?)),
        "meth" => {
            let m = str_arg(0).unwrap_or_default();
            if !m.bytes().all(is_http_token) {
                return Err("expects valid method.".to_owned());
            }
            FetchKind::Const(Sample::str(m))
        }
        "always_true" | "wait_end" => FetchKind::Const(Sample::Bool(true)),
        "always_false" => FetchKind::Const(Sample::Bool(false)),
        other if counter_sig(other).is_some() => FetchKind::Counter(
            build_counter(other, args).unwrap_or_else(|| unreachable!("known above"))?,
        ),
        other => match script_fetch(other) {
            Some(name) => FetchKind::Lua {
                name: name.to_owned(),
                args: script_args(args),
            },
            None => return Err(format!("internal error: no builder for '{other}'")),
        },
    };
    Ok(kind)
}

/// A version 4 UUID as HAProxy 2.6's `ha_generate_uuid()` writes it: two random 64-bit
/// numbers cut into four 32-bit words, the version and variant bits set, lower-case hex.
pub(crate) fn uuid_v4() -> String {
    let (a, b) = (fastrand::u64(..), fastrand::u64(..));
    let rnd = [a as u32, (a >> 32) as u32, b as u32, (b >> 32) as u32];
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        rnd[0],
        rnd[1] & 0xFFFF,
        ((rnd[1] >> 16) & 0xFFF) | 0x4000,
        (rnd[2] & 0x3FFF) | 0x8000,
        (u64::from(rnd[2] >> 14) | (u64::from(rnd[3]) << 18)) & 0xFFFF_FFFF_FFFF
    )
}

/// HAProxy's `MAX_HDR_HISTORY`: how far back a negative occurrence may reach.
const MAX_HDR_HISTORY: i64 = 10;

/// HAProxy's `parse_binary()`: an even number of hexadecimal digits.
pub(crate) fn parse_hex(text: &str) -> Result<Bytes, String> {
    if !text.len().is_multiple_of(2) {
        return Err("an even number of hex digit is expected".to_owned());
    }
    let mut out = Vec::with_capacity(text.len() / 2);
    for pair in text.as_bytes().chunks(2) {
        let digit = |c: u8| {
            (c as char)
                .to_digit(16)
                .ok_or_else(|| format!("an hex digit is expected (found '{}')", c as char))
        };
        let hi = digit(pair[0])?;
        let lo = digit(pair[1])?;
        out.push((hi * 16 + lo) as u8);
    }
    Ok(Bytes::from(out))
}

/// RFC 7230 `tchar`.
pub(crate) fn is_http_token(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn var_names() {
        let v = VarRef::parse("txn.crowdsec.remediation").unwrap();
        assert_eq!(
            (v.scope, v.name(), v.full().as_str()),
            (
                VarScope::Txn,
                "crowdsec.remediation",
                "txn.crowdsec.remediation"
            )
        );
        assert_eq!(VarRef::parse("sess.x").unwrap().scope, VarScope::Sess);
        assert_eq!(VarRef::parse("proc.x").unwrap().to_string(), "proc.x");
        assert_eq!(VarRef::parse("check.x").unwrap().scope.to_spop(), None);
        assert_eq!(
            VarRef::parse("req.x").unwrap().scope.to_spop(),
            Some(spop::VarScope::Request)
        );
        assert!(
            VarRef::parse("foo.x")
                .unwrap_err()
                .starts_with("invalid variable name 'foo.x'")
        );
        assert!(VarRef::parse("txn.").is_err());
        assert_eq!(
            VarRef::parse("txn.a-b").unwrap_err(),
            "invalid syntax at char '-b'"
        );
        assert_eq!(
            VarRef::parse("").unwrap_err(),
            "Empty variable name cannot be accepted"
        );
    }

    #[test]
    fn constants() {
        let b = |a: &[ArgValue]| build_fetch("bool", a);
        assert_eq!(
            b(&[ArgValue::Str("TRUE".into())]),
            Ok(FetchKind::Const(Sample::Bool(true)))
        );
        assert_eq!(
            b(&[ArgValue::Str("0".into())]),
            Ok(FetchKind::Const(Sample::Bool(false)))
        );
        assert_eq!(
            b(&[ArgValue::Str("yes".into())]).unwrap_err(),
            "Expects 'true', 'false', '0' or '1'"
        );
        assert_eq!(
            parse_hex("0aFF").unwrap(),
            Bytes::from_static(&[0x0a, 0xff])
        );
        assert_eq!(
            parse_hex("abc").unwrap_err(),
            "an even number of hex digit is expected"
        );
        assert_eq!(
            parse_hex("zz").unwrap_err(),
            "an hex digit is expected (found 'z')"
        );
        assert_eq!(
            build_fetch("meth", &[ArgValue::Str("GE T".into())]).unwrap_err(),
            "expects valid method."
        );
        assert_eq!(
            build_fetch("uuid", &[ArgValue::Int(1)]).unwrap_err(),
            "Unsupported UUID version: '1'"
        );
        let u = uuid_v4();
        assert_eq!(u.len(), 36, "{u}");
        assert_eq!(&u[14..15], "4", "{u}");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"), "{u}");
        assert_ne!(uuid_v4(), u);
        assert_eq!(
            build_fetch("req.hdr", &[ArgValue::Str("x".into()), ArgValue::Int(-11)]).unwrap_err(),
            "header occurrence must be >= -10"
        );
    }

    #[test]
    fn every_defined_fetch_builds() {
        for name in [
            "src",
            "fc_src",
            "src_port",
            "fc_src_port",
            "dst",
            "fc_dst",
            "dst_port",
            "fc_dst_port",
            "ssl_fc",
            "ssl_fc_sni",
            "method",
            "req.proto_http",
            "path",
            "query",
            "url",
            "base",
            "pathq",
            "url_ip",
            "url_port",
            "base32",
            "base32+src",
            "url32",
            "url32+src",
            "req.hdr_names",
            "fe_name",
            "uuid",
            "req.ver",
            "req_ver",
            "req.hdrs",
            "req.hdrs_bin",
            "req.body",
            "req.body_len",
            "req.body_size",
            "req.hdr",
            "req.fhdr",
            "hdr",
            "req.hdr_cnt",
            "hdr_cnt",
            "req.hdr_val",
            "hdr_val",
            "req.hdr_ip",
            "hdr_ip",
            "req.cook",
            "cook",
            "url_param",
            "urlp",
            "status",
            "res.ver",
            "resp_ver",
            "res.hdrs",
            "res.hdrs_bin",
            "res.body",
            "res.hdr",
            "shdr",
            "res.fhdr",
            "res.hdr_cnt",
            "shdr_cnt",
            "res.hdr_val",
            "shdr_val",
            "unique-id",
            "always_true",
            "always_false",
            "wait_end",
            "req.len",
            "req_len",
            "res.len",
        ] {
            assert!(fetch_def(name).is_some(), "{name}");
        }
        for name in fetch_names() {
            let needs_args = fetch_def(name).is_some_and(|d| d.min > 0);
            assert!(needs_args || build_fetch(name, &[]).is_ok(), "{name}");
        }
        assert!(fetch_def("ssl_c_notafter").is_none());
    }
}
