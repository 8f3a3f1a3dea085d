//! One connection to an agent server: connect, hello, then NOTIFY/ACK
//! exchanges until it is idle, drained, refused or broken.
//!
//! The task owns the connection's in-flight map. When the connection ends
//! for any reason, every message in flight on it is resolved at once:
//! failed with its status, or handed back for a retry when its budget
//! allows. Nothing waits for a timer to notice a dead connection.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::BytesMut;
use futures_util::StreamExt;
use spop::{
    AgentHello, Body, Capabilities, DecodeError, Disconnect, Flags, Frame, FrameDecoder,
    FrameHeader, FrameType, HaproxyHello, Status,
};
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::codec::{Decoder, FramedRead};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::engine::connector::{AgentAddr, BoxIo, Connector};
use crate::engine::job::{
    ConnEvent, ConnId, ConnMsg, HandshakeFailure, Job, JobResult, ProtocolError,
};
use crate::engine::outcome::ProcessStatus;
use crate::engine::ready::{FreeSlots, Ready};
use crate::engine::settings::{EngineSettings, EngineStats};

#[derive(Debug)]
enum CodecError {
    Decode(DecodeError),
    Io(io::Error),
}

impl From<io::Error> for CodecError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

struct SpopCodec(FrameDecoder);

impl Decoder for SpopCodec {
    type Item = Frame;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, CodecError> {
        self.0.decode(src).map_err(CodecError::Decode)
    }
}

type Frames = FramedRead<ReadHalf<BoxIo>, SpopCodec>;

/// Remembers the ids of messages whose deadline passed, so that their late
/// ACKs are dropped instead of being taken for protocol errors. Bounded.
#[derive(Debug, Default)]
struct CancelledIds {
    order: VecDeque<u64>,
    set: HashSet<u64>,
}

impl CancelledIds {
    const CAPACITY: usize = 4096;

    fn insert(&mut self, id: u64) {
        if self.order.len() >= Self::CAPACITY
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        self.order.push_back(id);
        self.set.insert(id);
    }

    fn take(&mut self, id: u64) -> bool {
        self.set.remove(&id)
    }
}

struct InFlight {
    job: Job,
    written_at: Instant,
}

/// How a connection talks with the dispatcher and callers.
#[derive(Debug)]
pub(crate) struct Channels {
    /// Messages (from the dispatcher, or straight from callers once ready).
    pub(crate) jobs: mpsc::UnboundedReceiver<ConnMsg>,
    pub(crate) events: mpsc::UnboundedSender<ConnEvent>,
    /// This connection's free slots.
    pub(crate) free: Arc<FreeSlots>,
    pub(crate) ready: Arc<Ready>,
}

pub(crate) async fn run(
    id: ConnId,
    addr: AgentAddr,
    settings: Arc<EngineSettings>,
    connector: Arc<dyn Connector>,
    channels: Channels,
    stats: Arc<EngineStats>,
    stop: CancellationToken,
) {
    let Channels {
        jobs: mut rx,
        events,
        free,
        ready,
    } = channels;
    let started = Instant::now();
    let established = tokio::select! {
        r = establish(&addr, &settings, connector.as_ref()) => r,
        () = stop.cancelled() => Err(HandshakeFailure {
            status: ProcessStatus::INTERRUPTED,
            why: "the engine stopped".into(),
        }),
    };
    let (frames, wr, max_frame_size, slots) = match established {
        Ok(c) => c,
        Err(failure) => {
            let _ = events.send(ConnEvent::Closed {
                id,
                handshake_failure: Some(failure),
                protocol_error: None,
                retry: Vec::new(),
            });
            return;
        }
    };
    let handshake = started.elapsed();
    stats.handshakes.fetch_add(1, Ordering::Relaxed);
    stats.handshake_micros.fetch_add(
        u64::try_from(handshake.as_micros()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
    debug!(agent = %settings.agent_id, server = %addr, max_frame_size, slots, ?handshake, "agent connection ready");
    free.set(slots);
    let _ = events.send(ConnEvent::Ready { id, slots });
    let mut conn = Running {
        id,
        addr,
        settings,
        stats,
        events,
        free,
        ready,
        frames,
        wr,
        max_frame_size,
        slots,
        in_flight: HashMap::new(),
        deadlines: BinaryHeap::new(),
        cancelled: CancelledIds::default(),
        next_stream: 1,
        reused: false,
        consecutive_timeouts: 0,
        draining: false,
        idle_since: Instant::now(),
        ready_at: Instant::now(),
        reported_healthy: false,
        counted_idle: false,
        wbuf: BytesMut::with_capacity(8 * 1024),
    };
    conn.sync_idle(true);
    let end = conn.serve(&mut rx, &stop).await;
    conn.finish(end, rx).await;
}

/// Connects and runs the handshake. On failure, the status the waiting
/// messages would get and the cause (the dispatcher logs it).
async fn establish(
    addr: &AgentAddr,
    settings: &EngineSettings,
    connector: &dyn Connector,
) -> Result<(Frames, WriteHalf<BoxIo>, u32, usize), HandshakeFailure> {
    let fail = |status: Status, why: String| HandshakeFailure {
        status: ProcessStatus::connection(status),
        why,
    };
    let io = match timeout(settings.timeout_connect, connector.connect(addr)).await {
        Ok(Ok(io)) => io,
        Ok(Err(e)) => return Err(fail(Status::IO, format!("connecting: {e}"))),
        Err(_) => {
            return Err(fail(
                Status::TIMEOUT,
                format!(
                    "connecting: no connection within timeout connect ({:?})",
                    settings.timeout_connect
                ),
            ));
        }
    };
    let (rd, mut wr) = tokio::io::split(io);
    let mut frames = FramedRead::new(rd, SpopCodec(FrameDecoder::new(settings.max_frame_size)));
    let hello = HaproxyHello {
        supported_versions: "2.0".into(),
        max_frame_size: settings.max_frame_size,
        capabilities: Capabilities {
            pipelining: settings.pipelining,
            async_: false,
            fragmentation: false,
        },
        healthcheck: false,
        engine_id: Some(settings.engine_id.clone()),
    };
    let hello_deadline = Instant::now() + settings.timeout_hello;
    if let Err(e) = write_frame(&mut wr, &Frame::haproxy_hello(&hello), hello_deadline).await {
        return Err(fail(Status::IO, format!("sending HAPROXY-HELLO: {e}")));
    }
    let refuse = fail;
    let answer = match tokio::time::timeout_at(hello_deadline, frames.next()).await {
        Err(_) => {
            let _ = send_disconnect(
                &mut wr,
                Status::TIMEOUT,
                Instant::now() + settings.timeout_hello,
            )
            .await;
            return Err(refuse(
                Status::TIMEOUT,
                "no AGENT-HELLO within timeout hello".into(),
            ));
        }
        Ok(None) => {
            return Err(refuse(
                Status::IO,
                "connection closed during the handshake".into(),
            ));
        }
        Ok(Some(Err(CodecError::Io(e)))) => return Err(refuse(Status::IO, e.to_string())),
        Ok(Some(Err(CodecError::Decode(e)))) => {
            // The peer's first bytes say what it is when it is no agent.
            let why = match spop::sniff(frames.read_buffer()) {
                Some(kind) => {
                    format!("the peer does not speak SPOP (its first bytes look like {kind}): {e}")
                }
                None => e.to_string(),
            };
            let _ = send_disconnect(&mut wr, e.status(), hello_deadline).await;
            return Err(refuse(e.status(), why));
        }
        Ok(Some(Ok(frame))) => frame,
    };
    let agent = match answer.body {
        Body::AgentHello(kv) => match AgentHello::from_kv(&kv, settings.max_frame_size) {
            Ok(a) => a,
            Err(e) => {
                let _ = send_disconnect(&mut wr, e.status(), hello_deadline).await;
                return Err(refuse(e.status(), e.to_string()));
            }
        },
        Body::AgentDisconnect(kv) => {
            let d = Disconnect::from_kv(&kv).unwrap_or_else(|_| Disconnect::new(Status::UNKNOWN));
            return Err(refuse(
                d.status,
                format!("agent refused the hello: {}", d.message),
            ));
        }
        _ => {
            let _ = send_disconnect(&mut wr, Status::INVALID_FRAME, hello_deadline).await;
            return Err(refuse(
                Status::INVALID_FRAME,
                format!("expected AGENT-HELLO, got {:?}", answer.header.frame_type),
            ));
        }
    };
    frames
        .decoder_mut()
        .0
        .set_max_frame_size(agent.max_frame_size);
    let slots = if settings.pipelining && agent.capabilities.pipelining {
        settings.max_waiting_frames.max(1)
    } else {
        1
    };
    Ok((frames, wr, agent.max_frame_size, slots))
}

async fn write_frame(
    wr: &mut WriteHalf<BoxIo>,
    frame: &Frame,
    deadline: Instant,
) -> io::Result<()> {
    let mut b = BytesMut::new();
    frame.encode(&mut b);
    tokio::time::timeout_at(deadline, wr.write_all(&b))
        .await
        .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out")))
}

async fn send_disconnect(
    wr: &mut WriteHalf<BoxIo>,
    status: Status,
    deadline: Instant,
) -> io::Result<()> {
    write_frame(
        wr,
        &Frame::haproxy_disconnect(&Disconnect::new(status)),
        deadline,
    )
    .await
}

/// Why a running connection stops.
#[derive(Debug)]
enum End {
    /// Idle past `timeout idle`, or drained: a normal goodbye.
    Graceful,
    /// The agent said goodbye.
    AgentDisconnect(Disconnect),
    /// We refuse what the agent sent: HAPROXY-DISCONNECT with this status.
    Refuse(Status, String),
    /// Every slot timed out in a row: HAPROXY-DISCONNECT 2.
    Stalled,
    /// The socket failed or closed.
    Broken(String),
    /// The engine stops now.
    Stopped,
}

struct Running {
    id: ConnId,
    addr: AgentAddr,
    settings: Arc<EngineSettings>,
    stats: Arc<EngineStats>,
    events: mpsc::UnboundedSender<ConnEvent>,
    free: Arc<FreeSlots>,
    ready: Arc<Ready>,
    frames: Frames,
    wr: WriteHalf<BoxIo>,
    max_frame_size: u32,
    slots: usize,
    in_flight: HashMap<u64, InFlight>,
    deadlines: BinaryHeap<Reverse<(Instant, u64)>>,
    cancelled: CancelledIds,
    next_stream: u64,
    /// At least one exchange completed: a failure here may be the stale
    /// connection's, so messages may be retried elsewhere.
    reused: bool,
    consecutive_timeouts: usize,
    draining: bool,
    idle_since: Instant,
    /// When the handshake completed.
    ready_at: Instant,
    /// `ConnEvent::Healthy` was sent.
    reported_healthy: bool,
    /// Whether this connection is counted in `EngineStats::idle`.
    counted_idle: bool,
    wbuf: BytesMut,
}

impl Running {
    /// Keeps `EngineStats::idle` in step with this connection's state.
    fn sync_idle(&mut self, open: bool) {
        let idle = open && self.in_flight.is_empty();
        if idle != self.counted_idle {
            if idle {
                self.stats.idle.fetch_add(1, Ordering::Relaxed);
            } else {
                self.stats.idle.fetch_sub(1, Ordering::Relaxed);
            }
            self.counted_idle = idle;
        }
    }

    async fn serve(
        &mut self,
        rx: &mut mpsc::UnboundedReceiver<ConnMsg>,
        stop: &CancellationToken,
    ) -> End {
        // One timer for the next message deadline or the idle timeout, reset
        // only when that instant changes (tokio re-registers nothing when a
        // timer is pushed later), not one new timer per loop.
        let timer = sleep_until(Instant::now());
        tokio::pin!(timer);
        let mut armed = None::<Instant>;
        loop {
            self.sync_idle(true);
            if self.draining && self.in_flight.is_empty() {
                return End::Graceful;
            }
            let next_deadline = self.deadlines.peek().map(|Reverse((at, _))| *at);
            let idle_at = self
                .in_flight
                .is_empty()
                .then(|| self.idle_since + self.settings.timeout_idle);
            let wake = match (next_deadline, idle_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if wake != armed {
                if let Some(at) = wake {
                    timer.as_mut().reset(at);
                }
                armed = wake;
            }
            tokio::select! {
                biased;
                () = stop.cancelled() => return End::Stopped,
                frame = self.frames.next() => {
                    if let Some(end) = self.on_frame(frame) {
                        return end;
                    }
                }
                msg = rx.recv(), if !self.draining => match msg {
                    Some(ConnMsg::Job(job)) => {
                        let mut jobs = vec![job];
                        // Coalesce what is already waiting into one write.
                        while jobs.len() < self.slots {
                            match rx.try_recv() {
                                Ok(ConnMsg::Job(j)) => jobs.push(j),
                                Ok(ConnMsg::Drain) => self.start_drain(),
                                Err(_) => break,
                            }
                        }
                        if let Err(e) = self.send(jobs).await {
                            return End::Broken(format!("write failed: {e}"));
                        }
                    }
                    Some(ConnMsg::Drain) | None => self.start_drain(),
                },
                () = &mut timer, if armed.is_some() => {
                    // A fired timer stays fired until it is reset.
                    armed = None;
                    let now = Instant::now();
                    if next_deadline.is_some_and(|at| at <= now)
                        && let Some(end) = self.expire()
                    {
                        return end;
                    }
                    if idle_at.is_some_and(|at| at <= now) {
                        debug!(agent = %self.settings.agent_id, server = %self.addr, "closing idle agent connection");
                        return End::Graceful;
                    }
                }
            }
        }
    }

    fn start_drain(&mut self) {
        if !self.draining {
            self.draining = true;
            let _ = self.events.send(ConnEvent::Closing { id: self.id });
        }
    }

    fn free_slot(&self) {
        self.free.give_back();
        self.ready.slot_freed();
    }

    /// Writes the NOTIFY frames of `jobs` in one write.
    async fn send(&mut self, jobs: Vec<Job>) -> io::Result<()> {
        let now = Instant::now();
        self.wbuf.clear();
        let mut write_deadline = None::<Instant>;
        for job in jobs {
            if job.abandoned(now) {
                job.expire();
                self.free_slot();
                continue;
            }
            let header = FrameHeader {
                frame_type: FrameType::NOTIFY,
                flags: Flags::FIN,
                stream_id: self.next_stream,
                frame_id: 1,
            };
            if header.encoded_len().saturating_add(job.payload.len()) > self.max_frame_size as usize
            {
                let _ = job.reply.send(JobResult::Failed(ProcessStatus::TOO_BIG));
                self.free_slot();
                continue;
            }
            header.encode_with_payload(&job.payload, &mut self.wbuf);
            write_deadline = Some(write_deadline.map_or(job.deadline, |d| d.max(job.deadline)));
            self.deadlines
                .push(Reverse((job.deadline, self.next_stream)));
            self.in_flight.insert(
                self.next_stream,
                InFlight {
                    job,
                    written_at: now,
                },
            );
            self.stats.waiting.fetch_add(1, Ordering::Relaxed);
            self.next_stream = self.next_stream.wrapping_add(1);
        }
        let Some(deadline) = write_deadline else {
            return Ok(());
        };
        // A frame is written whole or the connection is dropped: this write
        // is not a select! branch. It is bounded by the latest deadline of
        // the messages in it; they fail at their own deadlines anyway.
        tokio::time::timeout_at(deadline, self.wr.write_all(&self.wbuf))
            .await
            .unwrap_or_else(|_| {
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "agent is not reading",
                ))
            })
    }

    fn on_frame(&mut self, frame: Option<Result<Frame, CodecError>>) -> Option<End> {
        let frame = match frame {
            None => return Some(End::Broken("agent closed the connection".into())),
            Some(Err(CodecError::Io(e))) => return Some(End::Broken(e.to_string())),
            Some(Err(CodecError::Decode(e))) => {
                return Some(End::Refuse(e.status(), e.to_string()));
            }
            Some(Ok(f)) => f,
        };
        let h = frame.header;
        match frame.body {
            Body::Ack(actions) => {
                if !self.in_flight.contains_key(&h.stream_id) {
                    if h.frame_id == 1 && self.cancelled.take(h.stream_id) {
                        self.stats.late_acks.fetch_add(1, Ordering::Relaxed);
                        debug!(stream_id = h.stream_id, "late ACK dropped");
                        return None;
                    }
                    return Some(End::Refuse(
                        Status::FRAME_ID_NOT_FOUND,
                        format!(
                            "ACK for unknown stream-id {} frame-id {}",
                            h.stream_id, h.frame_id
                        ),
                    ));
                };
                if h.frame_id != 1 {
                    return Some(End::Refuse(
                        Status::FRAME_ID_NOT_FOUND,
                        format!(
                            "ACK for stream-id {} with frame-id {}, expected 1",
                            h.stream_id, h.frame_id
                        ),
                    ));
                }
                if let Some(entry) = self.in_flight.remove(&h.stream_id) {
                    self.forget_answered_deadlines();
                    self.stats.waiting.fetch_sub(1, Ordering::Relaxed);
                    let written_at = entry.written_at;
                    // A caller that went away (client abort) gets nothing applied.
                    let _ = entry.job.reply.send(JobResult::Ack {
                        actions,
                        written_at,
                    });
                }
                self.reused = true;
                self.consecutive_timeouts = 0;
                let now = Instant::now();
                if !self.reported_healthy
                    && now.saturating_duration_since(self.ready_at) >= self.settings.backoff_max
                {
                    self.reported_healthy = true;
                    let _ = self.events.send(ConnEvent::Healthy { id: self.id });
                }
                if self.in_flight.is_empty() {
                    self.idle_since = now;
                }
                self.free_slot();
                None
            }
            Body::Fragment(_) if h.frame_type == FrameType::ACK => Some(End::Refuse(
                Status::FRAGMENTATION_NOT_SUPPORTED,
                "fragmented ACK from the agent".into(),
            )),
            Body::AgentDisconnect(kv) => {
                let d =
                    Disconnect::from_kv(&kv).unwrap_or_else(|_| Disconnect::new(Status::UNKNOWN));
                Some(End::AgentDisconnect(d))
            }
            Body::Unknown(_) => None,
            _ => Some(End::Refuse(
                Status::INVALID_FRAME,
                format!("unexpected {:?} frame from the agent", h.frame_type),
            )),
        }
    }

    /// Drops the deadlines of answered messages from the top of the heap,
    /// so that it holds about what is in flight rather than every message
    /// of the last `timeout processing` (ACKs mostly come in order).
    fn forget_answered_deadlines(&mut self) {
        while let Some(Reverse((_, sid))) = self.deadlines.peek()
            && !self.in_flight.contains_key(sid)
        {
            self.deadlines.pop();
        }
    }

    /// Frees the slots of messages whose deadline passed.
    fn expire(&mut self) -> Option<End> {
        let now = Instant::now();
        while let Some(Reverse((at, sid))) = self.deadlines.peek().copied() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            if let Some(entry) = self.in_flight.remove(&sid) {
                entry.job.expire();
                self.stats.waiting.fetch_sub(1, Ordering::Relaxed);
                // The caller already saw its timeout; remember the id so the
                // late ACK is dropped, and never reuse it.
                self.cancelled.insert(sid);
                self.consecutive_timeouts += 1;
                self.free_slot();
            }
        }
        if self.in_flight.is_empty() {
            self.idle_since = now;
        }
        (self.consecutive_timeouts >= self.slots).then_some(End::Stalled)
    }

    /// Resolves everything in flight and closes.
    async fn finish(mut self, end: End, mut rx: mpsc::UnboundedReceiver<ConnMsg>) {
        self.sync_idle(false);
        let _ = self.events.send(ConnEvent::Closing { id: self.id });
        let (farewell, status) = match &end {
            End::Graceful => (
                Some(Status::NORMAL),
                ProcessStatus::connection(Status::NORMAL),
            ),
            End::AgentDisconnect(d) => {
                info!(agent = %self.settings.agent_id, server = %self.addr, status = %d.status, message = %d.message, "agent disconnected");
                (None, ProcessStatus::connection(d.status))
            }
            // Logged by the dispatcher, rate-limited per server.
            End::Refuse(s, _) => (Some(*s), ProcessStatus::connection(*s)),
            End::Stalled => {
                warn!(agent = %self.settings.agent_id, server = %self.addr, "every slot timed out: closing agent connection");
                (
                    Some(Status::TIMEOUT),
                    ProcessStatus::connection(Status::TIMEOUT),
                )
            }
            End::Broken(why) => {
                if !self.in_flight.is_empty() {
                    warn!(agent = %self.settings.agent_id, server = %self.addr, in_flight = self.in_flight.len(), %why, "agent connection lost");
                }
                (None, ProcessStatus::connection(Status::IO))
            }
            End::Stopped => (None, ProcessStatus::INTERRUPTED),
        };
        let now = Instant::now();
        let can_retry = |job: &Job, reused: bool| {
            !matches!(end, End::Stopped)
                && reused
                && !job.abandoned(now)
                && job.deadline.saturating_duration_since(now) >= self.settings.retry_floor
        };
        let mut retry = Vec::new();
        let mut in_flight: Vec<(u64, InFlight)> = self.in_flight.drain().collect();
        self.stats
            .waiting
            .fetch_sub(in_flight.len() as u64, Ordering::Relaxed);
        in_flight.sort_by_key(|(sid, _)| *sid);
        for (_, entry) in in_flight {
            if can_retry(&entry.job, self.reused) {
                retry.push(entry.job);
            } else {
                let _ = entry.job.reply.send(JobResult::Failed(status));
            }
        }
        // Messages handed over but never written are always safe to resend.
        rx.close();
        while let Ok(msg) = rx.try_recv() {
            if let ConnMsg::Job(job) = msg {
                if matches!(end, End::Stopped) || job.abandoned(now) {
                    let _ = job.reply.send(JobResult::Failed(status));
                } else {
                    retry.push(job);
                }
            }
        }
        let protocol_error = match end {
            End::Refuse(status, why) => Some(ProtocolError {
                status,
                why,
                soon: Instant::now().saturating_duration_since(self.ready_at)
                    < self.settings.backoff_max,
            }),
            _ => None,
        };
        let _ = self.events.send(ConnEvent::Closed {
            id: self.id,
            handshake_failure: None,
            protocol_error,
            retry,
        });
        if let Some(status) = farewell {
            let bound = Instant::now() + self.settings.timeout_hello;
            if send_disconnect(&mut self.wr, status, bound).await.is_ok() {
                // Give the agent a chance to answer AGENT-DISCONNECT.
                let _ = tokio::time::timeout_at(bound, async {
                    while let Some(Ok(f)) = self.frames.next().await {
                        if f.header.frame_type == FrameType::AGENT_DISCONNECT {
                            break;
                        }
                    }
                })
                .await;
            }
        }
        let _ = timeout(self.settings.timeout_hello, self.wr.shutdown()).await;
    }
}
