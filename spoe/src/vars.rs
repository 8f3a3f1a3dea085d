//! How an outcome becomes variables, as HAProxy sets them: agent actions
//! named `<scope>.<var-prefix>.<name>`, and the `set-on-error`,
//! `set-process-time` and `set-total-time` variables in scope `txn`.

use spop::{Action, TypedData, VarScope};

use crate::engine::outcome::Outcome;

/// HAProxy's variable names live in a 64-byte buffer, NUL included; a longer
/// name is rejected rather than truncated.
pub const MAX_VAR_NAME: usize = 63;

/// The `spoe-agent` options that decide which variables an outcome sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultPolicy {
    /// `option var-prefix` (default: the agent's id).
    pub var_prefix: String,
    /// `option set-on-error NAME`: `txn.<prefix>.NAME` = the status, on error only.
    pub set_on_error: Option<String>,
    /// `option set-process-time NAME`: `txn.<prefix>.NAME` = this event's time in ms.
    pub set_process_time: Option<String>,
    /// `option set-total-time NAME`: `txn.<prefix>.NAME` = the stream's SPOE time in ms.
    pub set_total_time: Option<String>,
    /// `option force-set-var`: set every variable the agent names; without
    /// it only names the configuration knows (`register-var-names`, or used
    /// elsewhere) are set.
    pub force_set_var: bool,
}

/// One change to a variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarUpdate {
    /// Set `name` (full name, such as `txn.iprep.score`).
    Set {
        /// Full variable name.
        name: String,
        /// The value.
        value: TypedData,
    },
    /// Unset `name`.
    Unset {
        /// Full variable name.
        name: String,
    },
}

/// `<scope>.<prefix>.<name>`, or `None` when it is not UTF-8 or too long.
pub fn var_name(scope: VarScope, prefix: &str, name: &[u8]) -> Option<String> {
    let name = std::str::from_utf8(name).ok()?;
    let scope = scope.haproxy_prefix();
    // Built by hand: this runs for every variable of every ACK.
    let len = scope.len() + prefix.len() + name.len() + 2;
    if len > MAX_VAR_NAME {
        return None;
    }
    let mut full = String::with_capacity(len);
    full.push_str(scope);
    full.push('.');
    full.push_str(prefix);
    full.push('.');
    full.push_str(name);
    Some(full)
}

impl ResultPolicy {
    /// The variable names this policy sets on its own (which HAProxy
    /// registers when it reads the configuration).
    pub fn own_names(&self) -> Vec<String> {
        [
            &self.set_on_error,
            &self.set_process_time,
            &self.set_total_time,
        ]
        .into_iter()
        .flatten()
        .filter_map(|n| var_name(VarScope::Transaction, &self.var_prefix, n.as_bytes()))
        .collect()
    }

    /// Whether `name` is one of [`Self::own_names`] (without building them).
    fn is_own_name(&self, name: &str) -> bool {
        let Some(short) = name
            .strip_prefix(VarScope::Transaction.haproxy_prefix())
            .and_then(|n| n.strip_prefix('.'))
            .and_then(|n| n.strip_prefix(self.var_prefix.as_str()))
            .and_then(|n| n.strip_prefix('.'))
        else {
            return false;
        };
        [
            &self.set_on_error,
            &self.set_process_time,
            &self.set_total_time,
        ]
        .into_iter()
        .flatten()
        .any(|own| own == short)
    }

    /// The updates `outcome` makes. `total_ms` is the stream's SPOE time so
    /// far, this event included; `known` says whether the configuration
    /// knows a variable name (ignored with `force-set-var`).
    pub fn updates(
        &self,
        outcome: &Outcome,
        total_ms: u64,
        known: &dyn Fn(&str) -> bool,
    ) -> Vec<VarUpdate> {
        let allowed = |name: &str| self.force_set_var || known(name) || self.is_own_name(name);
        let mut out = Vec::new();
        for action in &outcome.actions {
            match action {
                Action::SetVar { scope, name, value } => {
                    let Some(full) =
                        var_name(*scope, &self.var_prefix, name).filter(|n| allowed(n))
                    else {
                        continue;
                    };
                    // HAProxy treats a NULL value as an unset.
                    out.push(match value {
                        TypedData::Null => VarUpdate::Unset { name: full },
                        v => VarUpdate::Set {
                            name: full,
                            value: v.clone(),
                        },
                    });
                }
                Action::UnsetVar { scope, name } => {
                    if let Some(full) = var_name(*scope, &self.var_prefix, name) {
                        out.push(VarUpdate::Unset { name: full });
                    }
                }
                // HAProxy stops at an unknown action and ignores the rest.
                Action::Unknown { .. } => break,
            }
        }
        let ms = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let mut own = |opt: &Option<String>, value: TypedData| {
            if let Some(full) = opt
                .as_deref()
                .and_then(|n| var_name(VarScope::Transaction, &self.var_prefix, n.as_bytes()))
            {
                out.push(VarUpdate::Set { name: full, value });
            }
        };
        own(
            &self.set_process_time,
            TypedData::Int64(ms(outcome.timings.total)),
        );
        own(
            &self.set_total_time,
            TypedData::Int64(i64::try_from(total_ms).unwrap_or(i64::MAX)),
        );
        if !outcome.status.is_ok() {
            own(
                &self.set_on_error,
                TypedData::Int64(i64::from(outcome.status.0)),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::engine::outcome::{ProcessStatus, Timings};

    fn policy() -> ResultPolicy {
        ResultPolicy {
            var_prefix: "iprep".into(),
            set_on_error: Some("error".into()),
            set_process_time: Some("ptime".into()),
            set_total_time: None,
            force_set_var: false,
        }
    }

    fn outcome(status: u32, actions: Vec<Action>) -> Outcome {
        Outcome {
            status: ProcessStatus(status),
            actions,
            timings: Timings {
                queue: None,
                wait: None,
                total: Duration::from_millis(12),
            },
        }
    }

    #[test]
    fn names_follow_haproxy() {
        assert_eq!(
            var_name(VarScope::Session, "iprep", b"score").as_deref(),
            Some("sess.iprep.score")
        );
        assert_eq!(
            var_name(VarScope::Response, "p", b"x").as_deref(),
            Some("res.p.x")
        );
        assert_eq!(
            var_name(VarScope::Process, "p", &[b'a'; 56]),
            Some(format!("proc.p.{}", "a".repeat(56)))
        );
        assert_eq!(
            var_name(VarScope::Process, "p", &[b'a'; 57]),
            None,
            "64 bytes with NUL: rejected"
        );
    }

    #[test]
    fn success_sets_known_vars_and_process_time() {
        let out = outcome(
            0,
            vec![
                Action::set_var(VarScope::Session, "score", 42i32),
                Action::set_var(VarScope::Transaction, "unknown", 1i32),
                Action::set_var(VarScope::Transaction, "gone", TypedData::Null),
                Action::unset_var(VarScope::Request, "tmp"),
            ],
        );
        let known = |n: &str| n == "sess.iprep.score" || n == "txn.iprep.gone";
        assert_eq!(
            policy().updates(&out, 12, &known),
            vec![
                VarUpdate::Set {
                    name: "sess.iprep.score".into(),
                    value: TypedData::Int32(42)
                },
                VarUpdate::Unset {
                    name: "txn.iprep.gone".into()
                },
                VarUpdate::Unset {
                    name: "req.iprep.tmp".into()
                },
                VarUpdate::Set {
                    name: "txn.iprep.ptime".into(),
                    value: TypedData::Int64(12)
                },
            ]
        );
        let mut forced = policy();
        forced.force_set_var = true;
        assert_eq!(forced.updates(&out, 12, &|_| false).len(), 5);
    }

    #[test]
    fn errors_set_the_status_and_unknown_actions_stop_the_list() {
        let out = outcome(257, vec![]);
        let ups = policy().updates(&out, 0, &|_| false);
        assert!(ups.contains(&VarUpdate::Set {
            name: "txn.iprep.error".into(),
            value: TypedData::Int64(257)
        }));
        let out = outcome(
            0,
            vec![
                Action::set_var(VarScope::Session, "a", 1i32),
                Action::Unknown {
                    action_type: 9,
                    rest: bytes::Bytes::new(),
                },
                Action::set_var(VarScope::Session, "b", 1i32),
            ],
        );
        let ups = policy().updates(&out, 0, &|_| true);
        assert_eq!(ups.len(), 2, "a, then ptime: b is after the unknown action");
    }

    #[test]
    fn the_policys_own_names_are_known_without_force_set_var() {
        let out = outcome(
            0,
            vec![
                Action::set_var(VarScope::Transaction, "error", 7i32),
                Action::set_var(VarScope::Session, "error", 7i32),
                Action::set_var(VarScope::Transaction, "errors", 7i32),
            ],
        );
        let names: Vec<String> = policy()
            .updates(&out, 0, &|_| false)
            .into_iter()
            .map(|u| match u {
                VarUpdate::Set { name, .. } | VarUpdate::Unset { name } => name,
            })
            .collect();
        assert_eq!(names, ["txn.iprep.error", "txn.iprep.ptime"]);
    }
}
