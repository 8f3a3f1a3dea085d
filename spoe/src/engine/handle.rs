//! The engine's public face: [`Engine::process`] sends one event's messages
//! to an agent and returns the [`Outcome`] by the message's deadline.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::BytesMut;
use spop::{ActionList, Message};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, timeout_at};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock;
use crate::engine::connector::{Connector, NetConnector};
use crate::engine::dispatch::{Dispatcher, EngineLink};
use crate::engine::job::{Job, JobResult, Payload};
use crate::engine::outcome::{Outcome, ProcessStatus, Timings};
use crate::engine::rate::RateCounter;
use crate::engine::ready::Ready;
use crate::engine::settings::{EngineSettings, EngineStats};

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
    /// Messages for the dispatcher, bounded by `max_queue`.
    commands: mpsc::Sender<Job>,
    /// Set once by [`Engine::drain`]; a flag rather than a message so that a
    /// full queue cannot lose it.
    drain: watch::Sender<bool>,
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
        let (drain, drain_rx) = watch::channel(false);
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
                drain: drain_rx,
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
            drain,
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
        let (mut outcome, actions) = self.process_payload(payload).await;
        outcome.actions = actions.to_vec();
        outcome
    }

    /// [`Engine::process`] for messages already encoded. The agent's
    /// actions come apart, as read in place (the outcome's are empty).
    pub(crate) async fn process_payload(&self, payload: Payload) -> (Outcome, ActionList) {
        if self.error_rate_reached() {
            self.stats.skipped.fetch_add(1, Ordering::Relaxed);
            return (Outcome::nothing_sent(), ActionList::default());
        }
        let guard = PendingGuard::new(&self.stats);
        let (outcome, actions) = self.process_inner(payload).await;
        if !outcome.status.is_ok()
            && self.settings.max_error_rate.is_some()
            && let Ok(mut r) = self.errors_per_sec.lock()
        {
            r.add(Instant::now());
        }
        (guard.record(outcome), actions)
    }

    fn error_rate_reached(&self) -> bool {
        let Some(max) = self.settings.max_error_rate else {
            return false;
        };
        self.errors_per_sec
            .lock()
            .is_ok_and(|mut r| r.rate(Instant::now()) >= u64::from(max))
    }

    async fn process_inner(&self, payload: Payload) -> (Outcome, ActionList) {
        // The turn's time (as HAProxy's `now_ms`): one clock read for the
        // request's SPOE round trip, its deadline at most a poll's length early.
        let queued_at = clock::now();
        let deadline = queued_at + self.settings.timeout_processing;
        let fail = |status| {
            let timings = Timings {
                queue: None,
                wait: None,
                total: clock::since(queued_at),
            };
            (Outcome::failed(status, timings), ActionList::default())
        };
        let payload = match payload {
            Payload::Encoded(b) => b,
            Payload::Empty => {
                return (Outcome::nothing_sent(), ActionList::default());
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
            match self.commands.try_send(job) {
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
                let now = clock::now();
                let outcome = Outcome {
                    status: ProcessStatus::OK,
                    actions: Vec::new(),
                    timings: Timings {
                        queue: Some(written_at.saturating_duration_since(queued_at)),
                        wait: Some(now.saturating_duration_since(written_at)),
                        total: now.saturating_duration_since(queued_at),
                    },
                };
                (outcome, actions)
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
        self.drain.send_replace(true);
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
