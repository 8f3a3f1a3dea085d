//! Request and response bodies stream through the gateway: whole (100 MiB), with
//! backpressure, without the gateway holding them; `option http-buffer-request` buffers at
//! most `tune.bufsize` for `req.body` (rules and agents) and does not wait for the rest; an
//! idle keep-alive connection is handed back between requests without losing any.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets on the wall clock, and spawn helpers that end with the test"
)]

use std::collections::HashMap;
use std::hash::Hasher;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use spoe_gateway::Gateway;
use spoe_gateway::config::GatewayConfig;
use spoe_gateway::server::{Loaded, Loader};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// Every wait of these tests.
const WAIT: Duration = Duration::from_secs(20);

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing after {WAIT:?}"))
}

// ===== data =====

/// Deterministic bytes (xorshift), `n` of them starting at stream offset `at`: the client
/// generates them piece by piece, the hash says whether the backend got the same.
fn data(seed: u64, at: u64, n: usize) -> Vec<u8> {
    (at..at + n as u64)
        .map(|i| {
            let mut x = seed ^ (i / 8).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> ((i % 8) * 8)) as u8
        })
        .collect()
}

/// A streaming hash (the same whatever the pieces).
#[derive(Default)]
struct Digest {
    h: std::hash::DefaultHasher,
    len: u64,
}

impl Digest {
    fn update(&mut self, b: &[u8]) {
        self.h.write(b);
        self.len += b.len() as u64;
    }

    fn text(&self) -> String {
        format!("len={} hash={:016x}", self.len, self.h.finish())
    }
}

// ===== the upload backend =====

/// What the upload backend saw.
#[derive(Default)]
struct Seen {
    /// Notified when a request's first body bytes arrive.
    first_bytes: Notify,
    /// The request headers of the last request.
    headers: Mutex<HashMap<String, String>>,
}

/// A hyper backend: streams each request body into a [`Digest`] and answers it as the body,
/// with the request's `x-` headers copied into the response.
async fn upload_backend() -> (SocketAddr, Arc<Seen>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = l.accept().await {
            let s = s.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let s = s.clone();
                    async move {
                        let (parts, mut body) = req.into_parts();
                        let mut copied = Vec::new();
                        {
                            let mut h = s.headers.lock().unwrap();
                            h.clear();
                            for (k, v) in &parts.headers {
                                h.insert(k.to_string(), v.to_str().unwrap_or("?").to_owned());
                                if k.as_str().starts_with("x-") {
                                    copied.push((k.clone(), v.clone()));
                                }
                            }
                        }
                        let mut digest = Digest::default();
                        while let Some(frame) = body.frame().await {
                            let frame = frame?;
                            if let Some(d) = frame.data_ref() {
                                if digest.len == 0 && !d.is_empty() {
                                    s.first_bytes.notify_one();
                                }
                                digest.update(d);
                            }
                        }
                        let mut resp = Response::new(Full::new(Bytes::from(digest.text())));
                        for (k, v) in copied {
                            resp.headers_mut().append(k, v);
                        }
                        Ok::<_, hyper::Error>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(sock), service)
                    .await;
            });
        }
    });
    (addr, seen)
}

// ===== the gateway =====

/// Starts a gateway on `cfg`, where `PORT` is replaced by the port of a listener bound to
/// port 0 and handed to the gateway (no port is guessed); `files` go next to it.
async fn gateway(
    cfg: &str,
    files: &[(&str, &str)],
) -> (Arc<Gateway>, SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let text = cfg.replace("PORT", &addr.port().to_string());
    let base = dir.path().to_owned();
    let loader: Loader = Arc::new(move || {
        let (config, _) = GatewayConfig::parse_str(&text, "haproxy.cfg", &base, None)
            .map_err(spoe_gateway::ReloadError::Config)?;
        let var_names = config.var_names();
        Ok(Loaded { config, var_names })
    });
    let gw = Gateway::start_with_listeners(loader, vec![listener])
        .await
        .unwrap();
    (gw, addr, dir)
}

fn config(backend: SocketAddr, frontend_extra: &str, global_extra: &str) -> String {
    format!(
        "global\n{global_extra}\n\
         defaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n\
         frontend fe\n    bind 127.0.0.1:PORT\n{frontend_extra}\n    default_backend be\n\
         backend be\n    server s1 {backend}\n"
    )
}

// ===== a raw client =====

/// A response as read: status, headers (lowercase names), body.
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// Reads one response head from `sock` (bytes after it stay in `buf`).
async fn read_head(sock: &mut (impl AsyncRead + Unpin), buf: &mut Vec<u8>) -> Resp {
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let mut chunk = [0u8; 16384];
        let n = sock.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before a response head: {buf:?}");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    buf.drain(..end + 4);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Resp {
        status,
        headers,
        body: Vec::new(),
    }
}

/// Reads a response with a Content-Length body.
async fn read_response(sock: &mut (impl AsyncRead + Unpin), buf: &mut Vec<u8>) -> Resp {
    let mut r = read_head(sock, buf).await;
    let len: usize = r.headers["content-length"].parse().unwrap();
    while buf.len() < len {
        let mut chunk = [0u8; 16384];
        let n = sock.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed in a response body");
        buf.extend_from_slice(&chunk[..n]);
    }
    r.body = buf.drain(..len).collect();
    r
}

fn body_text(r: &Resp) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

// ===== streaming =====

/// 100 MiB (6 times the 16 MiB the gateway used to buffer at most, and refuse beyond) pass
/// through to the backend, every byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mib_upload_reaches_the_backend_whole() {
    let (backend, _) = upload_backend().await;
    let (_gw, addr, _dir) = gateway(&config(backend, "", ""), &[]).await;
    const TOTAL: u64 = 100 << 20;
    const PIECE: usize = 256 << 10;
    let sock = TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = sock.into_split();
    let sender = tokio::spawn(async move {
        wr.write_all(
            format!("POST /upload HTTP/1.1\r\nhost: t\r\ncontent-length: {TOTAL}\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
        let mut digest = Digest::default();
        let mut at = 0;
        while at < TOTAL {
            let piece = data(7, at, PIECE.min((TOTAL - at) as usize));
            digest.update(&piece);
            wr.write_all(&piece).await.unwrap();
            at += piece.len() as u64;
        }
        (digest.text(), wr)
    });
    let mut buf = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(300), read_response(&mut rd, &mut buf))
        .await
        .expect("the 100 MiB upload got no response in 300 s");
    let (sent, _wr) = within("the sender", sender).await.unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        body_text(&r),
        sent,
        "what the backend received differs from what was sent"
    );
}

/// The gateway does not hold a body until it is complete: the backend receives the first
/// chunk while the client has not sent the last one yet (fails where the gateway buffered
/// the whole body first). The same body then arrives whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backend_gets_the_first_chunk_before_the_client_sends_the_last() {
    let (backend, seen) = upload_backend().await;
    let (_gw, addr, _dir) = gateway(&config(backend, "", ""), &[]).await;
    let first = data(3, 0, 3000);
    let last = data(3, 3000, 5000);
    let mut expect = Digest::default();
    expect.update(&first);
    expect.update(&last);
    let mut sock = TcpStream::connect(addr).await.unwrap();
    let first_seen = seen.first_bytes.notified();
    sock.write_all(b"POST /upload HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    sock.write_all(format!("{:x}\r\n", first.len()).as_bytes())
        .await
        .unwrap();
    sock.write_all(&first).await.unwrap();
    sock.write_all(b"\r\n").await.unwrap();
    within(
        "the backend receiving the first chunk while the last is not sent",
        first_seen,
    )
    .await;
    sock.write_all(format!("{:x}\r\n", last.len()).as_bytes())
        .await
        .unwrap();
    sock.write_all(&last).await.unwrap();
    sock.write_all(b"\r\n0\r\n\r\n").await.unwrap();
    let mut buf = Vec::new();
    let r = within("the response", read_response(&mut sock, &mut buf)).await;
    assert_eq!((r.status, body_text(&r)), (200, expect.text()), "{r:?}");
}

/// A backend that sends its response body slowly: the client gets the first bytes before
/// the backend has sent the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_response_body_reaches_the_client_as_it_comes() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend = l.local_addr().unwrap();
    let release = Arc::new(Notify::new());
    let r2 = release.clone();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut buf = Vec::new();
        let _ = read_request_head(&mut s, &mut buf).await;
        s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nfirst")
            .await
            .unwrap();
        r2.notified().await;
        s.write_all(b"-last").await.unwrap();
    });
    let (_gw, addr, _dir) = gateway(&config(backend, "", ""), &[]).await;
    let mut sock = TcpStream::connect(addr).await.unwrap();
    sock.write_all(b"GET /slow HTTP/1.1\r\nhost: t\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let r = within("the response head", read_head(&mut sock, &mut buf)).await;
    assert_eq!(r.status, 200);
    within("the first body bytes", async {
        while buf.len() < 5 {
            let mut chunk = [0u8; 64];
            let n = sock.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed early");
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    assert_eq!(&buf[..], b"first");
    release.notify_one();
    within("the rest", async {
        while buf.len() < 10 {
            let mut chunk = [0u8; 64];
            let n = sock.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed early");
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    assert_eq!(&buf[..], b"first-last");
}

async fn read_request_head(s: &mut TcpStream, buf: &mut Vec<u8>) -> String {
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).into_owned();
            buf.drain(..i + 4);
            return head;
        }
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0);
        buf.extend_from_slice(&chunk[..n]);
    }
}

// ===== option http-buffer-request =====

/// Starts the echo agent (every argument comes back as `txn.echo.NAME`) on port 0.
async fn echo_agent() -> spoa::testing::RunningAgent {
    let server = spoa::Server::new(spoa::testing::Echo, spoa::Config::default()).unwrap();
    spoa::testing::RunningAgent::start(&server).await.unwrap()
}

/// The frontend copies what the agent and the rules saw of the body into request headers,
/// which the backend copies into its response.
fn buffering_config(backend: SocketAddr, agent: SocketAddr, option: &str, global: &str) -> String {
    config(
        backend,
        &format!(
            "    {option}\n    filter spoe engine e config spoe.conf\n\
             \x20   http-request set-header x-agent-body \"%[var(txn.echo.body)]\"\n\
             \x20   http-request set-header x-agent-len \"%[var(txn.echo.len)]\"\n\
             \x20   http-request set-header x-rule-len \"%[req.body_len]\"\n\
             \x20   http-request set-header x-rule-size \"%[req.body_size]\"\n\
             \x20   http-request set-header x-err \"%[var(txn.echo.err)]\""
        ),
        global,
    ) + &format!("backend agents\n    mode tcp\n    server a {agent}\n")
}

fn echo_conf() -> String {
    spoe_interop::echo_spoe_conf("body=req.body len=req.body_len", "5s", false)
}

async fn post(addr: SocketAddr, body: &[u8]) -> Resp {
    let mut sock = TcpStream::connect(addr).await.unwrap();
    sock.write_all(
        format!(
            "POST /upload HTTP/1.1\r\nhost: t\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    sock.write_all(body).await.unwrap();
    let mut buf = Vec::new();
    within("the response", read_response(&mut sock, &mut buf)).await
}

/// With `option http-buffer-request`, a small body is `req.body` for the agent and the
/// rules; without it, they see none (as HAProxy, which has not read it yet).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_buffer_request_gives_the_body_to_agents_and_rules() {
    let (backend, _) = upload_backend().await;
    let running = echo_agent().await;
    let agent = running.tcp_addr().unwrap();
    let conf = echo_conf();
    let files = [("spoe.conf", conf.as_str())];
    let (_gw, addr, _dir) = gateway(
        &buffering_config(backend, agent, "option http-buffer-request", ""),
        &files,
    )
    .await;
    let r = post(addr, b"name=value").await;
    let h = |k: &str| r.headers.get(k).map(String::as_str);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(h("x-err"), Some(""), "no SPOE error expected: {r:?}");
    assert_eq!(h("x-agent-body"), Some("name=value"), "{r:?}");
    assert_eq!(h("x-agent-len"), Some("10"), "{r:?}");
    assert_eq!(h("x-rule-len"), Some("10"), "{r:?}");
    assert_eq!(h("x-rule-size"), Some("10"), "{r:?}");

    let (_gw2, addr2, _dir2) = gateway(
        &buffering_config(backend, agent, "no option http-buffer-request", ""),
        &files,
    )
    .await;
    let r = post(addr2, b"name=value").await;
    let h = |k: &str| r.headers.get(k).map(String::as_str);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(h("x-agent-body"), Some(""), "{r:?}");
    assert_eq!(h("x-agent-len"), Some("0"), "{r:?}");
    assert_eq!(h("x-rule-len"), Some("0"), "{r:?}");
    // req.body_size is the advertised length, read from the head.
    assert_eq!(h("x-rule-size"), Some("10"), "{r:?}");
    let mut expect = Digest::default();
    expect.update(b"name=value");
    assert_eq!(body_text(&r), expect.text());
}

/// A body larger than `tune.bufsize`: the rules and the agent get its first `tune.bufsize`
/// bytes without waiting for the rest (the client sends the rest only once the backend has
/// received the beginning), and the backend still receives all of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_buffer_request_keeps_at_most_tune_bufsize_and_does_not_wait_for_more() {
    let (backend, seen) = upload_backend().await;
    let running = echo_agent().await;
    let agent = running.tcp_addr().unwrap();
    let conf = echo_conf();
    let (_gw, addr, _dir) = gateway(
        &buffering_config(
            backend,
            agent,
            "option http-buffer-request",
            "    tune.bufsize 1024",
        ),
        &[("spoe.conf", conf.as_str())],
    )
    .await;
    let body: Vec<u8> = (0..10_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut sock = TcpStream::connect(addr).await.unwrap();
    let first_seen = seen.first_bytes.notified();
    sock.write_all(
        format!(
            "POST /upload HTTP/1.1\r\nhost: t\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    sock.write_all(&body[..2000]).await.unwrap();
    within("the backend receiving the buffered beginning", first_seen).await;
    sock.write_all(&body[2000..]).await.unwrap();
    let mut buf = Vec::new();
    let r = within("the response", read_response(&mut sock, &mut buf)).await;
    let h = |k: &str| r.headers.get(k).map(String::as_str);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(h("x-rule-len"), Some("1024"), "{r:?}");
    assert_eq!(h("x-rule-size"), Some("10000"), "{r:?}");
    assert_eq!(h("x-agent-len"), Some("1024"), "{r:?}");
    assert_eq!(
        h("x-agent-body").map(str::as_bytes),
        Some(&body[..1024]),
        "{r:?}"
    );
    let mut expect = Digest::default();
    expect.update(&body);
    assert_eq!(body_text(&r), expect.text());
}

/// `timeout http-request` bounds the wait for a buffered body: 408, nothing forwarded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buffered_body_that_stalls_gets_408_at_timeout_http_request() {
    let (backend, seen) = upload_backend().await;
    let cfg = config(
        backend,
        "    option http-buffer-request\n    timeout http-request 300ms",
        "",
    );
    let (_gw, addr, _dir) = gateway(&cfg, &[]).await;
    let mut sock = TcpStream::connect(addr).await.unwrap();
    sock.write_all(b"POST /upload HTTP/1.1\r\nhost: t\r\ncontent-length: 100\r\n\r\nonly this")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let r = within("the 408", read_head(&mut sock, &mut buf)).await;
    assert_eq!(r.status, 408, "{r:?}");
    assert!(
        seen.headers.lock().unwrap().is_empty(),
        "a request reached the backend"
    );
}

// ===== keep-alive connections handed back between requests =====

/// Requests on one connection, sent one by one and pipelined in one write, are all answered
/// in order on that connection (between them it holds only the socket and any bytes read
/// past the last request).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_and_pipelined_requests_are_answered_in_order() {
    let (backend, _) = upload_backend().await;
    let (_gw, addr, _dir) = gateway(&config(backend, "", ""), &[]).await;
    let mut sock = TcpStream::connect(addr).await.unwrap();
    let mut buf = Vec::new();
    for i in 0..3 {
        let body = format!("request {i}");
        sock.write_all(
            format!(
                "POST /{i} HTTP/1.1\r\nhost: t\r\nx-n: {i}\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        let r = within("a keep-alive response", read_response(&mut sock, &mut buf)).await;
        assert_eq!(
            (r.status, r.headers.get("x-n")),
            (200, Some(&i.to_string()))
        );
    }
    let mut pipelined = Vec::new();
    for i in 3..6 {
        pipelined.extend_from_slice(
            format!("POST /{i} HTTP/1.1\r\nhost: t\r\nx-n: {i}\r\ncontent-length: 2\r\n\r\nab")
                .as_bytes(),
        );
    }
    sock.write_all(&pipelined).await.unwrap();
    let mut ab = Digest::default();
    ab.update(b"ab");
    for i in 3..6 {
        let r = within("a pipelined response", read_response(&mut sock, &mut buf)).await;
        assert_eq!(
            (r.status, r.headers.get("x-n"), body_text(&r)),
            (200, Some(&i.to_string()), ab.text())
        );
        assert_eq!(r.headers.get("connection"), None, "{r:?}");
    }
}

/// `Connection: close` and HTTP/1.0 without keep-alive end the connection after the response.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_asking_to_close_is_closed_after_its_response() {
    let (backend, _) = upload_backend().await;
    let (_gw, addr, _dir) = gateway(&config(backend, "", ""), &[]).await;
    for request in [
        &b"GET / HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"[..],
        &b"GET / HTTP/1.0\r\n\r\n"[..],
    ] {
        let mut sock = TcpStream::connect(addr).await.unwrap();
        sock.write_all(request).await.unwrap();
        let mut rest = Vec::new();
        within("the close", sock.read_to_end(&mut rest))
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&rest);
        assert!(text.starts_with("HTTP/1."), "{text}");
        assert!(text.contains(" 200 "), "{text}");
    }
}

/// A client that stops sending its (streamed) body for `timeout client` gets a 408, and the
/// request does not reach the backend whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_body_that_stalls_gets_408_at_timeout_client() {
    let (backend, _) = upload_backend().await;
    let cfg = config(backend, "    timeout client 300ms", "");
    let (_gw, addr, _dir) = gateway(&cfg, &[]).await;
    let mut sock = TcpStream::connect(addr).await.unwrap();
    sock.write_all(b"POST /upload HTTP/1.1\r\nhost: t\r\ncontent-length: 100\r\n\r\nonly this")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let r = within("the 408", read_head(&mut sock, &mut buf)).await;
    assert_eq!(r.status, 408, "{r:?}");
}
