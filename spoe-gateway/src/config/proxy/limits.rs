//! A proxy's `maxconn` (enforced by `crate::limits`).

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
}
