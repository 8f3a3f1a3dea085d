//! Servers resolved at run time against HAProxy 2.6 (issue 23, part "dns"): the same
//! `haproxy.cfg` (a `resolvers` section whose nameserver is a DNS server of this test, on a
//! loopback UDP port; a `server-template` of four servers and a `server` named by a host
//! name, both `init-addr none`; one more preferring IPv6, whose name has only an A record),
//! the same answers, then the same requests and runtime API
//! commands to both.
//!
//! Equal: the `show servers state` lines (but the seconds since the last change) once the
//! first answers are in (the template's servers take distinct addresses in HAProxy's order,
//! the one left without waits in maintenance), the servers' `show stat` status (`MAINT
//! (resolution)`), which servers answer the requests; then the same after the records change
//! (an address leaves, another comes, a name turns NXDOMAIN and its server goes into
//! maintenance after `hold nx`). Fails (never skips) when `haproxy` is missing.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use spoe_interop::{Haproxy, http_get, http_get_unix};

mod support;

/// How long a side may take to reach a state.
const SETTLE: Duration = Duration::from_secs(15);

/// The records the test's DNS server gives: name (lower case, no final dot) to addresses;
/// a name missing is NXDOMAIN.
type Zone = Arc<Mutex<BTreeMap<String, Vec<Ipv4Addr>>>>;

/// A DNS server on `socket`: A queries get the zone's addresses, AAAA queries of a known
/// name no record, unknown names NXDOMAIN.
async fn serve_dns(socket: tokio::net::UdpSocket, zone: Zone) {
    let mut buf = [0u8; 1500];
    while let Ok((n, from)) = socket.recv_from(&mut buf).await {
        let Ok(query) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        let Some(q) = query.queries.first().cloned() else {
            continue;
        };
        let mut reply = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
        reply.metadata.recursion_desired = query.metadata.recursion_desired;
        reply.metadata.recursion_available = true;
        reply.add_query(q.clone());
        let name = q
            .name()
            .to_ascii()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let addresses = zone.lock().unwrap().get(&name).cloned();
        match addresses {
            None => reply.metadata.response_code = ResponseCode::NXDomain,
            Some(ips) if q.query_type() == RecordType::A => {
                for ip in ips {
                    reply.add_answer(Record::from_rdata(q.name().clone(), 1, RData::A(A(ip))));
                }
            }
            Some(_) => {}
        }
        if let Ok(bytes) = reply.to_vec() {
            let _ = socket.send_to(&bytes, from).await;
        }
    }
}

/// An HTTP server on `ip:port` answering its own address.
async fn serve_named(listener: tokio::net::TcpListener) {
    let me = listener.local_addr().unwrap().ip().to_string();
    while let Ok((sock, _)) = listener.accept().await {
        let me = me.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |_req| {
                let me = me.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(
                        http_body_util::Full::new(bytes::Bytes::from(me)),
                    ))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(sock), service)
                .await;
        });
    }
}

/// Listeners on 127.0.0.2..=127.0.0.5, all on one port.
async fn named_servers() -> (u16, Vec<tokio::net::TcpListener>) {
    'port: for _ in 0..50 {
        let first = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
        let port = first.local_addr().unwrap().port();
        let mut all = vec![first];
        for last in 3..=5u8 {
            match tokio::net::TcpListener::bind((Ipv4Addr::new(127, 0, 0, last), port)).await {
                Ok(l) => all.push(l),
                Err(_) => continue 'port,
            }
        }
        return (port, all);
    }
    panic!("no port free on 127.0.0.2 to 127.0.0.5");
}

fn config(web: &str, cli: &str, dns: SocketAddr, port: u16) -> String {
    format!(
        "global
    stats socket {cli} mode 600 level admin
resolvers dns
    nameserver ns1 {dns}
    accepted_payload_size 1232
    resolve_retries 2
    timeout resolve 100ms
    timeout retry 200ms
    hold valid 100ms
    hold nx 300ms
    hold other 300ms
    hold obsolete 0s
defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    default-server init-addr none resolvers dns resolve-prefer ipv4
frontend web
    bind {web}
    use_backend %[path,field(2,/)]
backend tpl
    server-template srv 4 app.test:{port}
backend one
    server s1 single.test:{port}
backend six
    server s6 six.test:{port} resolve-prefer ipv6
"
    )
}

/// One side: where its web frontend and its CLI listen.
struct Side {
    web: Web,
    cli: PathBuf,
}

enum Web {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl Side {
    fn cli(&self, command: &str) -> String {
        let mut s = std::os::unix::net::UnixStream::connect(&self.cli)
            .unwrap_or_else(|e| panic!("{}: {e}", self.cli.display()));
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(format!("{command}\n").as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    /// `show servers state`, without the seconds since the last change (column 10).
    fn states(&self) -> Vec<String> {
        support::servers_state(&self.cli("show servers state"))
            .into_iter()
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// `backend/server` to the `status` of `show stat`.
    fn statuses(&self) -> BTreeMap<String, String> {
        let stat = self.cli("show stat");
        let mut lines = stat.lines();
        let header: Vec<&str> = lines
            .next()
            .unwrap_or_default()
            .trim_start_matches("# ")
            .split(',')
            .collect();
        let col = header.iter().position(|c| *c == "status").unwrap();
        lines
            .filter(|l| !l.is_empty())
            .filter_map(|l| {
                let cells: Vec<&str> = l.split(',').collect();
                (cells.len() > col && !["FRONTEND", "BACKEND"].contains(&cells[1]))
                    .then(|| (format!("{}/{}", cells[0], cells[1]), cells[col].to_owned()))
            })
            .collect()
    }

    /// The addresses of the servers answering `n` requests to `path` (`-` for an error).
    fn answering(&self, path: &str, n: usize) -> BTreeSet<String> {
        (0..n)
            .map(|_| {
                let got = match &self.web {
                    Web::Tcp(a) => http_get(a, path, &[]),
                    Web::Unix(p) => http_get_unix(p, path, &[]),
                };
                match got {
                    Ok((200, _, body)) => String::from_utf8_lossy(&body).into_owned(),
                    Ok((status, _, _)) => status.to_string(),
                    Err(e) => format!("error {e}"),
                }
            })
            .collect()
    }

    /// Waits until `ready` holds for the server lines of `show servers state`; they are
    /// returned.
    fn wait_states(&self, what: &str, ready: impl Fn(&[Vec<String>]) -> bool) -> Vec<String> {
        let deadline = Instant::now() + SETTLE;
        loop {
            let states = self.states();
            let servers: Vec<Vec<String>> = states
                .iter()
                .filter(|l| !l.starts_with('#') && l.contains(' '))
                .map(|l| l.split(' ').map(str::to_owned).collect())
                .collect();
            if ready(&servers) {
                return states;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not reached in {SETTLE:?}:\n{}",
                states.join("\n")
            );
            // Polling the runtime API: the resolutions run on their own clock.
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The cell of server `name` in `column` (0-based) of the server lines.
fn cell<'a>(servers: &'a [Vec<String>], name: &str, column: usize) -> &'a str {
    servers
        .iter()
        .find(|s| s[3] == name)
        .map_or("", |s| s[column].as_str())
}

/// What one side shows at each step, to compare.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    states: Vec<String>,
    statuses: BTreeMap<String, String>,
    tpl: BTreeSet<String>,
    one: BTreeSet<String>,
}

fn seen(side: &Side, states: Vec<String>) -> Seen {
    Seen {
        states,
        statuses: side.statuses(),
        tpl: side.answering("/tpl/", 12),
        one: side.answering("/one/", 2),
    }
}

fn drive(side: &Side, changed: &std::sync::Barrier) -> (Seen, Seen) {
    // First answers: srv1..3 take the three addresses, srv4 has none, s1 has its one.
    let first = side.wait_states("first answers", |servers| {
        ["srv1", "srv2", "srv3"]
            .iter()
            .all(|s| cell(servers, s, 4) != "-" && cell(servers, s, 4).starts_with("127.0.0."))
            && cell(servers, "s1", 4) == "127.0.0.2"
            && cell(servers, "s6", 4) == "127.0.0.4"
            && cell(servers, "srv4", 6) == "32"
    });
    let before = seen(side, first);
    changed.wait();
    // Then 127.0.0.2 leaves app.test, 127.0.0.5 comes, and single.test is NXDOMAIN.
    let second = side.wait_states("changed records", |servers| {
        let addrs: BTreeSet<&str> = ["srv1", "srv2", "srv3", "srv4"]
            .iter()
            .map(|s| cell(servers, s, 4))
            .collect();
        !addrs.contains("127.0.0.2")
            && addrs.contains("127.0.0.5")
            && cell(servers, "s1", 6) == "32"
    });
    (before, seen(side, second))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_resolved_at_run_time_as_haproxy() {
    let dns_socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let dns = dns_socket.local_addr().unwrap();
    let zone: Zone = Arc::new(Mutex::new(BTreeMap::from([
        (
            "app.test".to_owned(),
            vec![
                Ipv4Addr::new(127, 0, 0, 2),
                Ipv4Addr::new(127, 0, 0, 3),
                Ipv4Addr::new(127, 0, 0, 4),
            ],
        ),
        ("single.test".to_owned(), vec![Ipv4Addr::new(127, 0, 0, 2)]),
        ("six.test".to_owned(), vec![Ipv4Addr::new(127, 0, 0, 4)]),
    ])));
    let dns_task = tokio::spawn(serve_dns(dns_socket, zone.clone()));
    let (port, listeners) = named_servers().await;
    let servers: Vec<_> = listeners
        .into_iter()
        .map(|l| tokio::spawn(serve_named(l)))
        .collect();

    let haproxy = Haproxy::start(&config("unix@web.sock", "unix@cli.sock", dns, port));
    let hdir = haproxy.dir().to_owned();
    let theirs = Side {
        web: Web::Unix(hdir.join("web.sock")),
        cli: hdir.join("cli.sock"),
    };
    let tmp = tempfile::tempdir().unwrap();
    let web = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let web_addr = web.local_addr().unwrap();
    let cli = tmp.path().join("gateway.sock");
    let text = config(&web_addr.to_string(), &cli.display().to_string(), dns, port);
    let gw = support::start_gateway(text, tmp.path().to_owned(), vec![web]).await;
    let ours = Side {
        web: Web::Tcp(web_addr),
        cli: cli.clone(),
    };

    let barrier = Arc::new(std::sync::Barrier::new(3));
    let mut drivers = Vec::new();
    for side in [theirs, ours] {
        let barrier = barrier.clone();
        drivers.push(std::thread::spawn(move || drive(&side, &barrier)));
    }
    let change = {
        let (zone, barrier) = (zone.clone(), barrier.clone());
        tokio::task::spawn_blocking(move || {
            barrier.wait();
            let mut z = zone.lock().unwrap();
            z.insert(
                "app.test".to_owned(),
                vec![
                    Ipv4Addr::new(127, 0, 0, 3),
                    Ipv4Addr::new(127, 0, 0, 4),
                    Ipv4Addr::new(127, 0, 0, 5),
                ],
            );
            z.remove("single.test");
        })
    };
    let results: Vec<(Seen, Seen)> = tokio::task::spawn_blocking(move || {
        drivers
            .into_iter()
            .map(|d| d.join().expect("a side's driver panicked"))
            .collect()
    })
    .await
    .unwrap();
    change.await.unwrap();
    let (h_before, h_after) = &results[0];
    let (g_before, g_after) = &results[1];
    assert_eq!(g_before, h_before, "after the first answers");
    assert_eq!(g_after, h_after, "after the records changed");
    // Not a stub: the template's traffic went to three distinct servers, and moved.
    assert_eq!(h_before.tpl.len(), 3, "{h_before:?}");
    assert!(h_after.tpl.contains("127.0.0.5"), "{h_after:?}");
    assert_eq!(
        g_after.statuses.get("one/s1").map(String::as_str),
        Some("MAINT (resolution)")
    );

    // A reload while the nameserver is gone: the new generation starts from the last
    // answers (as `init-addr last`), not from `init-addr none`.
    dns_task.abort();
    gw.reload().await.expect("reload");
    let ours = Side {
        web: Web::Tcp(web_addr),
        cli,
    };
    let (states, tpl) =
        tokio::task::spawn_blocking(move || (ours.states(), ours.answering("/tpl/", 12)))
            .await
            .unwrap();
    let addresses = |states: &[String]| -> Vec<(String, String)> {
        states
            .iter()
            .filter(|l| !l.starts_with('#') && l.contains(' '))
            .map(|l| {
                let c: Vec<&str> = l.split(' ').collect();
                (c[4].to_owned(), c[6].to_owned())
            })
            .collect()
    };
    assert_eq!(
        addresses(&states),
        addresses(&g_after.states),
        "after a reload"
    );
    assert_eq!(tpl, g_after.tpl, "after a reload");

    gw.stop(true).await;
    drop(haproxy);
    for s in servers {
        s.abort();
    }
}
