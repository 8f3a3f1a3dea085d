//! A scripted fake agent behind an in-memory [`Connector`], for exact
//! deadline tests under tokio's paused clock (fault-plan layer L1).

#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use spoe::connector::{BoxIo, ConnectFuture};
use spoe::{Addr, Connector, EngineSettings};
use spop::{
    Action, AgentHello, Body, Capabilities, Disconnect, Flags, Frame, FrameHeader, FrameType,
    HaproxyHello, Kv, Status, TypedData, VarScope,
};
use spop_io::FrameWriter;
use tokio::io::{DuplexStream, WriteHalf};
use tokio::sync::Mutex as AsyncMutex;

/// How the fake agent answers a HELLO.
#[derive(Debug, Clone)]
pub enum Hello {
    Normal,
    NoPipelining,
    Refuse(Status),
    Custom(Vec<Kv>),
    Silent,
}

/// How the fake agent answers a NOTIFY.
#[derive(Debug, Clone)]
pub enum Reply {
    /// ACK with SET-VAR txn.<arg> = value for each arg.
    Echo,
    /// Echo after a delay (each NOTIFY independently).
    Delay(Duration),
    /// Never answer.
    Silent,
    /// Close the connection.
    Close,
    /// Write these bytes.
    Raw(Vec<u8>),
    /// ACK with the wrong stream-id.
    WrongIds,
    /// ACK with no actions.
    EmptyAck,
    /// ACK without FIN.
    NonFin,
    /// ACK with a SET-VAR then an unknown action type.
    UnknownAction,
    /// AGENT-DISCONNECT with this status.
    Disconnect(Status),
    /// The echo ACK, twice.
    DuplicateAck,
    /// Read nothing more, ever, and keep the connection open: the engine's
    /// writes fill the connection's buffer and stall (fault plan F18).
    StopReading,
}

#[derive(Debug, Clone)]
pub struct Script {
    pub hello: Hello,
    /// Reply to the Nth NOTIFY of a connection (the last one repeats).
    pub replies: Vec<Reply>,
}

impl Script {
    pub fn replies(replies: Vec<Reply>) -> Self {
        Self {
            hello: Hello::Normal,
            replies,
        }
    }
}

/// What the fake agents saw.
#[derive(Debug, Default)]
pub struct Seen {
    pub connections: AtomicUsize,
    pub notifies: AtomicUsize,
    /// Highest number of unanswered NOTIFY frames on one connection.
    pub max_in_flight: AtomicUsize,
    /// HAPROXY-DISCONNECT statuses received.
    pub disconnects: Mutex<Vec<Status>>,
    /// Times (ms since the test's start) of each connection attempt.
    pub connect_times: Mutex<Vec<u128>>,
}

/// A connector whose every connection reaches a fake agent playing
/// `script(connection_index)`.
pub struct FakeAgents {
    pub seen: Arc<Seen>,
    script: Arc<dyn Fn(usize) -> Script + Send + Sync>,
    start: tokio::time::Instant,
    /// Bytes the engine can write to a connection that the agent has not read.
    buffer: usize,
}

impl FakeAgents {
    pub fn new(script: impl Fn(usize) -> Script + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self {
            seen: Arc::new(Seen::default()),
            script: Arc::new(script),
            start: tokio::time::Instant::now(),
            buffer: 1 << 20,
        })
    }

    /// Every connection plays `script`, through a buffer of `buffer` bytes.
    pub fn with_buffer(script: Script, buffer: usize) -> Arc<Self> {
        Arc::new(Self {
            seen: Arc::new(Seen::default()),
            script: Arc::new(move |_| script.clone()),
            start: tokio::time::Instant::now(),
            buffer,
        })
    }

    pub fn same(script: Script) -> Arc<Self> {
        Self::new(move |_| script.clone())
    }
}

impl Connector for FakeAgents {
    fn connect(&self, _addr: &Addr) -> ConnectFuture {
        let index = self.seen.connections.fetch_add(1, Ordering::SeqCst);
        self.seen
            .connect_times
            .lock()
            .unwrap()
            .push(self.start.elapsed().as_millis());
        let script = (self.script)(index);
        let seen = self.seen.clone();
        let buffer = self.buffer;
        Box::pin(async move {
            let (engine, agent) = tokio::io::duplex(buffer);
            tokio::spawn(play(agent, script, seen));
            Ok(Box::new(engine) as BoxIo)
        })
    }
}

pub fn settings(timeout_processing: Duration) -> EngineSettings {
    let mut s = EngineSettings::new(
        "test-agent",
        vec!["127.0.0.1:1".parse().unwrap()],
        timeout_processing,
    );
    s.timeout_hello = Duration::from_secs(1);
    s.timeout_idle = Duration::from_secs(30);
    s
}

fn encode(f: &Frame) -> Bytes {
    let mut b = BytesMut::new();
    f.encode(&mut b);
    b.freeze()
}

fn echo_actions(f: &Frame) -> Vec<Action> {
    let Body::Notify(messages) = &f.body else {
        return vec![];
    };
    messages
        .iter()
        .flat_map(|m| m.args.iter())
        .map(|kv| Action::set_var(VarScope::Transaction, kv.name.clone(), kv.value.clone()))
        .collect()
}

async fn play(io: DuplexStream, script: Script, seen: Arc<Seen>) {
    let (mut rd, wr) = spop_io::split(io, u32::MAX);
    let wr = Arc::new(AsyncMutex::new(wr));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut n = 0usize;
    let mut hello_done = false;
    loop {
        let Ok(Some(frame)) = rd.next().await else {
            return;
        };
        match &frame.body {
            Body::HaproxyHello(kv) if !hello_done => {
                hello_done = true;
                let h = HaproxyHello::from_kv(kv).unwrap();
                let answer = match &script.hello {
                    Hello::Silent => continue,
                    Hello::Refuse(s) => {
                        write(&wr, encode(&Frame::agent_disconnect(&Disconnect::new(*s)))).await;
                        return;
                    }
                    Hello::Custom(kv) => Frame {
                        header: FrameHeader {
                            frame_type: FrameType::AGENT_HELLO,
                            flags: Flags::FIN,
                            stream_id: 0,
                            frame_id: 0,
                        },
                        body: Body::AgentHello(kv.clone()),
                    },
                    Hello::Normal | Hello::NoPipelining => {
                        let caps = Capabilities {
                            pipelining: matches!(script.hello, Hello::Normal),
                            ..Capabilities::default()
                        };
                        Frame::agent_hello(&AgentHello::answer(&h, h.max_frame_size, caps).unwrap())
                    }
                };
                write(&wr, encode(&answer)).await;
            }
            Body::HaproxyDisconnect(kv) => {
                seen.disconnects
                    .lock()
                    .unwrap()
                    .push(Disconnect::from_kv(kv).unwrap().status);
                write(
                    &wr,
                    encode(&Frame::agent_disconnect(&Disconnect::new(Status::NORMAL))),
                )
                .await;
                return;
            }
            Body::Notify(_) => {
                seen.notifies.fetch_add(1, Ordering::SeqCst);
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                seen.max_in_flight.fetch_max(now, Ordering::SeqCst);
                let reply = script
                    .replies
                    .get(n)
                    .or(script.replies.last())
                    .cloned()
                    .unwrap_or(Reply::Echo);
                n += 1;
                let h = frame.header;
                let ack = |actions| Frame::ack(h.stream_id, h.frame_id, actions);
                let out = match reply {
                    Reply::Echo => Some(ack(echo_actions(&frame))),
                    Reply::Delay(d) => {
                        let (wr, in_flight, f) =
                            (wr.clone(), in_flight.clone(), ack(echo_actions(&frame)));
                        tokio::spawn(async move {
                            // Not a barrier: the scripted agent's answer delay (paused clock).
                            tokio::time::sleep(d).await;
                            in_flight.fetch_sub(1, Ordering::SeqCst);
                            write(&wr, encode(&f)).await;
                        });
                        None
                    }
                    Reply::Silent => None,
                    Reply::StopReading => {
                        // Holds both halves open and reads nothing more.
                        std::future::pending::<()>().await;
                        None
                    }
                    Reply::Close => return,
                    Reply::Raw(b) => {
                        write(&wr, Bytes::from(b)).await;
                        None
                    }
                    Reply::WrongIds => Some(Frame::ack(h.stream_id + 1000, h.frame_id, vec![])),
                    Reply::EmptyAck => Some(ack(vec![])),
                    Reply::NonFin => {
                        let mut f = ack(vec![]);
                        f.header.flags = Flags(0);
                        f.body = Body::Fragment(Bytes::new());
                        Some(f)
                    }
                    Reply::UnknownAction => Some(Frame {
                        header: FrameHeader {
                            frame_type: FrameType::ACK,
                            flags: Flags::FIN,
                            stream_id: h.stream_id,
                            frame_id: h.frame_id,
                        },
                        body: Body::Unknown(Bytes::from_static(&[1, 3, 2, 1, b'a', 0x11, 9, 1, 2])),
                    }),
                    Reply::Disconnect(s) => Some(Frame::agent_disconnect(&Disconnect::new(s))),
                    Reply::DuplicateAck => {
                        let f = ack(echo_actions(&frame));
                        write(&wr, encode(&f)).await;
                        Some(f)
                    }
                };
                if let Some(f) = out {
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    write(&wr, encode(&f)).await;
                }
            }
            _ => return,
        }
    }
}

async fn write(wr: &Arc<AsyncMutex<FrameWriter<WriteHalf<DuplexStream>>>>, b: Bytes) {
    let mut wr = wr.lock().await;
    wr.queue_raw(&b);
    let _ = wr.flush().await;
}

pub fn msg(v: i64) -> Vec<spop::Message> {
    vec![spop::Message::new("m").arg("v", v)]
}

pub fn echoed(v: i64) -> Vec<Action> {
    vec![Action::set_var(
        VarScope::Transaction,
        "v",
        TypedData::Int64(v),
    )]
}

pub fn statuses(seen: &Seen) -> Vec<Status> {
    seen.disconnects.lock().unwrap().clone()
}
