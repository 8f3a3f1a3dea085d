//! What an engine is configured with and what it counts: read by every
//! part of the runtime, importing none of them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::engine::health::HealthCheck;
use crate::engine::reach::Reachability;
use spop_io::Addr;

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
    pub servers: Vec<Addr>,
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
        servers: Vec<Addr>,
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

/// Live counters of an engine, read through its methods (the engine's
/// parts count; nothing else writes them).
#[derive(Debug, Default)]
pub struct EngineStats {
    pub(crate) connections: AtomicU64,
    pub(crate) connections_opened: AtomicU64,
    pub(crate) late_acks: AtomicU64,
    pub(crate) connect_failures: AtomicU64,
    pub(crate) protocol_errors: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) processed: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) pending: AtomicU64,
    pub(crate) waiting: AtomicU64,
    pub(crate) idle: AtomicU64,
    pub(crate) handshakes: AtomicU64,
    pub(crate) handshake_micros: AtomicU64,
    pub(crate) skipped: AtomicU64,
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

impl EngineStats {
    /// Open agent connections (connecting or ready).
    pub fn connections(&self) -> u64 {
        get(&self.connections)
    }

    /// Connections opened since start.
    pub fn connections_opened(&self) -> u64 {
        get(&self.connections_opened)
    }

    /// ACKs that arrived after their message's deadline, dropped.
    pub fn late_acks(&self) -> u64 {
        get(&self.late_acks)
    }

    /// Failed connect or handshake attempts.
    pub fn connect_failures(&self) -> u64 {
        get(&self.connect_failures)
    }

    /// Connections closed because the agent broke the protocol after its
    /// handshake (invalid frame, unknown ids, oversized frame, ...).
    pub fn protocol_errors(&self) -> u64 {
        get(&self.protocol_errors)
    }

    /// Messages retried on another connection.
    pub fn retries(&self) -> u64 {
        get(&self.retries)
    }

    /// Events processed.
    pub fn processed(&self) -> u64 {
        get(&self.processed)
    }

    /// Events that failed.
    pub fn errors(&self) -> u64 {
        get(&self.errors)
    }

    /// Calls to [`Engine::process`](crate::Engine::process) in progress.
    pub fn pending(&self) -> u64 {
        get(&self.pending)
    }

    /// Messages written and waiting for their ACK.
    pub fn waiting(&self) -> u64 {
        get(&self.waiting)
    }

    /// Ready connections with nothing in flight.
    pub fn idle(&self) -> u64 {
        get(&self.idle)
    }

    /// Handshakes completed.
    pub fn handshakes(&self) -> u64 {
        get(&self.handshakes)
    }

    /// Total time of completed connects and handshakes.
    pub fn handshake_time(&self) -> Duration {
        Duration::from_micros(get(&self.handshake_micros))
    }

    /// Events skipped because `maxerrrate` was reached.
    pub fn skipped(&self) -> u64 {
        get(&self.skipped)
    }

    /// The counters of the SPOE log line.
    pub fn log_counters(&self) -> crate::log::LogCounters {
        crate::log::LogCounters {
            idles: self.idle(),
            applets: self.connections(),
            sending: self.pending().saturating_sub(self.waiting()),
            waiting: self.waiting(),
            errors: self.errors(),
            processed: self.processed(),
        }
    }
}
