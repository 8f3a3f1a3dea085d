//! Captures at run time (HAProxy's `req_cap`/`res_cap`): a frontend's slots are filled by
//! `capture request|response header` as each message arrives (`http_capture_headers()`: the
//! last value of the header, cut at the slot's length) and by `capture` rules
//! (`http_action_req_capture()`: the expression's value as text, cut likewise). They are read
//! by `capture.req.hdr(N)`/`capture.res.hdr(N)` and written by `%hr`/`%hs` in the access line.

use hyper::HeaderMap;
use spoe::expr::SampleExpr;

use crate::model::{CaptureSlot, CaptureSlots};
use crate::txn::{Txn, sample_text};

/// The slots of one message, empty but for the headers `slots` capture, read from `headers`.
fn headers_captured(slots: &[CaptureSlot], headers: &HeaderMap) -> Vec<Option<String>> {
    slots
        .iter()
        .map(|slot| {
            let value = slot
                .header
                .as_ref()
                .and_then(|h| headers.get_all(h).iter().next_back())?;
            Some(cut(&String::from_utf8_lossy(value.as_bytes()), slot.len))
        })
        .collect()
}

/// The request's slots as it arrives.
pub(crate) fn on_request(slots: &CaptureSlots, headers: &HeaderMap) -> Vec<Option<String>> {
    headers_captured(&slots.request, headers)
}

/// What a request of a frontend with `slots` captures as it arrives: its headers, empty
/// response slots, and its request line when the frontend logs one (`txn->uri`, which HAProxy
/// keeps only then: `capture.req.method` and `capture.req.uri` read it).
pub(crate) fn start(
    slots: Option<&CaptureSlots>,
    logs_request_line: bool,
    request: &hyper::http::request::Parts,
) -> spoe_http::Captures {
    let mut captures = spoe_http::Captures::default();
    if let Some(slots) = slots {
        captures.request = on_request(slots, &request.headers);
        captures.response = vec![None; slots.response.len()];
    }
    if logs_request_line {
        captures.request_line = Some((request.method.clone(), request.uri.clone()));
    }
    captures
}

/// The response's slots as it arrives.
pub(crate) fn on_response(slots: &CaptureSlots, headers: &HeaderMap) -> Vec<Option<String>> {
    headers_captured(&slots.response, headers)
}

/// A `capture` rule: `expr`'s value into slot `slot` of the request's frontend (of its
/// response slots if `response`); nothing when it has no value or the frontend no such slot.
pub(crate) fn store(txn: &mut Txn, response: bool, expr: &SampleExpr, slot: usize) {
    let Some(slots) = txn.capture_slots.clone() else {
        return;
    };
    let defs = if response {
        &slots.response
    } else {
        &slots.request
    };
    let Some(def) = defs.get(slot) else {
        return;
    };
    let Some(value) = expr.eval(&*txn) else {
        return;
    };
    let text = cut(&sample_text(&value), def.len);
    let values = if response {
        &mut txn.captures.response
    } else {
        &mut txn.captures.request
    };
    if let Some(v) = values.get_mut(slot) {
        *v = Some(text);
    }
}

/// At most `len` bytes of `s` (at a character boundary).
fn cut(s: &str, len: usize) -> String {
    let mut end = len.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_value_is_kept_cut_at_the_slot_length() {
        let slots = CaptureSlots {
            request: vec![
                CaptureSlot {
                    header: Some("host".parse().unwrap()),
                    len: 4,
                },
                CaptureSlot {
                    header: None,
                    len: 10,
                },
                CaptureSlot {
                    header: Some("x-absent".parse().unwrap()),
                    len: 10,
                },
            ],
            response: Vec::new(),
        };
        let mut h = HeaderMap::new();
        h.append("host", "first.test".parse().unwrap());
        h.append("host", "second.test".parse().unwrap());
        assert_eq!(
            on_request(&slots, &h),
            [Some("seco".to_owned()), None, None]
        );
        assert_eq!(cut("héllo", 2), "h");
    }
}
