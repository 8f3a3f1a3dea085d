//! The SPOE filter end to end: spoe.conf, conditions and arguments evaluated
//! against a host, our agent over TCP, variables and the SPOE log line.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock, and spawn helpers that end with the test"
)]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use spoa::testing::RunningAgent;
use spoa::{Config, Server};
use spoe::config::{Event, SpoeConfig};
use spoe::expr::{Fetch, FetchKind, Sample};
use spoe::{Addr, AgentBackend, ProcessStatus, SpoeFilter, StreamState, VarUpdate};
use spop::TypedData;

const SPOE_CONF: &str = "\
[demo]
spoe-agent demo-agent
    messages check-request
    option var-prefix demo
    option set-on-error error
    option set-process-time ptime
    option force-set-var
    timeout hello 2s
    timeout idle 30s
    timeout processing 500ms
    use-backend agents

spoe-message check-request
    args ip=src path=path method=method uid=req.hdr(x-id) lower=req.hdr(x-id),lower
    event on-frontend-http-request if { path_beg /api }
";

struct Host {
    src: IpAddr,
    path: String,
    headers: HashMap<String, String>,
}

impl Fetch for Host {
    fn fetch(&self, kind: &FetchKind) -> Option<Sample> {
        match kind {
            FetchKind::Src => Some(match self.src {
                IpAddr::V4(a) => Sample::Ipv4(a),
                IpAddr::V6(a) => Sample::Ipv6(a),
            }),
            FetchKind::Path => Some(Sample::str(self.path.clone())),
            FetchKind::Method => Some(Sample::str("GET")),
            FetchKind::ReqHdr { name: Some(n), .. } => self
                .headers
                .get(&n.to_ascii_lowercase())
                .map(|v| Sample::str(v.clone())),
            _ => None,
        }
    }
}

fn host(path: &str, id: &str) -> Host {
    Host {
        src: "192.0.2.7".parse().unwrap(),
        path: path.into(),
        headers: HashMap::from([("x-id".to_owned(), id.to_owned())]),
    }
}

fn filter(addr: SocketAddr) -> SpoeFilter {
    let (config, warnings) = SpoeConfig::parse_str(SPOE_CONF, "spoe.conf", Some("demo")).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    SpoeFilter::start(
        config,
        &AgentBackend {
            servers: vec![Addr::Tcp(addr)],
            timeout_connect: Duration::from_secs(1),
            max_connections_per_server: 4,
            health_check: None,
        },
    )
}

fn set(updates: &[VarUpdate], name: &str) -> Option<TypedData> {
    updates.iter().find_map(|u| match u {
        VarUpdate::Set { name: n, value } if &**n == name => Some(value.clone()),
        _ => None,
    })
}

#[tokio::test]
async fn event_messages_are_evaluated_sent_and_turned_into_variables() {
    let server = Server::new(spoa::testing::Echo, Config::default()).unwrap();
    let agent = RunningAgent::start(&server).await.unwrap();
    let f = filter(agent.tcp_addr().unwrap());

    // The condition holds: the message goes out with its evaluated args.
    let h = host("/api/items", "AbC");
    let prepared = f
        .prepare_event(Event::OnFrontendHttpRequest, &h, &StreamState::default())
        .expect("message sent");
    let mut stream = StreamState {
        sid: 42,
        ..Default::default()
    };
    let done = f.process(prepared, &mut stream).await;
    assert_eq!(done.outcome.status, ProcessStatus::OK);
    let u = &done.updates;
    assert_eq!(
        set(u, "txn.demo.ip"),
        Some(TypedData::Ipv4("192.0.2.7".parse().unwrap()))
    );
    assert_eq!(
        set(u, "txn.demo.path"),
        Some(TypedData::string("/api/items"))
    );
    assert_eq!(set(u, "txn.demo.method"), Some(TypedData::string("GET")));
    assert_eq!(set(u, "txn.demo.uid"), Some(TypedData::string("AbC")));
    assert_eq!(set(u, "txn.demo.lower"), Some(TypedData::string("abc")));
    assert!(matches!(
        set(u, "txn.demo.ptime"),
        Some(TypedData::Int64(_))
    ));
    assert_eq!(
        set(u, "txn.demo.error"),
        None,
        "no error variable on success"
    );
    assert!(
        done.log_line()
            .starts_with("SPOE: [demo-agent] <EVENT:on-frontend-http-request> sid=42 st=0 "),
        "{}",
        done.log_line()
    );

    // The condition fails: nothing to send.
    assert!(
        f.prepare_event(Event::OnFrontendHttpRequest, &host("/static", "x"), &stream)
            .is_none()
    );
    // Another event: nothing bound to it.
    assert!(
        f.prepare_event(Event::OnHttpResponse, &h, &stream)
            .is_none()
    );

    // The agent goes away: the error variable says what HAProxy's would: 256
    // or 257 if the message went on a connection the agent closed, 1 if no
    // connection could be made (docs/errors.md).
    // The event: the agent runtime has stopped (its listener is closed, its connections gone).
    agent
        .stop()
        .await
        .expect("the agent stops within the kit's bound");
    let prepared = f
        .prepare_event(Event::OnFrontendHttpRequest, &h, &stream)
        .unwrap();
    let done = f.process(prepared, &mut stream).await;
    assert!(
        matches!(done.outcome.status, ProcessStatus(1 | 256..=257)),
        "{:?}",
        done.outcome.status
    );
    assert_eq!(
        set(&done.updates, "txn.demo.error"),
        Some(TypedData::Int64(i64::from(done.outcome.status.0)))
    );
    assert!(
        done.log_line()
            .contains(&format!("st={}", done.outcome.status.0))
    );
}
