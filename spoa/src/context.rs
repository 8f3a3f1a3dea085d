//! What a handler knows besides the messages: the engine it talks to (from
//! the handshake), its peer address and its time budget; and
//! [`RequestBuilder`], to build a [`Request`] outside the runtime (tests).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use spop::{AgentHello, Capabilities, HaproxyHello, Message, Version};
use tokio::time::Instant;

use crate::handler::Request;

/// The engine at the other end of a connection, as the handshake left it.
/// Shared by every [`Request`] of the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EngineInfo {
    /// The `engine-id` the engine sent in HAPROXY-HELLO (HAProxy sends one
    /// per SPOE engine and process), if any.
    pub engine_id: Option<String>,
    /// The SPOP version agreed on.
    pub version: Version,
    /// The max-frame-size agreed on: no ACK may be larger.
    pub max_frame_size: u32,
    /// The capabilities agreed on (what both sides announced; fragmentation
    /// is what this agent accepts).
    pub capabilities: Capabilities,
    /// The capabilities the engine offered.
    pub engine_capabilities: Capabilities,
}

impl EngineInfo {
    /// What the handshake `hello` / `answer` agreed on.
    pub fn from_handshake(hello: &HaproxyHello, answer: &AgentHello) -> Self {
        Self {
            engine_id: hello.engine_id.clone(),
            version: answer.version,
            max_frame_size: answer.max_frame_size,
            capabilities: answer.capabilities,
            engine_capabilities: hello.capabilities,
        }
    }
}

impl Default for EngineInfo {
    /// HAProxy 2.6's defaults: SPOP 2.0, 16380-byte frames, pipelining, no
    /// engine id.
    fn default() -> Self {
        let caps = Capabilities {
            pipelining: true,
            async_: false,
            fragmentation: false,
        };
        Self {
            engine_id: None,
            version: Version::V2_0,
            max_frame_size: spop::HAPROXY_DEFAULT_FRAME_SIZE,
            capabilities: caps,
            engine_capabilities: caps,
        }
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
            budget: crate::Config::default().handler_timeout,
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
