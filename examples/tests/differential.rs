//! Differential test of `SpoeLayer` against HAProxy 2.6: the same `spoe.conf`, in the shape
//! the Coraza and CrowdSec projects document, runs unchanged in HAProxy and in a layer in
//! front of an axum handler; the same requests go to both; a recording agent behind each
//! keeps every message it receives. Both must send the same messages in the same order, with
//! the same arguments in the same order, of the same types, and of the same values but for
//! those that cannot agree (a unique id, the client's and the listener's ports).
//!
//! HAProxy's side is what its documentation asks for: `option http-buffer-request` (the layer:
//! a body policy buffering as much), a `unique-id-format`, the groups sent by
//! `http-request send-spoe-group ... if COND` (the handler: `SpoeGroups::send` under the same
//! condition). Its backend answers what the handler answers.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real processes and sockets on the wall clock"
)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::response::Response;
use spoa::{Actions, Config, Handler, HandlerError, Listener, Server, VarScope};
use spoe_http::{BodyPolicy, ConnectionFacts, SpoeGroups, SpoeLayer};
use spoe_interop::Haproxy;
use spop::TypedData;
use tokio_util::sync::CancellationToken;

/// One message as an agent received it: its name and its arguments, in order.
type Recorded = (String, Vec<(String, TypedData)>);

/// An agent that records every message, and answers `crowdsec-tcp` with
/// `txn.crowdsec.remediation = "allow"` as CrowdSec's bouncer does for a clean address.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Recorded>>>);

impl Recorder {
    fn take(&self) -> Vec<Recorded> {
        std::mem::take(&mut *self.0.lock().expect("records"))
    }
}

impl Handler for Recorder {
    async fn handle(&self, request: spoa::Request) -> Result<Actions, HandlerError> {
        let mut actions = Actions::new();
        let mut log = self.0.lock().expect("records");
        for m in &request.messages {
            let args = m
                .args
                .iter()
                .map(|kv| {
                    (
                        String::from_utf8_lossy(&kv.name).into_owned(),
                        kv.value.clone(),
                    )
                })
                .collect();
            let name = String::from_utf8_lossy(&m.name).into_owned();
            if name == "crowdsec-tcp" {
                actions.set_var(VarScope::Transaction, "remediation", "allow");
            }
            log.push((name, args));
        }
        Ok(actions)
    }
}

/// A recording agent on a loopback port, stopped on drop.
struct RecordingAgent {
    addr: SocketAddr,
    recorder: Recorder,
    stop: CancellationToken,
}

impl RecordingAgent {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind agent");
        let addr = listener.local_addr().expect("agent address");
        let recorder = Recorder::default();
        let server = Server::new(recorder.clone(), Config::default()).expect("agent server");
        let stop = CancellationToken::new();
        let token = stop.clone();
        // Ends when the token is cancelled (drop).
        drop(tokio::spawn(async move {
            server.serve(Listener::Tcp(listener), token).await
        }));
        Self {
            addr,
            recorder,
            stop,
        }
    }
}

impl Drop for RecordingAgent {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The response both HAProxy's backend and the layer's handler give.
const APP_RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nx-app: 1\r\ncontent-length: 0\r\n\r\n";

/// HAProxy's backend: answers [`APP_RESPONSE`] to every request, one per connection.
fn app_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind app");
    let addr = listener.local_addr().expect("app address");
    // Lives until the test process ends; each connection is short.
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { break };
            thread::spawn(move || {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Read the head (and whatever body came with it), then answer.
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = conn.write_all(APP_RESPONSE);
            });
        }
    });
    addr
}

/// The layer's handler: the same response.
fn app_response() -> Response {
    Response::builder()
        .header("content-type", "text/plain")
        .header("x-app", "1")
        .header("content-length", "0")
        .body(axum::body::Body::empty())
        .expect("response")
}

/// Sends `raw` (a whole request with `Connection: close`) and returns the status.
fn send(addr: SocketAddr, raw: &[u8]) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(raw).expect("send request");
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).expect("read response");
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"))
}

/// Arguments whose values differ by nature between two proxies: the unique id, and the
/// client's and the listener's ports.
const VOLATILE: [&str; 3] = ["id", "src-port", "dst-port"];

fn kind(d: &TypedData) -> std::mem::Discriminant<TypedData> {
    std::mem::discriminant(d)
}

/// The requests: a GET with a query and a cookie, a POST with a body, a bare GET.
fn corpus() -> Vec<Vec<u8>> {
    let common =
        "Host: example.test\r\nUser-Agent: differential/1\r\nAccept: */*\r\nConnection: close\r\n";
    vec![
        format!(
            "GET /shop/item?id=7&tag=a HTTP/1.1\r\n{common}Cookie: crowdsec_captcha_cookie=abc; theme=dark\r\n\r\n"
        )
        .into_bytes(),
        format!(
            "POST /body/form?x=1 HTTP/1.1\r\n{common}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 11\r\n\r\nname=value1"
        )
        .into_bytes(),
        format!("GET / HTTP/1.1\r\n{common}\r\n").into_bytes(),
    ]
}

/// Runs the corpus through both and compares what each agent received.
async fn compare(
    haproxy_port: u16,
    haproxy_agent: &RecordingAgent,
    layer: SocketAddr,
    layer_agent: &RecordingAgent,
) {
    let haproxy = SocketAddr::from(([127, 0, 0, 1], haproxy_port));
    for raw in corpus() {
        let line =
            String::from_utf8_lossy(&raw[..raw.iter().position(|&c| c == b'\r').unwrap_or(0)])
                .into_owned();
        let (h, l) = {
            let raw2 = raw.clone();
            let h = tokio::task::spawn_blocking(move || send(haproxy, &raw2))
                .await
                .expect("client");
            let l = tokio::task::spawn_blocking(move || send(layer, &raw))
                .await
                .expect("client");
            (h, l)
        };
        assert_eq!(h, 200, "{line}: HAProxy answered {h}");
        assert_eq!(l, 200, "{line}: the layer answered {l}");
        let from_haproxy = haproxy_agent.recorder.take();
        let from_layer = layer_agent.recorder.take();
        assert!(!from_haproxy.is_empty(), "{line}: HAProxy sent nothing");
        let names = |r: &[Recorded]| r.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(&from_layer),
            names(&from_haproxy),
            "{line}: messages and their order"
        );
        for ((name, h_args), (_, l_args)) in from_haproxy.iter().zip(&from_layer) {
            let arg_names =
                |a: &[(String, TypedData)]| a.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
            assert_eq!(
                arg_names(l_args),
                arg_names(h_args),
                "{line}: {name}'s arguments and their order"
            );
            for ((arg, hv), (_, lv)) in h_args.iter().zip(l_args) {
                assert_eq!(
                    kind(lv),
                    kind(hv),
                    "{line}: {name} {arg}: type (HAProxy {hv:?}, layer {lv:?})"
                );
                if !VOLATILE.contains(&arg.as_str()) {
                    assert_eq!(lv, hv, "{line}: {name} {arg}: value");
                }
            }
        }
    }
}

/// A layer on `spoe_conf` in front of `app` on a loopback port (ConnectionFacts per
/// connection, as the examples do).
async fn serve_layer(layer: SpoeLayer, app: Router) -> SocketAddr {
    let app = app.layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind layer");
    let addr = listener.local_addr().expect("layer address");
    // Ends with the test's runtime.
    drop(tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<ConnectionFacts>(),
        )
        .await
    }));
    addr
}

/// HAProxy 2.6 with `spoe_conf` as `ENGINE.conf` for engine `engine`, as its project documents
/// it (`option http-buffer-request`, a `unique-id-format`, `rules`), the agents' backend
/// `backend` at `agent`, and an app backend answering [`APP_RESPONSE`]. Returns it and its port.
async fn haproxy(
    engine: &'static str,
    spoe_conf: &'static str,
    backend: &'static str,
    rules: &'static str,
    agent: SocketAddr,
) -> (Haproxy, u16) {
    let app = app_backend();
    tokio::task::spawn_blocking(move || {
        let file = format!("{engine}.conf");
        Haproxy::start_on_port(
            |port| {
                format!(
                    "\
global
    log stderr format short local0 warning
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:{port}
    option http-buffer-request
    unique-id-format %{{+X}}o\\ %ci:%cp_%fi:%fp_%Ts_%rt:%pid
    filter spoe engine {engine} config {file}
{rules}    default_backend app
backend app
    server app {app}
backend {backend}
    mode tcp
    server a {agent}
"
                )
            },
            &[(file.as_str(), spoe_conf)],
        )
    })
    .await
    .expect("start HAProxy")
}

/// The same `spoe.conf` in a layer (bodies buffered as HAProxy's buffer holds them, a unique
/// id of its own), with the agent at `agent`.
fn layer(spoe_conf: &str, engine: &str, agent: SocketAddr) -> SpoeLayer {
    SpoeLayer::builder()
        .config_str(spoe_conf, format!("{engine}.conf"), Some(engine))
        .agent(spoe::Addr::Tcp(agent))
        .fail_closed(http::StatusCode::SERVICE_UNAVAILABLE)
        .body(BodyPolicy::partial(16 * 1024))
        .unique_id(|_| Some("layer-request".to_owned()))
        .build()
        .unwrap_or_else(|e| panic!("the layer takes {engine}'s spoe.conf unchanged: {e}"))
}

const CORAZA_CONF: &str = "\
# Coraza WAF (coraza-spoa's README, HAProxy 2.x): requests and responses are both inspected.
[coraza]
spoe-agent coraza-agent
    messages        coraza-req coraza-res
    option          var-prefix      coraza
    option          set-on-error    error
    timeout         hello           2s
    timeout         idle            2m
    timeout         processing      2s
    use-backend     coraza-spoa
    log             global

spoe-message coraza-req
    args app=str(sample_app) id=unique-id src-ip=src src-port=src_port dst-ip=dst dst-port=dst_port method=method path=path query=query version=req.ver headers=req.hdrs body=req.body
    event on-frontend-http-request

spoe-message coraza-res
    args app=str(sample_app) id=unique-id version=res.ver status=status headers=res.hdrs body=res.body
    event on-http-response
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coraza_spoe_conf_sends_what_haproxy_sends() {
    let (h_agent, l_agent) = (RecordingAgent::start().await, RecordingAgent::start().await);
    let (_haproxy, port) = haproxy("coraza", CORAZA_CONF, "coraza-spoa", "", h_agent.addr).await;
    let layer = layer(CORAZA_CONF, "coraza", l_agent.addr);
    let app = Router::new().fallback(|| async { app_response() });
    let layer_addr = serve_layer(layer, app).await;
    compare(port, &h_agent, layer_addr, &l_agent).await;
}

const CROWDSEC_CONF: &str = "\
# CrowdSec bouncer (cs-haproxy-spoa-bouncer): an IP check on every new connection, and HTTP
# groups sent with `http-request send-spoe-group`.
[crowdsec]
spoe-agent crowdsec-agent
    messages    crowdsec-tcp
    groups      crowdsec-http-body crowdsec-http-no-body

    option      var-prefix      crowdsec
    option      set-on-error    error
    timeout     hello           2s
    timeout     idle            55s
    timeout     processing      2s
    use-backend crowdsec-spoa
    log         global

spoe-message crowdsec-tcp
    args id=unique-id src-ip=src src-port=src_port
    event on-client-session

spoe-message crowdsec-http-body
    args remediation=var(txn.crowdsec.remediation) id=unique-id method=method path=path query=query version=req.ver headers=req.hdrs body=req.body url=url ssl=ssl_fc src-ip=src src-port=src_port

spoe-message crowdsec-http-no-body
    args remediation=var(txn.crowdsec.remediation) crowdsec_captcha_cookie=req.cook(crowdsec_captcha_cookie) id=unique-id host=hdr(Host) method=method path=path query=query version=req.ver headers=req.hdrs url=url ssl=ssl_fc src-ip=src src-port=src_port

spoe-group crowdsec-http-body
    messages    crowdsec-http-body

spoe-group crowdsec-http-no-body
    messages    crowdsec-http-no-body
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crowdsec_spoe_conf_sends_what_haproxy_sends() {
    let (h_agent, l_agent) = (RecordingAgent::start().await, RecordingAgent::start().await);
    let rules = "\
    http-request send-spoe-group crowdsec crowdsec-http-body if { path_beg /body }
    http-request send-spoe-group crowdsec crowdsec-http-no-body unless { path_beg /body }
";
    let (_haproxy, port) = haproxy(
        "crowdsec",
        CROWDSEC_CONF,
        "crowdsec-spoa",
        rules,
        h_agent.addr,
    )
    .await;
    let layer = layer(CROWDSEC_CONF, "crowdsec", l_agent.addr);
    // The handler sends the group haproxy.cfg's send-spoe-group would.
    let app = Router::new().fallback(|groups: SpoeGroups, req: Request| async move {
        let group = if req.uri().path().starts_with("/body") {
            "crowdsec-http-body"
        } else {
            "crowdsec-http-no-body"
        };
        groups.send(group).await.expect("a known group");
        app_response()
    });
    let layer_addr = serve_layer(layer, app).await;
    compare(port, &h_agent, layer_addr, &l_agent).await;
}
