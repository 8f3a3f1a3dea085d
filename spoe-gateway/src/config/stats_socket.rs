//! `global`'s `stats socket|timeout|maxconn` (`stats_parse_global()` in `src/cli.c`): where
//! the runtime API (`crate::runtime_api`) listens. A socket is a Unix socket path (`/run/...`,
//! `unix@/run/...`) or a TCP address (`ipv4@127.0.0.1:9999`, `ipv6@[::1]:9999`,
//! `127.0.0.1:9999`), followed by HAProxy's bind options for it: `mode`, `level`, `user`,
//! `group`, `uid`, `gid`. `expose-fd listeners` is accepted and does nothing: HAProxy uses it
//! to pass its listening sockets to the next process on reload, and the gateway reloads in
//! place, keeping them. Other bind options are errors naming them.

use std::path::PathBuf;

use spoe::config::reader::{Line, Word};

use super::addr::{AddrUse, parse_addresses};
use super::keywords::{HAPROXY_BIND_KEYWORDS, arity};
use super::lower::Lowerer;
use crate::model::{CliLevel, StatsAddr, StatsSocket};

impl Lowerer<'_, '_> {
    pub(super) fn global_stats(&mut self, line: &Line) {
        match line.arg_str(1) {
            Some("socket") => self.stats_socket(line),
            Some("timeout") => {
                let Some(word) = line.arg(2) else {
                    return self.missing(line, "stats timeout", "a delay");
                };
                match self.duration(word, "stats timeout") {
                    Some(d) if d.is_zero() => self.diag.error_msg(
                        word.span().clone(),
                        "'stats timeout' expects a positive value",
                    ),
                    Some(d) => self.global.stats_timeout = d,
                    None => {}
                }
            }
            Some("maxconn") => {
                let Some(word) = line.arg(2) else {
                    return self.missing(line, "stats maxconn", "a number");
                };
                match self.number(word, "stats maxconn") {
                    Some(0) => self.diag.error_msg(
                        word.span().clone(),
                        "'stats maxconn' expects a positive value",
                    ),
                    Some(n) => {
                        self.global.stats_maxconn = usize::try_from(n).unwrap_or(usize::MAX);
                    }
                    None => {}
                }
            }
            Some("bind-process") => self.diag.error_msg(
                line.span().clone(),
                "'stats bind-process' is not supported by the gateway (it runs one process)",
            ),
            other => self.diag.error_msg(
                line.span().clone(),
                format!(
                    "'stats' only supports 'socket', 'maxconn', 'bind-process' and 'timeout' (got '{}')",
                    other.unwrap_or_default()
                ),
            ),
        }
    }

    fn stats_socket(&mut self, line: &Line) {
        let Some(word) = line.arg(2) else {
            return self.diag.error_msg(
                line.span().clone(),
                "'stats socket' in global section expects an address or a path to a UNIX socket",
            );
        };
        let Some(addr) = self.stats_addr(word) else {
            return;
        };
        let mut socket = StatsSocket {
            addr,
            mode: None,
            owner: (None, None),
            level: CliLevel::Operator,
        };
        let mut i = 3;
        while let Some(kw) = line.arg(i) {
            let known = matches!(
                kw.as_str(),
                "mode" | "level" | "uid" | "gid" | "user" | "group" | "expose-fd"
            );
            if !known {
                self.diag.error_msg(
                    kw.span().clone(),
                    format!(
                        "'stats socket ... {}' is not supported by the gateway",
                        kw.as_str()
                    ),
                );
                i += 1 + arity(HAPROXY_BIND_KEYWORDS, kw.as_str()).unwrap_or(0);
                continue;
            }
            let value = line.arg(i + 1);
            i += 2;
            let Some(value) = value else {
                if kw.as_str() == "expose-fd" {
                    return self.missing(line, "expose-fd", "'listeners'");
                }
                self.diag.error_msg(
                    kw.span().clone(),
                    format!("'{}' : missing value", kw.as_str()),
                );
                continue;
            };
            match kw.as_str() {
                "mode" => match u32::from_str_radix(value.as_str(), 8) {
                    Ok(m) if m <= 0o7777 => socket.mode = Some(m),
                    _ => self.diag.error_msg(
                        value.span().clone(),
                        format!("'mode' expects an octal mode, got '{}'", value.as_str()),
                    ),
                },
                "level" => match value.as_str() {
                    "user" => socket.level = CliLevel::User,
                    "operator" => socket.level = CliLevel::Operator,
                    "admin" => socket.level = CliLevel::Admin,
                    _ => self.diag.error_msg(
                        value.span().clone(),
                        "'level' only supports 'user', 'operator', and 'admin'",
                    ),
                },
                "uid" | "gid" => match value.as_str().parse::<u32>() {
                    Ok(id) if kw.as_str() == "uid" => socket.owner.0 = Some(id),
                    Ok(id) => socket.owner.1 = Some(id),
                    Err(_) => self.diag.error_msg(
                        value.span().clone(),
                        format!(
                            "'{}' : expects a number, got '{}'",
                            kw.as_str(),
                            value.as_str()
                        ),
                    ),
                },
                "user" | "group" => {
                    let user = kw.as_str() == "user";
                    let db = if user { "/etc/passwd" } else { "/etc/group" };
                    match lookup_id(db, value.as_str()) {
                        Some(id) if user => socket.owner.0 = Some(id),
                        Some(id) => socket.owner.1 = Some(id),
                        None => self.diag.error_msg(
                            value.span().clone(),
                            format!(
                                "'{}' : unknown {} name '{}'",
                                kw.as_str(),
                                kw.as_str(),
                                value.as_str()
                            ),
                        ),
                    }
                }
                "expose-fd" if value.as_str() == "listeners" => {}
                _ => self.diag.error_msg(
                    value.span().clone(),
                    "'expose-fd' : unsupported value (only 'listeners')",
                ),
            }
        }
        self.global.stats_sockets.push(socket);
    }

    fn stats_addr(&mut self, word: &Word) -> Option<StatsAddr> {
        let text = word.as_str();
        if let Some(path) = text
            .strip_prefix("unix@")
            .or_else(|| (text.starts_with('/') || text.starts_with('.')).then_some(text))
        {
            return Some(StatsAddr::Unix(self.base_dir.join(PathBuf::from(path))));
        }
        if ["abns@", "fd@", "sockpair@", "udp@", "quic"]
            .iter()
            .any(|p| text.starts_with(p))
        {
            self.diag.error_msg(
                word.span().clone(),
                format!(
                    "'stats socket {text}' : this address family is not supported by the gateway"
                ),
            );
            return None;
        }
        let env = |name: &str| self.env_var(name);
        match parse_addresses(word, AddrUse::Server, &env) {
            Ok(addrs) => addrs.first().copied().map(StatsAddr::Tcp),
            Err((at, msg)) => {
                self.diag
                    .error_msg(word.span_at(at), format!("'stats socket' : {msg}"));
                None
            }
        }
    }
}

/// The id of `name` in `/etc/passwd` or `/etc/group` (`name:x:ID:...`).
fn lookup_id(db: &str, name: &str) -> Option<u32> {
    let text = std::fs::read_to_string(db).ok()?;
    text.lines().find_map(|l| {
        let mut fields = l.split(':');
        (fields.next() == Some(name))
            .then(|| fields.nth(1).and_then(|id| id.parse().ok()))
            .flatten()
    })
}
