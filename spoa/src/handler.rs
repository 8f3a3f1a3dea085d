//! What an agent's author writes: a [`Handler`] that turns the messages of
//! one NOTIFY into [`Actions`].

use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;
use spop::{Action, Message, TypedData, VarScope};

/// An error a handler returns. The runtime logs it (rate-limited) and
/// answers with the fallback actions and the error variable, code 10 (see
/// [`crate::ErrorCause`]).
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// The messages of one NOTIFY frame.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Request {
    /// The engine's stream-id.
    pub stream_id: u64,
    /// The engine's frame-id.
    pub frame_id: u64,
    /// The messages, in the order the engine sent them.
    pub messages: Vec<Message>,
    /// The engine's address, when the connection is TCP.
    pub peer: Option<SocketAddr>,
}

impl Request {
    /// The first message called `name`.
    pub fn message(&self, name: &str) -> Option<&Message> {
        self.messages.iter().find(|m| m.name == name.as_bytes())
    }
}

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
/// the error variable (see [`crate::ErrorCause`]).
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
/// use spoa::{Actions, HandlerError, Request};
/// use spop::VarScope;
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
