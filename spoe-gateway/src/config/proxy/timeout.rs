//! `timeout NAME VALUE` (`proxy_parse_timeout()` in `src/proxy.c`).

use std::time::Duration;

use spoe::config::reader::Line;

use crate::config::lower::{Lowerer, Proxy};
use crate::model::Timeouts;

/// Where a `timeout` line stores its value.
type TimeoutSlot = fn(&mut Timeouts) -> &mut Option<Duration>;

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
        // (slot, needs frontend, needs backend); `None` slot: accepted and ignored.
        let (slot, fe, be): (Option<TimeoutSlot>, bool, bool) = match name {
            "client" => (Some(|t| &mut t.client), true, false),
            "server" => (Some(|t| &mut t.server), false, true),
            "connect" => (Some(|t| &mut t.connect), false, true),
            "queue" => (Some(|t| &mut t.queue), false, true),
            "http-request" => (Some(|t| &mut t.http_request), true, true),
            "http-keep-alive" => (Some(|t| &mut t.http_keep_alive), true, true),
            "check" | "tunnel" | "server-fin" => (None, false, true),
            "client-fin" => (None, true, false),
            "tarpit" => (None, true, true),
            other => {
                return self.diag.error_msg(
                    name_word.span().clone(),
                    format!("{SUPPORTS} (got '{other}')"),
                );
            }
        };
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
        if name == "tunnel" {
            // Not run, but HAProxy's "missing timeouts" check counts it for tcp backends.
            p.timeout_tunnel = !d.is_zero();
        }
        match slot {
            Some(slot) => *slot(&mut p.timeouts) = (!d.is_zero()).then_some(d),
            None => self.diag.ignored(
                line.span().clone(),
                directive,
                "not implemented by the gateway",
            ),
        }
    }
}
