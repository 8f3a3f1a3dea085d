//! Testing an agent without HAProxy.
//!
//! Two levels:
//!
//! - a handler alone: build a [`Request`] with [`Request::builder`], run it
//!   with [`call`] (under its budget, as the runtime would), and assert on the
//!   [`Actions`] ([`Actions::var`] reads what HAProxy would hold);
//! - the whole runtime path: [`Engine`] speaks SPOP to a [`Server`] over an
//!   in-memory pipe (`tokio::io::duplex`), the way HAProxy would over TCP:
//!   handshake, NOTIFY/ACK, pipelining, the budget and its error path, drain.
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
use std::time::Duration;

use bytes::BytesMut;
use spop::{
    AgentHello, Body, Capabilities, Disconnect, Frame, FrameDecoder, HaproxyHello, Message, Status,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::connection::ConnectionEnd;
use crate::handler::{Actions, Handler, HandlerError, Request};
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

/// How long [`Engine`] waits for any one answer before it gives up with
/// [`io::ErrorKind::TimedOut`].
pub const ENGINE_WAIT: Duration = Duration::from_secs(10);

/// The HAPROXY-HELLO [`Engine::connect`] sends: what HAProxy 2.6 sends with
/// `option pipelining`, and engine-id `spoa-testing`.
pub fn haproxy_hello() -> HaproxyHello {
    HaproxyHello {
        supported_versions: "2.0".into(),
        max_frame_size: spop::HAPROXY_DEFAULT_FRAME_SIZE,
        capabilities: Capabilities {
            pipelining: true,
            async_: false,
            fragmentation: false,
        },
        healthcheck: false,
        engine_id: Some("spoa-testing".into()),
    }
}

/// An engine in the test's process: it serves one connection of `server`
/// over an in-memory pipe and speaks SPOP to it the way HAProxy does.
///
/// Every wait is bounded by [`ENGINE_WAIT`]; dropping the engine cancels the
/// connection's task.
#[derive(Debug)]
pub struct Engine {
    io: DuplexStream,
    buf: BytesMut,
    decoder: FrameDecoder,
    agent: JoinSet<ConnectionEnd>,
    stop: CancellationToken,
    hello: AgentHello,
    next_stream_id: u64,
}

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

impl Engine {
    /// Connects to `server` and shakes hands with [`haproxy_hello`].
    ///
    /// # Errors
    ///
    /// When the agent does not answer AGENT-HELLO (the error names what it
    /// sent instead).
    pub async fn connect<H: Handler>(server: &Server<H>) -> io::Result<Self> {
        Self::connect_with(server, haproxy_hello()).await
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
        let (ours, theirs) = tokio::io::duplex(1 << 20);
        let stop = CancellationToken::new();
        let mut agent = JoinSet::new();
        let (server, token) = (server.clone(), stop.clone());
        agent.spawn(async move { server.serve_connection(theirs, None, token).await });
        let mut engine = Self {
            io: ours,
            buf: BytesMut::new(),
            decoder: FrameDecoder::new(u32::MAX),
            agent,
            stop,
            hello: AgentHello {
                version: spop::Version::V2_0,
                max_frame_size: 0,
                capabilities: Capabilities::default(),
            },
            next_stream_id: 1,
        };
        engine.send(&Frame::haproxy_hello(&hello)).await?;
        let frame = engine.recv().await?;
        match frame.map(|f| f.body) {
            Some(Body::AgentHello(kv)) => {
                let offered = hello.max_frame_size;
                let mfs = spop::find(&kv, "max-frame-size")
                    .and_then(spop::TypedData::as_u32)
                    .ok_or_else(|| protocol("AGENT-HELLO without max-frame-size".into()))?;
                let version = spop::find(&kv, "version")
                    .and_then(spop::TypedData::as_str)
                    .and_then(spop::Version::parse)
                    .ok_or_else(|| protocol("AGENT-HELLO without a version".into()))?;
                let caps = spop::find(&kv, "capabilities")
                    .and_then(spop::TypedData::as_str)
                    .map(Capabilities::parse)
                    .unwrap_or_default();
                spop::check_agent_frame_size(offered, u64::from(mfs))
                    .map_err(|e| protocol(e.to_string()))?;
                engine.hello = AgentHello {
                    version,
                    max_frame_size: mfs,
                    capabilities: caps,
                };
                Ok(engine)
            }
            Some(other) => Err(protocol(format!(
                "expected AGENT-HELLO, got {other:?} (ended {:?})",
                engine.stop_and_wait().await
            ))),
            None => Err(protocol(format!(
                "agent closed the connection instead of AGENT-HELLO (ended {:?})",
                engine.stop_and_wait().await
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
        let (stream_id, frame_id) = self.send_notify(messages).await?;
        let (s, f, actions) = self.recv_ack().await?;
        if (s, f) != (stream_id, frame_id) {
            return Err(protocol(format!(
                "ACK for stream {s} frame {f}, expected stream {stream_id} frame {frame_id}"
            )));
        }
        Ok(actions)
    }

    /// Sends one NOTIFY without waiting (to have several in flight): returns
    /// its stream-id and frame-id, which its ACK will carry.
    ///
    /// # Errors
    ///
    /// When the pipe is closed.
    pub async fn send_notify(&mut self, messages: Vec<Message>) -> io::Result<(u64, u64)> {
        let stream_id = self.next_stream_id;
        self.next_stream_id = stream_id.saturating_add(1);
        self.send(&Frame::notify(stream_id, 1, messages)).await?;
        Ok((stream_id, 1))
    }

    /// The next ACK: stream-id, frame-id and actions.
    ///
    /// # Errors
    ///
    /// When the next frame is not an ACK, the agent closes, or nothing comes
    /// within [`ENGINE_WAIT`].
    pub async fn recv_ack(&mut self) -> io::Result<(u64, u64, Actions)> {
        match self.recv().await? {
            Some(Frame {
                header,
                body: Body::Ack(actions),
            }) => Ok((header.stream_id, header.frame_id, actions.into())),
            Some(other) => Err(protocol(format!(
                "expected an ACK, got {:?}",
                other.header.frame_type
            ))),
            None => Err(protocol("agent closed the connection".into())),
        }
    }

    /// Writes one frame.
    ///
    /// # Errors
    ///
    /// When the pipe is closed, or the write blocks for [`ENGINE_WAIT`].
    pub async fn send(&mut self, frame: &Frame) -> io::Result<()> {
        let mut b = BytesMut::new();
        frame.encode(&mut b);
        bounded("writing to the agent", self.io.write_all(&b)).await
    }

    /// The next frame from the agent, `None` at end of stream.
    ///
    /// # Errors
    ///
    /// An invalid frame, or nothing within [`ENGINE_WAIT`].
    pub async fn recv(&mut self) -> io::Result<Option<Frame>> {
        let Self {
            io, buf, decoder, ..
        } = self;
        bounded("reading from the agent", async {
            loop {
                if let Some(f) = decoder
                    .decode(buf)
                    .map_err(|e| protocol(format!("agent sent an invalid frame: {e}")))?
                {
                    return Ok(Some(f));
                }
                if io.read_buf(buf).await? == 0 {
                    return if buf.is_empty() {
                        Ok(None)
                    } else {
                        Err(protocol(format!(
                            "agent closed inside a frame ({} bytes buffered)",
                            buf.len()
                        )))
                    };
                }
            }
        })
        .await
    }

    /// Sends HAPROXY-DISCONNECT (status 0), expects AGENT-DISCONNECT and
    /// returns how the agent's side of the connection ended. ACKs still in
    /// flight are read and dropped.
    ///
    /// # Errors
    ///
    /// When the agent does not answer AGENT-DISCONNECT.
    pub async fn disconnect(mut self) -> io::Result<ConnectionEnd> {
        self.send(&Frame::haproxy_disconnect(&Disconnect::new(Status::NORMAL)))
            .await?;
        loop {
            match self.recv().await? {
                Some(Frame {
                    body: Body::AgentDisconnect(_),
                    ..
                }) => break,
                Some(Frame {
                    body: Body::Ack(_), ..
                }) => {}
                Some(other) => {
                    return Err(protocol(format!(
                        "expected AGENT-DISCONNECT, got {:?}",
                        other.header.frame_type
                    )));
                }
                None => return Err(protocol("agent closed without AGENT-DISCONNECT".into())),
            }
        }
        self.end().await
    }

    /// Stops the agent's side as a graceful shutdown does (the token given to
    /// [`Server::serve_connection`]) and returns the frames it sent until it
    /// closed (the drained ACKs, then AGENT-DISCONNECT), and how it ended.
    ///
    /// # Errors
    ///
    /// When the agent does not close within [`ENGINE_WAIT`].
    pub async fn shutdown(mut self) -> io::Result<(Vec<Frame>, ConnectionEnd)> {
        self.stop.cancel();
        let mut frames = Vec::new();
        while let Some(f) = self.recv().await? {
            frames.push(f);
        }
        Ok((frames, self.end().await?))
    }

    async fn end(&mut self) -> io::Result<ConnectionEnd> {
        match bounded("the agent's connection task", async {
            Ok(self.agent.join_next().await)
        })
        .await?
        {
            Some(Ok(end)) => Ok(end),
            Some(Err(e)) => Err(io::Error::other(format!(
                "the agent's connection task failed: {e}"
            ))),
            None => Err(io::Error::other("the agent's connection task is gone")),
        }
    }

    async fn stop_and_wait(&mut self) -> Option<ConnectionEnd> {
        self.stop.cancel();
        self.end().await.ok()
    }
}
