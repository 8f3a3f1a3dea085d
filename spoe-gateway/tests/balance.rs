//! Server choice: `weight` in round robin, `maxconn` with `timeout queue`, and `check`.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock, and spawn helpers that end with the test"
)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use spoe_gateway::Gateway;
use spoe_gateway::model::GatewayConfig;
use spoe_gateway::server::{Loaded, Loader};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A backend that answers every request with its own name, after `delay`.
async fn backend(name: &'static str, delay: Duration) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    serve_backend(l, name, delay, Arc::default());
    addr
}

/// Serves `backend`'s answers on `l`, counting the connections it accepts.
fn serve_backend(l: TcpListener, name: &'static str, delay: Duration, accepts: Arc<AtomicUsize>) {
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            accepts.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut have = Vec::new();
                loop {
                    let n = s.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    have.extend_from_slice(&buf[..n]);
                    while let Some(end) = have.windows(4).position(|w| w == b"\r\n\r\n") {
                        have.drain(..end + 4);
                        tokio::time::sleep(delay).await;
                        let body = name.as_bytes();
                        let head =
                            format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
                        if s.write_all(&[head.as_bytes(), body].concat())
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            });
        }
    });
}

/// Starts a gateway on `cfg` with `PORT` replaced by a free port; the port's address.
async fn gateway(cfg: String) -> (Arc<Gateway>, SocketAddr) {
    let port = spoe_interop::free_port();
    let cfg = cfg.replace("PORT", &port.to_string());
    let gw = Gateway::start(loader(Arc::new(Mutex::new(cfg))))
        .await
        .unwrap();
    (gw, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Loads whatever `cfg` holds at the time: a test changes it, then reloads.
fn loader(cfg: Arc<Mutex<String>>) -> Loader {
    Arc::new(move || {
        let text = cfg.lock().unwrap().clone();
        let (config, _) =
            GatewayConfig::parse_str(&text, "haproxy.cfg", std::path::Path::new("."), None)
                .map_err(|e| spoe_gateway::ReloadError(e.to_string()))?;
        let var_names = spoe_gateway::config::var_names(&config);
        Ok(Loaded { config, var_names })
    })
}

async fn get(addr: SocketAddr) -> (u16, String) {
    tokio::task::spawn_blocking(move || {
        let (status, _, body) = spoe_interop::http_get(addr, "/", &[]).unwrap();
        (status, String::from_utf8(body).unwrap())
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_follows_weights() {
    let a = backend("a", Duration::ZERO).await;
    let b = backend("b", Duration::ZERO).await;
    let (gw, addr) = gateway(format!(
        "defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 1s\n\
         frontend fe\n    bind 127.0.0.1:PORT\n    default_backend be\n\
         backend be\n    balance roundrobin\n    server a {a} weight 3\n    server b {b} weight 1\n    server z {b} weight 0\n"
    ))
    .await;
    let mut counts = std::collections::BTreeMap::new();
    for _ in 0..40 {
        let (status, body) = get(addr).await;
        assert_eq!(status, 200);
        *counts.entry(body).or_insert(0) += 1;
    }
    assert_eq!(counts.get("a"), Some(&30), "{counts:?}");
    assert_eq!(counts.get("b"), Some(&10), "{counts:?}");
    gw.stop(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maxconn_queues_then_times_out_with_503() {
    let slow = backend("slow", Duration::from_millis(800)).await;
    let (gw, addr) = gateway(format!(
        "defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 1s\n    timeout queue 200ms\n\
         frontend fe\n    bind 127.0.0.1:PORT\n    default_backend be\n\
         backend be\n    server s {slow} maxconn 1\n"
    ))
    .await;
    let first = tokio::spawn(get(addr));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let start = Instant::now();
    let (status, _) = get(addr).await;
    let waited = start.elapsed();
    assert_eq!(status, 503, "the second request queues, then gives up");
    assert!(
        waited >= Duration::from_millis(150) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
    assert_eq!(first.await.unwrap(), (200, "slow".to_owned()));
    gw.stop(true).await;
}

/// Sends requests until `done` holds for the (status, body) of `n` in a row; false after 5 s.
async fn until_n_in_a_row(addr: SocketAddr, n: usize, done: impl Fn(u16, &str) -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut streak = 0;
    while Instant::now() < deadline {
        let (status, body) = get(addr).await;
        streak = if done(status, &body) { streak + 1 } else { 0 };
        if streak == n {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_takes_a_dead_server_out_and_back_and_stops_with_its_generation() {
    let a = backend("a", Duration::ZERO).await;
    // b refuses connections until a listener takes its port.
    let b = SocketAddr::from(([127, 0, 0, 1], spoe_interop::free_port()));
    let port = spoe_interop::free_port();
    let head = format!(
        "defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 1s\n\
         frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\
         backend be\n    balance roundrobin\n    server a {a}\n"
    );
    let cfg = Arc::new(Mutex::new(format!(
        "{head}    server b {b} check inter 50ms fall 2 rise 2\n"
    )));
    let gw = Gateway::start(loader(cfg.clone())).await.unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    // Two failed checks take b out: every request then goes to a.
    assert!(
        until_n_in_a_row(addr, 20, |status, body| status == 200 && body == "a").await,
        "b, which refuses connections, is never taken out of the round robin"
    );

    // b comes up: two good checks put it back.
    let accepts = Arc::new(AtomicUsize::new(0));
    serve_backend(
        TcpListener::bind(b).await.unwrap(),
        "b",
        Duration::ZERO,
        accepts.clone(),
    );
    assert!(
        until_n_in_a_row(addr, 1, |status, body| status == 200 && body == "b").await,
        "b never comes back after it starts answering"
    );

    // A generation without the check: the old generation's checks end with it.
    *cfg.lock().unwrap() = format!("{head}    server b {b}\n");
    gw.reload().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while gw.generations_alive() > 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        gw.generations_alive(),
        1,
        "the old generation never retires"
    );
    let before = accepts.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        accepts.load(Ordering::SeqCst),
        before,
        "checks every 50 ms still reach b after their generation retired"
    );
    gw.stop(true).await;
}
