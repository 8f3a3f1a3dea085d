//! What the proxy provides to Lua: the transaction a script reads and changes, and what an
//! action decided. The gateway implements [`TxnView`] and [`TxnHost`] on its own transaction;
//! tests implement them on a plain struct.

use bytes::Bytes;
use http::{request, response};
use spoe::expr::{Fetch, Sample};

/// A transaction as Lua reads it: fetches (`txn.f`), variables (`txn:get_var`), the request
/// and response heads (`txn.http:req_get_headers()`).
pub trait TxnView: Fetch + Send + Sync {
    /// The variable `name` (`txn.foo`, `sess.bar`...), if set.
    fn var(&self, name: &str) -> Option<Sample>;
    /// The request head.
    fn request(&self) -> &request::Parts;
    /// The response head, once there is a response.
    fn response(&self) -> Option<&response::Parts>;
    /// What `txn:set_priv()` stored, if the host keeps it.
    fn private(&self) -> Option<&Private> {
        None
    }
    /// Writes `line` (a Lua error, HAProxy's words, at level err) to the log of the proxy
    /// running this transaction (HAProxy's `SEND_ERR(px, ...)`); lines are already
    /// rate-limited. Nothing by default.
    fn log_error(&self, line: &str) {
        let _ = line;
    }
}

/// A transaction as a Lua action changes it.
pub trait TxnHost: TxnView {
    /// Sets variable `name`. With `if_exists` (`txn:set_var(name, value, true)`), HAProxy's
    /// `vars_set_by_name_ifexist()`: a `proc.` variable is set only if it exists (the
    /// configuration names it, or it was set before and not unset since); other scopes are
    /// set as without it. Returns whether it was set (false for an invalid name).
    fn set_var(&mut self, name: &str, value: Sample, if_exists: bool) -> bool;
    /// Unsets variable `name`; false for an invalid name.
    fn unset_var(&mut self, name: &str) -> bool;
    /// The request head, to rewrite.
    fn request_mut(&mut self) -> &mut request::Parts;
    /// The response head, to rewrite (`None` before there is one). A reason phrase
    /// `res_set_status(code, reason)` gives is left in its extensions as a [`ReasonPhrase`].
    fn response_mut(&mut self) -> Option<&mut response::Parts>;
    /// Where `txn:set_priv()` stores its data; `None` when the host keeps none (the call then
    /// fails, naming itself).
    fn private_slot(&mut self) -> Option<&mut Option<Private>> {
        None
    }
    /// `txn:set_loglevel()`: the syslog level (0 emerg to 7 debug) of this transaction's
    /// access line, or `None` for its default level. False when the host cannot (the call
    /// then fails, naming itself).
    fn set_log_level(&mut self, level: Option<u8>) -> bool {
        let _ = level;
        false
    }
}

/// The reason phrase a script gave a response (`res_set_status(code, reason)`), in the
/// response head's extensions; the proxy sends it instead of the standard one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReasonPhrase(pub String);

/// What a Lua action returned (`act.*`, HAProxy's `ACT_RET_*`), and what its caller does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// `act.CONTINUE` (0, also a function returning nothing, or failing): the next rule.
    Continue,
    /// `act.STOP` (1): no more rules of this ruleset; the transaction goes on.
    Stop,
    /// `act.YIELD` (2): run the action again later (HAProxy resumes the rule).
    Yield,
    /// `act.ERROR` (3): an internal error; the client gets a 500.
    Error,
    /// `act.DONE` (4): stop processing the message.
    Done,
    /// `act.DENY` (5): 403 on a request, 502 on a response.
    Deny,
    /// `act.ABORT` (6): HAProxy 2.6 answers 503 on a request and lets a response through.
    Abort,
    /// `act.INVALID` (7): 400 on a request, 502 on a response.
    Invalid,
    /// `txn:done([reply])`: the transaction ends here, with the reply, or with the connection
    /// closed and no answer when there is none.
    Terminate,
}

impl Verdict {
    /// The verdict for a returned integer; HAProxy treats unknown codes as continue.
    pub fn from_code(code: i64) -> Self {
        match code {
            1 => Self::Stop,
            2 => Self::Yield,
            3 => Self::Error,
            4 => Self::Done,
            5 => Self::Deny,
            6 => Self::Abort,
            7 => Self::Invalid,
            _ => Self::Continue,
        }
    }
}

/// An HTTP answer built by Lua: `txn:done(reply)`, a reply object, or an HTTP service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The status (200 by default).
    pub status: u16,
    /// The reason phrase, when the script gave one.
    pub reason: Option<String>,
    /// Headers in order (names as the script wrote them).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
}

impl Default for Reply {
    fn default() -> Self {
        Self {
            status: 200,
            reason: None,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }
}

/// The outcome of a Lua action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionOutcome {
    /// What to do next.
    pub verdict: Verdict,
    /// With [`Verdict::Terminate`]: the answer to send; `None`: the client gets no answer
    /// (HAProxy closes the connection).
    pub reply: Option<Reply>,
}

impl ActionOutcome {
    /// Continue with the next rule (also what a failed action does, after its log line).
    pub const CONTINUE: Self = Self {
        verdict: Verdict::Continue,
        reply: None,
    };
}

/// Data a script stored with `txn:set_priv()`, kept by the host for the transaction's later
/// Lua calls (in the state that stored it).
#[derive(Debug)]
pub struct Private(pub(crate) mlua::RegistryKey);
