//! What a proxy section says about its sockets (`src/proxy.c`, `src/cfgparse-tcp.c`,
//! `src/listener.c`, `src/server.c` of HAProxy 2.6): `option tcpka|clitcpka|srvtcpka`,
//! `clitcpka-*`/`srvtcpka-*`, `option nolinger`, `option tcp-smart-accept|tcp-smart-connect`,
//! the socket options of `bind` lines (`backlog`, `defer-accept`, `mss`, `tfo`, `tcp-ut`,
//! `interface`, `transparent`) and of `server` lines (`tcp-ut`). They are set by
//! `crate::sockopt`.

use std::net::SocketAddr;
use std::time::Duration;

use spoe::config::reader::{Line, Modifier, Word};
use spoe::duration::parse_timer;

use crate::config::lower::{Lowerer, Proxy, ServerSettings};
use crate::config::sock_settings::SockSettings;
use crate::sockopt::ListenerOpts;

/// Which side an option or keyword concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::config) enum Side {
    Client,
    Server,
    Both,
}

/// The socket options a `bind` line may carry (the rest of `RUN_BIND_OPTIONS` is `bind.rs`'s
/// and `ssl.rs`'s).
pub(in crate::config) const BIND_SOCKET_OPTIONS: &[&str] = &[
    "backlog",
    "defer-accept",
    "interface",
    "mss",
    "tcp-ut",
    "tfo",
    "transparent",
];

impl Lowerer<'_, '_> {
    /// `[no] option tcpka|clitcpka|srvtcpka|tcp-smart-accept|tcp-smart-connect`: `set` the
    /// setting on or off, in a proxy with the `side` it concerns (HAProxy's warning elsewhere).
    pub(in crate::config) fn option_sock_flag(
        &mut self,
        p: &mut Proxy,
        line: &Line,
        directive: &str,
        side: Side,
        set: fn(&mut SockSettings, bool),
    ) {
        if self.too_many(line, 1, directive) {
            return;
        }
        let capable = match side {
            Side::Client => p.has_frontend(),
            Side::Server => p.has_backend(),
            Side::Both => true,
        };
        if !capable {
            return self.not_capable(p, line.span(), directive);
        }
        set(&mut p.sock, line.modifier == Modifier::None);
    }

    /// `[no] option splice-auto|splice-request|splice-response`: the gateway copies data
    /// through its buffers; clients and servers get the same bytes (the README's table).
    pub(in crate::config) fn option_splice(&mut self, line: &Line, directive: &str) {
        self.too_many(line, 1, directive);
    }

    /// `backlog N`: the listen queue of the frontend's listeners whose `bind` line sets none.
    pub(in crate::config) fn proxy_backlog(&mut self, p: &mut Proxy, line: &Line) {
        let Some(word) = line.arg(1) else {
            return self.missing(line, "backlog", "an integer argument");
        };
        if self.too_many(line, 1, "backlog") {
            return;
        }
        let Some(n) = self.ranged(word, "backlog", 1, i32::MAX.unsigned_abs().into()) else {
            return;
        };
        if !p.has_frontend() {
            return self.not_capable(p, line.span(), "backlog");
        }
        p.sock.backlog = u32::try_from(n).ok();
    }

    /// `clitcpka-cnt|idle|intvl N`, `srvtcpka-cnt|idle|intvl N` (`proxy_parse_tcpka_*()`).
    pub(in crate::config) fn tcpka_param(&mut self, p: &mut Proxy, line: &Line) {
        let kw = line.keyword();
        let Some(word) = line.arg(1) else {
            return self.diag.error_msg(
                line.span().clone(),
                format!("'{kw}' expects an integer value"),
            );
        };
        let side = if kw.starts_with("cli") {
            Side::Client
        } else {
            Side::Server
        };
        let capable = match side {
            Side::Server => p.has_backend(),
            _ => p.has_frontend(),
        };
        let params = match side {
            Side::Server => &mut p.sock.srv,
            _ => &mut p.sock.cli,
        };
        if kw.ends_with("-cnt") {
            match word.as_str().parse::<u32>() {
                Ok(n) => params.cnt = (n > 0).then_some(n),
                Err(_) => {
                    return self.diag.error_msg(
                        word.span().clone(),
                        format!(
                            "'{kw}' : unexpected character in integer value '{}'",
                            word.as_str()
                        ),
                    );
                }
            }
        } else {
            let Some(secs) = seconds(word.as_str()) else {
                return self.diag.error_msg(
                    word.span().clone(),
                    format!(
                        "unexpected character in argument to <{kw}>: '{}'",
                        word.as_str()
                    ),
                );
            };
            let value = (secs > 0).then(|| Duration::from_secs(secs));
            if kw.ends_with("-idle") {
                params.idle = value;
            } else {
                params.intvl = value;
            }
        }
        if !capable {
            self.not_capable(p, line.span(), kw);
        }
    }

    /// A socket option of a `bind` line at `words[i]` (one of [`BIND_SOCKET_OPTIONS`]), for
    /// the line's listeners; `false` after an error.
    pub(in crate::config) fn bind_socket_option(
        &mut self,
        opts: &mut ListenerOpts,
        addr: &str,
        words: &[Word],
        i: usize,
    ) -> bool {
        let option = &words[i];
        let name = option.as_str();
        let value = words.get(i + 1);
        let fail = |lw: &mut Self, at: &Word, msg: String| {
            lw.diag
                .error_msg(at.span().clone(), format!("'bind {addr}' : {msg}"));
            false
        };
        match name {
            "defer-accept" => opts.defer_accept = true,
            "tfo" => opts.tfo = true,
            "transparent" => opts.transparent = true,
            _ => {
                let Some(value) = value else {
                    return fail(self, option, format!("'{name}' : missing value"));
                };
                let v = value.as_str();
                match name {
                    "backlog" => match v.parse::<u32>() {
                        Ok(n) if n > 0 => opts.backlog = Some(n),
                        _ => {
                            return fail(
                                self,
                                value,
                                format!("'{name}' : invalid value {v}, must be > 0"),
                            );
                        }
                    },
                    "mss" => match v.parse::<i32>() {
                        Ok(n) if (-65535..=65535).contains(&n) && n != 0 => opts.mss = Some(n),
                        _ => {
                            return fail(
                                self,
                                value,
                                format!("'{name}' : expected an MSS between 1 and 65535, got {v}"),
                            );
                        }
                    },
                    "tcp-ut" => match parse_timer(v) {
                        Ok(t) if t.trailing.is_none() => opts.user_timeout = Some(t.duration()),
                        _ => {
                            return fail(
                                self,
                                value,
                                format!("'{name}' : expected a timeout, got '{v}'"),
                            );
                        }
                    },
                    "interface" => opts.interface = Some(v.to_owned()),
                    _ => {}
                }
            }
        }
        true
    }

    /// `server ... tcp-ut T`; `false` after an error.
    pub(in crate::config) fn server_user_timeout(
        &mut self,
        s: &mut ServerSettings,
        label: &str,
        key: &Word,
        value: Option<&Word>,
    ) -> bool {
        let Some(value) = value else {
            self.diag.error_msg(
                key.span().clone(),
                format!("'{label}' : 'tcp-ut' expects an argument"),
            );
            return false;
        };
        let v = value.as_str();
        match parse_timer(v) {
            Ok(t) if t.trailing.is_none() => {
                s.user_timeout = Some(t.duration());
                true
            }
            _ => {
                self.diag.error_msg(
                    value.span().clone(),
                    format!("'{label}' : 'tcp-ut' : expected a timeout, got '{v}'"),
                );
                false
            }
        }
    }
}

/// A time in seconds as HAProxy's `parse_time_err(..., TIME_UNIT_S)` reads it: plain digits
/// are seconds; with a unit, the whole seconds of it.
fn seconds(word: &str) -> Option<u64> {
    if word.bytes().all(|b| b.is_ascii_digit()) {
        return word.parse().ok();
    }
    let t = parse_timer(word).ok().filter(|t| t.trailing.is_none())?;
    Some(t.duration().as_secs())
}

/// The listener options of `addrs` as their lines said.
pub(in crate::config) fn set_listener_opts(
    p: &mut Proxy,
    addrs: &[SocketAddr],
    opts: &ListenerOpts,
) {
    if *opts == ListenerOpts::default() {
        return;
    }
    p.listener_opts.retain(|(a, _)| !addrs.contains(a));
    p.listener_opts
        .extend(addrs.iter().map(|a| (*a, opts.clone())));
}
