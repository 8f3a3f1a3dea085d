//! `bind` lines (`bind_parse_*()` in `src/listener.c`, `src/cfgparse-listen.c`): addresses,
//! with environment variables expanded as HAProxy's `str2sa_range()` does, and the options after
//! them (`maxconn`, enforced by `crate::limits`; any other is refused by name).

use spoe::config::reader::Line;

use crate::config::addr::{AddrUse, parse_addresses};
use crate::config::grammar::Kind;
use crate::config::lower::{Lowerer, Proxy};

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
        let mut i = 2;
        while let Some(option) = line.arg(i) {
            match option.as_str() {
                // `bind_parse_maxconn()`: each listener of the line, 0 for none of its own.
                "maxconn" => {
                    let Some(value) = line.arg(i + 1) else {
                        return self.diag.error_msg(
                            option.span().clone(),
                            format!(
                                "'bind {}' in section '{}' : 'maxconn' : missing value",
                                word.as_str(),
                                p.kind.keyword()
                            ),
                        );
                    };
                    let n = atol(value.as_str());
                    if n < 0 {
                        return self.diag.error_msg(
                            value.span().clone(),
                            format!(
                                "'bind {}' in section '{}' : 'maxconn' : invalid value {n}, \
                                 must be >= 0",
                                word.as_str(),
                                p.kind.keyword()
                            ),
                        );
                    }
                    let n = usize::try_from(n).unwrap_or(usize::MAX);
                    p.bind_maxconn.retain(|(a, _)| !addrs.contains(a));
                    if n > 0 {
                        p.bind_maxconn.extend(addrs.iter().map(|a| (*a, n)));
                    }
                    i += 2;
                }
                other => {
                    return self.diag.error_msg(
                        option.span().clone(),
                        format!("'bind' : option '{other}' is not supported by the gateway"),
                    );
                }
            }
        }
        p.binds.extend(addrs);
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
