//! The README's table of every `haproxy.cfg` keyword, generated from the keyword tables (the
//! ones the reader itself uses), so that a keyword appears there, with its status, as soon as it
//! is read: run, run with a difference from HAProxy 2.6 (said in this module's `DIFFERENCES`), accepted
//! with no effect (a warning says why), or refused by name.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::actions::{
    AFTER_ACTIONS, AFTER_OTHER_ACTIONS, OTHER_ACTIONS, REQUEST_ACTIONS, RESPONSE_ACTIONS,
};
use super::cache::CACHE_KEYWORDS;
use super::keywords::{
    HAPROXY_BIND_KEYWORDS, HAPROXY_GLOBAL, HAPROXY_OPTIONS, HAPROXY_PROXY, HAPROXY_SERVER_KEYWORDS,
    IGNORED_GLOBAL, IGNORED_OPTIONS, IGNORED_PROXY, Use,
};
use super::proxy::bind::RUN_BIND_OPTIONS;
use super::resolvers::RESOLVERS_KEYWORDS;
use super::ssl::SERVER_TLS_SETTINGS;
use super::{global, lua, proxy, tunes};

/// How the gateway runs a keyword HAProxy 2.6 runs differently: `(where, keyword, what
/// differs)`, `where` as in the table's first column.
pub(super) const DIFFERENCES: &[(&str, &str, &str)] = &[
    (
        "http-request",
        "cache-use",
        "a hit is not compressed by `compression`; a `304` to an HTTP/1 client has no \
         `Content-Length`; a reload starts the caches empty, as HAProxy's new process",
    ),
    (
        "cache",
        "total-max-size",
        "the objects in HAProxy's 1 kB blocks, their size within a few bytes of HAProxy's; an \
         object being served stays in memory until served even once evicted",
    ),
    (
        "global",
        "log",
        "`stdout`/`stderr`; another target warns and gets nothing",
    ),
    ("global", "nbproc", "1 only (HAProxy 2.6 refuses more)"),
    (
        "global",
        "pidfile",
        "written once listening, as HAProxy's master does; a reload keeps the file it started with",
    ),
    (
        "global",
        "daemon",
        "the command starts the gateway again in the background and returns once it listens; \
         its stdout and stderr stay the command's (HAProxy closes them); `-db`/`--foreground` \
         keeps it in the foreground, as the systemd unit runs it",
    ),
    (
        "global",
        "master-worker",
        "no effect, none needed: the gateway is its own master (one process; `SIGUSR2`/`SIGHUP` \
         reload it in place, `pidfile` holds its pid)",
    ),
    (
        "global",
        "chroot",
        "entered once listening, as HAProxy; a reload then reads its files inside it, and one \
         that changes `chroot` is refused (restart)",
    ),
    (
        "global",
        "user",
        "set once listening, as HAProxy; a reload then reads files and binds as that user, and \
         one that changes the user is refused (restart)",
    ),
    ("global", "uid", "as `user`"),
    (
        "global",
        "group",
        "set once listening (no supplementary group), as HAProxy; a reload that changes it is \
         refused (restart)",
    ),
    ("global", "gid", "as `group`"),
    (
        "global",
        "ulimit-n",
        "the soft open files limit is set to N and stays there (HAProxy 2.6.12 may move it \
         again to what its automatic `maxconn` needs); as HAProxy 2.6.12, the hard limit is \
         never raised, and one that cannot be had stops the start under `strict-limits`",
    ),
    (
        "global",
        "cpu-map",
        "HAProxy's thread N is the gateway's worker thread `spoe-worker-<N-1>`; the process \
         map applies in the foreground too (HAProxy sets it in daemon and master-worker \
         modes), and the thread that accepts connections and reloads keeps the process's CPUs",
    ),
    (
        "global",
        "tune.ssl.default-dh-param",
        "checked as HAProxy (at least 1024), with nothing to apply to: the gateway's TLS \
         (rustls) has no finite-field DHE suite. ECDHE clients (every current browser and \
         library) see no difference; a client offering only DHE suites fails its handshake \
         where HAProxy negotiates DHE",
    ),
    (
        "global",
        "ssl-dh-param-file",
        "the file is read and checked as HAProxy (PEM DH parameters), with nothing to apply \
         to: the gateway's TLS (rustls) has no finite-field DHE suite (a cipher string's DHE \
         suites are left out with a warning)",
    ),
    (
        "global",
        "ssl-default-bind-ciphers",
        "as `bind ... ciphers`; checked where a TLS `bind` uses it, as HAProxy",
    ),
    (
        "global",
        "ssl-default-server-ciphers",
        "as `server ... ciphers`; checked where a TLS `server` uses it, as HAProxy",
    ),
    (
        "global",
        "localpeer",
        "names this process in `peers` sections, which the gateway refuses (stick tables are \
         not supported); alone it changes nothing, as in HAProxy",
    ),
    (
        "proxy",
        "capture",
        "`capture request|response header` as HAProxy; `capture cookie` is refused (`%CC` and \
         `%CS` write `-`)",
    ),
    (
        "proxy",
        "compression",
        "of servers' responses, as HAProxy 2.6 decides it; at level 1 with miniz_oxide (the \
         bytes differ from zlib's, not what they decompress to); `filter compression` and the \
         globals `maxcomprate`, `maxcompcpuusage`, `maxzlibmem` are refused",
    ),
    (
        "proxy",
        "errorfile",
        "for the pages of a request the gateway read (rules, no server, server errors); the \
         400, 408 and 431 of a request it could not read are HAProxy's own pages",
    ),
    (
        "proxy",
        "use_backend",
        "a dynamic name (`%[...]`) that names a `mode tcp` backend sends the request to \
         `default_backend`, like a name no backend has",
    ),
    (
        "proxy",
        "tcp-request",
        "`connection accept` or `reject`, `content accept` or `reject` with `if` or `unless` \
         conditions on the connection and the first bytes (`req.len`, `req.payload`, \
         `req.ssl_sni`, `req.ssl_hello_type`, `req.ssl_ver`) on `mode tcp` frontends, on each \
         request (before the `http-request` rules) on `mode http` ones, `content set-var(NAME)` on \
         `mode http` frontends, `connection expect-proxy layer4` \
         (a PROXY header first, as `bind ... accept-proxy`), and `inspect-delay`, in a \
         frontend; the other actions (`track-sc*`, `unset-var`, `capture`...) and \
         `tcp-request session` are errors naming them",
    ),
    (
        "proxy",
        "mode",
        "`http` and `tcp` (the default): a tcp frontend copies bytes to its tcp backend's server \
         (HAProxy's timeouts, half-close, retries, `maxconn`, `option tcplog`), or serves HTTP \
         when the backend it routes to is `mode http`, as HAProxy upgrades it; `filter spoe` on a \
         tcp frontend is an error naming it; a tcp backend no tcp frontend routes to is an SPOE \
         agents' backend; `spop` (HAProxy 3.1+) marks the agents' backend, run as 2.6 runs it in \
         `mode tcp` (a frontend routing to it, or a frontend in `mode spop`, is an error, as in 3.1)",
    ),
    (
        "proxy",
        "balance",
        "`roundrobin`, `leastconn`, `source`, `uri [whole]`, `hdr(NAME)` (HAProxy's map-based hash with the `hash-type` function: the same key picks the same server), `random[(N)]` (its own random draws); `static-rr`, `first`, `url_param`, `hash` and `rdp-cookie` are errors naming them",
    ),
    (
        "proxy",
        "server-template",
        "A and AAAA records; an SRV name (`_http._tcp.NAME`) is an error",
    ),
    (
        "server",
        "resolve-opts",
        "`allow-dup-ip`, `prevent-dup-ip`; `ignore-weight` weighs the servers of SRV records, which the gateway refuses",
    ),
    (
        "server",
        "init-addr",
        "`last` reads no server state file (there is none): a reload starts from the running gateway's last answer anyway",
    ),
    ("resolvers", "nameserver", "UDP only; `tcp@` is an error"),
    (
        "proxy",
        "source",
        "the address, any port; a fixed port or range, `usesrc` (transparent proxying) and `interface` are errors naming them; on the SPOE agents' backend, an error",
    ),
    (
        "server",
        "source",
        "the address, any port; a fixed port or range, `usesrc` and `interface` are errors naming them",
    ),
    ("bind", "proto", "`h2` and `h1` only"),
    ("server", "proto", "`h2` and `h1` only"),
    (
        "server",
        "on-marked-down",
        "`shutdown-sessions` cuts the server's sessions: a `mode tcp` connection, an HTTP request \
         waiting for its response (502, `DH`), a WebSocket or other tunnel (closed, `D-`); a \
         response whose body is already flowing, and a request waiting in the server's queue, \
         are not cut (HAProxy cuts the one, redispatches the other)",
    ),
    ("server", "on-marked-up", "as `on-marked-down`"),
    (
        "server",
        "track",
        "follows the tracked server's health (UP, DOWN, stopping); maintenance or drain set on \
         it by the runtime API or the stats page is not passed on (HAProxy passes it on)",
    ),
    (
        "server",
        "sni",
        "an expression (`req.hdr(host)`, `ssl_fc_sni`...) is evaluated for each connection to the server, and an idle connection is reused only for the same name, as HAProxy; rustls sends DNS names only: a value that is not one (an address, `host:port`) sends no SNI with `verify none` and refuses the connection (503) with `verify required`; SPOE agents' servers and health checks send a constant `sni` only",
    ),
    (
        "bind",
        "ciphers",
        "OpenSSL's cipher-string language (`ECDH+AESGCM:!aNULL`, `HIGH`, `@STRENGTH`...) as \
         OpenSSL 3 evaluates it, then the suites rustls implements (ECDHE with AES-GCM or \
         ChaCha20-Poly1305) in OpenSSL's order; the others it selects (DHE, CBC, CCM...) warn, \
         a string selecting only those is an error; `@SECLEVEL` above 2 and `SUITEB*` are errors",
    ),
    ("server", "ciphers", "as `bind ... ciphers`"),
    (
        "proxy",
        "timeout",
        "`client`, `server`, `connect`, `http-request`, `http-keep-alive`, `queue`, `check` run; the others warn",
    ),
    ("proxy", "filter", "`spoe` and `cache` only"),
    (
        "global",
        "server-state-file",
        "names the file, as HAProxy reads nothing from it without `load-server-state-from-file`",
    ),
    ("global", "server-state-base", "as `server-state-file`"),
    (
        "proxy",
        "load-server-state-from-file",
        "`none` only: the gateway loads no server states at start-up (`global` and `local` are \
         errors naming them)",
    ),
    (
        "proxy",
        "server-state-file-name",
        "names the file `load-server-state-from-file local` would read (refused)",
    ),
    (
        "proxy",
        "stick",
        "`match`, `on`, `store-request`, `store-response` in `mode http` backends (a `mode tcp` one is an error naming it); the table keeps `server_id` (the server's `id`), not HAProxy's `server_key`, so `show table` lists no `server_key`",
    ),
    (
        "proxy",
        "hash-type",
        "`map-based` with `sdbm`, `djb2`, `wt6`, `crc32`, `avalanche`, as HAProxy picks; `consistent` is an error naming it (so `hash-balance-factor` has nothing to bound)",
    ),
    (
        "proxy",
        "http-reuse",
        "`never` keeps no idle connection to the servers (a new connection per request, where HAProxy keeps one per client connection); `safe`, `aggressive` and `always` let an idle connection take any client's next request (HAProxy's `always`)",
    ),
    (
        "option",
        "prefer-last-server",
        "as HAProxy 2.6 on HTTP/1 servers: with `http-reuse never` a client connection's next request goes to its previous server while that one takes requests (not with `balance` hashes); with the other modes it changes nothing",
    ),
    (
        "proxy",
        "use-server",
        "a server name, not a dynamic `%[...]` one; in `mode http` backends",
    ),
    (
        "proxy",
        "stick-table",
        "every key type; `store` of every 2.6 data type but `bytes_in_cnt`/`bytes_in_rate` (the gateway does not count a request's bytes), `server_key` and the arrays `gpc`/`gpt`/`gpc_rate` (errors naming them); `bytes_out_*` count when the response ends, not as it streams; `peers` only with a section whose one peer is this process (the table is kept across reloads); the entries are process-wide, in 16 locked shards",
    ),
    (
        "global",
        "stats",
        "`socket` (a Unix path or a TCP address; `mode`, `level`, `user`, `group`, `uid`, `gid`; `expose-fd listeners` has nothing to pass: the gateway reloads in place), `timeout`, `maxconn`; the runtime API has the commands tools use (`help`, `prompt`, `show info|stat|servers state|table|version`, `clear table`, `set server ... state|weight`, `disable|enable server`, `get|set weight`); others are HAProxy's \"Unknown command\"",
    ),
    (
        "proxy",
        "stats",
        "`enable`, `uri`, `realm`, `auth`, `refresh`, `admin`, `hide-version`, `show-legends`, `show-node`, `show-desc`, `scope`; `http-request` and `show-modules` are refused; the page's CSV is `show stat`'s; JSON exports are not served; the servers' admin actions are ready, drain and maint",
    ),
    (
        "proxy",
        "http-check",
        "`send` with `meth`, `uri`, `ver`, `hdr`, `body`; `expect [!]` with `status`, `rstatus`, `string`, `rstring`; `connect [port N]`; `disable-on-404`. `send-state`, `set-var`, `comment`, the `-lf` forms and `expect hdr`, `fhdr`, `min-recv` are errors naming them; regexes are Rust's, not PCRE",
    ),
    (
        "proxy",
        "tcp-check",
        "`connect [port N]` only (a TCP connect); `send`/`expect` are errors naming them",
    ),
    (
        "bind",
        "name",
        "names the listener in HAProxy's stats and CLI, which the gateway does not have per listener",
    ),
    (
        "proxy",
        "log",
        "`global`, `stdout`/`stderr`; another target warns and gets nothing",
    ),
    (
        "proxy",
        "unique-id-format",
        "`%[...]` expressions only, not the `%ci`-style log variables (an error names them)",
    ),
    (
        "http-request",
        "redirect",
        "no `set-cookie`, `clear-cookie`",
    ),
    (
        "http-response",
        "redirect",
        "no `set-cookie`, `clear-cookie`",
    ),
    (
        "http-request",
        "silent-drop",
        "the connection is reset (over TLS with HTTP/2: closed); HAProxy with CAP_NET_ADMIN makes it vanish without a reset (TCP_REPAIR)",
    ),
    (
        "http-response",
        "silent-drop",
        "the connection is reset (over TLS with HTTP/2: closed); HAProxy with CAP_NET_ADMIN makes it vanish without a reset (TCP_REPAIR)",
    ),
    (
        "proxy",
        "cookie",
        "`insert`, `prefix`, `rewrite`, passive, with `indirect`, `nocache`, `postonly`, `preserve`, `httponly`, `secure`, `domain`, `attr`; the dated cookies (`maxidle`, `maxlife`) and `dynamic` are errors naming them",
    ),
    (
        "server",
        "proxy-v2-options",
        "`authority`, `unique-id`; `ssl`, `cert-cn`, `cert-key`, `cert-sig`, `ssl-cipher` and `crc32c` are errors naming them",
    ),
    ("http-request", "use-service", "`prometheus-exporter` only"),
    (
        "http-request",
        "auth",
        "crypt(3) runs on a blocking pool, not the serving threads, and verified credentials \
         are remembered for the generation (HAProxy runs crypt(3) at every check)",
    ),
    (
        "http-request",
        "set-var",
        "`set-var(<var-name>)`; not `set-var-fmt`, `unset-var`",
    ),
    (
        "http-response",
        "set-var",
        "`set-var(<var-name>)`; not `set-var-fmt`, `unset-var`",
    ),
];

/// The differences of the tuning and socket keywords (`config/tunes.rs`,
/// `config/proxy/sockets.rs`): most tune HAProxy's own machinery, which the gateway does not
/// have, and change nothing a client, a server or a log pipeline sees.
const SOCKET_DIFFERENCES: &[(&str, &str, &str)] = &[
    (
        "global",
        "tune.maxrewrite",
        "a request head larger than `tune.bufsize` less it, measured as HAProxy measures it \
         (its internal form), gets HAProxy's 400; one larger than twice `tune.bufsize` on the \
         wire gets a 431 (HAProxy: 400)",
    ),
    (
        "global",
        "tune.http.maxhdr",
        "a request with more header lines (the start line counted, as HAProxy) gets a 431 \
         (HAProxy: 400); responses are not counted",
    ),
    ("global", "thread-groups", "1 only, as HAProxy 2.6"),
    (
        "global",
        "maxsessrate",
        "as `maxconnrate`: sessions are counted as their connections are accepted, before \
         `tcp-request connection` rules (HAProxy counts those the rules let through)",
    ),
    (
        "global",
        "maxsslrate",
        "the accepts of TLS listeners, counted as they are accepted (HAProxy counts new TLS \
         sessions as their handshakes end)",
    ),
    (
        "proxy",
        "rate-limit",
        "`sessions`: counted as connections are accepted, before `tcp-request connection` rules",
    ),
    (
        "global",
        "tune.ssl.cachesize",
        "sessions per TLS listener (HAProxy's one cache is shared by every listener); 0 keeps \
         none, as HAProxy",
    ),
    (
        "global",
        "tune.ssl.maxrecord",
        "every TLS record is at most this size, where HAProxy lets a long transfer use full \
         records",
    ),
    (
        "global",
        "tune.ssl.lifetime",
        "checked, not applied: a session cached by ID lasts until the cache evicts it, and \
         tickets are valid 6 hours (rustls's ticketer), where HAProxy expires both after this \
         lifetime (300 s by default)",
    ),
    ("global", "thread-group", "group 1 only"),
    (
        "global",
        "tune.ssl.keylog",
        "`off` only: `on` is an error (the gateway keeps no TLS secrets for `ssl_*_secret`)",
    ),
    (
        "global",
        "busy-polling",
        "the gateway's event loop (tokio) sleeps while it waits; only CPU use and latency \
         under light load differ",
    ),
    (
        "global",
        "close-spread-time",
        "checked; a stop closes idle keep-alive connections at once rather than spread over \
         this time",
    ),
    (
        "global",
        "max-spread-checks",
        "checked; the gateway spreads its health checks by itself",
    ),
    (
        "global",
        "maxpipes",
        "the gateway does not splice: data is copied through its buffers, and clients and \
         servers get the same bytes",
    ),
    (
        "global",
        "nosplice",
        "the gateway never splices: nothing to turn off",
    ),
    (
        "global",
        "tune.pipesize",
        "the gateway does not splice: no pipes",
    ),
    (
        "global",
        "no-memory-trimming",
        "the gateway's allocator (jemalloc) returns freed memory by itself; no trimming to turn \
         off",
    ),
    (
        "global",
        "noepoll",
        "the gateway's event loop (tokio) always uses epoll; which poller runs is not \
         observable",
    ),
    ("global", "nopoll", "as `noepoll`"),
    ("global", "noevports", "as `noepoll`"),
    ("global", "nokqueue", "as `noepoll`"),
    (
        "global",
        "nogetaddrinfo",
        "names are resolved through the system's resolver (`getaddrinfo`) either way",
    ),
    (
        "global",
        "noreuseport",
        "the gateway never sets `SO_REUSEPORT` (HAProxy sets it unless `noreuseport`): with the \
         keyword both behave the same; without it, another process cannot bind a port the \
         gateway listens on, where it can bind HAProxy's",
    ),
    (
        "global",
        "numa-cpu-mapping",
        "the gateway does not bind its threads to one NUMA node (`cpu-map` does); on a machine \
         with one node nothing differs",
    ),
    (
        "global",
        "profiling.memory",
        "the gateway has no memory profiler (`show profiling` is an unknown command)",
    ),
    (
        "global",
        "profiling.tasks",
        "the gateway has no task profiler (`show profiling` is an unknown command)",
    ),
    (
        "global",
        "tune.buffers.limit",
        "the gateway allocates buffers per connection as it needs them, bounded by `maxconn` \
         and `tune.bufsize`",
    ),
    ("global", "tune.buffers.reserve", "as `tune.buffers.limit`"),
    (
        "global",
        "tune.fd.edge-triggered",
        "the gateway's event loop (tokio) is edge-triggered either way",
    ),
    (
        "global",
        "tune.http.cookielen",
        "bounds `capture cookie`, which the gateway refuses: nothing to bound",
    ),
    (
        "global",
        "tune.idle-pool.shared",
        "each worker thread keeps its own idle server connections",
    ),
    (
        "global",
        "tune.idletimer",
        "the gateway does not splice: no idle timer for it",
    ),
    (
        "global",
        "tune.listener.multi-queue",
        "the gateway accepts on one thread and hands each connection to the least busy worker",
    ),
    (
        "global",
        "tune.maxaccept",
        "the gateway accepts connections one at a time as its limits allow; the batch size of \
         HAProxy's accept loop is not observable",
    ),
    (
        "global",
        "tune.maxpollevents",
        "tunes HAProxy's poller, which the gateway does not have",
    ),
    (
        "global",
        "tune.pattern.cache-size",
        "the gateway keeps no cache of pattern matches: results are the same",
    ),
    (
        "global",
        "tune.pool-high-fd-ratio",
        "the idle server connections are bounded by `pool-max-conn` and `pool-purge-delay`",
    ),
    (
        "global",
        "tune.pool-low-fd-ratio",
        "as `tune.pool-high-fd-ratio`",
    ),
    (
        "global",
        "tune.recv_enough",
        "tunes HAProxy's reads, which the gateway does not share",
    ),
    (
        "global",
        "tune.runqueue-depth",
        "tunes HAProxy's scheduler, which the gateway does not have (tokio schedules its tasks)",
    ),
    (
        "global",
        "tune.sched.low-latency",
        "as `tune.runqueue-depth`",
    ),
    (
        "global",
        "tune.ssl.capture-buffer-size",
        "bounds the cipher list the `ssl_fc_cipherlist_*` fetches read, which the gateway does \
         not have",
    ),
    (
        "global",
        "tune.ssl.capture-cipherlist-size",
        "as `tune.ssl.capture-buffer-size`",
    ),
    (
        "global",
        "tune.ssl.force-private-cache",
        "the gateway is one process: its TLS session cache is private already",
    ),
    (
        "global",
        "tune.ssl.ssl-ctx-cache-size",
        "bounds the certificates `generate-certificates` makes, which the gateway refuses",
    ),
    (
        "bind",
        "id",
        "numbers the listener in HAProxy's stats and CLI, which the gateway does not have per \
         listener",
    ),
    (
        "bind",
        "nice",
        "the gateway gives no listener's connections priority over another's",
    ),
    (
        "bind",
        "process",
        "one process: `all`, `odd`, `1` (with HAProxy's deprecation warning); others are errors",
    ),
    (
        "bind",
        "thread",
        "the gateway accepts on one thread and hands each connection to the least busy worker, \
         whatever the set",
    ),
    (
        "bind",
        "shards",
        "one socket per address, whatever the number",
    ),
    (
        "bind",
        "user",
        "concerns Unix sockets, on which frontends do not listen: nothing to change on a TCP \
         listener, as in HAProxy",
    ),
    ("bind", "uid", "as `user`"),
    ("bind", "group", "as `user`"),
    ("bind", "gid", "as `user`"),
    ("bind", "mode", "as `user`"),
    (
        "server",
        "tfo",
        "connects without TCP Fast Open: the server gets the same bytes, one round trip later",
    ),
    (
        "option",
        "splice-auto",
        "the gateway does not splice: data is copied through its buffers, and clients and \
         servers get the same bytes",
    ),
    ("option", "splice-request", "as `splice-auto`"),
    ("option", "splice-response", "as `splice-auto`"),
];

/// A keyword's status in the table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Status {
    Runs,
    Differs(&'static str),
    Ignored(&'static str),
    Refused,
}

impl Status {
    fn cells(&self) -> (&'static str, &'static str) {
        match self {
            Self::Runs => ("supported", ""),
            Self::Differs(d) => ("supported, with a difference", d),
            Self::Ignored(why) => ("accepted with a warning, no effect", why),
            Self::Refused => ("refused (an error naming it)", ""),
        }
    }
}

fn runs(place: &str, name: &str) -> Status {
    DIFFERENCES
        .iter()
        .chain(SOCKET_DIFFERENCES)
        .find(|(w, k, _)| *w == place && *k == name)
        .map_or(Status::Runs, |(_, _, d)| Status::Differs(d))
}

fn of_use(place: &str, name: &str, uses: Use) -> Status {
    match uses {
        Use::Ignored(why) => Status::Ignored(why),
        Use::Runs(_) | Use::Read => runs(place, name),
    }
}

/// Every keyword by `(where, keyword)`; the first status given for a keyword wins (the
/// tables the reader consults first come first).
fn rows() -> BTreeMap<(&'static str, String), Status> {
    let mut rows = BTreeMap::new();
    let mut add = |place: &'static str, name: &str, status: Status| {
        rows.entry((place, name.to_owned())).or_insert(status);
    };
    for k in global::KEYWORDS {
        add("global", k.name, of_use("global", k.name, k.uses));
    }
    for k in tunes::KEYWORDS {
        add("global", k.name, of_use("global", k.name, k.uses));
    }
    for (k, _) in tunes::MACHINERY {
        add("global", k, runs("global", k));
    }
    for k in lua::KEYWORDS {
        add("global", k, Status::Runs);
    }
    for (k, why) in IGNORED_GLOBAL {
        add("global", k, Status::Ignored(why));
    }
    for k in HAPROXY_GLOBAL {
        add("global", k, Status::Refused);
    }
    add("global", "tune.* (others)", Status::Refused);
    add("global", "ssl-* (others)", Status::Refused);
    for k in proxy::KEYWORDS {
        add("proxy", k.name, of_use("proxy", k.name, k.uses));
    }
    for (k, why) in IGNORED_PROXY {
        add("proxy", k, Status::Ignored(why));
    }
    for k in HAPROXY_PROXY {
        add("proxy", k, Status::Refused);
    }
    for k in proxy::OPTIONS {
        add("option", k.name, of_use("option", k.name, k.uses));
    }
    for (k, _, why) in IGNORED_OPTIONS {
        add("option", k, Status::Ignored(why));
    }
    for k in HAPROXY_OPTIONS {
        add("option", k, Status::Refused);
    }
    for k in proxy::TIMEOUTS {
        add("timeout", k.name, of_use("timeout", k.name, k.uses));
    }
    for k in RUN_BIND_OPTIONS {
        add("bind", k, runs("bind", k));
    }
    for (k, _) in HAPROXY_BIND_KEYWORDS {
        add("bind", k, Status::Refused);
    }
    for k in proxy::SERVER_SETTINGS.iter().chain(proxy::DNS_SETTINGS) {
        add("server", k.name, of_use("server", k.name, k.uses));
    }
    for k in RESOLVERS_KEYWORDS {
        add("resolvers", k, runs("resolvers", k));
    }
    for k in CACHE_KEYWORDS {
        add("cache", k, runs("cache", k));
    }
    // The TLS settings need certificate files: config/tests/tls.rs reads each of them.
    for k in SERVER_TLS_SETTINGS {
        add("server", k, runs("server", k));
    }
    for (k, _) in HAPROXY_SERVER_KEYWORDS {
        add("server", k, Status::Refused);
    }
    for k in REQUEST_ACTIONS {
        add("http-request", k, runs("http-request", k));
    }
    for k in RESPONSE_ACTIONS {
        add("http-response", k, runs("http-response", k));
    }
    for k in AFTER_ACTIONS {
        add("http-after-response", k, runs("http-after-response", k));
    }
    // Actions and services the Lua files register (`core.register_action`, `register_service`).
    add("http-request", "lua.NAME", Status::Runs);
    add("http-response", "lua.NAME", Status::Runs);
    for k in OTHER_ACTIONS.iter().chain(REQUEST_ACTIONS) {
        add("http-request", k, Status::Refused);
        add("http-response", k, Status::Refused);
    }
    for k in AFTER_OTHER_ACTIONS {
        add("http-after-response", k, Status::Refused);
    }
    rows
}

/// Where each group of rows is read, for the table's first column.
fn place_label(place: &str) -> &'static str {
    match place {
        "global" => "`global`",
        "proxy" => "`defaults`/`frontend`/`backend`/`listen`",
        "option" => "`option ...`",
        "timeout" => "`timeout ...`",
        "bind" => "`bind ADDR ...` option",
        "server" => "`server NAME ADDR ...` setting",
        "resolvers" => "`resolvers` section",
        "cache" => "`cache` section",
        "http-request" => "`http-request` action",
        "http-response" => "`http-response` action",
        _ => "`http-after-response` action",
    }
}

/// The table, as it stands in the README between its markers.
#[must_use]
pub fn keyword_table() -> String {
    let rows = rows();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut out =
        String::from("| where | keyword | status | difference, or why it has no effect |\n");
    out.push_str("| --- | --- | --- | --- |\n");
    let order = [
        "global",
        "proxy",
        "option",
        "timeout",
        "bind",
        "server",
        "resolvers",
        "cache",
        "http-request",
        "http-response",
        "http-after-response",
    ];
    for place in order {
        let mut group: Vec<_> = rows.iter().filter(|((p, _), _)| *p == place).collect();
        group.sort_by(|((_, a), sa), ((_, b), sb)| sa.cells().0.cmp(sb.cells().0).then(a.cmp(b)));
        for ((_, name), status) in group {
            let (state, note) = status.cells();
            *counts.entry(state).or_default() += 1;
            let _ = writeln!(
                out,
                "| {} | `{name}` | {state} | {note} |",
                place_label(place)
            );
        }
    }
    let total: usize = counts.values().sum();
    let _ = write!(out, "\n{total} keywords:");
    for (i, (state, n)) in counts.iter().enumerate() {
        let _ = write!(out, "{} {n} {state}", if i == 0 { "" } else { "," });
    }
    out.push_str(".\n");
    out
}

#[cfg(test)]
mod tests {
    use super::{DIFFERENCES, SOCKET_DIFFERENCES, Status, rows};

    #[test]
    fn every_difference_is_of_a_keyword_in_the_table() {
        let rows = rows();
        for (place, keyword, _) in DIFFERENCES.iter().chain(SOCKET_DIFFERENCES) {
            assert!(
                rows.contains_key(&(*place, (*keyword).to_owned())),
                "{place} {keyword}"
            );
        }
    }

    /// A tuning keyword read with nothing to apply says why in the table.
    #[test]
    fn every_machinery_keyword_says_its_difference() {
        let rows = rows();
        for (keyword, _) in super::tunes::MACHINERY {
            let status = &rows[&("global", (*keyword).to_owned())];
            assert!(
                matches!(status, Status::Differs(_)),
                "{keyword}: {status:?}"
            );
        }
    }
}
