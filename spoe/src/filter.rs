//! The SPOE filter: what a proxy calls at each event of a stream. It binds a
//! parsed `spoe.conf` to an [`Engine`]: it evaluates the messages of an
//! event (conditions and arguments, against the host's [`Fetch`]), sends
//! them, turns the outcome into variable updates, and logs HAProxy's SPOE
//! line.

use std::time::Duration;

use crate::clock;
use crate::config::MessageConfig;
use crate::config::{Event, SpoeConfig};
use crate::engine::handle::Engine;
use crate::engine::job::Payload;
use crate::engine::outcome::Outcome;
use crate::engine::settings::{
    DEFAULT_TIMEOUT_HELLO, DEFAULT_TIMEOUT_IDLE, DEFAULT_TIMEOUT_PROCESSING, EngineSettings,
};
use crate::expr::Fetch;
use crate::log::{LogLine, Processed};
use crate::vars::{ResultPolicy, VarNames, VarUpdate};
use spop_io::Addr;

/// Evaluates and encodes the messages whose conditions hold, straight into
/// the NOTIFY's payload, with which of them were sent (see [`Sent`]).
/// `None` when none is.
fn encode<'m>(
    messages: impl Iterator<Item = &'m MessageConfig>,
    host: &(impl Fetch + ?Sized),
) -> Option<(Payload, Sent)> {
    // Room for the usual message (a few addresses, a path, a header) in one allocation; a
    // bigger one grows by doubling.
    let mut payload = bytes::BytesMut::with_capacity(256);
    let mut sent = Sent(0);
    for (i, m) in messages.enumerate() {
        if !m.should_send(host) {
            continue;
        }
        sent.0 |= 1u64
            .checked_shl(u32::try_from(i).unwrap_or(u32::MAX))
            .unwrap_or(1 << 63);
        if !m.encode_into(host, &mut payload) {
            return Some((Payload::TooBig, sent));
        }
    }
    (sent.0 != 0).then(|| (Payload::Encoded(payload.freeze()), sent))
}

/// Which messages of an event or group were sent: bit N for the Nth (the
/// 64th bit stands for it and every later one, which no configuration in
/// the field comes near).
#[derive(Debug, Clone, Copy)]
struct Sent(u64);

impl Sent {
    fn has(self, i: usize) -> bool {
        let bit = u32::try_from(i).unwrap_or(u32::MAX).min(63);
        self.0 & (1 << bit) != 0
    }
}

/// Where the agents are, from `haproxy.cfg`'s backend named by `use-backend`.
#[derive(Debug, Clone)]
pub struct AgentBackend {
    /// The servers' addresses.
    pub servers: Vec<Addr>,
    /// The backend's `timeout connect`.
    pub timeout_connect: Duration,
    /// The servers' `maxconn` (connections per server).
    pub max_connections_per_server: usize,
    /// `option spop-check` on the backend, with the servers' `check` settings.
    pub health_check: Option<crate::engine::health::HealthCheck>,
}

/// The state of one filter on one stream (HTTP transaction), kept by the
/// host: one per filter and stream, as HAProxy keeps one SPOE context each.
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamState {
    /// The stream's id (`sid=` in the log line).
    pub sid: u64,
    /// SPOE time spent on this stream so far (for `set-total-time`).
    pub total: Duration,
    /// An event failed and `option continue-on-error` is off: HAProxy stops
    /// SPOE processing for the rest of the transaction, and so does the filter.
    pub disabled: bool,
}

/// The messages of one event or group, evaluated and ready to send.
#[derive(Debug)]
pub struct Prepared {
    what: PreparedKind,
    payload: Payload,
    sent: Sent,
    encoding: Duration,
}

#[derive(Debug, Clone, Copy)]
enum PreparedKind {
    Event(Event),
    /// The group's index in the configuration.
    Group(usize),
}

/// What processing one event or group did.
#[derive(Debug, Clone)]
pub struct Done<'f> {
    /// The engine's outcome. Its `actions` are empty: the filter reads the
    /// ACK in place, straight into `updates`.
    pub outcome: Outcome,
    /// The variables to set or unset, in order.
    pub updates: Vec<VarUpdate>,
    /// The SPOE log line, formatted only when someone reads it.
    log: LogLine<'f>,
    agent: &'f crate::config::AgentConfig,
    kind: PreparedKind,
    sent: Sent,
}

impl<'f> Done<'f> {
    /// The SPOE log line, as text.
    pub fn log_line(&self) -> String {
        self.log.to_string()
    }

    /// The event or group processed.
    pub fn processed(&self) -> Processed<'f> {
        self.log.what
    }

    /// The names of the messages sent (those whose condition held), in
    /// order.
    pub fn messages(&self) -> impl Iterator<Item = &'f str> + use<'f> {
        let agent = self.agent;
        let sent = self.sent;
        let (event, group) = match self.kind {
            PreparedKind::Event(e) => (Some(e), None),
            PreparedKind::Group(i) => (None, agent.groups.get(i)),
        };
        let of_event = event
            .into_iter()
            .flat_map(move |e| agent.messages_for(e))
            .enumerate();
        let of_group = group
            .into_iter()
            .flat_map(|g| g.messages.iter())
            .enumerate();
        of_event
            .chain(of_group)
            .filter(move |(i, _)| sent.has(*i))
            .map(|(_, m)| m.name.as_str())
    }

    /// The SPOE log line, for a host that writes it itself (see
    /// [`SpoeFilter::leave_log_to_host`]): formatted only where it is written.
    pub fn log(&self) -> &LogLine<'f> {
        &self.log
    }
}

/// One `filter spoe` instance: a `spoe.conf` engine and its agents.
#[derive(Debug)]
pub struct SpoeFilter {
    config: SpoeConfig,
    engine: Engine,
    names: VarNames,
    /// [`SpoeFilter::process`] emits the SPOE line through `tracing`.
    trace_log: bool,
}

impl SpoeFilter {
    /// The engine settings `config` and `backend` describe.
    pub fn settings(config: &SpoeConfig, backend: &AgentBackend) -> EngineSettings {
        let a = &config.agent;
        let mut s = EngineSettings::new(
            a.id.clone(),
            backend.servers.clone(),
            a.timeout_processing.unwrap_or(DEFAULT_TIMEOUT_PROCESSING),
        );
        s.timeout_hello = a.timeout_hello.unwrap_or(DEFAULT_TIMEOUT_HELLO);
        s.timeout_idle = a.timeout_idle.unwrap_or(DEFAULT_TIMEOUT_IDLE);
        s.timeout_connect = backend.timeout_connect;
        s.max_frame_size = a.max_frame_size.get();
        s.max_waiting_frames = usize::try_from(a.max_waiting_frames)
            .unwrap_or(usize::MAX)
            .max(1);
        s.pipelining = a.pipelining;
        s.max_connections_per_server = backend.max_connections_per_server.max(1);
        s.max_connection_rate = a.maxconnrate.filter(|&n| n > 0);
        s.max_error_rate = a.maxerrrate.filter(|&n| n > 0);
        s.health_check = backend.health_check;
        s
    }

    /// Starts the engine of `config`, whose agents are `backend`. Must be
    /// called inside a tokio runtime.
    pub fn start(config: SpoeConfig, backend: &AgentBackend) -> Self {
        let engine = Engine::start(Self::settings(&config, backend));
        Self::with_engine(config, engine)
    }

    /// A filter over an engine started by the caller (tests, custom connectors).
    pub fn with_engine(config: SpoeConfig, engine: Engine) -> Self {
        let a = &config.agent;
        let mut names = VarNames::new(ResultPolicy {
            var_prefix: a.var_prefix.to_string(),
            set_on_error: a.set_on_error.as_ref().map(ToString::to_string),
            set_process_time: a.set_process_time.as_ref().map(ToString::to_string),
            set_total_time: a.set_total_time.as_ref().map(ToString::to_string),
            force_set_var: a.force_set_var,
        });
        // register-var-names lists bare names; the agent may set them in any scope.
        names.register_bare(a.register_var_names.iter().map(|n| n.as_str()));
        // As HAProxy, the line is written only for an agent with a `log` line.
        let trace_log = !config.agent.log.is_empty();
        Self {
            config,
            engine,
            names,
            trace_log,
        }
    }

    /// The host writes the SPOE lines itself, where the agent's `log` lines say (from
    /// [`Done::log`]): [`SpoeFilter::process`] no longer emits them through `tracing`.
    pub fn leave_log_to_host(&mut self) {
        self.trace_log = false;
    }

    /// Declares variable names the host's configuration uses (`var(...)`,
    /// `set-var(...)`), which agents may then set without `force-set-var`.
    pub fn register_var_names(&mut self, names: impl IntoIterator<Item = String>) {
        self.names.register(names);
    }

    /// The configuration.
    pub fn config(&self) -> &SpoeConfig {
        &self.config
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Evaluates the messages bound to `event` whose conditions hold.
    /// `None` when there is nothing to send (or the stream's SPOE processing
    /// was stopped by an earlier error).
    pub fn prepare_event(
        &self,
        event: Event,
        host: &(impl Fetch + ?Sized),
        stream: &StreamState,
    ) -> Option<Prepared> {
        // Most events send nothing: no clock read, no buffer, for them.
        if stream.disabled || self.config.agent.messages_for(event).next().is_none() {
            return None;
        }
        let started = clock::now();
        let (payload, sent) = encode(
            self.config.agent.messages_for(event).map(AsRef::as_ref),
            host,
        )?;
        Some(Prepared {
            what: PreparedKind::Event(event),
            payload,
            sent,
            encoding: clock::since(started),
        })
    }

    /// Evaluates the messages of group `group` (`send-spoe-group`). `None`
    /// when the group is unknown or sends nothing.
    pub fn prepare_group(
        &self,
        group: &str,
        host: &(impl Fetch + ?Sized),
        stream: &StreamState,
    ) -> Option<Prepared> {
        if stream.disabled {
            return None;
        }
        let started = clock::now();
        let (index, g) = self
            .config
            .agent
            .groups
            .iter()
            .enumerate()
            .find(|(_, g)| g.name == group)?;
        let (payload, sent) = encode(g.messages.iter().map(AsRef::as_ref), host)?;
        Some(Prepared {
            what: PreparedKind::Group(index),
            payload,
            sent,
            encoding: clock::since(started),
        })
    }

    /// Sends prepared messages and returns the variable updates, within
    /// `timeout processing` of this call.
    pub async fn process<'f>(&'f self, prepared: Prepared, stream: &mut StreamState) -> Done<'f> {
        let (outcome, actions) = self.engine.process_payload(prepared.payload).await;
        stream.total = stream.total.saturating_add(outcome.timings.total);
        if !outcome.status.is_ok() && !self.config.agent.continue_on_error {
            stream.disabled = true;
        }
        let total_ms = u64::try_from(stream.total.as_millis()).unwrap_or(u64::MAX);
        let applying = clock::now();
        let process_ms = u64::try_from(outcome.timings.total.as_millis()).unwrap_or(u64::MAX);
        let updates = self
            .names
            .updates(outcome.status, &actions, process_ms, total_ms);
        let agent = &self.config.agent;
        let what = match prepared.what {
            PreparedKind::Event(e) => Processed::Event(e.name()),
            PreparedKind::Group(i) => {
                Processed::Group(agent.groups.get(i).map_or("", |g| g.name.as_str()))
            }
        };
        let log = LogLine {
            agent: &agent.id,
            what,
            sid: stream.sid,
            status: outcome.status,
            timings: outcome.timings,
            request: prepared.encoding,
            response: outcome.status.is_ok().then(|| clock::since(applying)),
            counters: self.engine.stats().log_counters(),
        };
        // tracing formats the line only when it is enabled.
        if self.trace_log && log.is_error() {
            tracing::warn!(target: "spoe::log", "{log}");
        } else if self.trace_log && !agent.dontlog_normal {
            tracing::info!(target: "spoe::log", "{log}");
        }
        Done {
            outcome,
            updates,
            log,
            agent,
            kind: prepared.what,
            sent: prepared.sent,
        }
    }

    /// Drains the engine (see [`Engine::drain`]).
    pub fn drain(&self) {
        self.engine.drain();
    }

    /// Resolves when the drain is over.
    pub async fn drained(&self) {
        self.engine.drained().await;
    }
}
