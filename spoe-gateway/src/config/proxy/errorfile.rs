//! `errorfile CODE FILE` (`proxy_parse_errorfile()` in HAProxy 2.6's `src/http_htx.c`): the
//! file is read and checked now, with HAProxy's messages; `crate::errorfile` sends it.
//! `errorloc|errorloc302|errorloc303 CODE URL` (`proxy_parse_errorloc()`): the page is
//! HAProxy's redirect message for the URL, sent as an `errorfile` is. Inherited from
//! `defaults`; a later line for a status replaces an earlier one.

use std::sync::Arc;

use spoe::config::reader::Line;

use crate::config::lower::{Lowerer, Proxy};
use crate::errorfile::{ErrorFile, STATUSES};

impl Lowerer<'_, '_> {
    pub(super) fn errorfile(&mut self, p: &mut Proxy, line: &Line) {
        let (Some(code), Some(file)) = (line.arg(1), line.arg(2)) else {
            return self.diag.error_msg(
                line.span().clone(),
                "errorfile : expects <status_code> and <file> as arguments.",
            );
        };
        let Some(status) = self.error_status(code, "errorfile") else {
            return;
        };
        let name = file.as_str();
        let Ok(mut raw) = std::fs::read(self.base_dir.join(name)) else {
            return self.diag.error_msg(
                file.span().clone(),
                format!("errorfile : error opening file '{name}'."),
            );
        };
        let limit = self.global.bufsize;
        if raw.len() > limit {
            self.diag.warn_msg(
                file.span().clone(),
                format!(
                    "custom error message file '{name}' larger than {limit} bytes. Truncating."
                ),
            );
            raw.truncate(limit);
        }
        match ErrorFile::parse(&raw) {
            Ok(page) => {
                p.errorfiles.insert(status, Arc::new(page));
            }
            Err(e) => self
                .diag
                .error_msg(file.span().clone(), format!("errorfile : '{name}': {e}")),
        }
    }

    /// `errorloc|errorloc302|errorloc303 CODE URL`.
    pub(super) fn errorloc(&mut self, p: &mut Proxy, line: &Line) {
        let kw = line.keyword();
        let (Some(code), Some(url)) = (line.arg(1), line.arg(2)) else {
            return self.diag.error_msg(
                line.span().clone(),
                format!("{kw} : expects <status_code> and <url> as arguments."),
            );
        };
        let Some(status) = self.error_status(code, kw) else {
            return;
        };
        let (redirect, reason) = if kw == "errorloc303" {
            (303, "See Other")
        } else {
            (302, "Found")
        };
        let message = format!(
            "HTTP/1.1 {redirect} {reason}\r\nCache-Control: no-cache\r\nContent-length: 0\r\nLocation: {}\r\n\r\n",
            url.as_str()
        );
        match ErrorFile::parse(message.as_bytes()) {
            Ok(page) => {
                p.errorfiles.insert(status, Arc::new(page));
            }
            Err(e) => self
                .diag
                .error_msg(url.span().clone(), format!("{kw} : {e}")),
        }
    }

    /// The status of an error page line (`atol()`: the leading digits, 0 without any), one
    /// HAProxy has a page for.
    fn error_status(&mut self, code: &spoe::config::reader::Word, kw: &str) -> Option<u16> {
        let digits: String = code
            .as_str()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let status = digits.parse::<u16>().unwrap_or(0);
        if STATUSES.contains(&status) {
            return Some(status);
        }
        self.diag.error_msg(
            code.span().clone(),
            format!("{kw} : status code '{status}' not handled."),
        );
        None
    }
}
