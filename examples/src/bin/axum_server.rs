//! An axum service behind SPOE: `SpoeLayer` runs the `spoe.conf` messages before the
//! handlers, denies what the agents' variables say to deny, and hands the variables to the
//! handlers (the `SpoeVars` extractor); a handler can send a `spoe-group` (`SpoeGroups`).
//!
//! ```text
//! cargo run -p spoe-examples --bin axum_server -- 127.0.0.1:8080 127.0.0.1:12345 spoe.conf --deny-if txn.bot.bot
//! ```
//!
//! The command line is described in the crate's documentation (`src/lib.rs`).

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use spoe_examples::{DRAIN_GRACE, args_or_exit, layer, reload_on_sighup, stop_signal, var_headers};
use spoe_http::{ConnectionFacts, SpoeGroups, SpoeVars};

async fn hello(vars: SpoeVars) -> (http::HeaderMap, &'static str) {
    (var_headers(&vars), "hello\n")
}

async fn group(
    Path(name): Path<String>,
    groups: SpoeGroups,
) -> (http::StatusCode, http::HeaderMap, String) {
    match groups.send(&name).await {
        Ok(_) => (
            http::StatusCode::OK,
            var_headers(&groups.vars()),
            "hello\n".into(),
        ),
        Err(e) => (
            http::StatusCode::NOT_FOUND,
            http::HeaderMap::new(),
            format!("{e}\n"),
        ),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    spoe_examples::init_logs();
    let args = args_or_exit();
    let spoe = layer(&args)?;
    let metrics = spoe.clone();
    let app = Router::new()
        .route("/", get(hello))
        .route("/group/{name}", get(group))
        .layer(spoe.clone())
        // After the layer: the metrics route itself sends nothing to the agents.
        .route(
            "/metrics",
            get(move || async move { metrics.metrics_text() }),
        );
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    println!("listening on {}", listener.local_addr()?);
    // ConnectionFacts per connection: src/dst for the fetches, sess. variables and
    // on-client-session once per connection, as in HAProxy.
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<ConnectionFacts>(),
    )
    .with_graceful_shutdown(stop_signal());
    tokio::select! {
        served = server => served?,
        () = reload_on_sighup(spoe.clone()) => {}
    }
    // Requests are done: let the agents' connections close cleanly, within a bound.
    let _ = tokio::time::timeout(DRAIN_GRACE, spoe.drain()).await;
    Ok(())
}
