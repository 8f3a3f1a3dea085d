//! The typed gateway configuration: what `haproxy.cfg` (the subset the
//! gateway supports) lowers to. Names of fields follow HAProxy's keywords.
//!
//! The gateway's own: outside the crate a configuration is the opaque
//! [`GatewayConfig`] of [`crate::config`], with the few settings the `spoe`
//! command needs before it starts serving.

use crate::logline::LineFormat;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;
use spoe::config::{LogServer, Span, SpoeConfig};
use spoe::expr::{AclSet, Condition, SampleExpr, VarRef};

/// A whole configuration (one generation).
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The `global` section.
    pub(crate) global: Global,
    /// `frontend` sections, and the frontend half of `listen` sections.
    pub(crate) frontends: Vec<Frontend>,
    /// `backend` sections, and the backend half of `listen` sections.
    pub(crate) backends: Vec<Backend>,
    /// Every file read to build this configuration (haproxy.cfg first).
    pub(crate) files: Vec<PathBuf>,
    /// The Lua files (`lua-load`, `lua-load-per-thread`), loaded: their bodies ran while
    /// `global` was parsed, as in HAProxy.
    pub(crate) lua: Option<spoe_lua::LuaRuntime>,
    /// The stick tables (`stick-table` lines), in the order of the file.
    pub(crate) tables: Vec<crate::sticktable::decl::StickTableDecl>,
    /// The `userlist` sections, with the verified credentials of this configuration's
    /// generation (`crate::auth`).
    pub(crate) userlists: Arc<crate::auth::Userlists>,
    /// The `cache` sections.
    pub(crate) caches: Vec<crate::cache::decl::CacheDecl>,
}

impl GatewayConfig {
    /// The backends a `mode tcp` frontend names (`default_backend`, `use_backend NAME`).
    pub(crate) fn tcp_routed_backends(&self) -> std::collections::BTreeSet<&str> {
        self.frontends
            .iter()
            .filter(|f| f.mode == Mode::Tcp)
            .flat_map(|f| {
                f.use_backends
                    .iter()
                    .filter(|u| u.format.is_none())
                    .map(|u| u.backend.as_str())
                    .chain(f.default_backend.as_deref())
            })
            .collect()
    }

    /// The backend called `name`.
    pub(crate) fn backend(&self, name: &str) -> Option<&Backend> {
        self.backends.iter().find(|b| b.name == name)
    }

    /// Every `bind` address of every frontend, in order: where the gateway
    /// listens. Empty means the configuration is valid but cannot serve
    /// (HAProxy's "will not start (no listener)").
    pub fn listeners(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.frontends.iter().flat_map(|f| f.binds.iter().copied())
    }

    /// Whether the gateway would listen anywhere with this configuration.
    pub fn has_listener(&self) -> bool {
        self.listeners().next().is_some()
    }
}

/// HAProxy's default `tune.maxrewrite`.
pub(crate) const DEFAULT_MAXREWRITE: usize = 1024;

/// HAProxy's default `tune.http.logurilen`.
pub(crate) const DEFAULT_LOGURILEN: usize = 1024;

/// HAProxy's default `tune.http.maxhdr`.
pub(crate) const DEFAULT_MAX_HEADERS: usize = 101;

/// HAProxy's default `tune.bufsize`.
pub(crate) const DEFAULT_BUFSIZE: usize = 16384;

/// How `log ADDRESS [format F] FACILITY [LEVEL]` frames the lines it is sent (HAProxy's
/// `format` names; `raw` is the bare line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyslogFormat {
    /// `<PRI>Mmm dd hh:mm:ss TAG[PID]: line`: HAProxy's when no `format` is given (its
    /// unspecified format is `local` without `log-send-hostname`; checked against HAProxy 2.6
    /// over UDP and on stdout).
    #[default]
    Local,
    /// `<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: line` (`localhost` without `log-send-hostname`).
    Rfc3164,
    /// `<PRI>1 ISO-TIME - TAG PID - - line`.
    Rfc5424,
    /// `<PRI>line`.
    Priority,
    /// `<LEVEL>line`.
    Short,
    /// `<LEVEL>ISO-TIME line`.
    Timed,
    /// `ISO-TIME line`.
    Iso,
    /// `line`.
    Raw,
}

impl SyslogFormat {
    /// The format called `name` in `log ... format NAME`.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "local" => Self::Local,
            "rfc3164" => Self::Rfc3164,
            "rfc5424" => Self::Rfc5424,
            "priority" => Self::Priority,
            "short" => Self::Short,
            "timed" => Self::Timed,
            "iso" => Self::Iso,
            "raw" => Self::Raw,
            _ => return None,
        })
    }
}

/// The framing of a `log` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Syslog {
    /// `format F`.
    pub format: SyslogFormat,
    /// The facility's syslog code (`local0` is 16).
    pub facility: u8,
    /// The most verbose level written (`LEVEL`, default `debug`: 7); access
    /// lines are `info` (6), as HAProxy's.
    pub max_level: u8,
}

impl Default for Syslog {
    fn default() -> Self {
        Self {
            format: SyslogFormat::Rfc3164,
            facility: 16,
            max_level: 7,
        }
    }
}

/// The `global` section.
#[derive(Debug, Clone)]
pub(crate) struct Global {
    /// `maxconn`: concurrent client connections, all frontends together.
    pub(crate) maxconn: Option<usize>,
    /// `hard-stop-after`: bound on a stop or on an old generation's drain.
    pub(crate) hard_stop_after: Option<Duration>,
    /// `nbthread`: worker threads of the runtime.
    pub(crate) nbthread: Option<usize>,
    /// `log` lines, in order: where `log global` sends lines.
    pub(crate) logs: Vec<LogServer>,
    /// `tune.bufsize` (16384 by default): the most of a request body that
    /// `option http-buffer-request` waits for and keeps.
    pub(crate) bufsize: usize,
    /// `tune.h2.*`.
    pub(crate) h2: H2Tunes,
    /// The environment `setenv`, `presetenv`, `unsetenv` and `resetenv` left, which `env()`
    /// reads; `None` when no such line changed the process's.
    pub(crate) environment: Option<Arc<BTreeMap<String, String>>>,
    /// `pidfile`: where the gateway writes its pid once it listens (at start; a reload keeps
    /// the file the gateway started with, as HAProxy's master does).
    pub(crate) pidfile: Option<PathBuf>,
    /// `stats socket` lines: where the runtime API listens.
    pub(crate) stats_sockets: Vec<StatsSocket>,
    /// `stats timeout` (10 s by default): an idle runtime API connection in prompt mode is
    /// closed after this long.
    pub(crate) stats_timeout: Duration,
    /// `stats maxconn` (10 by default): runtime API connections open at once, per socket.
    pub(crate) stats_maxconn: usize,
    /// `daemon`, `user`/`uid`, `group`/`gid`, `chroot`: what the process becomes at start.
    pub(crate) process: Process,
    /// `resolvers` sections, in order.
    pub(crate) resolvers: Vec<Arc<crate::resolve::Resolvers>>,
    /// `tune.rcvbuf.*`, `tune.sndbuf.*`: every connection's socket buffers.
    pub(crate) buf_tunes: crate::sockopt::BufTunes,
    /// `tune.maxrewrite` (1024 by default): what a request head leaves free of
    /// `tune.bufsize` (a longer head is refused, as HAProxy).
    pub(crate) maxrewrite: usize,
    /// `tune.http.maxhdr` (101 by default): the most header fields a request or response has.
    pub(crate) max_headers: usize,
    /// `maxconnrate`, `maxsessrate`, `maxsslrate`: connections (TLS ones for the last) the
    /// process accepts a second (0: no bound).
    pub(crate) max_conn_rate: u64,
    pub(crate) max_sess_rate: u64,
    pub(crate) max_ssl_rate: u64,
    /// `tune.http.logurilen` plus one (HAProxy's `requri_len`, 1024 by default): the request
    /// line the logs read is cut to one byte less.
    pub(crate) logurilen: usize,
}

/// What `global` makes of the process at start (`src/haproxy.c`'s `main()` and
/// `set_identity()` in HAProxy 2.6): in the background, and once listening, in a new root
/// directory and with a new group and user. Fixed at start: a reload that changes it is
/// refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Process {
    /// `daemon`: the command returns once the gateway listens, which goes on in the background
    /// (unless started with `-db`/`--foreground`).
    pub(crate) daemon: bool,
    /// `user`/`uid`: the user the gateway becomes once listening (0: unchanged, as HAProxy).
    pub(crate) uid: u32,
    /// `group`/`gid`: the group the gateway becomes once listening, with no supplementary
    /// group (0: unchanged, as HAProxy).
    pub(crate) gid: u32,
    /// `chroot`: the root directory the gateway enters once listening.
    pub(crate) chroot: Option<PathBuf>,
    /// `ulimit-n`, `fd-hard-limit`, `strict-limits`: the open files limit set at start.
    pub(crate) files: FilesLimit,
    /// `cpu-map`: the CPUs the process and each worker thread run on.
    pub(crate) cpu_map: crate::affinity::CpuMap,
    /// `set-dumpable`: the process stays dumpable (core dumps) once it changed user.
    pub(crate) dumpable: bool,
}

/// The open files limit `global` asks for (`main()` in HAProxy 2.6's `src/haproxy.c`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FilesLimit {
    /// `ulimit-n`: the soft limit wanted (`None`: as high as the hard limit allows).
    pub(crate) ulimit_n: Option<u64>,
    /// `fd-hard-limit`: never above this.
    pub(crate) hard_limit: Option<u64>,
    /// `strict-limits` (HAProxy 2.6's default; `no strict-limits` clears it): a limit that
    /// cannot be set stops the start instead of a warning.
    pub(crate) strict: bool,
}

impl Default for FilesLimit {
    fn default() -> Self {
        Self {
            ulimit_n: None,
            hard_limit: None,
            strict: true,
        }
    }
}

/// HAProxy's `tune.h2.*` settings, applied to every HTTP/2 client connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct H2Tunes {
    /// `tune.h2.header-table-size` (4096): the HPACK table the gateway keeps.
    pub(crate) header_table_size: u32,
    /// `tune.h2.initial-window-size` (65535): each stream's receive window.
    pub(crate) initial_window_size: u32,
    /// `tune.h2.max-concurrent-streams` (100).
    pub(crate) max_concurrent_streams: u32,
    /// `tune.h2.max-frame-size` (16384).
    pub(crate) max_frame_size: u32,
}

impl Default for H2Tunes {
    fn default() -> Self {
        Self {
            header_table_size: 4096,
            initial_window_size: 65535,
            max_concurrent_streams: 100,
            max_frame_size: 16384,
        }
    }
}

/// What a `bind` line says beyond its addresses.
#[derive(Debug, Clone, Default)]
pub(crate) struct BindConf {
    /// `ssl crt ...`: TLS, with its certificates loaded.
    pub(crate) tls: Option<Arc<crate::tls::TlsBind>>,
    /// `proto h2`: HTTP/2 whatever ALPN says (on a clear-text bind: prior
    /// knowledge).
    pub(crate) h2: bool,
    /// `accept-proxy`: a PROXY protocol header (v1 or v2) comes first and says the client's
    /// addresses (`crate::proxy_proto::recv`).
    pub(crate) accept_proxy: bool,
}

impl Default for Global {
    fn default() -> Self {
        Self {
            maxconn: None,
            hard_stop_after: None,
            nbthread: None,
            logs: Vec::new(),
            bufsize: DEFAULT_BUFSIZE,
            buf_tunes: crate::sockopt::BufTunes::default(),
            maxrewrite: DEFAULT_MAXREWRITE,
            max_headers: DEFAULT_MAX_HEADERS,
            max_conn_rate: 0,
            max_sess_rate: 0,
            max_ssl_rate: 0,
            logurilen: DEFAULT_LOGURILEN,
            h2: H2Tunes::default(),
            environment: None,
            pidfile: None,
            stats_sockets: Vec::new(),
            stats_timeout: DEFAULT_STATS_TIMEOUT,
            stats_maxconn: DEFAULT_STATS_MAXCONN,
            process: Process::default(),
            resolvers: Vec::new(),
        }
    }
}

/// `stats timeout` when none is configured (HAProxy's).
pub(crate) const DEFAULT_STATS_TIMEOUT: Duration = Duration::from_secs(10);

/// `stats maxconn` when none is configured (HAProxy's).
pub(crate) const DEFAULT_STATS_MAXCONN: usize = 10;

/// What a runtime API connection may do (`level`): HAProxy's access levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum CliLevel {
    /// `user`: read-only, without sensitive data.
    User,
    /// `operator` (the default): read-only, and a few harmless commands.
    Operator,
    /// `admin`: everything, servers' state and weight included.
    Admin,
}

/// Where a `stats socket` listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StatsAddr {
    /// A Unix socket path.
    Unix(PathBuf),
    /// `ipv4@ADDR:PORT`, `ipv6@...` or `ADDR:PORT`.
    Tcp(SocketAddr),
}

/// A `stats socket` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StatsSocket {
    /// The address.
    pub(crate) addr: StatsAddr,
    /// `mode`: the Unix socket file's permissions.
    pub(crate) mode: Option<u32>,
    /// `uid`/`user`, `gid`/`group`: the Unix socket file's owner.
    pub(crate) owner: (Option<u32>, Option<u32>),
    /// `level` (`operator` by default).
    pub(crate) level: CliLevel,
}

/// `stats ...` lines of a proxy (HAProxy's `uri_auth`): the statistics page it serves.
#[derive(Debug, Clone)]
pub(crate) struct StatsPage {
    /// `stats uri` (`/haproxy?stats` by default): the prefix of the page's requests.
    pub(crate) uri: Arc<str>,
    /// `stats realm` (`HAProxy Statistics` by default), asked for with `stats auth`.
    pub(crate) realm: Option<String>,
    /// `stats auth USER:PASSWORD` lines: without any, the page is open.
    pub(crate) users: Vec<(String, String)>,
    /// `stats refresh`: the page's `Refresh` header.
    pub(crate) refresh: Option<Duration>,
    /// `stats admin if|unless COND`: who may set servers' state from the page.
    pub(crate) admin: Vec<Condition>,
    /// `stats hide-version`.
    pub(crate) hide_version: bool,
    /// `stats show-legends`.
    pub(crate) show_legends: bool,
    /// `stats show-node [NAME]`: `Some("")` shows the host name.
    pub(crate) show_node: Option<String>,
    /// `stats show-desc [TEXT]`.
    pub(crate) show_desc: Option<String>,
    /// `stats scope NAME` lines: the proxies shown (all without any; `.` is this one).
    pub(crate) scope: Vec<String>,
}

impl Default for StatsPage {
    /// HAProxy's defaults (`stats_check_init_uri_auth()`): `stats enable` alone.
    fn default() -> Self {
        Self {
            uri: Arc::from(DEFAULT_STATS_URI),
            realm: None,
            users: Vec::new(),
            refresh: None,
            admin: Vec::new(),
            hide_version: false,
            show_legends: false,
            show_node: None,
            show_desc: None,
            scope: Vec::new(),
        }
    }
}

/// `stats uri` when none is configured (HAProxy's).
pub(crate) const DEFAULT_STATS_URI: &str = "/haproxy?stats";

/// `stats realm` when none is configured (HAProxy's).
pub(crate) const DEFAULT_STATS_REALM: &str = "HAProxy Statistics";

/// The `timeout` values of a proxy (after `defaults` were applied).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Timeouts {
    /// `timeout client`: inactivity on the client side.
    pub(crate) client: Option<Duration>,
    /// `timeout server`: inactivity on the server side.
    pub(crate) server: Option<Duration>,
    /// `timeout connect`: connecting to a server.
    pub(crate) connect: Option<Duration>,
    /// `timeout http-request`: receiving a whole request head.
    pub(crate) http_request: Option<Duration>,
    /// `timeout http-keep-alive`: waiting for the next request.
    pub(crate) http_keep_alive: Option<Duration>,
    /// `timeout queue`: waiting for a server slot.
    pub(crate) queue: Option<Duration>,
    /// `timeout check`: once a health check is connected, how long its answer may take.
    pub(crate) check: Option<Duration>,
    /// `timeout tunnel`: inactivity of a tunnel (after a `101 Switching Protocols`, or a
    /// `mode tcp` connection once connected), both sides; without it `timeout client` and
    /// `timeout server` go on applying to their side.
    pub(crate) tunnel: Option<Duration>,
    /// `timeout client-fin`: inactivity on the client side once the gateway has shut its
    /// write side towards the client (`mode tcp`).
    pub(crate) client_fin: Option<Duration>,
    /// `timeout server-fin`: inactivity on the server side once the gateway has shut its
    /// write side towards the server (`mode tcp`).
    pub(crate) server_fin: Option<Duration>,
    /// `timeout tarpit`: how long `http-request tarpit` holds a request (`timeout connect`
    /// without it).
    pub(crate) tarpit: Option<Duration>,
}

/// `option forwardfor [except NET] [header NAME] [if-none]` of one proxy (HAProxy keeps the
/// header name and the network per proxy: a request reads both its frontend's and backend's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ForwardFor {
    /// `header NAME` (`X-Forwarded-For` by default).
    pub(crate) header: hyper::header::HeaderName,
    /// `except NET`: clients in it get no header.
    pub(crate) except: Option<Net>,
    /// Without `if-none`: added even when the request has the header already.
    pub(crate) always: bool,
}

pub(crate) use crate::net::Net;

/// The HTTP connection mode of a proxy (`PR_O_HTTP_MODE`: `option http-keep-alive`,
/// `http-server-close`, `httpclose`; the last one read wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum HttpMode {
    /// Both sides kept alive (HAProxy's default).
    #[default]
    KeepAlive,
    /// `option http-server-close`: a server connection serves one request.
    ServerClose,
    /// `option httpclose`: server connections serve one request; a frontend's client
    /// connections close after each response too.
    Close,
}

/// A `filter spoe [engine NAME] config FILE` line, with its file parsed.
#[derive(Debug, Clone)]
pub(crate) struct SpoeFilterDecl {
    /// `engine NAME` (the `[NAME]` scope of the file), if given.
    pub(crate) engine: Option<String>,
    /// The parsed engine.
    pub(crate) config: Arc<SpoeConfig>,
    /// Where the `filter` line is.
    pub(crate) span: Span,
}

/// `use_backend NAME [if|unless COND]`.
#[derive(Debug, Clone)]
pub(crate) struct UseBackend {
    /// The backend's name (the format's text when [`format`](Self::format) is set).
    pub(crate) backend: String,
    /// A log-format name (`use_backend %[...]`), built for each request: a name that is no
    /// HTTP backend's sends the request to `default_backend`, as HAProxy does.
    pub(crate) format: Option<Arc<LogFormat>>,
    /// The condition.
    pub(crate) cond: Option<Condition>,
}

/// A piece of a log-format string: `text %[fetch,conv] text`.
#[derive(Debug, Clone)]
pub(crate) enum LogFormatPart {
    /// Literal text.
    Text(String),
    /// `%[expr]`: the expression's value as text (empty when missing).
    Sample(SampleExpr),
}

/// A log-format string (`set-header`, `return hdr`, `lf-string`, `redirect`).
#[derive(Debug, Clone, Default)]
pub(crate) struct LogFormat(pub(crate) Vec<LogFormatPart>);

/// The body of `http-request return`.
#[derive(Debug, Clone)]
pub(crate) enum ReturnBody {
    /// `string TEXT`.
    String(String),
    /// `lf-string FMT`.
    LogFormat(LogFormat),
}

/// `redirect location|prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RedirectKind {
    /// `location`: the whole target.
    Location,
    /// `prefix`: prepended to the request's path.
    Prefix,
    /// `scheme`: the request's URL with this scheme (`https://HOST/PATH`).
    Scheme,
}

/// A custom reply's parts (`http_parse_http_reply()`): `deny` with `hdr`, `content-type`,
/// `string` or `lf-string` (`return` holds the same parts itself).
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    /// `content-type`.
    pub(crate) content_type: Option<String>,
    /// `hdr NAME FMT`, in order.
    pub(crate) headers: Vec<(String, LogFormat)>,
    /// The body (none: an empty one).
    pub(crate) body: Option<ReturnBody>,
}

/// The part of the request line a `set-*` / `replace-*` action rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinePart {
    /// `set-method`.
    Method,
    /// `set-path`, `replace-path`: the path, the query kept.
    Path,
    /// `set-pathq`, `replace-pathq`: the path with its query.
    PathQuery,
    /// `set-query`: the query (without `?`).
    Query,
    /// `set-uri`, `replace-uri`: the whole target.
    Uri,
}

/// The value `sc-set-gpt0` sets.
#[derive(Debug, Clone)]
pub(crate) enum GptValue {
    /// An integer.
    Int(i64),
    /// A sample expression, converted to an integer.
    Expr(SampleExpr),
}

/// What an `http-request` / `http-response` rule does.
#[derive(Debug, Clone)]
pub(crate) enum HttpAction {
    /// `http-request cache-use NAME`: a fresh object of the cache answers
    /// (`crate::cache`).
    CacheUse { cache: String },
    /// `http-response cache-store NAME`: the response is stored in the cache.
    CacheStore { cache: String },
    /// `deny [deny_status N]` (403 by default on a request, 502 on a response), with HAProxy's
    /// error page for the status, or a custom reply (`hdr`, `content-type`, `string`...).
    Deny {
        /// The status.
        status: u16,
        /// The custom reply (none: HAProxy's error page).
        reply: Option<Box<Reply>>,
    },
    /// `silent-drop`: the connection is closed at once with no answer (a reset).
    SilentDrop,
    /// `auth [realm R]`: HAProxy's 401 page asking for Basic credentials of the realm (the
    /// rule's proxy name without `realm`).
    Auth {
        /// The realm.
        realm: String,
    },
    /// `tarpit [deny_status N] ...`: the request is held `timeout tarpit` (of the backend
    /// when one is assigned), then answered as `deny` would (500 by default) and the
    /// connection closed.
    Tarpit {
        /// The status.
        status: u16,
        /// The custom reply (none: HAProxy's error page).
        reply: Option<Box<Reply>>,
    },
    /// `allow`: the rest of this rule list is skipped.
    Allow,
    /// `set-status N [reason R]` on a response.
    SetStatus {
        /// The status.
        status: u16,
        /// The reason phrase (none: the status's usual one).
        reason: Option<String>,
    },
    /// `replace-header NAME REGEX FMT` (each whole value) and `replace-value NAME REGEX FMT`
    /// (each comma-separated value): a matching value becomes FMT with `\N` replaced by
    /// the regex's groups.
    ReplaceHeader {
        /// Header name.
        name: String,
        /// What a value must match (anywhere in it).
        regex: Regex,
        /// The new value.
        replace: LogFormat,
        /// `replace-value`: each comma-separated value apart.
        values: bool,
    },
    /// `set-method|set-path|set-pathq|set-query|set-uri FMT`.
    SetLine {
        /// What is rewritten.
        part: LinePart,
        /// Its new value.
        value: LogFormat,
    },
    /// `replace-path|replace-pathq|replace-uri REGEX FMT`: the part becomes FMT (groups
    /// expanded) when it matches.
    ReplaceLine {
        /// What is rewritten.
        part: LinePart,
        /// What it must match.
        regex: Regex,
        /// Its new value.
        replace: LogFormat,
    },
    /// `return [status N] [content-type T] [hdr NAME FMT]... [string S | lf-string FMT]`.
    Return {
        /// The status (200 by default).
        status: u16,
        /// `content-type`.
        content_type: Option<String>,
        /// `hdr NAME FMT`, in order.
        headers: Vec<(String, LogFormat)>,
        /// The body.
        body: Option<ReturnBody>,
    },
    /// `set-header NAME FMT`.
    SetHeader {
        /// Header name.
        name: String,
        /// Value.
        value: LogFormat,
    },
    /// `add-header NAME FMT`.
    AddHeader {
        /// Header name.
        name: String,
        /// Value.
        value: LogFormat,
    },
    /// `del-header NAME`.
    DelHeader {
        /// Header name.
        name: String,
    },
    /// `set-var(NAME) EXPR`.
    /// `set-src|set-src-port|set-dst|set-dst-port EXPR`: the request's client or
    /// destination address or port becomes the expression's value (`crate::stream_addr`).
    SetAddr {
        /// Which address or port.
        part: AddrPart,
        /// The new value (an address, or a port).
        expr: SampleExpr,
    },
    SetVar {
        /// The variable.
        var: VarRef,
        /// Its new value.
        expr: SampleExpr,
    },
    /// `track-sc0|1|2 KEY [table T]`: stick counter `slot` tracks the key's entry.
    TrackSc {
        /// 0, 1 or 2.
        slot: u8,
        /// The key.
        key: SampleExpr,
        /// The table (the proxy's own when the line names none: filled in once every
        /// proxy is read).
        table: String,
    },
    /// `sc-inc-gpc0(N)`, `sc-inc-gpc1(N)`: the counter (and its rate) of stick counter N's
    /// entry.
    ScIncGpc {
        /// The stick counter.
        slot: u8,
        /// 0: `gpc0`, 1: `gpc1`.
        which: u8,
    },
    /// `sc-set-gpt0(N) INT|EXPR`.
    ScSetGpt0 {
        /// The stick counter.
        slot: u8,
        /// The value (an integer is a constant expression).
        value: GptValue,
    },
    /// `send-spoe-group ENGINE GROUP`.
    SendSpoeGroup {
        /// The filter's engine name.
        engine: String,
        /// The group.
        group: String,
    },
    /// `redirect location|prefix|scheme TARGET [code N] [drop-query] [append-slash]` (302 by
    /// default).
    Redirect {
        /// Location, prefix or scheme.
        kind: RedirectKind,
        /// The target.
        target: LogFormat,
        /// The status.
        code: u16,
        /// `drop-query` (prefix and scheme): the query is left out.
        drop_query: bool,
        /// `append-slash` (with `drop-query`): a `/` is added to a path without one.
        append_slash: bool,
    },
    /// `use-service prometheus-exporter`.
    PrometheusExporter,
    /// `set-log-level LEVEL|silent`: the level of the request's access line (`None`: no line).
    SetLogLevel {
        /// The syslog level (0 emerg to 7 debug), or `None` for `silent`.
        level: Option<u8>,
    },
    /// `http-request lua.NAME [args...]` / `http-response lua.NAME [args...]`: an action a
    /// Lua file registered.
    Lua {
        /// The registered name.
        name: String,
        /// The rule's arguments (as many as the action was registered with).
        args: Vec<String>,
    },
    /// `http-request use-service lua.NAME`: an HTTP service a Lua file registered.
    LuaService {
        /// The registered name.
        name: String,
    },
    /// `http-request capture EXPR len N|id N`, `http-response capture EXPR id N`: the
    /// expression's value as text, cut at the slot's length, into a capture slot of the
    /// frontend (of the request or the response, as the rule's list).
    Capture {
        /// What is stored.
        expr: SampleExpr,
        /// The slot's index among the frontend's.
        slot: usize,
    },
}

/// A capture slot of a frontend (HAProxy's `struct cap_hdr`): `capture request|response
/// header NAME len N` (a header's last value), `declare capture request|response len N` and
/// `http-request capture EXPR len N` (filled by rules).
#[derive(Debug, Clone)]
pub(crate) struct CaptureSlot {
    /// The header captured as the message arrives, if any.
    pub(crate) header: Option<hyper::header::HeaderName>,
    /// The most bytes kept.
    pub(crate) len: usize,
}

/// A frontend's capture slots, each list in declaration order (`capture.req.hdr(N)`, `%hr`).
#[derive(Debug, Clone, Default)]
pub(crate) struct CaptureSlots {
    /// Request slots.
    pub(crate) request: Vec<CaptureSlot>,
    /// Response slots.
    pub(crate) response: Vec<CaptureSlot>,
}

/// One rule: an action and its optional condition.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    /// The action.
    pub(crate) action: HttpAction,
    /// `if|unless COND`.
    pub(crate) cond: Option<Condition>,
    /// Where the rule is.
    pub(crate) span: Span,
}

/// What a `tcp-request connection|content` rule does.
#[derive(Debug, Clone)]
pub(crate) enum TcpAction {
    /// `accept`: the connection goes on; later rules of the same kind are not run.
    Accept,
    /// `reject`: the connection is closed.
    Reject,
    /// `expect-proxy layer4` (`tcp-request connection` only): a PROXY header comes first, as
    /// on a `bind ... accept-proxy`; the next rules run.
    ExpectProxy,
    /// `set-var(NAME) EXPR` (`tcp-request content` of a `mode http` frontend only): the
    /// next rules run.
    SetVar {
        /// The variable.
        var: VarRef,
        /// Its new value.
        expr: SampleExpr,
    },
}

/// What `set-src`, `set-src-port`, `set-dst` or `set-dst-port` changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AddrPart {
    /// `set-src`: the client's address (its port kept).
    Src,
    /// `set-src-port`.
    SrcPort,
    /// `set-dst`: the address the client connected to (its port kept).
    Dst,
    /// `set-dst-port`.
    DstPort,
}

/// A `tcp-request connection|content ACTION [if|unless COND]` line.
#[derive(Debug, Clone)]
pub(crate) struct TcpRule {
    /// The action.
    pub(crate) action: TcpAction,
    /// Where the line is.
    pub(crate) span: Span,
    /// `if|unless COND`.
    pub(crate) cond: Option<Condition>,
}

/// A frontend's `tcp-request` lines.
#[derive(Debug, Clone, Default)]
pub(crate) struct TcpRules {
    /// `tcp-request connection`: run once a connection is accepted, on the connection alone.
    pub(crate) connection: Vec<TcpRule>,
    /// `tcp-request content`: run on the first bytes of a `mode tcp` connection, and on each
    /// request of a `mode http` frontend before its HTTP rules.
    pub(crate) content: Vec<TcpRule>,
    /// `tcp-request inspect-delay`: how long the content rules may wait for bytes.
    pub(crate) inspect_delay: Option<Duration>,
}

/// A `frontend` (or the frontend half of a `listen`).
#[derive(Debug, Clone)]
pub(crate) struct Frontend {
    /// The name.
    pub(crate) name: String,
    /// `mode` (HAProxy's default: `tcp`): a `tcp` frontend copies bytes to a `tcp` backend's
    /// server (`crate::tcp`), and serves HTTP when its backend is in `mode http`.
    pub(crate) mode: Mode,
    /// `bind ADDR:PORT` lines.
    pub(crate) binds: Vec<SocketAddr>,
    /// What each `bind` address's line says beyond the address (TLS, HTTP/2);
    /// an address without an entry serves clear-text HTTP/1.1.
    pub(crate) bind_confs: Vec<(SocketAddr, Arc<BindConf>)>,
    /// `bind ... v6only` (`true`) or `v4v6` (`false`) for IPv6 addresses; the others keep the
    /// system's default (`net.ipv6.bindv6only`), as in HAProxy.
    pub(crate) ipv6_only: Vec<(SocketAddr, bool)>,
    /// `bind ... maxconn N` (N > 0): each such address's own limit.
    pub(crate) bind_maxconn: Vec<(SocketAddr, usize)>,
    /// `bind ... backlog|defer-accept|mss|tfo|tcp-ut|interface|transparent`: each such
    /// address's listening socket options.
    pub(crate) listener_opts: Vec<(SocketAddr, crate::sockopt::ListenerOpts)>,
    /// `option clitcpka|tcpka|nolinger|tcp-smart-accept`, `clitcpka-*`: its client sockets.
    pub(crate) client_sock: crate::sockopt::ClientSock,
    /// Timeouts (with `defaults` applied).
    pub(crate) timeouts: Timeouts,
    /// `maxconn` (`None`: the global one applies).
    pub(crate) maxconn: Option<usize>,
    /// `rate-limit sessions`: connections accepted a second (0: no bound).
    pub(crate) sess_rate: u64,
    /// `acl` lines (and anonymous ACLs of its conditions).
    pub(crate) acls: AclSet,
    /// `http-request` rules, in order.
    pub(crate) http_request: Vec<Rule>,
    /// `http-response` rules, in order.
    pub(crate) http_response: Vec<Rule>,
    /// `http-after-response` rules, in order.
    pub(crate) http_after_response: Vec<Rule>,
    /// `redirect` lines, run after the `http-request` rules.
    pub(crate) redirects: Vec<Rule>,
    /// `use_backend` rules, in order.
    pub(crate) use_backends: Vec<UseBackend>,
    /// `default_backend`.
    pub(crate) default_backend: Option<String>,
    /// `tcp-request` lines.
    pub(crate) tcp_rules: Arc<TcpRules>,
    /// `filter spoe` lines.
    pub(crate) filters: Vec<SpoeFilterDecl>,
    /// `option http-buffer-request`: wait for the body (up to `tune.bufsize`)
    /// before the frontend's SPOE events and rules.
    pub(crate) http_buffer_request: bool,
    /// `option httplog|tcplog`, `log-format`: the access line written when a request ends.
    /// Without one, HAProxy's `Connect from` line when a request starts.
    pub(crate) access_format: Option<Arc<LineFormat>>,
    /// Which access lines are written, at which level.
    pub(crate) log_options: LogOptions,
    /// `log` lines in effect (`defaults`' first, `log global` replaced by the global
    /// section's lines, `no log` clearing those before it): where its lines go. Empty: it
    /// logs nothing.
    pub(crate) logs: Vec<LogServer>,
    /// `unique-id-format`: the request's unique ID (`unique-id`), built when first read.
    pub(crate) unique_id_format: Option<Arc<LogFormat>>,
    /// `unique-id-header`: sent to the server with the ID (with a format only, as HAProxy).
    pub(crate) unique_id_header: Option<hyper::header::HeaderName>,
    /// `monitor-uri`: the path (starting with `/`) or target the frontend answers itself.
    pub(crate) monitor_uri: Option<Arc<str>>,
    /// `errorfile` lines (with `defaults`'): the frontend's pages, by status.
    pub(crate) errorfiles: crate::errorfile::ErrorFiles,
    /// `compression ...` (`crate::compress`).
    pub(crate) compression: Option<Arc<Compression>>,
    /// `stats enable|uri|...`: the statistics page, after its `http-request` rules.
    pub(crate) stats: Option<Arc<StatsPage>>,
    /// `option forwardfor`.
    pub(crate) forwardfor: Option<ForwardFor>,
    /// `option originalto` (the same settings but `if-none`).
    pub(crate) originalto: Option<ForwardFor>,
    /// `option http-keep-alive|http-server-close|httpclose`.
    pub(crate) http_mode: HttpMode,
    /// `capture request|response header`, `declare capture`, `http-request capture ... len`.
    pub(crate) captures: Option<Arc<CaptureSlots>>,
}

impl Frontend {
    /// `option tcp-smart-accept` for its listener on `local`: as written, else HAProxy's
    /// default, on in `mode http` and on TLS listeners.
    pub(crate) fn smart_accept(&self, local: SocketAddr) -> bool {
        self.client_sock.smart_accept.unwrap_or_else(|| {
            self.mode == Mode::Http || self.bind_conf(local).is_some_and(|c| c.tls.is_some())
        })
    }

    /// The `bind` settings of the address a connection arrived on (`local`),
    /// matched as [`Frontend::binds`] are (a wildcard address serves every
    /// local address of its port).
    pub(crate) fn bind_conf(&self, local: SocketAddr) -> Option<&Arc<BindConf>> {
        self.bind_confs
            .iter()
            .find(|(b, _)| *b == local)
            .or_else(|| {
                self.bind_confs
                    .iter()
                    .find(|(b, _)| b.port() == local.port() && b.ip().is_unspecified())
            })
            .map(|(_, c)| c)
    }
}

/// A frontend's options on its access lines (HAProxy's `PR_O_NULLNOLOG`, `PR_O2_NOLOGNORM`,
/// `PR_O2_LOGERRORS`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LogOptions {
    /// `option dontlognull`: no line for a connection that sent nothing.
    pub(crate) dont_log_null: bool,
    /// `option dontlog-normal`: lines only for errors (a termination state other than `--`
    /// or `L*`, or a status of 500 or more).
    pub(crate) dont_log_normal: bool,
    /// `option log-separate-errors`: errors at level `err` rather than `info`.
    pub(crate) separate_errors: bool,
}

/// `mode` of a proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Mode {
    /// `mode http`.
    #[default]
    Http,
    /// `mode tcp` (only for the agents' backends).
    Tcp,
}

/// `balance`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum Balance {
    /// `roundrobin` (the default).
    #[default]
    RoundRobin,
    /// `leastconn`.
    LeastConn,
    /// `source`: a hash of the client's address.
    Source,
    /// `uri [whole]`: a hash of the path (with the query: `whole`).
    Uri {
        /// `whole`.
        whole: bool,
    },
    /// `hdr(NAME)`: a hash of the header's first value (round robin without it).
    Hdr(String),
    /// `random[(DRAWS)]`: the least loaded of DRAWS weighted random servers (2 by default).
    Random {
        /// DRAWS.
        draws: u32,
    },
}

impl Balance {
    /// HAProxy's name of the algorithm (the `algo` statistic).
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::RoundRobin => "roundrobin",
            Self::LeastConn => "leastconn",
            Self::Source => "source",
            Self::Uri { .. } => "uri",
            Self::Hdr(_) => "hdr",
            Self::Random { .. } => "random",
        }
    }
}

/// `hash-type map-based [FUNCTION] [avalanche]`: how `balance source|uri|hdr()` hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct HashType {
    /// The hash function (`sdbm` by default).
    pub(crate) func: HashFunc,
    /// `avalanche`: the hash goes through HAProxy's `full_hash()`.
    pub(crate) avalanche: bool,
}

/// A hash function of `hash-type` (HAProxy's `src/hash.c`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum HashFunc {
    #[default]
    Sdbm,
    Djb2,
    Wt6,
    Crc32,
}

/// A `server` line.
#[derive(Debug, Clone)]
pub(crate) struct Server {
    /// The name.
    pub(crate) name: String,
    /// `track [BACKEND/]SERVER`: the server whose state this one follows (the backend named,
    /// resolved once every section is read).
    pub(crate) track: Option<Track>,
    /// `ADDR:PORT`.
    pub(crate) addr: SocketAddr,
    /// A mapped port (the address had none, or `+N`/`-N`): the client's destination port
    /// plus this offset (HAProxy's `SRV_F_MAPPORTS`); `addr`'s port is then 0.
    pub(crate) port_offset: Option<i32>,
    /// `check`.
    pub(crate) check: bool,
    /// `inter` (2 s by default).
    pub(crate) inter: Duration,
    /// `rise` (2 by default).
    pub(crate) rise: u32,
    /// `fall` (3 by default).
    pub(crate) fall: u32,
    /// `weight` (1 by default).
    pub(crate) weight: u32,
    /// `maxconn` (with `minconn` alone or above it: `minconn`, as HAProxy).
    pub(crate) maxconn: Option<usize>,
    /// `minconn` below `maxconn`: the dynamic limit's floor (`crate::queue`).
    pub(crate) minconn: Option<usize>,
    /// `maxqueue` (0: the server's line is unbounded).
    pub(crate) maxqueue: usize,
    /// `pool-max-conn`: idle connections to this server kept for reuse
    /// (`None`: `-1`, unlimited; `Some(0)`: none). The gateway's default is
    /// [`DEFAULT_POOL_MAX_CONN`], not HAProxy's unlimited.
    pub(crate) pool_max_conn: Option<usize>,
    /// `pool-purge-delay` (5 s by default): an idle connection to this
    /// server is closed after this long unused; zero keeps them.
    pub(crate) pool_purge_delay: Duration,
    /// `ssl ...`: TLS towards the server, its files loaded.
    pub(crate) tls: Option<Arc<crate::tls::UpstreamTls>>,
    /// `proto h2`: HTTP/2 whatever ALPN says (on clear text: prior knowledge).
    pub(crate) proto_h2: bool,
    /// The TLS of its health checks: the server's own with `ssl` (as HAProxy checks an `ssl`
    /// server), or the line's settings with `check-ssl`; `None`: in clear text.
    pub(crate) check_tls: Option<Arc<crate::tls::UpstreamTls>>,
    /// `port`, `addr`, `fastinter`, `downinter`, `backup`: how it is checked and used.
    pub(crate) probe: ServerProbe,
    /// `cookie VALUE`: the value of the backend's persistence cookie that names it.
    pub(crate) cookie: Option<String>,
    /// `send-proxy`, `send-proxy-v2`: the PROXY header each connection to it starts with.
    pub(crate) send_proxy: Option<crate::proxy_proto::SendProxy>,
    /// `check-send-proxy`: its health checks send the header even with `port` or `addr`.
    pub(crate) check_send_proxy: bool,
    /// The host name of its address (HAProxy's `srv->hostname`), when not an IP address.
    pub(crate) fqdn: Option<String>,
    /// `source ADDR` (its own, else its backend's): the local address of its connections.
    pub(crate) source: Option<std::net::IpAddr>,
    /// `resolvers NAME ...`: its address is resolved at run time (`crate::resolve`); `addr`
    /// is then the first one (`init-addr`), unspecified when it has none.
    pub(crate) dns: Option<crate::resolve::ServerDns>,
    /// `id`, `non-stick`.
    pub(crate) choice: ServerChoice,
    /// `tcp-ut`: `TCP_USER_TIMEOUT` of its connections.
    pub(crate) user_timeout: Option<Duration>,
}

/// A server's settings of its choice: `id`, `non-stick`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ServerChoice {
    /// Its numeric id: `id N`, or the first one free in declaration order (HAProxy's
    /// `puid`, which stick tables store in `server_id`).
    pub(crate) id: u32,
    /// `id N` was written.
    pub(crate) explicit_id: bool,
    /// `non-stick`: the requests it serves store nothing in stick tables.
    pub(crate) non_stick: bool,
}

/// `track [BACKEND/]SERVER`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Track {
    /// The backend (the server's own when the line names none).
    pub(crate) backend: String,
    /// The server tracked.
    pub(crate) server: String,
}

/// What a `server` line says about its health checks and its role beyond `check inter rise
/// fall`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ServerProbe {
    /// `port`: the port checked instead of the server's.
    pub(crate) port: Option<u16>,
    /// `addr`: the address checked instead of the server's.
    pub(crate) addr: Option<std::net::IpAddr>,
    /// `fastinter`: the interval while the health is neither full nor zero.
    pub(crate) fastinter: Option<Duration>,
    /// `downinter`: the interval while the server is fully down.
    pub(crate) downinter: Option<Duration>,
    /// `backup`: used only when no active server is up.
    pub(crate) backup: bool,
    /// `on-marked-down shutdown-sessions`: its sessions are cut when it goes DOWN.
    pub(crate) down_cuts_sessions: bool,
    /// `on-marked-up shutdown-backup-sessions`: the backup servers' sessions are cut when it
    /// comes UP.
    pub(crate) up_cuts_backup_sessions: bool,
}

/// What a backend does when a connection to a server fails (`retries`, `option
/// redispatch [interval]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Retry {
    /// `retries N`: connection attempts after the first (HAProxy's default: 3).
    pub(crate) retries: u32,
    /// `option redispatch [interval]`: a retry may go to another server; every Nth retry
    /// when positive, the Nth before the last one when negative (-1, the default: the last).
    pub(crate) redispatch: Option<i32>,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            retries: 3,
            redispatch: None,
        }
    }
}

/// A backend's health checks: what `option httpchk`, `http-check`, `option tcp-check` and
/// `tcp-check connect` say (a TCP connect when none is given).
#[derive(Debug, Clone, Default)]
pub(crate) struct CheckSpec {
    /// `option httpchk` (with `http-check send|expect`): the request and what the answer
    /// must be. `None`: a TCP connect is the check.
    pub(crate) http: Option<Arc<HttpCheck>>,
    /// `option redis-check|mysql-check|pgsql-check|smtpchk|ssl-hello-chk|ldap-check`: the
    /// protocol's exchange instead (never with `http`).
    pub(crate) proto: Option<Arc<crate::proto_check::ProtoCheck>>,
    /// `http-check connect port N` / `tcp-check connect port N`: the port checked instead of
    /// the server's (a server's own `port` wins, as in HAProxy).
    pub(crate) port: Option<u16>,
    /// `http-check disable-on-404`: a 404 from an up server drains it (`NOLB`) instead of
    /// failing.
    pub(crate) disable_on_404: bool,
    /// `option log-health-checks`: a line for each check whose result or health changes.
    pub(crate) log_health_checks: bool,
}

/// An HTTP health check.
#[derive(Debug, Clone)]
pub(crate) struct HttpCheck {
    /// The request as written on the wire (HAProxy's serialization of it).
    pub(crate) request: bytes::Bytes,
    /// `http-check expect` rules, all of which must pass (none: a 2xx or 3xx status).
    pub(crate) expects: Vec<Expect>,
}

/// One `http-check expect [!] KIND PATTERN`.
#[derive(Debug, Clone)]
pub(crate) struct Expect {
    /// `!`: the rule passes when the pattern does not match.
    pub(crate) inverse: bool,
    /// What is matched.
    pub(crate) kind: ExpectKind,
}

/// What `http-check expect` matches.
#[derive(Debug, Clone)]
pub(crate) enum ExpectKind {
    /// `status CODE[-CODE][,...]`.
    Status(Vec<(u16, u16)>),
    /// `rstatus REGEX` on the status code's three digits.
    RStatus(Regex),
    /// `string TEXT` in the body.
    String(String),
    /// `rstring REGEX` on the body.
    RString(Regex),
}

/// `pool-max-conn` when none is configured. HAProxy's default is unlimited
/// (-1) and relies on its purge halving the idle connections every
/// `pool-purge-delay`; the gateway bounds them too, so that a burst of
/// N concurrent requests does not leave N idle connections on a server.
pub(crate) const DEFAULT_POOL_MAX_CONN: usize = 64;

/// `pool-purge-delay` when none is configured (HAProxy's default).
pub(crate) const DEFAULT_POOL_PURGE_DELAY: Duration = Duration::from_secs(5);

/// A `backend` (or the backend half of a `listen`).
#[derive(Debug, Clone)]
pub(crate) struct Backend {
    /// The name.
    pub(crate) name: String,
    /// `log` lines in effect (as a frontend's): where its servers' state changes and health
    /// check lines go.
    pub(crate) logs: Vec<LogServer>,
    /// `mode`.
    pub(crate) mode: Mode,
    /// Timeouts (with `defaults` applied).
    pub(crate) timeouts: Timeouts,
    /// `balance`.
    pub(crate) balance: Balance,
    /// `hash-type`.
    pub(crate) hash_type: HashType,
    /// `server` lines.
    pub(crate) servers: Vec<Server>,
    /// `option spop-check`.
    pub(crate) spop_check: bool,
    /// `option httpchk`, `http-check`, `option tcp-check`, `tcp-check connect`.
    pub(crate) checks: CheckSpec,
    /// `option allbackups`: every backup server takes requests when no active one is up
    /// (without it, the first backup only).
    pub(crate) all_backups: bool,
    /// `retries`, `option redispatch`.
    pub(crate) retry: Retry,
    /// `fullconn` (`None`: 10% of the `maxconn` of the frontends that reach it, as HAProxy).
    pub(crate) fullconn: Option<usize>,
    /// `acl` lines.
    pub(crate) acls: AclSet,
    /// `http-request` rules.
    pub(crate) http_request: Vec<Rule>,
    /// `http-response` rules.
    pub(crate) http_response: Vec<Rule>,
    /// `http-after-response` rules.
    pub(crate) http_after_response: Vec<Rule>,
    /// `redirect` lines, run after the `http-request` rules.
    pub(crate) redirects: Vec<Rule>,
    /// `filter spoe` lines.
    pub(crate) filters: Vec<SpoeFilterDecl>,
    /// `option http-buffer-request`: wait for the body (up to `tune.bufsize`)
    /// before the backend's SPOE events and rules.
    pub(crate) http_buffer_request: bool,
    /// `errorfile` lines (with `defaults`'): the backend's pages, by status, ahead of the
    /// frontend's.
    pub(crate) errorfiles: crate::errorfile::ErrorFiles,
    /// `compression ...`, ahead of the frontend's (`crate::compress`).
    pub(crate) compression: Option<Arc<Compression>>,
    /// `stats enable|uri|...`: the statistics page, after its `http-request` rules.
    pub(crate) stats: Option<Arc<StatsPage>>,
    /// `option forwardfor`.
    pub(crate) forwardfor: Option<ForwardFor>,
    /// `option originalto` (the same settings but `if-none`).
    pub(crate) originalto: Option<ForwardFor>,
    /// `option http-keep-alive|http-server-close|httpclose`.
    pub(crate) http_mode: HttpMode,
    /// `cookie NAME ...`: cookie persistence.
    pub(crate) cookie: Option<Arc<crate::cookie::CookiePersist>>,
    /// `option persist`: a cookie naming a down server still sends the request there.
    pub(crate) persist: bool,
    /// `stick`, `use-server`, `force-persist`, `ignore-persist`, `http-send-name-header`.
    pub(crate) server_rules: Arc<crate::server_rules::ServerRules>,
    /// `option srvtcpka|tcpka|nolinger|tcp-smart-connect`, `srvtcpka-*`: its server sockets.
    pub(crate) server_sock: crate::sockopt::ServerSock,
}

/// A `compression algo` algorithm (HAProxy 2.6's `comp_algos[]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CompAlgo {
    /// `identity`: nothing changes but the headers.
    Identity,
    /// `gzip` (RFC 1952).
    Gzip,
    /// `deflate`: the zlib format (RFC 1950).
    Deflate,
    /// `raw-deflate`: deflate without zlib's header (RFC 1951), announced as `deflate`.
    RawDeflate,
}

impl CompAlgo {
    /// The name in `compression algo`.
    pub(crate) fn from_config(name: &str) -> Option<Self> {
        Some(match name {
            "identity" => Self::Identity,
            "gzip" => Self::Gzip,
            "deflate" => Self::Deflate,
            "raw-deflate" => Self::RawDeflate,
            _ => return None,
        })
    }

    /// The token of `Accept-Encoding` and `Content-Encoding`.
    pub(crate) fn token(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Gzip => "gzip",
            Self::Deflate | Self::RawDeflate => "deflate",
        }
    }
}

/// A proxy's `compression` lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Compression {
    /// `algo`: in HAProxy's order of preference (the last one written first).
    pub(crate) algos: Vec<CompAlgo>,
    /// `type`: the `Content-Type` prefixes compressed (empty: any).
    pub(crate) types: Vec<String>,
    /// `offload`: the server does not see `Accept-Encoding`.
    pub(crate) offload: bool,
}
