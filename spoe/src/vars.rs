//! How an outcome becomes variables, as HAProxy sets them: agent actions
//! named `<scope>.<var-prefix>.<name>`, and the `set-on-error`,
//! `set-process-time` and `set-total-time` variables in scope `txn`.
//!
//! Full names are made once ([`VarNames`]): those the configuration knows
//! when it is loaded, those an agent sets under `force-set-var` the first
//! time it sets them. An update carries its name as an `Arc<str>` that the
//! host keeps as its key: an ACK makes no string.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use spop::view::{ActionView, DataView};
use spop::{ActionList, TypedData, VarScope};

use crate::engine::outcome::ProcessStatus;

/// HAProxy's variable names live in a 64-byte buffer, NUL included; a longer
/// name is rejected rather than truncated.
pub const MAX_VAR_NAME: usize = 63;

/// At most this many names an agent sets under `force-set-var` without the
/// configuration knowing them are kept for reuse; past it, each such
/// update makes its own (bounded memory whatever the agent sends).
const MAX_SEEN_NAMES: usize = 1024;

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
        /// Full variable name, shared with every update of that name.
        name: Arc<str>,
        /// The value.
        value: TypedData,
    },
    /// Unset `name`.
    Unset {
        /// Full variable name.
        name: Arc<str>,
    },
}

/// `<scope>.<prefix>.<name>`, or `None` when it is not UTF-8 or too long.
pub fn var_name(scope: VarScope, prefix: &str, name: &[u8]) -> Option<String> {
    let mut buf = [0u8; MAX_VAR_NAME];
    full_name(&mut buf, scope, prefix, name).map(str::to_owned)
}

/// `<scope>.<prefix>.<name>` written into `buf`; `None` when it is not
/// UTF-8 or longer than [`MAX_VAR_NAME`].
fn full_name<'b>(
    buf: &'b mut [u8; MAX_VAR_NAME],
    scope: VarScope,
    prefix: &str,
    name: &[u8],
) -> Option<&'b str> {
    let name = std::str::from_utf8(name).ok()?;
    let mut len = 0;
    for part in [scope.haproxy_prefix(), ".", prefix, ".", name] {
        let end = len + part.len();
        buf.get_mut(len..end)?.copy_from_slice(part.as_bytes());
        len = end;
    }
    // Whole UTF-8 strings and ASCII dots: valid UTF-8.
    std::str::from_utf8(buf.get(..len)?).ok()
}

/// The full variable names of one `spoe-agent`, made once and shared by
/// every update that names them, and the [`ResultPolicy`] that says which
/// an outcome sets.
#[derive(Debug)]
pub struct VarNames {
    policy: ResultPolicy,
    /// Names the configuration knows: the policy's own, `register-var-names`
    /// in every scope, and those the host registers.
    known: HashSet<Arc<str>>,
    on_error: Option<Arc<str>>,
    process_time: Option<Arc<str>>,
    total_time: Option<Arc<str>>,
    /// Names the agent set that `known` does not hold (under `force-set-var`,
    /// or unsets), up to [`MAX_SEEN_NAMES`].
    seen: Mutex<HashSet<Arc<str>>>,
}

impl VarNames {
    /// The names `policy` sets on its own, known from the start.
    pub fn new(policy: ResultPolicy) -> Self {
        let own = |n: &Option<String>| {
            n.as_deref()
                .and_then(|n| var_name(VarScope::Transaction, &policy.var_prefix, n.as_bytes()))
                .map(Arc::<str>::from)
        };
        let (on_error, process_time, total_time) = (
            own(&policy.set_on_error),
            own(&policy.set_process_time),
            own(&policy.set_total_time),
        );
        let known = [&on_error, &process_time, &total_time]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        Self {
            policy,
            known,
            on_error,
            process_time,
            total_time,
            seen: Mutex::default(),
        }
    }

    /// The policy.
    pub fn policy(&self) -> &ResultPolicy {
        &self.policy
    }

    /// Declares full names (`txn.iprep.score`) the configuration uses: agents
    /// may set them without `force-set-var`.
    pub fn register(&mut self, names: impl IntoIterator<Item = String>) {
        self.known.extend(names.into_iter().map(Arc::from));
    }

    /// Declares `register-var-names`: bare names, which the agent may set in
    /// any scope.
    pub fn register_bare(&mut self, names: impl IntoIterator<Item = impl AsRef<str>>) {
        for name in names {
            for scope in VarScope::ALL {
                if let Some(full) =
                    var_name(scope, &self.policy.var_prefix, name.as_ref().as_bytes())
                {
                    self.known.insert(Arc::from(full));
                }
            }
        }
    }

    /// Whether the configuration knows full name `name`.
    pub fn is_known(&self, name: &str) -> bool {
        self.known.contains(name)
    }

    /// The shared full name of `name` in `scope`; `None` when it is not a
    /// name (not UTF-8, too long), or when `known_only` and the
    /// configuration does not know it.
    fn resolve(&self, scope: VarScope, name: &[u8], known_only: bool) -> Option<Arc<str>> {
        let mut buf = [0u8; MAX_VAR_NAME];
        let full = full_name(&mut buf, scope, &self.policy.var_prefix, name)?;
        if let Some(n) = self.known.get(full) {
            return Some(n.clone());
        }
        if known_only {
            return None;
        }
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = seen.get(full) {
            return Some(n.clone());
        }
        let n = Arc::<str>::from(full);
        if seen.len() < MAX_SEEN_NAMES {
            seen.insert(n.clone());
        }
        Some(n)
    }

    /// The updates an event's outcome makes: the agent's `actions` (empty
    /// when it failed), then `set-process-time` (this event's `process_ms`),
    /// `set-total-time` (the stream's SPOE time so far, this event included)
    /// and, on error, `set-on-error`.
    pub fn updates(
        &self,
        status: ProcessStatus,
        actions: &ActionList,
        process_ms: u64,
        total_ms: u64,
    ) -> Vec<VarUpdate> {
        let mut out = Vec::new();
        let known_only = !self.policy.force_set_var;
        for action in actions.iter() {
            match action {
                ActionView::SetVar { scope, name, value } => {
                    let Some(name) = self.resolve(scope, name, known_only) else {
                        continue;
                    };
                    // HAProxy treats a NULL value as an unset.
                    out.push(match value {
                        DataView::Null => VarUpdate::Unset { name },
                        v => VarUpdate::Set {
                            name,
                            value: v.to_owned_in(actions.as_bytes()),
                        },
                    });
                }
                ActionView::UnsetVar { scope, name } => {
                    if let Some(name) = self.resolve(scope, name, false) {
                        out.push(VarUpdate::Unset { name });
                    }
                }
                // HAProxy stops at an unknown action and ignores the rest.
                ActionView::Unknown { .. } => break,
            }
        }
        let int = |v: u64| TypedData::Int64(i64::try_from(v).unwrap_or(i64::MAX));
        let mut own = |name: &Option<Arc<str>>, value: TypedData| {
            if let Some(name) = name {
                out.push(VarUpdate::Set {
                    name: name.clone(),
                    value,
                });
            }
        };
        own(&self.process_time, int(process_ms));
        own(&self.total_time, int(total_ms));
        if !status.is_ok() {
            own(&self.on_error, TypedData::Int64(i64::from(status.0)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use spop::Action;

    use super::*;

    fn policy() -> ResultPolicy {
        ResultPolicy {
            var_prefix: "iprep".into(),
            set_on_error: Some("error".into()),
            set_process_time: Some("ptime".into()),
            set_total_time: None,
            force_set_var: false,
        }
    }

    fn names(known: &[&str]) -> VarNames {
        let mut n = VarNames::new(policy());
        n.register(known.iter().map(|s| (*s).to_owned()));
        n
    }

    fn set(name: &str, value: TypedData) -> VarUpdate {
        VarUpdate::Set {
            name: name.into(),
            value,
        }
    }

    fn unset(name: &str) -> VarUpdate {
        VarUpdate::Unset { name: name.into() }
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
        assert_eq!(var_name(VarScope::Process, "p", &[0xff]), None, "not UTF-8");
    }

    #[test]
    fn success_sets_known_vars_and_process_time() {
        let actions = ActionList::from(vec![
            Action::set_var(VarScope::Session, "score", 42i32),
            Action::set_var(VarScope::Transaction, "unknown", 1i32),
            Action::set_var(VarScope::Transaction, "gone", TypedData::Null),
            Action::unset_var(VarScope::Request, "tmp"),
        ]);
        let n = names(&["sess.iprep.score", "txn.iprep.gone"]);
        assert_eq!(
            n.updates(ProcessStatus::OK, &actions, 12, 12),
            vec![
                set("sess.iprep.score", TypedData::Int32(42)),
                unset("txn.iprep.gone"),
                unset("req.iprep.tmp"),
                set("txn.iprep.ptime", TypedData::Int64(12)),
            ]
        );
        let mut forced = policy();
        forced.force_set_var = true;
        assert_eq!(
            VarNames::new(forced)
                .updates(ProcessStatus::OK, &actions, 12, 12)
                .len(),
            5
        );
    }

    #[test]
    fn one_name_is_shared_by_every_update_that_sets_it() {
        let mut forced = policy();
        forced.force_set_var = true;
        let mut n = VarNames::new(forced);
        n.register_bare(["score"]);
        let actions = ActionList::from(vec![
            Action::set_var(VarScope::Session, "score", 1i32),
            Action::set_var(VarScope::Transaction, "fresh", 1i32),
        ]);
        let name = |u: &VarUpdate| match u {
            VarUpdate::Set { name, .. } | VarUpdate::Unset { name } => name.clone(),
        };
        let first = n.updates(ProcessStatus::OK, &actions, 0, 0);
        let again = n.updates(ProcessStatus::OK, &actions, 0, 0);
        assert_eq!(&*name(&first[0]), "sess.iprep.score");
        assert_eq!(&*name(&first[1]), "txn.iprep.fresh");
        for i in 0..3 {
            assert!(Arc::ptr_eq(&name(&first[i]), &name(&again[i])), "{i}");
        }
        assert!(
            n.is_known("req.iprep.score"),
            "register-var-names: every scope"
        );
        assert!(!n.is_known("txn.iprep.fresh"));
    }

    #[test]
    fn errors_set_the_status_and_unknown_actions_stop_the_list() {
        let n = names(&[]);
        let ups = n.updates(ProcessStatus(257), &ActionList::default(), 0, 0);
        assert!(ups.contains(&set("txn.iprep.error", TypedData::Int64(257))));
        let actions = ActionList::from(vec![
            Action::set_var(VarScope::Session, "a", 1i32),
            Action::Unknown {
                action_type: 9,
                rest: bytes::Bytes::new(),
            },
            Action::set_var(VarScope::Session, "b", 1i32),
        ]);
        let n = names(&["sess.iprep.a", "sess.iprep.b"]);
        let ups = n.updates(ProcessStatus::OK, &actions, 0, 0);
        assert_eq!(ups.len(), 2, "a, then ptime: b is after the unknown action");
    }

    #[test]
    fn the_policys_own_names_are_known_without_force_set_var() {
        let actions = ActionList::from(vec![
            Action::set_var(VarScope::Transaction, "error", 7i32),
            Action::set_var(VarScope::Session, "error", 7i32),
            Action::set_var(VarScope::Transaction, "errors", 7i32),
        ]);
        let got: Vec<String> = names(&[])
            .updates(ProcessStatus::OK, &actions, 0, 0)
            .into_iter()
            .map(|u| match u {
                VarUpdate::Set { name, .. } | VarUpdate::Unset { name } => name.to_string(),
            })
            .collect();
        assert_eq!(got, ["txn.iprep.error", "txn.iprep.ptime"]);
    }
}
