//! Differential test of the protocol health checks: `option redis-check` against a real
//! `redis-server`, and `option mysql-check user U`, `pgsql-check user U`, `smtpchk EHLO D`,
//! `ldap-check` and `ssl-hello-chk` against small listeners that keep the bytes they receive
//! and answer as a healthy or a failing server of that protocol. The same `haproxy.cfg` runs in
//! HAProxy 2.6 and in `spoe gateway`, each with its own listeners (and the same redis): both
//! must send the same bytes (the SSL hello's time aside) and log the same state changes, in
//! HAProxy's words ("Server my/s1 is DOWN, reason: Layer7 wrong status, code: 1045, info:
//! ...").
//!
//! Fails (never skips) when `haproxy` or `redis-server` is missing.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock"
)]

mod gateway_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gateway_support::{ChildGuard, GatewayProc, IO_TIMEOUT, PortTaken, ThreadServer, wait_until};
use spoe_interop::Haproxy;

/// How long a state change may take to show (checks run every 100 ms).
const CHANGE: Duration = Duration::from_secs(10);

/// A protocol's server as the test plays it: what it writes on connect, then for each
/// request of the check, its length and the answer.
#[derive(Clone, Copy)]
struct Play {
    greeting: &'static [u8],
    exchanges: &'static [(usize, &'static [u8])],
}

/// One emulated server: plays `healthy` or `failing` as the switch says, and keeps the first
/// request it received.
struct Emulated {
    server: ThreadServer,
    fail: Arc<AtomicBool>,
    first: Arc<Mutex<Option<Vec<u8>>>>,
}

impl Emulated {
    fn start(healthy: Play, failing: Play) -> Self {
        let fail = Arc::new(AtomicBool::new(false));
        let first = Arc::new(Mutex::new(None));
        let (switch, seen) = (fail.clone(), first.clone());
        let server = ThreadServer::start(move |mut sock: TcpStream| {
            let play = if switch.load(Ordering::SeqCst) {
                failing
            } else {
                healthy
            };
            let _ = sock.set_read_timeout(Some(IO_TIMEOUT));
            if sock.write_all(play.greeting).is_err() {
                return;
            }
            let mut chunk = [0u8; 1024];
            for (request_len, reply) in play.exchanges {
                let mut got = Vec::new();
                while got.len() < *request_len {
                    match sock.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&chunk[..n]),
                    }
                }
                seen.lock().unwrap().get_or_insert(got);
                if sock.write_all(reply).is_err() {
                    return;
                }
            }
            // Until the checker closes.
            while matches!(sock.read(&mut chunk), Ok(n) if n > 0) {}
        });
        Self {
            server,
            fail,
            first,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    fn first_request(&self) -> Option<Vec<u8>> {
        self.first.lock().unwrap().clone()
    }
}

const MYSQL_HANDSHAKE: &[u8] = b"\x0d\x00\x00\x00\x0a8.0.35\x00\x01\x00\x00\x00\x00";
/// `option mysql-check user haproxy`'s login and `COM_QUIT`.
const MYSQL_LOGIN: usize = 4 + 34 + "haproxy".len() + 5;
const PGSQL_STARTUP: usize = 15 + "postgres".len();
const EHLO: usize = "EHLO check.example\r\n".len();
const SSL_HELLO: usize = 5 + 0x79;

/// The protocols, each as (backend, option line, healthy play, failing play).
fn protocols() -> Vec<(&'static str, &'static str, Play, Play)> {
    let play = |greeting, exchanges| Play {
        greeting,
        exchanges,
    };
    vec![
        (
            "my",
            "option mysql-check user haproxy",
            play(
                MYSQL_HANDSHAKE,
                &[(MYSQL_LOGIN, b"\x07\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00")],
            ),
            play(
                MYSQL_HANDSHAKE,
                &[(
                    MYSQL_LOGIN,
                    b"\x1f\x00\x00\x02\xff\x15\x04#28000Access denied for user",
                )],
            ),
        ),
        (
            "pg",
            "option pgsql-check user postgres",
            play(
                b"",
                &[(PGSQL_STARTUP, b"R\x00\x00\x00\x08\x00\x00\x00\x00")],
            ),
            play(
                b"",
                &[(
                    PGSQL_STARTUP,
                    b"E\x00\x00\x00\x2aSFATAL\x00C28000\x00Mno such role\x00\x00",
                )],
            ),
        ),
        (
            "mx",
            "option smtpchk EHLO check.example",
            play(
                b"220 mx.example ESMTP\r\n",
                &[
                    (EHLO, b"250-mx.example greets you\r\n250 8BITMIME\r\n"),
                    (6, b"221 2.0.0 Bye\r\n"),
                ],
            ),
            play(b"421 4.3.2 mx.example too busy\r\n", &[]),
        ),
        (
            "ldap",
            "option ldap-check",
            play(
                b"",
                &[(
                    14,
                    b"\x30\x0c\x02\x01\x01\x61\x07\x0a\x01\x00\x04\x00\x04\x00",
                )],
            ),
            play(
                b"",
                &[(
                    14,
                    b"\x30\x0c\x02\x01\x01\x61\x07\x0a\x01\x31\x04\x00\x04\x00",
                )],
            ),
        ),
        (
            "tls",
            "option ssl-hello-chk",
            // A handshake failure alert: the server speaks TLS.
            play(b"", &[(SSL_HELLO, b"\x15\x03\x00\x00\x02\x02\x28")]),
            play(b"", &[(SSL_HELLO, b"HTTP/1.1 400 Bad Request\r\n\r\n")]),
        ),
    ]
}

fn config(port: u16, redis: SocketAddr, servers: &[(&str, &str, SocketAddr)]) -> String {
    let mut cfg = format!(
        "global
    log stderr format short local0 info
defaults
    mode http
    log global
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    timeout check 500ms
    default-server inter 100ms rise 1 fall 1
frontend fe
    bind 127.0.0.1:{port}
    default_backend redis
backend redis
    option redis-check
    server s1 {redis} check
"
    );
    for (backend, option, addr) in servers {
        cfg.push_str(&format!(
            "backend {backend}\n    {option}\n    server s1 {addr} check\n"
        ));
    }
    cfg
}

/// The state-change lines of a log, as the `log` lines say them with their level (HAProxy
/// also writes each on its own stderr, the gateway through its tracing), the check durations
/// blanked.
fn changes(log: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in log.lines() {
        if !line.starts_with('<') {
            continue;
        }
        let Some(at) = line.find("Server ") else {
            continue;
        };
        let Some(end) = line[at..].find(" in queue.") else {
            continue;
        };
        let text = &line[at..at + end + 10];
        out.push(match text.split_once("check duration: ") {
            Some((a, b)) => {
                let rest = b.trim_start_matches(|c: char| c.is_ascii_digit());
                format!("{a}check duration: N{rest}")
            }
            None => text.to_owned(),
        });
    }
    out
}

/// A `redis-server` on a TCP port of loopback, killed on drop.
struct RedisTcp {
    _child: ChildGuard,
    _dir: tempfile::TempDir,
    addr: SocketAddr,
}

impl RedisTcp {
    fn start() -> Self {
        let (redis, _) = spoe_interop::claim_port(Self::try_start);
        redis
    }

    fn try_start(port: u16) -> Result<Self, PortTaken> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let log = std::fs::File::create(dir.path().join("redis.log")).expect("redis log");
        let mut child = ChildGuard::spawn(
            Command::new("redis-server")
                .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .args(["--port", &port.to_string()])
                .arg("--dir")
                .arg(dir.path())
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("dup"))
                .stderr(log),
        )
        .expect("redis-server is missing: ./test.sh installs it (apt-get install redis-server)");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let up = wait_until(CHANGE, || {
            matches!(child.try_wait(), Ok(Some(_))) || redis_command(addr, "PING") == "+PONG"
        });
        if matches!(child.try_wait(), Ok(Some(_))) {
            let log = std::fs::read_to_string(dir.path().join("redis.log")).unwrap_or_default();
            assert!(log.contains("in use"), "redis-server failed:\n{log}");
            return Err(PortTaken);
        }
        assert!(up, "redis-server did not answer PING on {addr}");
        Ok(Self {
            _child: child,
            _dir: dir,
            addr,
        })
    }
}

/// Redis's answers to inline commands (one a line), one line each (empty on failure).
fn redis_command(addr: SocketAddr, commands: &str) -> String {
    let Ok(mut sock) = TcpStream::connect_timeout(&addr, IO_TIMEOUT) else {
        return String::new();
    };
    let _ = sock.set_read_timeout(Some(IO_TIMEOUT));
    if sock
        .write_all(format!("{commands}\r\n").as_bytes())
        .is_err()
    {
        return String::new();
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while got.iter().filter(|&&b| b == b'\n').count() < commands.lines().count() {
        match sock.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got).trim_end().to_owned()
}

#[test]
fn protocol_checks_send_haproxys_bytes_and_judge_answers_as_haproxy() {
    let redis = RedisTcp::start();
    let start = || -> Vec<Emulated> {
        protocols()
            .into_iter()
            .map(|(_, _, ok, bad)| Emulated::start(ok, bad))
            .collect()
    };
    let (hx_servers, gw_servers) = (start(), start());
    let lines = |servers: &[Emulated]| -> Vec<(&str, &str, SocketAddr)> {
        protocols()
            .into_iter()
            .zip(servers)
            .map(|((backend, option, _, _), s)| (backend, option, s.addr()))
            .collect()
    };
    let (hx, _) = Haproxy::start_on_port(|port| config(port, redis.addr, &lines(&hx_servers)), &[]);
    let (gw, _) =
        GatewayProc::start_on_port(|port| config(port, redis.addr, &lines(&gw_servers)), &[]);
    let both = |what: &str, cond: &dyn Fn(&str) -> bool| {
        gateway_support::wait_both_logs(CHANGE, what, || hx.log(), || gw.log(), cond);
    };
    let count = |log: &str, text: &str| changes(log).iter().filter(|l| l.contains(text)).count();

    // The same bytes on the wire (the SSL hello's Unix time, bytes 11 to 14, aside).
    assert!(
        wait_until(CHANGE, || hx_servers
            .iter()
            .chain(&gw_servers)
            .all(|s| s.first_request().is_some())),
        "a check request did not arrive"
    );
    for ((backend, ..), (hx_s, gw_s)) in protocols().iter().zip(hx_servers.iter().zip(&gw_servers))
    {
        let (mut h, mut g) = (
            hx_s.first_request().unwrap_or_default(),
            gw_s.first_request().unwrap_or_default(),
        );
        if *backend == "tls" {
            for req in [&mut h, &mut g] {
                if let Some(time) = req.get_mut(11..15) {
                    time.fill(0);
                }
            }
        }
        assert_eq!(
            g, h,
            "{backend}: the check's bytes differ (left: the gateway's)"
        );
    }
    // Healthy: no change logged.
    assert!(changes(&hx.log()).is_empty(), "{}", hx.log());
    assert!(changes(&gw.log()).is_empty(), "{}", gw.log());

    // Every server fails: redis asks for a password (its `-NOAUTH` does not end the
    // connection, so the check times out), the others answer as failing servers.
    assert_eq!(
        redis_command(redis.addr, "CONFIG SET requirepass secret"),
        "+OK"
    );
    for s in hx_servers.iter().chain(&gw_servers) {
        s.fail.store(true, Ordering::SeqCst);
    }
    both("every server DOWN", &|l| {
        changes(l).iter().filter(|c| c.contains(" is DOWN")).count() == 6
    });
    // And back.
    let unset = "AUTH secret\r\nCONFIG SET requirepass \"\"";
    assert_eq!(redis_command(redis.addr, unset), "+OK\r\n+OK");
    for s in hx_servers.iter().chain(&gw_servers) {
        s.fail.store(false, Ordering::SeqCst);
    }
    both("every server UP", &|l| {
        changes(l).iter().filter(|c| c.contains(" is UP")).count() == 6
    });

    // The same lines, backend by backend (the counts in them are each backend's own).
    for backend in ["redis", "my", "pg", "mx", "ldap", "tls"] {
        let of = |log: &str| -> Vec<String> {
            changes(log)
                .into_iter()
                .filter(|l| l.starts_with(&format!("Server {backend}/")))
                .collect()
        };
        assert_eq!(
            of(&gw.log()),
            of(&hx.log()),
            "{backend}: left: the gateway's"
        );
        assert_eq!(count(&hx.log(), &format!("Server {backend}/s1 is")), 2);
    }
}
