//! Issue 19 §3: loading a generation runs off the serving threads. The whole gateway runs on
//! one single-threaded runtime here (accepting, serving and reloading), and the reload's loader
//! blocks until the test lets it go: requests on new and kept-alive connections are answered
//! meanwhile, which they could not be if the loader ran on that runtime. Then the reload
//! completes and the next request sees the new generation.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets on the wall clock, and spawn helpers that end with the test"
)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use spoe_gateway::server::{Loaded, Loader};
use spoe_gateway::{Gateway, ReloadError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(10);

fn config(port: u16, answer: &str) -> String {
    format!(
        "defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    \
         timeout connect 1s\nfrontend fe\n    bind 127.0.0.1:{port}\n    \
         http-request return status 200 content-type text/plain string {answer}\n"
    )
}

/// `GET /` on `s`; the body of the 200.
async fn get(s: &mut TcpStream) -> String {
    s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = tokio::time::timeout(WAIT, s.read(&mut chunk))
            .await
            .expect("an answer while the reload loads")
            .unwrap();
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n")
            && let Some(len) = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.trim().parse::<usize>().ok())
            && body.len() >= len
        {
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            return body.to_owned();
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn requests_are_served_while_a_reload_loads() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let (entered_tx, entered) = mpsc::channel::<()>();
    let (release, released) = mpsc::channel::<()>();
    let (entered_tx, released) = (Mutex::new(entered_tx), Mutex::new(released));
    let loader: Loader = Arc::new({
        let calls = calls.clone();
        move || {
            let call = calls.fetch_add(1, Ordering::SeqCst);
            if call > 0 {
                // A reload whose parse takes as long as the test wants.
                let _ = entered_tx.lock().unwrap().send(());
                let _ = released.lock().unwrap().recv_timeout(WAIT);
            }
            let answer = if call == 0 { "first" } else { "second" };
            let (config, _) = spoe_gateway::config::GatewayConfig::parse_str(
                &config(addr.port(), answer),
                "haproxy.cfg",
                std::path::Path::new("."),
                None,
            )
            .map_err(ReloadError::Config)?;
            let var_names = config.var_names();
            Ok(Loaded { config, var_names })
        }
    });
    let gw = Gateway::start_with_listeners(loader, vec![listener])
        .await
        .unwrap();
    let mut kept = TcpStream::connect(addr).await.unwrap();
    assert_eq!(get(&mut kept).await, "first");
    let reload = tokio::spawn({
        let gw = gw.clone();
        async move { gw.reload().await }
    });
    // The loader is running (on its own thread, blocked until released).
    tokio::task::spawn_blocking(move || entered.recv_timeout(WAIT))
        .await
        .unwrap()
        .expect("the reload's loader ran");
    for _ in 0..3 {
        let mut fresh = TcpStream::connect(addr).await.unwrap();
        assert_eq!(get(&mut fresh).await, "first");
    }
    assert_eq!(get(&mut kept).await, "first");
    assert!(!reload.is_finished());
    release.send(()).unwrap();
    let id = tokio::time::timeout(WAIT, reload)
        .await
        .expect("the reload ends once its loader returns")
        .unwrap()
        .unwrap();
    assert_eq!(id, 2);
    let mut fresh = TcpStream::connect(addr).await.unwrap();
    assert_eq!(get(&mut fresh).await, "second");
    gw.stop(true).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_refused_reload_says_each_error_with_its_place() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let text = Arc::new(Mutex::new(config(port, "ok")));
    let loader: Loader = Arc::new({
        let text = text.clone();
        move || {
            let (config, _) = spoe_gateway::config::GatewayConfig::parse_str(
                &text.lock().unwrap(),
                "haproxy.cfg",
                std::path::Path::new("."),
                None,
            )?;
            let var_names = config.var_names();
            Ok(Loaded { config, var_names })
        }
    });
    let gw = Gateway::start_with_listeners(loader, vec![listener])
        .await
        .unwrap();
    *text.lock().unwrap() = config(port, "ok").replace("timeout client 5s", "timeout client 5x")
        + "frontend broken\n    bind 127.0.0.1:1\n    frobnicate\n";
    match gw.reload().await {
        Err(ReloadError::Config(errors)) => {
            let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
            assert_eq!(lines.len(), 2, "{lines:#?}");
            assert_eq!(
                lines,
                [
                    "parsing [haproxy.cfg:3:20] : 'timeout client' expects a duration such as \
                     500ms, got '5x'",
                    "parsing [haproxy.cfg:11:5] : unknown keyword 'frobnicate' in 'frontend' \
                     section",
                ]
            );
        }
        other => panic!("a configuration error, got {other:?}"),
    }
    *text.lock().unwrap() = "defaults\n    mode http\n".to_owned();
    assert!(matches!(gw.reload().await, Err(ReloadError::NoListener)));
    assert_eq!(gw.current().id, 1, "the running generation stays");
    gw.stop(true).await;
}
