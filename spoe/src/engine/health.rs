//! `option spop-check`: the agent servers' health, checked the way HAProxy
//! does it (a HAPROXY-HELLO with `healthcheck=true`, answered by a valid
//! AGENT-HELLO), with `inter`, `rise` and `fall`.

use std::sync::Arc;
use std::time::Duration;

use spop::Capabilities;
use spop::engine::{EngineConfig, Haproxy};
use spop_io::{Addr, EnginePeer};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout_at};
use tokio_util::sync::CancellationToken;

use crate::engine::connector::Connector;
use crate::engine::job::ConnEvent;

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

/// One check: true when the server answers a health-check hello properly
/// (an AGENT-HELLO HAProxy accepts), by `deadline`.
pub(crate) async fn probe(
    connector: &dyn Connector,
    addr: &Addr,
    max_frame_size: u32,
    deadline: Instant,
) -> bool {
    let attempt = async {
        let io = connector.connect(addr).await.ok()?;
        let mut hello = Haproxy::V3_1.hello(None);
        hello.max_frame_size = max_frame_size;
        hello.capabilities = Capabilities::default();
        hello.healthcheck = true;
        let mut peer = EnginePeer::new(io);
        let passed = peer.handshake(EngineConfig::new(hello)).await.is_ok();
        let _ = peer.shutdown_write().await;
        passed.then_some(())
    };
    matches!(timeout_at(deadline, attempt).await, Ok(Some(())))
}

/// Checks server `server` until `stop`, reporting each change of state.
pub(crate) async fn run(
    server: usize,
    addr: Addr,
    check: HealthCheck,
    max_frame_size: u32,
    connector: Arc<dyn Connector>,
    events: mpsc::UnboundedSender<ConnEvent>,
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
        let ok = probe(
            connector.as_ref(),
            &addr,
            max_frame_size,
            Instant::now() + check.timeout,
        )
        .await;
        if ok == up {
            streak = 0;
            continue;
        }
        streak += 1;
        let needed = if up { check.fall } else { check.rise };
        if streak >= needed.max(1) {
            up = ok;
            streak = 0;
            tracing::warn!(server = %addr, up, "agent server health changed");
            if events.send(ConnEvent::Health { server, up }).is_err() {
                return;
            }
        }
    }
}
