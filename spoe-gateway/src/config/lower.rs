//! What a `haproxy.cfg` read builds as it goes, and the argument readers every keyword uses:
//! the [`Lowerer`] (the `global` settings, the `defaults` sections, the proxies read so far,
//! the diagnostics) and the [`Proxy`] being built. The keywords themselves live in
//! [`super::global`], [`super::log`] and the [`super::proxy`] line families.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use spoe::config::reader::{Line, Word, is_name_char};
use spoe::config::{ConfigErrorKind, ConfigWarningKind, LogServer, Span, Spanned};
use spoe::duration::{TimerError, parse_timer};
use spoe::expr::AclSet;

use super::actions::GroupRef;
use super::diag::Diag;
use super::grammar::Kind;
use super::ssl::SslGlobal;
use crate::logline::LineFormat;
use crate::model::{
    Balance, BindConf, ForwardFor, Global, HttpMode, LogFormat, LogOptions, Mode, Rule, Server,
    SpoeFilterDecl, Timeouts, UseBackend,
};

// ===== proxies being built =====

/// The settings of `server` lines (and of `default-server`, which presets them).
#[derive(Debug, Clone)]
pub(super) struct ServerSettings {
    pub(super) check: bool,
    /// `track`: `[BACKEND/]SERVER` as written.
    pub(super) track: Option<String>,
    pub(super) inter: Duration,
    pub(super) rise: u32,
    pub(super) fall: u32,
    pub(super) weight: u32,
    pub(super) maxconn: Option<usize>,
    /// `minconn` (0: none).
    pub(super) minconn: usize,
    /// `maxqueue` (0: an unbounded line).
    pub(super) maxqueue: usize,
    pub(super) pool_max_conn: Option<usize>,
    pub(super) pool_purge_delay: Duration,
    /// `ssl`, `verify`, `ca-file`, `sni`, `crt`, `alpn`...
    pub(super) tls: crate::tls::ServerTlsSpec,
    /// Where `ssl` was set (for the errors of loading its files).
    pub(super) ssl_at: Option<Span>,
    /// `proto h2`.
    pub(super) proto_h2: bool,
    /// `check-ssl` (`no-check-ssl` clears it): health checks over TLS even without `ssl`.
    pub(super) check_ssl: bool,
    pub(super) probe: crate::model::ServerProbe,
    /// `cookie VALUE`.
    pub(super) cookie: Option<String>,
    /// `send-proxy`, `send-proxy-v2` (`no-...` clear them).
    pub(super) proxy_v1: bool,
    pub(super) proxy_v2: bool,
    /// `proxy-v2-options authority`, `unique-id`.
    pub(super) proxy_authority: bool,
    pub(super) proxy_unique_id: bool,
    /// `check-send-proxy`.
    pub(super) check_send_proxy: bool,
    /// `resolvers`, `resolve-*`, `init-addr`.
    pub(super) dns: super::dns_settings::DnsSettings,
    /// `id`, `non-stick`.
    pub(super) choice: crate::model::ServerChoice,
    /// `tcp-ut`.
    pub(super) user_timeout: Option<Duration>,
    /// `source ADDR`.
    pub(super) source: Option<std::net::IpAddr>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            check: false,
            track: None,
            inter: Duration::from_secs(2),
            rise: 2,
            fall: 3,
            weight: 1,
            maxconn: None,
            minconn: 0,
            maxqueue: 0,
            pool_max_conn: Some(crate::model::DEFAULT_POOL_MAX_CONN),
            pool_purge_delay: crate::model::DEFAULT_POOL_PURGE_DELAY,
            tls: crate::tls::ServerTlsSpec::default(),
            ssl_at: None,
            proto_h2: false,
            check_ssl: false,
            probe: crate::model::ServerProbe::default(),
            cookie: None,
            proxy_v1: false,
            proxy_v2: false,
            proxy_authority: false,
            proxy_unique_id: false,
            check_send_proxy: false,
            dns: super::dns_settings::DnsSettings::default(),
            choice: crate::model::ServerChoice::default(),
            user_timeout: None,
            source: None,
        }
    }
}

/// A proxy's server-choice lines as read, before the servers and tables they name are known.
#[derive(Debug, Clone, Default)]
pub(super) struct ChoiceLines {
    pub(super) rules: crate::server_rules::ServerRules,
    /// `use-server` lines: the server's name and where it is written, the condition.
    pub(super) use_server: Vec<(Word, spoe::expr::Condition)>,
    /// Each `stick` line's table name as written (`None`: the proxy's own), and the line.
    pub(super) tables: Vec<(Option<String>, Span)>,
    /// `hash-type`.
    pub(super) hash_type: crate::model::HashType,
}

/// A `defaults`, `frontend`, `backend` or `listen` section being lowered.
#[derive(Debug, Clone)]
pub(super) struct Proxy {
    pub(super) kind: Kind,
    pub(super) name: String,
    /// The section keyword.
    pub(super) span: Span,
    /// `None`: HAProxy's default, `tcp`.
    pub(super) mode: Option<Mode>,
    /// A `mode` line (here or in its `defaults`) was wrong or misspelt (reported): what
    /// follows from the mode is not reported again.
    pub(super) mode_unsure: bool,
    /// `mode spop` (HAProxy 3.1+): the agents' backend, which 3.1 also makes of a `mode tcp`
    /// one; run as 2.6 runs its `mode tcp` agents' backend (`mode` is then `tcp`).
    pub(super) spop: bool,
    pub(super) binds: Vec<SocketAddr>,
    pub(super) bind_confs: Vec<(SocketAddr, Arc<BindConf>)>,
    /// `bind ... v6only|v4v6`: the IPv6 addresses whose sockets take IPv6 only, or not.
    pub(super) ipv6_only: Vec<(SocketAddr, bool)>,
    /// `bind ... maxconn N`, per address.
    pub(super) bind_maxconn: Vec<(SocketAddr, usize)>,
    /// `bind ... backlog|defer-accept|mss|...`, per address.
    pub(super) listener_opts: Vec<(SocketAddr, crate::sockopt::ListenerOpts)>,
    /// `option tcpka|clitcpka|srvtcpka|nolinger|tcp-smart-*`, `clitcpka-*`, `srvtcpka-*`.
    pub(super) sock: super::sock_settings::SockSettings,
    pub(super) has_bind: bool,
    pub(super) timeouts: Timeouts,
    /// A `timeout` line (here or in its `defaults`) was wrong (reported).
    pub(super) timeouts_unsure: bool,
    pub(super) maxconn: Option<usize>,
    /// `fullconn` (`None`: computed from the frontends that reach the backend).
    pub(super) fullconn: Option<usize>,
    /// `rate-limit sessions` (0: none).
    pub(super) sess_rate: u64,
    pub(super) balance: Balance,
    pub(super) spop_check: bool,
    /// `option httpchk`, `http-check`, `option tcp-check`, `tcp-check`.
    pub(super) checks: super::check_rules::CheckBuilder,
    /// `option allbackups`.
    pub(super) all_backups: bool,
    /// `retries`, `option redispatch`.
    pub(super) retry: crate::model::Retry,
    /// `option http-buffer-request` (`no option` turns off what `defaults` turned on).
    pub(super) http_buffer_request: bool,
    pub(super) server_settings: ServerSettings,
    /// `source ADDR`: the servers' local address (a server's own wins).
    pub(super) source: Option<std::net::IpAddr>,
    pub(super) servers: Vec<(Server, Span)>,
    pub(super) acls: AclSet,
    pub(super) http_request: Vec<Rule>,
    pub(super) http_response: Vec<Rule>,
    pub(super) http_after_response: Vec<Rule>,
    /// `redirect` lines, run after the `http-request` rules.
    pub(super) redirects: Vec<Rule>,
    /// An unconditional final rule was seen (request, response, after-response, redirect).
    pub(super) final_rule: [bool; 4],
    /// Each rule with the span of the backend name.
    pub(super) use_backends: Vec<(UseBackend, Span)>,
    pub(super) default_backend: Option<Spanned<String>>,
    /// `tcp-request` lines, and where the first `tcp-request content` line is.
    pub(super) tcp_rules: crate::model::TcpRules,
    pub(super) tcp_content_at: Option<Span>,
    pub(super) filters: Vec<SpoeFilterDecl>,
    /// A `filter` line failed (reported): what names its engine is not reported again.
    pub(super) filter_failed: bool,
    /// `option httplog|tcplog`, `log-format`: the access line's format.
    pub(super) access_format: Option<Arc<LineFormat>>,
    /// The directive that set it (`option httplog`, `log-format`...), for HAProxy's warning
    /// when another one overrides it in `defaults`.
    pub(super) access_format_from: &'static str,
    /// `option dontlognull`, `dontlog-normal`, `log-separate-errors`.
    pub(super) log_options: LogOptions,
    /// A `log-format-sd` line (accepted, not run).
    pub(super) log_format: bool,
    /// The proxy has `log` lines with an address (its own, or `global`'s through `log
    /// global`), run or ignored: HAProxy's "log format ignored" warning counts them all.
    pub(super) log_lines: bool,
    /// `log` lines in effect.
    pub(super) logs: Vec<LogServer>,
    pub(super) group_refs: Vec<GroupRef>,
    /// `unique-id-format`, `unique-id-header`.
    pub(super) unique_id_format: Option<Arc<LogFormat>>,
    pub(super) unique_id_header: Option<hyper::header::HeaderName>,
    /// `monitor-uri`.
    pub(super) monitor_uri: Option<Arc<str>>,
    /// `errorfile` lines, by status (a later line for a status replaces an earlier one).
    pub(super) errorfiles: BTreeMap<u16, Arc<crate::errorfile::ErrorFile>>,
    /// `compression ...`.
    pub(super) compression: Option<crate::model::Compression>,
    /// `stats ...`: the statistics page (its `defaults`' until its own first `stats` line).
    pub(super) stats: Option<crate::model::StatsPage>,
    /// A `stats` line of its own was read.
    pub(super) stats_own: bool,
    /// `option forwardfor`.
    pub(super) forwardfor: Option<ForwardFor>,
    /// `option originalto` (its `always` is always set).
    pub(super) originalto: Option<ForwardFor>,
    /// `option http-keep-alive|http-server-close|httpclose`.
    pub(super) http_mode: HttpMode,
    /// `stick-table`.
    pub(super) stick_table: Option<crate::sticktable::decl::StickTableDecl>,
    /// Capture slots (`capture`, `declare capture`, `http-request capture ... len`).
    pub(super) captures: crate::model::CaptureSlots,
    /// `capture ... id N` rules, to check against the slots once the section is read.
    pub(super) capture_ids: Vec<(bool, usize, Span)>,
    /// `cookie NAME ...`.
    pub(super) cookie: Option<crate::cookie::CookiePersist>,
    /// `option persist`.
    pub(super) persist: bool,
    /// `stick`, `use-server`, `force-persist`, `ignore-persist`, `http-send-name-header`.
    pub(super) choice: ChoiceLines,
    /// `filter cache NAME` lines.
    pub(super) cache_filters: Vec<(String, Span)>,
}

impl Proxy {
    pub(super) fn new(kind: Kind, name: String, span: Span) -> Self {
        Self {
            kind,
            name,
            span,
            mode: None,
            mode_unsure: false,
            spop: false,
            binds: Vec::new(),
            bind_confs: Vec::new(),
            ipv6_only: Vec::new(),
            bind_maxconn: Vec::new(),
            listener_opts: Vec::new(),
            sock: super::sock_settings::SockSettings::default(),
            has_bind: false,
            timeouts: Timeouts::default(),
            timeouts_unsure: false,
            maxconn: None,
            fullconn: None,
            sess_rate: 0,
            balance: Balance::default(),
            spop_check: false,
            checks: super::check_rules::CheckBuilder::default(),
            all_backups: false,
            retry: crate::model::Retry::default(),
            http_buffer_request: false,
            server_settings: ServerSettings::default(),
            source: None,
            servers: Vec::new(),
            acls: AclSet::new(),
            http_request: Vec::new(),
            http_response: Vec::new(),
            http_after_response: Vec::new(),
            redirects: Vec::new(),
            final_rule: [false; 4],
            use_backends: Vec::new(),
            default_backend: None,
            tcp_rules: crate::model::TcpRules::default(),
            tcp_content_at: None,
            filters: Vec::new(),
            filter_failed: false,
            access_format: None,
            access_format_from: "",
            log_options: LogOptions::default(),
            log_format: false,
            log_lines: false,
            logs: Vec::new(),
            group_refs: Vec::new(),
            unique_id_format: None,
            unique_id_header: None,
            monitor_uri: None,
            errorfiles: BTreeMap::new(),
            compression: None,
            stats: None,
            stats_own: false,
            forwardfor: None,
            originalto: None,
            http_mode: HttpMode::KeepAlive,
            stick_table: None,
            captures: crate::model::CaptureSlots::default(),
            capture_ids: Vec::new(),
            cookie: None,
            persist: false,
            choice: ChoiceLines::default(),
            cache_filters: Vec::new(),
        }
    }

    /// A proxy of `kind` starting from the `defaults` section `d`.
    pub(super) fn from_defaults(kind: Kind, name: String, span: Span, d: &Self) -> Self {
        let mut p = Self::new(kind, name, span);
        p.mode = d.mode;
        p.mode_unsure = d.mode_unsure;
        p.spop = d.spop;
        p.timeouts = d.timeouts;
        p.timeouts_unsure = d.timeouts_unsure;
        p.maxconn = d.maxconn;
        p.fullconn = d.fullconn;
        p.sess_rate = d.sess_rate;
        p.balance = d.balance.clone();
        p.spop_check = d.spop_check;
        p.checks = d.checks.clone();
        p.all_backups = d.all_backups;
        p.retry = d.retry;
        p.http_buffer_request = d.http_buffer_request;
        p.server_settings = d.server_settings.clone();
        p.access_format.clone_from(&d.access_format);
        p.access_format_from = d.access_format_from;
        p.log_options = d.log_options;
        p.log_format = d.log_format;
        p.log_lines = d.log_lines;
        p.logs.clone_from(&d.logs);
        p.unique_id_format.clone_from(&d.unique_id_format);
        p.unique_id_header.clone_from(&d.unique_id_header);
        p.errorfiles.clone_from(&d.errorfiles);
        // `algo` and `type` are inherited, not `offload` (`proxy_defproxy_cpy()`).
        p.compression = d.compression.as_ref().map(|c| crate::model::Compression {
            offload: false,
            ..c.clone()
        });
        p.stats.clone_from(&d.stats);
        p.forwardfor.clone_from(&d.forwardfor);
        p.originalto.clone_from(&d.originalto);
        p.http_mode = d.http_mode;
        p.cookie.clone_from(&d.cookie);
        p.persist = d.persist;
        p.choice
            .rules
            .send_name_header
            .clone_from(&d.choice.rules.send_name_header);
        p.choice.rules.prefer_last = d.choice.rules.prefer_last;
        p.choice.rules.reuse = d.choice.rules.reuse;
        p.sock = d.sock;
        p.choice.hash_type = d.choice.hash_type;
        if kind != Kind::Backend {
            p.monitor_uri.clone_from(&d.monitor_uri);
            p.default_backend = d.default_backend.clone();
        }
        p
    }

    pub(super) fn has_frontend(&self) -> bool {
        matches!(self.kind, Kind::Frontend | Kind::Listen | Kind::Defaults)
    }

    pub(super) fn has_backend(&self) -> bool {
        matches!(self.kind, Kind::Backend | Kind::Listen | Kind::Defaults)
    }

    /// The side named in HAProxy's rule descriptions.
    pub(super) fn side(&self) -> &'static str {
        if self.kind == Kind::Backend {
            "backend"
        } else {
            "frontend"
        }
    }

    pub(super) fn is_anonymous_defaults(&self) -> bool {
        self.kind == Kind::Defaults && self.name.is_empty()
    }
}

/// What the whole read produced before the cross-checks.
#[derive(Debug)]
pub(super) struct Lowered {
    pub(super) global: Global,
    pub(super) proxies: Vec<Proxy>,
    pub(super) files: Vec<PathBuf>,
    /// The names the misplaced lines would have declared (`backnd app`: `app`).
    pub(super) misplaced: Vec<String>,
    /// The Lua files, loaded.
    pub(super) lua: Option<spoe_lua::LuaRuntime>,
    /// The `userlist` sections, as read.
    pub(super) userlists: Vec<PendingList>,
    /// The `cache` sections, as read.
    pub(super) caches: Vec<(crate::cache::decl::CacheDecl, Span)>,
}

/// A `userlist` being read (`config::userlist`): the names still to resolve once every
/// section is read.
#[derive(Debug, Default)]
pub(super) struct PendingList {
    pub(super) list: crate::auth::Userlist,
    /// Per user (index): its `groups` names and the line.
    pub(super) user_groups: Vec<(usize, String, Span)>,
    /// Per group (index): its `users` names and the line.
    pub(super) group_users: Vec<(usize, String, Span)>,
}

/// The state of one read: what was found so far, and where diagnostics go.
pub(super) struct Lowerer<'a, 'e> {
    pub(super) diag: &'a mut Diag,
    pub(super) file: Arc<Path>,
    /// The directory relative paths start from when the read began.
    pub(super) start_dir: PathBuf,
    /// Where relative paths start now (`default-path` changes it).
    pub(super) base_dir: PathBuf,
    pub(super) env: Option<&'e BTreeMap<String, String>>,
    pub(super) global: Global,
    /// `global` has a `log` line (any address).
    pub(super) global_log_lines: bool,
    /// The last `defaults` section.
    pub(super) defaults: Proxy,
    pub(super) named_defaults: Vec<Proxy>,
    pub(super) proxies: Vec<Proxy>,
    pub(super) files: Vec<PathBuf>,
    /// `crt-base`, `ca-base`, `ssl-default-bind-*`.
    pub(super) ssl: SslGlobal,
    /// The names the misplaced lines would have declared (see [`Lowered::misplaced`]).
    pub(super) misplaced: Vec<String>,
    /// `global`'s Lua directives, and the files once loaded.
    pub(super) lua: super::lua::LuaGlobal,
    /// The names of the `peers` sections read so far.
    pub(super) peers: Vec<String>,
    /// The `userlist` sections read so far.
    pub(super) userlists: Vec<PendingList>,
    /// The `cache` sections read so far.
    pub(super) caches: Vec<(crate::cache::decl::CacheDecl, Span)>,
    /// The names of every `resolvers` section of the file (a server may name one declared
    /// after it).
    pub(super) resolvers_ahead: Vec<String>,
    /// `zero-warning`'s line: any warning then refuses the configuration.
    pub(super) zero_warning: Option<Span>,
}

impl<'a, 'e> Lowerer<'a, 'e> {
    /// A read of `file`; relative paths start at `base_dir`, `"${VAR}"` reads `env` (the
    /// process's environment when `None`).
    pub(super) fn new(
        file: &Arc<Path>,
        base_dir: &Path,
        env: Option<&'e BTreeMap<String, String>>,
        diag: &'a mut Diag,
    ) -> Self {
        Self {
            diag,
            file: file.clone(),
            start_dir: base_dir.to_owned(),
            base_dir: base_dir.to_owned(),
            env,
            global: Global::default(),
            global_log_lines: false,
            defaults: Proxy::new(Kind::Defaults, String::new(), Span::file(file.clone())),
            named_defaults: Vec::new(),
            proxies: Vec::new(),
            files: vec![file.to_path_buf()],
            ssl: SslGlobal::default(),
            misplaced: Vec::new(),
            lua: super::lua::LuaGlobal::default(),
            peers: Vec::new(),
            userlists: Vec::new(),
            caches: Vec::new(),
            resolvers_ahead: Vec::new(),
            zero_warning: None,
        }
    }

    /// What the read produced.
    pub(super) fn finish(mut self) -> Lowered {
        let threads = self.global.nbthread.unwrap_or(1);
        self.lua.load(threads, self.global.bufsize, self.diag);
        Lowered {
            global: self.global,
            proxies: self.proxies,
            files: self.files,
            misplaced: self.misplaced,
            lua: self.lua.take(),
            userlists: self.userlists,
            caches: self.caches,
        }
    }

    /// Reads a proxy section with what the Lua files registered known to its expressions.
    /// As HAProxy, which runs a Lua file while it reads its `lua-load`, the files run once,
    /// before the first proxy.
    pub(super) fn proxy_section_with_lua(&mut self, section: &spoe::config::reader::Section<Kind>) {
        let threads = self.global.nbthread.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
        });
        let names = self
            .lua
            .load(threads, self.global.bufsize, self.diag)
            .map(|rt| super::lua::script_names(rt.registered()))
            .unwrap_or_default();
        spoe::expr::with_script_names(&names, || self.proxy_section(section));
    }

    /// An environment variable, from the read's environment.
    pub(super) fn env_var(&self, name: &str) -> Option<String> {
        match self.env {
            Some(map) => map.get(name).cloned(),
            None => std::env::var(name).ok(),
        }
    }
}

// ===== shared argument readers =====

impl Lowerer<'_, '_> {
    /// Reports the first argument beyond `max`; `directive` names the keyword(s).
    pub(super) fn too_many(&mut self, line: &Line, max: usize, directive: &str) -> bool {
        match line.arg(max + 1) {
            Some(extra) => {
                self.diag.error(
                    extra.span().clone(),
                    ConfigErrorKind::TooManyArgs {
                        directive: directive.to_owned(),
                        arg: extra.as_str().to_owned(),
                    },
                );
                true
            }
            None => false,
        }
    }

    pub(super) fn missing(&mut self, line: &Line, directive: &str, expected: &'static str) {
        let last = line.words.last().unwrap_or(&line.words[0]);
        self.diag.error(
            last.span_at(last.as_str().len()),
            ConfigErrorKind::MissingArg {
                directive: directive.to_owned(),
                expected,
            },
        );
    }

    /// A non-negative integer written in plain digits.
    pub(super) fn number(&mut self, word: &Word, directive: &str) -> Option<u64> {
        let text = word.as_str();
        match text.parse::<u64>() {
            Ok(n) if text.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => {
                self.diag.error(
                    word.span().clone(),
                    ConfigErrorKind::NotPositive {
                        directive: directive.to_owned(),
                        got: text.to_owned(),
                    },
                );
                None
            }
        }
    }

    /// An integer in `min..=max`.
    pub(super) fn ranged(
        &mut self,
        word: &Word,
        directive: &str,
        min: u64,
        max: u64,
    ) -> Option<u64> {
        let n = self.number(word, directive)?;
        if (min..=max).contains(&n) {
            return Some(n);
        }
        self.diag.error(
            word.span().clone(),
            ConfigErrorKind::OutOfRange {
                directive: directive.to_owned(),
                got: word.as_str().to_owned(),
                min,
                max,
            },
        );
        None
    }

    /// A duration read as HAProxy's `parse_time_err()` reads it (milliseconds by default).
    pub(super) fn duration(&mut self, word: &Word, directive: &str) -> Option<Duration> {
        match parse_timer(word.as_str()) {
            Ok(v) => {
                if let Some(ch) = v.trailing {
                    self.diag.warn(
                        word.span().clone(),
                        ConfigWarningKind::TimerTrailing {
                            ch,
                            got: word.as_str().to_owned(),
                        },
                    );
                }
                Some(v.duration())
            }
            Err(TimerError::Overflow) => {
                self.diag.error(
                    word.span().clone(),
                    ConfigErrorKind::TimerOverflow {
                        directive: directive.to_owned(),
                        got: word.as_str().to_owned(),
                    },
                );
                None
            }
            Err(TimerError::Invalid(_)) => {
                self.diag.error(
                    word.span().clone(),
                    ConfigErrorKind::BadDuration {
                        directive: directive.to_owned(),
                        got: word.as_str().to_owned(),
                    },
                );
                None
            }
        }
    }

    /// A section or ACL name: HAProxy's `invalid_char()`.
    pub(super) fn check_name(&mut self, word: &Word, what: &str) -> bool {
        match word
            .as_str()
            .char_indices()
            .find(|&(_, c)| !is_name_char(c))
        {
            Some((at, ch)) => {
                self.diag.error(
                    word.span_at(at),
                    ConfigErrorKind::NameChar {
                        what: what.to_owned(),
                        name: word.as_str().to_owned(),
                        ch,
                    },
                );
                false
            }
            None => true,
        }
    }

    /// `'KW' is accepted and ignored: a backend has no frontend capability` (HAProxy's
    /// `warnifnotcap()`).
    pub(super) fn not_capable(&mut self, p: &Proxy, span: &Span, directive: &str) {
        let reason = if p.kind == Kind::Backend {
            "a backend has no frontend capability"
        } else {
            "a frontend has no backend capability"
        };
        self.diag.ignored(span.clone(), directive, reason);
    }

    pub(super) fn acl_context_dir(&self) -> PathBuf {
        self.base_dir.clone()
    }
}
