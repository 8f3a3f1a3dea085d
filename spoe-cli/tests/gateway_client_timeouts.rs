//! Issue 19 §6: the client-side timeouts, side by side with HAProxy 2.6 on the same file and
//! bytes. `timeout client` caps the wait for a request head (`timeout http-request`) and for
//! the next request of a kept-alive connection (`timeout http-keep-alive`); a pipelined request
//! whose head stalls behind a slow one gets HAProxy's 408 at `timeout http-request` after the
//! first answer. Each case: what the client got (a 408 page or a silent close) and when.
//!
//! Times are timers firing, checked with wide margins: a timer never fires early (lower bound),
//! and the upper bound sits well below the longer timeout the cap must beat.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock, and spawn helpers that end with the test"
)]

mod gateway_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use gateway_support::{GatewayProc, local};
use spoe_interop::Haproxy;

/// How long the slow server takes to answer.
const SLOW: Duration = Duration::from_millis(1500);

/// A server answering each request `SLOW` after its head.
fn slow_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while let Ok(n) = c.read(&mut chunk) {
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        // The server's own answer time, what the test is about.
                        thread::sleep(SLOW);
                        let _ = c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nslow");
                    }
                }
            });
        }
    });
    addr
}

fn cfg(port: u16, timeouts: &str, server: SocketAddr) -> String {
    format!(
        "defaults\n    mode http\n{timeouts}    timeout server 10s\n    timeout connect 1s\n\
         frontend web\n    bind 127.0.0.1:{port}\n    \
         http-request return status 200 content-type text/plain string ok if {{ path /fast }}\n    \
         default_backend slow\nbackend slow\n    server s {server}\n"
    )
}

/// What a client saw: the statuses of the responses it read, in order, and when the
/// connection closed, measured from `from`.
#[derive(Debug)]
struct Seen {
    statuses: Vec<u16>,
    closed_after: Duration,
}

/// Sends `first`, waits `pause`, sends `then`, and reads until the connection closes.
fn session(addr: SocketAddr, first: &[u8], pause: Duration, then: &[u8]) -> Seen {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(first).unwrap();
    let mut from = Instant::now();
    let mut text = Vec::new();
    if !pause.is_zero() {
        // The first answer, then the pause (the client's own think time).
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).unwrap();
        text.extend_from_slice(&chunk[..n]);
        thread::sleep(pause);
        from = Instant::now();
    }
    s.write_all(then).unwrap();
    let mut chunk = [0u8; 4096];
    while let Ok(n) = s.read(&mut chunk) {
        if n == 0 {
            break;
        }
        text.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&text);
    Seen {
        statuses: text
            .match_indices("HTTP/1.1 ")
            .filter_map(|(i, _)| text.get(i + 9..i + 12)?.parse().ok())
            .collect(),
        closed_after: from.elapsed(),
    }
}

/// One case: its name, the frontend's timeouts, the client's bytes, and what must be seen:
/// the statuses and the window in which the connection closes.
struct Case {
    name: &'static str,
    timeouts: &'static str,
    first: &'static [u8],
    pause: Duration,
    then: &'static [u8],
    statuses: &'static [u16],
    closes: (Duration, Duration),
}

const CAPPED: &str =
    "    timeout client 1s\n    timeout http-request 6s\n    timeout http-keep-alive 6s\n";

fn cases() -> Vec<Case> {
    let s = Duration::from_secs;
    let ms = Duration::from_millis;
    vec![
        Case {
            name: "an idle kept-alive connection: timeout client caps http-keep-alive",
            timeouts: CAPPED,
            first: b"GET /fast HTTP/1.1\r\nhost: a\r\n\r\n",
            pause: ms(1),
            then: b"",
            statuses: &[200],
            closes: (ms(900), ms(4500)),
        },
        Case {
            name: "a head that stalls: timeout client caps http-request",
            timeouts: CAPPED,
            first: b"",
            pause: Duration::ZERO,
            then: b"GET /fast HTTP/1.1\r\nhost: a\r\nx-half: ",
            statuses: &[408],
            closes: (ms(900), ms(4500)),
        },
        Case {
            name: "a silent connection: timeout client caps http-request",
            timeouts: CAPPED,
            first: b"",
            pause: Duration::ZERO,
            then: b"",
            statuses: &[408],
            closes: (ms(900), ms(4500)),
        },
        Case {
            name: "a pipelined head stalled behind a slow request: 408 at http-request after it",
            timeouts: "    timeout client 10s\n    timeout http-request 1s\n",
            first: b"",
            pause: Duration::ZERO,
            then: b"GET /slow HTTP/1.1\r\nhost: a\r\n\r\nGET /next HTTP/1.1\r\nho",
            statuses: &[200, 408],
            // The slow answer (1.5 s), then http-request (1 s).
            closes: (s(2) + ms(400), s(6)),
        },
    ]
}

#[test]
fn client_timeouts_end_connections_as_haproxy_does() {
    let server = slow_server();
    let mut failures = Vec::new();
    for case in cases() {
        let config = |port| cfg(port, case.timeouts, server);
        let (haproxy, port) = Haproxy::start_on_port(config, &[]);
        let hap = session(local(port), case.first, case.pause, case.then);
        drop(haproxy);
        let (gateway, addr) = GatewayProc::start_on_port(config, &[]);
        let ours = session(addr, case.first, case.pause, case.then);
        let (lo, hi) = case.closes;
        for (who, seen) in [("haproxy", &hap), ("gateway", &ours)] {
            if seen.statuses != case.statuses || seen.closed_after < lo || seen.closed_after > hi {
                failures.push(format!(
                    "{}: {who} saw {seen:?}, expected {:?} and a close within {lo:?}..{hi:?}\n{}",
                    case.name,
                    case.statuses,
                    if who == "gateway" {
                        gateway.log()
                    } else {
                        String::new()
                    }
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
