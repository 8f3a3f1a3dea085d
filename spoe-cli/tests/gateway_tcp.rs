//! `mode tcp` against HAProxy 2.6: the same configuration (a tcp frontend routing by `dst` with
//! `use_backend ... if`, `option tcplog`, `retries`, `timeout server`) and the same connections
//! through both proxies. Each client must get the same bytes back, and each access line must say
//! what HAProxy's says: frontend, backend/server, bytes, termination state, retries, and which
//! timers ran.
//!
//! The connections: an upper-casing echo the client half-closes (its FIN is forwarded, the
//! answer still comes back), a server that speaks first (an SMTP-like banner), a backend whose
//! server refuses (`SC` after one retry), and a server that holds the connection silent past
//! `timeout server` (`sD`). Then a reload while a connection is open: the connection carries on
//! on both proxies.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock, and spawn helpers that end with the test"
)]

mod gateway_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use gateway_support::{GatewayProc, RefusedPort, ThreadServer, wait_until};
use spoe_interop::Haproxy;

/// The servers behind both proxies.
struct Servers {
    echo: SocketAddr,
    banner: SocketAddr,
    dead: SocketAddr,
    silent: SocketAddr,
}

fn config(port: u16, s: &Servers) -> String {
    let Servers {
        echo,
        banner,
        dead,
        silent,
    } = s;
    format!(
        r"global
    log stdout format raw local0
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    retries 1
frontend fe
    bind 127.0.0.1:{port}
    bind 127.0.0.2:{port}
    bind 127.0.0.3:{port}
    bind 127.0.0.4:{port}
    use_backend banner if {{ dst 127.0.0.2 }}
    use_backend dead if {{ dst 127.0.0.3 }}
    use_backend silent if {{ dst 127.0.0.4 }}
    default_backend echo
backend echo
    balance roundrobin
    server e1 {echo}
backend banner
    server b1 {banner} maxconn 10
backend dead
    server d1 {dead}
backend silent
    timeout server 500ms
    server s1 {silent}
"
    )
}

/// Reads what the client sends until its FIN, answers it upper-cased, closes.
fn echo(mut sock: TcpStream) {
    let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
    let mut got = Vec::new();
    let _ = sock.read_to_end(&mut got);
    let _ = sock.write_all(&got.to_ascii_uppercase());
}

/// Speaks first, answers `QUIT`, closes (an SMTP server's shape).
fn banner(mut sock: TcpStream) {
    let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = sock.write_all(b"220 ready\r\n");
    let mut line = String::new();
    let _ = BufReader::new(&sock).read_line(&mut line);
    if line == "QUIT\r\n" {
        let _ = sock.write_all(b"221 bye\r\n");
    }
}

/// Holds the connection without a byte until the client goes.
fn silent(mut sock: TcpStream) {
    let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = sock.read_to_end(&mut Vec::new());
}

fn connect(ip: [u8; 4], port: u16) -> TcpStream {
    let s = TcpStream::connect(SocketAddr::from((ip, port))).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

fn read_all(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// Each connection of the scenario, in order: what the client got.
fn scenario(port: u16) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    // A half-closed echo.
    let mut c = connect([127, 0, 0, 1], port);
    c.write_all(b"hello tcp").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    got.push(read_all(&mut c));
    // The server speaks first.
    let mut c = connect([127, 0, 0, 2], port);
    let mut first = [0u8; 11];
    c.read_exact(&mut first).unwrap();
    c.write_all(b"QUIT\r\n").unwrap();
    let mut rest = read_all(&mut c);
    let mut all = first.to_vec();
    all.append(&mut rest);
    got.push(all);
    // No server: closed without a byte.
    let mut c = connect([127, 0, 0, 3], port);
    got.push(read_all(&mut c));
    // `timeout server`: closed after 500ms.
    let mut c = connect([127, 0, 0, 4], port);
    got.push(read_all(&mut c));
    got
}

/// The access lines (`option tcplog` with `format raw`: the line alone).
fn access_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("127.0.0.1:") && l.contains(" fe "))
        .map(str::to_owned)
        .collect()
}

/// What must agree in a tcplog line: frontend, backend/server, which of `%Tw/%Tc` ran, bytes,
/// termination state, `%bc/%sc/%rc`, and the shape of the date. `%ac/%fc` are left out: they
/// count the connections open anywhere at the instant the line is written, and the client
/// opens the next connection as soon as it sees the previous one end, which either proxy may
/// still count then (HAProxy logged 3/3 and 1/1 for the same step in different runs).
fn essence(line: &str) -> Vec<String> {
    let f: Vec<&str> = line.split(' ').collect();
    assert_eq!(f.len(), 9, "a tcplog line has 9 fields: {line}");
    let timers: Vec<&str> = f[4].split('/').collect();
    let ran = |t: &str| if t == "-1" { "-1" } else { "ran" };
    let date_shape: String = f[1]
        .chars()
        .map(|c| if c.is_ascii_digit() { '9' } else { c })
        .collect();
    vec![
        date_shape,
        f[2].to_owned(),
        f[3].to_owned(),
        format!("{}/{}", ran(timers[0]), ran(timers[1])),
        f[5].to_owned(),
        f[6].to_owned(),
        f[7].splitn(3, '/').nth(2).unwrap_or_default().to_owned(),
        f[8].to_owned(),
    ]
}

#[test]
fn tcp_connections_get_haproxys_bytes_and_access_lines() {
    let echo_server = ThreadServer::start(echo);
    let banner_server = ThreadServer::start(banner);
    let silent_server = ThreadServer::start(silent);
    let dead = RefusedPort::new();
    let servers = Servers {
        echo: echo_server.addr,
        banner: banner_server.addr,
        dead: dead.addr(),
        silent: silent_server.addr,
    };
    let (haproxy, hap_port) = Haproxy::start_on_port(|port| config(port, &servers), &[]);
    let (gateway, gw) = GatewayProc::start_on_port(|port| config(port, &servers), &[]);
    let gw_out = || gateway.out();

    let hap_got = scenario(hap_port);
    let gw_got = scenario(gw.port());
    assert_eq!(
        hap_got[0], b"HELLO TCP",
        "haproxy forwards the FIN and the answer"
    );
    assert_eq!(hap_got[1], b"220 ready\r\n221 bye\r\n");
    let text = |v: &[Vec<u8>]| -> Vec<String> {
        v.iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect()
    };
    assert_eq!(text(&gw_got), text(&hap_got), "what each client got");

    let n = 4;
    let logged = wait_until(Duration::from_secs(10), || {
        access_lines(&haproxy.log()).len() >= n && access_lines(&gw_out()).len() >= n
    });
    let (hap_lines, gw_lines) = (access_lines(&haproxy.log()), access_lines(&gw_out()));
    assert!(
        logged,
        "access lines: haproxy {}, gateway {} (of {n})\n--- haproxy:\n{}\n--- gateway stdout:\n{}\n--- gateway stderr:\n{}",
        hap_lines.len(),
        gw_lines.len(),
        haproxy.log(),
        gw_out(),
        gateway.log()
    );
    for (hap, gw) in hap_lines.iter().zip(&gw_lines) {
        assert_eq!(essence(gw), essence(hap), "\nhaproxy: {hap}\ngateway: {gw}");
    }
    let terms: Vec<String> = gw_lines.iter().map(|l| essence(l)[5].clone()).collect();
    // The banner's client never closes its side: its connection ends last, on both proxies.
    assert_eq!(terms, ["--", "SC", "sD", "--"]);
}

#[test]
fn a_tcp_connection_open_across_a_reload_carries_on() {
    let banner_server = ThreadServer::start(banner);
    let dead = RefusedPort::new();
    let servers = Servers {
        echo: banner_server.addr,
        banner: banner_server.addr,
        dead: dead.addr(),
        silent: banner_server.addr,
    };
    let (mut haproxy, hap_port) = Haproxy::start_on_port(|port| config(port, &servers), &[]);
    let (gateway, gw) = GatewayProc::start_on_port(|port| config(port, &servers), &[]);
    for (name, port) in [("haproxy", hap_port), ("gateway", gw.port())] {
        let mut c = connect([127, 0, 0, 2], port);
        let mut first = [0u8; 11];
        c.read_exact(&mut first).unwrap();
        if name == "haproxy" {
            haproxy.reload();
        } else {
            gateway.reload();
        }
        c.write_all(b"QUIT\r\n").unwrap();
        assert_eq!(
            read_all(&mut c),
            b"221 bye\r\n",
            "{name}: the connection went on after the reload\n{}",
            gateway.log()
        );
    }
}

/// SNI routing of TLS pass-through, content and connection rules: HAProxy's documented
/// pattern, on both proxies.
fn sni_config(port: u16, db: SocketAddr, web: SocketAddr) -> String {
    format!(
        r"global
    log stdout format raw local0
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 1s
    timeout client 10s
    timeout server 10s
frontend sni
    bind 127.0.0.1:{port}
    bind 127.0.0.5:{port}
    tcp-request connection reject if {{ dst 127.0.0.5 }}
    tcp-request inspect-delay 5s
    tcp-request content accept if {{ req.ssl_hello_type 1 }}
    tcp-request content reject
    use_backend db if {{ req.ssl_sni -i db.example.org }}
    default_backend web
backend db
    server d1 {db}
backend web
    server w1 {web}
"
    )
}

/// A TLS 1.2 ClientHello for `name` (one cipher, the `server_name` extension).
fn client_hello(name: &str) -> Vec<u8> {
    let n = u16::try_from(name.len()).unwrap();
    let mut ext = vec![0x00, 0x00];
    ext.extend_from_slice(&(n + 5).to_be_bytes());
    ext.extend_from_slice(&(n + 3).to_be_bytes());
    ext.push(0);
    ext.extend_from_slice(&n.to_be_bytes());
    ext.extend_from_slice(name.as_bytes());
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[7; 32]);
    body.extend_from_slice(&[0, 0x00, 0x02, 0xc0, 0x2f, 0x01, 0x00]);
    body.extend_from_slice(&u16::try_from(ext.len()).unwrap().to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![0x01, 0x00];
    hs.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    hs.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&u16::try_from(hs.len()).unwrap().to_be_bytes());
    record.extend_from_slice(&hs);
    record
}

/// A server that reads one TLS record, records it, answers its own name and waits for the
/// client's close.
fn named(name: &'static str, seen: std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>) -> ThreadServer {
    ThreadServer::start(move |mut sock: TcpStream| {
        let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
        let mut head = [0u8; 5];
        if sock.read_exact(&mut head).is_err() {
            return;
        }
        let mut rest = vec![0u8; usize::from(u16::from_be_bytes([head[3], head[4]]))];
        let _ = sock.read_exact(&mut rest);
        let mut record = head.to_vec();
        record.append(&mut rest);
        seen.lock().unwrap().push(record);
        let _ = sock.write_all(name.as_bytes());
        let _ = sock.shutdown(Shutdown::Write);
        let _ = sock.read_to_end(&mut Vec::new());
    })
}

/// `openssl s_client` with SNI `name` to `port`, until it gives up (the servers speak no TLS).
fn openssl_hello(port: u16, name: &str) {
    let mut child = spoe_interop::ChildGuard::spawn(
        std::process::Command::new("openssl")
            .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
            .args(["-servername", name])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    )
    .expect("openssl (test.sh installs it)");
    let done = child.wait_timeout(Duration::from_secs(10)).unwrap();
    assert!(done.is_some(), "openssl s_client did not end");
}

#[test]
fn sni_routing_and_tcp_request_rules_as_haproxy() {
    use std::sync::{Arc, Mutex};
    let seen_db = Arc::new(Mutex::new(Vec::new()));
    let seen_web = Arc::new(Mutex::new(Vec::new()));
    let db = named("db\n", seen_db.clone());
    let web = named("web\n", seen_web.clone());
    let (haproxy, hap_port) = Haproxy::start_on_port(|p| sni_config(p, db.addr, web.addr), &[]);
    let (gateway, gw) = GatewayProc::start_on_port(|p| sni_config(p, db.addr, web.addr), &[]);
    let gw_out = || gateway.out();
    let mut answers = Vec::new();
    for port in [hap_port, gw.port()] {
        // A real TLS client naming the database: routed to `db`.
        openssl_hello(port, "db.example.org");
        // Another name, sent in two pieces: the rules wait for the whole hello.
        let hello = client_hello("www.example.org");
        let mut c = connect([127, 0, 0, 1], port);
        c.write_all(&hello[..20]).unwrap();
        // The proxy read the first piece (and ran its rules on it) before the rest is sent.
        assert!(
            gateway_support::drained::read_by_peer(&c, Duration::from_secs(10)),
            "the proxy on port {port} never read the first piece of the hello"
        );
        c.write_all(&hello[20..]).unwrap();
        let mut answer = [0u8; 4];
        c.read_exact(&mut answer).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        answers.push(answer.to_vec());
        assert!(read_all(&mut c).is_empty());
        // Not TLS: rejected by the content rules.
        let mut c = connect([127, 0, 0, 1], port);
        c.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        answers.push(read_all(&mut c));
        // Rejected at accept: closed at once, no line.
        let mut c = connect([127, 0, 0, 5], port);
        answers.push(read_all(&mut c));
    }
    assert_eq!(answers[..3], answers[3..], "each client got the same");
    assert_eq!(answers[0], b"web\n");
    let db_names: Vec<bool> = seen_db
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.windows(14).any(|w| w == b"db.example.org"))
        .collect();
    assert_eq!(db_names, [true, true], "both proxies sent the hello to db");
    assert_eq!(seen_web.lock().unwrap().len(), 2);
    let lines = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.contains(" sni "))
            .map(str::to_owned)
            .collect()
    };
    let logged = wait_until(Duration::from_secs(10), || {
        lines(&haproxy.log()).len() >= 3 && lines(&gw_out()).len() >= 3
    });
    let (hap, ours) = (lines(&haproxy.log()), lines(&gw_out()));
    assert!(
        logged,
        "haproxy:\n{hap:#?}\ngateway:\n{ours:#?}\n{}",
        gateway.log()
    );
    let field = |l: &str, i: usize| l.split(' ').nth(i).unwrap_or_default().to_owned();
    // Sorted: a connection's line is written when both its sides closed, which may come
    // after the next connection's line.
    let routes = |ls: &[String]| -> Vec<(String, String)> {
        let mut r: Vec<(String, String)> = ls.iter().map(|l| (field(l, 3), field(l, 6))).collect();
        r.sort();
        r
    };
    assert_eq!(
        routes(&ours),
        routes(&hap),
        "haproxy:\n{hap:#?}\ngateway:\n{ours:#?}"
    );
    assert_eq!(
        routes(&ours),
        [
            ("db/d1".to_owned(), "--".to_owned()),
            ("sni/<NOSRV>".to_owned(), "PR".to_owned()),
            ("web/w1".to_owned(), "--".to_owned()),
        ]
    );
    // The rejected connection is counted, and only there.
    assert_eq!(lines(&gw_out()).len(), 3);
    let rejected = |ls: &[String]| ls.iter().find(|l| l.contains(" PR ")).map(|l| essence(l));
    assert_eq!(rejected(&ours), rejected(&hap));
}

/// A frontend without `mode` (HAProxy's default: tcp) in front of a `mode http` backend:
/// HAProxy upgrades the connection to HTTP, and so does the gateway.
#[test]
fn a_modeless_frontend_serves_its_http_backend_as_haproxy() {
    let app = gateway_support::Backend::start("app");
    let config = |port: u16| {
        format!(
            "defaults
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend plain
    bind 127.0.0.1:{port}
    default_backend app
backend app
    mode http
    server a1 {}
",
            app.addr
        )
    };
    let (_haproxy, hap_port) = Haproxy::start_on_port(config, &[]);
    let (_gateway, gw) = GatewayProc::start_on_port(config, &[]);
    let mut got = Vec::new();
    for port in [hap_port, gw.port()] {
        let r = gateway_support::get(gateway_support::local(port), "/hello", &[]).unwrap();
        got.push((r.status, String::from_utf8_lossy(&r.body).into_owned()));
    }
    assert_eq!(got[0], got[1], "haproxy, then the gateway");
    assert_eq!(got[0].0, 200);
    assert_eq!(app.count(), 2, "both requests reached the http backend");
}

/// `option tcp-check` on a tcp backend: a server its checks find down takes no connection,
/// on both proxies (a Patroni or Kubernetes pass-through file's shape).
#[test]
fn a_tcp_backend_checked_down_server_gets_no_connection() {
    let live = ThreadServer::start(echo);
    let dead = RefusedPort::new();
    let config = |port: u16| {
        format!(
            "defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    timeout check 1s
frontend fe
    bind 127.0.0.1:{port}
    default_backend pool
backend pool
    balance roundrobin
    option tcp-check
    server dead {} check inter 100ms fall 1 rise 1
    server live {} check inter 100ms fall 1 rise 1
",
            dead.addr(),
            live.addr
        )
    };
    let (haproxy, hap_port) = Haproxy::start_on_port(config, &[]);
    let (gateway, gw) = GatewayProc::start_on_port(config, &[]);
    // Both say so when their checks take the dead server down.
    let down = "Server pool/dead is DOWN";
    assert!(
        wait_until(Duration::from_secs(10), || {
            haproxy.log().contains(down) && gateway.log().contains(down)
        }),
        "haproxy:\n{}\ngateway:\n{}",
        haproxy.log(),
        gateway.log()
    );
    for (name, port) in [("haproxy", hap_port), ("gateway", gw.port())] {
        for i in 0..4 {
            let mut c = connect([127, 0, 0, 1], port);
            c.write_all(b"x").unwrap();
            c.shutdown(Shutdown::Write).unwrap();
            assert_eq!(read_all(&mut c), b"X", "{name}, connection {i}");
        }
    }
}
