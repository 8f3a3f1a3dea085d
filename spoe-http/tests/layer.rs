//! `SpoeLayer` around a tower service, with agents in the same process (the `spoa` runtime
//! behind an in-memory connector): verdicts, deadlines on tokio's paused clock, failure modes,
//! body policies, response messages, groups, sessions, reloads and configuration errors.

#![allow(
    clippy::disallowed_methods,
    reason = "the in-memory agents' connections are tasks that end with the test"
)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use spoa::{Config, Server};
use spoe::connector::{BoxIo, ConnectFuture};
use spoe::{Addr, Connector};
use spoe_http::{
    BodyPolicy, ConnectionFacts, LayerError, SpoeBody, SpoeGroups, SpoeLayer, SpoeVars,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::{Layer, Service, ServiceExt};

/// Connects to `spoa`'s echo agent (every argument comes back as `txn.<prefix>.<name>`)
/// through an in-memory pipe; `gated` answers each NOTIFY once the test opens its gate;
/// `silent` holds the pipe and never answers; `refuse` fails.
#[derive(Clone)]
enum Agent {
    Echo(Arc<Server<spoa::testing::Echo>>),
    Gated(Arc<Server<Gate>>),
    Silent(Arc<std::sync::Mutex<Vec<tokio::io::DuplexStream>>>),
    Refuse,
}

impl Agent {
    fn echo() -> Arc<dyn Connector> {
        Arc::new(Self::Echo(Arc::new(
            Server::new(spoa::testing::Echo, Config::default()).expect("agent"),
        )))
    }
}

impl Connector for Agent {
    fn connect(&self, _: &Addr) -> ConnectFuture {
        let agent = self.clone();
        Box::pin(async move {
            let (ours, theirs) = tokio::io::duplex(64 * 1024);
            match agent {
                Self::Echo(server) => {
                    drop(tokio::spawn(async move {
                        server
                            .serve_connection(theirs, None, CancellationToken::new())
                            .await
                    }));
                }
                Self::Gated(server) => {
                    drop(tokio::spawn(async move {
                        server
                            .serve_connection(theirs, None, CancellationToken::new())
                            .await
                    }));
                }
                Self::Silent(held) => held.lock().expect("held").push(theirs),
                Self::Refuse => {
                    return Err(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
                }
            }
            Ok(Box::new(ours) as BoxIo)
        })
    }
}

/// An agent handler that says when a NOTIFY arrived and answers `txn.<prefix>.answered`
/// once a permit is released.
#[derive(Clone)]
struct Gate {
    entered: Arc<tokio::sync::Notify>,
    release: Arc<tokio::sync::Semaphore>,
}

impl spoa::Handler for Gate {
    async fn handle(&self, _: spoa::Request) -> Result<spoa::Actions, spoa::HandlerError> {
        self.entered.notify_one();
        self.release.acquire().await.expect("gate").forget();
        let mut actions = spoa::Actions::new();
        actions.set_var(spoa::VarScope::Transaction, "answered", true);
        Ok(actions)
    }
}

impl Gate {
    fn new() -> Self {
        Self {
            entered: Arc::new(tokio::sync::Notify::new()),
            release: Arc::new(tokio::sync::Semaphore::new(0)),
        }
    }

    fn connector(&self) -> Arc<dyn Connector> {
        Arc::new(Agent::Gated(Arc::new(
            Server::new(self.clone(), Config::default()).expect("agent"),
        )))
    }
}

fn conf(messages: &str, processing: &str) -> String {
    format!(
        "\
[t]
spoe-agent t-agent
    messages {names}
    groups grp
    option var-prefix t
    option set-on-error error
    option force-set-var
    timeout hello 2s
    timeout idle 30s
    timeout processing {processing}
    use-backend agents
{messages}
spoe-message in-group
    args g=str(sent) p=path
spoe-group grp
    messages in-group
",
        names = messages
            .lines()
            .filter_map(|l| l.strip_prefix("spoe-message "))
            .collect::<Vec<_>>()
            .join(" ")
    )
}

const UA: &str = "\
spoe-message check-ua
    args ua=req.hdr(user-agent) bot=req.hdr(user-agent),lower,word(1,/),length
    event on-frontend-http-request
";

type AppService =
    tower::util::BoxCloneService<Request<SpoeBody<Full<Bytes>>>, Response<Full<Bytes>>, Infallible>;

/// The handler: answers 200 with `x-ua` from the variables, counts its calls.
#[derive(Clone, Default)]
struct App {
    calls: Arc<AtomicUsize>,
}

impl App {
    fn service(&self) -> AppService {
        let calls = self.calls.clone();
        tower::service_fn(move |req: Request<SpoeBody<Full<Bytes>>>| {
            let calls = calls.clone();
            async move {
                calls.fetch_add(1, Ordering::Relaxed);
                let vars = req.extensions().get::<SpoeVars>().cloned();
                let body = req.into_body().collect().await.expect("body").to_bytes();
                let mut r = Response::new(Full::new(body));
                if let Some(v) = vars {
                    if let Some(ua) = v.get::<String>("txn.t.ua") {
                        r.headers_mut().insert("x-ua", ua.parse().expect("header"));
                    }
                    if let Some(f) = v.failure() {
                        r.headers_mut().insert("x-failure", f.0.into());
                    }
                }
                Ok::<_, Infallible>(r)
            }
        })
        .boxed_clone()
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }
}

fn get(ua: &str) -> Request<Full<Bytes>> {
    Request::get("/p?q=1")
        .header("user-agent", ua)
        .body(Full::new(Bytes::new()))
        .expect("request")
}

async fn call<S>(svc: &mut S, req: Request<Full<Bytes>>) -> (StatusCode, http::HeaderMap, Bytes)
where
    S: Service<Request<Full<Bytes>>, Response = Response<spoe_http::SpoeResponseBody<Full<Bytes>>>>,
    S::Error: std::fmt::Debug,
{
    let r = svc
        .ready()
        .await
        .expect("ready")
        .call(req)
        .await
        .expect("response");
    let (parts, body) = r.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    (parts.status, parts.headers, body)
}

fn builder(conf: &str, agent: Arc<dyn Connector>) -> spoe_http::SpoeLayerBuilder {
    SpoeLayer::builder()
        .config_str(conf, "spoe.conf", Some("t"))
        .agent("127.0.0.1:1".parse().expect("address"))
        .connector(agent)
}

#[tokio::test]
async fn the_verdict_is_applied_and_handlers_see_the_variables() {
    let layer = builder(&conf(UA, "2s"), Agent::echo())
        .fail_closed(StatusCode::SERVICE_UNAVAILABLE)
        .decide(|v| {
            let ua = v.vars.get::<String>("txn.t.ua")?;
            ua.to_ascii_lowercase().contains("bot").then(|| {
                let mut r = Response::new(Bytes::from_static(b"no bots\n"));
                *r.status_mut() = StatusCode::FORBIDDEN;
                r
            })
        })
        .build()
        .expect("layer");
    let app = App::default();
    let mut svc = layer.layer(app.service());
    let (status, _, body) = call(&mut svc, get("Googlebot/2.1")).await;
    assert_eq!(
        (status, &body[..]),
        (StatusCode::FORBIDDEN, &b"no bots\n"[..])
    );
    assert_eq!(app.calls(), 0, "a denied request never reaches the handler");
    let (status, headers, _) = call(&mut svc, get("curl/8")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers.get("x-ua").map(|v| v.as_bytes()),
        Some(&b"curl/8"[..])
    );
    let metrics = layer.metrics_text();
    assert!(
        metrics.contains("spoe_layer_requests_total{verdict=\"denied\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("spoe_layer_requests_total{verdict=\"passed\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("spoe_spoe_events_total{agent=\"t-agent\",status=\"0\"} 2"),
        "{metrics}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_silent_agent_costs_exactly_the_deadline_and_sets_the_error_variable() {
    let held = Arc::new(std::sync::Mutex::new(Vec::new()));
    let layer = builder(&conf(UA, "250ms"), Arc::new(Agent::Silent(held.clone())))
        .fail_open()
        .build()
        .expect("layer");
    let app = App::default();
    let mut svc = layer.layer(app.service());
    let started = Instant::now();
    let (status, headers, _) = call(&mut svc, get("curl/8")).await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::OK, "fail open: the handler ran");
    assert_eq!(
        headers.get("x-failure").map(|v| v.as_bytes()),
        Some(&b"1"[..]),
        "status 1: timeout"
    );
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_millis(260),
        "the message ran out its 250 ms deadline, no more: {took:?}"
    );
    assert_eq!(
        held.lock().expect("held").len(),
        1,
        "the agent was connected to"
    );
    let metrics = layer.metrics_text();
    assert!(metrics.contains("verdict=\"failed_open\"} 1"), "{metrics}");
}

#[tokio::test]
async fn fail_closed_answers_without_the_handler_and_the_error_variable_is_set() {
    let layer = builder(&conf(UA, "1s"), Arc::new(Agent::Refuse))
        .fail_closed(StatusCode::SERVICE_UNAVAILABLE)
        .build()
        .expect("layer");
    let app = App::default();
    let mut svc = layer.layer(app.service());
    let (status, _, _) = call(&mut svc, get("curl/8")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(app.calls(), 0);
    assert!(
        layer
            .metrics_text()
            .contains("verdict=\"failed_closed\"} 1")
    );

    // Open, with a hook reading the error variable as `http-request deny if { var(txn.t.error) -m found }`.
    let layer = builder(&conf(UA, "1s"), Arc::new(Agent::Refuse))
        .fail_open()
        .decide(|v| {
            let error = v.vars.get::<i64>("txn.t.error")?;
            assert_eq!(Some(error), v.failure.map(|s| i64::from(s.0)));
            Some(Response::new(Bytes::from(format!("error {error}"))))
        })
        .build()
        .expect("layer");
    let mut svc = layer.layer(app.service());
    let (_, _, body) = call(&mut svc, get("curl/8")).await;
    // 1, as HAProxy 2.6 records a message to an agent it cannot reach (docs/errors.md).
    assert_eq!(&body[..], b"error 1");
}

const BODY: &str = "\
spoe-message body
    args body=req.body len=req.body_len size=req.body_size
    event on-frontend-http-request
";

fn post(body: &'static [u8]) -> Request<Full<Bytes>> {
    Request::post("/upload")
        .header("content-length", body.len())
        .body(Full::new(Bytes::from_static(body)))
        .expect("request")
}

#[tokio::test]
async fn bodies_follow_the_policy_and_are_never_cut() {
    let app = App::default();
    let echo_vars = |svc_vars: &spoe_http::Vars| {
        (
            svc_vars.get::<Bytes>("txn.t.body"),
            svc_vars.get::<i64>("txn.t.len"),
            svc_vars.get::<i64>("txn.t.size"),
        )
    };
    // Partial: the agent sees 8 of 11 bytes and can tell; the handler gets all 11.
    let seen = Arc::new(std::sync::Mutex::new(None));
    let record = seen.clone();
    let layer = builder(&conf(BODY, "2s"), Agent::echo())
        .fail_open()
        .body(BodyPolicy::partial(8))
        .decide(move |v| {
            *record.lock().expect("seen") = Some(echo_vars(v.vars));
            None
        })
        .build()
        .expect("layer");
    let mut svc = layer.layer(app.service());
    let (status, _, body) = call(&mut svc, post(b"hello world")).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"hello world"[..]));
    assert_eq!(
        seen.lock().expect("seen").clone(),
        Some((Some(Bytes::from_static(b"hello wo")), Some(8), Some(11)))
    );
    // Refused: 413, the handler never runs.
    let layer = builder(&conf(BODY, "2s"), Agent::echo())
        .fail_open()
        .body(BodyPolicy::refuse_larger(8))
        .build()
        .expect("layer");
    let calls = app.calls();
    let mut svc = layer.layer(app.service());
    let (status, _, _) = call(&mut svc, post(b"hello world")).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.calls(), calls);
    let (status, _, body) = call(&mut svc, post(b"tiny")).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"tiny"[..]));
    // Not sent: an empty body for the agent, the whole one for the handler.
    let seen = Arc::new(std::sync::Mutex::new(None));
    let record = seen.clone();
    let layer = builder(&conf(BODY, "2s"), Agent::echo())
        .fail_open()
        .body(BodyPolicy::NotSent)
        .decide(move |v| {
            *record.lock().expect("seen") = Some(echo_vars(v.vars));
            None
        })
        .build()
        .expect("layer");
    let mut svc = layer.layer(app.service());
    let (_, _, body) = call(&mut svc, post(b"hello world")).await;
    assert_eq!(&body[..], b"hello world");
    assert_eq!(
        seen.lock().expect("seen").clone(),
        Some((Some(Bytes::new()), Some(0), Some(11)))
    );
}

const RESPONSE: &str = "\
spoe-message res
    args st=status ct=res.hdr(content-type) m=method
    event on-http-response
";

#[tokio::test]
async fn response_messages_run_after_the_handler_and_a_response_hook_can_replace_it() {
    let layer = builder(&conf(RESPONSE, "2s"), Agent::echo())
        .fail_open()
        .decide_response(|v| {
            let status = v.vars.get::<i64>("txn.t.st")?;
            let method = v.vars.get::<String>("txn.t.m")?;
            assert_eq!(v.response.map(|r| r.status.as_u16()), Some(200));
            Some(Response::new(Bytes::from(format!("{method} got {status}"))))
        })
        .build()
        .expect("layer");
    let mut svc = layer.layer(App::default().service());
    let (_, _, body) = call(&mut svc, get("curl/8")).await;
    assert_eq!(&body[..], b"GET got 200");
}

#[tokio::test]
async fn handlers_send_groups() {
    let layer = builder(&conf(UA, "2s"), Agent::echo())
        .fail_open()
        .build()
        .expect("layer");
    let svc = tower::service_fn(|req: Request<SpoeBody<Full<Bytes>>>| async move {
        let vars = req
            .extensions()
            .get::<SpoeVars>()
            .expect("SpoeVars")
            .clone();
        let groups = SpoeGroups::from(&vars);
        let unknown = groups.send("nope").await.expect_err("no such group");
        assert_eq!(
            unknown.to_string(),
            "spoe.conf's agent 't-agent' has no spoe-group 'nope'"
        );
        let status = groups.send("grp").await.expect("known group");
        assert_eq!(status.map(|s| s.0), Some(0));
        let text = format!(
            "{:?} {:?}",
            vars.get::<String>("txn.t.g"),
            vars.get::<String>("txn.t.p")
        );
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(text))))
    });
    let mut svc = layer.layer(svc);
    let (_, _, body) = call(&mut svc, get("curl/8")).await;
    assert_eq!(&body[..], br#"Some("sent") Some("/p")"#);
}

const SESSION: &str = "\
spoe-message hello
    args ip=src
    event on-client-session
spoe-message req
    args n=str(x)
    event on-frontend-http-request
";

#[tokio::test]
async fn on_client_session_runs_once_per_connection() {
    let layer = builder(&conf(SESSION, "2s"), Agent::echo())
        .fail_open()
        .build()
        .expect("layer");
    let mut svc = layer.layer(App::default().service());
    let conn = ConnectionFacts::tcp(
        "192.0.2.1:40000".parse().expect("addr"),
        "127.0.0.1:80".parse().expect("addr"),
    );
    for _ in 0..3 {
        let mut req = get("curl/8");
        req.extensions_mut().insert(conn.clone());
        call(&mut svc, req).await;
    }
    let metrics = layer.metrics_text();
    // One on-client-session and three requests' events.
    assert!(
        metrics.contains("spoe_spoe_events_total{agent=\"t-agent\",status=\"0\"} 4"),
        "{metrics}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_reload_leaves_requests_in_flight_on_their_generation() {
    // The first generation's agent is silent for 1 s; the second's answers at once.
    let held = Arc::new(std::sync::Mutex::new(Vec::new()));
    let slow = Arc::new(Agent::Silent(held.clone()));
    let layer = builder(&conf(UA, "1s"), slow)
        .fail_open()
        .build()
        .expect("layer");
    assert_eq!(layer.generation(), 0);
    let app = App::default();
    let svc = layer.layer(app.service());
    let in_flight = tokio::spawn(svc.clone().oneshot(get("curl/8")));
    // Let it reach the agent.
    while held.lock().expect("held").is_empty() {
        tokio::task::yield_now().await;
    }
    let renamed = conf(UA, "1s").replace("option var-prefix t", "option var-prefix u");
    assert_eq!(
        layer
            .reload_str(&renamed, "spoe.conf", Some("t"))
            .expect("reload"),
        1
    );
    let first = in_flight.await.expect("task").expect("response");
    assert_eq!(
        first.headers().get("x-failure").map(|v| v.as_bytes()),
        Some(&b"1"[..]),
        "the old generation's deadline applied"
    );
    // A bad configuration is refused and the running one stays.
    let err = layer
        .reload_str("spoe-agent x\n", "spoe.conf", Some("t"))
        .expect_err("invalid");
    assert!(err.to_string().contains("parsing [spoe.conf"), "{err}");
    assert_eq!(layer.generation(), 1);
    assert!(
        layer
            .metrics_text()
            .contains("spoe_reload_failures_total 1")
    );
}

#[tokio::test]
async fn drain_resolves_once_the_messages_in_flight_are_answered() {
    let gate = Gate::new();
    let layer = builder(&conf(UA, "30s"), gate.connector())
        .fail_open()
        .var_names(["txn.t.answered"])
        .build()
        .expect("layer");
    let app = App::default();
    let in_flight = tokio::spawn(layer.layer(app.service()).oneshot(get("curl/8")));
    gate.entered.notified().await;

    // A graceful stop: the server stopped taking requests, the layer drains.
    let mut drain = std::pin::pin!(layer.drain());
    for _ in 0..20 {
        assert!(
            futures_util::poll!(&mut drain).is_pending(),
            "drain waits while a message waits for its answer"
        );
        tokio::task::yield_now().await;
    }
    gate.release.add_permits(1);
    let answered = in_flight.await.expect("task").expect("response");
    assert_eq!(answered.status(), StatusCode::OK);
    assert_eq!(
        answered.headers().get("x-failure"),
        None,
        "the message in flight was answered, not cut by the drain"
    );
    tokio::time::timeout(Duration::from_secs(10), drain)
        .await
        .expect("drain resolves after the last answer");
}

#[tokio::test]
async fn an_agent_on_a_unix_socket() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let addr: Addr = format!("unix@{}", dir.path().join("agent.sock").display())
        .parse()
        .expect("a Unix address");
    let listener = spoa::Listener::bind(&addr).await.expect("bind");
    let stop = CancellationToken::new();
    let serving = tokio::spawn({
        let stop = stop.clone();
        async move {
            Server::new(spoa::testing::Echo, Config::default())
                .expect("agent")
                .serve(listener, stop)
                .await
        }
    });
    let layer = SpoeLayer::builder()
        .config_str(&conf(UA, "5s"), "spoe.conf", Some("t"))
        .agent(addr)
        .fail_open()
        .build()
        .expect("layer");
    let (status, headers, _) =
        call(&mut layer.layer(App::default().service()), get("curl/8")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers.get("x-failure"), None);
    assert_eq!(
        headers.get("x-ua").map(|v| v.as_bytes()),
        Some(&b"curl/8"[..]),
        "the echo came back over the Unix socket"
    );
    layer.drain().await;
    stop.cancel();
    serving.await.expect("task").expect("served");
}

#[tokio::test]
async fn what_a_layer_cannot_do_is_an_error_naming_it() {
    let err = |b: spoe_http::SpoeLayerBuilder| b.build().expect_err("refused").to_string();
    let tcp = "\
spoe-message raw
    args p=str(x)
    event on-tcp-response
";
    let e = err(builder(&conf(tcp, "1s"), Agent::echo()).fail_open());
    assert!(
        e.starts_with("parsing [spoe.conf:")
            && e.contains("spoe-message 'raw' runs on 'on-tcp-response'"),
        "{e}"
    );
    let e = err(builder(&conf(BODY, "1s"), Agent::echo()).fail_open());
    assert!(
        e.contains("spoe-message 'body' reads 'req.body': choose a body policy"),
        "{e}"
    );
    let e = err(builder(&conf(UA, "1s"), Agent::echo()));
    assert!(e.contains("needs a failure mode"), "{e}");
    assert!(matches!(
        SpoeLayer::builder().fail_open().build(),
        Err(LayerError::NoConfig)
    ));
    let e = err(SpoeLayer::builder()
        .config_str("spoe-agent a\n    messages nope\n", "spoe.conf", None)
        .agent("127.0.0.1:1".parse().expect("addr"))
        .fail_open());
    assert!(e.starts_with("parsing [spoe.conf:"), "{e}");
}
