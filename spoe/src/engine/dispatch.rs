//! The dispatcher: one task per engine that owns the queue of messages
//! waiting for a connection, the set of connections, and the backoff of
//! each server. Connections report what happens to them as events; the
//! dispatcher never waits on a socket.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::engine::agent_conn;
use crate::engine::connector::Connector;
use crate::engine::job::{ConnEvent, ConnId, ConnMsg, Job, JobResult};
use crate::engine::outcome::ProcessStatus;
use crate::engine::rate::{LogLimiter, RateCounter};
use crate::engine::ready::{FreeSlots, Ready};
use crate::engine::settings::{EngineSettings, EngineStats, random_u64};

/// At most one "protocol error" WARN line per agent server per this long
/// (the next line says how many were held back).
const PROTOCOL_WARN_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Debug)]
enum ConnState {
    Connecting,
    Ready { slots: usize },
    Closing,
}

#[derive(Debug)]
struct Conn {
    server: usize,
    state: ConnState,
    tx: mpsc::UnboundedSender<ConnMsg>,
    /// Shared with the connection and, once ready, with callers.
    free: Arc<FreeSlots>,
}

#[derive(Debug)]
struct Server {
    /// Health as `option spop-check` sees it (always up without checks).
    down: bool,
    connections: usize,
    /// Failed connects and handshakes in a row (reset by a handshake).
    failures: u32,
    /// Connections in a row that died of a protocol error soon after their
    /// handshake (reset by healthy traffic, not by a handshake: such an
    /// agent handshakes fine every time).
    broken: u32,
    retry_at: Option<Instant>,
    /// While it backs off, the status its queued messages fail with at once:
    /// HAProxy 2.6's for the same cause. A connect or handshake that failed
    /// is 1 (HAProxy reconnects until `timeout processing` and records a
    /// timeout); a connection that broke the protocol after its handshake
    /// is 256 + its status (HAProxy reconnects, sends, and fails again so).
    fail_fast: Option<ProcessStatus>,
    protocol_warns: LogLimiter,
}

impl Default for Server {
    fn default() -> Self {
        Self {
            down: false,
            connections: 0,
            failures: 0,
            broken: 0,
            retry_at: None,
            fail_fast: None,
            protocol_warns: LogLimiter::new(PROTOCOL_WARN_INTERVAL),
        }
    }
}

pub(crate) struct Dispatcher {
    settings: Arc<EngineSettings>,
    connector: Arc<dyn Connector>,
    commands: mpsc::Receiver<Job>,
    /// Becomes true once when the engine is told to drain.
    drain: tokio::sync::watch::Receiver<bool>,
    events_tx: mpsc::UnboundedSender<ConnEvent>,
    events: mpsc::UnboundedReceiver<ConnEvent>,
    stats: Arc<EngineStats>,
    stop: CancellationToken,
    tracker: TaskTracker,
    queue: VecDeque<Job>,
    conns: HashMap<ConnId, Conn>,
    servers: Vec<Server>,
    next_id: ConnId,
    next_server: usize,
    draining: bool,
    commands_closed: bool,
    /// Tells `Engine::drained` whether the drain is complete.
    drained: tokio::sync::watch::Sender<bool>,
    connects_per_sec: RateCounter,
    ready: Arc<Ready>,
}

/// How the dispatcher hears from and reports to its [`crate::Engine`].
pub(crate) struct EngineLink {
    pub(crate) commands: mpsc::Receiver<Job>,
    /// Set by `Engine::drain`.
    pub(crate) drain: tokio::sync::watch::Receiver<bool>,
    /// Tells `Engine::drained` whether the drain is complete.
    pub(crate) drained: tokio::sync::watch::Sender<bool>,
    /// The ready connections callers hand messages to.
    pub(crate) ready: Arc<Ready>,
}

impl Dispatcher {
    pub(crate) fn new(
        settings: Arc<EngineSettings>,
        connector: Arc<dyn Connector>,
        link: EngineLink,
        stats: Arc<EngineStats>,
        stop: CancellationToken,
        tracker: TaskTracker,
    ) -> Self {
        let EngineLink {
            commands,
            drain,
            drained,
            ready,
        } = link;
        // Unbounded, yet bounded by what sends to it: each connection sends
        // `Ready` once, `Closing` at most twice and `Closed` once, and there
        // are at most `servers x max_connections_per_server` of them; each
        // server's health check sends at most one `Health` per `inter`. Freed
        // slots do not come this way (see `Ready::slot_freed`).
        let (events_tx, events) = mpsc::unbounded_channel();
        let servers = settings.servers.iter().map(|_| Server::default()).collect();
        Self {
            settings,
            connector,
            commands,
            drain,
            events_tx,
            events,
            stats,
            stop,
            tracker,
            queue: VecDeque::new(),
            conns: HashMap::new(),
            servers,
            next_id: 0,
            next_server: 0,
            draining: false,
            commands_closed: false,
            drained,
            connects_per_sec: RateCounter::new(Instant::now()),
            ready,
        }
    }

    pub(crate) async fn run(mut self) {
        if let Some(check) = self.settings.health_check {
            for (i, addr) in self.settings.servers.iter().enumerate() {
                self.tracker.spawn(crate::engine::health::run(
                    self.settings.agent_id.clone(),
                    i,
                    addr.clone(),
                    check,
                    self.settings.max_frame_size,
                    self.connector.clone(),
                    self.events_tx.clone(),
                    self.settings.reachability.clone(),
                    self.stop.child_token(),
                ));
            }
        }
        loop {
            self.dispatch();
            self.close_idle_if_draining();
            let idle = self.queue.is_empty() && self.conns.is_empty();
            // Every Engine handle is gone: nothing more can come.
            if self.commands_closed && idle {
                break;
            }
            let drained = self.draining && idle;
            self.drained
                .send_if_modified(|d| std::mem::replace(d, drained) != drained);
            let wake = self.next_retry();
            tokio::select! {
                biased;
                () = self.stop.cancelled() => break,
                ev = self.events.recv() => match ev {
                    Some(ev) => self.on_event(ev),
                    None => break,
                },
                cmd = self.commands.recv(), if !self.commands_closed => match cmd {
                    Some(job) => self.submit(job),
                    None => {
                        self.commands_closed = true;
                        self.start_drain();
                    }
                },
                // An error means the engine is gone, which drains too.
                _ = self.drain.changed(), if !self.draining => self.start_drain(),
                () = self.ready.freed() => {}
                () = sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {}
            }
        }
        // Hard stop or finished drain: anything still queued is interrupted.
        for job in self.queue.drain(..) {
            let _ = job
                .reply
                .send(JobResult::Failed(ProcessStatus::INTERRUPTED));
        }
    }

    fn submit(&mut self, job: Job) {
        if self.queue.len() >= self.settings.max_queue {
            let _ = job.reply.send(JobResult::Failed(ProcessStatus::RESOURCE));
            return;
        }
        self.queue.push_back(job);
    }

    fn start_drain(&mut self) {
        if self.draining {
            return;
        }
        debug!(agent = %self.settings.agent_id, "engine draining");
        self.draining = true;
        self.ready.set_draining();
    }

    /// While draining, a connection with nothing in flight and nothing to
    /// take is told to close (it sends HAPROXY-DISCONNECT). The decision is
    /// the dispatcher's, because only it knows that no message is on its way
    /// to that connection.
    fn close_idle_if_draining(&mut self) {
        if !self.draining || !self.queue.is_empty() {
            return;
        }
        for (id, c) in &mut self.conns {
            if let ConnState::Ready { slots } = c.state
                && c.free.get() == slots
            {
                self.ready.unpublish(*id);
                let _ = c.tx.send(ConnMsg::Drain);
                c.state = ConnState::Closing;
            }
        }
    }

    /// Sends queued messages to free slots, and opens connections when the
    /// queue cannot be served otherwise.
    fn dispatch(&mut self) {
        let now = Instant::now();
        // Published before looking for free slots: a connection that frees
        // one after this sees it and wakes the dispatcher (see `ready`).
        self.ready.set_queued(self.queue.len());
        while let Some(job) = self.queue.pop_front() {
            if job.abandoned(now) {
                job.expire();
                continue;
            }
            let slot = self
                .conns
                .iter_mut()
                .find(|(_, c)| matches!(c.state, ConnState::Ready { .. }) && c.free.take());
            let Some((id, conn)) = slot else {
                self.queue.push_front(job);
                break;
            };
            if let Err(mpsc::error::SendError(ConnMsg::Job(job))) = conn.tx.send(ConnMsg::Job(job))
            {
                // The connection just ended; its Closed event will follow.
                conn.state = ConnState::Closing;
                self.ready.unpublish(*id);
                self.queue.push_front(job);
            }
        }
        self.ready.set_queued(self.queue.len());
        if self.queue.is_empty() {
            return;
        }
        let connecting = self
            .conns
            .values()
            .filter(|c| matches!(c.state, ConnState::Connecting))
            .count();
        let per_conn = if self.settings.pipelining {
            self.settings.max_waiting_frames.max(1)
        } else {
            1
        };
        let wanted = self.queue.len().div_ceil(per_conn);
        for _ in connecting..wanted {
            if !self.open_connection(now) {
                break;
            }
        }
        // Nothing can serve the queue now: fail fast rather than let every
        // message wait out its deadline, with the status HAProxy 2.6 records
        // for the same cause (see `Server::fail_fast`).
        let any_usable = self
            .conns
            .values()
            .any(|c| !matches!(c.state, ConnState::Closing));
        if !any_usable && let Some(status) = self.blocking_failure(now) {
            for job in self.queue.drain(..) {
                let _ = job.reply.send(JobResult::Failed(status));
            }
        }
    }

    /// When every server is down or backing off after a failure, the status
    /// queued messages fail with: no server at all, or one down
    /// (`option spop-check`), is HAProxy's timeout (1), as a failed connect.
    fn blocking_failure(&self, now: Instant) -> Option<ProcessStatus> {
        if self.servers.is_empty() {
            return Some(ProcessStatus::TIMEOUT);
        }
        let mut last = None;
        for s in &self.servers {
            if s.down {
                last = last.or(Some(ProcessStatus::TIMEOUT));
                continue;
            }
            match s.retry_at {
                Some(at) if at > now => last = s.fail_fast.or(last),
                _ if s.connections < self.settings.max_connections_per_server => return None,
                _ => {}
            }
        }
        last
    }

    /// Opens one connection on the next server that is not backing off and
    /// has room. Returns false when none can.
    fn open_connection(&mut self, now: Instant) -> bool {
        if let Some(max) = self.settings.max_connection_rate
            && self.connects_per_sec.rate(now) >= u64::from(max)
        {
            return false;
        }
        let n = self.servers.len();
        for i in 0..n {
            let idx = (self.next_server + i) % n;
            let s = &self.servers[idx];
            if s.down
                || s.retry_at.is_some_and(|at| at > now)
                || s.connections >= self.settings.max_connections_per_server
            {
                continue;
            }
            self.next_server = (idx + 1) % n;
            self.servers[idx].connections += 1;
            self.connects_per_sec.add(now);
            let id = self.next_id;
            self.next_id += 1;
            // Unbounded, yet it holds at most the connection's slots plus one
            // `Drain`: a job is sent only by whoever took a free slot first
            // (`FreeSlots::take`, here and in `Ready::try_hand`).
            let (tx, rx) = mpsc::unbounded_channel();
            let free = Arc::new(FreeSlots::default());
            self.conns.insert(
                id,
                Conn {
                    server: idx,
                    state: ConnState::Connecting,
                    tx,
                    free: free.clone(),
                },
            );
            self.stats.connections.fetch_add(1, Ordering::Relaxed);
            self.stats
                .connections_opened
                .fetch_add(1, Ordering::Relaxed);
            let task = agent_conn::run(
                id,
                self.settings.servers[idx].clone(),
                self.settings.clone(),
                self.connector.clone(),
                agent_conn::Channels {
                    jobs: rx,
                    events: self.events_tx.clone(),
                    free,
                    ready: self.ready.clone(),
                },
                self.stats.clone(),
                self.stop.child_token(),
            );
            // Its polls read the clock once each (`clock`).
            self.tracker.spawn(crate::clock::stamped(task));
            return true;
        }
        false
    }

    fn next_retry(&self) -> Option<Instant> {
        if self.queue.is_empty() {
            return None;
        }
        let now = Instant::now();
        let rate_limited = self
            .settings
            .max_connection_rate
            .map(|_| self.connects_per_sec.next_room());
        self.servers
            .iter()
            .filter_map(|s| s.retry_at)
            .chain(rate_limited)
            .filter(|&at| at > now)
            .min()
    }

    fn on_event(&mut self, ev: ConnEvent) {
        match ev {
            ConnEvent::Ready { id, slots } => {
                if let Some(c) = self.conns.get_mut(&id) {
                    c.state = ConnState::Ready { slots };
                    self.ready.publish(id, c.free.clone(), c.tx.clone());
                    let s = &mut self.servers[c.server];
                    s.failures = 0;
                    s.retry_at = None;
                    s.fail_fast = None;
                    if self.settings.reachability.connected(c.server, true) {
                        info!(
                            agent = %self.settings.agent_id,
                            server = %self.settings.servers[c.server],
                            "agent server {} answers again",
                            self.settings.servers[c.server]
                        );
                    }
                }
            }
            ConnEvent::Health { server, up } => {
                if let Some(s) = self.servers.get_mut(server) {
                    s.down = !up;
                }
            }
            ConnEvent::Closing { id } => {
                if let Some(c) = self.conns.get_mut(&id) {
                    c.state = ConnState::Closing;
                    self.ready.unpublish(id);
                }
            }
            ConnEvent::Healthy { id } => {
                if let Some(c) = self.conns.get(&id) {
                    self.servers[c.server].broken = 0;
                }
            }
            ConnEvent::Closed {
                id,
                handshake_failure,
                protocol_error,
                retry,
            } => {
                let Some(c) = self.conns.remove(&id) else {
                    return;
                };
                self.ready.unpublish(id);
                self.stats.connections.fetch_sub(1, Ordering::Relaxed);
                let s = &mut self.servers[c.server];
                s.connections = s.connections.saturating_sub(1);
                if let Some(failure) = handshake_failure {
                    self.stats.connect_failures.fetch_add(1, Ordering::Relaxed);
                    s.failures = s.failures.saturating_add(1);
                    s.fail_fast = Some(ProcessStatus::TIMEOUT);
                    let delay = backoff(
                        self.settings.backoff_min,
                        self.settings.backoff_max,
                        s.failures,
                    );
                    s.retry_at = Some(Instant::now() + delay);
                    let server = &self.settings.servers[c.server];
                    // Once per change, whichever engine of the agent sees it
                    // first; each attempt at debug level.
                    if self.settings.reachability.connected(c.server, false) {
                        warn!(
                            agent = %self.settings.agent_id,
                            %server,
                            status = %failure.status,
                            "agent server {server} unreachable: {}; its messages fail at once \
                             with status 1, as HAProxy records them, until it answers",
                            failure.why
                        );
                    } else {
                        debug!(
                            agent = %self.settings.agent_id,
                            %server,
                            why = %failure.why,
                            retry_in = ?delay,
                            "agent connection failed"
                        );
                    }
                }
                if let Some(e) = protocol_error {
                    self.stats.protocol_errors.fetch_add(1, Ordering::Relaxed);
                    // An agent that handshakes and then breaks the protocol
                    // would otherwise be reconnected at once, again and again.
                    let retry_in = if e.soon {
                        s.broken = s.broken.saturating_add(1);
                        s.fail_fast = Some(ProcessStatus::connection(e.status));
                        let delay = backoff(
                            self.settings.backoff_min,
                            self.settings.backoff_max,
                            s.broken,
                        );
                        s.retry_at = Some(Instant::now() + delay);
                        Some(delay)
                    } else {
                        s.broken = 0;
                        None
                    };
                    if let Some(suppressed) = s.protocol_warns.admit(Instant::now()) {
                        warn!(
                            agent = %self.settings.agent_id,
                            server = %self.settings.servers[c.server],
                            status = %e.status,
                            why = %e.why,
                            ?retry_in,
                            suppressed,
                            "closing agent connection: protocol error"
                        );
                    }
                }
                // Retried messages go first: they are the oldest.
                for job in retry.into_iter().rev() {
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    self.queue.push_front(job);
                }
            }
        }
    }
}

/// Exponential backoff with +-25 % jitter: `min * 2^(failures-1)`, capped.
fn backoff(min: Duration, max: Duration, failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(20);
    let base = min.saturating_mul(1u32 << exp).min(max);
    let jitter = jitter_fraction();
    base.mul_f64(0.75 + 0.5 * jitter).min(max)
}

/// A number in [0, 1) that differs from call to call.
fn jitter_fraction() -> f64 {
    (random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let min = Duration::from_millis(100);
        let max = Duration::from_secs(5);
        for _ in 0..100 {
            let b1 = backoff(min, max, 1);
            assert!(
                b1 >= Duration::from_millis(75) && b1 <= Duration::from_millis(125),
                "{b1:?}"
            );
            let b4 = backoff(min, max, 4);
            assert!(
                b4 >= Duration::from_millis(600) && b4 <= Duration::from_millis(1000),
                "{b4:?}"
            );
            assert!(backoff(min, max, 100) <= max);
        }
    }
}
