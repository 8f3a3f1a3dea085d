//! `--error-var [SCOPE.]NAME`: the variable an agent sets in its ACK when it
//! could not deliver a verdict (`spoa`'s error variable, `txn.error` by
//! default), which `bench` and `conformance` count as a failure of the
//! handler, not a success.

use std::fmt;
use std::str::FromStr;

use spop::{Action, VarScope};

/// A variable name as HAProxy reads it, without the agent's `var-prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ErrorVarName {
    pub(crate) scope: VarScope,
    pub(crate) name: String,
}

impl FromStr for ErrorVarName {
    type Err = String;

    /// `NAME` (scope `txn`) or `SCOPE.NAME` with SCOPE one of proc, sess, txn, req, res.
    fn from_str(s: &str) -> Result<Self, String> {
        let (scope, name) = match s.split_once('.') {
            Some((scope, name)) => {
                let scope = VarScope::ALL
                    .into_iter()
                    .find(|v| v.haproxy_prefix() == scope)
                    .ok_or_else(|| {
                        format!(
                            "error variable {s:?}: unknown scope {scope:?}; expected NAME or SCOPE.NAME with SCOPE one of proc, sess, txn, req, res (such as txn.error)"
                        )
                    })?;
                (scope, name)
            }
            None => (VarScope::Transaction, s),
        };
        if name.is_empty() || name.contains('.') {
            return Err(format!(
                "error variable {s:?}: expected NAME or SCOPE.NAME, such as txn.error"
            ));
        }
        Ok(Self {
            scope,
            name: name.to_owned(),
        })
    }
}

impl fmt::Display for ErrorVarName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.scope.haproxy_prefix(), self.name)
    }
}

impl ErrorVarName {
    /// The value `actions` set the variable to (the last SET-VAR of it), as
    /// an integer; a value of another type is `-1`.
    pub(crate) fn code_in(&self, actions: &[Action]) -> Option<i64> {
        actions.iter().rev().find_map(|a| match a {
            Action::SetVar { scope, name, value }
                if *scope == self.scope && name.as_ref() == self.name.as_bytes() =>
            {
                Some(value.as_i64().unwrap_or(-1))
            }
            _ => None,
        })
    }

    /// The conformance kit's spelling.
    pub(crate) fn pair(&self) -> (VarScope, String) {
        (self.scope, self.name.clone())
    }
}

/// An error variable's value in words: `spoa`'s cause for 10 to 13.
pub(crate) fn describe_code(code: &str) -> String {
    let cause = code
        .parse::<i32>()
        .ok()
        .and_then(|c| spoa::ErrorCause::ALL.into_iter().find(|e| e.code() == c));
    match cause {
        Some(c) => format!("{code} ({})", c.label()),
        None => code.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_scopes() {
        let v: ErrorVarName = "error".parse().unwrap();
        assert_eq!(v.to_string(), "txn.error");
        let v: ErrorVarName = "sess.err".parse().unwrap();
        assert_eq!((v.scope, v.name.as_str()), (VarScope::Session, "err"));
        for bad in ["", "txn.", "bad.err", "txn.a.b"] {
            assert!(bad.parse::<ErrorVarName>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_last_set_var_of_the_variable_counts() {
        let v: ErrorVarName = "txn.error".parse().unwrap();
        let actions = [
            Action::set_var(VarScope::Transaction, "bot", true),
            Action::set_var(VarScope::Session, "error", 1i32),
            Action::set_var(VarScope::Transaction, "error", 10i32),
        ];
        assert_eq!(v.code_in(&actions), Some(10));
        assert_eq!(v.code_in(&actions[..2]), None);
        assert_eq!(
            v.code_in(&[Action::set_var(VarScope::Transaction, "error", "x")]),
            Some(-1)
        );
        assert_eq!(describe_code("10"), "10 (handler_error)");
        assert_eq!(describe_code("99"), "99");
    }
}
