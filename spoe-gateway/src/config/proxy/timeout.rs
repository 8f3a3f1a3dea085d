//! `timeout NAME VALUE` (`proxy_parse_timeout()` in `src/proxy.c`). A new timeout is a row of
//! [`TIMEOUTS`].

use std::time::Duration;

use spoe::config::reader::Line;

use crate::config::keywords::{Keyword, Use, find};
use crate::config::lower::{Lowerer, Proxy};
use crate::model::Timeouts;

/// Where a `timeout` line stores its value.
type TimeoutSlot = fn(&mut Timeouts) -> &mut Option<Duration>;

/// A timeout: where it goes (`None`: accepted and ignored, with the row's reason), and the side
/// of a proxy it belongs to (HAProxy warns and ignores it on a proxy without that side).
#[derive(Debug)]
pub(in crate::config) struct Timeout {
    slot: Option<TimeoutSlot>,
    frontend: bool,
    backend: bool,
}

const fn timeout(slot: Option<TimeoutSlot>, frontend: bool, backend: bool) -> Timeout {
    Timeout {
        slot,
        frontend,
        backend,
    }
}

/// Why the timeouts the gateway has no equivalent of are ignored.
const NOT_RUN: &str = "not implemented by the gateway";

/// The timeouts of HAProxy 2.6.
pub(in crate::config) const TIMEOUTS: &[Keyword<Timeout>] = &[
    Keyword {
        name: "client",
        handler: timeout(Some(|t| &mut t.client), true, false),
        uses: Use::Runs(&[("Timeouts.client", "server/http1.rs")]),
    },
    Keyword {
        name: "server",
        handler: timeout(Some(|t| &mut t.server), false, true),
        uses: Use::Runs(&[("Timeouts.server", "proxy.rs")]),
    },
    Keyword {
        name: "connect",
        handler: timeout(Some(|t| &mut t.connect), false, true),
        uses: Use::Runs(&[("Timeouts.connect", "proxy.rs")]),
    },
    Keyword {
        name: "queue",
        handler: timeout(Some(|t| &mut t.queue), false, true),
        uses: Use::Runs(&[("Timeouts.queue", "attempt.rs")]),
    },
    Keyword {
        name: "http-request",
        handler: timeout(Some(|t| &mut t.http_request), true, true),
        uses: Use::Runs(&[("Timeouts.http_request", "server/waits.rs")]),
    },
    Keyword {
        name: "http-keep-alive",
        handler: timeout(Some(|t| &mut t.http_keep_alive), true, true),
        uses: Use::Runs(&[("Timeouts.http_keep_alive", "server/waits.rs")]),
    },
    Keyword {
        name: "check",
        handler: timeout(Some(|t| &mut t.check), false, true),
        uses: Use::Runs(&[("Timeouts.check", "generation/health.rs")]),
    },
    Keyword {
        name: "tunnel",
        handler: timeout(Some(|t| &mut t.tunnel), false, true),
        uses: Use::Runs(&[("Timeouts.tunnel", "proxy.rs")]),
    },
    Keyword {
        name: "server-fin",
        handler: timeout(Some(|t| &mut t.server_fin), false, true),
        uses: Use::Runs(&[("Timeouts.server_fin", "tcp/pump.rs")]),
    },
    Keyword {
        name: "client-fin",
        handler: timeout(Some(|t| &mut t.client_fin), true, false),
        uses: Use::Runs(&[("Timeouts.client_fin", "tcp/pump.rs")]),
    },
    Keyword {
        name: "tarpit",
        handler: timeout(Some(|t| &mut t.tarpit), true, true),
        uses: Use::Runs(&[("Timeouts.tarpit", "proxy.rs")]),
    },
];

impl Lowerer<'_, '_> {
    pub(super) fn timeout(&mut self, p: &mut Proxy, line: &Line) {
        const SUPPORTS: &str = "'timeout' supports 'client', 'server', 'connect', 'check', \
             'queue', 'http-keep-alive', 'http-request', 'tunnel', 'tarpit', 'client-fin' and \
             'server-fin'";
        let Some(name_word) = line.arg(1) else {
            return self
                .diag
                .error_msg(line.span().clone(), format!("{SUPPORTS} (got '')"));
        };
        let name = name_word.as_str();
        // If this line is wrong, a missing timeout is its error's consequence.
        let unsure = p.timeouts_unsure;
        p.timeouts_unsure = true;
        let Some(row) = find(TIMEOUTS, name) else {
            return self.diag.error_msg(
                name_word.span().clone(),
                format!("{SUPPORTS} (got '{name}')"),
            );
        };
        let Timeout {
            slot,
            frontend: fe,
            backend: be,
        } = row.handler;
        let directive = format!("timeout {name}");
        let Some(value) = line.arg(2) else {
            return self.diag.error_msg(
                name_word.span().clone(),
                format!("'{directive}' expects an integer value (in milliseconds)"),
            );
        };
        if let Some(extra) = line.arg(3) {
            return self.diag.error_msg(
                extra.span().clone(),
                format!(
                    "'{directive}' : unexpected extra argument '{}' after value '{}'",
                    extra.as_str(),
                    value.as_str()
                ),
            );
        }
        let Some(d) = self.duration(value, &directive) else {
            return;
        };
        p.timeouts_unsure = unsure;
        let capable = (fe && p.has_frontend()) || (be && p.has_backend());
        if !capable {
            return self.not_capable(p, line.span(), &directive);
        }
        match slot {
            Some(slot) => *slot(&mut p.timeouts) = (!d.is_zero()).then_some(d),
            None => {
                let reason = match row.uses {
                    Use::Ignored(reason) => reason,
                    Use::Runs(_) | Use::Read => NOT_RUN,
                };
                self.diag.ignored(line.span().clone(), directive, reason);
            }
        }
    }
}
