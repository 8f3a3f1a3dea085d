//! The messages the engine's parts exchange: a caller's [`Job`] and its
//! [`JobResult`], the
//! dispatcher's [`ConnMsg`]s to a connection and the connections'
//! [`ConnEvent`]s back. A leaf: every part of the runtime imports it, it
//! imports none of them.

use spop::ActionList;
use spop::engine::EngineEnd;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::engine::outcome::ProcessStatus;

/// Identifies one agent connection within its engine.
pub(crate) type ConnId = u64;

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
        /// Read in place from the connection's buffer.
        actions: ActionList,
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

/// What the dispatcher sends a connection.
#[derive(Debug)]
pub(crate) enum ConnMsg {
    Job(Job),
    Drain,
}

/// What a connection tells the dispatcher.
#[derive(Debug)]
pub(crate) enum ConnEvent {
    /// Handshake done: `slots` messages may be in flight at once.
    Ready { id: ConnId, slots: usize },
    /// Send nothing more here.
    Closing { id: ConnId },
    /// `option spop-check` saw server `server` go up or down.
    Health { server: usize, up: bool },
    /// The connection has carried an ACK after being ready for
    /// `backoff_max`: the server's protocol-error count starts over.
    Healthy { id: ConnId },
    /// The task ended. `handshake_failure` is set when the connection never
    /// became ready, `protocol_error` when we closed it because the agent
    /// broke the protocol; `retry` holds messages to send elsewhere.
    Closed {
        id: ConnId,
        handshake_failure: Option<HandshakeFailure>,
        protocol_error: Option<ProtocolError>,
        retry: Vec<Job>,
    },
}

/// Why a connection never became ready: the status its messages would get,
/// and the cause in words (the OS error, or what the peer turned out to be).
#[derive(Debug, Clone)]
pub(crate) struct HandshakeFailure {
    pub(crate) status: ProcessStatus,
    pub(crate) why: String,
}

/// A ready connection closed because of what the agent sent (the dispatcher
/// logs it, rate-limited per server, and backs off when it came soon).
#[derive(Debug)]
pub(crate) struct ProtocolError {
    /// The status of our HAPROXY-DISCONNECT.
    pub(crate) status: spop::Status,
    pub(crate) why: String,
    /// The connection died within `backoff_max` of its handshake.
    pub(crate) soon: bool,
}

/// Why a handshake ended, in words: what the agent said or did, and what
/// its first bytes look like when they are not SPOP (an HTTP server on the
/// agent's address, say).
pub(crate) fn handshake_failure(end: &EngineEnd, first_bytes: &[u8]) -> String {
    let why = match end {
        EngineEnd::Handshake { reason, .. } | EngineEnd::Refused { reason, .. } => reason.clone(),
        EngineEnd::AgentDisconnect(d) => format!(
            "the agent refused the hello: AGENT-DISCONNECT {} ({:?})",
            d.status, d.message
        ),
        EngineEnd::Broken(reason) => {
            format!("connection closed during the handshake: {reason}")
        }
        other => format!("{other:?}"),
    };
    match spop::sniff(first_bytes) {
        Some(kind) => {
            format!("the peer does not speak SPOP (its first bytes look like {kind}): {why}")
        }
        None => why,
    }
}
