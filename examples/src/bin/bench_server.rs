//! The service `bench/layer.sh` measures: one axum route answering `ok`, bare or behind
//! `SpoeLayer` running the benchmarks' `spoe.conf` (one message, four arguments, on every
//! request). With the layer it refuses what HAProxy's benchmark configuration refuses: a 500
//! when `txn.bench.err` is set or the echoed `txn.bench.hdr` is not `wrk`.
//!
//! ```text
//! bench_server LISTEN bare
//! bench_server LISTEN layer AGENT SPOE_CONF
//! ```

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http::StatusCode;
use spoe_http::{ConnectionFacts, SpoeLayer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (listen, mode) = match &args[..] {
        [listen, mode, ..] => (listen.parse::<std::net::SocketAddr>()?, mode.as_str()),
        _ => return Err("usage: bench_server LISTEN bare|layer [AGENT SPOE_CONF]".into()),
    };
    let app = Router::new().route("/bench", get(|| async { "ok" }));
    let app = match (mode, &args[2..]) {
        ("bare", []) => app,
        ("layer", [agent, conf]) => {
            let layer = SpoeLayer::builder()
                .config_file(conf, Some("bench"))
                .agent(agent.parse()?)
                .fail_open()
                .decide(|v| {
                    let refused = v.vars.sample("txn.bench.err").is_some()
                        || v.vars.get::<String>("txn.bench.hdr").as_deref() != Some("wrk");
                    refused.then(|| {
                        let mut r = http::Response::new(Bytes::from_static(b"spoe error\n"));
                        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                        r
                    })
                })
                .build()?;
            app.layer(layer)
        }
        _ => return Err(format!("unknown mode {args:?}").into()),
    };
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<ConnectionFacts>(),
    )
    .await?;
    Ok(())
}
