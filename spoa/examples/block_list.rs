//! A complete agent: HAProxy asks `check-request` with the client's address
//! and the request path; the agent answers `txn.<prefix>.blocked` (BOOL) and
//! `txn.<prefix>.reason` (STRING), and falls back to `txn.<prefix>.error`
//! when it cannot decide in time.
//!
//! ```text
//! cargo run -p spoa --example block_list -- 127.0.0.1:12345
//! ```
//!
//! spoe.conf on the HAProxy side:
//!
//! ```text
//! spoe-agent block-agent
//!     messages check-request
//!     option var-prefix block
//!     timeout processing 200ms
//!     use-backend agents
//! spoe-message check-request
//!     args ip=src path=path
//!     event on-frontend-http-request
//! ```
//!
//! and in haproxy.cfg: `http-request deny if { var(txn.block.blocked) -m bool }`.

use std::net::IpAddr;
use std::time::Duration;

use spoa::{
    Actions, CancellationToken, Config, HandlerError, ListenAddr, Listener, Request, Server,
};
use spop::{Action, TypedData, VarScope};

/// Decides for one NOTIFY. Arguments are looked up by name and typed.
async fn check(req: Request) -> Result<Actions, HandlerError> {
    let mut actions = Actions::new();
    let Some(msg) = req.message("check-request") else {
        return Ok(actions); // another message: nothing to say
    };
    let ip = msg.get("ip").and_then(TypedData::as_ip);
    let path = msg.get("path").and_then(TypedData::as_str).unwrap_or("/");
    let reason = match ip {
        Some(IpAddr::V4(a)) if a.is_documentation() => Some("documentation address"),
        _ if path.starts_with("/admin") => Some("admin area"),
        _ => None,
    };
    actions.set_var(VarScope::Transaction, "blocked", reason.is_some());
    if let Some(r) = reason {
        actions.set_var(VarScope::Transaction, "reason", r);
    }
    Ok(actions)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let addr: ListenAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:12345".into())
        .parse()?;
    let mut config = Config::default();
    // Below the engine's `timeout processing` (200ms above), so that the
    // fallback reaches HAProxy in time.
    config.handler_timeout = Duration::from_millis(150);
    config.fallback_actions = vec![Action::set_var(VarScope::Transaction, "error", true)];
    let server = Server::new(check, config)?;
    let listener = Listener::bind(&addr).await?;
    println!("block_list agent on {}", listener.local_addr()?);
    let stop = CancellationToken::new();
    let on_ctrl_c = stop.clone();
    // Owned: the JoinSet aborts the Ctrl-C watcher when main returns.
    let mut signals = tokio::task::JoinSet::new();
    signals.spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        on_ctrl_c.cancel();
    });
    server.serve(listener, stop).await?;
    Ok(())
}
