//! `bind` lines (`bind_parse_*()` in `src/listener.c`, `src/cfgparse-listen.c`): addresses,
//! with environment variables expanded as HAProxy's `str2sa_range()` does, and the options after
//! them (`maxconn`, enforced by `crate::limits`; any other is refused by name).

use std::net::SocketAddr;

use spoe::config::reader::{Line, Word};

use crate::config::addr::{AddrUse, parse_addresses};
use crate::config::grammar::Kind;
use crate::config::keywords::{HAPROXY_BIND_KEYWORDS, arity};
use crate::config::lower::{Lowerer, Proxy};

/// The `bind` options the gateway runs (the others HAProxy 2.6 has are refused by name).
pub(in crate::config) const RUN_BIND_OPTIONS: &[&str] = &["maxconn"];

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
        p.binds.extend(addrs.iter().copied());
        self.bind_options(p, &addrs, word.as_str(), &line.words[2..]);
    }

    /// The options after the addresses: `maxconn` runs; each other one HAProxy 2.6 has is
    /// refused by name, its arguments skipped, so that every one on the line is reported; after
    /// an unknown word, nothing can be told apart.
    fn bind_options(&mut self, p: &mut Proxy, addrs: &[SocketAddr], addr: &str, words: &[Word]) {
        let mut i = 0;
        while let Some(option) = words.get(i) {
            let key = option.as_str();
            let Some(n) = arity(HAPROXY_BIND_KEYWORDS, key) else {
                return self.diag.error_msg(
                    option.span().clone(),
                    format!("'bind' : unknown keyword '{key}'"),
                );
            };
            if key == "maxconn" {
                self.bind_maxconn(p, addrs, addr, option, words.get(i + 1));
            } else {
                self.diag.error_msg(
                    option.span().clone(),
                    format!("'bind' : option '{key}' is not supported by the gateway"),
                );
            }
            i += 1 + n;
        }
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
