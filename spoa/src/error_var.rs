//! The error variable: how the runtime tells HAProxy that it could not
//! deliver a handler's verdict.
//!
//! SPOP has no per-stream error frame: an ACK carries variables and nothing
//! else. A verdict the runtime cannot deliver (the handler failed, panicked,
//! overran its budget, or answered more than fits in a frame) is therefore
//! answered with one variable, by default `SET-VAR txn "error"` = the
//! [`ErrorCause::code`]. HAProxy prefixes it with the agent's `var-prefix`,
//! so haproxy.cfg reads it as `var(txn.<prefix>.error)`.
//!
//! The codes are chosen apart from the values HAProxy itself writes into the
//! `option set-on-error` variable (0 to 5, 255, and 256 + a DISCONNECT
//! status, so 256 to 355), so that `option set-on-error error` in spoe.conf
//! makes one variable cover both sides:
//!
//! | code | cause | set by |
//! |---|---|---|
//! | 1 to 5, 255, 256 to 355 | HAProxy's own (timeout, connection failed, ...) | HAProxy (`set-on-error`) |
//! | 10 | the handler returned an error | this runtime |
//! | 11 | the handler panicked | this runtime |
//! | 12 | the handler overran [`crate::Config::handler_timeout`] | this runtime |
//! | 13 | the handler's ACK does not fit in the negotiated max-frame-size | this runtime |

use bytes::Bytes;
use spop::{Action, VarScope};

/// Why a handler's verdict was not delivered. The [`code`](Self::code) is
/// what the error variable carries; the label names the metric and log
/// field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCause {
    /// The handler returned `Err`: code 10.
    HandlerError,
    /// The handler panicked: code 11.
    HandlerPanic,
    /// The handler overran its budget and was cancelled: code 12.
    BudgetOverrun,
    /// The handler's answer is larger than the negotiated max-frame-size:
    /// code 13. It is never sent in fragments: no HAProxy accepts a
    /// fragmented ACK (see `queue_ack` in the connection module).
    AckTooBig,
}

impl ErrorCause {
    /// Every cause, in code order.
    pub const ALL: [Self; 4] = [
        Self::HandlerError,
        Self::HandlerPanic,
        Self::BudgetOverrun,
        Self::AckTooBig,
    ];

    /// The value of the error variable: 10 to 13, outside HAProxy's own
    /// `set-on-error` values.
    pub const fn code(self) -> i32 {
        match self {
            Self::HandlerError => 10,
            Self::HandlerPanic => 11,
            Self::BudgetOverrun => 12,
            Self::AckTooBig => 13,
        }
    }

    /// The cause in words, as in the metric label `cause` and the log field.
    pub const fn label(self) -> &'static str {
        match self {
            Self::HandlerError => "handler_error",
            Self::HandlerPanic => "handler_panic",
            Self::BudgetOverrun => "budget_overrun",
            Self::AckTooBig => "ack_too_big",
        }
    }

    pub(crate) const fn index(self) -> usize {
        match self {
            Self::HandlerError => 0,
            Self::HandlerPanic => 1,
            Self::BudgetOverrun => 2,
            Self::AckTooBig => 3,
        }
    }
}

impl std::fmt::Display for ErrorCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.label(), self.code())
    }
}

/// Where the runtime writes the [`ErrorCause::code`] of an undelivered
/// verdict. The default is `txn` `error`, which matches `option set-on-error
/// error` in spoe.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorVar {
    /// The variable's scope.
    pub scope: VarScope,
    /// The variable's name, without HAProxy's `var-prefix`.
    pub name: Bytes,
}

/// Longest [`ErrorVar::name`]: HAProxy 2.6 builds `scope.prefix.name` in a
/// 64-byte buffer (`spoe_set_var`), so longer names cannot be set anyway, and
/// the bound keeps the error ACK far below the smallest frame (256 bytes).
pub const MAX_ERROR_VAR_NAME: usize = 64;

impl ErrorVar {
    /// `scope.name`.
    pub fn new(scope: VarScope, name: impl Into<Bytes>) -> Self {
        Self {
            scope,
            name: name.into(),
        }
    }

    /// The SET-VAR that reports `cause`.
    pub fn action(&self, cause: ErrorCause) -> Action {
        Action::set_var(self.scope, self.name.clone(), cause.code())
    }
}

impl Default for ErrorVar {
    fn default() -> Self {
        Self::new(VarScope::Transaction, "error")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_outside_haproxys_own() {
        let haproxy = |c: i32| (0..=5).contains(&c) || c == 255 || (256..=355).contains(&c);
        let mut seen = std::collections::HashSet::new();
        for cause in ErrorCause::ALL {
            assert!(!haproxy(cause.code()), "{cause}");
            assert!(seen.insert(cause.code()), "{cause} repeats a code");
            assert_eq!(ErrorCause::ALL[cause.index()], cause);
        }
    }

    #[test]
    fn the_default_variable_is_txn_error_as_an_integer() {
        assert_eq!(
            ErrorVar::default().action(ErrorCause::AckTooBig),
            Action::set_var(VarScope::Transaction, "error", 13i32)
        );
    }
}
