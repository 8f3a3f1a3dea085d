//! `server-template PREFIX NUM|LOW-HIGH FQDN[:PORT] [settings]` (`_srv_parse_tmpl_init()` in
//! `src/server.c`): servers `PREFIX<LOW>`..`PREFIX<HIGH>` (1..NUM), alike but for their name. With
//! `resolvers`, each takes a distinct address of the name's answers (`crate::resolve`); those
//! without one wait in maintenance.

use spoe::config::reader::Line;

use crate::config::lower::{Lowerer, Proxy};

/// The most servers one template makes (HAProxy's ids are ints; this bounds memory).
const MAX_TEMPLATE_SERVERS: u64 = 4096;

impl Lowerer<'_, '_> {
    pub(super) fn server_template(&mut self, p: &mut Proxy, line: &Line) {
        let (Some(prefix), Some(range), Some(addr)) = (line.arg(1), line.arg(2), line.arg(3))
        else {
            return self.diag.error_msg(
                line.span().clone(),
                "'server-template' expects <prefix> <nb | range> <addr>[:<port>] as arguments",
            );
        };
        if !self.check_name(prefix, "server-template") {
            return;
        }
        let bounds = match range.as_str().split_once('-') {
            Some((low, high)) => low.parse::<u64>().ok().zip(high.parse::<u64>().ok()),
            None => range.as_str().parse::<u64>().ok().map(|n| (1, n)),
        };
        let (low, high) = match bounds {
            Some((low, high)) if low >= 1 && low <= high => (low, high),
            _ => {
                return self.diag.error_msg(
                    range.span().clone(),
                    format!(
                        "'server-template' : wrong range '{}' (expects a number N, or LOW-HIGH with 1 <= LOW <= HIGH)",
                        range.as_str()
                    ),
                );
            }
        };
        if high - low >= MAX_TEMPLATE_SERVERS {
            return self.diag.error_msg(
                range.span().clone(),
                format!(
                    "'server-template' : '{}' makes more than {MAX_TEMPLATE_SERVERS} servers, the most the gateway runs from one template",
                    range.as_str()
                ),
            );
        }
        for n in low..=high {
            let name = format!("{}{n}", prefix.as_str());
            // The first error stops the template: the others would repeat it.
            if !self.add_server(p, &name, prefix.span(), addr, &line.words[4..]) {
                return;
            }
        }
    }
}
