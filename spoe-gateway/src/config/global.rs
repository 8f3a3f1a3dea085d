//! The `global` section (`cfg_parse_global()` in `src/cfgparse-global.c`). A new `global`
//! keyword is a row of [`KEYWORDS`] and a handler here (`log` lines are in [`super::log`]).

use std::path::Path;

use spoe::config::ConfigErrorKind;
use spoe::config::reader::{Line, Modifier, Section};

use super::environ;
use super::grammar::Kind;
use super::keywords::{HAPROXY_GLOBAL, IGNORED_GLOBAL, Keyword, Use, find, suggestion};
use super::lower::Lowerer;
use super::process;
use super::tunes;
use crate::model::DEFAULT_BUFSIZE;

/// Reads a `global` line.
type Handler = fn(&mut Lowerer<'_, '_>, &Line);

/// Bounds of `tune.bufsize` (HAProxy refuses a buffer smaller than its reserve,
/// `tune.maxrewrite`, 1024 by default; the gateway keeps a buffered body in memory, so a bound
/// well above HAProxy's default, 256 MiB, is refused too).
const MIN_BUFSIZE: u64 = 1024;
const MAX_BUFSIZE: u64 = 256 << 20;

/// HAProxy's `MAX_THREADS` on 64-bit builds.
const MAX_THREADS: u64 = 64;

/// The `global` keywords the gateway runs.
pub(super) const KEYWORDS: &[Keyword<Handler>] = &[
    Keyword {
        name: "maxconn",
        handler: maxconn,
        uses: Use::Runs(&[("Global.maxconn", "limits.rs")]),
    },
    Keyword {
        name: "hard-stop-after",
        handler: hard_stop_after,
        uses: Use::Runs(&[("Global.hard_stop_after", "server/stop.rs")]),
    },
    Keyword {
        name: "nbthread",
        handler: nbthread,
        uses: Use::Runs(&[("Global.nbthread", "config/mod.rs")]),
    },
    Keyword {
        name: "tune.bufsize",
        handler: bufsize,
        uses: Use::Runs(&[("Global.bufsize", "proxy.rs")]),
    },
    Keyword {
        name: "log",
        handler: |lw, line| lw.global_log(line),
        uses: Use::Runs(&[("Global.logs", "generation/mod.rs")]),
    },
    Keyword {
        name: "default-path",
        handler: default_path,
        uses: Use::Read,
    },
    Keyword {
        name: "crt-base",
        handler: ssl_global,
        uses: Use::Read,
    },
    Keyword {
        name: "ca-base",
        handler: ssl_global,
        uses: Use::Read,
    },
    Keyword {
        name: "ssl-default-bind-ciphers",
        handler: ssl_global,
        uses: Use::Read,
    },
    Keyword {
        name: "ssl-default-bind-ciphersuites",
        handler: ssl_global,
        uses: Use::Read,
    },
    Keyword {
        name: "ssl-default-bind-curves",
        handler: ssl_global,
        uses: Use::Read,
    },
    Keyword {
        name: "ssl-default-bind-options",
        handler: ssl_global,
        uses: Use::Read,
    },
    Keyword {
        name: "ssl-default-server-ciphers",
        handler: ssl_global,
        uses: Use::Read,
    },
    Keyword {
        name: "ssl-default-server-ciphersuites",
        handler: ssl_global,
        uses: Use::Read,
    },
    Keyword {
        name: "ssl-default-server-options",
        handler: ssl_global,
        uses: Use::Read,
    },
    Keyword {
        name: "ssl-server-verify",
        handler: ssl_global,
        uses: Use::Read,
    },
    Keyword {
        name: "tune.h2.header-table-size",
        handler: tune_h2,
        uses: Use::Runs(&[("H2Tunes.header_table_size", "server/http2.rs")]),
    },
    Keyword {
        name: "tune.h2.initial-window-size",
        handler: tune_h2,
        uses: Use::Runs(&[("H2Tunes.initial_window_size", "server/http2.rs")]),
    },
    Keyword {
        name: "tune.h2.max-concurrent-streams",
        handler: tune_h2,
        uses: Use::Runs(&[("H2Tunes.max_concurrent_streams", "server/http2.rs")]),
    },
    Keyword {
        name: "tune.h2.max-frame-size",
        handler: tune_h2,
        uses: Use::Runs(&[("H2Tunes.max_frame_size", "server/http2.rs")]),
    },
    Keyword {
        name: "nbproc",
        handler: nbproc,
        uses: Use::Read,
    },
    Keyword {
        name: "server-state-file",
        handler: super::server_state::global_path,
        uses: Use::Read,
    },
    Keyword {
        name: "server-state-base",
        handler: super::server_state::global_path,
        uses: Use::Read,
    },
    Keyword {
        name: "pidfile",
        handler: pidfile,
        uses: Use::Runs(&[("Global.pidfile", "server/mod.rs")]),
    },
    Keyword {
        name: "stats",
        handler: |lw, line| lw.global_stats(line),
        uses: Use::Runs(&[
            ("Global.stats_sockets", "server/cli.rs"),
            ("Global.stats_timeout", "runtime_api/socket.rs"),
            ("Global.stats_maxconn", "runtime_api/socket.rs"),
            ("StatsSocket.addr", "runtime_api/socket.rs"),
            ("StatsSocket.mode", "runtime_api/socket.rs"),
            ("StatsSocket.owner", "runtime_api/socket.rs"),
            ("StatsSocket.level", "runtime_api/socket.rs"),
        ]),
    },
    Keyword {
        name: "setenv",
        handler: environment_line,
        uses: Use::Runs(&[("Global.environment", "proxy.rs")]),
    },
    Keyword {
        name: "presetenv",
        handler: environment_line,
        uses: Use::Runs(&[("Global.environment", "proxy.rs")]),
    },
    Keyword {
        name: "unsetenv",
        handler: environment_line,
        uses: Use::Runs(&[("Global.environment", "proxy.rs")]),
    },
    Keyword {
        name: "resetenv",
        handler: environment_line,
        uses: Use::Runs(&[("Global.environment", "proxy.rs")]),
    },
    Keyword {
        name: "daemon",
        handler: process::daemon,
        uses: Use::Runs(&[("Process.daemon", "config/mod.rs")]),
    },
    Keyword {
        name: "master-worker",
        handler: master_worker,
        uses: Use::Read,
    },
    Keyword {
        name: "user",
        handler: process::user,
        uses: Use::Runs(&[("Process.uid", "process.rs")]),
    },
    Keyword {
        name: "uid",
        handler: process::user,
        uses: Use::Runs(&[("Process.uid", "process.rs")]),
    },
    Keyword {
        name: "group",
        handler: process::group,
        uses: Use::Runs(&[("Process.gid", "process.rs")]),
    },
    Keyword {
        name: "gid",
        handler: process::group,
        uses: Use::Runs(&[("Process.gid", "process.rs")]),
    },
    Keyword {
        name: "chroot",
        handler: process::chroot,
        uses: Use::Runs(&[("Process.chroot", "process.rs")]),
    },
    Keyword {
        name: "ulimit-n",
        handler: process::files_limit,
        uses: Use::Runs(&[("FilesLimit.ulimit_n", "limits.rs")]),
    },
    Keyword {
        name: "fd-hard-limit",
        handler: process::files_limit,
        uses: Use::Runs(&[("FilesLimit.hard_limit", "limits.rs")]),
    },
    Keyword {
        name: "strict-limits",
        handler: process::strict_limits,
        uses: Use::Runs(&[("FilesLimit.strict", "limits.rs")]),
    },
    Keyword {
        name: "zero-warning",
        handler: process::zero_warning,
        uses: Use::Read,
    },
    Keyword {
        name: "localpeer",
        handler: process::localpeer,
        uses: Use::Read,
    },
    Keyword {
        name: "cpu-map",
        handler: super::cpu_map::cpu_map,
        uses: Use::Runs(&[("Process.cpu_map", "config/mod.rs")]),
    },
    Keyword {
        name: "tune.ssl.default-dh-param",
        handler: default_dh_param,
        uses: Use::Read,
    },
    Keyword {
        name: "ssl-dh-param-file",
        handler: dh_param_file,
        uses: Use::Read,
    },
];

/// `ssl-dh-param-file FILE`: the file is read and must hold PEM DH parameters, as HAProxy
/// requires; the gateway's TLS has no finite-field DHE suite (a cipher string's DHE suites are
/// left out with a warning), so the parameters are never used (see the README's table).
fn dh_param_file(lw: &mut Lowerer<'_, '_>, line: &Line) {
    let kw = line.keyword();
    let Some(word) = lw.single(line, kw, "a file path as an argument") else {
        return;
    };
    let path = lw.base_dir.join(word.as_str());
    let valid = std::fs::read_to_string(&path).is_ok_and(|text| holds_dh_parameters(&text));
    if !valid {
        lw.diag.error_msg(
            line.span().clone(),
            format!(
                "'{kw}': unable to load DH parameters from file <{}>.",
                word.as_str()
            ),
        );
    }
}

/// Whether `text` holds a PEM block of DH parameters (PKCS#3 or X9.42) with a body.
fn holds_dh_parameters(text: &str) -> bool {
    ["DH PARAMETERS", "X9.42 DH PARAMETERS"]
        .iter()
        .any(|label| {
            let begin = format!("-----BEGIN {label}-----");
            let end = format!("-----END {label}-----");
            text.split_once(&begin)
                .and_then(|(_, rest)| rest.split_once(&end))
                .is_some_and(|(body, _)| {
                    let body: String = body.split_whitespace().collect();
                    !body.is_empty()
                        && body
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
                })
        })
}

/// `tune.ssl.default-dh-param N`: checked as HAProxy does; the gateway's TLS has no
/// finite-field DHE suite, so no DH group is ever used (see the README's table).
fn default_dh_param(lw: &mut Lowerer<'_, '_>, line: &Line) {
    let kw = line.keyword();
    let Some(word) = lw.single(line, kw, "an integer argument") else {
        return;
    };
    let digits: String = word
        .as_str()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    if digits.parse::<u64>().unwrap_or(0) < 1024 {
        lw.diag.error_msg(
            word.span().clone(),
            format!("'{kw}' expects a value >= 1024."),
        );
    }
}

/// `crt-base`, `ca-base`, `ssl-default-bind-*`, `ssl-default-server-*`, `ssl-server-verify`
/// (see `config/ssl.rs`).
fn ssl_global(lw: &mut Lowerer<'_, '_>, line: &Line) {
    let args = line.words.get(1..).unwrap_or_default();
    super::ssl::global_line(
        line.keyword(),
        args,
        line.span(),
        &lw.base_dir,
        &mut lw.ssl,
        lw.diag,
    );
}

/// `tune.h2.*`.
fn tune_h2(lw: &mut Lowerer<'_, '_>, line: &Line) {
    let args = line.words.get(1..).unwrap_or_default();
    super::ssl::tune_h2(
        line.keyword(),
        args,
        line.span(),
        &mut lw.global.h2,
        lw.diag,
    );
}

impl Lowerer<'_, '_> {
    pub(super) fn global_section(&mut self, section: &Section<Kind>) {
        if let Some(extra) = section.header.arg(1) {
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
        if let Some(keyword) = find(KEYWORDS, kw).or_else(|| find(tunes::KEYWORDS, kw)) {
            return (keyword.handler)(self, line);
        }
        if tunes::machinery(self, line) {
            return;
        }
        if let Some((_, reason)) = IGNORED_GLOBAL.iter().find(|(k, _)| *k == kw) {
            self.diag.ignored(line.span().clone(), kw, reason);
        } else if HAPROXY_GLOBAL.contains(&kw) || kw.starts_with("tune.") || kw.starts_with("ssl-")
        {
            self.diag.error_msg(
                line.span().clone(),
                format!(
                    "'{kw}' is not supported in the 'global' section by the gateway{}",
                    tunes::why_refused(kw)
                ),
            );
        } else {
            let all = KEYWORDS
                .iter()
                .chain(tunes::KEYWORDS)
                .map(|k| k.name)
                .chain(tunes::MACHINERY.iter().map(|(k, _)| *k))
                .chain(super::lua::KEYWORDS.iter().copied())
                .chain(IGNORED_GLOBAL.iter().map(|(k, _)| *k))
                .chain(HAPROXY_GLOBAL.iter().copied());
            self.diag.error_msg(
                line.span().clone(),
                format!(
                    "unknown keyword '{kw}' in 'global' section{}",
                    suggestion(kw, all)
                ),
            );
        }
    }

    /// The one argument of `directive`, or `None` after reporting it missing or followed by
    /// another.
    pub(super) fn single<'l>(
        &mut self,
        line: &'l Line,
        directive: &str,
        expected: &'static str,
    ) -> Option<&'l spoe::config::reader::Word> {
        let Some(word) = line.arg(1) else {
            self.missing(line, directive, expected);
            return None;
        };
        (!self.too_many(line, 1, directive)).then_some(word)
    }
}

/// `setenv`, `presetenv`, `unsetenv`, `resetenv`: what they change was applied while the file
/// was read (`super::environ`); here, HAProxy's errors for the lines it refuses.
fn environment_line(lw: &mut Lowerer<'_, '_>, line: &Line) {
    let kw = line.keyword();
    let failed = |lw: &mut Lowerer<'_, '_>, name: &spoe::config::reader::Word| {
        lw.diag.error_msg(
            name.span().clone(),
            format!(
                "'{kw}' failed on variable '{}' : Invalid argument.",
                name.as_str()
            ),
        );
    };
    match kw {
        "setenv" | "presetenv" => {
            if lw.too_many(line, 3, kw) {
                return;
            }
            let (Some(name), Some(_)) = (line.arg(1), line.arg(2)) else {
                return lw.diag.error_msg(
                    line.span().clone(),
                    format!("'{kw}' expects a name and a value."),
                );
            };
            if !environ::valid_name(name.as_str()) {
                failed(lw, name);
            }
        }
        "unsetenv" => {
            if line.arg(1).is_none() {
                return lw.diag.error_msg(
                    line.span().clone(),
                    format!("'{kw}' expects at least one variable name."),
                );
            }
            if let Some(bad) = line.words[1..]
                .iter()
                .find(|w| !environ::valid_name(w.as_str()))
            {
                failed(lw, bad);
            }
        }
        _ => {}
    }
}

/// `pidfile PATH`: HAProxy's master writes its pid there once it listens (the gateway is
/// its own master); a second line is HAProxy's non-fatal alert, the first one kept.
fn pidfile(lw: &mut Lowerer<'_, '_>, line: &Line) {
    if lw.too_many(line, 1, "pidfile") {
        return;
    }
    if lw.global.pidfile.is_some() {
        return lw.diag.warn_msg(
            line.span().clone(),
            "'pidfile' already specified. Continuing.",
        );
    }
    match line.arg(1) {
        Some(path) if !path.as_str().is_empty() => {
            lw.global.pidfile = Some(path.as_str().into());
        }
        _ => lw.diag.error_msg(
            line.span().clone(),
            "'pidfile' expects a file name as an argument.",
        ),
    }
}

/// `master-worker [no-exit-on-failure]`: the gateway is its own master, one process that
/// reloads in place on `SIGUSR2`/`SIGHUP` and whose pid `pidfile` holds, as HAProxy's master:
/// nothing to change.
fn master_worker(lw: &mut Lowerer<'_, '_>, line: &Line) {
    if lw.too_many(line, 1, "master-worker") {
        return;
    }
    if let Some(arg) = line.arg(1)
        && arg.as_str() != "no-exit-on-failure"
    {
        lw.diag.error_msg(
            arg.span().clone(),
            "'master-worker' only supports 'no-exit-on-failure' option.",
        );
    }
}

fn maxconn(lw: &mut Lowerer<'_, '_>, line: &Line) {
    let Some(word) = lw.single(line, "maxconn", "an integer argument") else {
        return;
    };
    if let Some(n) = lw.ranged(word, "maxconn", 1, i32::MAX as u64) {
        lw.global.maxconn = usize::try_from(n).ok();
    }
}

fn hard_stop_after(lw: &mut Lowerer<'_, '_>, line: &Line) {
    let Some(word) = lw.single(line, "hard-stop-after", "a duration") else {
        return;
    };
    if let Some(d) = lw.duration(word, "hard-stop-after") {
        lw.global.hard_stop_after = (!d.is_zero()).then_some(d);
    }
}

fn nbthread(lw: &mut Lowerer<'_, '_>, line: &Line) {
    let Some(word) = lw.single(line, "nbthread", "a thread count") else {
        return;
    };
    if let Some(n) = lw.ranged(word, "nbthread", 1, MAX_THREADS) {
        lw.global.nbthread = usize::try_from(n).ok();
    }
}

fn bufsize(lw: &mut Lowerer<'_, '_>, line: &Line) {
    let Some(word) = lw.single(line, "tune.bufsize", "a size in bytes") else {
        return;
    };
    if let Some(n) = lw.ranged(word, "tune.bufsize", MIN_BUFSIZE, MAX_BUFSIZE) {
        lw.global.bufsize = usize::try_from(n).unwrap_or(DEFAULT_BUFSIZE);
    }
}

fn nbproc(lw: &mut Lowerer<'_, '_>, line: &Line) {
    lw.diag.error_msg(
        line.span().clone(),
        "'nbproc' is not supported anymore since HAProxy 2.5; threads are enabled by default",
    );
}

/// `default-path current|config|parent|origin PATH`: where relative paths start from the
/// next line on.
fn default_path(lw: &mut Lowerer<'_, '_>, line: &Line) {
    let Some(policy) = line.arg(1) else {
        return lw.missing(
            line,
            "default-path",
            "'current', 'config', 'parent' or 'origin <path>'",
        );
    };
    let config_dir = || {
        lw.start_dir
            .join(lw.file.parent().unwrap_or_else(|| Path::new("")))
    };
    let dir = match policy.as_str() {
        "current" => lw.start_dir.clone(),
        "config" => config_dir(),
        "parent" => config_dir().join(".."),
        "origin" => {
            let Some(path) = line.arg(2) else {
                return lw.missing(line, "default-path origin", "a path");
            };
            if lw.too_many(line, 2, "default-path origin") {
                return;
            }
            lw.start_dir.join(path.as_str())
        }
        other => {
            lw.diag.error_msg(
                policy.span().clone(),
                format!(
                    "'default-path' expects either 'current', 'config', 'parent' or 'origin', got '{other}'"
                ),
            );
            return;
        }
    };
    if policy.as_str() != "origin" && lw.too_many(line, 1, "default-path") {
        return;
    }
    lw.base_dir = dir;
}
