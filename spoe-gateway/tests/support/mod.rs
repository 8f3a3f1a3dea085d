//! What the gateway's interop tests share: a backend server answering `ok`, an in-process
//! SPOE agent with an empty verdict, and an in-process gateway on listeners bound to port 0.

#![allow(
    dead_code,
    clippy::disallowed_methods,
    reason = "each test binary uses a part of this module; their tasks end with the runtime"
)]

use std::path::PathBuf;
use std::sync::Arc;

use spoe_gateway::Gateway;
use spoe_gateway::config::GatewayConfig;
use spoe_gateway::server::{Loaded, Loader};

/// The spoe.conf of the tests' `echo-agent`: one message with the path, on every request,
/// its agents in backend `agents`.
pub(crate) const ECHO_SPOE_CONF: &str = "\
[e]
spoe-agent echo-agent
    messages echo
    option var-prefix echo
    timeout hello 2s
    timeout idle 30s
    timeout processing 2s
    use-backend agents

spoe-message echo
    args path=path
    event on-frontend-http-request
";

/// An HTTP/1.1 server answering 200 `ok` to everything, until the test ends.
pub(crate) async fn serve_backend(listener: tokio::net::TcpListener) {
    while let Ok((sock, _)) = listener.accept().await {
        tokio::spawn(async move {
            let service = hyper::service::service_fn(|_req| async {
                Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_util::Full::new(
                    bytes::Bytes::from_static(b"ok"),
                )))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(sock), service)
                .await;
        });
    }
}

/// The agent's handler: an empty verdict.
pub(crate) async fn answer(_req: spoa::Request) -> Result<spoa::Actions, spoa::HandlerError> {
    Ok(spoa::Actions::new())
}

/// An agent answering message `echo` with an empty verdict, on a port of its own: its
/// address, what stops it, and its task.
pub(crate) async fn start_agent() -> (
    std::net::SocketAddr,
    spoa::CancellationToken,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = spoa::Server::new(
        spoa::Router::new().route("echo", answer),
        spoa::Config::default(),
    )
    .unwrap();
    let stop = spoa::CancellationToken::new();
    let task = tokio::spawn({
        let stop = stop.clone();
        async move { server.serve(spoa::Listener::Tcp(listener), stop).await }
    });
    (addr, stop, task)
}

/// A gateway on `text` (relative paths from `base`), serving each `bind` address one of
/// `listeners` is bound to on it.
pub(crate) async fn start_gateway(
    text: String,
    base: PathBuf,
    listeners: Vec<std::net::TcpListener>,
) -> Arc<Gateway> {
    let loader: Loader = Arc::new(move || {
        let (config, _) = GatewayConfig::parse_str(&text, "haproxy.cfg", &base, None)
            .map_err(spoe_gateway::ReloadError::Config)?;
        let var_names = config.var_names();
        Ok(Loaded { config, var_names })
    });
    Gateway::start_with_listeners(loader, listeners)
        .await
        .unwrap()
}

/// `show servers state` without the seconds since the last change (column 10).
pub(crate) fn servers_state(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            if l.starts_with('#') || !l.contains(' ') {
                return l.to_owned();
            }
            let mut cells: Vec<&str> = l.split(' ').collect();
            cells[9] = "-";
            cells.join(" ")
        })
        .collect()
}
