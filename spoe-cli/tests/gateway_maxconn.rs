//! Issue 19 §2: every `maxconn` means what it means in HAProxy. The same configuration runs
//! under HAProxy 2.6 and the gateway: with the limit reached, a connection beyond it is neither
//! accepted nor refused (it connects, and waits in the listen backlog: its request gets no
//! answer), and it is served as soon as a served connection closes. The frontend's limit and
//! count show in HAProxy's metric names. A reload that raises the limit lets a waiting
//! connection in.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock, and spawn helpers that end with the test"
)]

mod gateway_support;

use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use gateway_support::{Conn, GatewayProc, local, metric_sum};
use spoe_interop::Haproxy;

/// How long a connection beyond the limit is watched for an answer it must not get: it cannot
/// come (nothing accepted the connection), so the watch cannot flake; it only bounds the test.
const NO_ANSWER: Duration = Duration::from_millis(800);

/// How long an answer that must come may take.
const ANSWER: Duration = Duration::from_secs(10);

/// `web` (the limits under test) on `port`, `stats` (metrics, no limit of its own) on the next.
fn cfg(port: u16, global: &str, frontend: &str) -> String {
    format!(
        "global\n{global}defaults\n    mode http\n    timeout client 20s\n    timeout server 5s\n    \
         timeout connect 1s\n\
         frontend web\n    bind 127.0.0.1:{port}\n{frontend}    \
         http-request return status 200 content-type text/plain string ok\n\
         frontend stats\n    bind 127.0.0.1:{}\n    http-request use-service prometheus-exporter\n",
        port + 1
    )
}

/// Clients that each connect, send one request and wait for its answer on a thread of their
/// own; answers arrive on a channel with the client's index, and its connection to close.
struct Clients {
    answers: mpsc::Receiver<(usize, Conn)>,
}

impl Clients {
    fn open(addr: SocketAddr, n: usize) -> Self {
        let (tx, answers) = mpsc::channel();
        for i in 0..n {
            // Every connect completes (in the proxy or in the kernel's backlog) before the next.
            let mut c = Conn::connect(addr).expect("connect (the backlog takes it)");
            c.stream
                .set_read_timeout(Some(Duration::from_secs(30)))
                .unwrap();
            let tx = tx.clone();
            thread::spawn(move || {
                let r = c.request("GET", "/", &[], b"");
                if r.is_ok_and(|r| r.status == 200) {
                    let _ = tx.send((i, c));
                }
            });
        }
        Self { answers }
    }

    /// The next `n` answered connections (panics after [`ANSWER`]), then checks that no other
    /// answer comes within [`NO_ANSWER`].
    fn exactly(&self, n: usize, what: &str) -> Vec<(usize, Conn)> {
        let got: Vec<_> = (0..n)
            .map(|k| {
                self.answers
                    .recv_timeout(ANSWER)
                    .unwrap_or_else(|_| panic!("{what}: answer {} of {n} did not come", k + 1))
            })
            .collect();
        if let Ok((i, _)) = self.answers.recv_timeout(NO_ANSWER) {
            panic!("{what}: client {i} was answered beyond the limit");
        }
        got
    }
}

/// What a proxy did with 5 clients on a frontend limited to 3 connections: the metrics it
/// shows with 3 served (current, limit), and which clients were served after one closed.
fn five_clients_three_places(addr: SocketAddr, who: &str) -> (f64, f64) {
    let clients = Clients::open(addr, 5);
    let mut served = clients.exactly(3, &format!("{who}, 3 places"));
    let metrics = gateway_support::get(local(addr.port() + 1), "/metrics", &[]).unwrap();
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    let sessions = |name: &str| metric_sum(&text, name, "proxy=\"web\"");
    let seen = (
        sessions("haproxy_frontend_current_sessions"),
        sessions("haproxy_frontend_limit_sessions"),
    );
    // One closes: one waiting client gets its place, and only one.
    drop(served.remove(0));
    clients.exactly(1, &format!("{who}, after one closed"));
    seen
}

#[test]
fn a_frontends_maxconn_keeps_the_rest_in_the_backlog_as_haproxy_does() {
    let config = |port| cfg(port, "", "    maxconn 3\n");
    let (haproxy, port) = Haproxy::start_on_port(config, &[]);
    let hap = five_clients_three_places(local(port), "haproxy");
    drop(haproxy);
    let (gateway, addr) = GatewayProc::start_on_port(config, &[]);
    let ours = five_clients_three_places(addr, "gateway");
    assert_eq!(hap, (3.0, 3.0), "HAProxy: current and limit sessions");
    assert_eq!(
        ours,
        hap,
        "gateway: current and limit sessions\n{}",
        gateway.log()
    );
}

#[test]
fn the_global_maxconn_counts_every_frontend_as_haproxy_does() {
    // Four places for the whole process and no frontend limit: `web` gets all four.
    let config = |port| cfg(port, "    maxconn 4\n", "");
    let (haproxy, port) = Haproxy::start_on_port(config, &[]);
    let run = |addr: SocketAddr, who: &str| {
        let clients = Clients::open(addr, 6);
        let mut served = clients.exactly(4, &format!("{who}, 4 places"));
        drop(served.remove(0));
        clients.exactly(1, &format!("{who}, after one closed"));
    };
    run(local(port), "haproxy");
    drop(haproxy);
    let (_gateway, addr) = GatewayProc::start_on_port(config, &[]);
    run(addr, "gateway");
}

#[test]
fn a_binds_maxconn_limits_its_listener_as_haproxy_does() {
    // The frontend's limit (3) is above the listener's (2): the listener's holds.
    let config = |port: u16| {
        cfg(
            port,
            "",
            "    maxconn 3
",
        )
        .replace(
            &format!("bind 127.0.0.1:{port}\n"),
            &format!("bind 127.0.0.1:{port} maxconn 2\n"),
        )
    };
    let run = |addr: SocketAddr, who: &str| {
        let clients = Clients::open(addr, 4);
        let mut served = clients.exactly(2, &format!("{who}, 2 places on the listener"));
        drop(served.remove(0));
        clients.exactly(1, &format!("{who}, after one closed"));
    };
    let (haproxy, port) = Haproxy::start_on_port(config, &[]);
    run(local(port), "haproxy");
    drop(haproxy);
    let (_gateway, addr) = GatewayProc::start_on_port(config, &[]);
    run(addr, "gateway");
}

#[test]
fn a_reload_that_raises_maxconn_lets_a_waiting_connection_in() {
    let (gateway, addr) = GatewayProc::start_on_port(|port| cfg(port, "", "    maxconn 2\n"), &[]);
    let clients = Clients::open(addr, 4);
    let _served = clients.exactly(2, "maxconn 2");
    let port = addr.port();
    gateway.write("haproxy.cfg", &cfg(port, "", "    maxconn 3\n"));
    gateway.reload();
    let _third = clients.exactly(1, "after the reload to maxconn 3");
    let metrics = gateway_support::get(local(port + 1), "/metrics", &[]).unwrap();
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    assert_eq!(
        metric_sum(&text, "haproxy_frontend_limit_sessions", "proxy=\"web\""),
        3.0,
        "{text}"
    );
    assert_eq!(
        metric_sum(&text, "haproxy_frontend_current_sessions", "proxy=\"web\""),
        3.0,
        "{text}"
    );
}
