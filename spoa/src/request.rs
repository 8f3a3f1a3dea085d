//! What a handler receives: the messages of one NOTIFY and its context
//! ([`Request`]), and [`RequestBuilder`] to build one outside the runtime
//! (tests).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use spop::{ArgError, Message, TypeError, TypedData};
use tokio::time::Instant;

use crate::engine_info::EngineInfo;

/// The messages of one NOTIFY frame, and what the handler may need to answer
/// them: the time it has left, the engine and its address.
///
/// Build one outside the runtime with [`Request::builder`].
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
    /// When the handler's budget ([`crate::Config::handler_timeout`]) runs
    /// out: past it the runtime cancels the handler. Give calls to other
    /// services a timeout within [`Request::remaining`].
    pub deadline: Instant,
    /// The engine, as the handshake left it (engine-id, max-frame-size,
    /// capabilities). Shared by the requests of one connection.
    pub engine: Arc<EngineInfo>,
}

impl Request {
    /// A request built field by field (for tests: [`crate::testing`]).
    pub fn builder() -> RequestBuilder {
        RequestBuilder::default()
    }

    pub(crate) fn from_parts(
        stream_id: u64,
        frame_id: u64,
        messages: Vec<Message>,
        peer: Option<SocketAddr>,
        deadline: Instant,
        engine: Arc<EngineInfo>,
    ) -> Self {
        Self {
            stream_id,
            frame_id,
            messages,
            peer,
            deadline,
            engine,
        }
    }

    /// The same context with other messages (what [`crate::Router`] hands
    /// each routed handler).
    pub fn with_messages(&self, messages: Vec<Message>) -> Self {
        Self {
            messages,
            engine: self.engine.clone(),
            ..*self
        }
    }

    /// The first message called `name`.
    pub fn message(&self, name: &str) -> Option<&Message> {
        self.messages.iter().find(|m| m.name == name.as_bytes())
    }

    /// The argument `name` of the first message, as `T`: in a handler served
    /// through a [`crate::Router`] the request holds exactly the routed
    /// message. The error names the argument, the type expected and the type
    /// received; `?` turns it into a [`crate::HandlerError`].
    ///
    /// ```
    /// use std::net::IpAddr;
    /// use spoa::{Message, Request};
    ///
    /// let req = Request::builder()
    ///     .message(Message::new("check").arg("ip", IpAddr::from([192, 0, 2, 1])).arg("ua", "curl/8"))
    ///     .build();
    /// let ip: IpAddr = req.arg("ip")?;
    /// let ua: &str = req.arg("ua")?;
    /// assert_eq!((ip.to_string().as_str(), ua), ("192.0.2.1", "curl/8"));
    /// let err = req.arg::<bool>("ua").unwrap_err();
    /// assert_eq!(err.to_string(), r#"argument "ua" of message "check": expected BOOL, got STRING"#);
    /// # Ok::<(), spoa::ArgError>(())
    /// ```
    pub fn arg<'a, T>(&'a self, name: &str) -> Result<T, ArgError>
    where
        T: TryFrom<&'a TypedData, Error = TypeError>,
    {
        match self.messages.first() {
            Some(m) => m.get_as(name),
            None => Err(ArgError::Missing {
                message: String::new(),
                arg: name.to_owned(),
            }),
        }
    }

    /// As [`Request::arg`] for an optional argument: `Ok(None)` when it is
    /// missing or NULL (a sample HAProxy could not fetch).
    pub fn arg_opt<'a, T>(&'a self, name: &str) -> Result<Option<T>, ArgError>
    where
        T: TryFrom<&'a TypedData, Error = TypeError>,
    {
        match self.messages.first() {
            Some(m) => m.get_opt(name),
            None => Ok(None),
        }
    }

    /// The time left before the runtime cancels the handler (zero once past).
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// Builds a [`Request`] outside the runtime, for tests (see
/// [`crate::testing`]) or to call a handler from another one.
///
/// ```
/// use std::net::Ipv4Addr;
/// use std::time::Duration;
/// use spoa::{Message, Request};
///
/// let req = Request::builder()
///     .message(Message::new("check-client-ip").arg("ip", Ipv4Addr::new(192, 0, 2, 7)))
///     .budget(Duration::from_millis(50))
///     .build();
/// assert_eq!(req.arg::<Ipv4Addr>("ip")?, Ipv4Addr::new(192, 0, 2, 7));
/// # Ok::<(), spoa::ArgError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct RequestBuilder {
    stream_id: u64,
    frame_id: u64,
    messages: Vec<Message>,
    peer: Option<SocketAddr>,
    budget: Duration,
    engine: EngineInfo,
}

impl Default for RequestBuilder {
    fn default() -> Self {
        Self {
            stream_id: 1,
            frame_id: 1,
            messages: Vec::new(),
            peer: None,
            budget: crate::config::Config::default().handler_timeout,
            engine: EngineInfo::default(),
        }
    }
}

impl RequestBuilder {
    /// Adds a message (they keep this order).
    pub fn message(mut self, message: Message) -> Self {
        self.messages.push(message);
        self
    }

    /// The engine's stream-id and frame-id (default 1 and 1).
    pub fn ids(mut self, stream_id: u64, frame_id: u64) -> Self {
        self.stream_id = stream_id;
        self.frame_id = frame_id;
        self
    }

    /// The engine's address (default none, as over a Unix socket).
    pub fn peer(mut self, peer: SocketAddr) -> Self {
        self.peer = Some(peer);
        self
    }

    /// The handler's budget, counted from [`RequestBuilder::build`] (default
    /// [`crate::Config::handler_timeout`]'s default, 1 s).
    pub fn budget(mut self, budget: Duration) -> Self {
        self.budget = budget;
        self
    }

    /// The engine, as a handshake would have left it (default
    /// [`EngineInfo::default`]).
    pub fn engine(mut self, engine: EngineInfo) -> Self {
        self.engine = engine;
        self
    }

    /// The request; its deadline is now plus the budget.
    pub fn build(self) -> Request {
        Request::from_parts(
            self.stream_id,
            self.frame_id,
            self.messages,
            self.peer,
            Instant::now() + self.budget,
            Arc::new(self.engine),
        )
    }
}
