//! `option ldap-check`: the bind response judged (`tcpcheck_ldap_expect_bindrsp()`).

use super::verdict::{Eval, Verdict};
use crate::stats::CheckStatus;

/// `tcpcheck_ldap_expect_bindrsp()`: message id 1, a bind response, result code 0.
pub(super) fn ldap_bind(buf: &[u8], last_read: bool) -> Eval {
    let not_ldap = || {
        Eval::Fail(Verdict::new(
            CheckStatus::L7Rsp,
            b"Not LDAPv3 protocol",
            None,
        ))
    };
    let too_short = || {
        if last_read {
            Eval::Fail(Verdict::new(CheckStatus::L7Rsp, b"", None))
        } else {
            Eval::Wait
        }
    };
    let Some(&size) = buf.get(1) else {
        return too_short();
    };
    let (nbytes, len) = if size & 0x80 != 0 {
        let n = usize::from(size & 0x7f);
        if buf.len() < 1 + n {
            return too_short();
        }
        let field = |k: usize| buf.get(2..2 + k);
        match (n, field(n)) {
            (4, Some(b)) => (4, u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize),
            (2, Some(b)) => (2, usize::from(u16::from_be_bytes([b[0], b[1]]))),
            (4 | 2, None) => return too_short(),
            _ => return not_ldap(),
        }
    } else {
        (0, usize::from(size))
    };
    if buf.len() < 2 + nbytes + len {
        return too_short();
    }
    let mut at = 2 + nbytes;
    if buf.get(at..at + 4) != Some(b"\x02\x01\x01\x61".as_slice()) {
        return not_ldap();
    }
    at += 4;
    let skip = buf.get(at).map_or(0, |b| {
        if b & 0x80 != 0 {
            usize::from(b & 0x7f)
        } else {
            0
        }
    });
    at += 1 + skip;
    if buf.get(at..at + 2) != Some(b"\x0a\x01".as_slice()) {
        return not_ldap();
    }
    let code = buf.get(at + 2).copied().unwrap_or(0);
    if code != 0 {
        return Eval::Fail(Verdict::new(
            CheckStatus::L7Sts,
            b"See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9",
            Some(u16::from(code)),
        ));
    }
    Eval::Pass
}
