//! What an agent's author writes: a [`Handler`] that turns the messages of
//! one NOTIFY into [`Actions`].

use std::future::Future;

use bytes::Bytes;
use spop::{Action, TypedData, VarScope};

use crate::request::Request;

/// An error a handler returns: any error type converts with `?`. The runtime
/// logs it (through `tracing`, at WARN, rate-limited: install a subscriber to
/// see it) and answers with the fallback actions and the error variable, code
/// 10 (see [`crate::ErrorCause`]), instead of the handler's actions.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// The actions of one ACK, built in order.
///
/// ```
/// use spoa::Actions;
/// use spop::VarScope;
///
/// let mut actions = Actions::new();
/// actions.set_var(VarScope::Session, "ip_score", 10).unset_var(VarScope::Transaction, "tmp");
/// assert_eq!(actions.len(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actions {
    actions: Vec<Action>,
}

impl Actions {
    /// No actions (an empty ACK is a valid answer).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds SET-VAR `scope.name = value`.
    pub fn set_var(
        &mut self,
        scope: VarScope,
        name: impl Into<Bytes>,
        value: impl Into<TypedData>,
    ) -> &mut Self {
        self.actions.push(Action::set_var(scope, name, value));
        self
    }

    /// Adds UNSET-VAR `scope.name`.
    pub fn unset_var(&mut self, scope: VarScope, name: impl Into<Bytes>) -> &mut Self {
        self.actions.push(Action::unset_var(scope, name));
        self
    }

    /// Number of actions.
    pub fn len(&self) -> usize {
        self.actions.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// The actions, in order.
    pub fn into_vec(self) -> Vec<Action> {
        self.actions
    }

    /// The actions, in order.
    pub fn as_slice(&self) -> &[Action] {
        &self.actions
    }

    /// Appends `other`'s actions after these.
    pub fn extend(&mut self, other: Self) -> &mut Self {
        self.actions.extend(other.actions);
        self
    }

    /// The value the last SET-VAR of `scope.name` sets, unless a later
    /// UNSET-VAR removes it: what HAProxy would hold after this ACK (for
    /// assertions in tests).
    ///
    /// ```
    /// use spoa::{Actions, TypedData, VarScope};
    ///
    /// let mut actions = Actions::new();
    /// actions.set_var(VarScope::Transaction, "blocked", true);
    /// assert_eq!(actions.var(VarScope::Transaction, "blocked"), Some(&TypedData::Bool(true)));
    /// assert_eq!(actions.var(VarScope::Session, "blocked"), None);
    /// ```
    pub fn var(&self, scope: VarScope, name: &str) -> Option<&TypedData> {
        self.actions.iter().rev().find_map(|a| match a {
            Action::SetVar {
                scope: s,
                name: n,
                value,
            } if *s == scope && n == name.as_bytes() => Some(Some(value)),
            Action::UnsetVar { scope: s, name: n } if *s == scope && n == name.as_bytes() => {
                Some(None)
            }
            _ => None,
        })?
    }
}

impl From<Vec<Action>> for Actions {
    fn from(actions: Vec<Action>) -> Self {
        Self { actions }
    }
}

/// Answers NOTIFY frames. Implemented for every
/// `Fn(Request) -> impl Future<Output = Result<Actions, HandlerError>>`.
///
/// Calls run concurrently, up to [`crate::Config::max_in_flight`] per
/// connection, each under [`crate::Config::handler_timeout`]. A call that
/// fails, panics or overruns still produces an ACK: the fallback actions and
/// the error variable (see [`crate::ErrorCause`]); the failure is logged
/// through `tracing`.
///
/// A handler that keeps state is a struct; share what must outlive it with
/// `Arc` (the runtime already holds the handler in an `Arc` and calls it
/// through `&self` from every connection at once):
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use spoa::{Actions, Handler, HandlerError, Request, VarScope};
///
/// struct Counter {
///     seen: Arc<AtomicU64>,
/// }
///
/// impl Handler for Counter {
///     async fn handle(&self, _req: Request) -> Result<Actions, HandlerError> {
///         let n = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
///         let mut actions = Actions::new();
///         actions.set_var(VarScope::Process, "seen", n);
///         Ok(actions)
///     }
/// }
/// ```
///
/// # Never block the thread
///
/// **The handlers of one connection are polled inside that connection's
/// task**, without a task per message (it keeps the runtime's cost per
/// message near 3 us; see bench/README.md). A handler that blocks its
/// thread (synchronous I/O, a blocking lock, `std::thread::sleep`, heavy
/// CPU work) therefore stalls **every other handler of its connection and
/// the reading of its frames**, and its budget cannot fire: the timer is
/// only looked at when the handler yields, so a verdict that comes back late
/// is sent as a success (HAProxy may have given up on it meanwhile, with its
/// own `timeout processing`). HAProxy multiplexes many streams on one
/// connection, so one blocking call delays unrelated requests.
///
/// Move blocking work off the runtime's threads with
/// [`tokio::task::spawn_blocking`]; the handler then only awaits, the
/// connection keeps answering, and the budget works (the ACK carries error
/// code 12 when the blocking work takes too long; the blocking thread itself
/// runs to its end):
///
/// ```
/// use spoa::{Actions, HandlerError, Request, VarScope};
///
/// fn lookup_in_a_blocking_library(_ip: &str) -> i32 { 42 }
///
/// let handler = |req: Request| async move {
///     let ip = req.messages.first().and_then(|m| m.get("ip")).map(|v| format!("{v:?}"));
///     let score = tokio::task::spawn_blocking(move || {
///         lookup_in_a_blocking_library(ip.as_deref().unwrap_or(""))
///     })
///     .await?;
///     let mut actions = Actions::new();
///     actions.set_var(VarScope::Transaction, "score", score);
///     Ok::<_, HandlerError>(actions)
/// };
/// # let _ = spoa::Server::new(handler, spoa::Config::default());
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Decides the actions for one NOTIFY.
    fn handle(
        &self,
        request: Request,
    ) -> impl Future<Output = Result<Actions, HandlerError>> + Send;
}

impl<F, Fut> Handler for F
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Actions, HandlerError>> + Send,
{
    fn handle(
        &self,
        request: Request,
    ) -> impl Future<Output = Result<Actions, HandlerError>> + Send {
        self(request)
    }
}
