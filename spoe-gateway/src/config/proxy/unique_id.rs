//! `unique-id-format FMT` and `unique-id-header NAME` (`cfg_parse_listen()` in
//! `src/cfgparse-listen.c`): a request's unique ID, built from the frontend's format when
//! first read (the `unique-id` fetch, an SPOE message's argument) or, at the latest, once the
//! request rules ran; then sent to the server in the named header
//! (`http_process_request()` in `src/http_ana.c`). A backend's lines are read and unused, as
//! in HAProxy (the frontend's format is the one that counts).

use std::sync::Arc;

use spoe::config::reader::Line;

use crate::config::logformat::{Phase, parse_log_format};
use crate::config::lower::{Lowerer, Proxy};

impl Lowerer<'_, '_> {
    pub(super) fn unique_id_format(&mut self, p: &mut Proxy, line: &Line) {
        let Some(word) = line.arg(1) else {
            return self
                .diag
                .error_msg(line.span().clone(), "unique-id-format expects an argument.");
        };
        if let Some(extra) = line.arg(2) {
            return self.diag.error_msg(
                extra.span().clone(),
                "unique-id-format expects only one argument, don't forget to escape spaces!",
            );
        }
        if let Some(format) = parse_log_format(word, Phase::Request, "unique-id-format", self.diag)
        {
            p.unique_id_format = Some(Arc::new(format));
        }
    }

    pub(super) fn unique_id_header(&mut self, p: &mut Proxy, line: &Line) {
        let Some(word) = line.arg(1) else {
            return self
                .diag
                .error_msg(line.span().clone(), "unique-id-header expects an argument.");
        };
        match hyper::header::HeaderName::from_bytes(word.as_str().as_bytes()) {
            Ok(name) => p.unique_id_header = Some(name),
            Err(_) => self.diag.error_msg(
                word.span().clone(),
                format!(
                    "'unique-id-header' : '{}' is not a valid header name",
                    word.as_str()
                ),
            ),
        }
    }
}
