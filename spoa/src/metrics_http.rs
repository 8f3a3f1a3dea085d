//! The agent's Prometheus metrics over HTTP: `GET /metrics` on an address
//! of its own ([`Server::serve_metrics`](crate::Server::serve_metrics)).

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::metrics::Metrics;

/// The content type of the metrics: OpenMetrics text.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How long a scraper may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The metrics endpoint: it serves until it is dropped or
/// [`shut down`](MetricsEndpoint::shutdown).
#[derive(Debug)]
pub struct MetricsEndpoint {
    local_addr: SocketAddr,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl MetricsEndpoint {
    /// Binds `addr` and serves `metrics` there, on the caller's runtime.
    pub(crate) async fn start(addr: impl ToSocketAddrs, metrics: Arc<Metrics>) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        #[expect(
            clippy::disallowed_methods,
            reason = "the JoinHandle is kept by the endpoint, awaited by shutdown and aborted on drop"
        )]
        let task = tokio::spawn(serve(listener, metrics, stop.clone()));
        Ok(Self {
            local_addr,
            stop,
            task: Some(task),
        })
    }

    /// The address it listens on (the port chosen when it was 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, lets scrapes in progress finish (at most 2 s), and
    /// returns when it is done.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for MetricsEndpoint {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Serves `GET /metrics` on `listener` until `stop`.
async fn serve(listener: TcpListener, metrics: Arc<Metrics>, stop: CancellationToken) {
    let tracker = TaskTracker::new();
    loop {
        let (sock, _) = tokio::select! {
            () = stop.cancelled() => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics endpoint: accept failed");
                    // Out of file descriptors, say: give the process a moment.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let metrics = metrics.clone();
        let stop = stop.clone();
        tracker.spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let metrics = metrics.clone();
                async move { Ok::<_, Infallible>(respond(&req, &metrics)) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .serve_connection(TokioIo::new(sock), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                () = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(2), conn).await;
                }
            }
        });
    }
    tracker.close();
    let _ = tokio::time::timeout(Duration::from_secs(3), tracker.wait()).await;
}

fn respond(req: &Request<Incoming>, metrics: &Metrics) -> Response<Full<Bytes>> {
    let (status, ctype, body) = if req.uri().path() == "/metrics" {
        (StatusCode::OK, CONTENT_TYPE, metrics.encode_text())
    } else {
        (
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found: metrics are at /metrics\n".to_owned(),
        )
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    if let Ok(v) = ctype.parse() {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}
