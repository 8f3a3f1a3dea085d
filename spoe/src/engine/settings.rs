//! What an engine is configured with and what it counts: read by every
//! part of the runtime, importing none of them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use std::sync::Arc;

use crate::engine::connector::AgentAddr;
use crate::engine::health::HealthCheck;
use crate::engine::reach::Reachability;

// The SPOE timeouts when `spoe.conf` sets none. HAProxy 2.6 has no default
// for any of the three: `flt_spoe.c` starts `timeout hello`, `idle` and
// `processing` at TICK_ETERNITY and only warns ("missing timeouts for SPOE
// agent"), and doc/SPOE.txt documents none. This engine is bounded
// everywhere, so it keeps that warning (`ConfigWarningKind::MissingTimeouts`)
// and uses these instead; the one set, used by `EngineSettings::new` and
// `SpoeFilter` alike.

/// `timeout processing` when unset (HAProxy: no limit).
pub const DEFAULT_TIMEOUT_PROCESSING: Duration = Duration::from_secs(30);
/// `timeout hello` when unset (HAProxy: no limit).
pub const DEFAULT_TIMEOUT_HELLO: Duration = Duration::from_secs(5);
/// `timeout idle` when unset (HAProxy: idle connections are kept forever;
/// here, a day).
pub const DEFAULT_TIMEOUT_IDLE: Duration = Duration::from_secs(86_400);

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
    pub health_check: Option<HealthCheck>,
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
    /// Whether each server answers, shared by every engine started from a
    /// copy of these settings (the gateway's workers): a server's change
    /// is logged once, with its cause.
    pub reachability: Arc<Reachability>,
}

impl EngineSettings {
    /// Settings for an agent called `agent_id`, with the default timeouts
    /// ([`DEFAULT_TIMEOUT_HELLO`], [`DEFAULT_TIMEOUT_IDLE`]) and HAProxy's
    /// defaults elsewhere (`max-frame-size`, `max-waiting-frames`).
    pub fn new(
        agent_id: impl Into<String>,
        servers: Vec<AgentAddr>,
        timeout_processing: Duration,
    ) -> Self {
        Self {
            agent_id: agent_id.into(),
            servers,
            timeout_processing,
            timeout_hello: DEFAULT_TIMEOUT_HELLO,
            timeout_idle: DEFAULT_TIMEOUT_IDLE,
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
            reachability: Arc::default(),
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
    /// Calls to [`Engine::process`](crate::Engine::process) in progress.
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
