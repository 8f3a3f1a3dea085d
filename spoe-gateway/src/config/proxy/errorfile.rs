//! `errorfile CODE FILE` (`proxy_parse_errorfile()` in HAProxy 2.6's `src/http_htx.c`): the
//! file is read and checked now, with HAProxy's messages; `crate::errorfile` sends it.
//! `errorloc|errorloc302|errorloc303 CODE URL` (`proxy_parse_errorloc()`): the page is
//! HAProxy's redirect message for the URL, sent as an `errorfile` is. `errorfiles NAME
//! [CODE...]` (`proxy_parse_errorfiles()`) and `http-error status CODE ...`
//! (`proxy_parse_http_error()`). Inherited from `defaults`; the lines take effect in order
//! once every `http-errors` section is read (`config::http_errors`).

use std::sync::Arc;

use spoe::config::reader::Line;

use crate::config::actions::{ActionParser, ReplyFiles};
use crate::config::error_pages::ErrorLine;
use crate::config::logformat::Phase;
use crate::config::lower::{Lowerer, Proxy};
use crate::errorfile::{ErrorFile, STATUSES};
use crate::model::{LogFormat, LogFormatPart, Reply, ReturnBody};

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
        if let Some(page) = self.error_message(file, "errorfile") {
            p.error_lines.push(ErrorLine::Page(status, Some(page)));
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
            Ok(page) => p
                .error_lines
                .push(ErrorLine::Page(status, Some(Arc::new(page)))),
            Err(e) => self
                .diag
                .error_msg(url.span().clone(), format!("{kw} : {e}")),
        }
    }

    /// `errorfiles NAME [CODE...]`.
    pub(super) fn errorfiles(&mut self, p: &mut Proxy, line: &Line) {
        let Some(name) = line.arg(1) else {
            return self.diag.error_msg(
                line.span().clone(),
                "errorfiles : expects <name> as argument.",
            );
        };
        let mut codes = Vec::new();
        for code in line.words.iter().skip(2) {
            let Some(status) = self.error_status(code, "errorfiles") else {
                return;
            };
            codes.push(status);
        }
        p.error_lines.push(ErrorLine::Section {
            name: name.as_str().to_owned(),
            codes,
            span: name.span().clone(),
        });
    }

    /// `http-error status CODE [content-type T] [PAYLOAD] [hdr NAME FMT]...`: the page is
    /// built now, so a log-format payload or `hdr` value must be constant text.
    pub(super) fn http_error(&mut self, p: &mut Proxy, line: &Line) {
        let base_dir = self.base_dir.clone();
        let files = ReplyFiles {
            base_dir: &base_dir,
            bufsize: self.global.bufsize,
        };
        let mut parser = ActionParser {
            kw: "http-error",
            action: "http-error",
            at: &line.words[0],
            args: &line.words[1..],
            phase: Phase::Response,
            diag: self.diag,
            capture: None,
            files,
            section: None,
        };
        let Some(parsed) = parser.http_reply(0, false) else {
            return;
        };
        let at = line.span().clone();
        if parsed.status == 0 {
            return self
                .diag
                .error_msg(at, "http-error : expects at least a <status> as arguments.");
        }
        if !STATUSES.contains(&parsed.status) {
            return self.diag.error_msg(
                at,
                format!("http-error: status code '{}' not handled.", parsed.status),
            );
        }
        if let Some(extra) = line.words.get(1 + parsed.used) {
            return self.diag.error_msg(
                extra.span().clone(),
                format!("http-error : unknown keyword '{}'.", extra.as_str()),
            );
        }
        let status = parsed.status;
        if let Some((name, span)) = parsed.section {
            p.error_lines.push(ErrorLine::Section {
                name,
                codes: vec![status],
                span,
            });
            return;
        }
        let page = match parsed.reply {
            Reply::ProxyPage => None,
            Reply::Message(m) => Some(m),
            Reply::Built {
                content_type,
                headers,
                body,
            } => {
                let mut fixed = Vec::new();
                for (name, fmt) in &headers {
                    let Some(value) = constant(fmt) else {
                        return self.dynamic_page(line);
                    };
                    fixed.push((name.clone(), value));
                }
                let body = match body {
                    None => bytes::Bytes::new(),
                    Some(ReturnBody::Raw(b)) => b,
                    Some(ReturnBody::LogFormat(f)) => match constant(&f) {
                        Some(text) => bytes::Bytes::from(text),
                        None => return self.dynamic_page(line),
                    },
                };
                match ErrorFile::built(status, content_type.as_deref(), &fixed, body) {
                    Ok(page) => Some(Arc::new(page)),
                    Err(e) => {
                        return self.diag.error_msg(at, format!("http-error : {e}"));
                    }
                }
            }
        };
        p.error_lines.push(ErrorLine::Page(status, page));
    }

    /// An `http-error` page whose text depends on the request: refused.
    fn dynamic_page(&mut self, line: &Line) {
        self.diag.error_msg(
            line.span().clone(),
            "http-error : a payload or 'hdr' value with log-format variables is not supported by the gateway (its error pages are built when the configuration is read); use constant text",
        );
    }

    /// The status of an error page line (`atol()`: the leading digits, 0 without any), one
    /// HAProxy has a page for.
    pub(in crate::config) fn error_status(
        &mut self,
        code: &spoe::config::reader::Word,
        kw: &str,
    ) -> Option<u16> {
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

/// The text of a log-format string without variables.
fn constant(fmt: &LogFormat) -> Option<String> {
    fmt.0
        .iter()
        .try_fold(String::new(), |mut text, part| match part {
            LogFormatPart::Text(t) => {
                text.push_str(t);
                Some(text)
            }
            LogFormatPart::Sample(_) => None,
        })
}
