//! The gateway's `prometheus-exporter` against HAProxy 2.6's own (issue 24 §2): the same
//! proxies (a stats frontend, a frontend with SPOE and rules, a backend with a server up and
//! a checked server refusing connections, the agents' backend), the same agent, backend and
//! requests; then one scrape of each, compared family by family.
//!
//! Every `haproxy_frontend_*`, `haproxy_backend_*` and `haproxy_server_*` sample HAProxy
//! exposes for an HTTP proxy, the gateway exposes under the same name and labels, with the same
//! type and help; no other. Values are equal, except those listed in [`MAY_DIFFER`] with the
//! reason. The agents' backend (`mode tcp`) carries no client traffic in the gateway: it is
//! described by the `spoe_*` families, checked here too.
//!
//! Fails (never skips) when `haproxy` is missing.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use spoe_gateway::Gateway;
use spoe_gateway::config::GatewayConfig;
use spoe_gateway::server::{Loaded, Loader};
use spoe_interop::{Haproxy, RefusedPort, http_get, http_get_unix};

mod support;
use support::{answer, serve_backend};

const WAIT: Duration = Duration::from_secs(30);

/// Families whose values may differ, and why. The rest must be equal.
const MAY_DIFFER: &[(&str, &str)] = &[
    (
        "bytes_in_total",
        "bytes are counted on the wire; HAProxy counts the messages it forwards, after its own \
         header changes",
    ),
    ("bytes_out_total", "as bytes_in_total"),
    (
        "max_session_rate",
        "a rate over one-second periods: depends on when the requests fall",
    ),
    ("http_requests_rate_max", "as max_session_rate"),
    ("connections_rate_max", "as max_session_rate"),
    (
        "max_sessions",
        "depends on when the previous connection closed on each side",
    ),
    ("time_average_seconds", "measured times"),
    ("max_queue_time_seconds", "measured times"),
    ("max_connect_time_seconds", "measured times"),
    ("max_response_time_seconds", "measured times"),
    ("max_total_time_seconds", "measured times"),
    ("check_duration_seconds", "measured times"),
    (
        "last_session_seconds",
        "seconds since an event: depends on when the scrape falls",
    ),
    ("check_last_change_seconds", "as last_session_seconds"),
    ("downtime_seconds_total", "as last_session_seconds"),
    (
        "connection_attempts_total",
        "how connections to servers are pooled and reused (hyper's pool, not HAProxy's)",
    ),
    ("connection_reuses_total", "as connection_attempts_total"),
    ("idle_connections_current", "as connection_attempts_total"),
    (
        "safe_idle_connections_current",
        "as connection_attempts_total",
    ),
    (
        "unsafe_idle_connections_current",
        "as connection_attempts_total",
    ),
    ("used_connections_current", "as connection_attempts_total"),
    (
        "need_connections_current",
        "HAProxy's estimate for its idle-pool purge; the gateway has none (NaN)",
    ),
    (
        "idle_connections_limit",
        "pool-max-conn: the gateway's default is 64, HAProxy's unlimited (NaN)",
    ),
];

/// HAProxy's backend `limit_sessions` is its `fullconn` (derived from the frontends' maxconn);
/// the gateway has no fullconn: NaN.
const BACKEND_LIMIT: &str = "haproxy_backend_limit_sessions";

/// The proxies, with the stats frontend's and the web frontend's `bind` lines given.
fn config(
    stats_bind: &str,
    web_bind: &str,
    up: SocketAddr,
    down: SocketAddr,
    agent: SocketAddr,
) -> String {
    format!(
        "global
    maxconn 500
defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
frontend stats
    bind {stats_bind}
    http-request use-service prometheus-exporter
frontend web
    bind {web_bind}
    filter spoe engine e config spoe.conf
    http-request deny if {{ path /deny }}
    http-request return status 200 content-type text/plain string ok if {{ path /ret }}
    http-request set-header x-path \"%[path]\"
    default_backend app
backend app
    server s1 {up} check inter 200ms
    server s2 {down} check inter 200ms maxconn 10
backend agents
    mode tcp
    server a1 {agent}
"
    )
}

/// One sample of a scrape: (name, labels) -> value as written.
type Samples = BTreeMap<(String, String), String>;

/// A scrape: its samples, and per family (as samples are named) its type and help.
#[derive(Debug, Default)]
struct Scrape {
    samples: Samples,
    types: BTreeMap<String, (String, String)>,
}

/// Parses Prometheus text (0.0.4, HAProxy's) or OpenMetrics (the gateway's): an OpenMetrics
/// counter family is announced without the `_total` its samples have.
fn parse(text: &str) -> Scrape {
    let mut s = Scrape::default();
    let mut help: BTreeMap<String, String> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, h) = rest.split_once(' ').unwrap_or((rest, ""));
            help.insert(name.to_owned(), h.to_owned());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            let sample = if kind == "counter" && !name.ends_with("_total") {
                format!("{name}_total")
            } else {
                name.to_owned()
            };
            let h = help.get(name).cloned().unwrap_or_default();
            s.types.insert(sample, (kind.to_owned(), h));
        } else if !line.starts_with('#') && !line.is_empty() {
            let (key, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = key.split_once('{').unwrap_or((key, "}"));
            s.samples.insert(
                (name.to_owned(), labels.trim_end_matches('}').to_owned()),
                value.to_owned(),
            );
        }
    }
    s
}

/// Whether a sample belongs to HAProxy's proxy families of an HTTP proxy.
fn compared(name: &str, labels: &str) -> bool {
    (name.starts_with("haproxy_frontend_")
        || name.starts_with("haproxy_backend_")
        || name.starts_with("haproxy_server_"))
        && !labels.contains("proxy=\"agents\"")
}

fn may_differ(name: &str) -> bool {
    MAY_DIFFER.iter().any(|(suffix, _)| name.ends_with(suffix))
}

fn number(v: &str) -> f64 {
    v.parse().unwrap_or(f64::NAN)
}

/// Polls `scrape` until `done` holds for it.
fn until(what: &str, mut scrape: impl FnMut() -> Scrape, done: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let s = scrape();
        if done(&s) {
            return s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {WAIT:?}: {:?}",
            s.samples
        );
        // Polling a scrape: the states it waits for change on the servers' check interval.
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn value(s: &Scrape, name: &str, labels: &str) -> Option<f64> {
    s.samples
        .get(&(name.to_owned(), labels.to_owned()))
        .map(|v| number(v))
}

/// Settled: the refusing server is down and no request is in progress on the web frontend.
fn settled(s: &Scrape) -> bool {
    value(
        s,
        "haproxy_server_status",
        "proxy=\"app\",server=\"s2\",state=\"DOWN\"",
    ) == Some(1.0)
        && value(
            s,
            "haproxy_server_status",
            "proxy=\"app\",server=\"s1\",state=\"UP\"",
        ) == Some(1.0)
        && value(s, "haproxy_frontend_current_sessions", "proxy=\"web\"") == Some(0.0)
        && value(s, "haproxy_backend_current_sessions", "proxy=\"app\"") == Some(0.0)
}

/// The requests both proxies get, one connection each.
fn traffic(web: SocketAddr) {
    for path in ["/", "/a", "/b", "/c", "/deny", "/ret"] {
        let (status, _, _) =
            http_get(web, path, &[]).unwrap_or_else(|e| panic!("GET {path} on {web}: {e}"));
        assert!(matches!(status, 200 | 403), "GET {path}: {status}");
    }
}

struct InProcessGateway {
    _gw: Arc<Gateway>,
    _dir: tempfile::TempDir,
    stats: SocketAddr,
    web: SocketAddr,
}

async fn start_gateway(up: SocketAddr, down: SocketAddr, agent: SocketAddr) -> InProcessGateway {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spoe.conf"), support::ECHO_SPOE_CONF).unwrap();
    let stats = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let web = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (stats_addr, web_addr) = (stats.local_addr().unwrap(), web.local_addr().unwrap());
    let text = config(
        &stats_addr.to_string(),
        &web_addr.to_string(),
        up,
        down,
        agent,
    );
    let base: PathBuf = dir.path().to_owned();
    let loader: Loader = Arc::new(move || {
        let (config, _) = GatewayConfig::parse_str(&text, "haproxy.cfg", &base, None)
            .map_err(spoe_gateway::ReloadError::Config)?;
        let var_names = config.var_names();
        Ok(Loaded { config, var_names })
    });
    let gw = Gateway::start_with_listeners(loader, vec![stats, web])
        .await
        .unwrap();
    InProcessGateway {
        _gw: gw,
        _dir: dir,
        stats: stats_addr,
        web: web_addr,
    }
}

fn scrape_tcp(addr: SocketAddr) -> Scrape {
    let (status, _, body) = http_get(addr, "/metrics", &[]).expect("scrape the gateway");
    assert_eq!(status, 200);
    parse(&String::from_utf8(body).unwrap())
}

fn scrape_unix(sock: &Path) -> Scrape {
    let (status, _, body) = http_get_unix(sock, "/metrics", &[]).expect("scrape HAProxy");
    assert_eq!(status, 200);
    parse(&String::from_utf8(body).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exporter_has_haproxys_families_with_haproxys_values() {
    // The agent both proxies use, the server that answers, the one that refuses.
    let agent_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let agent = agent_listener.local_addr().unwrap();
    let agent_server = spoa::Server::new(
        spoa::Router::new().route("echo", answer),
        spoa::Config::default(),
    )
    .unwrap();
    let stop = spoa::CancellationToken::new();
    let agent_task = tokio::spawn({
        let stop = stop.clone();
        async move {
            agent_server
                .serve(spoa::Listener::Tcp(agent_listener), stop)
                .await
        }
    });
    let backend = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = backend.local_addr().unwrap();
    tokio::spawn(serve_backend(backend));
    let refused = RefusedPort::new();
    let down = refused.addr();

    let gw = start_gateway(up, down, agent).await;
    let (haproxy, hap_web) = tokio::task::spawn_blocking(move || {
        Haproxy::start_on_port(
            |port| {
                config(
                    "unix@stats.sock",
                    &format!("127.0.0.1:{port}"),
                    up,
                    down,
                    agent,
                )
            },
            &[("spoe.conf", support::ECHO_SPOE_CONF)],
        )
    })
    .await
    .unwrap();
    let hap_stats = haproxy.dir().join("stats.sock");
    let (gw_stats, gw_web) = (gw.stats, gw.web);

    let (ours, theirs) = tokio::task::spawn_blocking(move || {
        until("gateway ready", || scrape_tcp(gw_stats), settled);
        until("HAProxy ready", || scrape_unix(&hap_stats), settled);
        traffic(gw_web);
        traffic(SocketAddr::from(([127, 0, 0, 1], hap_web)));
        let ours = until("gateway settled", || scrape_tcp(gw_stats), settled);
        let theirs = until("HAProxy settled", || scrape_unix(&hap_stats), settled);
        (ours, theirs)
    })
    .await
    .unwrap();

    // 1. The same samples: names and labels.
    let keys = |s: &Scrape| -> BTreeSet<(String, String)> {
        s.samples
            .keys()
            .filter(|(n, l)| compared(n, l))
            .cloned()
            .collect()
    };
    let (our_keys, their_keys) = (keys(&ours), keys(&theirs));
    let missing: Vec<_> = their_keys.difference(&our_keys).collect();
    let extra: Vec<_> = our_keys.difference(&their_keys).collect();
    assert!(
        missing.is_empty(),
        "samples HAProxy has and the gateway lacks: {missing:#?}"
    );
    assert!(
        extra.is_empty(),
        "samples the gateway has and HAProxy does not: {extra:#?}"
    );
    assert!(
        their_keys.len() > 200,
        "too few samples compared: {}",
        their_keys.len()
    );
    // The agents' backend is HAProxy's, not the gateway's.
    assert!(
        theirs
            .samples
            .keys()
            .any(|(_, l)| l.contains("proxy=\"agents\""))
    );
    assert!(
        !ours
            .samples
            .keys()
            .any(|(n, l)| n.starts_with("haproxy_") && l.contains("proxy=\"agents\""))
    );

    // 2. The same type and help per family.
    let families: BTreeSet<&String> = their_keys.iter().map(|(n, _)| n).collect();
    for f in families {
        assert_eq!(
            ours.types.get(f),
            theirs.types.get(f),
            "type and help of {f}"
        );
    }

    // 3. The same values, but for what may differ (and the backend's fullconn).
    let mut different = Vec::new();
    for key in &their_keys {
        let (name, labels) = key;
        let (a, b) = (&ours.samples[key], &theirs.samples[key]);
        if name == BACKEND_LIMIT {
            assert_eq!(a, "NaN", "{name}{{{labels}}}");
            continue;
        }
        if may_differ(name) || labels.starts_with("proxy=\"stats\"") {
            continue;
        }
        if number(a) != number(b) && !(number(a).is_nan() && number(b).is_nan()) {
            different.push(format!("{name}{{{labels}}}: gateway {a}, HAProxy {b}"));
        }
    }
    assert!(
        different.is_empty(),
        "values that differ:\n{}",
        different.join("\n")
    );
    // The traffic was counted, not only equal: 6 requests, 4 through the backend.
    assert_eq!(
        value(
            &ours,
            "haproxy_frontend_http_requests_total",
            "proxy=\"web\""
        ),
        Some(6.0)
    );
    assert_eq!(
        value(&ours, "haproxy_backend_sessions_total", "proxy=\"app\""),
        Some(4.0)
    );
    assert_eq!(
        value(
            &ours,
            "haproxy_frontend_requests_denied_total",
            "proxy=\"web\""
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &ours,
            "haproxy_server_check_up_down_total",
            "proxy=\"app\",server=\"s2\""
        ),
        Some(1.0)
    );

    // 4. The SPOE families: every request of the web frontend sent one message to the agent.
    let spoe = |name: &str, labels: &str| {
        value(&ours, name, labels).unwrap_or_else(|| {
            panic!(
                "{name}{{{labels}}}: {:?}",
                ours.samples
                    .keys()
                    .filter(|(n, _)| n.starts_with("spoe_"))
                    .collect::<Vec<_>>()
            )
        })
    };
    let event = "agent=\"echo-agent\",event=\"on-frontend-http-request\"";
    assert_eq!(
        spoe("spoe_events_total", &format!("{event},status=\"0\"")),
        6.0
    );
    assert_eq!(
        spoe(
            "spoe_messages_total",
            "agent=\"echo-agent\",message=\"echo\",status=\"0\""
        ),
        6.0
    );
    assert_eq!(spoe("spoe_processing_seconds_count", event), 6.0);
    assert_eq!(spoe("spoe_queue_seconds_count", event), 6.0);
    assert!(spoe("spoe_agent_connections", "agent=\"echo-agent\"") >= 1.0);
    assert!(
        spoe(
            "spoe_agent_connections_opened_total",
            "agent=\"echo-agent\""
        ) >= 1.0
    );
    assert_eq!(
        spoe("spoe_agent_connect_failures_total", "agent=\"echo-agent\""),
        0.0
    );

    drop(haproxy);
    stop.cancel();
    let _ = agent_task.await;
}
