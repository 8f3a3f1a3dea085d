//! Variables as HAProxy keeps them, by full name (`txn.bot.bot`): set by agents' actions
//! ([`VarUpdate`]s) and by the host's rules, read by `var()` and by handler code.
//!
//! `txn.`, `req.` and `res.` variables live with one transaction; `sess.` ones with the client
//! connection ([`ConnectionFacts::session_vars`](crate::ConnectionFacts::session_vars)); `proc.`
//! ones with whoever shares the store (a gateway generation, a layer).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use spoe::expr::{Sample, SampleType, VarRef, VarScope};
use spoe::{VarName, VarUpdate};
use spop::TypedData;

/// Variables by full name (`txn.demo.score`). A name an agent sets is shared with the
/// engine's table of names ([`spoe::VarNames`]): setting it copies no string; a name the
/// configuration knows (`var()`, `set-var`, an agent's) was hashed when it was loaded: setting
/// or reading it hashes nothing.
pub type VarMap = spoe::VarTable<Sample>;

/// A shared store of variables (`sess.` or `proc.`).
pub type SharedVars = Arc<Mutex<VarMap>>;

/// The variables one transaction sees: its own (`txn.`, `req.`, `res.`) and the shared stores
/// of its session and process.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    own: VarMap,
    /// `sess.`: the connection's store; without one, they live with the transaction.
    sess: Option<SharedVars>,
    /// `proc.`: the process's (generation's, layer's) store; without one, they live with the
    /// transaction.
    proc: Option<SharedVars>,
}

/// An agent's typed value as a sample (integers become HAProxy's signed integers). NULL has no
/// sample: HAProxy unsets a variable set to NULL.
pub fn sample_of(v: &TypedData) -> Option<Sample> {
    into_sample(v.clone())
}

/// [`sample_of`] taking the value: a string or binary value moves into the sample (a clone of
/// a shared `Bytes` is an atomic increment, its drop a decrement).
fn into_sample(v: TypedData) -> Option<Sample> {
    Some(match v {
        TypedData::Null => return None,
        TypedData::Bool(b) => Sample::Bool(b),
        TypedData::Int32(i) => Sample::Int(i64::from(i)),
        TypedData::Uint32(i) => Sample::Int(i64::from(i)),
        TypedData::Int64(i) => Sample::Int(i),
        TypedData::Uint64(i) => Sample::Int(i as i64),
        TypedData::Ipv4(a) => Sample::Ipv4(a),
        TypedData::Ipv6(a) => Sample::Ipv6(a),
        TypedData::Str(b) => Sample::Str(b),
        TypedData::Bin(b) => Sample::Bin(b),
    })
}

fn scope_of(name: &str) -> Option<VarScope> {
    let head = name.bytes().position(|b| b == b'.').unwrap_or(name.len());
    match &name[..head] {
        "proc" => Some(VarScope::Proc),
        "sess" => Some(VarScope::Sess),
        "txn" => Some(VarScope::Txn),
        "req" => Some(VarScope::Req),
        "res" => Some(VarScope::Res),
        _ => None,
    }
}

/// The scope of a parsed reference, as [`scope_of`] reads it from the full name: `check.`
/// variables (health checks') are none of a transaction's.
fn scope_of_ref(var: &VarRef) -> Option<VarScope> {
    (var.scope != VarScope::Check).then_some(var.scope)
}

fn lock(m: &Mutex<VarMap>) -> MutexGuard<'_, VarMap> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Vars {
    /// A transaction's variables, with its connection's `sess.` store and its process's
    /// `proc.` store when the host keeps them.
    pub fn new(sess: Option<SharedVars>, proc: Option<SharedVars>) -> Self {
        Self {
            own: VarMap::new(),
            sess,
            proc,
        }
    }

    fn shared(&self, scope: VarScope) -> Option<&SharedVars> {
        match scope {
            VarScope::Sess => self.sess.as_ref(),
            VarScope::Proc => self.proc.as_ref(),
            _ => None,
        }
    }

    /// The value of variable `name` (full name: `txn.bot.bot`), if set.
    pub fn sample(&self, name: &str) -> Option<Sample> {
        match self.shared(scope_of(name)?) {
            Some(store) => lock(store).get_str(name).cloned(),
            None => self.own.get_str(name).cloned(),
        }
    }

    /// The value of variable `name` as a `T`, converted as HAProxy casts samples (an integer
    /// 0 is `false`, a string `"42"` is `42`); `None` when unset or when the cast fails.
    ///
    /// ```
    /// use spoe::expr::Sample;
    /// use spoe_http::Vars;
    ///
    /// let mut vars = Vars::default();
    /// vars.set("txn.bot.bot", Some(Sample::Bool(true)));
    /// vars.set("txn.iprep.score", Some(Sample::Int(84)));
    /// assert_eq!(vars.get::<bool>("txn.bot.bot"), Some(true));
    /// assert_eq!(vars.get::<i64>("txn.iprep.score"), Some(84));
    /// assert_eq!(vars.get::<String>("txn.iprep.score").as_deref(), Some("84"));
    /// assert_eq!(vars.get::<bool>("txn.unset"), None);
    /// ```
    pub fn get<T: FromSample>(&self, name: &str) -> Option<T> {
        T::from_sample(self.sample(name)?)
    }

    /// The value of `var`, if set (what `var()` reads): by the name and hash made when `var`
    /// was parsed.
    pub fn sample_of_ref(&self, var: &VarRef) -> Option<Sample> {
        match self.shared(scope_of_ref(var)?) {
            Some(store) => lock(store).get(var.full()).cloned(),
            None => self.own.get(var.full()).cloned(),
        }
    }

    /// Sets (or with `None`, unsets) variable `name`; a name without a known scope is ignored,
    /// as HAProxy refuses it when it parses the configuration.
    pub fn set(&mut self, name: &str, value: Option<Sample>) {
        match value {
            Some(v) => self.insert(VarName::from(name), v),
            None => {
                if let Some(scope) = scope_of(name) {
                    match self.shared(scope) {
                        Some(store) => lock(store).remove_str(name),
                        None => self.own.remove_str(name),
                    };
                }
            }
        }
    }

    /// Sets `var` (`set-var`), or unsets it with `None`: the name (shared, already hashed) is
    /// the one parsed with `var`.
    pub fn set_ref(&mut self, var: &VarRef, value: Option<Sample>) {
        match value {
            Some(v) => self.insert_in(scope_of_ref(var), var.full().clone(), v),
            None => self.remove_in(scope_of_ref(var), var.full()),
        }
    }

    /// Sets variable `name`, which becomes the key (no copy of the name).
    fn insert(&mut self, name: VarName, value: Sample) {
        self.insert_in(scope_of(&name), name, value);
    }

    fn insert_in(&mut self, scope: Option<VarScope>, name: VarName, value: Sample) {
        let Some(scope) = scope else {
            return;
        };
        match self.shared(scope) {
            Some(store) => {
                lock(store).insert(name, value);
            }
            None => {
                self.own.insert(name, value);
            }
        }
    }

    fn remove(&mut self, name: &VarName) {
        self.remove_in(scope_of(name), name);
    }

    fn remove_in(&mut self, scope: Option<VarScope>, name: &VarName) {
        let Some(scope) = scope else {
            return;
        };
        match self.shared(scope) {
            Some(store) => {
                lock(store).remove(name);
            }
            None => {
                self.own.remove(name);
            }
        }
    }

    /// Applies what an agent (or the engine: `set-on-error`...) decided, in order. Takes the
    /// updates: the names of the variables set become their keys.
    pub fn apply(&mut self, updates: Vec<VarUpdate>) {
        // One allocation for the transaction's table instead of one per growth.
        self.own.reserve(updates.len());
        for u in updates {
            match u {
                VarUpdate::Set { name, value } => match into_sample(value) {
                    Some(v) => self.insert(name, v),
                    None => self.remove(&name),
                },
                VarUpdate::Unset { name } => self.remove(&name),
            }
        }
    }

    /// The transaction's own variables (`txn.`, `req.`, `res.`, and `sess.`/`proc.` ones when
    /// there is no shared store for them), by full name.
    pub fn own(&self) -> &VarMap {
        &self.own
    }
}

/// Calls `f` with `scope.name` (made when `v` was parsed: nothing is built).
pub fn with_full_name<R>(v: &VarRef, f: impl FnOnce(&str) -> R) -> R {
    f(v.full())
}

/// A Rust type a variable can be read as ([`Vars::get`]), through HAProxy's sample casts.
pub trait FromSample: Sized {
    /// The value, or `None` when HAProxy's cast to this type fails.
    fn from_sample(sample: Sample) -> Option<Self>;
}

impl FromSample for Sample {
    fn from_sample(sample: Sample) -> Option<Self> {
        Some(sample)
    }
}

impl FromSample for bool {
    fn from_sample(sample: Sample) -> Option<Self> {
        match sample.cast(SampleType::Bool)? {
            Sample::Bool(b) => Some(b),
            _ => None,
        }
    }
}

impl FromSample for i64 {
    fn from_sample(sample: Sample) -> Option<Self> {
        match sample.cast(SampleType::Int)? {
            Sample::Int(i) => Some(i),
            _ => None,
        }
    }
}

impl FromSample for String {
    /// The text of a string (or of any sample cast to one); `None` when it is not UTF-8.
    fn from_sample(sample: Sample) -> Option<Self> {
        match sample.cast(SampleType::Str)? {
            Sample::Str(b) => Self::from_utf8(b.to_vec()).ok(),
            _ => None,
        }
    }
}

impl FromSample for Bytes {
    /// The bytes of a string or binary sample, or of any sample cast to binary.
    fn from_sample(sample: Sample) -> Option<Self> {
        match sample.cast(SampleType::Bin)? {
            Sample::Str(b) | Sample::Bin(b) => Some(b),
            _ => None,
        }
    }
}

impl FromSample for IpAddr {
    fn from_sample(sample: Sample) -> Option<Self> {
        match sample.cast(SampleType::Addr)? {
            Sample::Ipv4(a) => Some(Self::V4(a)),
            Sample::Ipv6(a) => Some(Self::V6(a)),
            _ => None,
        }
    }
}

impl FromSample for Ipv4Addr {
    fn from_sample(sample: Sample) -> Option<Self> {
        match sample.cast(SampleType::Ipv4)? {
            Sample::Ipv4(a) => Some(a),
            _ => None,
        }
    }
}

impl FromSample for Ipv6Addr {
    fn from_sample(sample: Sample) -> Option<Self> {
        match sample.cast(SampleType::Ipv6)? {
            Sample::Ipv6(a) => Some(a),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_variable_names_at_any_length() {
        let full = |text: &str| {
            let v = VarRef::parse(text).unwrap();
            with_full_name(&v, str::to_owned)
        };
        assert_eq!(full("txn.bench.err"), "txn.bench.err");
        let at_limit = format!("txn.{}", "a".repeat(59));
        assert_eq!(at_limit.len(), spoe::vars::MAX_VAR_NAME);
        assert_eq!(full(&at_limit), at_limit);
        let longer = format!("proc.{}", "b".repeat(80));
        assert_eq!(full(&longer), longer);
    }

    #[test]
    fn scopes_go_to_their_stores() {
        let sess = SharedVars::default();
        let proc = SharedVars::default();
        let mut vars = Vars::new(Some(sess.clone()), Some(proc.clone()));
        vars.apply(vec![
            VarUpdate::Set {
                name: "sess.a.x".into(),
                value: TypedData::Uint32(7),
            },
            VarUpdate::Set {
                name: "proc.a.y".into(),
                value: TypedData::Bool(true),
            },
            VarUpdate::Set {
                name: "txn.a.z".into(),
                value: TypedData::Str(Bytes::from_static(b"v")),
            },
            VarUpdate::Set {
                name: "txn.a.gone".into(),
                value: TypedData::Null,
            },
        ]);
        assert_eq!(lock(&sess).get_str("sess.a.x"), Some(&Sample::Int(7)));
        assert_eq!(lock(&proc).get_str("proc.a.y"), Some(&Sample::Bool(true)));
        assert_eq!(vars.get::<String>("txn.a.z").as_deref(), Some("v"));
        assert_eq!(vars.own().len(), 1);
        // Another transaction of the same session sees the session's variable.
        let other = Vars::new(Some(sess), None);
        assert_eq!(other.get::<i64>("sess.a.x"), Some(7));
        // Without a store, the scope lives with the transaction.
        assert_eq!(other.get::<bool>("proc.a.y"), None);
        vars.apply(vec![VarUpdate::Unset {
            name: "sess.a.x".into(),
        }]);
        assert_eq!(vars.sample("sess.a.x"), None);
        vars.set("nope.x", Some(Sample::Int(1)));
        assert_eq!(vars.sample("nope.x"), None);
    }

    #[test]
    fn typed_reads_follow_haproxy_casts() {
        let mut vars = Vars::default();
        vars.set("txn.i", Some(Sample::Int(0)));
        vars.set("txn.s", Some(Sample::str("12abc")));
        vars.set("txn.ip", Some(Sample::str("10.0.0.1")));
        assert_eq!(vars.get::<bool>("txn.i"), Some(false));
        assert_eq!(vars.get::<i64>("txn.s"), Some(12));
        assert_eq!(vars.get::<IpAddr>("txn.ip"), Some([10, 0, 0, 1].into()));
        assert_eq!(
            vars.get::<Bytes>("txn.i"),
            Some(Bytes::from_static(&[0; 8]))
        );
        assert_eq!(vars.get::<Ipv6Addr>("txn.s"), None);
    }
}
