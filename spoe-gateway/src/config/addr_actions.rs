//! `http-request set-src|set-src-port|set-dst|set-dst-port EXPR` (HAProxy 2.6's
//! `tcp_parse_set_src_dst()` in `src/tcp_act.c`): the request's client or destination address
//! becomes the expression's value (`crate::stream_addr` applies it).

use super::actions::{ActionParser, Parsed, is_cond};
use crate::model::{AddrPart, HttpAction};

impl ActionParser<'_, '_> {
    /// `set-src|set-src-port|set-dst|set-dst-port EXPR`.
    pub(super) fn set_addr(&mut self, part: AddrPart) -> Parsed {
        let Some(word) = self.args.first().filter(|w| !is_cond(Some(w))) else {
            let span = self.at.span().clone();
            self.fail(&span, "expects a sample expression");
            return None;
        };
        let expr = self.sample(word)?;
        Some((HttpAction::SetAddr { part, expr }, 1, None))
    }
}
