//! Issue 11 §4: `timeout http-keep-alive` between requests (`timeout http-request` once a head
//! started), and the backend connection pools' `pool-max-conn` and `pool-purge-delay`, observed
//! from the client and from the backend's side. Issue 11 §6: what a stop logs while it waits,
//! and when `hard-stop-after` cuts connections. Real sockets on the wall clock: every bound is a
//! lower bound the code cannot beat (a timer never fires early) or an upper bound with a wide
//! margin.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets on the wall clock, and spawn helpers that end with the test"
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use spoe_gateway::Gateway;
use spoe_gateway::config::GatewayConfig;
use spoe_gateway::log::{LogSinks, MemorySink};
use spoe_gateway::server::{Loaded, Loader};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Every wait of these tests gives up after this long.
const WAIT: Duration = Duration::from_secs(10);

/// What a backend saw: connections accepted, and connections open now.
#[derive(Debug, Default)]
struct BackendSeen {
    accepted: AtomicUsize,
    open: AtomicUsize,
}

/// A backend that answers every request `ok` after `delay`, counting its connections.
async fn backend(delay: Duration) -> (SocketAddr, Arc<BackendSeen>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let seen = Arc::new(BackendSeen::default());
    let counters = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            counters.accepted.fetch_add(1, Ordering::SeqCst);
            counters.open.fetch_add(1, Ordering::SeqCst);
            let counters = counters.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut have = Vec::new();
                'conn: loop {
                    let n = s.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    have.extend_from_slice(&buf[..n]);
                    while let Some(end) = have.windows(4).position(|w| w == b"\r\n\r\n") {
                        have.drain(..end + 4);
                        // The backend's own answer time (what the test configures), not a barrier.
                        tokio::time::sleep(delay).await;
                        let resp = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if s.write_all(resp).await.is_err() {
                            break 'conn;
                        }
                    }
                }
                counters.open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (addr, seen)
}

/// Starts a gateway on `cfg` with `PORT` replaced by the port of a listener the test binds
/// itself (port 0) and hands over.
async fn gateway(cfg: String) -> (Arc<Gateway>, SocketAddr) {
    let (gw, addr, _) = gateway_logging(cfg).await;
    (gw, addr)
}

/// [`gateway`], its `log stdout` lines kept in memory.
async fn gateway_logging(cfg: String) -> (Arc<Gateway>, SocketAddr, Arc<MemorySink>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let text = cfg.replace("PORT", &addr.port().to_string());
    let loader: Loader = Arc::new(move || {
        let (config, _) =
            GatewayConfig::parse_str(&text, "haproxy.cfg", std::path::Path::new("."), None)
                .map_err(spoe_gateway::ReloadError::Config)?;
        let var_names = config.var_names();
        Ok(Loaded { config, var_names })
    });
    let stdout = Arc::new(MemorySink::new("stdout", 1000));
    let sinks = LogSinks::new(stdout.clone(), Arc::new(MemorySink::new("stderr", 1000)));
    let gw = Gateway::start_with_sinks(loader, vec![listener], sinks)
        .await
        .unwrap();
    (gw, addr, stdout)
}

fn config(frontend_timeouts: &str, server: &str) -> String {
    format!(
        "defaults\n    mode http\n    timeout client 30s\n    timeout server 30s\n    timeout connect 1s\n\
         frontend fe\n    bind 127.0.0.1:PORT\n{frontend_timeouts}    default_backend be\n\
         backend be\n    server s1 {server}\n"
    )
}

/// Sends `GET /` on `s` and reads the response (200) whole.
async fn get(s: &mut TcpStream) -> Result<(), String> {
    s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .map_err(|e| format!("write: {e}"))?;
    read_response(s).await
}

async fn read_response(s: &mut TcpStream) -> Result<(), String> {
    let mut have = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        if let Some(end) = have.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&have[..end]).to_string();
            if !head.starts_with("HTTP/1.1 200") {
                return Err(format!("status: {head}"));
            }
            let length = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if have.len() >= end + 4 + length {
                return Ok(());
            }
        }
        let n = tokio::time::timeout(WAIT, s.read(&mut buf))
            .await
            .map_err(|_| "no response".to_owned())?
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err(format!(
                "connection closed; got {:?}",
                String::from_utf8_lossy(&have)
            ));
        }
        have.extend_from_slice(&buf[..n]);
    }
}

/// Waits for the gateway to close `s`; how long that took.
async fn closed_after(s: &mut TcpStream) -> Duration {
    let start = Instant::now();
    let mut buf = [0u8; 64];
    match tokio::time::timeout(WAIT * 2, s.read(&mut buf)).await {
        Ok(Ok(0) | Err(_)) => start.elapsed(),
        Ok(Ok(n)) => panic!("unexpected {n} bytes on an idle connection"),
        Err(_) => panic!("the idle connection is still open after {:?}", WAIT * 2),
    }
}

/// Polls `cond` every 10 ms for at most `WAIT`.
async fn wait_until(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        if Instant::now() >= deadline {
            return false;
        }
        // Poll interval of a bounded wait on a counter.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

/// `timeout http-keep-alive` longer than `timeout http-request`: a connection idle for longer
/// than http-request still takes its next request, and closes after http-keep-alive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_waits_http_keep_alive_not_http_request() {
    let (b, _) = backend(Duration::ZERO).await;
    let (gw, addr) = gateway(config(
        "    timeout http-request 300ms\n    timeout http-keep-alive 3s\n",
        &b.to_string(),
    ))
    .await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    get(&mut s).await.unwrap();
    // Time passing is what is tested: idle longer than http-request, shorter than http-keep-alive.
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The gateway's idle wait starts after this instant (when it sent the response).
    let sent = Instant::now();
    get(&mut s)
        .await
        .expect("the second request, 1 s after the first (http-request 300ms, keep-alive 3s)");
    closed_after(&mut s).await;
    let idle = sent.elapsed();
    assert!(
        idle >= Duration::from_secs(3) && idle < Duration::from_secs(9),
        "closed {idle:?} after the second request was sent (timeout http-keep-alive 3s)"
    );
    gw.stop(true).await;
}

/// `timeout http-keep-alive` shorter than `timeout http-request`: the idle connection closes at
/// http-keep-alive; a request whose head has started gets http-request instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_keep_alive_closes_idle_connections_and_a_started_head_gets_http_request() {
    let (b, _) = backend(Duration::ZERO).await;
    let (gw, addr) = gateway(config(
        "    timeout http-request 20s\n    timeout http-keep-alive 200ms\n",
        &b.to_string(),
    ))
    .await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let sent = Instant::now();
    get(&mut s).await.unwrap();
    closed_after(&mut s).await;
    let idle = sent.elapsed();
    assert!(
        idle >= Duration::from_millis(200) && idle < Duration::from_secs(5),
        "closed {idle:?} after the request was sent (timeout http-keep-alive 200ms, http-request 20s)"
    );

    let mut s = TcpStream::connect(addr).await.unwrap();
    get(&mut s).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    // Time passing is what is tested: a head left incomplete for a while.
    tokio::time::sleep(Duration::from_secs(1)).await;
    s.write_all(b"host: x\r\n\r\n").await.unwrap();
    read_response(&mut s)
        .await
        .expect("a head started before http-keep-alive ran out has http-request to finish");
    gw.stop(true).await;
}

/// After a burst of 12 concurrent requests the backend holds 12 connections; with
/// `pool-max-conn 2` (and no purge) the gateway keeps 2 idle ones, and reuses them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_max_conn_bounds_the_idle_connections_a_server_sees() {
    let (b, seen) = backend(Duration::from_millis(300)).await;
    let (gw, addr) = gateway(config(
        "",
        &format!("{b} pool-max-conn 2 pool-purge-delay 0"),
    ))
    .await;
    burst(addr, 12).await;
    assert_eq!(seen.accepted.load(Ordering::SeqCst), 12, "one per request");
    assert!(
        wait_until(|| seen.open.load(Ordering::SeqCst) <= 2).await,
        "{} idle connections to the server stay open (pool-max-conn 2)",
        seen.open.load(Ordering::SeqCst)
    );
    assert_eq!(seen.open.load(Ordering::SeqCst), 2, "two are kept");
    let mut s = TcpStream::connect(addr).await.unwrap();
    get(&mut s).await.unwrap();
    assert_eq!(
        seen.accepted.load(Ordering::SeqCst),
        12,
        "a kept connection is reused"
    );
    gw.stop(true).await;
}

/// With `pool-purge-delay 300ms`, the idle connections of a burst are all closed soon after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_purge_delay_closes_idle_server_connections() {
    let (b, seen) = backend(Duration::from_millis(300)).await;
    let (gw, addr) = gateway(config("", &format!("{b} pool-purge-delay 300ms"))).await;
    // Each connection goes idle after the backend's 300 ms, and is purged after 300 ms more.
    let start = Instant::now();
    burst(addr, 6).await;
    assert_eq!(seen.accepted.load(Ordering::SeqCst), 6);
    assert!(
        wait_until(|| seen.open.load(Ordering::SeqCst) == 0).await,
        "{} idle connections still open {WAIT:?} after the burst (pool-purge-delay 300ms)",
        seen.open.load(Ordering::SeqCst)
    );
    assert!(
        start.elapsed() >= Duration::from_millis(600),
        "purged {:?} after the burst started, before the delay",
        start.elapsed()
    );
    gw.stop(true).await;
}

/// `n` concurrent requests, each on its own client connection; all must succeed.
async fn burst(addr: SocketAddr, n: usize) {
    let clients: Vec<_> = (0..n)
        .map(|_| {
            tokio::spawn(async move {
                let mut s = TcpStream::connect(addr).await.unwrap();
                get(&mut s).await
            })
        })
        .collect();
    for c in clients {
        c.await.unwrap().unwrap();
    }
}

// ===== stopping =====

/// Log lines written on this thread (the gateway runs on the test's current-thread runtime).
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        let c = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || c.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn stop_config(global: &str, backend: SocketAddr) -> String {
    format!(
        "global\n{global}    log stdout format raw local0\ndefaults\n    mode http\n    log global\n    \
         option httplog\n    timeout client 30s\n    timeout server 60s\n    \
         timeout connect 1s\nfrontend fe\n    bind 127.0.0.1:PORT\n    \
         http-request return status 200 if {{ path /fast }}\n    default_backend be\n\
         backend be\n    server s1 {backend}\n"
    )
}

/// `hard-stop-after 500ms` with a request waiting on a backend that answers after a minute and
/// a kept-alive idle connection: the stop ends at the bound, the cut request gets its access line
/// (termination state `KH`: killed while waiting for the response head) and a summary says how
/// many connections were cut; the client sees its connection closed.
#[tokio::test(flavor = "current_thread")]
async fn hard_stop_after_logs_each_connection_it_cuts_and_a_summary() {
    let captured = Captured::default();
    let _log = captured.install();
    let (b, seen) = backend(Duration::from_secs(60)).await;
    let (gw, addr, access) = gateway_logging(stop_config("    hard-stop-after 500ms\n", b)).await;
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /fast HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    read_response(&mut idle).await.unwrap();
    let mut busy = TcpStream::connect(addr).await.unwrap();
    busy.write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(
        wait_until(|| seen.accepted.load(Ordering::SeqCst) == 1).await,
        "the request never reached the backend"
    );
    let start = Instant::now();
    tokio::time::timeout(WAIT, gw.stop(false))
        .await
        .expect("the stop ends at hard-stop-after");
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(490), "stopped after {took:?}");
    let log = captured.text();
    let lines = access.lines();
    let cut: Vec<&String> = lines.iter().filter(|l| l.contains(" KH-- ")).collect();
    assert_eq!(
        cut.len(),
        1,
        "one access line for the cut request:\n{lines:#?}"
    );
    assert!(cut[0].contains("\"GET /slow HTTP/1.1\""), "{lines:#?}");
    let summary: Vec<&str> = log.lines().filter(|l| l.contains("by force")).collect();
    assert_eq!(summary.len(), 1, "{log}");
    assert!(
        summary[0].contains("WARN")
            && summary[0].contains("hard-stop-after 500ms reached")
            && summary[0]
                .contains("closing 1 client connection(s) by force (1 with a request in progress)"),
        "{log}"
    );
    // Both client connections are closed (closed_after panics otherwise).
    closed_after(&mut busy).await;
    closed_after(&mut idle).await;
}

/// Without `hard-stop-after`, a stop waiting for a slow request says so every few seconds (how
/// many connections, how old the oldest), then ends when the request completes, cutting nothing.
#[tokio::test(flavor = "current_thread")]
async fn a_stop_says_what_it_waits_for_every_few_seconds() {
    let captured = Captured::default();
    let _log = captured.install();
    let wait_for = spoe_gateway::server::STOP_PROGRESS_EVERY + Duration::from_secs(1);
    let (b, seen) = backend(wait_for).await;
    let (gw, addr) = gateway(stop_config("", b)).await;
    let mut busy = TcpStream::connect(addr).await.unwrap();
    busy.write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(
        wait_until(|| seen.accepted.load(Ordering::SeqCst) == 1).await,
        "the request never reached the backend"
    );
    let (stopped, response) = tokio::join!(
        tokio::time::timeout(WAIT * 2, gw.stop(false)),
        read_response(&mut busy)
    );
    stopped.expect("the stop ends when the request completes");
    response.expect("the request in progress completes");
    let log = captured.text();
    let progress: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("stopping: waiting for"))
        .collect();
    assert_eq!(progress.len(), 1, "{log}");
    assert!(
        progress[0].contains(
            "waiting for 1 client connection(s) (1 with a request in progress), the oldest open for "
        ),
        "{log}"
    );
    let age: f64 = progress[0]
        .rsplit("the oldest open for ")
        .next()
        .and_then(|t| t.split('s').next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no age in {}", progress[0]));
    assert!(age >= 5.0, "{log}");
    assert!(!log.contains("by force"), "{log}");
}

/// A graceful stop closes at once the connections that wait for a request: one that sent
/// nothing, and one idle after its request (handed back by hyper to the gateway's own wait,
/// which watches the stop through a waker the stop wakes, not through a future of its own).
/// The stop then ends without cutting anything, long before any of their timeouts.
#[tokio::test(flavor = "current_thread")]
async fn a_stop_closes_idle_connections_at_once() {
    let captured = Captured::default();
    let _log = captured.install();
    let (b, _) = backend(Duration::ZERO).await;
    let (gw, addr) = gateway(stop_config("", b)).await;
    let mut fresh = TcpStream::connect(addr).await.unwrap();
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /fast HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    read_response(&mut idle).await.unwrap();
    // Time passing is what is tested: past the 100 ms hyper's connection is kept after a
    // response, the socket is back in the gateway's idle wait.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let start = Instant::now();
    tokio::time::timeout(WAIT, gw.stop(false))
        .await
        .expect("the stop ends at once: nothing is in progress");
    closed_after(&mut fresh).await;
    closed_after(&mut idle).await;
    let took = start.elapsed();
    // Their waits are `timeout client 30s`; the stop's bound is longer.
    assert!(took < Duration::from_secs(5), "closed after {took:?}");
    let log = captured.text();
    assert!(!log.contains("by force"), "{log}");
}
