//! The bundled quickstart of `spoe gateway --quickstart`: a configuration, a
//! demo backend and (in `cmd::gateway`) an embedded agent, so that the
//! gateway runs with nothing else installed. A product demo: it lives in the
//! binary, not in the gateway's library.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The quickstart's `haproxy.cfg` (uses `SPOE_LISTEN`, `SPOE_QUICKSTART_DIR`,
/// `SPOE_DEMO_ADDR` and `SPOE_AGENT_ADDR`).
pub(crate) const HAPROXY_CFG: &str = include_str!("../quickstart/haproxy.cfg");
/// The quickstart's `spoe.conf`.
pub(crate) const SPOE_CONF: &str = include_str!("../quickstart/spoe.conf");

/// Serves the demo backend on `listener` until `stop`: every request gets
/// 200 and a text body listing its method, path and headers, so that the
/// headers the gateway set are visible.
pub(crate) async fn serve_demo_backend(listener: TcpListener, stop: CancellationToken) {
    let tracker = TaskTracker::new();
    loop {
        let (sock, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(_) => continue,
            },
            () = stop.cancelled() => break,
        };
        let stop = stop.clone();
        tracker.spawn(async move {
            let conn = http1::Builder::new().serve_connection(TokioIo::new(sock), service_fn(demo));
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                () = stop.cancelled() => {}
            }
        });
    }
    tracker.close();
    tracker.wait().await;
}

async fn demo(req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut body = format!("demo backend: {} {}\n", req.method(), req.uri());
    for (k, v) in req.headers() {
        body.push_str(&format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())));
    }
    Ok(Response::new(Full::new(Bytes::from(body))))
}

/// Binds the demo backend on a free loopback port.
pub(crate) async fn bind_demo_backend() -> std::io::Result<(TcpListener, SocketAddr)> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    Ok((l, addr))
}
