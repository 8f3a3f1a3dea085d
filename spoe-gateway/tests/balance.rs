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
use spoe_gateway::config::GatewayConfig;
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

/// Serves `name` on `l` as [`serve_backend`] does, but each answer waits for a permit of
/// `release` (taken, not given back).
fn serve_backend_gated(
    l: TcpListener,
    name: &'static str,
    release: Arc<tokio::sync::Semaphore>,
    accepts: Arc<AtomicUsize>,
) {
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            accepts.fetch_add(1, Ordering::SeqCst);
            let release = release.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut have = Vec::new();
                while !have.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => have.extend_from_slice(&buf[..n]),
                    }
                }
                let Ok(permit) = release.acquire().await else {
                    return;
                };
                permit.forget();
                let body = name.as_bytes();
                let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
                let _ = s.write_all(&[head.as_bytes(), body].concat()).await;
            });
        }
    });
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
                        // Not a barrier: the backend's configured answer delay.
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

/// Starts a gateway on `cfg` with `PORT` replaced by a port the gateway claims by binding it
/// (another candidate when it is taken: see `spoe_interop::claim_port`); the port's address.
async fn gateway(cfg: String) -> (Arc<Gateway>, SocketAddr) {
    let (gw, port) = start_claiming(|port| cfg.replace("PORT", &port.to_string())).await;
    (gw, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// `Gateway::start` on the first candidate port its bind gets; the configuration (shared, so a
/// test can change it and reload) and the port.
async fn start_claiming(cfg: impl Fn(u16) -> String) -> (Arc<Gateway>, u16) {
    let (gw, port, _) = start_claiming_shared(cfg).await;
    (gw, port)
}

async fn start_claiming_shared(
    cfg: impl Fn(u16) -> String,
) -> (Arc<Gateway>, u16, Arc<Mutex<String>>) {
    for port in spoe_interop::port_candidates() {
        let shared = Arc::new(Mutex::new(cfg(port)));
        match Gateway::start(loader(shared.clone())).await {
            Ok(gw) => return (gw, port, shared),
            Err(e) if e.to_string().contains("Address already in use") => {}
            Err(e) => panic!("gateway start: {e}"),
        }
    }
    panic!("every candidate port was taken")
}

/// Loads whatever `cfg` holds at the time: a test changes it, then reloads.
fn loader(cfg: Arc<Mutex<String>>) -> Loader {
    Arc::new(move || {
        let text = cfg.lock().unwrap().clone();
        let (config, _) =
            GatewayConfig::parse_str(&text, "haproxy.cfg", std::path::Path::new("."), None)
                .map_err(spoe_gateway::ReloadError::Config)?;
        let var_names = config.var_names();
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
    // The backend holds its answers until released: the first request keeps the server's only
    // slot for as long as the test needs, however slow the machine.
    let release = Arc::new(tokio::sync::Semaphore::new(0));
    let accepts = Arc::new(AtomicUsize::new(0));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slow = l.local_addr().unwrap();
    serve_backend_gated(l, "slow", release.clone(), accepts.clone());
    let (gw, addr) = gateway(format!(
        "defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 1s\n    timeout queue 200ms\n\
         frontend fe\n    bind 127.0.0.1:PORT\n    default_backend be\n\
         backend be\n    server s {slow} maxconn 1\n"
    ))
    .await;
    let first = tokio::spawn(get(addr));
    // The event: the backend accepted the first request's connection (its slot is taken).
    let deadline = Instant::now() + Duration::from_secs(5);
    while accepts.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "the first request never reached the backend"
        );
        // Not a barrier: the poll interval of a bounded wait on the condition above.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let start = Instant::now();
    let (status, _) = get(addr).await;
    let waited = start.elapsed();
    // The slot stays taken until the release below, so only `timeout queue` ends this wait.
    assert_eq!(status, 503, "the second request queues, then gives up");
    assert!(
        waited >= Duration::from_millis(150),
        "gave up after {waited:?}, before timeout queue"
    );
    release.add_permits(1);
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
        // Not a barrier: the poll interval of a bounded wait on the condition above.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_takes_a_dead_server_out_and_back_and_stops_with_its_generation() {
    let a = backend("a", Duration::ZERO).await;
    // b refuses connections until it listens (its socket is bound all along, so the port
    // stays b's).
    let b_port = spoe_interop::RefusedPort::new();
    let b = b_port.addr();
    let head = |port: u16| {
        format!(
            "defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 1s\n\
             frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\
             backend be\n    balance roundrobin\n    server a {a}\n"
        )
    };
    let (gw, port, cfg) = start_claiming_shared(|port| {
        format!(
            "{}    server b {b} check inter 50ms fall 2 rise 2\n",
            head(port)
        )
    })
    .await;
    let head = head(port);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    // Two failed checks take b out: every request then goes to a.
    assert!(
        until_n_in_a_row(addr, 20, |status, body| status == 200 && body == "a").await,
        "b, which refuses connections, is never taken out of the round robin"
    );

    // b comes up: two good checks put it back.
    let accepts = Arc::new(AtomicUsize::new(0));
    let listener = b_port.listen();
    listener.set_nonblocking(true).unwrap();
    serve_backend(
        TcpListener::from_std(listener).unwrap(),
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
        // Not a barrier: the poll interval of a bounded wait on the condition above.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        gw.generations_alive(),
        1,
        "the old generation never retires"
    );
    let before = accepts.load(Ordering::SeqCst);
    // Not a barrier: an absence (no check reaches b) can only be watched over a window, here
    // eight check intervals.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        accepts.load(Ordering::SeqCst),
        before,
        "checks every 50 ms still reach b after their generation retired"
    );
    gw.stop(true).await;
}
