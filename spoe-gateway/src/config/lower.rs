//! Sections to typed proxies: the `global` section, `defaults` inheritance, and every
//! directive of `frontend`, `backend` and `listen` (`cfg_parse_global()`,
//! `cfg_parse_listen()` in `src/cfgparse-listen.c`, `proxy_parse_timeout()` in
//! `src/proxy.c`, `parse_server()` in `src/server.c`, `parse_filter()` in `src/filters.c`).
//!
//! Sections are lowered in file order, as HAProxy reads them: a proxy starts from the last
//! `defaults` section before it (or the one it names with `from`), and a `defaults` section
//! starts from HAProxy's built-in values (or from the one it names).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use spoe::config::host::{Word, is_name_char};
use spoe::config::{
    ConfigErrorKind, ConfigWarningKind, FACILITIES, FORMATS, LEVELS, ParseOptions, Span, Spanned,
    SpoeConfig,
};
use spoe::duration::{TimerError, parse_timer};
use spoe::expr::{AclContext, AclSet, Condition};

use super::actions::{GroupRef, RuleScope, RuleSite, parse_rule, warn_cond_conflicts};
use super::addr::{AddrUse, parse_addresses};
use super::diag::Diag;
use super::keywords::{
    HAPROXY_GLOBAL, HAPROXY_OPTIONS, HAPROXY_PROXY, HAPROXY_SERVER_KEYWORDS, IGNORED_GLOBAL,
    IGNORED_OPTIONS, IGNORED_PROXY,
};
use super::logformat::Phase;
use super::parse::{Kind, Line, Modifier, Section};
use crate::model::{
    Balance, DEFAULT_BUFSIZE, Global, LogTarget, Mode, Rule, Server, SpoeFilterDecl, Syslog,
    SyslogFormat, Timeouts, UseBackend,
};

/// Where a `timeout` line stores its value.
type TimeoutSlot = fn(&mut Timeouts) -> &mut Option<Duration>;

/// Bounds of `tune.bufsize` (HAProxy refuses a buffer smaller than its reserve,
/// `tune.maxrewrite`, 1024 by default; the gateway keeps a buffered body in memory, so a bound
/// well above HAProxy's default, 256 MiB, is refused too).
const MIN_BUFSIZE: u64 = 1024;
const MAX_BUFSIZE: u64 = 256 << 20;

/// HAProxy's `MAX_THREADS` on 64-bit builds.
const MAX_THREADS: u64 = 64;

// ===== proxies being built =====

/// The settings of `server` lines (and of `default-server`, which presets them).
#[derive(Debug, Clone, Copy)]
pub(super) struct ServerSettings {
    pub(super) check: bool,
    pub(super) inter: Duration,
    pub(super) rise: u32,
    pub(super) fall: u32,
    pub(super) weight: u32,
    pub(super) maxconn: Option<usize>,
    pub(super) pool_max_conn: Option<usize>,
    pub(super) pool_purge_delay: Duration,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            check: false,
            inter: Duration::from_secs(2),
            rise: 2,
            fall: 3,
            weight: 1,
            maxconn: None,
            pool_max_conn: Some(crate::model::DEFAULT_POOL_MAX_CONN),
            pool_purge_delay: crate::model::DEFAULT_POOL_PURGE_DELAY,
        }
    }
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
    pub(super) binds: Vec<SocketAddr>,
    pub(super) has_bind: bool,
    pub(super) timeouts: Timeouts,
    pub(super) maxconn: Option<usize>,
    pub(super) balance: Balance,
    pub(super) spop_check: bool,
    /// `option http-buffer-request` (`no option` turns off what `defaults` turned on).
    pub(super) http_buffer_request: bool,
    pub(super) server_settings: ServerSettings,
    pub(super) servers: Vec<(Server, Span)>,
    pub(super) acls: AclSet,
    pub(super) http_request: Vec<Rule>,
    pub(super) http_response: Vec<Rule>,
    /// An unconditional final rule was seen (request, response).
    pub(super) final_rule: [bool; 2],
    /// Each rule with the span of the backend name.
    pub(super) use_backends: Vec<(UseBackend, Span)>,
    pub(super) default_backend: Option<Spanned<String>>,
    pub(super) filters: Vec<SpoeFilterDecl>,
    /// `option httplog`.
    pub(super) httplog: bool,
    pub(super) group_refs: Vec<GroupRef>,
}

impl Proxy {
    fn new(kind: Kind, name: String, span: Span) -> Self {
        Self {
            kind,
            name,
            span,
            mode: None,
            binds: Vec::new(),
            has_bind: false,
            timeouts: Timeouts::default(),
            maxconn: None,
            balance: Balance::default(),
            spop_check: false,
            http_buffer_request: false,
            server_settings: ServerSettings::default(),
            servers: Vec::new(),
            acls: AclSet::new(),
            http_request: Vec::new(),
            http_response: Vec::new(),
            final_rule: [false; 2],
            use_backends: Vec::new(),
            default_backend: None,
            filters: Vec::new(),
            httplog: false,
            group_refs: Vec::new(),
        }
    }

    /// A proxy of `kind` starting from the `defaults` section `d`.
    fn from_defaults(kind: Kind, name: String, span: Span, d: &Self) -> Self {
        let mut p = Self::new(kind, name, span);
        p.mode = d.mode;
        p.timeouts = d.timeouts;
        p.maxconn = d.maxconn;
        p.balance = d.balance;
        p.spop_check = d.spop_check;
        p.http_buffer_request = d.http_buffer_request;
        p.server_settings = d.server_settings;
        p.httplog = d.httplog;
        if kind != Kind::Backend {
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
    fn side(&self) -> &'static str {
        if self.kind == Kind::Backend {
            "backend"
        } else {
            "frontend"
        }
    }

    fn is_anonymous_defaults(&self) -> bool {
        self.kind == Kind::Defaults && self.name.is_empty()
    }
}

/// What the whole read produced before the cross-checks.
#[derive(Debug)]
pub(super) struct Lowered {
    pub(super) global: Global,
    pub(super) proxies: Vec<Proxy>,
    pub(super) files: Vec<PathBuf>,
    /// The Lua files, loaded.
    pub(super) lua: Option<spoe_lua::LuaRuntime>,
}

/// Lowers `sections` (read from `file`); relative paths start at `base_dir`.
pub(super) fn lower(
    sections: &[Section],
    file: &Arc<Path>,
    base_dir: &Path,
    env: Option<&BTreeMap<String, String>>,
    diag: &mut Diag,
) -> Lowered {
    let mut lw = Lowerer {
        diag,
        file: file.clone(),
        start_dir: base_dir.to_owned(),
        base_dir: base_dir.to_owned(),
        env,
        global: Global::default(),
        log_line: None,
        defaults: Proxy::new(Kind::Defaults, String::new(), Span::file(file.clone())),
        named_defaults: Vec::new(),
        proxies: Vec::new(),
        files: vec![file.to_path_buf()],
        lua: super::lua::LuaGlobal::default(),
    };
    for section in sections {
        match section.kind {
            Kind::Global => lw.global_section(section),
            _ => {
                // As HAProxy, which runs a Lua file while it reads its `lua-load`: what the
                // files registered is known to every proxy.
                let threads = lw.global.nbthread.unwrap_or_else(|| {
                    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
                });
                let names = lw
                    .lua
                    .load(threads, lw.global.bufsize, lw.diag)
                    .map(|rt| super::lua::script_names(rt.registered()))
                    .unwrap_or_default();
                spoe::expr::with_script_names(&names, || lw.proxy_section(section));
            }
        }
    }
    let threads = lw.global.nbthread.unwrap_or(1);
    lw.lua.load(threads, lw.global.bufsize, lw.diag);
    Lowered {
        global: lw.global,
        proxies: lw.proxies,
        files: lw.files,
        lua: lw.lua.take(),
    }
}

struct Lowerer<'a, 'e> {
    diag: &'a mut Diag,
    file: Arc<Path>,
    /// The directory relative paths start from when the read began.
    start_dir: PathBuf,
    /// Where relative paths start now (`default-path` changes it).
    base_dir: PathBuf,
    env: Option<&'e BTreeMap<String, String>>,
    global: Global,
    /// The `log stdout|stderr` line in use.
    log_line: Option<Span>,
    /// The last `defaults` section.
    defaults: Proxy,
    named_defaults: Vec<Proxy>,
    proxies: Vec<Proxy>,
    files: Vec<PathBuf>,
    lua: super::lua::LuaGlobal,
}

// ===== shared argument readers =====

impl Lowerer<'_, '_> {
    /// Reports the first argument beyond `max`; `directive` names the keyword(s).
    fn too_many(&mut self, line: &Line, max: usize, directive: &str) -> bool {
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

    fn missing(&mut self, line: &Line, directive: &str, expected: &'static str) {
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
    fn number(&mut self, word: &Word, directive: &str) -> Option<u64> {
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
    fn ranged(&mut self, word: &Word, directive: &str, min: u64, max: u64) -> Option<u64> {
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
    fn duration(&mut self, word: &Word, directive: &str) -> Option<Duration> {
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
    fn check_name(&mut self, word: &Word, what: &str) -> bool {
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
    fn not_capable(&mut self, p: &Proxy, span: &Span, directive: &str) {
        let reason = if p.kind == Kind::Backend {
            "a backend has no frontend capability"
        } else {
            "a frontend has no backend capability"
        };
        self.diag.ignored(span.clone(), directive, reason);
    }

    fn acl_context_dir(&self) -> PathBuf {
        self.base_dir.clone()
    }
}

// ===== global =====

impl Lowerer<'_, '_> {
    fn global_section(&mut self, section: &Section) {
        if let Some(extra) = section.header.get(1) {
            self.diag.error(
                extra.span().clone(),
                ConfigErrorKind::TooManyArgs {
                    directive: "global".to_owned(),
                    arg: extra.as_str().to_owned(),
                },
            );
        }
        for line in &section.lines {
            self.global_line(line);
        }
    }

    fn global_line(&mut self, line: &Line) {
        let kw = line.keyword();
        if line.modifier != Modifier::None && kw == "log" {
            self.diag.error_msg(
                line.span().clone(),
                "'no log' is not supported in the 'global' section",
            );
            return;
        }
        if self.lua.line(line, &self.base_dir, self.diag) {
            return;
        }
        match kw {
            "maxconn" => {
                let Some(word) = line.arg(1) else {
                    return self.missing(line, "maxconn", "an integer argument");
                };
                if self.too_many(line, 1, "maxconn") {
                    return;
                }
                if let Some(n) = self.ranged(word, "maxconn", 1, i32::MAX as u64) {
                    self.global.maxconn = usize::try_from(n).ok();
                }
            }
            "hard-stop-after" => {
                let Some(word) = line.arg(1) else {
                    return self.missing(line, "hard-stop-after", "a duration");
                };
                if self.too_many(line, 1, "hard-stop-after") {
                    return;
                }
                if let Some(d) = self.duration(word, "hard-stop-after") {
                    self.global.hard_stop_after = (!d.is_zero()).then_some(d);
                }
            }
            "nbthread" => {
                let Some(word) = line.arg(1) else {
                    return self.missing(line, "nbthread", "a thread count");
                };
                if self.too_many(line, 1, "nbthread") {
                    return;
                }
                if let Some(n) = self.ranged(word, "nbthread", 1, MAX_THREADS) {
                    self.global.nbthread = usize::try_from(n).ok();
                }
            }
"tune.bufsize" => {
                let Some(word) = line.arg(1) else {
                    return self.missing(line, "tune.bufsize", "a size in bytes");
                };
                if self.too_many(line, 1, "tune.bufsize") {
                    return;
                }
                if let Some(n) = self.ranged(word, "tune.bufsize", MIN_BUFSIZE, MAX_BUFSIZE) {
                    self.global.bufsize = usize::try_from(n).unwrap_or(DEFAULT_BUFSIZE);
                }
            }
            "log" => self.global_log(line),
            "default-path" => self.default_path(line),
            "nbproc" => self.diag.error_msg(
                line.span().clone(),
                "'nbproc' is not supported anymore since HAProxy 2.5; threads are enabled by default",
            ),
            kw => {
                if let Some((_, reason)) = IGNORED_GLOBAL.iter().find(|(k, _)| *k == kw) {
                    self.diag.ignored(line.span().clone(), kw, reason);
                } else if HAPROXY_GLOBAL.contains(&kw)
                    || kw.starts_with("tune.")
                    || kw.starts_with("ssl-")
                {
                    self.diag.error_msg(
                        line.span().clone(),
                        format!("'{kw}' is not supported in the 'global' section by the gateway"),
                    );
                } else {
                    self.diag.error_msg(
                        line.span().clone(),
                        format!(
                            "unknown keyword '{kw}' in 'global' section{}",
                            super::keywords::global_suggestion(kw)
                        ),
                    );
                }
            }
        }
    }

    /// `log stdout|stderr [len N] [format F] [sample R:S] FACILITY [LEVEL [MINLEVEL]]`; other
    /// targets are accepted and ignored.
    fn global_log(&mut self, line: &Line) {
        let Some(target) = line.arg(1) else {
            return self.missing(
                line,
                "log",
                "a target ('stdout' or 'stderr') and a facility",
            );
        };
        let log = match target.as_str() {
            "stdout" | "fd@1" => LogTarget::Stdout,
            "stderr" | "fd@2" => LogTarget::Stderr,
            "global" => {
                self.diag.error_msg(
                    target.span().clone(),
                    "'log global' makes no sense in the 'global' section",
                );
                return;
            }
            other => {
                self.diag.ignored(
                    target.span().clone(),
                    format!("log {other}"),
                    "the gateway logs to stdout or stderr only",
                );
                return;
            }
        };
        let mut i = 2;
        let mut format = SyslogFormat::default();
        loop {
            match line.arg_str(i) {
                Some("len") => {
                    let Some(w) = line.arg(i + 1) else {
                        return self.missing(line, "log len", "a length");
                    };
                    if self.ranged(w, "log len", 80, 65535).is_none() {
                        return;
                    }
                    i += 2;
                }
                Some("format") => {
                    let Some(w) = line.arg(i + 1) else {
                        return self.missing(line, "log format", "a format name");
                    };
                    if !FORMATS.contains(&w.as_str()) {
                        self.diag.error(
                            w.span().clone(),
                            ConfigErrorKind::Log(format!("unknown log format '{}'", w.as_str())),
                        );
                        return;
                    }
                    format = SyslogFormat::from_name(w.as_str()).unwrap_or_default();
                    i += 2;
                }
                Some("sample") => {
                    if line.arg(i + 1).is_none() {
                        return self.missing(line, "log sample", "<ranges>:<sample_size>");
                    }
                    i += 2;
                }
                _ => break,
            }
        }
        let Some(facility) = line.arg(i) else {
            return self.missing(line, "log", "a facility");
        };
        if !FACILITIES.contains(&facility.as_str()) {
            self.diag.error(
                facility.span().clone(),
                ConfigErrorKind::Log(format!("unknown log facility '{}'", facility.as_str())),
            );
            return;
        }
        for level in line.words.iter().skip(i + 1).take(2) {
            if !LEVELS.contains(&level.as_str()) {
                self.diag.error(
                    level.span().clone(),
                    ConfigErrorKind::Log(format!(
                        "unknown optional log level '{}'",
                        level.as_str()
                    )),
                );
                return;
            }
        }
        if self.too_many(line, i + 2, "log") {
            return;
        }
        if self.log_line.is_some() {
            self.diag.ignored(
                line.span().clone(),
                format!("log {}", target.as_str()),
                "the gateway uses the first 'log stdout' or 'log stderr' line only",
            );
            return;
        }
        self.log_line = Some(line.span().clone());
        self.global.log = log;
        let code = |names: &[&str], w: &str| names.iter().position(|n| *n == w);
        self.global.syslog = Syslog {
            format,
            facility: code(&FACILITIES, facility.as_str()).map_or(16, |c| c as u8),
            max_level: line
                .arg_str(i + 1)
                .and_then(|l| code(&LEVELS, l))
                .map_or(7, |c| c as u8),
        };
    }

    /// `default-path current|config|parent|origin PATH`: where relative paths start from the
    /// next line on.
    fn default_path(&mut self, line: &Line) {
        let Some(policy) = line.arg(1) else {
            return self.missing(
                line,
                "default-path",
                "'current', 'config', 'parent' or 'origin <path>'",
            );
        };
        let config_dir = || {
            self.start_dir
                .join(self.file.parent().unwrap_or_else(|| Path::new("")))
        };
        let dir = match policy.as_str() {
            "current" => self.start_dir.clone(),
            "config" => config_dir(),
            "parent" => config_dir().join(".."),
            "origin" => {
                let Some(path) = line.arg(2) else {
                    return self.missing(line, "default-path origin", "a path");
                };
                if self.too_many(line, 2, "default-path origin") {
                    return;
                }
                self.start_dir.join(path.as_str())
            }
            other => {
                self.diag.error_msg(
                    policy.span().clone(),
                    format!(
                        "'default-path' expects either 'current', 'config', 'parent' or 'origin', got '{other}'"
                    ),
                );
                return;
            }
        };
        if policy.as_str() != "origin" && self.too_many(line, 1, "default-path") {
            return;
        }
        self.base_dir = dir;
    }
}

// ===== proxies =====

impl Lowerer<'_, '_> {
    fn proxy_section(&mut self, section: &Section) {
        let kind = section.kind;
        let keyword = kind.keyword();
        let header = &section.header;
        let span = section.span().clone();
        // `defaults [NAME] [from OTHER]`, `frontend NAME [from OTHER]`...
        let (name_word, from) = match (kind, header.get(1).map(Word::as_str)) {
            (Kind::Defaults, Some("from")) if header.len() == 3 => (None, header.get(2)),
            (_, _) => {
                let name = header.get(1);
                match header.get(2) {
                    None => (name, None),
                    Some(w) if w.as_str() == "from" && header.len() == 4 => (name, header.get(3)),
                    Some(w) => {
                        let hint = if kind == Kind::Backend || kind == Kind::Defaults {
                            ""
                        } else {
                            " (listening addresses go on 'bind' lines)"
                        };
                        self.diag.error_msg(
                            w.span().clone(),
                            format!("'{keyword}' : unexpected argument '{}'{hint}", w.as_str()),
                        );
                        return;
                    }
                }
            }
        };
        if kind != Kind::Defaults && name_word.is_none() {
            self.diag
                .error_msg(span, format!("'{keyword}' expects an <id> argument"));
            return;
        }
        let name = name_word.map_or_else(String::new, |w| w.as_str().to_owned());
        if let Some(w) = name_word {
            self.check_name(w, keyword);
            if kind != Kind::Defaults {
                self.check_duplicate(kind, w);
            }
        }
        let base = match from {
            Some(from) => {
                self.check_name(from, "defaults section");
                let mut found = self
                    .named_defaults
                    .iter()
                    .filter(|d| d.name == from.as_str());
                match (found.next(), found.next()) {
                    (Some(first), Some(second)) => {
                        let msg = format!(
                            "ambiguous defaults section name '{}' referenced by {keyword} '{name}' exists at least at {} and {}",
                            from.as_str(),
                            first.span,
                            second.span
                        );
                        self.diag.error_msg(from.span().clone(), msg);
                        return;
                    }
                    (Some(d), None) => d.clone(),
                    (None, _) => {
                        self.diag.error_msg(
                            from.span().clone(),
                            format!(
                                "defaults section '{}' not found for {keyword} '{name}'",
                                from.as_str()
                            ),
                        );
                        return;
                    }
                }
            }
            None if kind == Kind::Defaults => {
                Proxy::new(Kind::Defaults, String::new(), Span::file(self.file.clone()))
            }
            None => self.defaults.clone(),
        };
        let mut proxy = Proxy::from_defaults(kind, name, span, &base);
        for line in &section.lines {
            self.proxy_line(&mut proxy, line);
        }
        if kind == Kind::Defaults {
            if !proxy.name.is_empty() {
                self.named_defaults.push(proxy.clone());
            }
            self.defaults = proxy;
        } else {
            self.finish_proxy(&mut proxy);
            self.proxies.push(proxy);
        }
    }

    /// HAProxy's rule: two proxies with a frontend side, or two with a backend side, cannot
    /// share a name (a frontend and a backend can).
    fn check_duplicate(&mut self, kind: Kind, name: &Word) {
        let fe = matches!(kind, Kind::Frontend | Kind::Listen);
        let be = matches!(kind, Kind::Backend | Kind::Listen);
        let clash = self.proxies.iter().find(|p| {
            p.name == name.as_str() && ((fe && p.has_frontend()) || (be && p.has_backend()))
        });
        if let Some(first) = clash {
            let msg = format!(
                "{} '{}' has the same name as {} '{}' declared at {}",
                kind.keyword(),
                name.as_str(),
                first.kind.keyword(),
                first.name,
                first.span
            );
            self.diag.error_msg(name.span().clone(), msg);
        }
    }

    /// Checks that need the whole section.
    fn finish_proxy(&mut self, p: &mut Proxy) {
        if p.kind == Kind::Backend {
            return;
        }
        if !p.has_bind {
            if p.kind == Kind::Listen && p.mode != Some(Mode::Http) {
                // A `listen` without `bind` in tcp mode only serves as a backend.
                return;
            }
            self.diag.warn_msg(
                p.span.clone(),
                format!(
                    "{} '{}' has no 'bind' directive. Please declare it as a backend if this was intended",
                    p.kind.keyword(),
                    p.name
                ),
            );
        }
        if p.mode != Some(Mode::Http) {
            let why = if p.mode.is_none() {
                "no 'mode' line, and HAProxy's default mode is tcp"
            } else {
                "tcp frontends are not supported by the gateway"
            };
            self.diag.error_msg(
                p.span.clone(),
                format!(
                    "{} '{}' must be in 'mode http' ({why})",
                    p.kind.keyword(),
                    p.name
                ),
            );
        }
    }

    fn proxy_line(&mut self, p: &mut Proxy, line: &Line) {
        let kw = line.keyword();
        match kw {
            "option" => self.option(p, line),
            "log" => self.proxy_log(line),
            "mode" => self.mode(p, line),
            "bind" => self.bind(p, line),
            "timeout" => self.timeout(p, line),
            "maxconn" => self.proxy_maxconn(p, line),
            "default_backend" => self.default_backend(p, line),
            "use_backend" => self.use_backend(p, line),
            "server" | "default-server" => self.server(p, line),
            "balance" => self.balance(p, line),
            "acl" => self.acl(p, line),
            "http-request" | "http-response" => self.http_rule(p, line),
            "filter" => self.filter(p, line),
            "clitimeout" | "contimeout" | "srvtimeout" => {
                let replacement = match kw {
                    "clitimeout" => "client",
                    "contimeout" => "connect",
                    _ => "server",
                };
                self.diag.error_msg(
                    line.span().clone(),
                    format!(
                        "the '{kw}' directive is not supported anymore since HAProxy 2.1. Use 'timeout {replacement}'"
                    ),
                );
            }
            kw => {
                if let Some((_, reason)) = IGNORED_PROXY.iter().find(|(k, _)| *k == kw) {
                    self.diag.ignored(line.span().clone(), kw, reason);
                } else if HAPROXY_PROXY.contains(&kw) {
                    self.diag.error_msg(
                        line.span().clone(),
                        format!(
                            "'{kw}' is not supported in a '{}' section by the gateway",
                            p.kind.keyword()
                        ),
                    );
                } else {
                    self.diag.error_msg(
                        line.span().clone(),
                        format!(
                            "unknown keyword '{kw}' in '{}' section{}",
                            p.kind.keyword(),
                            super::keywords::proxy_suggestion(kw)
                        ),
                    );
                }
            }
        }
    }

    fn mode(&mut self, p: &mut Proxy, line: &Line) {
        let Some(word) = line.arg(1) else {
            return self.missing(line, "mode", "'http' or 'tcp'");
        };
        if self.too_many(line, 1, "mode") {
            return;
        }
        p.mode = match word.as_str() {
            "http" => Some(Mode::Http),
            "tcp" => Some(Mode::Tcp),
            "health" => {
                return self.diag.error_msg(
                    word.span().clone(),
                    "'mode health' doesn't exist anymore. Please use 'http-request return status 200' instead",
                );
            }
            other => {
                return self
                    .diag
                    .error_msg(word.span().clone(), format!("unknown proxy mode '{other}'"));
            }
        };
    }

    fn bind(&mut self, p: &mut Proxy, line: &Line) {
        if p.kind == Kind::Defaults {
            return self.diag.error_msg(
                line.span().clone(),
                "'bind' not allowed in 'defaults' section",
            );
        }
        let Some(word) = line.arg(1) else {
            return self.diag.error_msg(
                line.span().clone(),
                "'bind' expects {<path>|[addr1]:port1[-end1]}{,[addr]:port[-end]}... as arguments",
            );
        };
        if !p.has_frontend() {
            return self.not_capable(p, line.span(), "bind");
        }
        // Even a bad address counts: no "no bind" warning on top of its error.
        p.has_bind = true;
        match parse_addresses(word, AddrUse::Bind) {
            Ok(addrs) => p.binds.extend(addrs),
            Err((at, msg)) => {
                return self
                    .diag
                    .error_msg(word.span_at(at), format!("'bind' : {msg}"));
            }
        }
        if let Some(option) = line.arg(2) {
            self.diag.error_msg(
                option.span().clone(),
                format!(
                    "'bind' : option '{}' is not supported by the gateway",
                    option.as_str()
                ),
            );
        }
    }

    fn timeout(&mut self, p: &mut Proxy, line: &Line) {
        const SUPPORTS: &str = "'timeout' supports 'client', 'server', 'connect', 'check', \
             'queue', 'http-keep-alive', 'http-request', 'tunnel', 'tarpit', 'client-fin' and \
             'server-fin'";
        let Some(name_word) = line.arg(1) else {
            return self
                .diag
                .error_msg(line.span().clone(), format!("{SUPPORTS} (got '')"));
        };
        let name = name_word.as_str();
        // (slot, needs frontend, needs backend); `None` slot: accepted and ignored.
        let (slot, fe, be): (Option<TimeoutSlot>, bool, bool) = match name {
            "client" => (Some(|t| &mut t.client), true, false),
            "server" => (Some(|t| &mut t.server), false, true),
            "connect" => (Some(|t| &mut t.connect), false, true),
            "queue" => (Some(|t| &mut t.queue), false, true),
            "http-request" => (Some(|t| &mut t.http_request), true, true),
            "http-keep-alive" => (Some(|t| &mut t.http_keep_alive), true, true),
            "check" | "tunnel" | "server-fin" => (None, false, true),
            "client-fin" => (None, true, false),
            "tarpit" => (None, true, true),
            other => {
                return self.diag.error_msg(
                    name_word.span().clone(),
                    format!("{SUPPORTS} (got '{other}')"),
                );
            }
        };
        let directive = format!("timeout {name}");
        let Some(value) = line.arg(2) else {
            return self.diag.error_msg(
                name_word.span().clone(),
                format!("'{directive}' expects an integer value (in milliseconds)"),
            );
        };
        if let Some(extra) = line.arg(3) {
            return self.diag.error_msg(
                extra.span().clone(),
                format!(
                    "'{directive}' : unexpected extra argument '{}' after value '{}'",
                    extra.as_str(),
                    value.as_str()
                ),
            );
        }
        let Some(d) = self.duration(value, &directive) else {
            return;
        };
        let capable = (fe && p.has_frontend()) || (be && p.has_backend());
        if !capable {
            return self.not_capable(p, line.span(), &directive);
        }
        match slot {
            Some(slot) => *slot(&mut p.timeouts) = (!d.is_zero()).then_some(d),
            None => self.diag.ignored(
                line.span().clone(),
                directive,
                "not implemented by the gateway",
            ),
        }
    }

    fn proxy_maxconn(&mut self, p: &mut Proxy, line: &Line) {
        let Some(word) = line.arg(1) else {
            return self.missing(line, "maxconn", "an integer argument");
        };
        if self.too_many(line, 1, "maxconn") {
            return;
        }
        let Some(n) = self.ranged(word, "maxconn", 0, i32::MAX as u64) else {
            return;
        };
        if !p.has_frontend() {
            return self.diag.ignored(
                line.span().clone(),
                "maxconn",
                "a backend has no frontend capability (maybe 'maxconn' on 'server' lines was meant)",
            );
        }
        p.maxconn = usize::try_from(n).ok().filter(|n| *n > 0);
    }

    fn default_backend(&mut self, p: &mut Proxy, line: &Line) {
        let Some(word) = line.arg(1) else {
            return self.missing(line, "default_backend", "a backend name");
        };
        if self.too_many(line, 1, "default_backend") {
            return;
        }
        if !p.has_frontend() {
            return self.not_capable(p, line.span(), "default_backend");
        }
        p.default_backend = Some(word.spanned());
    }

    fn use_backend(&mut self, p: &mut Proxy, line: &Line) {
        if p.kind == Kind::Defaults {
            return self.diag.error_msg(
                line.span().clone(),
                "'use_backend' not allowed in 'defaults' section",
            );
        }
        let Some(word) = line.arg(1) else {
            return self.missing(line, "use_backend", "a backend name");
        };
        if !p.has_frontend() {
            return self.not_capable(p, line.span(), "use_backend");
        }
        if word.as_str().contains('%') {
            return self.diag.error_msg(
                word.span().clone(),
                "dynamic backend names (log-format in 'use_backend') are not supported by the gateway",
            );
        }
        let cond = match line.arg_str(2) {
            None => None,
            Some("if" | "unless") => {
                let dir = self.acl_context_dir();
                let cx = AclContext { base_dir: &dir };
                match Condition::parse(&line.words[2..], &mut p.acls, &cx) {
                    Ok((cond, warnings)) => {
                        for w in warnings {
                            self.diag.warn(w.span, ConfigWarningKind::Expr(w.kind));
                        }
                        warn_cond_conflicts(
                            &cond,
                            &p.acls,
                            Phase::Request,
                            "frontend use-backend rule",
                            self.diag,
                        );
                        Some(cond)
                    }
                    Err(e) => {
                        return self
                            .diag
                            .expr("error detected while parsing switching rule", e);
                    }
                }
            }
            Some(other) => {
                return self.diag.error_msg(
                    line.words[2].span().clone(),
                    format!(
                        "unexpected keyword '{other}' after switching rule, only 'if' and 'unless' are allowed"
                    ),
                );
            }
        };
        p.use_backends.push((
            UseBackend {
                backend: word.as_str().to_owned(),
                cond,
            },
            word.span().clone(),
        ));
    }

    /// `server NAME ADDR:PORT [settings]` and `default-server [settings]`.
    fn server(&mut self, p: &mut Proxy, line: &Line) {
        let kw = line.keyword();
        let is_default = kw == "default-server";
        if p.kind == Kind::Defaults && !is_default {
            return self.diag.error_msg(
                line.span().clone(),
                "'server' not allowed in 'defaults' section",
            );
        }
        if !p.has_backend() {
            return self.diag.error_msg(
                line.span().clone(),
                format!(
                    "'{kw}' not allowed because {} '{}' has no backend capability",
                    p.kind.keyword(),
                    p.name
                ),
            );
        }
        if is_default {
            let mut settings = p.server_settings;
            if self.server_settings(&line.words[1..], kw, &mut settings) {
                p.server_settings = settings;
            }
            return;
        }
        let (Some(name), Some(addr)) = (line.arg(1), line.arg(2)) else {
            return self.diag.error_msg(
                line.span().clone(),
                "'server' expects <name> and <addr>[:<port>] as arguments",
            );
        };
        if !self.check_name(name, "server") {
            return;
        }
        if let Some((_, first)) = p.servers.iter().find(|(s, _)| s.name == name.as_str()) {
            let msg = format!(
                "{} '{}' : another server named '{}' was already defined at {first}, please use distinct names",
                p.kind.keyword(),
                p.name,
                name.as_str()
            );
            return self.diag.error_msg(name.span().clone(), msg);
        }
        let label = format!("server {}", name.as_str());
        let addrs = match parse_addresses(addr, AddrUse::Server) {
            Ok(a) => a,
            Err((at, msg)) => {
                return self
                    .diag
                    .error_msg(addr.span_at(at), format!("'{label}' : {msg}"));
            }
        };
        let mut settings = p.server_settings;
        if !self.server_settings(&line.words[3..], &label, &mut settings) {
            return;
        }
        let Some(&addr) = addrs.first() else {
            return;
        };
        p.servers.push((
            Server {
                name: name.as_str().to_owned(),
                addr,
                check: settings.check,
                inter: settings.inter,
                rise: settings.rise,
                fall: settings.fall,
                weight: settings.weight,
                maxconn: settings.maxconn,
                pool_max_conn: settings.pool_max_conn,
                pool_purge_delay: settings.pool_purge_delay,
            },
            name.span().clone(),
        ));
    }

    /// The settings after a server's address; `false` after an error.
    fn server_settings(&mut self, words: &[Word], label: &str, s: &mut ServerSettings) -> bool {
        let mut i = 0;
        while let Some(word) = words.get(i) {
            let key = word.as_str();
            match key {
                "check" => s.check = true,
                "no-check" => s.check = false,
                "inter" | "rise" | "fall" | "weight" | "maxconn" | "pool-max-conn"
                | "pool-purge-delay" => {
                    let Some(value) = words.get(i + 1) else {
                        self.diag.error_msg(
                            word.span().clone(),
                            format!("'{label}' : '{key}' expects <value> as argument"),
                        );
                        return false;
                    };
                    let ok = match key {
                        "inter" => match self.duration(value, "inter") {
                            Some(d) if !d.is_zero() => {
                                s.inter = d;
                                true
                            }
                            Some(_) => {
                                self.diag.error_msg(
                                    value.span().clone(),
                                    format!("'{label}' : '{key}' has to be > 0"),
                                );
                                false
                            }
                            None => false,
                        },
                        "rise" | "fall" => match self.ranged(value, key, 1, i32::MAX as u64) {
                            Some(n) => {
                                let n = u32::try_from(n).unwrap_or(u32::MAX);
                                if key == "rise" {
                                    s.rise = n;
                                } else {
                                    s.fall = n;
                                }
                                true
                            }
                            None => false,
                        },
                        "weight" => match self.ranged(value, "weight", 0, 256) {
                            Some(n) => {
                                s.weight = u32::try_from(n).unwrap_or(256);
                                true
                            }
                            None => false,
                        },
                        // -1: unlimited, as in HAProxy (which reads the
                        // number with atol; a non-number is an error here).
                        "pool-max-conn" if value.as_str() == "-1" => {
                            s.pool_max_conn = None;
                            true
                        }
                        "pool-max-conn"
                            if value.as_str().starts_with('-')
                                && value.as_str()[1..].bytes().all(|b| b.is_ascii_digit()) =>
                        {
                            self.diag.error_msg(
                                value.span().clone(),
                                format!(
                                    "'{label}' : 'pool-max-conn' must be >= -1, got '{}'",
                                    value.as_str()
                                ),
                            );
                            false
                        }
                        "pool-max-conn" => match self.ranged(value, key, 0, i32::MAX as u64) {
                            Some(n) => {
                                s.pool_max_conn = usize::try_from(n).ok();
                                true
                            }
                            None => false,
                        },
                        "pool-purge-delay" => match self.duration(value, key) {
                            Some(d) => {
                                s.pool_purge_delay = d;
                                true
                            }
                            None => false,
                        },
                        _ => match self.ranged(value, "maxconn", 0, i32::MAX as u64) {
                            Some(n) => {
                                s.maxconn = usize::try_from(n).ok().filter(|n| *n > 0);
                                true
                            }
                            None => false,
                        },
                    };
                    if !ok {
                        return false;
                    }
                    i += 1;
                }
                key => {
                    let msg = if HAPROXY_SERVER_KEYWORDS.contains(&key) {
                        format!("'{label}' : '{key}' is not supported by the gateway")
                    } else {
                        format!("'{label}' : unknown keyword '{key}'")
                    };
                    self.diag.error_msg(word.span().clone(), msg);
                    return false;
                }
            }
            i += 1;
        }
        true
    }

    fn balance(&mut self, p: &mut Proxy, line: &Line) {
        let Some(word) = line.arg(1) else {
            return self.missing(line, "balance", "'roundrobin' or 'leastconn'");
        };
        let balance = match word.as_str() {
            "roundrobin" => Balance::RoundRobin,
            "leastconn" => Balance::LeastConn,
            other
                if [
                    "static-rr",
                    "first",
                    "source",
                    "uri",
                    "url_param",
                    "random",
                    "hash",
                ]
                .contains(&other)
                    || other.starts_with("hdr(")
                    || other.starts_with("rdp-cookie")
                    || other.starts_with("random(") =>
            {
                return self.diag.error_msg(
                    word.span().clone(),
                    format!(
                        "'balance {other}' is not supported by the gateway (only 'roundrobin' and 'leastconn')"
                    ),
                );
            }
            _ => {
                return self.diag.error_msg(
                    word.span().clone(),
                    "'balance' only supports 'roundrobin', 'static-rr', 'leastconn', 'source', 'uri', \
                     'url_param', 'hash', 'hdr(name)', 'random' and 'rdp-cookie(name)' options",
                );
            }
        };
        if self.too_many(line, 1, "balance") {
            return;
        }
        if !p.has_backend() {
            return self.not_capable(p, line.span(), "balance");
        }
        p.balance = balance;
    }

    fn option(&mut self, p: &mut Proxy, line: &Line) {
        let Some(word) = line.arg(1) else {
            return self
                .diag
                .error_msg(line.span().clone(), "'option' expects an option name");
        };
        let name = word.as_str();
        let prefix = match line.modifier {
            Modifier::None => "",
            Modifier::No => "no ",
            Modifier::Default => "default ",
        };
        let directive = format!("{prefix}option {name}");
        if name == "spop-check" {
            if line.modifier != Modifier::None {
                return self.diag.error(
                    word.span().clone(),
                    ConfigErrorKind::NegationNotSupported {
                        name: name.to_owned(),
                    },
                );
            }
            if self.too_many(line, 1, "option spop-check") {
                return;
            }
            if !p.has_backend() {
                return self.not_capable(p, line.span(), &directive);
            }
            p.spop_check = true;
            return;
        }
        if name == "http-buffer-request" {
            if self.too_many(line, 1, "option http-buffer-request") {
                return;
            }
            p.http_buffer_request = line.modifier == Modifier::None;
            return;
        }
        if name == "httplog" {
            return self.option_httplog(p, line);
        }
        if let Some((_, negatable, reason)) = IGNORED_OPTIONS.iter().find(|(o, _, _)| *o == name) {
            if line.modifier != Modifier::None && !negatable {
                return self.diag.error(
                    word.span().clone(),
                    ConfigErrorKind::NegationNotSupported {
                        name: name.to_owned(),
                    },
                );
            }
            return self.diag.ignored(line.span().clone(), directive, reason);
        }
        let msg = if HAPROXY_OPTIONS.contains(&name) {
            format!("option '{name}' is not supported by the gateway")
        } else {
            format!("unknown option '{name}'")
        };
        self.diag.error_msg(word.span().clone(), msg);
    }

    /// `option httplog [clf]`: HAProxy's access line (a frontend capability;
    /// HAProxy ignores it in a backend with a warning, and refuses `no`).
    fn option_httplog(&mut self, p: &mut Proxy, line: &Line) {
        let directive = "option httplog";
        if line.modifier != Modifier::None {
            let word = line
                .arg(1)
                .map_or_else(|| line.span().clone(), |w| w.span().clone());
            return self.diag.error(
                word,
                ConfigErrorKind::NegationNotSupported {
                    name: "httplog".to_owned(),
                },
            );
        }
        if line.arg_str(2) == Some("clf") {
            return self.diag.error_msg(
                line.span().clone(),
                "'option httplog clf' is not supported by the gateway (it writes HAProxy's httplog format)",
            );
        }
        if self.too_many(line, 1, directive) {
            return;
        }
        if !p.has_frontend() {
            return self.diag.ignored(
                line.span().clone(),
                directive,
                "it is ignored in backends (the frontend's log format is used)",
            );
        }
        p.httplog = true;
    }

    fn proxy_log(&mut self, line: &Line) {
        if line.modifier != Modifier::None {
            return self.diag.ignored(
                line.span().clone(),
                "no log",
                "the gateway logs every request to the global log target",
            );
        }
        let Some(word) = line.arg(1) else {
            return self.missing(line, "log", "'global' or a log target");
        };
        if word.as_str() == "global" {
            // The gateway's access log goes where `global` says: what `log global` means.
            self.too_many(line, 1, "log global");
            return;
        }
        self.diag.ignored(
            line.span().clone(),
            format!("log {}", word.as_str()),
            "the gateway logs every request to the global log target",
        );
    }

    fn acl(&mut self, p: &mut Proxy, line: &Line) {
        if !self.rules_allowed(p, line) {
            return;
        }
        let Some(name) = line.arg(1) else {
            return self.missing(line, "acl", "an ACL name followed by a criterion");
        };
        if !self.check_name(name, "acl") {
            return;
        }
        if name.as_str().eq_ignore_ascii_case("or") {
            return self.diag.error(
                name.span().clone(),
                ConfigErrorKind::AclNamedOr {
                    name: name.as_str().to_owned(),
                },
            );
        }
        let dir = self.acl_context_dir();
        let cx = AclContext { base_dir: &dir };
        match p.acls.parse_acl(&line.words[1..], &cx) {
            Ok((_, warnings)) => {
                for w in warnings {
                    self.diag.warn(w.span, ConfigWarningKind::Expr(w.kind));
                }
            }
            Err(e) => self.diag.expr(
                format!("error detected while parsing ACL '{}'", name.as_str()),
                e,
            ),
        }
    }

    /// `acl`, `http-request` and `http-response` are refused in `defaults` sections.
    fn rules_allowed(&mut self, p: &Proxy, line: &Line) -> bool {
        if p.kind != Kind::Defaults {
            return true;
        }
        let kw = line.keyword();
        let msg = if p.is_anonymous_defaults() {
            format!("'{kw}' not allowed in anonymous 'defaults' section")
        } else {
            format!("'{kw}' in a 'defaults' section is not supported by the gateway")
        };
        self.diag.error_msg(line.span().clone(), msg);
        false
    }

    fn http_rule(&mut self, p: &mut Proxy, line: &Line) {
        if !self.rules_allowed(p, line) {
            return;
        }
        let phase = if line.keyword() == "http-request" {
            Phase::Request
        } else {
            Phase::Response
        };
        let slot = usize::from(phase == Phase::Response);
        let after_final = p.final_rule[slot];
        let dir = self.acl_context_dir();
        let cx = AclContext { base_dir: &dir };
        let side = p.side();
        let mut scope = RuleScope {
            acls: &mut p.acls,
            acl_cx: &cx,
            site: RuleSite { side, phase },
            lua: self.lua.registered(),
        };
        let Some(parsed) = parse_rule(line, &mut scope, self.diag) else {
            return;
        };
        if after_final {
            self.diag.ignored(
                line.span().clone(),
                format!("{} {}", line.keyword(), line.arg_str(1).unwrap_or_default()),
                "a previous rule is final and has no condition attached, further entries are NOOP",
            );
        }
        if parsed.is_final && parsed.rule.cond.is_none() {
            p.final_rule[slot] = true;
        }
        if let Some(group) = parsed.group {
            p.group_refs.push(group);
        }
        match phase {
            Phase::Request => p.http_request.push(parsed.rule),
            Phase::Response => p.http_response.push(parsed.rule),
        }
    }

    /// `filter spoe [engine NAME] config FILE`: the file is read and parsed here, as HAProxy
    /// does while it reads the `filter` line.
    fn filter(&mut self, p: &mut Proxy, line: &Line) {
        if p.kind == Kind::Defaults {
            return self.diag.error_msg(
                line.span().clone(),
                "'filter' is not allowed in a 'defaults' section",
            );
        }
        let Some(kind) = line.arg(1) else {
            return self.diag.error_msg(
                line.span().clone(),
                format!(
                    "missing argument for 'filter' in {} '{}'",
                    p.kind.keyword(),
                    p.name
                ),
            );
        };
        match kind.as_str() {
            "spoe" => {}
            other
                if [
                    "trace",
                    "compression",
                    "cache",
                    "bwlim-in",
                    "bwlim-out",
                    "fcgi-app",
                    "opentracing",
                ]
                .contains(&other) =>
            {
                return self.diag.error_msg(
                    kind.span().clone(),
                    format!("filter '{other}' is not supported by the gateway (only 'spoe')"),
                );
            }
            other => {
                return self.diag.error_msg(
                    kind.span().clone(),
                    format!("'filter' : unknown keyword '{other}'"),
                );
            }
        }
        let mut engine: Option<&Word> = None;
        let mut config: Option<&Word> = None;
        let mut i = 2;
        while let Some(word) = line.arg(i) {
            let slot = match word.as_str() {
                "engine" => &mut engine,
                "config" => &mut config,
                other => {
                    return self.diag.error_msg(
                        word.span().clone(),
                        format!("'filter spoe' : unknown keyword '{other}'"),
                    );
                }
            };
            let Some(value) = line.arg(i + 1) else {
                return self.diag.error_msg(
                    word.span().clone(),
                    format!("'spoe' : '{}' option without value", word.as_str()),
                );
            };
            *slot = Some(value);
            i += 2;
        }
        let Some(config) = config else {
            return self
                .diag
                .error_msg(line.span().clone(), "'spoe' : missing config file");
        };
        let engine_name = engine.map(|e| e.as_str().to_owned());
        let path = self.base_dir.join(config.as_str());
        let text = match std::fs::read(&path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => {
                return self.diag.error_msg(
                    config.span().clone(),
                    format!(
                        "'filter spoe' : could not open configuration file {} : {e}",
                        path.display()
                    ),
                );
            }
        };
        if !self.files.contains(&path) {
            self.files.push(path.clone());
        }
        let options = ParseOptions {
            env: self.env.cloned(),
            base_dir: Some(self.base_dir.clone()),
        };
        match SpoeConfig::parse_str_with(&text, &path, engine_name.as_deref(), &options) {
            Ok((spoe, warnings)) => {
                self.diag.merge(line.span(), Vec::new(), warnings);
                p.filters.push(SpoeFilterDecl {
                    engine: engine_name,
                    file: path,
                    config: Arc::new(spoe),
                    span: line.span().clone(),
                });
            }
            Err(errors) => {
                self.diag.error_msg(
                    config.span().clone(),
                    format!(
                        "'filter spoe' : error(s) found in configuration file {}",
                        path.display()
                    ),
                );
                self.diag.merge(line.span(), errors.errors, errors.warnings);
            }
        }
    }
}
