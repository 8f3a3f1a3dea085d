//! `monitor-uri URI` (`cfg_parse_listen()` in `src/cfgparse-listen.c`): a request whose path
//! (a URI starting with `/`) or whole target is `URI` is answered by the frontend itself with
//! HAProxy's 200 page, before any rule or agent, and is not logged
//! (`http_wait_for_request()` in `src/http_ana.c`). Inherited from `defaults`; a backend's is
//! ignored with HAProxy's warning.

use spoe::config::reader::Line;

use crate::config::lower::{Lowerer, Proxy};

impl Lowerer<'_, '_> {
    pub(super) fn monitor_uri(&mut self, p: &mut Proxy, line: &Line) {
        if !p.has_frontend() {
            return self.not_capable(p, line.span(), "monitor-uri");
        }
        if self.too_many(line, 1, "monitor-uri") {
            return;
        }
        match line.arg(1) {
            Some(uri) if !uri.as_str().is_empty() => {
                p.monitor_uri = Some(uri.as_str().into());
            }
            _ => self
                .diag
                .error_msg(line.span().clone(), "'monitor-uri' expects an URI."),
        }
    }
}
