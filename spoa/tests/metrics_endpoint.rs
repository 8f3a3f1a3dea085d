//! `Server::serve_metrics`: one call serves the agent's Prometheus metrics
//! over HTTP (issue 24 §2), counting what the server did, until shut down.

#![allow(
    clippy::disallowed_methods,
    reason = "the blocking HTTP client runs on tokio's blocking pool"
)]

use spoa::testing::Engine;
use spoa::{Actions, Config, HandlerError, Message, Request, Router, Server};

async fn ok(_req: Request) -> Result<Actions, HandlerError> {
    Ok(Actions::new())
}

async fn fail(_req: Request) -> Result<Actions, HandlerError> {
    Err("no verdict".into())
}

async fn get(addr: std::net::SocketAddr, path: &'static str) -> spoe_interop::HttpResponse {
    tokio::task::spawn_blocking(move || spoe_interop::http_get(addr, path, &[]))
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_call_serves_the_metrics_until_shut_down() {
    let router = Router::new().route("ok", ok).route("fail", fail);
    let server = Server::new(router, Config::default()).unwrap();
    let endpoint = server.serve_metrics("127.0.0.1:0").await.unwrap();
    let addr = endpoint.local_addr();
    assert_ne!(addr.port(), 0);

    let mut engine = Engine::connect(&server).await.unwrap();
    engine.notify(vec![Message::new("ok")]).await.unwrap();
    engine.notify(vec![Message::new("ok")]).await.unwrap();
    engine.notify(vec![Message::new("fail")]).await.unwrap();

    let (status, headers, body) = get(addr, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("content-type")
                && v.starts_with("application/openmetrics-text")),
        "{headers:?}"
    );
    let text = String::from_utf8(body).unwrap();
    let sum = |name: &str, labels: &str| spoe_interop::metric_sum(&text, name, labels);
    assert_eq!(sum("spoa_messages_total", "outcome=\"ok\""), 2.0, "{text}");
    assert_eq!(
        sum("spoa_messages_total", "outcome=\"error\""),
        1.0,
        "{text}"
    );
    assert_eq!(
        sum(
            "spoa_undelivered_verdicts_total",
            "cause=\"handler_error\",code=\"10\""
        ),
        1.0,
        "{text}"
    );
    assert!(text.trim_end().ends_with("# EOF"), "{text}");

    let (status, _, _) = get(addr, "/other").await;
    assert_eq!(status, 404);

    endpoint.shutdown().await;
    let refused =
        tokio::task::spawn_blocking(move || spoe_interop::http_get(addr, "/metrics", &[]))
            .await
            .unwrap();
    assert!(refused.is_err(), "still served after shutdown: {refused:?}");
}
