//! `option spop-check`: the agent servers' health, checked the way HAProxy
//! does it (a HAPROXY-HELLO with `healthcheck=true`, answered by a valid
//! AGENT-HELLO), with `inter`, `rise` and `fall`.

use std::sync::Arc;
use std::time::Duration;

use spop::Capabilities;
use spop::engine::{EngineConfig, Haproxy};
use spop_io::{Addr, EnginePeer, HandshakeFailed};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout_at};
use tokio_util::sync::CancellationToken;

use crate::engine::connector::Connector;
use crate::engine::job::{ConnEvent, handshake_failure};
use crate::engine::reach::Reachability;

/// How often and how strictly servers are checked (the `server` line's
/// `check inter D rise N fall N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthCheck {
    /// Time between two checks.
    pub inter: Duration,
    /// Consecutive successes that bring a down server up.
    pub rise: u32,
    /// Consecutive failures that take an up server down.
    pub fall: u32,
    /// Bound on one check (connect and hello).
    pub timeout: Duration,
}

impl Default for HealthCheck {
    /// HAProxy's defaults: `inter 2s rise 2 fall 3`.
    fn default() -> Self {
        Self {
            inter: Duration::from_secs(2),
            rise: 2,
            fall: 3,
            timeout: Duration::from_secs(2),
        }
    }
}

/// One check: `Ok` when the server answers a health-check hello properly
/// (an AGENT-HELLO HAProxy accepts) by `deadline`, else what it did.
pub(crate) async fn probe(
    connector: &dyn Connector,
    addr: &Addr,
    max_frame_size: u32,
    deadline: Instant,
) -> Result<(), String> {
    let attempt = async {
        let io = connector
            .connect(addr)
            .await
            .map_err(|e| format!("Layer4 connection problem: {e}"))?;
        let mut hello = Haproxy::V3_1.hello(None);
        hello.max_frame_size = max_frame_size;
        hello.capabilities = Capabilities::default();
        hello.healthcheck = true;
        let mut peer = EnginePeer::new(io);
        let passed = peer.handshake(EngineConfig::new(hello)).await;
        let _ = peer.shutdown_write().await;
        passed.map(|_| ()).map_err(|e| match e {
            HandshakeFailed::Ended(end) => handshake_failure(&end, &[]),
            other => other.to_string(),
        })
    };
    timeout_at(deadline, attempt)
        .await
        .unwrap_or_else(|_| Err("no AGENT-HELLO within the check's timeout".to_owned()))
}

/// Checks server `server` until `stop`, reporting each change of state to
/// the dispatcher, and logging it once for every engine of the agent
/// (`reach`) with what the check saw.
#[expect(
    clippy::too_many_arguments,
    reason = "one task's inputs, each used once"
)]
pub(crate) async fn run(
    agent: String,
    server: usize,
    addr: Addr,
    check: HealthCheck,
    max_frame_size: u32,
    connector: Arc<dyn Connector>,
    events: mpsc::UnboundedSender<ConnEvent>,
    reach: Arc<Reachability>,
    stop: CancellationToken,
) {
    let mut up = true;
    let mut streak = 0u32;
    let mut next = Instant::now();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = sleep_until(next) => {}
        }
        next = Instant::now() + check.inter;
        let result = probe(
            connector.as_ref(),
            &addr,
            max_frame_size,
            Instant::now() + check.timeout,
        )
        .await;
        let ok = result.is_ok();
        if ok == up {
            streak = 0;
            continue;
        }
        streak += 1;
        let needed = if up { check.fall } else { check.rise };
        if streak >= needed.max(1) {
            up = ok;
            streak = 0;
            if reach.checked(server, up) {
                match &result {
                    Ok(()) => tracing::warn!(
                        agent, server = %addr, up,
                        "agent server {addr} is UP, reason: spop-check passed"
                    ),
                    Err(why) => tracing::warn!(
                        agent, server = %addr, up,
                        "agent server {addr} is DOWN, reason: {why}"
                    ),
                }
            }
            if events.send(ConnEvent::Health { server, up }).is_err() {
                return;
            }
        }
    }
}
