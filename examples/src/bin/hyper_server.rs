//! A plain hyper 1 server behind SPOE: each accepted connection gets its `ConnectionFacts`
//! (client and local address, its `sess.` variables), and `SpoeLayer` wraps the request
//! handler through tower (hyper-util's `TowerToHyperService`). The handler reads the agents'
//! variables from the request's `SpoeVars` extension.
//!
//! ```text
//! cargo run -p spoe-examples --bin hyper_server -- 127.0.0.1:8080 127.0.0.1:12345 spoe.conf --deny-if txn.bot.bot
//! ```

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use spoe_examples::{DRAIN_GRACE, args_or_exit, layer, reload_on_sighup, stop_signal, var_headers};
use spoe_http::{ConnectionFacts, SpoeBody, SpoeVars};
use tokio::task::JoinSet;
use tower::{ServiceBuilder, service_fn};

async fn hello(req: Request<SpoeBody<Incoming>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"hello\n")));
    if let Some(vars) = req.extensions().get::<SpoeVars>() {
        *response.headers_mut() = var_headers(vars);
    }
    Ok(response)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    spoe_examples::init_logs();
    let args = args_or_exit();
    let spoe = layer(&args)?;
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    println!("listening on {}", listener.local_addr()?);
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let stop = stop_signal();
    tokio::pin!(stop);
    let reloads = reload_on_sighup(spoe.clone());
    tokio::pin!(reloads);
    loop {
        let (stream, client) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = &mut stop => break,
            () = &mut reloads => continue,
            // Reap finished connections as they end.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let facts = ConnectionFacts::tcp(client, stream.local_addr()?);
        let service = ServiceBuilder::new()
            .map_request(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(facts.clone());
                req
            })
            .layer(spoe.clone())
            .service(service_fn(hello));
        let conn = http1::Builder::new()
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        connections.spawn(graceful.watch(conn));
    }
    // Finish the requests in flight (keep-alive ends), then let the agents' connections drain.
    let _ = tokio::time::timeout(DRAIN_GRACE, graceful.shutdown()).await;
    let _ = tokio::time::timeout(DRAIN_GRACE, spoe.drain()).await;
    Ok(())
}
