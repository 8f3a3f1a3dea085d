//! `bind` lines (`bind_parse_*()` in `src/listener.c`, `src/cfgparse-listen.c`): addresses,
//! with environment variables expanded as HAProxy's `str2sa_range()` does, and the options after
//! them (none run yet: each is refused by name).

use spoe::config::reader::{Line, Word};

use crate::config::addr::{AddrUse, parse_addresses};
use crate::config::grammar::Kind;
use crate::config::keywords::{HAPROXY_BIND_KEYWORDS, arity};
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
        match parse_addresses(word, AddrUse::Bind, &|name| self.env_var(name)) {
            Ok(addrs) => p.binds.extend(addrs),
            Err((at, msg)) => {
                return self
                    .diag
                    .error_msg(word.span_at(at), format!("'bind' : {msg}"));
            }
        }
        self.bind_options(&line.words[2..]);
    }

    /// The options after the addresses: each one HAProxy 2.6 has is refused by name, its
    /// arguments skipped, so that every one on the line is reported; after an unknown word,
    /// nothing can be told apart.
    fn bind_options(&mut self, words: &[Word]) {
        let mut i = 0;
        while let Some(option) = words.get(i) {
            let key = option.as_str();
            let Some(n) = arity(HAPROXY_BIND_KEYWORDS, key) else {
                return self.diag.error_msg(
                    option.span().clone(),
                    format!("'bind' : unknown keyword '{key}'"),
                );
            };
            self.diag.error_msg(
                option.span().clone(),
                format!("'bind' : option '{key}' is not supported by the gateway"),
            );
            i += 1 + n;
        }
    }
}
