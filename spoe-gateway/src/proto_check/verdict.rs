//! What a protocol check's rule says: wait, pass, or fail with a verdict.

use crate::stats::CheckStatus;

/// HAProxy's `HCHK_DESC_LEN`: a check's description keeps 127 bytes.
const DESC_LEN: usize = 127;

/// What an expect rule says of the bytes read so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Eval {
    /// More bytes are needed.
    Wait,
    /// The rule passed: the next one.
    Pass,
    /// The check failed.
    Fail(Verdict),
}

/// A check's result: its status, description and code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub(crate) status: CheckStatus,
    pub(crate) desc: String,
    pub(crate) code: Option<u16>,
}

impl Verdict {
    pub(super) fn new(status: CheckStatus, desc: &[u8], code: Option<u16>) -> Self {
        Self {
            status,
            desc: desc_of(desc),
            code,
        }
    }
}

/// HAProxy copies a description as a C string: up to the first NUL, 127 bytes at most.
fn desc_of(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end.min(DESC_LEN)]).into_owned()
}

#[cfg(test)]
pub(super) fn fail(status: CheckStatus, desc: &str, code: Option<u16>) -> Eval {
    Eval::Fail(Verdict {
        status,
        desc: desc.to_owned(),
        code,
    })
}
