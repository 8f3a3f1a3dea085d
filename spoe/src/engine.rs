//! The engine's public face: [`Engine::process`] sends one event's messages
//! to an agent and returns the [`Outcome`] by the message's deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use spop::{Action, Message};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, timeout_at};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::connector::{AgentAddr, Connector, NetConnector};
use crate::dispatch::{Dispatcher, EngineLink};
use crate::outcome::{Outcome, ProcessStatus, Timings};
use crate::rate::RateCounter;
use crate::ready::Ready;

/// What one engine needs to run: an agent's settings (from its
/// `spoe-agent` section) and its servers (from its `use-backend`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EngineSettings {
    /// `spoe-agent NAME`, for logs.
    pub agent_id: String,
    /// The servers of the agents' backend.
    pub servers: Vec<AgentAddr>,
    /// `timeout processing`: every message's budget, fixed when it is queued.
    pub timeout_processing: Duration,
    /// `timeout hello`: bound on a connection's handshake.
    pub timeout_hello: Duration,
    /// `timeout idle`: an idle connection is closed with HAPROXY-DISCONNECT after this.
    pub timeout_idle: Duration,
    /// `timeout connect` of the agents' backend.
    pub timeout_connect: Duration,
    /// `max-frame-size` offered to agents.
    pub max_frame_size: u32,
    /// `max-waiting-frames`: streams in flight per connection when the agent
    /// announces pipelining (otherwise 1).
    pub max_waiting_frames: usize,
    /// `option pipelining` (offered to agents).
    pub pipelining: bool,
    /// The backend's per-server `maxconn`.
    pub max_connections_per_server: usize,
    /// Messages that may wait for a connection; beyond, they fail at once
    /// with status 2.
    pub max_queue: usize,
    /// A message is retried on another connection only when at least this
    /// much of its budget remains.
    pub retry_floor: Duration,
    /// First delay after a failed connect or handshake; doubles up to
    /// `backoff_max`, with jitter.
    pub backoff_min: Duration,
    /// Longest delay between connection attempts to a failing server. Also
    /// how soon after its handshake a connection must not die of a protocol
    /// error: one that does counts as a failed attempt (the server backs
    /// off), and one that carries an ACK after this long resets the count.
    pub backoff_max: Duration,
    /// The `engine-id` sent in HAPROXY-HELLO.
    pub engine_id: String,
    /// `maxconnrate`: at most this many new connections per second; beyond,
    /// messages wait for an existing connection.
    pub max_connection_rate: Option<u32>,
    /// `option spop-check` with the servers' `check` settings: servers that
    /// fail it get no new connection; when all are down, messages fail at once.
    pub health_check: Option<crate::health::HealthCheck>,
    /// `maxerrrate`: when this many events failed within the last second,
    /// messages are skipped (no NOTIFY sent, no error recorded), as HAProxy does.
    pub max_error_rate: Option<u32>,
    /// Whether callers hand a message straight to a ready connection with a
    /// free slot, rather than through the dispatcher. `None` (the default):
    /// when the engine starts on a current-thread runtime, where callers and
    /// connections share the thread (the gateway's workers). On a
    /// multi-thread runtime the dispatcher batches better: each direct
    /// hand-off would wake a connection task on another thread
    /// (`spoe bench` at 16x16 ran 35-50% slower that way).
    pub direct_handoff: Option<bool>,
}

impl EngineSettings {
    /// Settings with HAProxy's defaults for an agent called `agent_id`.
    pub fn new(
        agent_id: impl Into<String>,
        servers: Vec<AgentAddr>,
        timeout_processing: Duration,
    ) -> Self {
        Self {
            agent_id: agent_id.into(),
            servers,
            timeout_processing,
            timeout_hello: Duration::from_secs(2),
            timeout_idle: Duration::from_secs(30),
            timeout_connect: Duration::from_secs(5),
            max_frame_size: spop::HAPROXY_DEFAULT_FRAME_SIZE,
            max_waiting_frames: 20,
            pipelining: true,
            max_connections_per_server: 64,
            max_queue: 10_000,
            direct_handoff: None,
            retry_floor: Duration::from_millis(20),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            engine_id: new_engine_id(),
            max_connection_rate: None,
            max_error_rate: None,
            health_check: None,
        }
    }
}

/// A number that differs from call to call: std seeds each `RandomState`
/// with fresh keys, which is all the randomness jitter and ids need here.
pub(crate) fn random_u64() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0u8)
}

/// A random-looking engine id (format of a UUID v4) without a dependency:
/// uniqueness across engines is all that matters.
fn new_engine_id() -> String {
    let words = [random_u64(), random_u64()];
    let hex = format!("{:016x}{:016x}", words[0], words[1]);
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// The messages of one NOTIFY, encoded as its LIST-OF-MESSAGES.
#[derive(Debug)]
pub(crate) enum Payload {
    Encoded(bytes::Bytes),
    /// Nothing to send: the event succeeds at once.
    Empty,
    /// A message the wire format cannot carry (more than 255 arguments).
    TooBig,
}

/// What a connection answers for one job.
#[derive(Debug)]
pub(crate) enum JobResult {
    Ack {
        actions: Vec<Action>,
        written_at: Instant,
    },
    Failed(ProcessStatus),
}

/// One event's messages on their way to an agent.
#[derive(Debug)]
pub(crate) struct Job {
    /// The encoded LIST-OF-MESSAGES.
    pub(crate) payload: bytes::Bytes,
    pub(crate) deadline: Instant,
    pub(crate) reply: oneshot::Sender<JobResult>,
}

impl Job {
    /// Nobody waits for this job any more: its deadline passed or its
    /// caller went away.
    pub(crate) fn abandoned(&self, now: Instant) -> bool {
        now >= self.deadline || self.reply.is_closed()
    }

    /// Gives up on an abandoned job, telling a caller that may still be
    /// listening that its deadline passed.
    pub(crate) fn expire(self) {
        let _ = self.reply.send(JobResult::Failed(ProcessStatus::TIMEOUT));
    }
}

#[derive(Debug)]
pub(crate) enum Command {
    Submit(Job),
    Drain,
}

/// Live counters of an engine.
#[derive(Debug, Default)]
pub struct EngineStats {
    /// Open agent connections (connecting or ready).
    pub connections: AtomicU64,
    /// Connections opened since start.
    pub connections_opened: AtomicU64,
    /// ACKs that arrived after their message's deadline, dropped.
    pub late_acks: AtomicU64,
    /// Failed connect or handshake attempts.
    pub connect_failures: AtomicU64,
    /// Connections closed because the agent broke the protocol after its
    /// handshake (invalid frame, unknown ids, oversized frame, ...).
    pub protocol_errors: AtomicU64,
    /// Messages retried on another connection.
    pub retries: AtomicU64,
    /// Events processed.
    pub processed: AtomicU64,
    /// Events that failed.
    pub errors: AtomicU64,
    /// Calls to [`Engine::process`] in progress.
    pub pending: AtomicU64,
    /// Messages written and waiting for their ACK.
    pub waiting: AtomicU64,
    /// Ready connections with nothing in flight.
    pub idle: AtomicU64,
    /// Handshakes completed.
    pub handshakes: AtomicU64,
    /// Total time of completed connects and handshakes, in microseconds.
    pub handshake_micros: AtomicU64,
    /// Events skipped because `maxerrrate` was reached.
    pub skipped: AtomicU64,
}

impl EngineStats {
    /// The counters of the SPOE log line.
    pub fn log_counters(&self) -> crate::log::LogCounters {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        crate::log::LogCounters {
            idles: get(&self.idle),
            applets: get(&self.connections),
            sending: get(&self.pending).saturating_sub(get(&self.waiting)),
            waiting: get(&self.waiting),
            errors: get(&self.errors),
            processed: get(&self.processed),
        }
    }
}

/// Counts a call to `process` as pending until dropped, and records its outcome.
struct PendingGuard<'a>(&'a EngineStats);

impl<'a> PendingGuard<'a> {
    fn new(stats: &'a EngineStats) -> Self {
        stats.pending.fetch_add(1, Ordering::Relaxed);
        Self(stats)
    }

    fn record(self, outcome: Outcome) -> Outcome {
        self.0.processed.fetch_add(1, Ordering::Relaxed);
        if !outcome.status.is_ok() {
            self.0.errors.fetch_add(1, Ordering::Relaxed);
        }
        outcome
    }
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One SPOE engine: one agent, a pool of connections to its servers.
///
/// Every message gets `deadline = queued_at + timeout processing` once;
/// queueing, connecting, the hello, the write and the wait for the ACK all
/// run under it, and nothing else extends it. Dropping the engine, or
/// [`Engine::shutdown`], stops everything at once.
#[derive(Debug)]
pub struct Engine {
    commands: mpsc::Sender<Command>,
    settings: Arc<EngineSettings>,
    stats: Arc<EngineStats>,
    stop: CancellationToken,
    tracker: TaskTracker,
    finished: watch::Receiver<bool>,
    errors_per_sec: std::sync::Mutex<RateCounter>,
    ready: Arc<Ready>,
}

impl Engine {
    /// Starts an engine that reaches agents over TCP or Unix sockets. Must
    /// be called inside a tokio runtime.
    pub fn start(settings: EngineSettings) -> Self {
        Self::with_connector(settings, Arc::new(NetConnector))
    }

    /// Starts an engine that reaches agents through `connector`.
    pub fn with_connector(settings: EngineSettings, connector: Arc<dyn Connector>) -> Self {
        let settings = Arc::new(settings);
        let (commands, rx) = mpsc::channel(settings.max_queue.max(1));
        let stats = Arc::new(EngineStats::default());
        let stop = CancellationToken::new();
        let tracker = TaskTracker::new();
        let (drained_tx, finished) = watch::channel(false);
        let direct = settings.direct_handoff.unwrap_or_else(|| {
            tokio::runtime::Handle::try_current()
                .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread)
        });
        let ready = Arc::new(Ready::new(direct));
        let dispatcher = Dispatcher::new(
            settings.clone(),
            connector,
            EngineLink {
                commands: rx,
                drained: drained_tx,
                ready: ready.clone(),
            },
            stats.clone(),
            stop.clone(),
            tracker.clone(),
        );
        tracker.spawn(dispatcher.run());
        Self {
            commands,
            settings,
            stats,
            stop,
            tracker,
            finished,
            errors_per_sec: std::sync::Mutex::new(RateCounter::new(Instant::now())),
            ready,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    /// Live counters.
    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    /// Sends `messages` in one NOTIFY and waits for the ACK, at most until
    /// `queued_at + timeout processing`. Never fails otherwise than through
    /// [`Outcome::status`]. Dropping the future cancels the message: its
    /// slot is freed at once if it was not sent, and its late ACK is dropped.
    pub async fn process(&self, messages: &[Message]) -> Outcome {
        let payload = if messages.is_empty() {
            Payload::Empty
        } else if messages.iter().any(|m| m.validate().is_err()) {
            Payload::TooBig
        } else {
            let mut b = BytesMut::new();
            for m in messages {
                m.encode(&mut b);
            }
            Payload::Encoded(b.freeze())
        };
        self.process_payload(payload).await
    }

    /// [`Engine::process`] for messages already encoded.
    pub(crate) async fn process_payload(&self, payload: Payload) -> Outcome {
        if self.error_rate_reached() {
            self.stats.skipped.fetch_add(1, Ordering::Relaxed);
            return Outcome::nothing_sent();
        }
        let guard = PendingGuard::new(&self.stats);
        let outcome = self.process_inner(payload).await;
        if !outcome.status.is_ok()
            && self.settings.max_error_rate.is_some()
            && let Ok(mut r) = self.errors_per_sec.lock()
        {
            r.add(Instant::now());
        }
        guard.record(outcome)
    }

    fn error_rate_reached(&self) -> bool {
        let Some(max) = self.settings.max_error_rate else {
            return false;
        };
        self.errors_per_sec
            .lock()
            .is_ok_and(|mut r| r.rate(Instant::now()) >= u64::from(max))
    }

    async fn process_inner(&self, payload: Payload) -> Outcome {
        let queued_at = Instant::now();
        let deadline = queued_at + self.settings.timeout_processing;
        let fail = |status| {
            Outcome::failed(
                status,
                Timings {
                    queue: None,
                    wait: None,
                    total: queued_at.elapsed(),
                },
            )
        };
        let payload = match payload {
            Payload::Encoded(b) => b,
            Payload::Empty => {
                return Outcome::nothing_sent();
            }
            Payload::TooBig => return fail(ProcessStatus::TOO_BIG),
        };
        let (reply, answer) = oneshot::channel();
        let job = Job {
            payload,
            deadline,
            reply,
        };
        // A ready connection with a free slot takes it directly; otherwise
        // the dispatcher queues it (and opens connections).
        if let Err(job) = self.ready.try_hand(job) {
            match self.commands.try_send(Command::Submit(job)) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => return fail(ProcessStatus::RESOURCE),
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    return fail(ProcessStatus::INTERRUPTED);
                }
            }
        }
        match timeout_at(deadline, answer).await {
            Ok(Ok(JobResult::Ack {
                actions,
                written_at,
            })) => {
                let now = Instant::now();
                Outcome {
                    status: ProcessStatus::OK,
                    actions,
                    timings: Timings {
                        queue: Some(written_at.saturating_duration_since(queued_at)),
                        wait: Some(now.saturating_duration_since(written_at)),
                        total: now.saturating_duration_since(queued_at),
                    },
                }
            }
            Ok(Ok(JobResult::Failed(status))) => fail(status),
            // The engine dropped the job: at its deadline, or because it stopped.
            Ok(Err(_)) if Instant::now() >= deadline => fail(ProcessStatus::TIMEOUT),
            Ok(Err(_)) => fail(ProcessStatus::INTERRUPTED),
            Err(_) => fail(ProcessStatus::TIMEOUT),
        }
    }

    /// Starts draining: idle connections are closed with HAPROXY-DISCONNECT
    /// at once, busy ones as soon as their last message is answered.
    /// Messages are still accepted (the later events of requests already
    /// running, during a reload): they open a connection when none is left,
    /// which closes again once idle. [`Engine::drained`] tells when nothing
    /// is open any more.
    pub fn drain(&self) {
        let _ = self.commands.try_send(Command::Drain);
    }

    /// Resolves when a drain is complete: no connection open and nothing
    /// queued (or the engine stopped).
    pub async fn drained(&self) {
        let mut rx = self.finished.clone();
        let _ = rx.wait_for(|done| *done).await;
    }

    /// Stops at once: connections are dropped and waiting messages fail
    /// with status 5 (interrupted).
    pub async fn shutdown(&self) {
        self.stop.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
