//! `option spop-check`: the agent servers' health, checked the way HAProxy
//! does it (a HAPROXY-HELLO with `healthcheck=true`, answered by a valid
//! AGENT-HELLO), with `inter`, `rise` and `fall`.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use spop::{AgentHello, Body, Capabilities, Frame, FrameDecoder, HaproxyHello};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout_at};
use tokio_util::sync::CancellationToken;

use crate::engine::connector::{AgentAddr, Connector};
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

/// One check: `Ok` when the server answers a health-check hello properly,
/// else what went wrong.
pub(crate) async fn probe(
    connector: &dyn Connector,
    addr: &AgentAddr,
    max_frame_size: u32,
    deadline: Instant,
) -> Result<(), String> {
    let attempt = async {
        let mut io = connector
            .connect(addr)
            .await
            .map_err(|e| format!("Layer4 connection problem: {e}"))?;
        let hello = HaproxyHello {
            supported_versions: "2.0".into(),
            max_frame_size,
            capabilities: Capabilities::default(),
            healthcheck: true,
            engine_id: None,
        };
        let mut out = BytesMut::new();
        Frame::haproxy_hello(&hello).encode(&mut out);
        io.write_all(&out)
            .await
            .map_err(|e| format!("sending HAPROXY-HELLO: {e}"))?;
        let mut buf = BytesMut::with_capacity(512);
        let mut decoder = FrameDecoder::new(max_frame_size);
        let frame = loop {
            match decoder.decode(&mut buf) {
                Ok(Some(f)) => break f,
                Ok(None) => {}
                Err(e) => {
                    return Err(match spop::sniff(&buf) {
                        Some(kind) => format!(
                            "the peer does not speak SPOP (its first bytes look like {kind})"
                        ),
                        None => format!("invalid answer: {e}"),
                    });
                }
            }
            match io.read_buf(&mut buf).await {
                Ok(0) => return Err("closed without an AGENT-HELLO".to_owned()),
                Ok(_) => {}
                Err(e) => return Err(format!("reading the AGENT-HELLO: {e}")),
            }
        };
        let _ = io.shutdown().await;
        match frame.body {
            Body::AgentHello(kv) => AgentHello::from_kv(&kv, max_frame_size)
                .map(|_| ())
                .map_err(|e| format!("an AGENT-HELLO HAProxy refuses: {e}")),
            _ => Err(format!(
                "expected AGENT-HELLO, got {:?}",
                frame.header.frame_type
            )),
        }
    };
    match timeout_at(deadline, attempt).await {
        Ok(r) => r,
        Err(_) => Err("no AGENT-HELLO within the check's timeout".to_owned()),
    }
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
    addr: AgentAddr,
    check: HealthCheck,
    max_frame_size: u32,
    connector: Arc<dyn Connector>,
    events: mpsc::UnboundedSender<ConnEvent>,
    reach: Arc<crate::engine::reach::Reachability>,
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
