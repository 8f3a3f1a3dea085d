//! Deny requests whose User-Agent says "bot": the router and typed
//! arguments. HAProxy asks `check-ua` with the User-Agent header; the agent
//! answers `txn.<prefix>.bot` (BOOL).
//!
//! ```text
//! cargo run -p spoa --example bot_blocker -- 127.0.0.1:12345
//! ```
//!
//! spoe.conf on the HAProxy side:
//!
//! <!-- config: example-bot-blocker spoe.conf -->
//! ```text
//! [bot]
//! spoe-agent bot-agent
//!     messages check-ua
//!     option var-prefix bot
//!     option set-on-error error
//!     timeout hello 2s
//!     timeout idle 30s
//!     timeout processing 200ms
//!     use-backend agents
//! spoe-message check-ua
//!     args ua=req.hdr(user-agent)
//!     event on-frontend-http-request
//! ```
//!
//! and in haproxy.cfg's frontend: `filter spoe engine bot config spoe.conf`,
//! `http-request deny if { var(txn.bot.bot) -m bool }`.
//! Handler errors and overruns are logged through `tracing` (RUST_LOG
//! filters them; default `info`).

use std::time::Duration;

use spoa::{Actions, Addr, Config, HandlerError, Listener, Request, Router, Server, VarScope};

/// `check-ua`: is the User-Agent a bot's? A request without the header
/// (NULL) is not.
async fn check_ua(req: Request) -> Result<Actions, HandlerError> {
    let ua: &str = req.arg_opt("ua")?.unwrap_or_default();
    let mut actions = Actions::new();
    actions.set_var(VarScope::Transaction, "bot", is_bot(ua));
    Ok(actions)
}

fn is_bot(user_agent: &str) -> bool {
    user_agent.to_ascii_lowercase().contains("bot")
}

fn router() -> Router {
    Router::new().route("check-ua", check_ua)
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
    let mut config = Config::default();
    // Below the engine's `timeout processing` (200ms above).
    config.handler_timeout = Duration::from_millis(150);
    let server = Server::new(router(), config)?;
    let listener = Listener::bind(&addr).await?;
    println!("bot_blocker: listening on {}", listener.local_addr()?);
    // Prometheus metrics (METRICS_ADDR, 127.0.0.1:9100 by default), until the agent stops.
    let metrics = server
        .serve_metrics(
            std::env::var("METRICS_ADDR")
                .as_deref()
                .unwrap_or("127.0.0.1:9100"),
        )
        .await?;
    println!(
        "bot_blocker: metrics on http://{}/metrics",
        metrics.local_addr()
    );
    server.serve_until_signal(listener).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use spoa::testing::{Engine, call};
    use spoa::{Message, TypedData};

    use super::*;

    fn bot_var(actions: &Actions) -> Option<&TypedData> {
        actions.var(VarScope::Transaction, "bot")
    }

    #[tokio::test]
    async fn user_agents_with_bot_are_bots_whatever_the_case() {
        for (ua, bot) in [
            ("Googlebot/2.1", true),
            ("Mozilla/5.0 (compatible; bingbot/2.0)", true),
            ("SomeBOT", true),
            ("curl/8.5.0", false),
            ("Mozilla/5.0 (X11; Linux x86_64)", false),
        ] {
            let req = Request::builder()
                .message(Message::new("check-ua").arg("ua", ua))
                .build();
            let actions = call(&check_ua, req).await.unwrap();
            assert_eq!(bot_var(&actions), Some(&TypedData::Bool(bot)), "{ua}");
        }
    }

    #[tokio::test]
    async fn no_user_agent_header_is_not_a_bot() {
        let req = Request::builder()
            .message(Message::new("check-ua").arg("ua", TypedData::Null))
            .build();
        let actions = call(&check_ua, req).await.unwrap();
        assert_eq!(bot_var(&actions), Some(&TypedData::Bool(false)));
    }

    #[tokio::test]
    async fn a_user_agent_of_the_wrong_type_is_an_error_naming_it() {
        let req = Request::builder()
            .message(Message::new("check-ua").arg("ua", 7i64))
            .build();
        let err = call(&check_ua, req).await.unwrap_err().to_string();
        assert_eq!(
            err,
            r#"argument "ua" of message "check-ua": expected STRING, got INT64"#
        );
    }

    #[tokio::test]
    async fn behind_the_runtime_only_check_ua_is_answered() {
        let server = Server::new(router(), Config::default()).unwrap();
        let mut engine = Engine::connect(&server).await.unwrap();
        let actions = engine
            .notify(vec![
                Message::new("other-message").arg("x", 1i64),
                Message::new("check-ua").arg("ua", "AhrefsBot"),
            ])
            .await
            .unwrap();
        assert_eq!(actions.len(), 1, "{actions:?}");
        assert_eq!(bot_var(&actions), Some(&TypedData::Bool(true)));
        engine.disconnect().await.unwrap();
    }
}
