//! One request's SPOE state, shared by the layer and the handler: its variables, its stream
//! state, and what its later events and groups evaluate. Handlers reach it through the
//! [`SpoeVars`] request extension (and [`SpoeGroups`]).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use http::{request, response};
use spoe::config::Event;
use spoe::expr::Sample;
use spoe::{ProcessStatus, StreamState};

use super::generation::Generation;
use super::metrics::Outcome;
use super::shared::Shared;
use crate::conn::ConnectionFacts;
use crate::exchange::Exchange;
use crate::vars::{FromSample, Vars};

/// What changes while the request runs.
#[derive(Debug)]
pub(crate) struct TxnMut {
    pub(crate) vars: Vars,
    pub(crate) stream: StreamState,
    pub(crate) failure: Option<ProcessStatus>,
    /// What the layer did; counted when the state is dropped.
    pub(crate) outcome: Outcome,
}

/// One request's SPOE state.
#[derive(Debug)]
pub(crate) struct TxnState {
    pub(crate) shared: Arc<Shared>,
    pub(crate) generation: Arc<Generation>,
    /// A copy of the request head, when something runs after the handler took the request.
    pub(crate) head: Option<request::Parts>,
    pub(crate) body: Bytes,
    pub(crate) conn: Option<ConnectionFacts>,
    pub(crate) unique_id: Option<String>,
    pub(crate) state: Mutex<TxnMut>,
}

impl Drop for TxnState {
    /// Counts the request once, whoever held its state last (the layer, a handler).
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        let outcome = match st.outcome {
            Outcome::Passed if st.failure.is_some() => Outcome::FailedOpen,
            other => other,
        };
        self.shared.metrics.outcome(outcome);
    }
}

/// An event or a group.
#[derive(Debug, Clone, Copy)]
pub(crate) enum What<'a> {
    Event(Event),
    Group(&'a str),
}

impl TxnState {
    pub(crate) fn lock(&self) -> MutexGuard<'_, TxnMut> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends the messages of `what` evaluated on `head` (and `response`), waits for the
    /// answer within `timeout processing`, and applies it. `None` when nothing was sent.
    pub(crate) async fn run(
        &self,
        what: What<'_>,
        head: &request::Parts,
        response: Option<&response::Parts>,
    ) -> Option<ProcessStatus> {
        let filter = &self.generation.filter;
        let (prepared, mut stream) = {
            let st = self.lock();
            let mut x = Exchange::new(head).body(&self.body).vars(&st.vars);
            if let Some(c) = &self.conn {
                x = x.conn(c);
            }
            if let Some(id) = &self.unique_id {
                x = x.unique_id(id);
            }
            if let Some(r) = response {
                x = x.response(r);
            }
            let prepared = match what {
                What::Event(e) => filter.prepare_event(e, &x, &st.stream),
                What::Group(g) => filter.prepare_group(g, &x, &st.stream),
            }?;
            (prepared, st.stream)
        };
        let mut done = filter.process(prepared, &mut stream).await;
        self.generation.metrics.event(&done);
        let status = done.outcome.status;
        let mut st = self.lock();
        st.stream = stream;
        st.vars.apply(std::mem::take(&mut done.updates));
        if !status.is_ok() && st.failure.is_none() {
            st.failure = Some(status);
        }
        Some(status)
    }
}

/// The variables SPOE agents set for this request, by HAProxy's names, as a request
/// extension (and with the `axum` feature, an extractor). Cheap to clone: every clone is the
/// same request's state, so a group sent later ([`SpoeGroups::send`]) shows here too.
#[derive(Debug, Clone)]
pub struct SpoeVars(pub(crate) Arc<TxnState>);

impl SpoeVars {
    /// Variable `name` as a `T` (HAProxy's casts: see [`Vars::get`]).
    ///
    /// Agents' variables are set only when `spoe.conf` names them, the layer was told them
    /// ([`SpoeLayerBuilder::var_names`](super::SpoeLayerBuilder::var_names)), or the agent
    /// section has `option force-set-var`: HAProxy's rule.
    pub fn get<T: FromSample>(&self, name: &str) -> Option<T> {
        self.0.lock().vars.get(name)
    }

    /// Variable `name` as a sample.
    pub fn sample(&self, name: &str) -> Option<Sample> {
        self.0.lock().vars.sample(name)
    }

    /// A copy of every variable.
    pub fn snapshot(&self) -> Vars {
        self.0.lock().vars.clone()
    }

    /// The status of the first SPOE processing of this request that failed, if one did (with
    /// a fail-open layer, the handler decides what it means).
    pub fn failure(&self) -> Option<ProcessStatus> {
        self.0.lock().failure
    }
}

/// `send-spoe-group` for handler code: sends a `spoe-group`'s messages, evaluated on this
/// request, and applies the answer to its [`SpoeVars`]. A request extension (and an extractor
/// with the `axum` feature).
#[derive(Debug, Clone)]
pub struct SpoeGroups(pub(crate) Arc<TxnState>);

/// `send` named a group `spoe.conf` does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("spoe.conf's agent '{agent}' has no spoe-group '{group}'")]
pub struct UnknownGroup {
    /// The agent.
    pub agent: String,
    /// The group asked for.
    pub group: String,
}

impl SpoeGroups {
    /// Sends group `group` and waits for its answer, at most its `timeout processing`.
    /// `Ok(None)` when nothing was sent (every message's condition false, or SPOE stopped for
    /// this request after a failure without `option continue-on-error`); `Ok(Some(status))`
    /// otherwise, the failure's status also in the `set-on-error` variable.
    ///
    /// # Errors
    ///
    /// [`UnknownGroup`] when the configuration has no such group.
    pub async fn send(&self, group: &str) -> Result<Option<ProcessStatus>, UnknownGroup> {
        let txn = &self.0;
        let agent = &txn.generation.filter.config().agent;
        if agent.group(group).is_none() {
            return Err(UnknownGroup {
                agent: agent.id.clone(),
                group: group.to_owned(),
            });
        }
        // A generation with groups keeps the head.
        let Some(head) = &txn.head else {
            return Ok(None);
        };
        Ok(txn.run(What::Group(group), head, None).await)
    }

    /// The variables, as [`SpoeVars`].
    pub fn vars(&self) -> SpoeVars {
        SpoeVars(self.0.clone())
    }
}

impl From<&SpoeVars> for SpoeGroups {
    fn from(v: &SpoeVars) -> Self {
        Self(v.0.clone())
    }
}
