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
//! <!-- config: example-block-list spoe.conf -->
//! ```text
//! [block]
//! spoe-agent block-agent
//!     messages check-request
//!     option var-prefix block
//!     timeout hello 2s
//!     timeout idle 30s
//!     timeout processing 200ms
//!     use-backend agents
//! spoe-message check-request
//!     args ip=src path=path
//!     event on-frontend-http-request
//! ```
//!
//! and in haproxy.cfg's frontend: `filter spoe engine block config spoe.conf`,
//! `http-request deny if { var(txn.block.blocked) -m bool }`.
//! Handler errors and overruns are logged through `tracing` (RUST_LOG
//! filters them; default `info`).

use std::net::IpAddr;
use std::time::Duration;

use spoa::{Actions, Addr, Config, HandlerError, Listener, Request, Server, VarScope};

/// Decides for one NOTIFY. Arguments are looked up by name and typed.
async fn check(req: Request) -> Result<Actions, HandlerError> {
    let mut actions = Actions::new();
    let Some(msg) = req.message("check-request") else {
        return Ok(actions); // another message: nothing to say
    };
    let ip: IpAddr = msg.get_as("ip")?;
    let path: &str = msg.get_opt("path")?.unwrap_or("/");
    let reason = match ip {
        IpAddr::V4(a) if a.is_documentation() => Some("documentation address"),
        _ if path.starts_with("/admin") => Some("admin area"),
        _ => None,
    };
    actions.set_var(VarScope::Transaction, "blocked", reason.is_some());
    if let Some(r) = reason {
        actions.set_var(VarScope::Transaction, "reason", r);
    }
    Ok(actions)
}

fn config() -> Config {
    let mut config = Config::default();
    // Below the engine's `timeout processing` (200ms above), so that the
    // error variable (`txn.error`, set by the runtime when the handler fails,
    // panics or overruns) reaches HAProxy in time.
    config.handler_timeout = Duration::from_millis(150);
    config
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let addr: Addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:12345".into())
        .parse()?;
    let server = Server::new(check, config())?;
    let listener = Listener::bind(&addr).await?;
    println!("block_list: listening on {}", listener.local_addr()?);
    // Prometheus metrics (METRICS_ADDR, 127.0.0.1:9100 by default), until the agent stops.
    let metrics = server
        .serve_metrics(
            std::env::var("METRICS_ADDR")
                .as_deref()
                .unwrap_or("127.0.0.1:9100"),
        )
        .await?;
    println!(
        "block_list: metrics on http://{}/metrics",
        metrics.local_addr()
    );
    // SIGTERM or SIGINT: stop accepting, finish in-flight NOTIFY frames,
    // AGENT-DISCONNECT, exit 0.
    server.serve_until_signal(listener).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use spoa::testing::{Engine, call};
    use spoa::{Action, Message, TypedData};

    use super::*;

    fn request(ip: impl Into<TypedData>, path: &str) -> Request {
        Request::builder()
            .message(
                Message::new("check-request")
                    .arg("ip", ip)
                    .arg("path", path),
            )
            .build()
    }

    #[tokio::test]
    async fn documentation_addresses_and_the_admin_area_are_blocked() {
        let doc = call(&check, request(Ipv4Addr::new(192, 0, 2, 1), "/"))
            .await
            .unwrap();
        assert_eq!(
            doc.var(VarScope::Transaction, "reason"),
            Some(&TypedData::string("documentation address"))
        );
        let admin = call(&check, request(Ipv4Addr::LOCALHOST, "/admin/x"))
            .await
            .unwrap();
        assert_eq!(
            admin.var(VarScope::Transaction, "blocked"),
            Some(&TypedData::Bool(true))
        );
        let fine = call(&check, request(Ipv4Addr::LOCALHOST, "/"))
            .await
            .unwrap();
        assert_eq!(
            fine.into_vec(),
            vec![Action::set_var(VarScope::Transaction, "blocked", false)]
        );
    }

    #[tokio::test]
    async fn an_address_of_the_wrong_type_takes_the_error_path() {
        let err = call(&check, request("192.0.2.1", "/")).await.unwrap_err();
        assert!(err.to_string().contains(r#"argument "ip""#), "{err}");
        let server = Server::new(check, config()).unwrap();
        let mut engine = Engine::connect(&server).await.unwrap();
        let actions = engine
            .notify(vec![Message::new("check-request").arg("ip", "192.0.2.1")])
            .await
            .unwrap();
        assert_eq!(
            actions.var(VarScope::Transaction, "error"),
            Some(&TypedData::from(spoa::ErrorCause::HandlerError.code()))
        );
    }
}
