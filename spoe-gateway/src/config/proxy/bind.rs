//! `bind` lines (`bind_parse_*()` in `src/listener.c`, `src/cfgparse-listen.c`): addresses,
//! with environment variables expanded as HAProxy's `str2sa_range()` does, and the options after
//! them (TLS and `proto h2`, read by `config/ssl.rs`; any other is refused by name).

use std::sync::Arc;

use spoe::config::reader::Line;

use crate::config::addr::{AddrUse, parse_addresses};
use crate::config::grammar::Kind;
use crate::config::lower::{Lowerer, Proxy};
use crate::config::ssl;

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
        let conf = ssl::bind_options(line.words.get(2..).unwrap_or_default(), bases, self.diag);
        if conf.tls.is_some() || conf.h2 {
            let conf = Arc::new(conf);
            p.bind_confs
                .extend(addrs.iter().map(|a| (*a, conf.clone())));
        }
        p.binds.extend(addrs);
    }
}
