//! HAProxy 2.6's statistics fields: the columns of `show stat` and of the
//! stats page's CSV, in their order, with their names and descriptions as
//! HAProxy 2.6.12 gives them (`show stat typed desc`). The Prometheus
//! exporter's families ([`super::promex`]) and any CSV or `show stat` output
//! are views of the same fields, as in HAProxy.

/// One statistics field of a frontend, backend or server (HAProxy's
/// `ST_F_*`), in `show stat` column order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// `pxname`: Proxy name.
    Pxname,
    /// `svname`: Server name.
    Svname,
    /// `qcur`: Number of current queued connections.
    Qcur,
    /// `qmax`: Highest value of queued connections encountered since process started.
    Qmax,
    /// `scur`: Number of current sessions on the frontend, backend or server.
    Scur,
    /// `smax`: Highest value of current sessions encountered since process started.
    Smax,
    /// `slim`: Frontend/listener/server's maxconn, backend's fullconn.
    Slim,
    /// `stot`: Total number of sessions since process started.
    Stot,
    /// `bin`: Total number of request bytes since process started.
    Bin,
    /// `bout`: Total number of response bytes since process started.
    Bout,
    /// `dreq`: Total number of denied requests since process started.
    Dreq,
    /// `dresp`: Total number of denied responses since process started.
    Dresp,
    /// `ereq`: Total number of invalid requests since process started.
    Ereq,
    /// `econ`: Total number of failed connections to server since the worker process started.
    Econ,
    /// `eresp`: Total number of invalid responses since the worker process started.
    Eresp,
    /// `wretr`: Total number of server connection retries since the worker process started.
    Wretr,
    /// `wredis`: Total number of server redispatches due to connection failures since the worker process started.
    Wredis,
    /// `status`: Frontend/listen status: OPEN/WAITING/FULL/STOP; backend: UP/DOWN; server: last check status.
    Status,
    /// `weight`: Server's effective weight, or sum of active servers' effective weights for a backend.
    Weight,
    /// `act`: Total number of active UP servers with a non-zero weight.
    Act,
    /// `bck`: Total number of backup UP servers with a non-zero weight.
    Bck,
    /// `chkfail`: Total number of failed individual health checks per server/backend, since the worker process started.
    Chkfail,
    /// `chkdown`: Total number of failed checks causing UP to DOWN server transitions, per server/backend, since the worker process started.
    Chkdown,
    /// `lastchg`: How long ago the last server state changed, in seconds.
    Lastchg,
    /// `downtime`: Total time spent in DOWN state, for server or backend.
    Downtime,
    /// `qlimit`: Limit on the number of connections in queue, for servers only (maxqueue argument).
    Qlimit,
    /// `pid`: Relative worker process number (1).
    Pid,
    /// `iid`: Frontend or Backend numeric identifier ('id' setting).
    Iid,
    /// `sid`: Server numeric identifier ('id' setting).
    Sid,
    /// `throttle`: Throttling ratio applied to a server's maxconn and weight during the slowstart period (0 to 100%).
    Throttle,
    /// `lbtot`: Total number of requests routed by load balancing since the worker process started (ignores queue pop and stickiness).
    Lbtot,
    /// `tracked`: Name of the other server this server tracks for its state.
    Tracked,
    /// `type`: Type of the object (Listener, Frontend, Backend, Server).
    Type,
    /// `rate`: Total number of sessions processed by this object over the last second (sessions for listeners/frontends, requests for backends/servers).
    Rate,
    /// `rate_lim`: Limit on the number of sessions accepted in a second (frontend only, 'rate-limit sessions' setting).
    RateLim,
    /// `rate_max`: Highest value of sessions per second observed since the worker process started.
    RateMax,
    /// `check_status`: Status report of the server's latest health check, prefixed with '*' if a check is currently in progress.
    CheckStatus,
    /// `check_code`: HTTP/SMTP/LDAP status code reported by the latest server health check.
    CheckCode,
    /// `check_duration`: Total duration of the latest server health check, in milliseconds.
    CheckDuration,
    /// `hrsp_1xx`: Total number of HTTP responses with status 100-199 returned by this object since the worker process started.
    Hrsp1xx,
    /// `hrsp_2xx`: Total number of HTTP responses with status 200-299 returned by this object since the worker process started.
    Hrsp2xx,
    /// `hrsp_3xx`: Total number of HTTP responses with status 300-399 returned by this object since the worker process started.
    Hrsp3xx,
    /// `hrsp_4xx`: Total number of HTTP responses with status 400-499 returned by this object since the worker process started.
    Hrsp4xx,
    /// `hrsp_5xx`: Total number of HTTP responses with status 500-599 returned by this object since the worker process started.
    Hrsp5xx,
    /// `hrsp_other`: Total number of HTTP responses with status <100, >599 returned by this object since the worker process started (error -1 included).
    HrspOther,
    /// `hanafail`: Total number of failed checks caused by an 'on-error' directive after an 'observe' condition matched.
    Hanafail,
    /// `req_rate`: Number of HTTP requests processed over the last second on this object.
    ReqRate,
    /// `req_rate_max`: Highest value of http requests observed since the worker process started.
    ReqRateMax,
    /// `req_tot`: Total number of HTTP requests processed by this object since the worker process started.
    ReqTot,
    /// `cli_abrt`: Total number of requests or connections aborted by the client since the worker process started.
    CliAbrt,
    /// `srv_abrt`: Total number of requests or connections aborted by the server since the worker process started.
    SrvAbrt,
    /// `comp_in`: Total number of bytes submitted to the HTTP compressor for this object since the worker process started.
    CompIn,
    /// `comp_out`: Total number of bytes emitted by the HTTP compressor for this object since the worker process started.
    CompOut,
    /// `comp_byp`: Total number of bytes that bypassed HTTP compression for this object since the worker process started (CPU/memory/bandwidth limitation).
    CompByp,
    /// `comp_rsp`: Total number of HTTP responses that were compressed for this object since the worker process started.
    CompRsp,
    /// `lastsess`: How long ago some traffic was seen on this object on this worker process, in seconds.
    Lastsess,
    /// `last_chk`: Short description of the latest health check report for this server (see also check_desc).
    LastChk,
    /// `last_agt`: Short description of the latest agent check report for this server (see also agent_desc).
    LastAgt,
    /// `qtime`: Time spent in the queue, in milliseconds, averaged over the 1024 last requests (backend/server).
    Qtime,
    /// `ctime`: Time spent waiting for a connection to complete, in milliseconds, averaged over the 1024 last requests (backend/server).
    Ctime,
    /// `rtime`: Time spent waiting for a server response, in milliseconds, averaged over the 1024 last requests (backend/server).
    Rtime,
    /// `ttime`: Total request+response time (request+queue+connect+response+processing), in milliseconds, averaged over the 1024 last requests (backend/server).
    Ttime,
    /// `agent_status`: Status report of the server's latest agent check, prefixed with '*' if a check is currently in progress.
    AgentStatus,
    /// `agent_code`: Status code reported by the latest server agent check.
    AgentCode,
    /// `agent_duration`: Total duration of the latest server agent check, in milliseconds.
    AgentDuration,
    /// `check_desc`: Textual description of the latest health check report for this server.
    CheckDesc,
    /// `agent_desc`: Textual description of the latest agent check report for this server.
    AgentDesc,
    /// `check_rise`: Number of successful health checks before declaring a server UP (server 'rise' setting).
    CheckRise,
    /// `check_fall`: Number of failed health checks before declaring a server DOWN (server 'fall' setting).
    CheckFall,
    /// `check_health`: Current server health check level (0..fall-1=DOWN, fall..rise-1=UP).
    CheckHealth,
    /// `agent_rise`: Number of successful agent checks before declaring a server UP (server 'rise' setting).
    AgentRise,
    /// `agent_fall`: Number of failed agent checks before declaring a server DOWN (server 'fall' setting).
    AgentFall,
    /// `agent_health`: Current server agent check level (0..fall-1=DOWN, fall..rise-1=UP).
    AgentHealth,
    /// `addr`: Server's address:port, shown only if show-legends is set, or at levels oper/admin for the CLI.
    Addr,
    /// `cookie`: Backend's cookie name or Server's cookie value, shown only if show-legends is set, or at levels oper/admin for the CLI.
    Cookie,
    /// `mode`: 'mode' setting (tcp/http/health/cli).
    Mode,
    /// `algo`: Backend's load balancing algorithm, shown only if show-legends is set, or at levels oper/admin for the CLI.
    Algo,
    /// `conn_rate`: Number of new connections accepted over the last second on the frontend for this worker process.
    ConnRate,
    /// `conn_rate_max`: Highest value of connections per second observed since the worker process started.
    ConnRateMax,
    /// `conn_tot`: Total number of new connections accepted on this frontend since the worker process started.
    ConnTot,
    /// `intercepted`: Total number of HTTP requests intercepted on the frontend (redirects/stats/services) since the worker process started.
    Intercepted,
    /// `dcon`: Total number of incoming connections blocked on a listener/frontend by a tcp-request connection rule since the worker process started.
    Dcon,
    /// `dses`: Total number of incoming sessions blocked on a listener/frontend by a tcp-request connection rule since the worker process started.
    Dses,
    /// `wrew`: Total number of failed HTTP header rewrites since the worker process started.
    Wrew,
    /// `connect`: Total number of outgoing connection attempts on this backend/server since the worker process started.
    Connect,
    /// `reuse`: Total number of reused connection on this backend/server since the worker process started.
    Reuse,
    /// `cache_lookups`: Total number of HTTP requests looked up in the cache on this frontend/backend since the worker process started.
    CacheLookups,
    /// `cache_hits`: Total number of HTTP requests not found in the cache on this frontend/backend since the worker process started.
    CacheHits,
    /// `srv_icur`: Current number of idle connections available for reuse on this server.
    SrvIcur,
    /// `src_ilim`: Limit on the number of available idle connections on this server (server 'pool_max_conn' directive).
    SrcIlim,
    /// `qtime_max`: Maximum observed time spent in the queue, in milliseconds (backend/server).
    QtimeMax,
    /// `ctime_max`: Maximum observed time spent waiting for a connection to complete, in milliseconds (backend/server).
    CtimeMax,
    /// `rtime_max`: Maximum observed time spent waiting for a server response, in milliseconds (backend/server).
    RtimeMax,
    /// `ttime_max`: Maximum observed total request+response time (request+queue+connect+response+processing), in milliseconds (backend/server).
    TtimeMax,
    /// `eint`: Total number of internal errors since process started.
    Eint,
    /// `idle_conn_cur`: Current number of unsafe idle connections.
    IdleConnCur,
    /// `safe_conn_cur`: Current number of safe idle connections.
    SafeConnCur,
    /// `used_conn_cur`: Current number of connections in use.
    UsedConnCur,
    /// `need_conn_est`: Estimated needed number of connections.
    NeedConnEst,
    /// `uweight`: Server's user weight, or sum of active servers' user weights for a backend.
    Uweight,
    /// `agg_server_status`: Backend's aggregated gauge of servers' status.
    AggServerStatus,
    /// `agg_server_check_status`: Backend's aggregated gauge of servers' state check status.
    AggServerCheckStatus,
    /// `agg_check_status`: Backend's aggregated gauge of servers' state check status.
    AggCheckStatus,
}

impl Field {
    /// Every field, in `show stat` column order.
    pub const ALL: [Self; 103] = [
        Self::Pxname,
        Self::Svname,
        Self::Qcur,
        Self::Qmax,
        Self::Scur,
        Self::Smax,
        Self::Slim,
        Self::Stot,
        Self::Bin,
        Self::Bout,
        Self::Dreq,
        Self::Dresp,
        Self::Ereq,
        Self::Econ,
        Self::Eresp,
        Self::Wretr,
        Self::Wredis,
        Self::Status,
        Self::Weight,
        Self::Act,
        Self::Bck,
        Self::Chkfail,
        Self::Chkdown,
        Self::Lastchg,
        Self::Downtime,
        Self::Qlimit,
        Self::Pid,
        Self::Iid,
        Self::Sid,
        Self::Throttle,
        Self::Lbtot,
        Self::Tracked,
        Self::Type,
        Self::Rate,
        Self::RateLim,
        Self::RateMax,
        Self::CheckStatus,
        Self::CheckCode,
        Self::CheckDuration,
        Self::Hrsp1xx,
        Self::Hrsp2xx,
        Self::Hrsp3xx,
        Self::Hrsp4xx,
        Self::Hrsp5xx,
        Self::HrspOther,
        Self::Hanafail,
        Self::ReqRate,
        Self::ReqRateMax,
        Self::ReqTot,
        Self::CliAbrt,
        Self::SrvAbrt,
        Self::CompIn,
        Self::CompOut,
        Self::CompByp,
        Self::CompRsp,
        Self::Lastsess,
        Self::LastChk,
        Self::LastAgt,
        Self::Qtime,
        Self::Ctime,
        Self::Rtime,
        Self::Ttime,
        Self::AgentStatus,
        Self::AgentCode,
        Self::AgentDuration,
        Self::CheckDesc,
        Self::AgentDesc,
        Self::CheckRise,
        Self::CheckFall,
        Self::CheckHealth,
        Self::AgentRise,
        Self::AgentFall,
        Self::AgentHealth,
        Self::Addr,
        Self::Cookie,
        Self::Mode,
        Self::Algo,
        Self::ConnRate,
        Self::ConnRateMax,
        Self::ConnTot,
        Self::Intercepted,
        Self::Dcon,
        Self::Dses,
        Self::Wrew,
        Self::Connect,
        Self::Reuse,
        Self::CacheLookups,
        Self::CacheHits,
        Self::SrvIcur,
        Self::SrcIlim,
        Self::QtimeMax,
        Self::CtimeMax,
        Self::RtimeMax,
        Self::TtimeMax,
        Self::Eint,
        Self::IdleConnCur,
        Self::SafeConnCur,
        Self::UsedConnCur,
        Self::NeedConnEst,
        Self::Uweight,
        Self::AggServerStatus,
        Self::AggServerCheckStatus,
        Self::AggCheckStatus,
    ];

    /// The column name in `show stat` and the CSV header (`pxname`, `scur`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Pxname => "pxname",
            Self::Svname => "svname",
            Self::Qcur => "qcur",
            Self::Qmax => "qmax",
            Self::Scur => "scur",
            Self::Smax => "smax",
            Self::Slim => "slim",
            Self::Stot => "stot",
            Self::Bin => "bin",
            Self::Bout => "bout",
            Self::Dreq => "dreq",
            Self::Dresp => "dresp",
            Self::Ereq => "ereq",
            Self::Econ => "econ",
            Self::Eresp => "eresp",
            Self::Wretr => "wretr",
            Self::Wredis => "wredis",
            Self::Status => "status",
            Self::Weight => "weight",
            Self::Act => "act",
            Self::Bck => "bck",
            Self::Chkfail => "chkfail",
            Self::Chkdown => "chkdown",
            Self::Lastchg => "lastchg",
            Self::Downtime => "downtime",
            Self::Qlimit => "qlimit",
            Self::Pid => "pid",
            Self::Iid => "iid",
            Self::Sid => "sid",
            Self::Throttle => "throttle",
            Self::Lbtot => "lbtot",
            Self::Tracked => "tracked",
            Self::Type => "type",
            Self::Rate => "rate",
            Self::RateLim => "rate_lim",
            Self::RateMax => "rate_max",
            Self::CheckStatus => "check_status",
            Self::CheckCode => "check_code",
            Self::CheckDuration => "check_duration",
            Self::Hrsp1xx => "hrsp_1xx",
            Self::Hrsp2xx => "hrsp_2xx",
            Self::Hrsp3xx => "hrsp_3xx",
            Self::Hrsp4xx => "hrsp_4xx",
            Self::Hrsp5xx => "hrsp_5xx",
            Self::HrspOther => "hrsp_other",
            Self::Hanafail => "hanafail",
            Self::ReqRate => "req_rate",
            Self::ReqRateMax => "req_rate_max",
            Self::ReqTot => "req_tot",
            Self::CliAbrt => "cli_abrt",
            Self::SrvAbrt => "srv_abrt",
            Self::CompIn => "comp_in",
            Self::CompOut => "comp_out",
            Self::CompByp => "comp_byp",
            Self::CompRsp => "comp_rsp",
            Self::Lastsess => "lastsess",
            Self::LastChk => "last_chk",
            Self::LastAgt => "last_agt",
            Self::Qtime => "qtime",
            Self::Ctime => "ctime",
            Self::Rtime => "rtime",
            Self::Ttime => "ttime",
            Self::AgentStatus => "agent_status",
            Self::AgentCode => "agent_code",
            Self::AgentDuration => "agent_duration",
            Self::CheckDesc => "check_desc",
            Self::AgentDesc => "agent_desc",
            Self::CheckRise => "check_rise",
            Self::CheckFall => "check_fall",
            Self::CheckHealth => "check_health",
            Self::AgentRise => "agent_rise",
            Self::AgentFall => "agent_fall",
            Self::AgentHealth => "agent_health",
            Self::Addr => "addr",
            Self::Cookie => "cookie",
            Self::Mode => "mode",
            Self::Algo => "algo",
            Self::ConnRate => "conn_rate",
            Self::ConnRateMax => "conn_rate_max",
            Self::ConnTot => "conn_tot",
            Self::Intercepted => "intercepted",
            Self::Dcon => "dcon",
            Self::Dses => "dses",
            Self::Wrew => "wrew",
            Self::Connect => "connect",
            Self::Reuse => "reuse",
            Self::CacheLookups => "cache_lookups",
            Self::CacheHits => "cache_hits",
            Self::SrvIcur => "srv_icur",
            Self::SrcIlim => "src_ilim",
            Self::QtimeMax => "qtime_max",
            Self::CtimeMax => "ctime_max",
            Self::RtimeMax => "rtime_max",
            Self::TtimeMax => "ttime_max",
            Self::Eint => "eint",
            Self::IdleConnCur => "idle_conn_cur",
            Self::SafeConnCur => "safe_conn_cur",
            Self::UsedConnCur => "used_conn_cur",
            Self::NeedConnEst => "need_conn_est",
            Self::Uweight => "uweight",
            Self::AggServerStatus => "agg_server_status",
            Self::AggServerCheckStatus => "agg_server_check_status",
            Self::AggCheckStatus => "agg_check_status",
        }
    }

    /// HAProxy's description of the field.
    pub const fn desc(self) -> &'static str {
        match self {
            Self::Pxname => "Proxy name",
            Self::Svname => "Server name",
            Self::Qcur => "Number of current queued connections",
            Self::Qmax => "Highest value of queued connections encountered since process started",
            Self::Scur => "Number of current sessions on the frontend, backend or server",
            Self::Smax => "Highest value of current sessions encountered since process started",
            Self::Slim => "Frontend/listener/server's maxconn, backend's fullconn",
            Self::Stot => "Total number of sessions since process started",
            Self::Bin => "Total number of request bytes since process started",
            Self::Bout => "Total number of response bytes since process started",
            Self::Dreq => "Total number of denied requests since process started",
            Self::Dresp => "Total number of denied responses since process started",
            Self::Ereq => "Total number of invalid requests since process started",
            Self::Econ => {
                "Total number of failed connections to server since the worker process started"
            }
            Self::Eresp => "Total number of invalid responses since the worker process started",
            Self::Wretr => {
                "Total number of server connection retries since the worker process started"
            }
            Self::Wredis => {
                "Total number of server redispatches due to connection failures since the worker process started"
            }
            Self::Status => {
                "Frontend/listen status: OPEN/WAITING/FULL/STOP; backend: UP/DOWN; server: last check status"
            }
            Self::Weight => {
                "Server's effective weight, or sum of active servers' effective weights for a backend"
            }
            Self::Act => "Total number of active UP servers with a non-zero weight",
            Self::Bck => "Total number of backup UP servers with a non-zero weight",
            Self::Chkfail => {
                "Total number of failed individual health checks per server/backend, since the worker process started"
            }
            Self::Chkdown => {
                "Total number of failed checks causing UP to DOWN server transitions, per server/backend, since the worker process started"
            }
            Self::Lastchg => "How long ago the last server state changed, in seconds",
            Self::Downtime => "Total time spent in DOWN state, for server or backend",
            Self::Qlimit => {
                "Limit on the number of connections in queue, for servers only (maxqueue argument)"
            }
            Self::Pid => "Relative worker process number (1)",
            Self::Iid => "Frontend or Backend numeric identifier ('id' setting)",
            Self::Sid => "Server numeric identifier ('id' setting)",
            Self::Throttle => {
                "Throttling ratio applied to a server's maxconn and weight during the slowstart period (0 to 100%)"
            }
            Self::Lbtot => {
                "Total number of requests routed by load balancing since the worker process started (ignores queue pop and stickiness)"
            }
            Self::Tracked => "Name of the other server this server tracks for its state",
            Self::Type => "Type of the object (Listener, Frontend, Backend, Server)",
            Self::Rate => {
                "Total number of sessions processed by this object over the last second (sessions for listeners/frontends, requests for backends/servers)"
            }
            Self::RateLim => {
                "Limit on the number of sessions accepted in a second (frontend only, 'rate-limit sessions' setting)"
            }
            Self::RateMax => {
                "Highest value of sessions per second observed since the worker process started"
            }
            Self::CheckStatus => {
                "Status report of the server's latest health check, prefixed with '*' if a check is currently in progress"
            }
            Self::CheckCode => {
                "HTTP/SMTP/LDAP status code reported by the latest server health check"
            }
            Self::CheckDuration => {
                "Total duration of the latest server health check, in milliseconds"
            }
            Self::Hrsp1xx => {
                "Total number of HTTP responses with status 100-199 returned by this object since the worker process started"
            }
            Self::Hrsp2xx => {
                "Total number of HTTP responses with status 200-299 returned by this object since the worker process started"
            }
            Self::Hrsp3xx => {
                "Total number of HTTP responses with status 300-399 returned by this object since the worker process started"
            }
            Self::Hrsp4xx => {
                "Total number of HTTP responses with status 400-499 returned by this object since the worker process started"
            }
            Self::Hrsp5xx => {
                "Total number of HTTP responses with status 500-599 returned by this object since the worker process started"
            }
            Self::HrspOther => {
                "Total number of HTTP responses with status <100, >599 returned by this object since the worker process started (error -1 included)"
            }
            Self::Hanafail => {
                "Total number of failed checks caused by an 'on-error' directive after an 'observe' condition matched"
            }
            Self::ReqRate => {
                "Number of HTTP requests processed over the last second on this object"
            }
            Self::ReqRateMax => {
                "Highest value of http requests observed since the worker process started"
            }
            Self::ReqTot => {
                "Total number of HTTP requests processed by this object since the worker process started"
            }
            Self::CliAbrt => {
                "Total number of requests or connections aborted by the client since the worker process started"
            }
            Self::SrvAbrt => {
                "Total number of requests or connections aborted by the server since the worker process started"
            }
            Self::CompIn => {
                "Total number of bytes submitted to the HTTP compressor for this object since the worker process started"
            }
            Self::CompOut => {
                "Total number of bytes emitted by the HTTP compressor for this object since the worker process started"
            }
            Self::CompByp => {
                "Total number of bytes that bypassed HTTP compression for this object since the worker process started (CPU/memory/bandwidth limitation)"
            }
            Self::CompRsp => {
                "Total number of HTTP responses that were compressed for this object since the worker process started"
            }
            Self::Lastsess => {
                "How long ago some traffic was seen on this object on this worker process, in seconds"
            }
            Self::LastChk => {
                "Short description of the latest health check report for this server (see also check_desc)"
            }
            Self::LastAgt => {
                "Short description of the latest agent check report for this server (see also agent_desc)"
            }
            Self::Qtime => {
                "Time spent in the queue, in milliseconds, averaged over the 1024 last requests (backend/server)"
            }
            Self::Ctime => {
                "Time spent waiting for a connection to complete, in milliseconds, averaged over the 1024 last requests (backend/server)"
            }
            Self::Rtime => {
                "Time spent waiting for a server response, in milliseconds, averaged over the 1024 last requests (backend/server)"
            }
            Self::Ttime => {
                "Total request+response time (request+queue+connect+response+processing), in milliseconds, averaged over the 1024 last requests (backend/server)"
            }
            Self::AgentStatus => {
                "Status report of the server's latest agent check, prefixed with '*' if a check is currently in progress"
            }
            Self::AgentCode => "Status code reported by the latest server agent check",
            Self::AgentDuration => {
                "Total duration of the latest server agent check, in milliseconds"
            }
            Self::CheckDesc => {
                "Textual description of the latest health check report for this server"
            }
            Self::AgentDesc => {
                "Textual description of the latest agent check report for this server"
            }
            Self::CheckRise => {
                "Number of successful health checks before declaring a server UP (server 'rise' setting)"
            }
            Self::CheckFall => {
                "Number of failed health checks before declaring a server DOWN (server 'fall' setting)"
            }
            Self::CheckHealth => {
                "Current server health check level (0..fall-1=DOWN, fall..rise-1=UP)"
            }
            Self::AgentRise => {
                "Number of successful agent checks before declaring a server UP (server 'rise' setting)"
            }
            Self::AgentFall => {
                "Number of failed agent checks before declaring a server DOWN (server 'fall' setting)"
            }
            Self::AgentHealth => {
                "Current server agent check level (0..fall-1=DOWN, fall..rise-1=UP)"
            }
            Self::Addr => {
                "Server's address:port, shown only if show-legends is set, or at levels oper/admin for the CLI"
            }
            Self::Cookie => {
                "Backend's cookie name or Server's cookie value, shown only if show-legends is set, or at levels oper/admin for the CLI"
            }
            Self::Mode => "'mode' setting (tcp/http/health/cli)",
            Self::Algo => {
                "Backend's load balancing algorithm, shown only if show-legends is set, or at levels oper/admin for the CLI"
            }
            Self::ConnRate => {
                "Number of new connections accepted over the last second on the frontend for this worker process"
            }
            Self::ConnRateMax => {
                "Highest value of connections per second observed since the worker process started"
            }
            Self::ConnTot => {
                "Total number of new connections accepted on this frontend since the worker process started"
            }
            Self::Intercepted => {
                "Total number of HTTP requests intercepted on the frontend (redirects/stats/services) since the worker process started"
            }
            Self::Dcon => {
                "Total number of incoming connections blocked on a listener/frontend by a tcp-request connection rule since the worker process started"
            }
            Self::Dses => {
                "Total number of incoming sessions blocked on a listener/frontend by a tcp-request connection rule since the worker process started"
            }
            Self::Wrew => {
                "Total number of failed HTTP header rewrites since the worker process started"
            }
            Self::Connect => {
                "Total number of outgoing connection attempts on this backend/server since the worker process started"
            }
            Self::Reuse => {
                "Total number of reused connection on this backend/server since the worker process started"
            }
            Self::CacheLookups => {
                "Total number of HTTP requests looked up in the cache on this frontend/backend since the worker process started"
            }
            Self::CacheHits => {
                "Total number of HTTP requests not found in the cache on this frontend/backend since the worker process started"
            }
            Self::SrvIcur => {
                "Current number of idle connections available for reuse on this server"
            }
            Self::SrcIlim => {
                "Limit on the number of available idle connections on this server (server 'pool_max_conn' directive)"
            }
            Self::QtimeMax => {
                "Maximum observed time spent in the queue, in milliseconds (backend/server)"
            }
            Self::CtimeMax => {
                "Maximum observed time spent waiting for a connection to complete, in milliseconds (backend/server)"
            }
            Self::RtimeMax => {
                "Maximum observed time spent waiting for a server response, in milliseconds (backend/server)"
            }
            Self::TtimeMax => {
                "Maximum observed total request+response time (request+queue+connect+response+processing), in milliseconds (backend/server)"
            }
            Self::Eint => "Total number of internal errors since process started",
            Self::IdleConnCur => "Current number of unsafe idle connections",
            Self::SafeConnCur => "Current number of safe idle connections",
            Self::UsedConnCur => "Current number of connections in use",
            Self::NeedConnEst => "Estimated needed number of connections",
            Self::Uweight => {
                "Server's user weight, or sum of active servers' user weights for a backend"
            }
            Self::AggServerStatus => "Backend's aggregated gauge of servers' status",
            Self::AggServerCheckStatus => {
                "Backend's aggregated gauge of servers' state check status"
            }
            Self::AggCheckStatus => "Backend's aggregated gauge of servers' state check status",
        }
    }
}
