//! Issue 23, part "queue": a server's `maxconn` keeps the requests beyond it waiting, as in
//! HAProxy 2.6. The same configuration runs under HAProxy and the gateway against a test
//! server that holds every request until the test releases it (no sleeps): the queue lengths
//! of both processes' `show stat`, the 503 with `sQ` when `timeout queue` expires, the 503
//! with `SQ` beyond `maxqueue`, and the access lines' `%sq`/`%bq` are the same.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock, and spawn helpers that end with the test"
)]

mod gateway_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use gateway_support::{Conn, GatewayProc, ThreadServer, wait_until};
use spoe_interop::Haproxy;

/// How long a state both processes must reach may take.
const REACH: Duration = Duration::from_secs(10);

/// A server that answers a request only once released; counts the requests it holds.
struct Hold {
    server: ThreadServer,
    state: Arc<(Mutex<(usize, bool)>, Condvar)>,
}

impl Hold {
    fn start() -> Self {
        let state = Arc::new((Mutex::new((0usize, false)), Condvar::new()));
        let shared = state.clone();
        let server = ThreadServer::start(move |mut sock: TcpStream| {
            let _ = sock.set_read_timeout(Some(Duration::from_secs(30)));
            loop {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match sock.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let (lock, cv) = &*shared;
                let mut s = lock.lock().unwrap();
                s.0 += 1;
                cv.notify_all();
                let s = cv
                    .wait_timeout_while(s, Duration::from_secs(30), |s| !s.1)
                    .unwrap()
                    .0;
                drop(s);
                let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                if sock.write_all(answer).is_err() {
                    return;
                }
            }
        });
        Self { server, state }
    }

    fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// Requests it holds (and has answered) so far.
    fn seen(&self) -> usize {
        self.state.0.lock().unwrap().0
    }

    /// Answers every request held and every one to come.
    fn release(&self) {
        let (lock, cv) = &*self.state;
        lock.lock().unwrap().1 = true;
        cv.notify_all();
    }
}

fn cfg(port: u16, timeout_queue: &str, backend: &str) -> String {
    format!(
        "global\n    log stdout format raw local0\n    stats socket unix@admin.sock level admin\n\
         defaults\n    mode http\n    log global\n    timeout connect 1s\n    timeout client 30s\n    \
         timeout server 30s\n    timeout queue {timeout_queue}\n    retries 0\n\
         frontend fe\n    bind 127.0.0.1:{port}\n    \
         log-format \"%{{+Q}}r %ST %tsc sq=%sq bq=%bq\"\n    default_backend app\n\
         backend app\n{backend}"
    )
}

/// `show stat` rows (column name → value) of proxy `app`, from the stats socket in `dir`.
fn show_stat(dir: &Path) -> Vec<Vec<(String, String)>> {
    let mut sock = UnixStream::connect(dir.join("admin.sock")).expect("connect the stats socket");
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock.write_all(b"show stat\n").unwrap();
    let mut text = String::new();
    sock.read_to_string(&mut text).unwrap();
    let mut lines = text.lines();
    let head = lines
        .next()
        .and_then(|l| l.strip_prefix("# "))
        .unwrap_or_else(|| panic!("unexpected `show stat` answer:\n{text}"));
    let columns: Vec<String> = head.split(',').map(str::to_owned).collect();
    lines
        .map(|l| {
            columns
                .iter()
                .cloned()
                .zip(l.split(',').map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .filter(|row| row.first().is_some_and(|(_, v)| v == "app"))
        .collect()
}

/// Columns `names` of the `app` rows (`BACKEND` and each server), as `svname:col=value`.
fn queue_columns(dir: &Path, names: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for row in show_stat(dir) {
        let get = |c: &str| {
            row.iter()
                .find(|(k, _)| k == c)
                .map_or("", |(_, v)| v.as_str())
        };
        for n in names {
            out.push(format!("{}:{n}={}", get("svname"), get(n)));
        }
    }
    out.sort();
    out
}

/// One process under test: its address, directory (stats socket) and log.
struct Proc {
    addr: SocketAddr,
    dir: std::path::PathBuf,
    log: Box<dyn Fn() -> String>,
    _keep: Box<dyn std::any::Any>,
}

fn haproxy(config: impl Fn(u16) -> String) -> Proc {
    let (h, port) = Haproxy::start_on_port(config, &[]);
    let dir = h.dir().to_path_buf();
    let h = Arc::new(h);
    let hl = h.clone();
    Proc {
        addr: ([127, 0, 0, 1], port).into(),
        dir,
        log: Box::new(move || hl.log()),
        _keep: Box::new(h),
    }
}

fn gateway(config: impl Fn(u16) -> String) -> Proc {
    let (g, addr) = GatewayProc::start_on_port(config, &[]);
    let dir = g.dir.path().to_path_buf();
    let out = dir.join("gateway.out");
    Proc {
        addr,
        dir,
        log: Box::new(move || std::fs::read_to_string(&out).unwrap_or_default()),
        _keep: Box::new(g),
    }
}

/// Sends `GET /{path}` on a connection of its own, on a thread; its status arrives on `tx`.
fn send(addr: SocketAddr, path: String, tx: &mpsc::Sender<(String, u16)>) {
    let tx = tx.clone();
    // Connected before the next one is sent: the arrival order is the sending order.
    let mut c = Conn::connect(addr).expect("connect");
    c.stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    thread::spawn(move || {
        let status = c
            .request("GET", &format!("/{path}"), &[], b"")
            .map_or(0, |r| r.status);
        let _ = tx.send((path, status));
    });
}

/// The access line of `GET /{path}`, from its quoted request on.
fn line_of(log: &str, path: &str) -> Option<String> {
    let quoted = format!("\"GET /{path} HTTP/1.1\"");
    log.lines()
        .find_map(|l| l.find(&quoted).map(|at| l[at..].to_owned()))
}

fn lines_of(p: &Proc, paths: &[String]) -> Vec<String> {
    assert!(
        wait_until(REACH, || paths
            .iter()
            .all(|x| line_of(&(p.log)(), x).is_some())),
        "access lines missing:\n{}",
        (p.log)()
    );
    let log = (p.log)();
    paths.iter().filter_map(|x| line_of(&log, x)).collect()
}

/// `maxconn 2`, 10 requests at once: 2 served, 8 waiting; what both say of it.
fn ten_on_two(
    make: fn(Box<dyn Fn(u16) -> String>) -> Proc,
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let hold = Hold::start();
    let server = hold.addr();
    let p = make(Box::new(move |port| {
        cfg(port, "20s", &format!("    server s1 {server} maxconn 2\n"))
    }));
    let (tx, rx) = mpsc::channel();
    let paths: Vec<String> = (0..10).map(|i| format!("r{i}")).collect();
    let cols = ["qcur", "scur"];
    // Each request is served or waits before the next is sent: the line's order is known.
    for (i, path) in paths.iter().enumerate() {
        send(p.addr, path.clone(), &tx);
        let (served, queued) = (i.min(1) + 1, i.saturating_sub(1));
        let queued = format!("BACKEND:qcur={queued}");
        assert!(
            wait_until(REACH, || hold.seen() == served.min(2)
                && (i < 2 || queue_columns(&p.dir, &["qcur"]).contains(&queued))),
            "request {i}: {served} served and {queued} not reached: {:?}",
            queue_columns(&p.dir, &cols)
        );
    }
    let waiting = queue_columns(&p.dir, &cols);
    hold.release();
    let mut statuses: Vec<u16> = (0..10)
        .map(|_| rx.recv_timeout(REACH).expect("an answer").1)
        .collect();
    statuses.sort_unstable();
    assert_eq!(statuses, vec![200; 10]);
    let after = queue_columns(&p.dir, &["qcur", "qmax"]);
    let mut lines = lines_of(&p, &paths);
    lines.sort();
    (waiting, after, lines)
}

#[test]
fn ten_requests_on_a_server_with_maxconn_2_queue_as_in_haproxy() {
    let (h_wait, h_after, h_lines) = ten_on_two(haproxy);
    let (g_wait, g_after, g_lines) = ten_on_two(gateway);
    // Every server full: HAProxy's round robin sends the 8 to the backend's line.
    assert_eq!(g_wait, h_wait, "qcur/scur while 8 wait");
    assert_eq!(g_after, h_after, "qcur/qmax once all are answered");
    assert_eq!(g_lines, h_lines, "%sq/%bq of the access lines");
    let bq: Vec<&str> = h_lines
        .iter()
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    assert_eq!(
        bq.iter().filter(|b| **b == "bq=0").count(),
        2,
        "{h_lines:?}"
    );
}

/// `maxconn 1` with the first request held: the second waits `timeout queue`, then gets a
/// 503 logged `sQ`; `maxqueue 1` with a hashed balance (the request is the server's): the
/// third is refused at once, logged `SQ`.
fn queue_refusals(make: fn(Box<dyn Fn(u16) -> String>) -> Proc) -> Vec<String> {
    let hold = Hold::start();
    let server = hold.addr();
    let p = make(Box::new(move |port| {
        cfg(
            port,
            "300ms",
            &format!("    balance uri\n    server s1 {server} maxconn 1 maxqueue 1\n"),
        )
    }));
    let (tx, rx) = mpsc::channel();
    send(p.addr, "held".into(), &tx);
    assert!(
        wait_until(REACH, || hold.seen() == 1),
        "the first request was not served"
    );
    send(p.addr, "waits".into(), &tx);
    assert!(
        wait_until(REACH, || queue_columns(&p.dir, &["qcur"])
            .iter()
            .any(|c| c == "s1:qcur=1")),
        "the second request does not wait: {:?}",
        queue_columns(&p.dir, &["qcur"])
    );
    send(p.addr, "refused".into(), &tx);
    let first = rx.recv_timeout(REACH).expect("an answer");
    let second = rx.recv_timeout(REACH).expect("an answer");
    // Refused at once, before the other's `timeout queue`: the order, not the speed.
    assert_eq!(first, ("refused".to_owned(), 503));
    assert_eq!(second, ("waits".to_owned(), 503));
    hold.release();
    assert_eq!(
        rx.recv_timeout(REACH).expect("an answer"),
        ("held".to_owned(), 200)
    );
    let paths = ["held", "waits", "refused"].map(str::to_owned);
    lines_of(&p, &paths)
}

#[test]
fn timeout_queue_and_maxqueue_refuse_with_503_sq_as_in_haproxy() {
    let h = queue_refusals(haproxy);
    let g = queue_refusals(gateway);
    assert!(h[1].contains(" 503 sQ"), "{h:?}");
    assert!(h[2].contains(" 503 SQ"), "{h:?}");
    assert_eq!(g, h);
}
