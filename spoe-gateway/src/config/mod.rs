//! `haproxy.cfg`: the subset of HAProxy's configuration the gateway runs, read with HAProxy's
//! syntax and lowered to the gateway's own typed model, behind the opaque [`GatewayConfig`].
//!
//! ```text
//!   text ── spoe::config::reader (quotes, escapes, "${ENV}", .if, sections) ── lower ── checks ──> GatewayConfig
//!             │                                      global, defaults,      │ proxies  │ backends exist,
//!             │                                      frontend, backend,     │ filters: │ modes agree,
//!             │                                      listen                 │ spoe.conf│ spoe groups exist
//!             └────────────── every error and warning, `parsing [file:line:col] : ...` ───────────┘
//! ```
//!
//! The reader is the one `spoe.conf` uses too ([`spoe::config::reader`]): quoting, escapes,
//! environment variables, `.if`/`.elif`/`.else`/`.endif` with HAProxy 2.6's predicates
//! (`feature()` knows [`FEATURES`]), `.diag`/`.notice`/`.warning`/`.alert`, comments. Addresses
//! (`bind`, `server`) also expand `$VAR` and `${VAR}` outside quotes, as HAProxy's
//! `str2sa_range()` does: `bind :${PORT}`.
//!
//! ```
//! use std::path::Path;
//! use spoe_gateway::config::GatewayConfig;
//!
//! let text = "\
//! defaults
//!     mode http
//!     timeout client 30s
//!     timeout connect 5s
//!     timeout server 30s
//! frontend web
//!     bind :8080
//!     http-request set-var(txn.path) path
//!     http-request deny if { var(txn.path) -m beg /admin }
//!     default_backend app
//! backend app
//!     mode http
//!     server s1 127.0.0.1:9000 check
//! ";
//! let (config, warnings) = GatewayConfig::parse_str(text, "haproxy.cfg", Path::new("."), None).unwrap();
//! assert!(warnings.is_empty());
//! assert_eq!(config.listeners().next().unwrap().to_string(), "0.0.0.0:8080");
//! assert_eq!(config.var_names(), ["txn.path"]);
//!
//! let bad = "frontend web\n    mode http\n    bind :99999\n    timeout client 5x\n";
//! let errors = GatewayConfig::parse_str(bad, "h.cfg", Path::new("."), None).unwrap_err();
//! assert_eq!(
//!     errors.to_string(),
//!     "parsing [h.cfg:3:11] : 'bind' : invalid port '99999' in ':99999'\n\
//!      parsing [h.cfg:4:20] : 'timeout client' expects a duration such as 500ms, got '5x'"
//! );
//! // Warnings come with the configuration, or with the errors.
//! let no_timeouts = "frontend web\n    mode http\n    bind :80\n";
//! let (_, warnings) = GatewayConfig::parse_str(no_timeouts, "h.cfg", Path::new("."), None).unwrap();
//! assert_eq!(
//!     warnings[0].to_string(),
//!     "parsing [h.cfg:1:1] : missing timeouts for frontend 'web'. While not properly invalid, \
//!      you will certainly encounter various problems with such a configuration; set 'client', \
//!      'connect' and 'server' to a non-zero value"
//! );
//! ```
//!
//! # What is read
//!
//! - `global`: `maxconn`, `hard-stop-after`, `nbthread`, `tune.bufsize` (the bound of a body
//!   that `option http-buffer-request` waits for), `log stdout|stderr [len N]
//!   [format F] [sample S] FACILITY [LEVEL [MINLEVEL]]`, `default-path`.
//! - `defaults [NAME] [from NAME]`: `mode`, `timeout`, `maxconn`, `balance`,
//!   `default-server`, `default_backend`, `option spop-check`, `option http-buffer-request`,
//!   `log global`. As in HAProxy,
//!   a proxy starts from the last `defaults` section above it (or the named one after `from`),
//!   and each `defaults` section starts afresh (or from the named one).
//! - `frontend NAME`, `backend NAME`, `listen NAME` (a frontend and a backend sharing the name:
//!   its `acl`s, rules and filters go to the frontend half, which routes to the `listen`'s own
//!   servers unless `default_backend` says otherwise; a `listen` in `mode tcp` without `bind`
//!   is only a backend): `mode http|tcp`, `bind ADDR:PORT[,...]` (`:PORT` and `*:PORT` are every
//!   IPv4 address, `[::1]:PORT`, `:::PORT`, port ranges, host names resolved once),
//!   `timeout client|server|connect|http-request|http-keep-alive|queue|check|tunnel` (`tunnel`: the
//!   idle bound of a WebSocket or other `101` tunnel, see `crate::tunnel`), `option
//!   forwardfor [except NET] [header NAME] [if-none]`, `[no] option
//!   http-keep-alive|http-server-close|httpclose` (as HAProxy 2.6: see `crate::hop`), `maxconn` (enforced
//!   as HAProxy's: see [`crate::limits`]), `log global`, `log stdout|stderr ...`, `no log`,
//!   `default_backend`, `use_backend NAME [if|unless COND]`, `server NAME ADDR[:PORT] [check]
//!   [no-check] [inter D] [rise N] [fall N] [weight N] [maxconn N] [pool-max-conn N]
//!   [pool-purge-delay D] [fastinter D] [downinter D] [port N] [addr IP] [backup]` (without a
//!   port, or with `+N`/`-N`, the client's destination port plus N; `0.0.0.0` the address the
//!   client connected to: see `crate::hop`; `pool-max-conn`
//!   defaults to 64, not HAProxy's unlimited; -1 is unlimited), `default-server` with the
//!   same settings, a host name for `ADDR` (`init-addr last,libc,none,IP` says how it
//!   starts; with `resolvers NAME [resolve-prefer ipv4|ipv6] [resolve-opts ...] [resolve-net
//!   NETS]` it is resolved again at run time: see `crate::resolve`), `source ADDR` on a
//!   server or a backend (`proxy/source.rs`), `server-template PREFIX
//!   NUM|LOW-HIGH FQDN[:PORT] [settings]` (`proxy/server_template.rs`), `balance roundrobin|leastconn`, `[no] option allbackups`, active checks
//!   (`option httpchk [[METH] URI [VER]]`, `http-check send|expect|connect|disable-on-404`,
//!   `option tcp-check` with `tcp-check connect [port N]`, `timeout check`: see
//!   `generation/health.rs`), `option spop-check`, `[no] option
//!   http-buffer-request` (wait for the body, at most `tune.bufsize` bytes within `timeout
//!   http-request`, before the proxy's SPOE events and rules; what does not fit is not waited
//!   for and streams on after what was buffered; without it bodies stream and `req.body` is
//!   empty), `acl`, `filter spoe [engine NAME] config FILE`.
//! - Error pages (`proxy/errorfile.rs`, `http_errors.rs`): `errorfile`, `errorloc*`,
//!   `errorfiles NAME [CODE...]`, `http-error status N ...`, `http-errors NAME` sections of
//!   `errorfile` lines; in the order written, `defaults`' first, the last one for a status
//!   winning, the backend's before the frontend's at run time.
//! - `http-request deny [deny_status N]` (HAProxy's error page), `deny [deny_status|status
//!   N] [content-type T] [hdr NAME FMT]... [PAYLOAD]` (a custom reply), `return [status N]
//!   [content-type T] [hdr NAME FMT]... [PAYLOAD]`, PAYLOAD one of `default-errorfiles`,
//!   `errorfile F`, `errorfiles NAME`, `file F`, `lf-file F`, `string S`, `lf-string FMT`
//!   (`http_reply.rs`), `set-header`,
//!   `add-header`, `del-header NAME [-m str]`, `replace-header|replace-value NAME REGEX FMT`,
//!   `set-var(NAME) EXPR`, `send-spoe-group ENGINE GROUP`, `redirect location|prefix|scheme
//!   TARGET [code N] [drop-query] [append-slash]`, `silent-drop`, `allow`,
//!   `set-method|set-path|set-pathq|set-query|set-uri FMT`, `replace-path|replace-pathq|
//!   replace-uri REGEX FMT`, `use-service prometheus-exporter`; `http-response deny` (502 by
//!   default), `return`, `redirect`, `silent-drop`, `allow`, `set-status N [reason R]`,
//!   `set-header`, `add-header`, `del-header`, `replace-header`, `replace-value`, `set-var`,
//!   `send-spoe-group`; `http-after-response set-header|add-header|del-header|replace-header|
//!   replace-value|set-status|set-var|allow` (on every response, the server's and the
//!   gateway's own); each with an optional `if|unless COND`.
//!   Conditions and ACLs are [`spoe::expr`]'s; log-format strings are described in
//!   [`logformat`](self#log-format-strings).
//! - `resolvers NAME` sections: `nameserver NAME IP:PORT` (UDP), `parse-resolv-conf`,
//!   `accepted_payload_size`, `resolve_retries`, `timeout resolve|retry`, `hold
//!   valid|nx|other|refused|timeout|obsolete` (`resolvers.rs`).
//! - Stick tables (`crate::sticktable`): `stick-table type ip|ipv6|integer|string [len N]|binary
//!   [len N] size N [expire D] [nopurge] [peers P] [store ...]` in a frontend, backend or
//!   `listen` (the table takes the proxy's name; a backend with only a `stick-table` line is a
//!   table), `http-request|http-response track-sc0|1|2 KEY [table T]`, `sc-inc-gpc0(N)`,
//!   `sc-inc-gpc1(N)`, `sc-set-gpt0(N) INT|EXPR`, the `sc_*`, `sc0_*`..`sc2_*`, `src_*`,
//!   `table_avl`, `table_cnt` fetches, and `peers` sections whose only peer is this process
//!   (their tables are carried over a reload). Remote peers, `store bytes_in_*`, `server_key`
//!   and the `gpc`/`gpt` arrays are errors naming them.
//! - `userlist NAME` sections (`user NAME [password HASH | insecure-password P] [groups
//!   G,...]`, `group NAME [users U,...]`; `crate::auth`), `http-request auth [realm R]`
//!   (HAProxy's 401 page with `WWW-Authenticate: Basic realm="R"`, the proxy's name by
//!   default), the `http_auth(L)`, `http_auth_group(L)`, `http_auth_user`, `http_auth_pass`,
//!   `http_auth_type` and `http_auth_bearer` fetches; hashes of a scheme crypt(3) would not
//!   know are errors, as in HAProxy. `http-request tarpit` (`deny`'s arguments, 500 by
//!   default) holds the request `timeout tarpit` (`timeout connect` without it), then answers
//!   and closes.
//! - `cache NAME` sections (`total-max-size`, `max-object-size`, `max-age`, `process-vary`,
//!   `max-secondary-entries`; `config::cache`), `http-request cache-use NAME`,
//!   `http-response cache-store NAME`, `filter cache NAME`, the `res.cache_hit` and
//!   `res.cache_name` fetches and the runtime API's `show cache` (what runs them:
//!   `crate::cache`).
//! - Logs, as HAProxy writes them: a frontend writes to its own `log` lines only (`log
//!   global` stands for every `log ...` line of `global`; `defaults` hands its lines down; `no
//!   log` forgets those before it), to stdout, stderr, syslog over UDP (`HOST[:PORT]`,
//!   `udp@`) or a Unix datagram socket (`/dev/log`, `unix@PATH`), each framed as its line
//!   says (`format` `local` (the default), `rfc3164`, `rfc5424`, `raw`, `priority`, `short`,
//!   `timed`, `iso`; `len`, `sample`, the level and minimum level). With `option httplog
//!   [clf]`, `option tcplog` or `log-format FMT` (`crate::logline`) a request's line is written
//!   when it ends; without one, HAProxy's `Connect from` line when it starts. `option
//!   dontlognull`, `dontlog-normal`, `log-separate-errors` choose lines and levels as HAProxy's.
//!   Without any `log` line nothing is written. An SPOE agent writes its SPOE lines to its own
//!   `log` lines in `spoe.conf`. In a backend the formats are ignored with a warning, as by
//!   HAProxy.
//!
//! Anything else is an error naming the file, line and column, never silently dropped: an
//! unknown keyword says so, a keyword HAProxy has but the gateway does not run says "not
//! supported by the gateway". All errors are collected, with the warnings.
//!
//! - The statistics page, `stats enable|uri|realm|auth|refresh|admin|hide-version|
//!   show-legends|show-node|show-desc|scope` in proxies (`crate::stats_page`), and `global`'s
//!   `stats socket|timeout|maxconn`, the runtime API (`crate::runtime_api`).
//!
//! # Accepted and ignored, with a warning
//!
//! Directives that HAProxy accepts, that are common in real configurations, and whose absence
//! does not change how the gateway answers a request:
//!
//! - `global`: `ca-base`, `crt-base`, `ssl-default-bind-*`, `ssl-default-server-*`,
//!   `tune.ssl.default-dh-param`,
//!   `ulimit-n`, `quiet`, `description`, `node`, `expose-experimental-directives`,
//!   `spread-checks`, `busy-polling`, `mworker-max-reloads`.
//! - proxies: `capture`,
//!   `retries`, `description`, `id`, `enabled`,
//!   `backlog`, `timeout check|tarpit|client-fin|server-fin`.
//! - options: `log-health-checks`, `redispatch`,
//!   `tcpka`, `clitcpka`, `srvtcpka`, `splice-*`, `http-no-delay`, `tcp-smart-accept`,
//!   `tcp-smart-connect`, `nolinger`.
//! - what HAProxy itself ignores with a warning: a directive in a proxy without the needed
//!   side (`timeout server` in a frontend, `balance` in a frontend...), `hdr Content-Length` in
//!   `return`, `content-type` without a payload, rules after an unconditional final rule,
//!   HTTP rules in a tcp backend, `[scope]` lines.
//!
//! # HAProxy's behaviour, and where the gateway differs
//!
//! - Relative paths (`filter spoe ... config FILE`, ACL `-f FILE`) start from the current
//!   directory, as in HAProxy (`readcfgfile()` opens the path as given). The entry points take
//!   that directory explicitly ([`GatewayConfig::parse_str`]'s `base_dir`;
//!   [`GatewayConfig::from_file`] uses the process's), so a test or a reload resolves them
//!   deterministically. `global` / `default-path config` makes them start from the
//!   directory of `haproxy.cfg` instead, as in HAProxy 2.6.
//! - The default mode is `tcp`, as in HAProxy: a frontend without `mode http` is an error (tcp
//!   frontends are not supported), and a backend without `mode` is a tcp backend (fine for the
//!   agents, an error when an http frontend routes to it).
//! - A frontend with no `default_backend` is accepted (HAProxy answers 503 when no rule
//!   answered and no backend was chosen).
//! - `timeout X 0` means no timeout (`None`), as HAProxy's `TICK_ETERNITY`.
//! - Stricter than HAProxy's `atol()`: numbers and ports must be plain digits; a server needs
//!   an explicit port; `deny_status` must be one of HAProxy's built-in error statuses.
//! - `setenv`, `presetenv`, `unsetenv` and `resetenv` change the environment the lines after
//!   them, the `spoe.conf` files and `env()` read, as in HAProxy, without writing the process's
//!   own (`environ.rs`).
//!
//! # Log-format strings
//!
//! Text, `%%` for a percent sign, and `%[EXPR]` samples (a fetch and converters, as in `acl`).
//! `%{+Q}` flags and `%ci`-style aliases are errors (the message suggests the fetch). A sample
//! whose data does not exist where the rule runs (`%[res.hdr(x)]` in `http-request`) is an
//! error, as in HAProxy.

//! # Where a new keyword goes
//!
//! - A `global` keyword: a row of `global::KEYWORDS` and its handler in `global.rs` (`log`
//!   lines: `log.rs`).
//! - A proxy keyword (`defaults`, `frontend`, `backend`, `listen`): a row of
//!   `proxy::KEYWORDS` and its handler in the file of its family under `proxy/`: `bind.rs`
//!   (and the options after a `bind` address), `server.rs` (`server`, `default-server` and
//!   their settings, `balance`), `timeout.rs`, `option.rs`, `rules.rs` (`acl`,
//!   `http-request`, `http-response`; an action is in `actions.rs`), `routing.rs`
//!   (`default_backend`, `use_backend`), `filter.rs`, `limits.rs` (`maxconn`). What a proxy
//!   inherits from `defaults` is `Proxy::from_defaults` in `lower.rs`; checks across
//!   sections are in `validate.rs`.
//! - A timeout, an option or a `server` setting: a row of `proxy::timeout::TIMEOUTS`,
//!   `proxy::option::OPTIONS` or `proxy::server::SERVER_SETTINGS`.
//! - A keyword HAProxy has that the gateway accepts and ignores, or refuses by name: the
//!   tables of `keywords.rs`. The tables are the single source of the "did you mean" hints.
//! - Each row says what the gateway does with the keyword (`keywords::Use`): the model fields
//!   it fills and the file that reads each at run time, or the reason it is ignored (the
//!   warning's). The keyword audit (`tests/keywords.rs`) checks every row against the model
//!   and the sources, and parses each; the model being private, the compiler's dead-code lint
//!   reports a field nothing reads. `spoe.conf`'s keywords have the same audit
//!   (`spoe::config`'s `keywords::CONSUMED`).

mod actions;
mod addr;
mod addr_actions;
mod cache;
mod check_rules;
mod cpu_map;
mod diag;
mod dns_settings;
mod environ;
mod error_pages;
mod global;
mod grammar;
mod http_errors;
mod http_reply;
mod keywords;
mod log;
mod logformat;
mod lower;
mod lua;
mod peers;
mod process;
mod proxy;
mod reach;
mod replies;
mod resolvers;
mod rewrites;
mod server_state;
mod server_track;
mod sock_settings;
mod ssl;
mod stats_socket;
pub mod table;
#[cfg(test)]
mod tests;
mod track;
mod tunes;
mod userlist;
mod validate;
mod vars;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use spoe::config::reader::{Input, read};
use spoe::config::{ConfigError, ConfigErrorKind, ConfigErrors, ConfigWarning, Diagnostics, Span};

pub use crate::model::{GatewayConfig, Syslog, SyslogFormat};
pub use grammar::FEATURES;
use grammar::{HaproxyCfg, Kind};
use lower::Lowerer;

impl GatewayConfig {
    /// Reads and checks the `haproxy.cfg` at `path`, and every `spoe.conf` its filters name.
    /// Relative paths inside start from the process's current directory, as in HAProxy;
    /// `"${VAR}"` reads the process's environment.
    ///
    /// # Errors
    ///
    /// The file cannot be read, or every error found (with the warnings), in file order.
    pub fn from_file(path: &Path) -> Result<(Self, Vec<ConfigWarning>), ConfigErrors> {
        let bytes = std::fs::read(path).map_err(|e| ConfigErrors {
            errors: vec![ConfigError {
                span: Span::file(Arc::from(path)),
                kind: ConfigErrorKind::Io {
                    path: path.to_owned(),
                    error: e.to_string(),
                },
            }],
            warnings: Vec::new(),
        })?;
        let text = String::from_utf8_lossy(&bytes);
        Self::parse_str(&text, path, Path::new(""), None)
    }

    /// Parses `text`, named `file_name` in messages. Relative paths (`filter spoe ... config
    /// FILE`, ACL `-f FILE`) start from `base_dir`, which stands for HAProxy's current
    /// directory. `"${VAR}"` reads `env`, or the process's environment when `env` is `None`.
    ///
    /// # Errors
    ///
    /// Every error found (with the warnings), in file order; problems in a `spoe.conf` are
    /// reported at their place in that file, sorted at the `filter` line that loads it.
    pub fn parse_str(
        text: &str,
        file_name: impl AsRef<Path>,
        base_dir: &Path,
        env: Option<BTreeMap<String, String>>,
    ) -> Result<(Self, Vec<ConfigWarning>), ConfigErrors> {
        let file: Arc<Path> = Arc::from(file_name.as_ref());
        let environ = environ::Environ::new(env.as_ref());
        let lookup = |name: &str| environ.get(name);
        let mut diag = diag::Diag::new(file.clone());
        let input = Input {
            text,
            file: &file,
            env: &lookup,
            features: FEATURES,
        };
        let mut read_diags = Diagnostics::default();
        let grammar = HaproxyCfg {
            proxy_keyword: proxy::is_keyword,
            environ: &environ,
        };
        let doc = read(&input, &grammar, &mut read_diags);
        diag.absorb(read_diags);
        for scope in doc.scopes {
            diag.ignored(
                scope.span,
                format!("[{}]", scope.value),
                "scopes only select sections of SPOE files",
            );
        }
        // The rest of the read (addresses, `spoe.conf` files) sees what `setenv`... left.
        let effective = environ.effective();
        let changed = effective.as_ref() != env.as_ref();
        let mut lw = Lowerer::new(&file, base_dir, effective.as_ref(), &mut diag);
        lw.misplaced = doc
            .misplaced
            .iter()
            .filter_map(|l| l.arg_str(1).map(str::to_owned))
            .collect();
        lw.resolvers_ahead = doc
            .sections
            .iter()
            .filter(|s| s.kind == Kind::Resolvers)
            .filter_map(|s| s.header.arg_str(1).map(str::to_owned))
            .collect();
        for section in &doc.sections {
            match section.kind {
                Kind::Global => lw.global_section(section),
                Kind::Peers => lw.peers_section(section),
                Kind::Resolvers => lw.resolvers_section(section),
                Kind::Userlist => lw.userlist_section(section),
                Kind::Cache => lw.cache_section(section),
                Kind::HttpErrors => lw.http_errors_section(section),
                Kind::Unsupported(keyword) => lw.diag.error_msg(
                    section.span().clone(),
                    format!("'{keyword}' sections are not supported by the gateway"),
                ),
                _ => lw.proxy_section_with_lua(section),
            }
        }
        let zero_warning = lw.zero_warning.take();
        let lowered = lw.finish();
        let mut config = validate::finish(lowered, &mut diag);
        if changed {
            config.global.environment = effective.map(Arc::new);
        }
        if !diag.has_errors() {
            reach::check(&config, &mut diag);
        }
        // `zero-warning`: HAProxy's alert once everything is read.
        if let Some(span) = zero_warning
            && !diag.has_errors()
            && diag.has_warnings()
        {
            diag.error_msg(
                span,
                "Some warnings were found and 'zero-warning' is set. Aborting.",
            );
        }
        let has_errors = diag.has_errors();
        let report = diag.finish();
        if has_errors {
            return Err(report);
        }
        Ok((config, report.warnings))
    }

    /// `daemon`: whether `spoe gateway` goes to the background once listening.
    pub fn daemon(&self) -> bool {
        self.global.process.daemon
    }

    /// `cpu-map`, to bind the process and its worker threads with; `None` when it maps
    /// nothing.
    pub fn cpu_binding(&self) -> Option<crate::affinity::CpuBinding> {
        let map = &self.global.process.cpu_map;
        (!map.is_empty()).then(|| crate::affinity::CpuBinding(map.clone()))
    }

    /// `nbthread`: how many worker threads serve connections (`None`: one per CPU).
    pub fn nbthread(&self) -> Option<usize> {
        self.global.nbthread
    }

    /// The full names (`txn.crowdsec.remediation`) of the variables the configuration
    /// references, which HAProxy registers while it reads the configuration: an SPOE agent may
    /// set them without `option force-set-var`. `var(NAME)` in sample expressions, ACLs,
    /// conditions and log-format strings of `haproxy.cfg` and of every `spoe.conf` it loads,
    /// variables named in converters (`add(txn.x)`, `concat(,txn.x,)`), and `set-var(NAME)`
    /// targets. Sorted, without duplicates.
    pub fn var_names(&self) -> Vec<String> {
        vars::var_names(self)
    }

    /// The `proc.` variables the configuration itself names (as [`var_names`](Self::var_names),
    /// without the names spelled in Lua files): HAProxy creates them while it reads the
    /// configuration, so they exist before any request (`txn:set_var(name, v, true)` sets
    /// them).
    pub fn declared_proc_vars(&self) -> std::collections::BTreeSet<String> {
        vars::referenced(self)
            .into_iter()
            .filter(|n| n.starts_with("proc."))
            .collect()
    }

    /// Whether a rule sets the level of access lines (`set-log-level`).
    pub fn sets_log_level(&self) -> bool {
        let rules = self
            .frontends
            .iter()
            .flat_map(|f| f.http_request.iter().chain(&f.http_response))
            .chain(
                self.backends
                    .iter()
                    .flat_map(|b| b.http_request.iter().chain(&b.http_response)),
            );
        rules
            .into_iter()
            .any(|r| matches!(r.action, crate::model::HttpAction::SetLogLevel { .. }))
    }

    /// Every file read to build this configuration, `haproxy.cfg` first.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }
}
