//! What the layer does with the agents' answers: the user's decision hooks, and the failure
//! mode when SPOE processing fails.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::{StatusCode, request, response};
use spoe::ProcessStatus;

use crate::vars::Vars;

/// What a decision hook sees: the request (and the response, after the handler), the
/// variables the agents set, and whether SPOE processing failed for this request.
#[derive(Debug)]
#[non_exhaustive]
pub struct Verdict<'a> {
    /// The request head.
    pub request: &'a request::Parts,
    /// The response head, in a response hook.
    pub response: Option<&'a response::Parts>,
    /// The variables, by HAProxy's names (`txn.bot.bot`).
    pub vars: &'a Vars,
    /// The status of the first failed SPOE processing of this request, if one failed (the
    /// value HAProxy puts in the `set-on-error` variable).
    pub failure: Option<ProcessStatus>,
}

/// A decision hook: `Some(response)` answers the client in place of the handler (or of the
/// handler's response), `None` lets the request (or response) through.
pub type Decide = Arc<dyn Fn(&Verdict<'_>) -> Option<http::Response<Bytes>> + Send + Sync>;

/// What happens to a request whose SPOE processing failed (timeout, agent down, refused
/// message): chosen explicitly when the layer is built, and counted in the layer's metrics
/// (`spoe_layer_requests_total{verdict="failed_open"|"failed_closed"}`) either way. The
/// `set-on-error` variable is set in both, as in HAProxy.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum FailureMode {
    /// The request goes on to the decision hook and the handler, which see the failure.
    Open,
    /// The layer answers with this status (and an empty body) without calling the handler.
    Closed(StatusCode),
}

impl fmt::Debug for FailureMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Open => f.write_str("Open"),
            Self::Closed(s) => write!(f, "Closed({})", s.as_u16()),
        }
    }
}
