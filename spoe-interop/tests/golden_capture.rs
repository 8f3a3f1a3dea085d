//! Captures the HAPROXY-HELLO and NOTIFY frames that the installed HAProxy sends to an agent, and
//! compares them with the golden vectors in `spop/tests/vectors/` (or rewrites those with
//! `SPOE_RECORD_VECTORS=1`).
//!
//! The agent here is deliberately independent of the `spop` crate: its bytes are encoded by hand,
//! so the vectors test the codec rather than agree with it by construction.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock, and spawn helpers that end with the test"
)]

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use spoe_interop::{Haproxy, http_get};

const HELLO_FILE: &str = "haproxy-2.6-hello.hex";
const NOTIFY_FILE: &str = "haproxy-2.6-notify.hex";

/// The spoe.conf, verbatim in `spop/tests/vectors/README.md`.
const SPOE_CONF: &str = "\
[golden]
spoe-agent golden-agent
    messages golden
    option var-prefix golden
    timeout hello 2s
    timeout idle 2s
    timeout processing 2s
    use-backend agents

spoe-message golden
    args s=str(hello) i=int(42) n=int(-42) big=int(5000000000) b=bool(1) ip4=src ip6=ipv6(2001:db8::1) bin=bin(cafe00ff) path=path method=method
    event on-frontend-http-request
";

fn haproxy_cfg(frontend_port: u16, agent_port: u16) -> String {
    format!(
        "\
global
    log stderr format short local0 info
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{frontend_port}
    filter spoe engine golden config spoe.conf
    http-request return status 200 content-type text/plain lf-string \"seen=%[var(txn.golden.seen)]\"
backend agents
    mode tcp
    server a 127.0.0.1:{agent_port}
"
    )
}

// ---- a tiny SPOP encoder/decoder (spop-reference.md), independent of the spop crate ----

const HAPROXY_HELLO: u8 = 1;
const HAPROXY_DISCONNECT: u8 = 2;
const NOTIFY: u8 = 3;
const AGENT_HELLO: u8 = 101;
const ACK: u8 = 103;
const FIN: u32 = 1;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    if v < 240 {
        out.push(v as u8);
        return;
    }
    out.push((v | 0xf0) as u8);
    v = (v - 240) >> 4;
    while v >= 128 {
        out.push((v | 0x80) as u8);
        v = (v - 128) >> 7;
    }
    out.push(v as u8);
}

/// Decodes a varint at the start of `buf`: (value, bytes used).
fn get_varint(buf: &[u8]) -> Option<(u64, usize)> {
    let first = *buf.first()?;
    if first < 240 {
        return Some((u64::from(first), 1));
    }
    let (mut value, mut shift) = (u64::from(first), 4);
    for (i, &b) in buf.iter().enumerate().skip(1).take(9) {
        value = value.checked_add(u64::from(b).checked_shl(shift)?)?;
        shift += 7;
        if b < 128 {
            return Some((value, i + 1));
        }
    }
    None
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// A complete frame, length prefix included.
fn frame(kind: u8, stream_id: u64, frame_id: u64, payload: &[u8]) -> Vec<u8> {
    let mut body = vec![kind];
    body.extend_from_slice(&FIN.to_be_bytes());
    put_varint(&mut body, stream_id);
    put_varint(&mut body, frame_id);
    body.extend_from_slice(payload);
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

fn agent_hello() -> Vec<u8> {
    let mut kv = Vec::new();
    put_str(&mut kv, b"version");
    kv.push(8); // STRING
    put_str(&mut kv, b"2.0");
    put_str(&mut kv, b"max-frame-size");
    kv.push(3); // UINT32
    put_varint(&mut kv, 16380);
    put_str(&mut kv, b"capabilities");
    kv.push(8);
    put_str(&mut kv, b"pipelining");
    frame(AGENT_HELLO, 0, 0, &kv)
}

/// ACK with one action: SET-VAR txn "seen" = STRING "yes" (HAProxy names it txn.golden.seen).
fn ack(stream_id: u64, frame_id: u64) -> Vec<u8> {
    let mut actions = vec![1, 3, 2]; // SET-VAR, 3 args, scope TRANSACTION
    put_str(&mut actions, b"seen");
    actions.push(8);
    put_str(&mut actions, b"yes");
    frame(ACK, stream_id, frame_id, &actions)
}

/// Type, stream-id, frame-id and the offset just past the frame-id in a length-prefixed frame.
fn header(frame: &[u8]) -> Option<(u8, u64, u64, usize)> {
    let kind = *frame.get(4)?;
    let (sid, n1) = get_varint(frame.get(9..)?)?;
    let (fid, n2) = get_varint(frame.get(9 + n1..)?)?;
    Some((kind, sid, fid, 9 + n1 + n2))
}

/// Reads one frame (length prefix included); `Ok(None)` on a clean EOF before a frame.
fn read_frame(stream: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match stream.read_exact(&mut len) {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        other => other?,
    }
    let n = u32::from_be_bytes(len) as usize;
    if n == 0 || n > 16380 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame length {n}"),
        ));
    }
    let mut out = len.to_vec();
    out.resize(4 + n, 0);
    stream.read_exact(&mut out[4..])?;
    Ok(Some(out))
}

// ---- the agent ----

#[derive(Debug)]
enum Captured {
    Hello(Vec<u8>),
    Notify(Vec<u8>),
    Connection,
}

/// Serves one HAProxy connection: HELLO -> AGENT-HELLO, each NOTIFY -> ACK, until EOF.
fn serve(mut stream: TcpStream, tx: &mpsc::Sender<Captured>) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let _ = tx.send(Captured::Connection);
    while let Some(frame) = read_frame(&mut stream)? {
        let Some((kind, sid, fid, _)) = header(&frame) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "bad frame header",
            ));
        };
        match kind {
            HAPROXY_HELLO => {
                let _ = tx.send(Captured::Hello(frame));
                stream.write_all(&agent_hello())?;
            }
            NOTIFY => {
                let _ = tx.send(Captured::Notify(frame));
                stream.write_all(&ack(sid, fid))?;
            }
            HAPROXY_DISCONNECT => return Ok(()),
            _ => {}
        }
    }
    Ok(())
}

/// An agent on 127.0.0.1 accepting any number of connections until dropped.
struct Agent {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
    errors: Arc<Mutex<Vec<String>>>,
}

impl Agent {
    fn start(tx: mpsc::Sender<Captured>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind agent");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("agent addr");
        let stop = Arc::new(AtomicBool::new(false));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let (stop2, errors2) = (Arc::clone(&stop), Arc::clone(&errors));
        let acceptor = thread::spawn(move || {
            let mut conns = Vec::new();
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (tx, errors) = (tx.clone(), Arc::clone(&errors2));
                        conns.push(thread::spawn(move || {
                            stream.set_nonblocking(false).expect("blocking");
                            if let Err(e) = serve(stream, &tx) {
                                errors.lock().unwrap().push(e.to_string());
                            }
                        }));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        // Not a barrier: a non-blocking accept loop's idle interval.
                        thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => errors2.lock().unwrap().push(format!("accept: {e}")),
                }
            }
            // Each connection ends at EOF (HAProxy gone) or its 5 s read timeout.
            for conn in conns {
                let _ = conn.join();
            }
        });
        Self {
            addr,
            stop,
            acceptor: Some(acceptor),
            errors,
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

// ---- comparison ----

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spop/tests/vectors")
}

fn to_hex_file(bytes: &[u8]) -> String {
    let hex = hex::encode(bytes);
    let mut out = String::new();
    for line in hex.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("hex is ascii"));
        out.push('\n');
    }
    out
}

fn read_hex_file(name: &str) -> Vec<u8> {
    let path = vectors_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; record it with SPOE_RECORD_VECTORS=1 cargo test -p spoe-interop --test golden_capture",
            path.display()
        )
    });
    let hex: String = text.split_whitespace().collect();
    hex::decode(hex).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The engine-id value differs on every start: replace its 36 characters with `*`.
fn mask_engine_id(hello: &[u8]) -> Vec<u8> {
    let key = b"\x09engine-id\x08\x24";
    let mut out = hello.to_vec();
    let at = hello
        .windows(key.len())
        .position(|w| w == key)
        .expect("HAPROXY-HELLO has an engine-id of 36 characters");
    let uuid = &mut out[at + key.len()..at + key.len() + 36];
    let is_uuid = uuid.iter().enumerate().all(|(i, c)| match i {
        8 | 13 | 18 | 23 => *c == b'-',
        _ => c.is_ascii_hexdigit(),
    });
    assert!(
        is_uuid,
        "engine-id is not a UUID: {:?}",
        String::from_utf8_lossy(uuid)
    );
    uuid.fill(b'*');
    out
}

/// A row-by-row hex dump of both, marking the rows that differ.
fn hex_diff(expected: &[u8], actual: &[u8]) -> String {
    let mut out = format!(
        "expected {} bytes, captured {} bytes\n",
        expected.len(),
        actual.len()
    );
    let rows = expected.len().max(actual.len()).div_ceil(16);
    for row in 0..rows {
        let range = |b: &[u8]| {
            let start = (row * 16).min(b.len());
            hex::encode(&b[start..(row * 16 + 16).min(b.len())])
        };
        let (e, a) = (range(expected), range(actual));
        if e == a {
            let _ = writeln!(out, "  {:04x}  {e}", row * 16);
        } else {
            let _ = writeln!(out, "- {:04x}  {e}\n+ {:04x}  {a}", row * 16, row * 16);
        }
    }
    out
}

fn assert_same(name: &str, expected: &[u8], actual: &[u8]) {
    assert!(
        expected == actual,
        "{name} differs from the golden vector (a masked engine-id shows as 2a bytes):\n{}\n\
         if HAProxy changed on purpose, re-record with \
         SPOE_RECORD_VECTORS=1 cargo test -p spoe-interop --test golden_capture",
        hex_diff(expected, actual)
    );
}

#[test]
fn haproxy_2_6_hello_and_notify_match_golden_vectors() {
    let (tx, rx) = mpsc::channel();
    let agent = Agent::start(tx);
    let (haproxy, port) = Haproxy::start_on_port(
        |port| haproxy_cfg(port, agent.addr.port()),
        &[("spoe.conf", SPOE_CONF)],
    );
    let fe: SocketAddr = ([127, 0, 0, 1], port).into();

    let (status, _, body) = http_get(fe, "/golden/path?q=1", &[]).expect("GET /golden/path?q=1");
    assert_eq!(status, 200, "{}", haproxy.log());
    // The ACK's SET-VAR reached the stream: the whole exchange worked.
    assert_eq!(body, b"seen=yes", "{}", haproxy.log());

    let (mut hello, mut notify, mut connections) = (None, None, 0);
    let deadline = Instant::now() + Duration::from_secs(5);
    while hello.is_none() || notify.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Captured::Hello(f)) => hello = hello.or(Some(f)),
            Ok(Captured::Notify(f)) => notify = notify.or(Some(f)),
            Ok(Captured::Connection) => connections += 1,
            Err(e) => panic!("agent saw no HELLO and NOTIFY ({e}):\n{}", haproxy.log()),
        }
    }
    let (hello, notify) = (hello.unwrap(), notify.unwrap());
    let log = haproxy.log();
    drop(haproxy);
    stop_agent(agent, &log);
    eprintln!("agent connections: {connections}");

    let (kind, sid, fid, _) = header(&hello).expect("hello header");
    assert_eq!((kind, sid, fid), (HAPROXY_HELLO, 0, 0));
    let (kind, sid, fid, _) = header(&notify).expect("notify header");
    assert_eq!(kind, NOTIFY);
    eprintln!("NOTIFY stream-id {sid} frame-id {fid}");

    if std::env::var_os("SPOE_RECORD_VECTORS").is_some_and(|v| v == "1") {
        let dir = vectors_dir();
        std::fs::create_dir_all(&dir).expect("create vectors dir");
        std::fs::write(dir.join(HELLO_FILE), to_hex_file(&hello)).expect("write hello");
        std::fs::write(dir.join(NOTIFY_FILE), to_hex_file(&notify)).expect("write notify");
        eprintln!(
            "recorded {HELLO_FILE} and {NOTIFY_FILE} in {}",
            dir.display()
        );
        return;
    }

    assert_same(
        HELLO_FILE,
        &mask_engine_id(&read_hex_file(HELLO_FILE)),
        &mask_engine_id(&hello),
    );
    // Stream-id 0 and frame-id 1 were the same in every run (first stream of a fresh process, first
    // frame of its SPOE context), so the NOTIFY is compared whole, ids and length included.
    assert_same(NOTIFY_FILE, &read_hex_file(NOTIFY_FILE), &notify);
}

/// Stops the agent and fails on any error it met. Call it after HAProxy is gone, so that every
/// connection has reached EOF and its thread ends at once.
fn stop_agent(agent: Agent, log: &str) {
    let errors = Arc::clone(&agent.errors);
    drop(agent);
    let errors = errors.lock().unwrap();
    assert!(errors.is_empty(), "agent errors: {errors:?}\n{log}");
}
