//! One connection to an agent server: this task connects, moves bytes and
//! owns the timer; [`spop::engine::EngineConnection`] decides everything the
//! protocol decides (the hello, ids, ACK matching, deadlines, idle, drain,
//! refusals).
//!
//! When the connection ends for any reason, the state machine hands back
//! every message in flight at once, and this task resolves them: failed with
//! their status, or handed back to the dispatcher for a retry when their
//! budget allows. Nothing waits for a timer to notice a dead connection.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use spop::Status;
use spop::engine::{EngineConfig, EngineConnection, EngineEnd, EngineEvent, Haproxy, NotifyError};
use spop_io::{Addr, FrameReader, FrameWriter};
use tokio::io::{ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep, timeout};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::clock;
use crate::engine::connector::{BoxIo, Connector};
use crate::engine::job::{
    ConnEvent, ConnId, ConnMsg, HandshakeFailure, Job, JobResult, ProtocolError, handshake_failure,
};
use crate::engine::outcome::ProcessStatus;
use crate::engine::ready::{FreeSlots, Ready};
use crate::engine::settings::{EngineSettings, EngineStats};

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

/// What the engine offers in its HAPROXY-HELLO, and its timeouts.
fn engine_config(settings: &EngineSettings) -> EngineConfig {
    let mut hello = Haproxy::V3_1.hello(Some(settings.engine_id.clone()));
    hello.max_frame_size = settings.max_frame_size;
    hello.capabilities.pipelining = settings.pipelining;
    let mut config = EngineConfig::new(hello);
    config.max_waiting_frames = settings.max_waiting_frames;
    config.timeout_hello = settings.timeout_hello;
    config.timeout_idle = Some(settings.timeout_idle);
    config
}

pub(crate) async fn run(
    id: ConnId,
    addr: Addr,
    settings: Arc<EngineSettings>,
    connector: Arc<dyn Connector>,
    channels: Channels,
    stats: Arc<EngineStats>,
    stop: CancellationToken,
) {
    let started = Instant::now();
    let fail = |status: ProcessStatus, why: String| HandshakeFailure { status, why };
    let connected = tokio::select! {
        r = timeout(settings.timeout_connect, connector.connect(&addr)) => match r {
            Ok(Ok(io)) => Ok(io),
            Ok(Err(e)) => Err(fail(
                ProcessStatus::connection(Status::IO),
                format!("connecting: {e}"),
            )),
            Err(_) => Err(fail(
                ProcessStatus::connection(Status::TIMEOUT),
                format!(
                    "connecting: no connection within timeout connect ({:?})",
                    settings.timeout_connect
                ),
            )),
        },
        () = stop.cancelled() => Err(fail(ProcessStatus::INTERRUPTED, "the engine stopped".into())),
    };
    let io = match connected {
        Ok(io) => io,
        Err(failure) => {
            let _ = channels.events.send(ConnEvent::Closed {
                id,
                handshake_failure: Some(failure),
                protocol_error: None,
                retry: Vec::new(),
            });
            return;
        }
    };
    let (reader, writer) = spop_io::split(io, settings.max_frame_size);
    let conn = EngineConnection::new(engine_config(&settings), started.into_std());
    let mut task = Task {
        id,
        addr,
        stats,
        conn,
        reader,
        writer,
        channels,
        started,
        ready_at: None,
        reported_healthy: false,
        draining: false,
        counted_idle: false,
        write_deadline: None,
        timer: Box::pin(tokio::time::sleep_until(started)),
        armed: None,
        settings,
    };
    task.serve(&stop).await;
}

struct Task {
    id: ConnId,
    addr: Addr,
    settings: Arc<EngineSettings>,
    stats: Arc<EngineStats>,
    conn: EngineConnection<Job>,
    reader: FrameReader<ReadHalf<BoxIo>>,
    writer: FrameWriter<WriteHalf<BoxIo>>,
    channels: Channels,
    started: Instant,
    /// When the handshake completed.
    ready_at: Option<Instant>,
    /// `ConnEvent::Healthy` was sent.
    reported_healthy: bool,
    /// Told to drain: no message is taken any more.
    draining: bool,
    /// Whether this connection is counted in `EngineStats::idle`.
    counted_idle: bool,
    /// The latest deadline of the messages queued for the next write: a
    /// write is bounded by it (they fail at their own deadlines anyway).
    write_deadline: Option<Instant>,
    /// One timer, reset only when the state machine's next deadline changes.
    timer: std::pin::Pin<Box<Sleep>>,
    armed: Option<Instant>,
}

impl Task {
    async fn serve(&mut self, stop: &CancellationToken) {
        let mut stopped = false;
        // Made and registered with the token once: a `cancelled()` made in
        // the `select!` below was a new waiter added to the token's list and
        // removed again at every turn of this loop, about 0.6 times a request
        // (80 instructions a request; bench/README.md, "Session 7: system
        // calls and wake-ups").
        let mut cancelled = std::pin::pin!(stop.cancelled());
        loop {
            if self.handle_events() {
                // Over: what is left to say is written, then this side closes.
                self.flush().await;
                let _ = timeout(self.settings.timeout_hello, self.writer.shutdown()).await;
                return;
            }
            if !self.flush().await {
                continue;
            }
            self.sync_idle(self.conn.is_ready());
            self.arm_timer();
            let take_jobs =
                !self.draining && self.conn.is_ready() && self.conn.in_flight() < self.conn.slots();
            tokio::select! {
                biased;
                () = &mut cancelled, if !stopped => {
                    stopped = true;
                    self.conn.abort();
                }
                read = self.reader.fill() => {
                    let now = clock::now().into_std();
                    match read {
                        Ok(0) => self.conn.handle_eof(now),
                        Ok(_) => self.conn.handle_input(self.reader.buffer_mut(), now),
                        Err(e) => self.conn.handle_read_error(&e, now),
                    }
                }
                msg = self.channels.jobs.recv(), if take_jobs => match msg {
                    Some(ConnMsg::Job(job)) => self.send(job),
                    Some(ConnMsg::Drain) | None => self.start_drain(),
                },
                () = self.timer.as_mut(), if self.armed.is_some() => {
                    self.armed = None;
                    self.conn.handle_timeout(Instant::now().into_std());
                }
            }
        }
    }

    /// Writes what the state machine queued, whole, within the latest
    /// deadline of its messages (or `timeout hello` for control frames).
    /// False when the write failed (the state machine then ends).
    async fn flush(&mut self) -> bool {
        if !self.conn.poll_transmit(self.writer.buffer_mut()) {
            return true;
        }
        let deadline = self
            .write_deadline
            .take()
            .unwrap_or_else(|| Instant::now() + self.settings.timeout_hello);
        // A frame is written whole or the connection is dropped: this write
        // is not a select! branch.
        match self.writer.flush_until(deadline).await {
            Ok(()) => true,
            Err(e) => {
                self.conn.handle_write_error(&e, Instant::now().into_std());
                false
            }
        }
    }

    fn arm_timer(&mut self) {
        let wake = self.conn.poll_timeout().map(Instant::from_std);
        if wake != self.armed {
            if let Some(at) = wake {
                self.timer.as_mut().reset(at);
            }
            self.armed = wake;
        }
    }

    /// Queues the NOTIFY frames of `job` and of the jobs already waiting,
    /// so that they leave in one write.
    fn send(&mut self, job: Job) {
        // One clock read for the batch: its frames are queued together.
        let now = clock::now();
        let mut drain = false;
        let mut next = Some(job);
        while let Some(job) = next.take() {
            self.send_one(job, now);
            if self.conn.in_flight() >= self.conn.slots() {
                break;
            }
            match self.channels.jobs.try_recv() {
                Ok(ConnMsg::Job(j)) => next = Some(j),
                Ok(ConnMsg::Drain) => drain = true,
                Err(_) => break,
            }
        }
        if drain {
            self.start_drain();
        }
    }

    fn send_one(&mut self, job: Job, now: Instant) {
        if job.abandoned(now) {
            job.expire();
            self.free_slot();
            return;
        }
        let (payload, deadline) = (job.payload.clone(), job.deadline);
        match self
            .conn
            .send_notify(&payload, deadline.into_std(), job, now.into_std())
        {
            Ok(_) => {
                self.stats.waiting.fetch_add(1, Ordering::Relaxed);
                self.write_deadline =
                    Some(self.write_deadline.map_or(deadline, |d| d.max(deadline)));
            }
            Err(NotifyError::TooBig { user, .. }) => {
                let _ = user.reply.send(JobResult::Failed(ProcessStatus::TOO_BIG));
                self.free_slot();
            }
            // Jobs are taken only while the connection is ready with a
            // free slot, so this cannot happen; if it did, the caller is
            // answered all the same.
            Err(
                NotifyError::NotReady(job)
                | NotifyError::NoSlot(job)
                | NotifyError::DuplicateIds(job),
            ) => {
                warn!(agent = %self.settings.agent_id, server = %self.addr, "a message reached a connection that cannot take it");
                let _ = job.reply.send(JobResult::Failed(ProcessStatus::RESOURCE));
                self.free_slot();
            }
            Err(_) => {}
        }
    }

    fn start_drain(&mut self) {
        if self.draining || !self.conn.is_ready() {
            return;
        }
        self.draining = true;
        let _ = self
            .channels
            .events
            .send(ConnEvent::Closing { id: self.id });
        self.conn.drain(Instant::now().into_std());
    }

    fn free_slot(&self) {
        self.channels.free.give_back();
        self.channels.ready.slot_freed();
    }

    /// Keeps `EngineStats::idle` in step with this connection's state.
    fn sync_idle(&mut self, open: bool) {
        let idle = open && self.conn.in_flight() == 0;
        if idle != self.counted_idle {
            if idle {
                self.stats.idle.fetch_add(1, Ordering::Relaxed);
            } else {
                self.stats.idle.fetch_sub(1, Ordering::Relaxed);
            }
            self.counted_idle = idle;
        }
    }

    /// Acts on the state machine's events; true once the connection is over.
    fn handle_events(&mut self) -> bool {
        while let Some(event) = self.conn.poll_event() {
            match event {
                EngineEvent::Ready(agent) => {
                    let now = Instant::now();
                    let handshake = now.saturating_duration_since(self.started);
                    self.stats.handshakes.fetch_add(1, Ordering::Relaxed);
                    self.stats.handshake_micros.fetch_add(
                        u64::try_from(handshake.as_micros()).unwrap_or(u64::MAX),
                        Ordering::Relaxed,
                    );
                    let slots = self.conn.slots();
                    debug!(agent = %self.settings.agent_id, server = %self.addr, max_frame_size = agent.max_frame_size, slots, ?handshake, "agent connection ready");
                    self.ready_at = Some(now);
                    self.channels.free.set(slots);
                    let _ = self
                        .channels
                        .events
                        .send(ConnEvent::Ready { id: self.id, slots });
                }
                EngineEvent::Ack {
                    actions,
                    user: job,
                    sent_at,
                    ..
                } => {
                    self.stats.waiting.fetch_sub(1, Ordering::Relaxed);
                    // A caller that went away (client abort) gets nothing applied.
                    let _ = job.reply.send(JobResult::Ack {
                        actions,
                        written_at: Instant::from_std(sent_at),
                    });
                    // The clock is read only until the connection is known healthy.
                    if !self.reported_healthy
                        && self
                            .ready_at
                            .is_some_and(|at| clock::since(at) >= self.settings.backoff_max)
                    {
                        self.reported_healthy = true;
                        let _ = self
                            .channels
                            .events
                            .send(ConnEvent::Healthy { id: self.id });
                    }
                    self.free_slot();
                }
                EngineEvent::Expired { user: job, .. } => {
                    self.stats.waiting.fetch_sub(1, Ordering::Relaxed);
                    // The caller already saw its timeout.
                    job.expire();
                    self.free_slot();
                }
                EngineEvent::LateAck { stream_id, .. } => {
                    self.stats.late_acks.fetch_add(1, Ordering::Relaxed);
                    debug!(stream_id, "late ACK dropped");
                }
                EngineEvent::Closing {
                    end,
                    in_flight,
                    reused,
                } => self.closing(end, in_flight, reused),
                EngineEvent::Closed { .. } => return true,
                EngineEvent::ForeignAck { .. }
                | EngineEvent::Skipped(_)
                | EngineEvent::Ignored(_)
                | EngineEvent::Invalid(_) => {}
            }
        }
        false
    }

    /// Resolves everything in flight and tells the dispatcher, at once.
    fn closing(&mut self, end: EngineEnd, in_flight: Vec<Job>, reused: bool) {
        self.sync_idle(false);
        let now = Instant::now();
        let status = end
            .status()
            .map_or(ProcessStatus::INTERRUPTED, ProcessStatus::connection);
        let Some(ready_at) = self.ready_at else {
            // The dispatcher logs it, once per change of the server's state,
            // with this cause; the peer's first bytes say what it is when it
            // is no agent.
            let why = handshake_failure(&end, self.reader.buffer_mut());
            self.channels.jobs.close();
            let _ = self.channels.events.send(ConnEvent::Closed {
                id: self.id,
                handshake_failure: Some(HandshakeFailure { status, why }),
                protocol_error: None,
                retry: Vec::new(),
            });
            return;
        };
        let _ = self
            .channels
            .events
            .send(ConnEvent::Closing { id: self.id });
        let stopped = matches!(end, EngineEnd::Aborted);
        match &end {
            EngineEnd::AgentDisconnect(d) => {
                info!(agent = %self.settings.agent_id, server = %self.addr, status = %d.status, message = %d.message, "agent disconnected");
            }
            EngineEnd::Stalled => {
                warn!(agent = %self.settings.agent_id, server = %self.addr, "every slot timed out: closing agent connection");
            }
            EngineEnd::Broken(why) if !in_flight.is_empty() => {
                warn!(agent = %self.settings.agent_id, server = %self.addr, in_flight = in_flight.len(), %why, "agent connection lost");
            }
            EngineEnd::Idle => {
                debug!(agent = %self.settings.agent_id, server = %self.addr, "closing idle agent connection");
            }
            // Refusals are logged by the dispatcher, rate-limited per server.
            _ => {}
        }
        self.stats
            .waiting
            .fetch_sub(in_flight.len() as u64, Ordering::Relaxed);
        let mut retry = Vec::new();
        for job in in_flight {
            let can_retry = !stopped
                && reused
                && !job.abandoned(now)
                && job.deadline.saturating_duration_since(now) >= self.settings.retry_floor;
            if can_retry {
                retry.push(job);
            } else {
                let _ = job.reply.send(JobResult::Failed(status));
            }
        }
        // Messages handed over but never written are always safe to resend.
        self.channels.jobs.close();
        while let Ok(msg) = self.channels.jobs.try_recv() {
            if let ConnMsg::Job(job) = msg {
                if stopped || job.abandoned(now) {
                    let _ = job.reply.send(JobResult::Failed(status));
                } else {
                    retry.push(job);
                }
            }
        }
        let protocol_error = match end {
            EngineEnd::Refused { status, reason } => Some(ProtocolError {
                status,
                why: reason,
                soon: now.saturating_duration_since(ready_at) < self.settings.backoff_max,
            }),
            _ => None,
        };
        let _ = self.channels.events.send(ConnEvent::Closed {
            id: self.id,
            handshake_failure: None,
            protocol_error,
            retry,
        });
    }
}
