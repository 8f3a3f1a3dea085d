//! Routing by message name: one handler per `spoe-message`.
//!
//! A NOTIFY carries every message of one event (or of one `spoe-group`), so
//! an agent serving several messages would otherwise open each request with a
//! `match` on names. [`Router`] does that match.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::future::try_join_all;
use tracing::debug;

use crate::handler::{Actions, Handler, HandlerError};
use crate::request::Request;

type BoxFuture<'a> = Pin<Box<dyn Future<Output = Result<Actions, HandlerError>> + Send + 'a>>;

/// [`Handler`] with the `impl Future` boxed, so that handlers of different
/// types can share one map.
trait ErasedHandler: Send + Sync + 'static {
    fn call(&self, request: Request) -> BoxFuture<'_>;
}

impl<H: Handler> ErasedHandler for H {
    fn call(&self, request: Request) -> BoxFuture<'_> {
        Box::pin(self.handle(request))
    }
}

/// A [`Handler`] that sends each message of a NOTIFY to the handler
/// registered for its name.
///
/// - Each routed handler gets a [`Request`] holding exactly its message, with
///   the NOTIFY's context (ids, peer, deadline, engine); so
///   [`Request::arg`] reads that message's arguments.
/// - The handlers of one NOTIFY run concurrently, under the NOTIFY's one
///   budget; their actions are merged in the order of the messages in the
///   frame (not the order they finish in).
/// - A message with no route is ignored (logged at DEBUG): HAProxy sends
///   what `spoe.conf` says, and an agent may serve only part of it.
/// - When one handler fails, the whole NOTIFY fails: the others are
///   cancelled, none of their actions is sent, and the runtime answers with
///   its error path, as for a single handler. A partial answer would let
///   HAProxy act on half a decision.
///
/// ```
/// use spoa::{Actions, HandlerError, Request, Router, VarScope};
///
/// async fn check_ua(req: Request) -> Result<Actions, HandlerError> {
///     let ua: &str = req.arg("ua")?;
///     let mut actions = Actions::new();
///     actions.set_var(VarScope::Transaction, "bot", ua.to_ascii_lowercase().contains("bot"));
///     Ok(actions)
/// }
///
/// let router = Router::new()
///     .route("check-ua", check_ua)
///     .route("log-request", |_req: Request| async { Ok(Actions::new()) });
/// assert!(router.has_route("check-ua"));
/// ```
#[derive(Default)]
pub struct Router {
    routes: HashMap<Bytes, Box<dyn ErasedHandler>>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<_> = self
            .routes
            .keys()
            .map(|k| String::from_utf8_lossy(k))
            .collect();
        names.sort();
        f.debug_struct("Router").field("routes", &names).finish()
    }
}

impl Router {
    /// A router with no routes (it answers every NOTIFY with no actions).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends messages called `message` (the `spoe-message` name) to
    /// `handler`. A second route for the same name replaces the first.
    #[must_use]
    pub fn route(mut self, message: impl Into<Bytes>, handler: impl Handler) -> Self {
        self.routes.insert(message.into(), Box::new(handler));
        self
    }

    /// Whether messages called `message` have a handler.
    pub fn has_route(&self, message: &str) -> bool {
        self.routes.contains_key(message.as_bytes())
    }
}

impl Handler for Router {
    async fn handle(&self, request: Request) -> Result<Actions, HandlerError> {
        let mut calls = Vec::with_capacity(request.messages.len());
        for message in &request.messages {
            match self.routes.get(&message.name) {
                Some(handler) => {
                    calls.push(handler.call(request.with_messages(vec![message.clone()])));
                }
                None => debug!(
                    stream_id = request.stream_id,
                    frame_id = request.frame_id,
                    message = %String::from_utf8_lossy(&message.name),
                    "no route for this message: ignored"
                ),
            }
        }
        // try_join_all keeps the input order and stops at the first error,
        // dropping (cancelling) the other calls.
        let answers = try_join_all(calls).await?;
        let mut actions = Actions::new();
        for a in answers {
            actions.extend(a);
        }
        Ok(actions)
    }
}
