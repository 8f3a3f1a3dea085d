//! Where the gateway's connections to servers come from and go to, against HAProxy 2.6 on the
//! same `haproxy.cfg` (issue 23, part "dns"): `source ADDR` on a backend and on a server (the
//! servers see the connection coming from that address), and a server without a port in a
//! `mode tcp` backend (the connection goes to the port the client connected to). Fails
//! (never skips) when `haproxy` is missing.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock"
)]

use std::collections::BTreeSet;
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use spoe_interop::{Haproxy, http_get, http_get_unix};

mod support;

/// What `http_get` returns: status, headers, body.
type Response = (u16, Vec<(String, String)>, Vec<u8>);

/// An HTTP server answering the address its client connected from.
async fn serve_peer(listener: tokio::net::TcpListener) {
    while let Ok((sock, peer)) = listener.accept().await {
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |_req| async move {
                Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_util::Full::new(
                    bytes::Bytes::from(peer.ip().to_string()),
                )))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(sock), service)
                .await;
        });
    }
}

/// A TCP server writing the address its client connected from, then closing.
async fn tell_peer(listener: tokio::net::TcpListener) {
    while let Ok((mut sock, peer)) = listener.accept().await {
        let _ =
            tokio::io::AsyncWriteExt::write_all(&mut sock, peer.ip().to_string().as_bytes()).await;
    }
}

fn config(web: &str, tcp_port: u16, http: SocketAddr) -> String {
    format!(
        "defaults
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend web
    mode http
    bind {web}
    default_backend app
backend app
    mode http
    balance roundrobin
    source 127.0.0.7
    server s1 {http}
    server s2 {http} source 127.0.0.8
frontend raw
    mode tcp
    bind 127.0.0.2:{tcp_port}
    default_backend told
backend told
    mode tcp
    source 127.0.0.9:0
    server t1 127.0.0.1
"
    )
}

/// What one side's clients got: the HTTP servers' view of 4 requests, the TCP server's of one
/// connection.
fn drive(web: &dyn Fn() -> String, tcp: SocketAddr) -> (BTreeSet<String>, String) {
    let http: BTreeSet<String> = (0..4).map(|_| web()).collect();
    let mut s = TcpStream::connect_timeout(&tcp, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut told = String::new();
    let _ = s.read_to_string(&mut told);
    (http, told)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_and_the_clients_port_as_haproxy() {
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_addr = http.local_addr().unwrap();
    let http_task = tokio::spawn(serve_peer(http));
    // Each side's TCP server listens on 127.0.0.1 at the port its frontend listens on
    // 127.0.0.2.
    let theirs_told = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let theirs_port = theirs_told.local_addr().unwrap().port();
    let ours_told = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ours_port = ours_told.local_addr().unwrap().port();
    let told_tasks = [
        tokio::spawn(tell_peer(theirs_told)),
        tokio::spawn(tell_peer(ours_told)),
    ];

    let haproxy = Haproxy::start(&config("unix@web.sock", theirs_port, http_addr));
    let web_sock = haproxy.dir().join("web.sock");
    let tmp = tempfile::tempdir().unwrap();
    let web = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let web_addr = web.local_addr().unwrap();
    let raw = std::net::TcpListener::bind(("127.0.0.2", ours_port)).unwrap();
    let gw = support::start_gateway(
        config(&web_addr.to_string(), ours_port, http_addr),
        tmp.path().to_owned(),
        vec![web, raw],
    )
    .await;

    let (theirs, ours) = tokio::task::spawn_blocking(move || {
        let body = |r: std::io::Result<Response>| {
            let (status, _, body) = r.expect("GET /");
            format!("{status} {}", String::from_utf8_lossy(&body))
        };
        let theirs = drive(
            &|| body(http_get_unix(&web_sock, "/", &[])),
            SocketAddr::from(([127, 0, 0, 2], theirs_port)),
        );
        let ours = drive(
            &|| body(http_get(web_addr, "/", &[])),
            SocketAddr::from(([127, 0, 0, 2], ours_port)),
        );
        (theirs, ours)
    })
    .await
    .unwrap();
    assert_eq!(ours, theirs);
    // Not a stub: the backend's source, a server's own, and the tcp backend's.
    assert_eq!(
        theirs.0,
        BTreeSet::from(["200 127.0.0.7".to_owned(), "200 127.0.0.8".to_owned()])
    );
    assert_eq!(theirs.1, "127.0.0.9");

    gw.stop(true).await;
    drop(haproxy);
    http_task.abort();
    for t in told_tasks {
        t.abort();
    }
}
