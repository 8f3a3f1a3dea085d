//! Testing an agent without HAProxy.
//!
//! Three levels:
//!
//! - a handler alone: build a [`Request`] with [`Request::builder`], run it
//!   with [`call`] (under its budget, as the runtime would), and assert on the
//!   [`Actions`] ([`Actions::var`] reads what HAProxy would hold);
//! - the whole runtime path: [`Engine`] plays HAProxy's engine (2.6 or 3.1+,
//!   [`Haproxy`]) against a [`Server`] over an in-memory pipe, the way HAProxy
//!   would over TCP: handshake, NOTIFY/ACK, pipelining, the budget and its
//!   error path, drain; and, for what HAProxy never sends, raw frames and
//!   bytes;
//! - a real socket: [`RunningAgent`] serves a [`Server`] on a loopback port
//!   the test gets back (or a Unix socket), for HAProxy itself or another
//!   process to reach; [`Engine::dial`] reaches it too.
//!
//! The engine's protocol is `spop`'s own state machine
//! ([`spop::engine::EngineConnection`]), the one the `spoe` engine runs.
//!
//! ```
//! use std::time::Duration;
//! use spoa::testing::{Engine, call};
//! use spoa::{Actions, Config, HandlerError, Message, Request, Server, TypedData, VarScope};
//!
//! async fn check(req: Request) -> Result<Actions, HandlerError> {
//!     let ua: &str = req.arg("ua")?;
//!     let mut actions = Actions::new();
//!     actions.set_var(VarScope::Transaction, "bot", ua.contains("bot"));
//!     Ok(actions)
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! // The handler alone.
//! let req = Request::builder().message(Message::new("check").arg("ua", "a-bot/1")).build();
//! let actions = call(&check, req).await?;
//! assert_eq!(actions.var(VarScope::Transaction, "bot"), Some(&TypedData::Bool(true)));
//!
//! // Behind the runtime, over SPOP.
//! let server = Server::new(check, Config::default())?;
//! let mut engine = Engine::connect(&server).await?;
//! let actions = engine.notify(vec![Message::new("check").arg("ua", "curl/8")]).await?;
//! assert_eq!(actions.var(VarScope::Transaction, "bot"), Some(&TypedData::Bool(false)));
//! engine.disconnect().await?;
//! # Ok(())
//! # }
//! ```

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use spop::agent::ConnectionEnd;
pub use spop::engine::Haproxy;
use spop::engine::{EngineConfig, EngineEnd, EngineEvent};
use spop::{AgentHello, Disconnect, Frame, HaproxyHello, Message, Status, VarScope};
use spop_io::{Addr, EnginePeer, HandshakeFailed};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::handler::{Actions, Handler, HandlerError};
use crate::listener::Listener;
use crate::request::Request;
use crate::server::Server;

/// Runs `handler` on `request` under the request's budget, as the runtime
/// does: past [`Request::deadline`] the call is cancelled and an error says
/// so. A panic is not caught (the test fails with it).
pub async fn call<H: Handler>(handler: &H, request: Request) -> Result<Actions, HandlerError> {
    let deadline = request.deadline;
    match tokio::time::timeout_at(deadline, handler.handle(request)).await {
        Ok(r) => r,
        Err(_) => Err("handler overran its budget (Request::deadline)".into()),
    }
}

/// `echo`: for every argument of every message, SET-VAR in scope
/// TRANSACTION with the argument's name and the same typed value. An unnamed
/// argument is called `arg<N>`, N its zero-based position in its message. A
/// stand-in agent for tests of engines and proxies.
#[derive(Debug, Clone, Copy, Default)]
pub struct Echo;

impl Echo {
    /// The actions for `request`: [`Echo::into_actions`] on a copy of it.
    pub fn actions(request: &Request) -> Actions {
        Self::into_actions(request.clone())
    }

    /// The actions for `request`, taking its names and values instead of
    /// sharing them: what [`Handler::handle`] answers, with no reference
    /// count taken per argument (bench/README.md, "Session 8: the agent per
    /// message").
    pub fn into_actions(request: Request) -> Actions {
        let mut actions = Actions::new();
        for message in request.messages {
            for (i, arg) in message.args.into_iter().enumerate() {
                if arg.name.is_empty() {
                    actions.set_var(VarScope::Transaction, format!("arg{i}"), arg.value);
                } else {
                    actions.set_var(VarScope::Transaction, arg.name, arg.value);
                }
            }
        }
        actions
    }
}

impl Handler for Echo {
    async fn handle(&self, request: Request) -> Result<Actions, HandlerError> {
        Ok(Self::into_actions(request))
    }
}

/// How long [`Engine`] and [`RunningAgent`] wait for any one answer before
/// they give up with [`io::ErrorKind::TimedOut`].
pub const ENGINE_WAIT: Duration = Duration::from_secs(10);

/// The HAPROXY-HELLO [`Engine::connect`] sends: HAProxy 2.6's, with
/// engine-id `spoa-testing`.
pub fn haproxy_hello() -> HaproxyHello {
    Haproxy::V2_6.hello(Some("spoa-testing".into()))
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

fn protocol(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

async fn bounded<T>(what: &str, f: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    tokio::time::timeout(ENGINE_WAIT, f)
        .await
        .unwrap_or_else(|_| {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{what}: no answer within {ENGINE_WAIT:?}"),
            ))
        })
}

/// An engine in the test's process, speaking SPOP to one agent connection
/// the way HAProxy does.
///
/// Every wait is bounded by [`ENGINE_WAIT`]; dropping the engine cancels the
/// connection's task (for an agent served in memory).
#[derive(Debug)]
pub struct Engine {
    peer: EnginePeer<Box<dyn Io>>,
    /// The agent's side of an in-memory connection.
    agent: JoinSet<ConnectionEnd>,
    stop: CancellationToken,
    hello: AgentHello,
}

impl std::fmt::Debug for dyn Io {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Io")
    }
}

impl Engine {
    /// Connects to `server` and shakes hands as HAProxy 2.6 does
    /// ([`haproxy_hello`]).
    ///
    /// # Errors
    ///
    /// When the agent does not answer an AGENT-HELLO HAProxy accepts (the
    /// error says what happened instead).
    pub async fn connect<H: Handler>(server: &Server<H>) -> io::Result<Self> {
        Self::connect_with(server, haproxy_hello()).await
    }

    /// Connects to `server` and shakes hands as `haproxy` does.
    ///
    /// # Errors
    ///
    /// As [`Engine::connect`].
    pub async fn connect_as<H: Handler>(server: &Server<H>, haproxy: Haproxy) -> io::Result<Self> {
        Self::connect_with(server, haproxy.hello(Some("spoa-testing".into()))).await
    }

    /// Connects to `server` and shakes hands with `hello`.
    ///
    /// # Errors
    ///
    /// As [`Engine::connect`].
    pub async fn connect_with<H: Handler>(
        server: &Server<H>,
        hello: HaproxyHello,
    ) -> io::Result<Self> {
        let mut engine = Self::open(server);
        engine.handshake(hello).await?;
        Ok(engine)
    }

    /// Connects to `server` over an in-memory pipe and sends nothing yet:
    /// the test may send raw frames ([`Engine::send`]) before any
    /// [`Engine::handshake`].
    pub fn open<H: Handler>(server: &Server<H>) -> Self {
        let (ours, theirs) = tokio::io::duplex(1 << 20);
        let stop = CancellationToken::new();
        let mut agent = JoinSet::new();
        let (server, token) = (server.clone(), stop.clone());
        agent.spawn(async move { server.serve_connection(theirs, None, token).await });
        Self::over(Box::new(ours), agent, stop)
    }

    /// Connects to an agent at `addr` (a [`RunningAgent`], or any agent)
    /// and sends nothing yet.
    ///
    /// # Errors
    ///
    /// When the connection fails.
    pub async fn dial(addr: &Addr) -> io::Result<Self> {
        let io = bounded("connecting", addr.connect()).await?;
        Ok(Self::over(
            Box::new(io),
            JoinSet::new(),
            CancellationToken::new(),
        ))
    }

    /// Connects over TCP to `addr` with `SO_LINGER` 0: dropping the engine
    /// then resets the connection, as HAProxy 3.1+ closes after the last ACK.
    ///
    /// # Errors
    ///
    /// When the connection fails.
    pub async fn dial_resettable(addr: SocketAddr) -> io::Result<Self> {
        let s = bounded("connecting", tokio::net::TcpStream::connect(addr)).await?;
        s.set_nodelay(true)?;
        s.set_zero_linger()?;
        Ok(Self::over(
            Box::new(s),
            JoinSet::new(),
            CancellationToken::new(),
        ))
    }

    fn over(io: Box<dyn Io>, agent: JoinSet<ConnectionEnd>, stop: CancellationToken) -> Self {
        Self {
            peer: EnginePeer::new(io),
            agent,
            stop,
            hello: AgentHello {
                version: spop::Version::V2_0,
                max_frame_size: 0,
                capabilities: spop::Capabilities::default(),
            },
        }
    }

    /// Sends `hello` and waits for the agent's AGENT-HELLO, judged with
    /// HAProxy's rules.
    ///
    /// # Errors
    ///
    /// When the agent does not answer an AGENT-HELLO HAProxy accepts.
    pub async fn handshake(&mut self, hello: HaproxyHello) -> io::Result<AgentHello> {
        let mut config = EngineConfig::new(hello);
        config.timeout_hello = ENGINE_WAIT;
        match bounded("the handshake", async {
            Ok(self.peer.handshake(config).await)
        })
        .await?
        {
            Ok(agreed) => {
                self.hello = agreed.clone();
                Ok(agreed)
            }
            Err(HandshakeFailed::Io(e)) => Err(e),
            Err(failed) => Err(protocol(format!(
                "no AGENT-HELLO HAProxy accepts: {failed} (agent's end: {:?})",
                self.stop_and_wait().await
            ))),
        }
    }

    /// What the agent answered in its AGENT-HELLO.
    pub fn agent_hello(&self) -> &AgentHello {
        &self.hello
    }

    /// Sends one NOTIFY with `messages` and waits for its ACK.
    ///
    /// # Errors
    ///
    /// When the agent sends anything but that ACK, closes, or does not answer
    /// within [`ENGINE_WAIT`].
    pub async fn notify(&mut self, messages: Vec<Message>) -> io::Result<Actions> {
        let ids = self.send_notify(messages).await?;
        let (s, f, actions) = self.recv_ack().await?;
        if (s, f) != ids {
            return Err(protocol(format!(
                "ACK for stream {s} frame {f}, expected stream {} frame {}",
                ids.0, ids.1
            )));
        }
        Ok(actions)
    }

    /// Sends one NOTIFY without waiting (to have several in flight), on the
    /// next stream-id with frame-id 1 (HAProxy 3.1+'s numbering): returns
    /// the ids its ACK will carry.
    ///
    /// # Errors
    ///
    /// Before the handshake, or when the pipe is closed.
    pub async fn send_notify(&mut self, messages: Vec<Message>) -> io::Result<(u64, u64)> {
        let deadline = Instant::now() + ENGINE_WAIT;
        bounded(
            "writing to the agent",
            self.peer.notify(&messages, deadline),
        )
        .await
    }

    /// Sends one NOTIFY with chosen ids without waiting: HAProxy 2.x sends
    /// the stream's id and a frame-id per event of that stream.
    ///
    /// # Errors
    ///
    /// Before the handshake, for ids already in flight, or when the pipe is
    /// closed.
    pub async fn send_notify_with_ids(
        &mut self,
        stream_id: u64,
        frame_id: u64,
        messages: Vec<Message>,
    ) -> io::Result<()> {
        let deadline = Instant::now() + ENGINE_WAIT;
        bounded(
            "writing to the agent",
            self.peer
                .notify_with_ids(stream_id, frame_id, &messages, deadline),
        )
        .await
    }

    /// The next ACK: stream-id, frame-id and actions.
    ///
    /// # Errors
    ///
    /// When the agent ends the connection or breaks the protocol first, or
    /// nothing comes within [`ENGINE_WAIT`].
    pub async fn recv_ack(&mut self) -> io::Result<(u64, u64, Actions)> {
        loop {
            match self.next_event().await? {
                Some(EngineEvent::Ack {
                    stream_id,
                    frame_id,
                    actions,
                    ..
                }) => return Ok((stream_id, frame_id, actions.to_vec().into())),
                Some(EngineEvent::Skipped(_)) => {}
                Some(other) => return Err(protocol(format!("expected an ACK, got {other:?}"))),
                None => return Err(protocol("the connection is over".into())),
            }
        }
    }

    /// The engine's next event (see [`EngineEvent`]): an ACK, a deadline
    /// passed, the connection's end...; `None` once it is over.
    ///
    /// # Errors
    ///
    /// Before the handshake, or when nothing happens within [`ENGINE_WAIT`].
    pub async fn next_event(&mut self) -> io::Result<Option<EngineEvent<()>>> {
        bounded("reading from the agent", self.peer.next_event()).await
    }

    /// Writes one frame as it is (no size check). After the handshake, the
    /// ACK of a NOTIFY sent this way is waited for as any other.
    ///
    /// # Errors
    ///
    /// When the pipe is closed, or the write blocks for [`ENGINE_WAIT`].
    pub async fn send(&mut self, frame: &Frame) -> io::Result<()> {
        let deadline = Instant::now() + ENGINE_WAIT;
        bounded(
            "writing to the agent",
            self.peer.send_frame(frame, deadline),
        )
        .await
    }

    /// Writes bytes as they are.
    ///
    /// # Errors
    ///
    /// When the pipe is closed, or the write blocks for [`ENGINE_WAIT`].
    pub async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        bounded("writing to the agent", self.peer.send_raw(bytes)).await
    }

    /// Before the handshake: the next frame from the agent, as it is; `None`
    /// at the end of the stream.
    ///
    /// # Errors
    ///
    /// After the handshake began (frames then go to the engine's state
    /// machine: see [`Engine::next_event`]), an invalid frame, or nothing
    /// within [`ENGINE_WAIT`].
    pub async fn recv(&mut self) -> io::Result<Option<Frame>> {
        bounded("reading from the agent", async {
            self.peer
                .recv_frame()
                .await
                .map_err(|e| protocol(format!("agent sent an invalid frame: {e}")))
        })
        .await
    }

    /// The agent's next move is AGENT-DISCONNECT with `status` (and HAProxy's
    /// text for it), then the end of the connection.
    ///
    /// # Errors
    ///
    /// When anything else comes, or nothing within [`ENGINE_WAIT`].
    pub async fn expect_disconnect(&mut self, status: Status) -> io::Result<()> {
        let d = if self.peer.connection().is_none() {
            match self.recv().await? {
                Some(Frame {
                    body: spop::Body::AgentDisconnect(kv),
                    ..
                }) => Disconnect::from_kv(&kv).map_err(|e| protocol(e.to_string()))?,
                other => {
                    return Err(protocol(format!(
                        "expected AGENT-DISCONNECT {status}, got {other:?}"
                    )));
                }
            }
        } else {
            match self.next_event().await? {
                Some(EngineEvent::Closing {
                    end: EngineEnd::AgentDisconnect(d),
                    ..
                }) => d,
                other => {
                    return Err(protocol(format!(
                        "expected AGENT-DISCONNECT {status}, got {other:?}"
                    )));
                }
            }
        };
        if d.status != status || Some(d.message.as_str()) != status.reason() {
            return Err(protocol(format!(
                "expected AGENT-DISCONNECT {status}, got {} ({:?})",
                d.status, d.message
            )));
        }
        self.expect_closed().await
    }

    /// The agent closes the connection, sending nothing more.
    ///
    /// # Errors
    ///
    /// When anything comes, the connection fails, or it stays open for
    /// [`ENGINE_WAIT`].
    pub async fn expect_closed(&mut self) -> io::Result<()> {
        if self.peer.connection().is_none() {
            return match self.recv().await? {
                None => Ok(()),
                Some(f) => Err(protocol(format!("expected the end, got {f:?}"))),
            };
        }
        while let Some(event) = self.next_event().await? {
            let ends = matches!(
                event,
                EngineEvent::Closing {
                    end: EngineEnd::HealthCheck | EngineEnd::Broken(_),
                    ..
                } | EngineEvent::Closed { .. }
            );
            if !ends {
                return Err(protocol(format!("expected the end, got {event:?}")));
            }
        }
        if bounded("waiting for the end", async {
            Ok(self.peer.until_end().await)
        })
        .await?
        {
            Ok(())
        } else {
            Err(protocol("the connection failed instead of closing".into()))
        }
    }

    /// Sends HAPROXY-DISCONNECT (status 0), expects AGENT-DISCONNECT and the
    /// end of the connection. ACKs still in flight are read and dropped.
    ///
    /// # Errors
    ///
    /// When the agent does not answer AGENT-DISCONNECT.
    pub async fn goodbye(&mut self) -> io::Result<()> {
        let conn = self
            .peer
            .connection_mut()
            .ok_or_else(|| protocol("no handshake yet".into()))?;
        conn.disconnect(Status::NORMAL, Instant::now().into_std());
        loop {
            match self.next_event().await? {
                Some(EngineEvent::Closed { reply: Some(_) }) => break,
                Some(EngineEvent::Closed { reply: None }) | None => {
                    return Err(protocol("agent closed without AGENT-DISCONNECT".into()));
                }
                Some(_) => {}
            }
        }
        bounded("waiting for the end", async {
            Ok(self.peer.until_end().await)
        })
        .await?;
        Ok(())
    }

    /// [`Engine::goodbye`], then how the agent's side of an in-memory
    /// connection ended.
    ///
    /// # Errors
    ///
    /// As [`Engine::goodbye`] and [`Engine::end`].
    pub async fn disconnect(mut self) -> io::Result<ConnectionEnd> {
        self.goodbye().await?;
        self.end().await
    }

    /// Stops the agent's side as a graceful shutdown does (the token given to
    /// [`Server::serve_connection`]) and returns what the engine saw until
    /// the agent closed (the drained ACKs, then AGENT-DISCONNECT), and how
    /// the agent's side ended.
    ///
    /// # Errors
    ///
    /// When the agent does not close within [`ENGINE_WAIT`].
    pub async fn shutdown(mut self) -> io::Result<(Vec<EngineEvent<()>>, ConnectionEnd)> {
        self.stop.cancel();
        let mut events = Vec::new();
        while let Some(event) = self.next_event().await? {
            events.push(event);
        }
        Ok((events, self.end().await?))
    }

    /// How the agent's side of an in-memory connection ended, once it did.
    ///
    /// # Errors
    ///
    /// For an agent reached with [`Engine::dial`], or when its connection
    /// does not end within [`ENGINE_WAIT`].
    pub async fn end(&mut self) -> io::Result<ConnectionEnd> {
        match bounded("the agent's connection task", async {
            Ok(self.agent.join_next().await)
        })
        .await?
        {
            Some(Ok(end)) => Ok(end),
            Some(Err(e)) => Err(io::Error::other(format!(
                "the agent's connection task failed: {e}"
            ))),
            None => Err(io::Error::other(
                "no agent connection in this process (Engine::dial)",
            )),
        }
    }

    /// Closes the engine's writing side: the agent reads the end of the
    /// stream, as when HAProxy closes an idle connection.
    ///
    /// # Errors
    ///
    /// When the pipe fails.
    pub async fn close(&mut self) -> io::Result<()> {
        bounded("closing", self.peer.shutdown_write()).await
    }

    /// Cancels the agent's side as a graceful shutdown does, without
    /// waiting.
    pub fn stop_agent(&self) {
        self.stop.cancel();
    }

    async fn stop_and_wait(&mut self) -> Option<ConnectionEnd> {
        self.stop.cancel();
        self.end().await.ok()
    }
}

/// A [`Server`] serving on a socket of the test's process (a loopback port
/// the system picks, or a Unix socket), stopped gracefully by
/// [`RunningAgent::stop`] and at once when dropped.
#[derive(Debug)]
pub struct RunningAgent {
    addr: Addr,
    stop: CancellationToken,
    task: JoinSet<io::Result<()>>,
}

impl RunningAgent {
    /// Serves `server` on `127.0.0.1`, on a port the system picks.
    ///
    /// # Errors
    ///
    /// When no port can be bound.
    pub async fn start<H: Handler>(server: &Server<H>) -> io::Result<Self> {
        Self::start_on(server, &Addr::Tcp(SocketAddr::from(([127, 0, 0, 1], 0)))).await
    }

    /// Serves `server` on `addr` (port 0 picks one).
    ///
    /// # Errors
    ///
    /// When `addr` cannot be bound.
    pub async fn start_on<H: Handler>(server: &Server<H>, addr: &Addr) -> io::Result<Self> {
        let listener = Listener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let mut task = JoinSet::new();
        let (server, token) = (server.clone(), stop.clone());
        task.spawn(async move { server.serve(listener, token).await });
        Ok(Self { addr, stop, task })
    }

    /// Where it listens.
    pub fn addr(&self) -> &Addr {
        &self.addr
    }

    /// Where it listens, when it is TCP.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.addr.tcp()
    }

    /// Stops as `serve` does on its token: no new connection, in-flight
    /// handlers finish, AGENT-DISCONNECT 0; returns once it is done.
    ///
    /// # Errors
    ///
    /// What serving ended with, or a timeout past [`ENGINE_WAIT`].
    pub async fn stop(mut self) -> io::Result<()> {
        self.stop.cancel();
        match bounded("stopping the agent", async {
            Ok(self.task.join_next().await)
        })
        .await?
        {
            Some(Ok(r)) => r,
            Some(Err(e)) => Err(io::Error::other(format!("the agent's task failed: {e}"))),
            None => Ok(()),
        }
    }
}

impl Drop for RunningAgent {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
