//! How an outcome becomes variables, as HAProxy sets them: agent actions
//! named `<scope>.<var-prefix>.<name>`, and the `set-on-error`,
//! `set-process-time` and `set-total-time` variables in scope `txn`.
//!
//! Full names are made once ([`VarNames`]): those the configuration knows
//! when it is loaded, those an agent sets under `force-set-var` the first
//! time it sets them. An update carries its name as a [`VarName`] (the string,
//! shared, and its hash) that the host keeps as its key in a [`VarTable`]: an
//! ACK makes no string, and setting or reading a variable by a name made at
//! load hashes nothing.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::ops::Deref;
use std::sync::{Arc, LazyLock};

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

use spop::view::{ActionView, DataView};
use spop::{ActionList, TypedData, VarScope};

use crate::engine::outcome::ProcessStatus;
use crate::once_table::OnceTable;

/// HAProxy's variable names live in a 64-byte buffer, NUL included; a longer
/// name is rejected rather than truncated.
pub const MAX_VAR_NAME: usize = 63;

/// At most this many names an agent sets under `force-set-var` without the
/// configuration knowing them are kept for reuse; past it (or past the
/// slots a name probes, [`crate::once_table::MAX_PROBES`]), each such update
/// makes its own (bounded memory whatever the agent sends).
const MAX_SEEN_NAMES: usize = 1024;

/// The hash of a full variable name, as [`VarName`] and [`VarTable`] keep it.
///
/// foldhash, not std's SipHash: a name of 10 to 30 bytes costs a few dozen
/// instructions instead of a few hundred. Keys and HashDoS: no client names a
/// variable (clients only reach values); names come from the configuration,
/// from agents under `force-set-var` and from Lua scripts, which the operator
/// chose. foldhash is seeded at random once per process (so that whoever
/// could make an agent or a script set names of his choosing still could not
/// pick names that collide without the seed), and once per process rather than
/// per table: a name hashed once is probed in every table (the transaction's,
/// the session's, the process's, an agent's known names).
fn hash_name(name: &str) -> u64 {
    static STATE: LazyLock<foldhash::fast::RandomState> = LazyLock::new(Default::default);
    STATE.hash_one(name)
}

/// A variable's full name (`txn.iprep.score`) and its hash, computed once,
/// when the name is made: at configuration load for the names rules and
/// `spoe.conf` know, the first time an agent sets one under `force-set-var`.
/// A [`VarTable`] probed with a `VarName` hashes nothing; clones share the
/// string. Compares, orders and hashes (std's [`Hash`]) as its string.
#[derive(Clone)]
pub struct VarName {
    hash: u64,
    name: Arc<str>,
}

impl VarName {
    /// `name` and its hash.
    pub fn new(name: &str) -> Self {
        Self::with_hash(hash_name(name), Arc::from(name))
    }

    fn with_hash(hash: u64, name: Arc<str>) -> Self {
        Self { hash, name }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.name
    }
}

impl From<&str> for VarName {
    fn from(name: &str) -> Self {
        Self::new(name)
    }
}

impl From<String> for VarName {
    fn from(name: String) -> Self {
        Self::from(Arc::<str>::from(name))
    }
}

impl From<Arc<str>> for VarName {
    fn from(name: Arc<str>) -> Self {
        Self::with_hash(hash_name(&name), name)
    }
}

impl Deref for VarName {
    type Target = str;

    fn deref(&self) -> &str {
        &self.name
    }
}

impl AsRef<str> for VarName {
    fn as_ref(&self) -> &str {
        &self.name
    }
}

impl Borrow<str> for VarName {
    fn borrow(&self) -> &str {
        &self.name
    }
}

impl PartialEq for VarName {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.name == other.name
    }
}

impl Eq for VarName {}

impl PartialOrd for VarName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for VarName {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.name.cmp(&other.name)
    }
}

impl Hash for VarName {
    // As its string, so that `Borrow<str>` holds for std's maps.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl fmt::Debug for VarName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.name, f)
    }
}

impl fmt::Display for VarName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// Values by variable name. Probed with a [`VarName`] it uses the name's
/// hash, computed when the name was made; probed with a `&str` it hashes the
/// string (foldhash, seeded at random once per process: `hash_name` in this
/// file says why).
#[derive(Clone)]
pub struct VarTable<V> {
    table: HashTable<(VarName, V)>,
}

impl<V> Default for VarTable<V> {
    fn default() -> Self {
        Self {
            table: HashTable::new(),
        }
    }
}

impl<V: fmt::Debug> fmt::Debug for VarTable<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<V> VarTable<V> {
    /// An empty table (allocates nothing).
    pub fn new() -> Self {
        Self::default()
    }

    fn find(&self, hash: u64, name: &str) -> Option<&(VarName, V)> {
        self.table
            .find(hash, |(n, _)| n.hash == hash && *n.name == *name)
    }

    /// The value of `name`.
    pub fn get(&self, name: &VarName) -> Option<&V> {
        self.find(name.hash, &name.name).map(|(_, v)| v)
    }

    /// The value of `name` (hashes it).
    pub fn get_str(&self, name: &str) -> Option<&V> {
        self.find(hash_name(name), name).map(|(_, v)| v)
    }

    /// Sets `name` (which becomes the key when it was not set); the value it had.
    pub fn insert(&mut self, name: VarName, value: V) -> Option<V> {
        let hash = name.hash;
        match self.table.entry(
            hash,
            |(n, _)| n.hash == hash && n.name == name.name,
            |(n, _)| n.hash,
        ) {
            Entry::Occupied(mut e) => Some(std::mem::replace(&mut e.get_mut().1, value)),
            Entry::Vacant(e) => {
                e.insert((name, value));
                None
            }
        }
    }

    fn remove_hashed(&mut self, hash: u64, name: &str) -> Option<V> {
        let entry = self
            .table
            .find_entry(hash, |(n, _)| n.hash == hash && *n.name == *name)
            .ok()?;
        Some(entry.remove().0.1)
    }

    /// Unsets `name`; the value it had.
    pub fn remove(&mut self, name: &VarName) -> Option<V> {
        self.remove_hashed(name.hash, &name.name)
    }

    /// Unsets `name` (hashes it); the value it had.
    pub fn remove_str(&mut self, name: &str) -> Option<V> {
        self.remove_hashed(hash_name(name), name)
    }

    /// The names and values, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&VarName, &V)> {
        self.table.iter().map(|(n, v)| (n, v))
    }

    /// How many names are set.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether no name is set.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Room for `additional` more names without growing.
    pub fn reserve(&mut self, additional: usize) {
        self.table.reserve(additional, |(n, _)| n.hash);
    }
}

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
        name: VarName,
        /// The value.
        value: TypedData,
    },
    /// Unset `name`.
    Unset {
        /// Full variable name.
        name: VarName,
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
    let mut len = 0;
    for part in [
        scope.haproxy_prefix().as_bytes(),
        b".",
        prefix.as_bytes(),
        b".",
        name,
    ] {
        let end = len + part.len();
        buf.get_mut(len..end)?.copy_from_slice(part);
        len = end;
    }
    // Checked once, whole: the parts before `name` are UTF-8 strings and ASCII dots, so the
    // whole is UTF-8 exactly when `name` is.
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
    known: VarTable<()>,
    on_error: Option<VarName>,
    process_time: Option<VarName>,
    total_time: Option<VarName>,
    /// Names the agent set that `known` does not hold (under `force-set-var`,
    /// or unsets), up to [`MAX_SEEN_NAMES`]: found again without a lock (an
    /// agent that echoes a request's fields sets the same names on every
    /// request).
    seen: OnceTable<VarName>,
}

impl VarNames {
    /// The names `policy` sets on its own, known from the start.
    pub fn new(policy: ResultPolicy) -> Self {
        let own = |n: &Option<String>| {
            n.as_deref()
                .and_then(|n| var_name(VarScope::Transaction, &policy.var_prefix, n.as_bytes()))
                .map(VarName::from)
        };
        let (on_error, process_time, total_time) = (
            own(&policy.set_on_error),
            own(&policy.set_process_time),
            own(&policy.set_total_time),
        );
        let mut known = VarTable::new();
        for name in [&on_error, &process_time, &total_time]
            .into_iter()
            .flatten()
        {
            known.insert(name.clone(), ());
        }
        Self {
            policy,
            known,
            on_error,
            process_time,
            total_time,
            seen: OnceTable::new(MAX_SEEN_NAMES),
        }
    }

    /// The policy.
    pub fn policy(&self) -> &ResultPolicy {
        &self.policy
    }

    /// Declares full names (`txn.iprep.score`) the configuration uses: agents
    /// may set them without `force-set-var`.
    pub fn register(&mut self, names: impl IntoIterator<Item = String>) {
        for name in names {
            self.known.insert(VarName::from(name), ());
        }
    }

    /// Declares `register-var-names`: bare names, which the agent may set in
    /// any scope.
    pub fn register_bare(&mut self, names: impl IntoIterator<Item = impl AsRef<str>>) {
        for name in names {
            for scope in VarScope::ALL {
                if let Some(full) =
                    var_name(scope, &self.policy.var_prefix, name.as_ref().as_bytes())
                {
                    self.known.insert(VarName::from(full), ());
                }
            }
        }
    }

    /// Whether the configuration knows full name `name`.
    pub fn is_known(&self, name: &str) -> bool {
        self.known.get_str(name).is_some()
    }

    /// The shared full name of `name` in `scope`; `None` when it is not a
    /// name (not UTF-8, too long), or when `known_only` and the
    /// configuration does not know it. The name the agent sent is hashed
    /// once, for both tables (it is the agent's: nothing knew it before).
    fn resolve(&self, scope: VarScope, name: &[u8], known_only: bool) -> Option<VarName> {
        let mut buf = [0u8; MAX_VAR_NAME];
        let full = full_name(&mut buf, scope, &self.policy.var_prefix, name)?;
        let hash = hash_name(full);
        if let Some((n, ())) = self.known.find(hash, full) {
            return Some(n.clone());
        }
        if known_only {
            return None;
        }
        let seen = self.seen.find_or_insert(
            hash,
            |n| n.hash == hash && &*n.name == full,
            || VarName::with_hash(hash, Arc::from(full)),
        );
        Some(match seen {
            Ok(n) => n.clone(),
            // Past the cap (or its probes): a name of its own.
            Err(n) => n,
        })
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
        let mut own = |name: &Option<VarName>, value: TypedData| {
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
    fn a_table_finds_a_name_however_it_was_made() {
        let mut t = VarTable::new();
        assert!(t.is_empty());
        let score = VarName::from("txn.iprep.score");
        assert_eq!(t.insert(score.clone(), 1), None);
        assert_eq!(t.insert(VarName::from("txn.iprep.other"), 2), None);
        // Another name made from the same string (another allocation) is the same key.
        let again = VarName::from(String::from("txn.iprep.score"));
        assert!(!Arc::ptr_eq(&score.name, &again.name));
        assert_eq!(again, score);
        assert_eq!(t.get(&again), Some(&1));
        assert_eq!(t.get_str("txn.iprep.score"), Some(&1));
        assert_eq!(t.get_str("txn.iprep.scor"), None);
        assert_eq!(t.insert(again, 3), Some(1), "replaced, not added");
        assert_eq!(t.len(), 2);
        assert_eq!(t.remove_str("txn.iprep.score"), Some(3));
        assert_eq!(t.remove(&score), None);
        let names: Vec<String> = t.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(names, ["txn.iprep.other"]);
        assert_eq!(format!("{t:?}"), r#"{"txn.iprep.other": 2}"#);
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
            assert!(
                Arc::ptr_eq(&name(&first[i]).name, &name(&again[i]).name),
                "{i}"
            );
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
