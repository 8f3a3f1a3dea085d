//! Capture slots of a frontend (HAProxy 2.6's `capture` in `src/cfgparse-listen.c`,
//! `proxy_parse_declare()` in `src/proxy.c`): `capture request|response header NAME len N`,
//! `declare capture request|response len N`; `http-request capture ... len N` declares one
//! too (see `config::actions`). Each list numbers its slots from 0 in the order they are
//! declared; `crate::capture` fills them.

use spoe::config::reader::Line;

use crate::config::actions::SlotRef;
use crate::config::grammar::Kind;
use crate::config::lower::{Lowerer, Proxy};
use crate::model::CaptureSlot;

impl Lowerer<'_, '_> {
    /// `capture request|response header NAME len N` (`capture cookie` is refused).
    pub(super) fn capture(&mut self, p: &mut Proxy, line: &Line) {
        let what = line.arg_str(1).unwrap_or_default();
        if p.kind == Kind::Backend {
            // HAProxy's `warnifnotcap()`: ignored, with a warning.
            return self.diag.warn_msg(
                line.span().clone(),
                format!(
                    "'capture' ignored because backend '{}' has no frontend capability.",
                    p.name
                ),
            );
        }
        let response = match (what, line.arg_str(2)) {
            ("request", Some("header")) => false,
            ("response", Some("header")) => true,
            ("cookie", _) => {
                return self.diag.error_msg(
                    line.span().clone(),
                    "'capture cookie' is not supported by the gateway (its access line writes \
                     '-' for %CC and %CS)",
                );
            }
            _ => {
                return self.diag.error_msg(
                    line.span().clone(),
                    "'capture' expects 'cookie' or 'request header' or 'response header'.",
                );
            }
        };
        if p.kind == Kind::Defaults {
            return self.diag.error_msg(
                line.span().clone(),
                format!("'capture {what}' not allowed in 'defaults' section."),
            );
        }
        if self.too_many(line, 5, "capture") {
            return;
        }
        let (Some(name), Some("len"), Some(len)) = (line.arg(3), line.arg_str(4), line.arg(5))
        else {
            return self.diag.error_msg(
                line.span().clone(),
                format!("'capture {what}' expects 'header' <header_name> 'len' <len>."),
            );
        };
        let Ok(header) = hyper::header::HeaderName::from_bytes(name.as_str().as_bytes()) else {
            return self.diag.error_msg(
                name.span().clone(),
                format!(
                    "'capture {what} header' : invalid header name '{}'",
                    name.as_str()
                ),
            );
        };
        let slot = CaptureSlot {
            header: Some(header),
            len: atol(len.as_str()),
        };
        slots(p, response).push(slot);
    }

    /// `declare capture request|response len N`.
    pub(super) fn declare(&mut self, p: &mut Proxy, line: &Line) {
        let fail = |lw: &mut Self, msg: String| lw.diag.error_msg(line.span().clone(), msg);
        if p.kind == Kind::Defaults {
            return fail(
                self,
                "'declare' not available in default section".to_owned(),
            );
        }
        if p.kind == Kind::Backend {
            return fail(
                self,
                "'declare' only available in frontend or listen section".to_owned(),
            );
        }
        match line.arg_str(1) {
            Some("capture") => {}
            None | Some("") => {
                return fail(
                    self,
                    "'declare' needs a second keyword that specify the type of declaration \
                     ('capture')"
                        .to_owned(),
                );
            }
            Some(other) => {
                return fail(
                    self,
                    format!("unknown declaration type '{other}' (supports 'capture')"),
                );
            }
        }
        let response = match line.arg_str(2) {
            Some("request") => false,
            Some("response") => true,
            _ => {
                return fail(
                    self,
                    "'declare capture' requires a direction ('request' or 'response')".to_owned(),
                );
            }
        };
        if line.arg_str(3) != Some("len") {
            return fail(
                self,
                "'declare capture' requires a capture length ('len')".to_owned(),
            );
        }
        let Some(len) = line.arg_str(4).filter(|l| !l.is_empty()) else {
            return fail(
                self,
                "'declare capture': 'len' requires a numeric value that represents the capture \
                 length"
                    .to_owned(),
            );
        };
        match len.parse::<i64>() {
            Err(_) => fail(
                self,
                format!("'declare capture': cannot parse the length '{len}'."),
            ),
            Ok(n) if n <= 0 => fail(self, "length must be > 0".to_owned()),
            Ok(n) => slots(p, response).push(CaptureSlot {
                header: None,
                len: usize::try_from(n).unwrap_or(usize::MAX),
            }),
        }
    }

    /// HAProxy's check of `capture ... id N` rules once the frontend is read: the slot must
    /// exist (a backend's rules are checked against the frontend of each request instead: a
    /// missing slot there stores nothing).
    pub(super) fn check_capture_ids(&mut self, p: &Proxy) {
        if p.kind == Kind::Backend {
            return;
        }
        for (response, id, span) in &p.capture_ids {
            let (count, kw) = if *response {
                (p.captures.response.len(), "http-response")
            } else {
                (p.captures.request.len(), "http-request")
            };
            if *id >= count {
                self.diag.error_msg(
                    span.clone(),
                    format!(
                        "'{kw} capture' : unable to find capture id '{id}' referenced by {kw} \
                         capture rule"
                    ),
                );
            }
        }
    }
}

/// The request or response slots of `p`.
pub(in crate::config) fn slots(p: &mut Proxy, response: bool) -> &mut Vec<CaptureSlot> {
    if response {
        &mut p.captures.response
    } else {
        &mut p.captures.request
    }
}

/// `atol()`: the leading digits (0 without any).
fn atol(s: &str) -> usize {
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(0)
}

impl crate::config::actions::ActionParser<'_, '_> {
    /// `http-request capture EXPR len N | id N`, `http-response capture EXPR id N`
    /// (`parse_http_req_capture()`, `parse_http_res_capture()`): the slot is resolved by the
    /// caller (the rule's `capture` field).
    pub(in crate::config) fn capture(&mut self) -> crate::config::actions::Parsed {
        use crate::config::logformat::Phase;
        let response = self.phase == Phase::Response;
        let usage = if response {
            "expects <expression> id <idx>"
        } else {
            "expects <expression> [ 'len' <length> | id <idx> ]"
        };
        let at = self.at.span().clone();
        if self.args.len() < 3
            || self.args[..3]
                .iter()
                .any(|w| matches!(w.as_str(), "if" | "unless"))
        {
            self.fail(&at, usage);
            return None;
        }
        let expr = self.sample(&self.args[0])?;
        let (kind, value) = (&self.args[1], &self.args[2]);
        let slot = match kind.as_str() {
            "len" if !response => {
                let n: i64 = value
                    .as_str()
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
                    .parse()
                    .unwrap_or(0);
                if n <= 0 {
                    self.fail(value.span(), "length must be > 0");
                    return None;
                }
                SlotRef::New(usize::try_from(n).unwrap_or(usize::MAX))
            }
            "id" => match value.as_str().parse::<usize>() {
                Ok(id) => SlotRef::Id(id),
                Err(_) => {
                    let msg = format!("cannot parse id '{}'", value.as_str());
                    self.fail(value.span(), msg);
                    return None;
                }
            },
            other => {
                let expected = if response { "'id'" } else { "'len' or 'id'" };
                self.fail(kind.span(), format!("expects {expected}, found '{other}'"));
                return None;
            }
        };
        self.capture = Some(slot);
        let slot = match slot {
            SlotRef::Id(id) => id,
            SlotRef::New(_) => 0,
        };
        Some((crate::model::HttpAction::Capture { expr, slot }, 3, None))
    }
}
