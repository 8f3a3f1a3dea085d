//! Differential tests of the socket options and head limits real files set: the same
//! `haproxy.cfg` run by HAProxy 2.6 and by `spoe gateway -f`, then each process's own sockets
//! read back with `getsockopt` (the test takes a copy of each socket of the process with
//! `pidfd_getfd`, which root may do): the listener (`bind ... backlog defer-accept mss tfo
//! tcp-ut interface transparent`, `option nolinger`, the quick ACKs `option tcp-smart-accept`
//! turns off in `mode http`), the client's connection (`option tcpka`, `clitcpka-*`,
//! `tune.rcvbuf|sndbuf.client`) and the connection to the server (`srvtcpka-*`,
//! `tune.rcvbuf|sndbuf.server`, `server ... tcp-ut`). Then `tune.bufsize` with `tune.maxrewrite`:
//! the largest request head each takes is the same. Fails (never skips) without `haproxy` or
//! `ss`.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock"
)]

mod gateway_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::OwnedFd;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gateway_support::{Conn, GatewayProc, IO_TIMEOUT, ThreadServer, local};
use nix::sys::socket::getsockopt;
use nix::{getsockopt_impl, sockopt_impl};
use rustix::process::{Pid, PidfdFlags, PidfdGetfdFlags, pidfd_getfd, pidfd_open};
use socket2::SockRef;
use spoe_interop::Haproxy;

// The two options socket2 cannot read, through nix's helper for them.
sockopt_impl!(
    DeferAccept,
    GetOnly,
    libc::IPPROTO_TCP,
    libc::TCP_DEFER_ACCEPT,
    usize
);
sockopt_impl!(
    FastOpen,
    GetOnly,
    libc::IPPROTO_TCP,
    libc::TCP_FASTOPEN,
    usize
);

/// Every socket of process `pid`, copied into this one.
fn sockets_of(pid: u32) -> Vec<OwnedFd> {
    let pidfd = pidfd_open(
        Pid::from_raw(i32::try_from(pid).expect("pid")).expect("a pid"),
        PidfdFlags::empty(),
    )
    .expect("pidfd_open");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).expect("its descriptors") {
        let entry = entry.expect("a descriptor");
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|l| l.to_string_lossy().starts_with("socket:"));
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        if is_socket && let Ok(copy) = pidfd_getfd(&pidfd, fd, PidfdGetfdFlags::empty()) {
            out.push(copy);
        }
    }
    out
}

/// The socket of one of `pids` that `wanted` picks.
fn socket_of(pids: &[u32], wanted: impl Fn(&SockRef<'_>) -> bool) -> OwnedFd {
    pids.iter()
        .flat_map(|pid| sockets_of(*pid))
        .find(|fd| wanted(&SockRef::from(fd)))
        .unwrap_or_else(|| panic!("no such socket in processes {pids:?}"))
}

fn local_of(s: &SockRef<'_>) -> Option<SocketAddr> {
    s.local_addr().ok()?.as_socket()
}

fn peer_of(s: &SockRef<'_>) -> Option<SocketAddr> {
    s.peer_addr().ok()?.as_socket()
}

/// What the test compares of a socket.
#[derive(Debug, PartialEq, Eq)]
struct Options {
    keepalive: bool,
    /// `TCP_KEEPCNT`, `TCP_KEEPIDLE`, `TCP_KEEPINTVL` (seconds).
    keep: (u32, u64, u64),
    linger: Option<Duration>,
    rcvbuf: usize,
    sndbuf: usize,
    user_timeout: Option<Duration>,
    mss: u32,
    defer_accept: usize,
    fast_open: usize,
    device: Option<Vec<u8>>,
    transparent: bool,
    quickack: bool,
}

fn options(fd: &OwnedFd) -> Options {
    let s = SockRef::from(fd);
    Options {
        keepalive: s.keepalive().expect("SO_KEEPALIVE"),
        keep: (
            s.tcp_keepalive_retries().expect("TCP_KEEPCNT"),
            s.tcp_keepalive_time().expect("TCP_KEEPIDLE").as_secs(),
            s.tcp_keepalive_interval().expect("TCP_KEEPINTVL").as_secs(),
        ),
        linger: s.linger().expect("SO_LINGER"),
        rcvbuf: s.recv_buffer_size().expect("SO_RCVBUF"),
        sndbuf: s.send_buffer_size().expect("SO_SNDBUF"),
        user_timeout: s.tcp_user_timeout().expect("TCP_USER_TIMEOUT"),
        mss: s.tcp_mss().expect("TCP_MAXSEG"),
        defer_accept: getsockopt(fd, DeferAccept).expect("TCP_DEFER_ACCEPT"),
        fast_open: getsockopt(fd, FastOpen).expect("TCP_FASTOPEN"),
        device: s.device().expect("SO_BINDTODEVICE"),
        transparent: s.ip_transparent_v4().expect("IP_TRANSPARENT"),
        quickack: s.tcp_quickack().expect("TCP_QUICKACK"),
    }
}

/// The listen queue of the listener on `port` (`ss`'s Send-Q of a listening socket).
fn backlog(port: u16) -> u32 {
    let out = Command::new("ss")
        .args(["-Hltn", &format!("sport = :{port}")])
        .output()
        .expect("ss (iproute2) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .next()
        .unwrap_or_else(|| panic!("no listener on {port}: {text}"));
    line.split_whitespace()
        .nth(2)
        .and_then(|q| q.parse().ok())
        .unwrap_or_else(|| panic!("no backlog in {line:?}"))
}

fn cfg(port: u16, server: SocketAddr) -> String {
    format!(
        "global\n    tune.rcvbuf.client 65536\n    tune.sndbuf.client 131072\n    \
         tune.rcvbuf.server 32768\n    tune.sndbuf.server 49152\n\
         defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    \
         timeout server 10s\n    option tcpka\n    option nolinger\n\
         frontend fe\n    bind 127.0.0.1:{port} backlog 77 defer-accept mss 1300 tfo tcp-ut 7s \
         interface lo transparent\n    clitcpka-cnt 4\n    clitcpka-idle 61\n    \
         clitcpka-intvl 17\n    default_backend be\n\
         backend be\n    srvtcpka-cnt 5\n    srvtcpka-idle 71s\n    srvtcpka-intvl 19\n    \
         option tcp-smart-connect\n    server s1 {server} tcp-ut 9s\n"
    )
}

/// A server answering every request `200` on a connection it keeps open, noting from where
/// each connection came.
fn server(peers: Arc<Mutex<Vec<SocketAddr>>>) -> ThreadServer {
    ThreadServer::start(move |mut sock: TcpStream| {
        if let Ok(peer) = sock.peer_addr() {
            peers.lock().expect("peers").push(peer);
        }
        let mut buf = [0u8; 4096];
        let mut head = Vec::new();
        while let Ok(n) = sock.read(&mut buf) {
            if n == 0 {
                return;
            }
            head.extend_from_slice(&buf[..n]);
            if head.windows(4).any(|w| w == b"\r\n\r\n") {
                head.clear();
                if sock
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .is_err()
                {
                    return;
                }
            }
        }
    })
}

/// The listener's, the client connection's and the server connection's options in processes
/// `pids` listening on `port`, with a request answered on a connection kept open meanwhile.
fn read_back(pids: &[u32], port: u16, peers: &Mutex<Vec<SocketAddr>>) -> [Options; 3] {
    let listener = socket_of(pids, |s| {
        local_of(s) == Some(local(port)) && s.is_listener().unwrap_or(false)
    });
    let mut conn = Conn::connect(local(port)).expect("connect");
    let resp = conn.request("GET", "/", &[], b"").expect("an answer");
    assert_eq!(resp.status, 200);
    let mine = conn.stream.local_addr().expect("client address");
    let client = socket_of(pids, |s| peer_of(s) == Some(mine));
    let seen = peers.lock().expect("peers").clone();
    let to_server = socket_of(pids, |s| local_of(s).is_some_and(|a| seen.contains(&a)));
    [options(&listener), options(&client), options(&to_server)]
}

#[test]
fn sockets_have_the_options_haproxy_gives_them() {
    let peers = Arc::new(Mutex::new(Vec::new()));
    let backend = server(peers.clone());
    let (haproxy, hap_port) = Haproxy::start_on_port(|p| cfg(p, backend.addr), &[]);
    let mut hap_pids = haproxy.worker_pids();
    hap_pids.push(haproxy.pid());
    let hap = read_back(&hap_pids, hap_port, &peers);
    let hap_backlog = backlog(hap_port);
    peers.lock().expect("peers").clear();
    let (gateway, gw_addr) = GatewayProc::start_on_port(|p| cfg(p, backend.addr), &[]);
    let gw = read_back(&[gateway.child.id()], gw_addr.port(), &peers);
    let gw_backlog = backlog(gw_addr.port());

    // What the file asks for, as HAProxy set it: the test reads what it means to read.
    let [listener, client, to_server] = &hap;
    assert_eq!(hap_backlog, 77);
    assert_eq!(listener.defer_accept, 1);
    assert_eq!(listener.fast_open, 77);
    assert_eq!(listener.mss, 1300);
    assert_eq!(listener.user_timeout, Some(Duration::from_secs(7)));
    assert_eq!(listener.device.as_deref(), Some(b"lo".as_slice()));
    assert!(listener.transparent);
    assert_eq!(listener.linger, Some(Duration::ZERO));
    assert!(!listener.quickack, "tcp-smart-accept is on in mode http");
    assert!(client.keepalive);
    assert_eq!(client.keep, (4, 61, 17));
    assert_eq!(client.linger, Some(Duration::ZERO));
    assert!(to_server.keepalive);
    assert_eq!(to_server.keep, (5, 71, 19));
    assert_eq!(to_server.user_timeout, Some(Duration::from_secs(9)));
    // The kernel doubles what it is given.
    assert_eq!((client.rcvbuf, client.sndbuf), (2 * 65536, 2 * 131072));
    assert_eq!((to_server.rcvbuf, to_server.sndbuf), (2 * 32768, 2 * 49152));

    assert_eq!(gw_backlog, hap_backlog);
    let names = ["listener", "client connection", "server connection"];
    let mut gw = gw;
    // `option nolinger` and `tcp-smart-connect` on a server connection: HAProxy turns
    // lingering off as it closes it and quick ACKs off as it sends the request (the kernel
    // turns them back on after), the gateway both once connected: the same close, the same
    // first ACK; a connection idle in the pool reads differently meanwhile.
    assert_eq!(gw[2].linger, Some(Duration::ZERO));
    gw[2].linger = hap[2].linger;
    gw[2].quickack = hap[2].quickack;
    for ((name, h), g) in names.iter().zip(&hap).zip(&gw) {
        assert_eq!(
            g, h,
            "{name}: the gateway's (left) and HAProxy's (right) differ"
        );
    }
    drop((haproxy, gateway));
}

/// The status of a `GET /` whose one `X-Pad` header is `pad` bytes long, at `addr`.
fn padded(addr: SocketAddr, pad: usize) -> u16 {
    let mut conn = Conn::connect(addr).expect("connect");
    let head = format!(
        "GET / HTTP/1.1\r\nhost: x\r\nx-pad: {}\r\n\r\n",
        "a".repeat(pad)
    );
    conn.send_raw(head.as_bytes()).expect("send");
    conn.read_response().map_or(0, |r| r.status)
}

#[test]
fn the_largest_head_is_the_same_as_haproxys() {
    let cfg = |port: u16| {
        format!(
            "global\n    tune.bufsize 8192\n    tune.maxrewrite 1500\n    tune.http.maxhdr 20\n\
             defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    \
             timeout server 5s\n\
             frontend fe\n    bind 127.0.0.1:{port}\n    http-request return status 200\n"
        )
    };
    let (_haproxy, hap_port) = Haproxy::start_on_port(cfg, &[]);
    let (_gateway, gw_addr) = GatewayProc::start_on_port(cfg, &[]);
    // The largest pad HAProxy takes.
    let (mut ok, mut refused) = (0usize, 8192usize);
    while ok + 1 < refused {
        let mid = usize::midpoint(ok, refused);
        if padded(local(hap_port), mid) == 200 {
            ok = mid;
        } else {
            refused = mid;
        }
    }
    assert!(ok > 6000, "{ok}");
    for pad in [ok - 100, ok, ok + 1, ok + 500] {
        assert_eq!(
            padded(gw_addr, pad),
            padded(local(hap_port), pad),
            "a head with {pad} bytes of pad"
        );
    }
    // `tune.http.maxhdr 20`: 19 lines are taken, 20 are not (HAProxy says 400, the gateway
    // 431: the README's table says so).
    let lines = |addr: SocketAddr, n: usize| {
        let mut conn = Conn::connect(addr).expect("connect");
        let extra: String = (1..n).map(|i| format!("x-h{i}: v\r\n")).collect();
        conn.send_raw(format!("GET / HTTP/1.1\r\nhost: x\r\n{extra}\r\n").as_bytes())
            .expect("send");
        conn.stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .expect("timeout");
        conn.read_response().map_or(0, |r| r.status)
    };
    assert_eq!(lines(local(hap_port), 19), 200);
    assert_eq!(lines(gw_addr, 19), 200);
    assert_eq!(lines(local(hap_port), 20), 400);
    assert_eq!(lines(gw_addr, 20), 431);
}

/// The largest TLS application-data record (its length on the wire) `openssl s_client`
/// receives from `port` for a `GET /`.
fn largest_record(port: u16) -> usize {
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-servername", "www.example", "-msg", "-ign_eof"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("openssl runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .expect("request");
    let out = child.wait_with_output().expect("openssl ends");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let mut largest = 0;
    while let Some(line) = lines.next() {
        if !(line.starts_with("<<<") && line.contains("RecordHeader")) {
            continue;
        }
        let bytes: Vec<u8> = lines
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|b| u8::from_str_radix(b, 16).ok())
            .collect();
        if let [0x17, _, _, hi, lo] = bytes[..] {
            largest = largest.max(usize::from(hi) << 8 | usize::from(lo));
        }
    }
    largest
}

#[test]
fn tls_records_are_as_small_as_hard_maxrecord_says() {
    let mut pki = spoe_interop::pki::TestPki::new();
    let pem = pki.server("www.pem", &["www.example"]);
    let body = "a".repeat(6000);
    let cfg = |port: u16| {
        format!(
            "global\n    tune.ssl.hard-maxrecord 1000\n    tune.ssl.cachesize 0\n\
             defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    \
             timeout server 5s\n\
             frontend fe\n    bind 127.0.0.1:{port} ssl crt {}\n    \
             http-request return status 200 content-type text/plain string {body}\n",
            pem.display(),
        )
    };
    let (_haproxy, hap_port) = Haproxy::start_on_port(cfg, &[]);
    let (_gateway, gw_addr) = GatewayProc::start_on_port(cfg, &[]);
    // At most 1000 bytes of plaintext, a TLS 1.3 record's type byte and 16-byte tag (HAProxy
    // cuts where its buffer wraps too: close to the bound, not always at it); without the
    // bound, the 6000 bytes would fit one record.
    let hap = largest_record(hap_port);
    let gw = largest_record(gw_addr.port());
    assert!(
        (900..=1017).contains(&hap),
        "HAProxy's largest record: {hap}"
    );
    assert!(
        (900..=1017).contains(&gw),
        "the gateway's largest record: {gw}"
    );
}

/// How many of `n` clients connecting to `addr` at once have their answer within `soon`, and
/// whether all have it within `late`.
fn answered(addr: SocketAddr, n: usize, soon: Duration, late: Duration) -> (usize, bool) {
    let start = std::time::Instant::now();
    let clients: Vec<_> = (0..n)
        .map(|_| {
            std::thread::spawn(move || {
                let mut conn = Conn::connect(addr).ok()?;
                conn.stream.set_read_timeout(Some(late)).ok()?;
                let resp = conn.request("GET", "/", &[], b"").ok()?;
                (resp.status == 200).then(|| start.elapsed())
            })
        })
        .collect();
    let times: Vec<Option<Duration>> = clients
        .into_iter()
        .map(|c| c.join().expect("client thread"))
        .collect();
    let early = times.iter().flatten().filter(|t| **t < soon).count();
    let all = times.iter().all(|t| t.is_some_and(|t| t < late));
    (early, all)
}

#[test]
fn maxconnrate_paces_accepts_as_haproxy() {
    let cfg = |port: u16| {
        format!(
            "global\n    maxconnrate 5\n\
             defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    \
             timeout server 10s\n\
             frontend fe\n    bind 127.0.0.1:{port}\n    http-request return status 200\n"
        )
    };
    let (_haproxy, hap_port) = Haproxy::start_on_port(cfg, &[]);
    let (_gateway, gw_addr) = GatewayProc::start_on_port(cfg, &[]);
    // Fifteen clients at once: some five are served at once, the others as the rate allows
    // (about five a second; HAProxy's seconds need not start with the burst, hence the slack).
    // Without a bound, all fifteen are served at once.
    for (who, addr) in [("HAProxy", local(hap_port)), ("the gateway", gw_addr)] {
        let (early, all) = answered(addr, 15, Duration::from_millis(500), Duration::from_secs(8));
        assert!((1..=10).contains(&early), "{who} served {early} in 500 ms");
        assert!(all, "{who} did not serve every client");
    }
}
