//! `bind` lines (`bind_parse_*()` in `src/listener.c`, `src/cfgparse-listen.c`): addresses,
//! with environment variables expanded as HAProxy's `str2sa_range()` does, and the options after
//! them: TLS and `proto h2` (read by `config/ssl.rs`), `maxconn` (enforced by
//! `crate::limits`), `accept-proxy` (`server/proxy_header.rs`), `v6only` and `v4v6` run; `name` is read (it names the listener in
//! HAProxy's stats and CLI only); any other is refused by name.

use std::net::SocketAddr;
use std::sync::Arc;

use spoe::config::reader::{Line, Word};

use crate::config::addr::{AddrUse, parse_addresses};
use crate::config::grammar::Kind;
use crate::config::lower::{Lowerer, Proxy};
use crate::config::proxy::sockets::{BIND_SOCKET_OPTIONS, set_listener_opts};
use crate::config::ssl;

/// The `bind` options the gateway runs (the others HAProxy 2.6 has are refused by name).
pub(in crate::config) const RUN_BIND_OPTIONS: &[&str] = &[
    "accept-proxy",
    "alpn",
    "backlog",
    "defer-accept",
    "gid",
    "group",
    "id",
    "interface",
    "mode",
    "mss",
    "nice",
    "process",
    "shards",
    "tcp-ut",
    "tfo",
    "thread",
    "transparent",
    "uid",
    "user",
    "ca-file",
    "crl-file",
    "ciphers",
    "ciphersuites",
    "crt",
    "crt-list",
    "curves",
    "ecdhe",
    "force-tlsv12",
    "force-tlsv13",
    "maxconn",
    "name",
    "no-sslv3",
    "no-tls-tickets",
    "no-tlsv10",
    "no-tlsv11",
    "no-tlsv12",
    "no-tlsv13",
    "prefer-client-ciphers",
    "proto",
    "ssl",
    "ssl-max-ver",
    "ssl-min-ver",
    "strict-sni",
    "v4v6",
    "v6only",
    "verify",
];

impl Lowerer<'_, '_> {
    pub(super) fn bind(&mut self, p: &mut Proxy, line: &Line) {
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
        let addrs = match parse_addresses(word, AddrUse::Bind, &|name| self.env_var(name)) {
            Ok(addrs) => addrs,
            Err((at, msg)) => {
                return self
                    .diag
                    .error_msg(word.span_at(at), format!("'bind' : {msg}"));
            }
        };
        let bases = ssl::Bases {
            dir: &self.base_dir,
            global: &self.ssl,
        };
        let options = line.words.get(2..).unwrap_or_default();
        let (mut conf, left_at) = ssl::bind_options(options, bases, self.diag);
        conf.accept_proxy = left_at
            .iter()
            .any(|&i| options[i].as_str() == "accept-proxy");
        if conf.tls.is_some() || conf.h2 || conf.accept_proxy {
            let conf = Arc::new(conf);
            p.bind_confs
                .extend(addrs.iter().map(|a| (*a, conf.clone())));
        }
        let mut sock = crate::sockopt::ListenerOpts::default();
        for &i in &left_at {
            if BIND_SOCKET_OPTIONS.contains(&options[i].as_str()) {
                self.bind_socket_option(&mut sock, word.as_str(), options, i);
            }
        }
        set_listener_opts(p, &addrs, &sock);
        if let Some(only) = self.bind_options(p, &addrs, word.as_str(), options, &left_at) {
            // As HAProxy: the option concerns the line's IPv6 sockets only.
            p.ipv6_only
                .extend(addrs.iter().filter(|a| a.is_ipv6()).map(|a| (*a, only)));
        }
        p.binds.extend(addrs);
    }

    /// The options `ssl::bind_options` leaves, at the indexes `at` of `words`: `maxconn`
    /// runs; `name`, `v6only` and `v4v6` are read (the last of the two IPv6 ones is returned:
    /// whether the line's IPv6 sockets take IPv6 only).
    fn bind_options(
        &mut self,
        p: &mut Proxy,
        addrs: &[SocketAddr],
        addr: &str,
        words: &[Word],
        at: &[usize],
    ) -> Option<bool> {
        let mut ipv6_only = None;
        for &i in at {
            let option = &words[i];
            match option.as_str() {
                "maxconn" => self.bind_maxconn(p, addrs, addr, option, words.get(i + 1)),
                "name" if words.get(i + 1).is_none() => self
                    .diag
                    .error_msg(option.span().clone(), "'bind' : 'name' : missing name"),
                "process" => {
                    let v = words.get(i + 1).map_or("", Word::as_str);
                    let set = v.split('/').next().unwrap_or_default();
                    if matches!(set, "1" | "all" | "odd") {
                        self.diag.warn_msg(
                            option.span().clone(),
                            format!(
                                "'bind {addr}' in section '{}' : 'process {v}' on 'bind' lines \
                                 is deprecated and will be removed in 2.7.",
                                p.kind.keyword()
                            ),
                        );
                    } else {
                        self.diag.error_msg(
                            option.span().clone(),
                            format!(
                                "'bind {addr}' : 'process {v}' : the gateway is one process: \
                                 'all', 'odd' or '1' only"
                            ),
                        );
                    }
                }
                "v6only" => ipv6_only = Some(true),
                "v4v6" => ipv6_only = Some(false),
                _ => {}
            }
        }
        ipv6_only
    }

    /// `bind_parse_maxconn()`: a limit for each listener of the line, 0 for none of its own.
    fn bind_maxconn(
        &mut self,
        p: &mut Proxy,
        addrs: &[SocketAddr],
        addr: &str,
        option: &Word,
        value: Option<&Word>,
    ) {
        let section = p.kind.keyword();
        let Some(value) = value else {
            return self.diag.error_msg(
                option.span().clone(),
                format!("'bind {addr}' in section '{section}' : 'maxconn' : missing value"),
            );
        };
        let n = atol(value.as_str());
        if n < 0 {
            return self.diag.error_msg(
                value.span().clone(),
                format!(
                    "'bind {addr}' in section '{section}' : 'maxconn' : invalid value {n}, \
                     must be >= 0"
                ),
            );
        }
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        p.bind_maxconn.retain(|(a, _)| !addrs.contains(a));
        if n > 0 {
            p.bind_maxconn.extend(addrs.iter().map(|a| (*a, n)));
        }
    }
}

/// C's `atol()`, as HAProxy reads `bind ... maxconn`: leading blanks, a sign, digits (0 when
/// there are none: `maxconn x` is `maxconn 0`).
fn atol(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let n = digits
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |n, d| {
            n.saturating_mul(10).saturating_add(i64::from(d - b'0'))
        });
    if neg { -n } else { n }
}
