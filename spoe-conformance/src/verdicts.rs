//! What the agent's ACKs said about its handler: every ACK of a run counted,
//! and those that set the error variable (`spoa`'s, `txn.error` by default),
//! by the value set. The protocol may pass while every verdict fails.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use spop::{Action, Body, Frame, VarScope};

/// The ACKs of a run, and those that set the error variable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Verdicts {
    /// The variable looked for, `scope.name` (empty when none).
    pub error_var: String,
    /// ACKs received, every case together.
    pub acks: u64,
    /// ACKs that set the error variable, by its value as text (`10` for
    /// `spoa`'s handler error).
    pub with_error_var: BTreeMap<String, u64>,
}

impl Verdicts {
    /// ACKs that set the error variable.
    pub fn failed(&self) -> u64 {
        self.with_error_var.values().sum()
    }

    /// Counts `frame` if it is an ACK.
    fn record(&mut self, frame: &Frame, var: Option<&(VarScope, String)>) {
        let Body::Ack(actions) = &frame.body else {
            return;
        };
        self.acks += 1;
        let Some((scope, name)) = var else {
            return;
        };
        let set = actions.iter().rev().find_map(|a| match a {
            Action::SetVar {
                scope: s,
                name: n,
                value,
            } if s == scope && n.as_ref() == name.as_bytes() => Some(value),
            _ => None,
        });
        if let Some(value) = set {
            let text = value
                .as_i64()
                .map_or_else(|| format!("{value:?}"), |v| v.to_string());
            *self.with_error_var.entry(text).or_default() += 1;
        }
    }
}

/// The tally of a run in progress: its verdicts, and the variable looked for.
pub(crate) type Tally = Arc<Mutex<(Verdicts, Option<(VarScope, String)>)>>;

tokio::task_local! {
    /// The run in progress: every `Peer` of a case records the ACKs it reads
    /// into it.
    static TALLY: Tally;
}

/// A new tally for a run looking for `var`.
pub(crate) fn start(var: Option<(VarScope, String)>) -> Tally {
    let verdicts = Verdicts {
        error_var: var
            .as_ref()
            .map(|(scope, name)| format!("{}.{name}", scope.haproxy_prefix()))
            .unwrap_or_default(),
        ..Verdicts::default()
    };
    Arc::new(Mutex::new((verdicts, var)))
}

/// Runs `fut` with `tally` as the run in progress.
pub(crate) async fn within<T>(tally: &Tally, fut: impl Future<Output = T>) -> T {
    TALLY.scope(tally.clone(), fut).await
}

/// What `tally` counted.
pub(crate) fn finish(tally: &Tally) -> Verdicts {
    tally
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .0
        .clone()
}

/// Counts `frame` in the run in progress, if any.
pub(crate) fn record(frame: &Frame) {
    let _ = TALLY.try_with(|t| {
        let mut t = t.lock().unwrap_or_else(PoisonError::into_inner);
        let (verdicts, var) = &mut *t;
        verdicts.record(frame, var.as_ref());
    });
}
