//! `log` lines (`parse_logsrv()` in `src/log.c`): the `global` section's, which `log global`
//! stands for, and each proxy's (`log global`, its own targets, `no log`). A proxy writes its
//! lines only to the `log` lines it has, as HAProxy does; the SPOE agents' own `log` lines are
//! read with their `spoe.conf`.
//!
//! Targets: stdout and stderr (`fd@1`, `fd@2`), syslog over UDP (`HOST[:PORT]`, `udp@...`) and
//! Unix datagram sockets (`/dev/log`, `unix@PATH`). A host name is resolved here, as HAProxy
//! resolves it while parsing. Rings, `tcp@` and other file descriptors are refused, naming the
//! target.

use spoe::config::reader::{Line, Modifier};
use spoe::config::{
    ConfigErrorKind, FACILITIES, FORMATS, LEVELS, LogAddress, LogServer, check_sample,
};

use super::lower::{Lowerer, Proxy};
use crate::log::Destination;

/// Why `address` cannot be written to by the gateway, if it cannot: an unresolvable host, a
/// ring, a stream (`tcp@`) target, a file descriptor other than 1 and 2.
pub(super) fn unsupported_target(address: &LogAddress) -> Option<String> {
    match address {
        LogAddress::Fd(1 | 2) => None,
        LogAddress::Fd(n) => Some(format!(
            "'log fd@{n}' : file descriptors other than stdout (fd@1) and stderr (fd@2) are not supported by the gateway"
        )),
        LogAddress::Ring(r) => Some(format!(
            "'log ring@{r}' : rings are not supported by the gateway; log to stdout, stderr, a UDP address or a Unix socket"
        )),
        other => Destination::of(other).err(),
    }
}

impl Lowerer<'_, '_> {
    /// `log ...` in `global`: one more place lines sent to `log global` go.
    pub(super) fn global_log(&mut self, line: &Line) {
        if line.arg_str(1) == Some("global") {
            return self.diag.error_msg(
                line.words[1].span().clone(),
                "'log global' makes no sense in the 'global' section",
            );
        }
        // Any `log` line gives proxies' `log global` an address, for HAProxy's warning about
        // log formats without one (even one the gateway ignores).
        self.global_log_lines = true;
        if let Some(server) = self.log_server(line) {
            self.global.logs.push(server);
        }
    }

    /// `log global`, `log ADDRESS ...` and `no log` in a proxy: where its lines go.
    pub(super) fn proxy_log(&mut self, p: &mut Proxy, line: &Line) {
        if line.modifier == Modifier::No {
            if !self.too_many(line, 0, "no log") {
                p.logs.clear();
                p.log_lines = false;
            }
            return;
        }
        if line.modifier != Modifier::None {
            return self.diag.error_msg(
                line.span().clone(),
                "negation/default currently supported only for options and log",
            );
        }
        if line.arg_str(1) == Some("global") {
            if !self.too_many(line, 1, "log global") {
                p.logs.extend(self.global.logs.iter().cloned());
                p.log_lines |= self.global_log_lines;
            }
            return;
        }
        p.log_lines = true;
        if let Some(server) = self.log_server(line) {
            p.logs.push(server);
        }
    }

    /// `log ADDRESS [len N] [format F] [sample R:S] FACILITY [LEVEL [MINLEVEL]]`: the line as a
    /// log server, or `None` after reporting what is wrong with it. An address other than
    /// stdout or stderr is reported as ignored (and `None`).
    fn log_server(&mut self, line: &Line) -> Option<LogServer> {
        let Some(target) = line.arg(1) else {
            self.missing(
                line,
                "log",
                "a target (stdout, stderr, an address or a Unix socket) and a facility",
            );
            return None;
        };
        let address = match LogAddress::parse(target.as_str()) {
            Ok(a) => a,
            Err(e) => {
                self.diag
                    .error(target.span().clone(), ConfigErrorKind::Log(e));
                return None;
            }
        };
        let mut server = LogServer {
            address,
            max_len: 1024,
            format: None,
            sample: None,
            facility: 16,
            level: 7,
            min_level: 0,
            span: line.span().clone(),
        };
        let mut i = 2;
        loop {
            match line.arg_str(i) {
                Some("len") => {
                    let Some(w) = line.arg(i + 1) else {
                        self.missing(line, "log len", "a length");
                        return None;
                    };
                    server.max_len = u16::try_from(self.ranged(w, "log len", 80, 65535)?).ok()?;
                    i += 2;
                }
                Some("format") => {
                    let Some(w) = line.arg(i + 1) else {
                        self.missing(line, "log format", "a format name");
                        return None;
                    };
                    if !FORMATS.contains(&w.as_str()) {
                        self.diag.error(
                            w.span().clone(),
                            ConfigErrorKind::Log(format!("unknown log format '{}'", w.as_str())),
                        );
                        return None;
                    }
                    server.format = Some(w.as_str().to_owned());
                    i += 2;
                }
                Some("sample") => {
                    let Some(w) = line.arg(i + 1) else {
                        self.missing(line, "log sample", "<ranges>:<sample_size>");
                        return None;
                    };
                    if let Err(e) = check_sample(w.as_str()) {
                        self.diag.error(w.span().clone(), ConfigErrorKind::Log(e));
                        return None;
                    }
                    server.sample = Some(w.as_str().to_owned());
                    i += 2;
                }
                _ => break,
            }
        }
        let Some(facility) = line.arg(i) else {
            self.missing(line, "log", "a facility");
            return None;
        };
        let code = |names: &[&str], w: &str| names.iter().position(|n| *n == w);
        let Some(f) = code(&FACILITIES, facility.as_str()) else {
            self.diag.error(
                facility.span().clone(),
                ConfigErrorKind::Log(format!("unknown log facility '{}'", facility.as_str())),
            );
            return None;
        };
        server.facility = f as u8;
        for (k, level) in line.words.iter().skip(i + 1).take(2).enumerate() {
            let Some(l) = code(&LEVELS, level.as_str()) else {
                self.diag.error(
                    level.span().clone(),
                    ConfigErrorKind::Log(format!(
                        "unknown optional {}log level '{}'",
                        if k == 0 { "" } else { "minimum " },
                        level.as_str()
                    )),
                );
                return None;
            };
            if k == 0 {
                server.level = l as u8;
            } else {
                server.min_level = l as u8;
            }
        }
        if self.too_many(line, i + 2, "log") {
            return None;
        }
        if let Some(why) = unsupported_target(&server.address) {
            self.diag.error_msg(target.span().clone(), why);
            return None;
        }
        Some(server)
    }
}
