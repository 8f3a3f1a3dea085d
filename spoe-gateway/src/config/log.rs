//! `log` lines: the `global` target the access and SPOE lines go to, and the proxies' `log`
//! lines (`parse_logsrv()` in `src/log.c`).

use spoe::config::reader::{Line, Modifier};
use spoe::config::{ConfigErrorKind, FACILITIES, FORMATS, LEVELS};

use super::lower::{Lowerer, Proxy};
use crate::model::{LogTarget, Syslog, SyslogFormat};

impl Lowerer<'_, '_> {
    /// `log stdout|stderr [len N] [format F] [sample R:S] FACILITY [LEVEL [MINLEVEL]]`; other
    /// targets are accepted and ignored.
    pub(super) fn global_log(&mut self, line: &Line) {
        let Some(target) = line.arg(1) else {
            return self.missing(
                line,
                "log",
                "a target ('stdout' or 'stderr') and a facility",
            );
        };
        // Any target counts for proxies' `log global` (HAProxy's warning about log formats
        // without a log address).
        if target.as_str() != "global" {
            self.global_has_log = true;
        }
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

    /// A proxy's `log` line: `log global` is what the gateway does; other targets are
    /// accepted and ignored.
    pub(super) fn proxy_log(&mut self, p: &mut Proxy, line: &Line) {
        if line.modifier != Modifier::None {
            p.has_log = false;
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
            p.has_log |= self.global_has_log;
            return;
        }
        p.has_log = true;
        self.diag.ignored(
            line.span().clone(),
            format!("log {}", word.as_str()),
            "the gateway logs every request to the global log target",
        );
    }
}
