//! A proxy's `maxconn` (enforced by `crate::limits`), `fullconn` (by `crate::queue`) and
//! `rate-limit sessions` (by `crate::rate`).

use spoe::config::reader::Line;

use crate::config::lower::{Lowerer, Proxy};

impl Lowerer<'_, '_> {
    pub(super) fn proxy_maxconn(&mut self, p: &mut Proxy, line: &Line) {
        let Some(word) = line.arg(1) else {
            return self.missing(line, "maxconn", "an integer argument");
        };
        if self.too_many(line, 1, "maxconn") {
            return;
        }
        let Some(n) = self.ranged(word, "maxconn", 0, i32::MAX as u64) else {
            return;
        };
        if !p.has_frontend() {
            return self.diag.ignored(
                line.span().clone(),
                "maxconn",
                "a backend has no frontend capability (maybe 'maxconn' on 'server' lines was meant)",
            );
        }
        p.maxconn = usize::try_from(n).ok().filter(|n| *n > 0);
    }

    /// `fullconn N`: the backend load at which its servers reach their `maxconn` (their
    /// `minconn` below it). HAProxy reads it with `atol()`; a non-number is an error here.
    pub(super) fn fullconn(&mut self, p: &mut Proxy, line: &Line) {
        let Some(word) = line.arg(1) else {
            return self.missing(line, "fullconn", "an integer argument");
        };
        if self.too_many(line, 1, "fullconn") {
            return;
        }
        let Some(n) = self.ranged(word, "fullconn", 0, i32::MAX as u64) else {
            return;
        };
        if !p.has_backend() {
            return self.diag.ignored(
                line.span().clone(),
                "fullconn",
                "a frontend has no backend capability (maybe 'maxconn' was meant)",
            );
        }
        p.fullconn = usize::try_from(n).ok().filter(|n| *n > 0);
    }

    /// `rate-limit sessions N`: new sessions a second (`proxy_parse_rate_limit()`).
    pub(super) fn rate_limit(&mut self, p: &mut Proxy, line: &Line) {
        match line.arg(1).map(|w| w.as_str()) {
            Some("sessions") => {}
            other => {
                return self.diag.error_msg(
                    line.span().clone(),
                    format!(
                        "'rate-limit' only supports 'sessions' (got '{}')",
                        other.unwrap_or_default()
                    ),
                );
            }
        }
        let Some(word) = line.arg(2) else {
            return self.diag.error_msg(
                line.span().clone(),
                "'rate-limit sessions' expects expects an integer value (in sessions/second)",
            );
        };
        if self.too_many(line, 2, "rate-limit sessions") {
            return;
        }
        let Some(n) = self.ranged(word, "rate-limit sessions", 0, u64::from(u32::MAX)) else {
            return;
        };
        if !p.has_frontend() {
            return self.not_capable(p, line.span(), "rate-limit sessions");
        }
        p.sess_rate = n;
    }
}
