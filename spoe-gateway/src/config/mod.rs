//! `haproxy.cfg`: the subset of HAProxy's configuration the gateway runs, read with HAProxy's
//! syntax and lowered to the typed [`GatewayConfig`].
//!
//! ```text
//!   text ── lexer (spoe::config::host: quotes, escapes, "${ENV}") ── sections ── lower ── checks ──> GatewayConfig
//!             │                                             global, defaults,  │ proxies  │ backends exist,
//!             │                                             frontend, backend, │ filters: │ modes agree,
//!             │                                             listen             │ spoe.conf│ spoe groups exist
//!             └────────────── every error and warning, `parsing [file:line:col] : ...` ───────────────┘
//! ```
//!
//! ```
//! use std::path::Path;
//! use spoe_gateway::config::var_names;
//! use spoe_gateway::model::GatewayConfig;
//!
//! let text = "\
//! defaults
//!     mode http
//!     timeout client 30s
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
//! assert_eq!(config.frontends[0].binds[0].to_string(), "0.0.0.0:8080");
//! assert_eq!(var_names(&config), ["txn.path"]);
//!
//! let bad = "frontend web\n    mode http\n    bind :99999\n    timeout client 5x\n";
//! let errors = GatewayConfig::parse_str(bad, "h.cfg", Path::new("."), None).unwrap_err();
//! assert_eq!(
//!     errors.to_string(),
//!     "parsing [h.cfg:3:11] : 'bind' : invalid port '99999' in ':99999'\n\
//!      parsing [h.cfg:4:20] : 'timeout client' expects a duration such as 500ms, got '5x'"
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
//!   `timeout client|server|connect|http-request|http-keep-alive|queue`, `maxconn`,
//!   `default_backend`, `use_backend NAME [if|unless COND]`, `server NAME ADDR:PORT [check]
//!   [no-check] [inter D] [rise N] [fall N] [weight N] [maxconn N] [pool-max-conn N]
//!   [pool-purge-delay D]` (`pool-max-conn` defaults to 64, not HAProxy's unlimited; -1 is
//!   unlimited), `default-server` with the
//!   same settings, `balance roundrobin|leastconn`, `option spop-check`, `[no] option
//!   http-buffer-request` (wait for the body, at most `tune.bufsize` bytes within `timeout
//!   http-request`, before the proxy's SPOE events and rules; what does not fit is not waited
//!   for and streams on after what was buffered; without it bodies stream and `req.body` is
//!   empty), `acl`, `filter spoe [engine NAME] config FILE`.
//! - `http-request deny [deny_status N]`, `return [status N] [content-type T] [hdr NAME FMT]...
//!   [string S | lf-string FMT]`, `set-header`, `add-header`, `del-header NAME [-m str]`,
//!   `set-var(NAME) EXPR`, `send-spoe-group ENGINE GROUP`, `redirect location|prefix TARGET
//!   [code N]`, `use-service prometheus-exporter`; `http-response set-header`, `add-header`,
//!   `del-header`, `set-var`, `send-spoe-group`; each with an optional `if|unless COND`.
//!   Conditions and ACLs are [`spoe::expr`]'s; log-format strings are described in
//!   [`logformat`](self#log-format-strings).
//! - `option httplog` (frontends, `defaults`): HAProxy's httplog access line, framed as the
//!   first `log stdout|stderr [format F] FACILITY [LEVEL]` line of `global` says (`raw`,
//!   `rfc3164` (the default), `rfc5424`, `local`, `priority`, `short`, `timed`, `iso`), and
//!   dropped when `LEVEL` is below `info`. Without it each request gets the gateway's short
//!   `spoe::access` line in tracing's format. `option httplog clf` is an error; in a backend
//!   the option is ignored with a warning, as by HAProxy.
//!
//! Anything else is an error naming the file, line and column, never silently dropped: an
//! unknown keyword says so, a keyword HAProxy has but the gateway does not run says "not
//! supported by the gateway". All errors are collected, with the warnings.
//!
//! # Accepted and ignored, with a warning
//!
//! Directives that HAProxy accepts, that are common in real configurations, and whose absence
//! does not change how the gateway answers a request:
//!
//! - `global`: `daemon`, `master-worker`, `user`, `group`, `uid`, `gid`, `chroot`, `pidfile`,
//!   `stats`, `ca-base`, `crt-base`, `ssl-default-bind-*`, `ssl-default-server-*`,
//!   `ssl-dh-param-file`, `tune.ssl.default-dh-param`, `log-send-hostname`, `log-tag`,
//!   `ulimit-n`, `quiet`, `description`, `node`, `expose-experimental-directives`,
//!   `spread-checks`, `busy-polling`, `mworker-max-reloads`; `log` lines to other targets than
//!   `stdout`/`stderr`, and any `log stdout|stderr` line after the first one.
//! - proxies: `log-format`, `log-format-sd`, `log-tag`, `error-log-format`, `capture`,
//!   `retries`, `errorfile`, `errorfiles`, `http-reuse`, `description`, `id`, `enabled`,
//!   `unique-id-format` (the `unique-id` fetch returns the gateway's own request ID),
//!   `unique-id-header`, `fullconn`, `backlog`, `log ADDR ...`, `no log` (`log global` is
//!   accepted silently: the access log follows `global`), `timeout check|tunnel|tarpit|
//!   client-fin|server-fin`.
//! - options: `tcplog`, `dontlognull`, `dontlog-normal`, `log-separate-errors`,
//!   `log-health-checks`, `forwardfor`, `http-keep-alive`, `http-server-close`, `httpclose`,
//!   `redispatch`,
//!   `abortonclose`, `tcpka`, `clitcpka`, `srvtcpka`, `splice-*`, `contstats`, `socket-stats`,
//!   `http-ignore-probes`, `http-no-delay`, `tcp-smart-accept`, `tcp-smart-connect`,
//!   `nolinger`, `logasap`, `independent-streams`.
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
//! - `.if` blocks and `setenv` are not supported (errors).
//!
//! # Log-format strings
//!
//! Text, `%%` for a percent sign, and `%[EXPR]` samples (a fetch and converters, as in `acl`).
//! `%{+Q}` flags and `%ci`-style aliases are errors (the message suggests the fetch). A sample
//! whose data does not exist where the rule runs (`%[res.hdr(x)]` in `http-request`) is an
//! error, as in HAProxy.

mod actions;
mod addr;
mod diag;
mod keywords;
mod logformat;
mod lower;
mod lua;
mod parse;
mod validate;
mod vars;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use spoe::config::{ConfigError, ConfigErrorKind, ConfigErrors, ConfigWarning, Span};

pub use vars::var_names;

use crate::model::GatewayConfig;

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
        let env = env.as_ref();
        let lookup = |name: &str| match env {
            Some(map) => map.get(name).cloned(),
            None => std::env::var(name).ok(),
        };
        let mut diag = diag::Diag::new(file.clone());
        let sections = parse::parse_document(text, &file, &lookup, &mut diag);
        let lowered = lower::lower(&sections, &file, base_dir, env, &mut diag);
        let config = validate::finish(lowered, &mut diag);
        let has_errors = diag.has_errors();
        let report = diag.finish();
        if has_errors {
            return Err(report);
        }
        Ok((config, report.warnings))
    }
}
