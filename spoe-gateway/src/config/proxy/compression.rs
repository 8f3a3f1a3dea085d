//! `compression algo ALGO... | type TYPE... | offload` (`parse_compression_options()` in
//! HAProxy 2.6's `src/flt_http_comp.c`); what runs them is `crate::compress`. Each `algo` and
//! `type` line adds to the lists (inherited from `defaults`); `offload` is not inherited and
//! is ignored in `defaults` with HAProxy's warning.

use spoe::config::reader::Line;

use crate::config::grammar::Kind;
use crate::config::lower::{Lowerer, Proxy};
use crate::model::{CompAlgo, Compression};

impl Lowerer<'_, '_> {
    pub(super) fn compression(&mut self, p: &mut Proxy, line: &Line) {
        let span = line.span().clone();
        let comp = p.compression.get_or_insert_with(Compression::default);
        let values: Vec<_> = line.words.iter().skip(2).collect();
        match line.arg_str(1) {
            Some("algo") => {
                if values.is_empty() {
                    return self
                        .diag
                        .error_msg(span, "'compression' expects <algorithm>.");
                }
                for w in values {
                    match CompAlgo::from_config(w.as_str()) {
                        // HAProxy puts each new algorithm first.
                        Some(a) => comp.algos.insert(0, a),
                        None => {
                            return self.diag.error_msg(
                                w.span().clone(),
                                format!(
                                    "'compression' : '{}' is not a supported algorithm.",
                                    w.as_str()
                                ),
                            );
                        }
                    }
                }
            }
            Some("type") => {
                if values.is_empty() {
                    return self.diag.error_msg(span, "'compression' expects <type>.");
                }
                for w in values {
                    comp.types.insert(0, w.as_str().to_owned());
                }
            }
            Some("offload") => {
                if p.kind == Kind::Defaults {
                    self.diag.warn_msg(
                        span,
                        "'compression' : 'offload' ignored in 'defaults' section.",
                    );
                } else {
                    comp.offload = true;
                }
            }
            _ => self
                .diag
                .error_msg(span, "'compression' expects 'algo', 'type' or 'offload'"),
        }
    }
}
