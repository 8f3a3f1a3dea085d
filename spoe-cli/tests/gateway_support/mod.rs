//! Shared pieces of the `gateway_*` integration tests: the `spoe gateway` process, a `spoe agent`
//! process, a small HTTP/1.1 backend on `std::net`, and an HTTP/1.1 client that keeps its
//! connection alive (or not) and can send raw bytes.
//!
//! Rules (style.md 4.6): ports come from the kernel (bind 0, read the address back) or, for the
//! gateway whose configuration cannot say port 0, from its own bind through
//! [`spoe_interop::claim_port`]; every process is a
//! [`ChildGuard`] (killed with its group on drop), every file is in a temporary directory, every
//! wait is bounded and says what it saw when it gives up.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub(crate) mod access;
pub(crate) mod drained;

#[allow(unused_imports, reason = "each test file uses a different part")]
pub(crate) use spoe_interop::{ChildGuard, PortTaken, RefusedPort, Signal, claim_port, metric_sum};

/// The `spoe` binary under test.
pub(crate) const SPOE: &str = env!("CARGO_BIN_EXE_spoe");

/// How long a process may take to start listening.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Read/write timeout of the test client and of the backend's idle connections.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// `127.0.0.1:port`.
pub(crate) fn local(port: u16) -> SocketAddr {
    ([127, 0, 0, 1], port).into()
}

/// Polls `cond` every 10 ms until it holds or `timeout` passes; returns whether it held.
pub(crate) fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        // Not a barrier: the poll interval of a bounded wait on the condition above.
        thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until `cond` holds of HAProxy's log, then of the gateway's (each read again at every
/// poll), for at most `timeout` each; panics naming `what` and showing the log that lacks it.
pub(crate) fn wait_both_logs(
    timeout: Duration,
    what: &str,
    haproxy: impl Fn() -> String,
    gateway: impl Fn() -> String,
    cond: impl Fn(&str) -> bool,
) {
    for (name, log) in [
        ("haproxy", &haproxy as &dyn Fn() -> String),
        ("gateway", &gateway),
    ] {
        assert!(
            wait_until(timeout, || cond(&log())),
            "{name}: {what} not seen within {timeout:?}:\n{}",
            log()
        );
    }
}

/// Sets the flag when dropped, also while unwinding: load threads stop even if the test body
/// panics, so `thread::scope` cannot wait forever.
pub(crate) struct StopOnDrop<'a>(pub &'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A process's resident memory (`VmRSS`), in KiB; 0 once it is gone.
pub(crate) fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Whether the peer closed `sock` (EOF or reset), reading whatever it sent meanwhile.
pub(crate) fn closed_by_peer(sock: &mut TcpStream) -> bool {
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .expect("read timeout");
    let mut chunk = [0u8; 16384];
    loop {
        match sock.read(&mut chunk) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

// ===== the gateway process =====

/// `spoe gateway -f haproxy.cfg`, run from a temporary directory holding the configuration files
/// (so relative names such as `config spoe.conf` resolve as with HAProxy), its stdout and stderr
/// in files there.
pub(crate) struct GatewayProc {
    // Field order: the process dies before its directory is removed.
    pub(crate) child: ChildGuard,
    pub(crate) dir: tempfile::TempDir,
}

impl GatewayProc {
    /// Writes `haproxy.cfg` (`config(port)`) and `files`, starts the gateway on a port it claims
    /// itself ([`claim_port`]: the candidate is retried when the gateway's bind finds it taken),
    /// and returns once it logged that it listens there. Panics (with the gateway's stderr) if
    /// it exits for another reason or does not listen in time.
    pub(crate) fn start_on_port(
        config: impl Fn(u16) -> String,
        files: &[(&str, &str)],
    ) -> (Self, SocketAddr) {
        Self::start_listening_on(config, files, local)
    }

    /// As [`start_on_port`](Self::start_on_port), for a configuration whose first `bind` is
    /// `address(port)` rather than `127.0.0.1:port`.
    pub(crate) fn start_listening_on(
        config: impl Fn(u16) -> String,
        files: &[(&str, &str)],
        address: impl Fn(u16) -> SocketAddr,
    ) -> (Self, SocketAddr) {
        let (gw, port) = claim_port(|port| Self::try_start(&config(port), files, address(port)));
        (gw, local(port))
    }

    fn try_start(
        config: &str,
        files: &[(&str, &str)],
        listen: SocketAddr,
    ) -> Result<Self, PortTaken> {
        let dir = tempfile::Builder::new()
            .prefix("spoe-gateway-test-")
            .tempdir()
            .expect("temporary directory");
        for (name, contents) in files {
            std::fs::write(dir.path().join(name), contents).expect("write config file");
        }
        std::fs::write(dir.path().join("haproxy.cfg"), config).expect("write haproxy.cfg");
        let out = std::fs::File::create(dir.path().join("gateway.out")).expect("stdout file");
        let err = std::fs::File::create(dir.path().join("gateway.err")).expect("stderr file");
        let child = ChildGuard::spawn(
            Command::new(SPOE)
                .args(["gateway", "-f", "haproxy.cfg"])
                .current_dir(dir.path())
                .env("RUST_LOG", "info")
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err),
        )
        .unwrap_or_else(|e| panic!("cannot spawn {SPOE}: {e}"));
        let mut gw = Self { child, dir };
        let err_path = gw.dir.path().join("gateway.err");
        wait_listening(&mut gw.child, listen, &err_path)?;
        Ok(gw)
    }

    /// Its stderr so far (tracing output: access log, SPOE log, reload messages).
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("gateway.err")).unwrap_or_default()
    }

    /// Its stdout so far: the access lines of a `log stdout ...` configuration, as HAProxy
    /// writes them to its own stdout.
    pub(crate) fn out(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("gateway.out")).unwrap_or_default()
    }

    /// Replaces a file of its directory (`haproxy.cfg` for a reload).
    pub(crate) fn write(&self, name: &str, contents: &str) {
        std::fs::write(self.dir.path().join(name), contents).expect("write config file");
    }

    /// Sends `signal` to the gateway.
    pub(crate) fn signal(&self, signal: Signal) {
        self.child
            .signal(signal)
            .unwrap_or_else(|e| panic!("signal {signal:?} to the gateway: {e}\n{}", self.log()));
    }

    /// Successful reloads logged so far.
    pub(crate) fn reloads(&self) -> usize {
        self.log().matches("configuration reloaded").count()
    }

    /// SIGUSR2, then waits until the log shows one more successful reload than before.
    pub(crate) fn reload(&self) {
        let before = self.reloads();
        self.signal(Signal::USR2);
        assert!(
            wait_until(START_TIMEOUT, || self.reloads() > before),
            "no \"configuration reloaded\" line after SIGUSR2 within {START_TIMEOUT:?}:\n{}",
            self.log()
        );
    }
}

/// The head of a differential test: HAProxy 2.6 and the gateway run the same configuration,
/// each in front of servers of its own (the same program, so that what each side's servers saw
/// can be put side by side).
///
/// The configuration text itself stays whole in each test file: it is what the test is about,
/// and one reads (and runs by hand) a `haproxy.cfg` as one piece.
pub(crate) struct Both<B = Backend> {
    // Field order: the proxies stop before their servers.
    pub(crate) haproxy: spoe_interop::Haproxy,
    pub(crate) gateway: GatewayProc,
    pub(crate) hap_addr: SocketAddr,
    pub(crate) gw_addr: SocketAddr,
    pub(crate) hap_backend: B,
    pub(crate) gw_backend: B,
}

impl Both {
    /// A [`Backend`] named `backend` for each proxy, the configuration `config(port, backend)`.
    pub(crate) fn start(backend: &str, config: impl Fn(u16, SocketAddr) -> String) -> Self {
        Self::start_with(|| Backend::start(backend), |port, b| config(port, b.addr))
    }
}

impl Both<()> {
    /// HAProxy and the gateway on `config(port)` and the same `files`, in front of servers
    /// (an agent, a backend) that they share.
    pub(crate) fn start_on(config: impl Fn(u16) -> String, files: &[(&str, &str)]) -> Self {
        Self::start_with_files(|| (), |port, ()| config(port), files)
    }
}

impl<B> Both<B> {
    /// Starts `servers()` for each proxy, then HAProxy and the gateway on
    /// `config(port, &their servers)`, each on a port it claims; returns once both listen.
    pub(crate) fn start_with(servers: impl Fn() -> B, config: impl Fn(u16, &B) -> String) -> Self {
        Self::start_with_files(servers, config, &[])
    }

    /// As [`start_with`](Self::start_with), with `files` (`spoe.conf`...) beside each
    /// `haproxy.cfg`.
    pub(crate) fn start_with_files(
        servers: impl Fn() -> B,
        config: impl Fn(u16, &B) -> String,
        files: &[(&str, &str)],
    ) -> Self {
        let hap_backend = servers();
        let gw_backend = servers();
        let (haproxy, hap_port) =
            spoe_interop::Haproxy::start_on_port(|port| config(port, &hap_backend), files);
        let (gateway, gw_addr) =
            GatewayProc::start_on_port(|port| config(port, &gw_backend), files);
        Self {
            haproxy,
            gateway,
            hap_addr: local(hap_port),
            gw_addr,
            hap_backend,
            gw_backend,
        }
    }

    /// The proxies' addresses with their names, HAProxy first.
    pub(crate) fn sides(&self) -> [(SocketAddr, &'static str); 2] {
        [(self.hap_addr, "haproxy"), (self.gw_addr, "gateway")]
    }

    /// Sends each of `cases` to HAProxy, then to the gateway (`send(address, its servers,
    /// case)`). Returns HAProxy's outcomes, and a message for each case where the gateway's
    /// differs.
    pub(crate) fn compare<C: std::fmt::Debug, O: PartialEq + std::fmt::Debug>(
        &self,
        cases: &[C],
        send: impl Fn(SocketAddr, &B, &C) -> O,
    ) -> (Vec<O>, Vec<String>) {
        let mut diffs = Vec::new();
        let outcomes = cases
            .iter()
            .map(|case| {
                let h = send(self.hap_addr, &self.hap_backend, case);
                let g = send(self.gw_addr, &self.gw_backend, case);
                if h != g {
                    diffs.push(format!("{case:?}:\n  haproxy {h:?}\n  gateway {g:?}"));
                }
                h
            })
            .collect();
        (outcomes, diffs)
    }
}

/// The `spoe.conf` of engine `e` in which agent `echo-agent` (`spoe agent --example echo` in
/// backend `agents`, variables `txn.echo.*`) is sent message `message` with `args` on every
/// request.
pub(crate) fn echo_message_conf(message: &str, args: &str) -> String {
    format!(
        "\
[e]
spoe-agent echo-agent
    messages {message}
    option var-prefix echo
    timeout hello 2s
    timeout idle 30s
    timeout processing 2s
    use-backend agents

spoe-message {message}
    args {args}
    event on-frontend-http-request
"
    )
}

/// Waits until the gateway `child` logs that it listens on `listen` (the `listening` line it
/// prints once its sockets are bound). [`PortTaken`] when it exits because the port is in use;
/// panics, with its stderr, when it exits otherwise or does not listen within [`START_TIMEOUT`].
pub(crate) fn wait_listening(
    child: &mut ChildGuard,
    listen: SocketAddr,
    stderr: &Path,
) -> Result<(), PortTaken> {
    let line = format!("listening addr={listen}");
    let log = || std::fs::read_to_string(stderr).unwrap_or_default();
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if log().contains(&line) {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            let text = log();
            if text.contains("Address already in use") {
                return Err(PortTaken);
            }
            panic!("spoe gateway exited ({status}) before listening on {listen}; stderr:\n{text}");
        }
        assert!(
            Instant::now() < deadline,
            "spoe gateway not listening on {listen} after {START_TIMEOUT:?}; stderr:\n{}",
            log()
        );
        // Polling a file: nothing to wait on but time.
        thread::sleep(Duration::from_millis(20));
    }
}

// ===== servers on threads =====

/// A server on `std::net` on a port the kernel picks: every connection accepted is handed to
/// `serve` on a thread of its own, until the server is dropped.
pub(crate) struct ThreadServer {
    pub(crate) addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl ThreadServer {
    pub(crate) fn start(serve: impl Fn(TcpStream) + Clone + Send + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a test server");
        let addr = listener.local_addr().expect("its address");
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            thread::spawn(move || {
                for sock in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    if let Ok(sock) = sock {
                        let serve = serve.clone();
                        thread::spawn(move || serve(sock));
                    }
                }
            })
        };
        Self {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for ThreadServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A server of requests without a body on kept-alive connections: each request is answered
/// with the head `answer(target, values)` (the status line and the header lines, each ending
/// in CRLF; the blank line is added here), `values` being the values of the request's `header`
/// lines, in order. Servers that tell the client what they saw of one header (the `Cookie`,
/// the server name HAProxy sent) are this with their own `answer`.
pub(crate) fn head_server(
    header: &'static str,
    answer: impl Fn(&str, &[String]) -> String + Clone + Send + 'static,
) -> ThreadServer {
    ThreadServer::start(move |sock: TcpStream| {
        let _ = sock.set_read_timeout(Some(Duration::from_secs(10)));
        let Ok(mut out) = sock.try_clone() else {
            return;
        };
        let mut reader = BufReader::new(sock);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let target = line.split(' ').nth(1).unwrap_or("/").to_owned();
            let mut values = Vec::new();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 {
                    return;
                }
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                if let Some((n, v)) = h.split_once(':')
                    && n.eq_ignore_ascii_case(header)
                {
                    values.push(v.trim().to_owned());
                }
            }
            let mut head = answer(&target, &values);
            head.push_str("\r\n");
            if out.write_all(head.as_bytes()).is_err() {
                return;
            }
        }
    })
}

// ===== the agent process =====

/// A `spoe agent --example ...` child process with `--metrics`, stdout and stderr in temporary
/// files.
pub(crate) struct AgentProc {
    pub(crate) child: ChildGuard,
    pub(crate) addr: SocketAddr,
    pub(crate) metrics: SocketAddr,
    stdout: tempfile::NamedTempFile,
    stderr: tempfile::NamedTempFile,
}

impl AgentProc {
    /// `spoe agent --listen 127.0.0.1:0 --example echo --metrics 127.0.0.1:0 ARGS...`, waiting for
    /// both lines it prints.
    pub(crate) fn echo(args: &[&str]) -> Self {
        let stdout = tempfile::NamedTempFile::new().expect("agent stdout file");
        let stderr = tempfile::NamedTempFile::new().expect("agent stderr file");
        let mut child = ChildGuard::spawn(
            Command::new(SPOE)
                .args(["agent", "--listen", "127.0.0.1:0", "--example", "echo"])
                .args(["--metrics", "127.0.0.1:0"])
                .args(args)
                .env("RUST_LOG", "info")
                .stdin(Stdio::null())
                .stdout(stdout.reopen().expect("reopen agent stdout"))
                .stderr(stderr.reopen().expect("reopen agent stderr")),
        )
        .unwrap_or_else(|e| panic!("cannot spawn {SPOE}: {e}"));
        let log = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        let deadline = Instant::now() + START_TIMEOUT;
        let (addr, metrics) = loop {
            let text = log(stdout.path());
            let found = |prefix: &str, suffix: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(prefix))
                    .and_then(|a| a.trim().trim_end_matches(suffix).parse::<SocketAddr>().ok())
            };
            if let (Some(a), Some(m)) = (
                found("spoe agent: listening on ", ""),
                found("spoe agent: metrics on http://", "/metrics"),
            ) {
                break (a, m);
            }
            let exited = child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() >= deadline {
                panic!(
                    "spoe agent did not print its addresses within {START_TIMEOUT:?} \
                     (exit: {exited:?}); stdout:\n{text}\nstderr:\n{}",
                    log(stderr.path())
                );
            }
            // Not a barrier: the poll interval of a bounded wait on the condition above.
            thread::sleep(Duration::from_millis(10));
        };
        Self {
            child,
            addr,
            metrics,
            stdout,
            stderr,
        }
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.stderr.path()).unwrap_or_default()
    }

    /// The sum of the samples called `name` whose labels are `labels` (as written in the
    /// exposition, e.g. `outcome="ok"`; empty: any labels).
    pub(crate) fn metric(&self, name: &str, labels: &str) -> f64 {
        let resp = request(self.metrics, "GET", "/metrics", &[], b"")
            .unwrap_or_else(|e| panic!("GET http://{}/metrics: {e}", self.metrics));
        assert_eq!(resp.status, 200, "GET /metrics");
        metric_sum(&String::from_utf8_lossy(&resp.body), name, labels)
    }
}

// ===== a backend server =====

/// What the backend saw of one request.
#[derive(Debug, Clone)]
pub(crate) struct SeenRequest {
    pub(crate) head: String,
    pub(crate) body: Vec<u8>,
}

/// An HTTP/1.1 origin server on `std::net` (a thread per connection, keep-alive aware).
///
/// Every request gets `200` with `x-backend: NAME`, `x-drop: 1` (for `http-response
/// del-header`), `echo-<name>: <value>` for every request header whose name starts with `x-`,
/// `x-req-cl` (the request's Content-Length, or `none`), `x-req-body-len`, and the body `NAME\n`.
pub(crate) struct Backend {
    pub(crate) addr: SocketAddr,
    pub(crate) name: String,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    count: Arc<AtomicUsize>,
    conns: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    accept: Option<thread::JoinHandle<()>>,
}

impl Backend {
    pub(crate) fn start(name: &str) -> Self {
        Self::bind(name, "127.0.0.1:0".parse().unwrap()).expect("bind backend")
    }

    /// As [`start`](Self::start), listening on `addr`.
    pub(crate) fn bind(name: &str, addr: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr().expect("backend address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(AtomicUsize::new(0));
        let conns = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let (name, seen, count, stop, conns) = (
                name.to_owned(),
                seen.clone(),
                count.clone(),
                stop.clone(),
                conns.clone(),
            );
            thread::spawn(move || {
                for sock in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let Ok(sock) = sock else { continue };
                    conns.fetch_add(1, Ordering::SeqCst);
                    let (name, seen, count) = (name.clone(), seen.clone(), count.clone());
                    thread::spawn(move || serve_backend_conn(sock, &name, &seen, &count));
                }
            })
        };
        Ok(Self {
            addr,
            name: name.to_owned(),
            seen,
            count,
            conns,
            stop,
            accept: Some(accept),
        })
    }

    /// Requests answered so far.
    pub(crate) fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub(crate) fn connections(&self) -> usize {
        self.conns.load(Ordering::SeqCst)
    }

    /// Every request seen so far.
    pub(crate) fn seen(&self) -> Vec<SeenRequest> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop; its connection threads end when the proxies close theirs (or
        // after IO_TIMEOUT of silence).
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

/// `Name: value` lines as (lower-case name, trimmed value), in order.
fn parse_header_lines<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<(String, String)> {
    lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect()
}

/// The first value of header `name` (lower case) in `headers`.
fn header_value<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads from `sock` into `buf` until `buf` holds at least `n` bytes. `Ok(false)` on EOF.
fn fill(sock: &mut impl Read, buf: &mut Vec<u8>, n: usize) -> io::Result<bool> {
    let mut chunk = [0u8; 16384];
    while buf.len() < n {
        let r = sock.read(&mut chunk)?;
        if r == 0 {
            return Ok(false);
        }
        buf.extend_from_slice(&chunk[..r]);
    }
    Ok(true)
}

/// Reads until `buf` contains `needle`; returns its position. `Ok(None)` on EOF.
fn fill_until(
    sock: &mut impl Read,
    buf: &mut Vec<u8>,
    needle: &[u8],
    limit: usize,
) -> io::Result<Option<usize>> {
    let mut chunk = [0u8; 16384];
    loop {
        if let Some(p) = find(buf, needle) {
            return Ok(Some(p));
        }
        if buf.len() > limit {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "head too large"));
        }
        let r = sock.read(&mut chunk)?;
        if r == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..r]);
    }
}

/// Decodes a chunked body starting at `buf[0]`; consumes it (and the trailers) from `buf`.
fn read_chunked(sock: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<Vec<u8>> {
    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_owned());
    let mut body = Vec::new();
    loop {
        let line_end =
            fill_until(sock, buf, b"\r\n", 1 << 20)?.ok_or_else(|| bad("EOF in chunk size"))?;
        let line = String::from_utf8_lossy(&buf[..line_end]).into_owned();
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| bad("bad chunk size"))?;
        buf.drain(..line_end + 2);
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                let end = fill_until(sock, buf, b"\r\n", 1 << 20)?
                    .ok_or_else(|| bad("EOF in trailer"))?;
                buf.drain(..end + 2);
                if end == 0 {
                    return Ok(body);
                }
            }
        }
        if !fill(sock, buf, size + 2)? {
            return Err(bad("EOF in chunk"));
        }
        body.extend_from_slice(&buf[..size]);
        buf.drain(..size + 2);
    }
}

fn serve_backend_conn(
    mut sock: TcpStream,
    name: &str,
    seen: &Mutex<Vec<SeenRequest>>,
    count: &AtomicUsize,
) {
    let _ = sock.set_read_timeout(Some(IO_TIMEOUT * 6));
    let _ = sock.set_write_timeout(Some(IO_TIMEOUT));
    let _ = sock.set_nodelay(true);
    let mut buf = Vec::new();
    loop {
        let Ok(Some(head_end)) = fill_until(&mut sock, &mut buf, b"\r\n\r\n", 1 << 20) else {
            return;
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        buf.drain(..head_end + 4);
        let headers = parse_header_lines(head.split("\r\n").skip(1));
        let get = |n: &str| header_value(&headers, n);
        let chunked = get("transfer-encoding").is_some_and(|v| v.contains("chunked"));
        let cl = get("content-length");
        let body = if chunked {
            match read_chunked(&mut sock, &mut buf) {
                Ok(b) => b,
                Err(_) => return,
            }
        } else {
            let n: usize = cl.and_then(|v| v.parse().ok()).unwrap_or(0);
            if !matches!(fill(&mut sock, &mut buf, n), Ok(true)) {
                return;
            }
            buf.drain(..n).collect()
        };
        let close = get("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let mut resp = format!(
            "HTTP/1.1 200 OK\r\nx-backend: {name}\r\nx-drop: 1\r\nx-req-cl: {}\r\n\
             x-req-body-len: {}\r\n",
            cl.unwrap_or("none"),
            body.len()
        );
        for (n, v) in headers.iter().filter(|(n, _)| n.starts_with("x-")) {
            let _ = write!(resp, "echo-{n}: {v}\r\n");
        }
        let _ = write!(
            resp,
            "content-type: text/plain\r\ncontent-length: {}\r\n{}\r\n{name}\n",
            name.len() + 1,
            if close { "connection: close\r\n" } else { "" }
        );
        seen.lock().unwrap().push(SeenRequest { head, body });
        count.fetch_add(1, Ordering::SeqCst);
        if sock.write_all(resp.as_bytes()).is_err() || close {
            let _ = sock.shutdown(Shutdown::Write);
            return;
        }
    }
}

// ===== an HTTP/1.1 client =====

/// A response: status, headers in order (names lower-cased, values trimmed), body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resp {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Resp {
    /// The first value of header `name` (lower case).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        header_value(&self.headers, name)
    }

    /// What a differential test compares: the status, the first value of each of `headers`,
    /// the body as text.
    pub(crate) fn seen(&self, headers: &[&str]) -> (u16, Vec<Option<String>>, String) {
        let values = headers
            .iter()
            .map(|n| self.header(n).map(str::to_owned))
            .collect();
        (
            self.status,
            values,
            String::from_utf8_lossy(&self.body).into_owned(),
        )
    }
}

/// One HTTP/1.1 connection.
pub(crate) struct Conn {
    pub(crate) stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub(crate) fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::new(),
        })
    }

    /// Sends a request (with `Host`, and `Content-Length` when there is a body) and reads its
    /// response.
    pub(crate) fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Resp> {
        let mut req = format!("{method} {path} HTTP/1.1\r\nhost: test\r\n");
        for (n, v) in headers {
            let _ = write!(req, "{n}: {v}\r\n");
        }
        if !body.is_empty() || method == "POST" {
            let _ = write!(req, "content-length: {}\r\n", body.len());
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.stream.write_all(&bytes)?;
        self.read_response()
    }

    /// Writes raw bytes.
    pub(crate) fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads one response (bounded by [`IO_TIMEOUT`] per read).
    pub(crate) fn read_response(&mut self) -> io::Result<Resp> {
        let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_owned());
        let head_end = fill_until(&mut self.stream, &mut self.buf, b"\r\n\r\n", 1 << 20)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "EOF before response"))?;
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        self.buf.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| bad("bad status line"))?;
        let headers = parse_header_lines(lines);
        let get = |n: &str| header_value(&headers, n);
        let body = if (100..200).contains(&status) || status == 204 || status == 304 {
            Vec::new()
        } else if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            read_chunked(&mut self.stream, &mut self.buf)?
        } else if let Some(cl) = get("content-length") {
            let n: usize = cl.parse().map_err(|_| bad("bad content-length"))?;
            if !fill(&mut self.stream, &mut self.buf, n)? {
                return Err(bad("body shorter than content-length"));
            }
            self.buf.drain(..n).collect()
        } else {
            let mut rest = std::mem::take(&mut self.buf);
            self.stream.read_to_end(&mut rest)?;
            rest
        };
        Ok(Resp {
            status,
            headers,
            body,
        })
    }

    /// Reads exactly `n` bytes (after a response: what a tunnel carries).
    pub(crate) fn read_bytes(&mut self, n: usize) -> io::Result<Vec<u8>> {
        if !fill(&mut self.stream, &mut self.buf, n)? {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "EOF"));
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// Whether the peer closed the connection (EOF or reset) within `within`, with nothing more
    /// to read before that.
    pub(crate) fn closed_within(&mut self, within: Duration) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let _ = self.stream.set_read_timeout(Some(within));
        let mut b = [0u8; 1];
        let closed = match self.stream.read(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
        };
        let _ = self.stream.set_read_timeout(Some(IO_TIMEOUT));
        closed
    }
}

/// One request on a new connection with `connection: close`.
pub(crate) fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Resp> {
    let mut conn = Conn::connect(addr)?;
    let mut h = headers.to_vec();
    h.push(("connection", "close"));
    conn.request(method, path, &h, body)
}

/// `GET path` on a new connection.
pub(crate) fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> io::Result<Resp> {
    request(addr, "GET", path, headers, b"")
}

/// Runs `cmd` (a process expected to stop at start) until it exits, at most 20 s, and returns
/// its exit code and its output (stdout and stderr together).
pub(crate) fn run_to_exit(cmd: &mut Command) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let file = std::fs::File::create(&out).unwrap();
    let mut child = ChildGuard::spawn(
        cmd.stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file),
    )
    .unwrap();
    let status = child
        .wait_timeout(Duration::from_secs(20))
        .unwrap()
        .expect("exits at start");
    (status.code(), std::fs::read_to_string(out).unwrap())
}

/// `spoe check -f haproxy.cfg` in a fresh directory holding `cfg` and `files` (name, text), as
/// `spoe_interop::haproxy_check_with_files` runs HAProxy: the exit code and stdout + stderr.
pub(crate) fn spoe_check_with_files(cfg: &str, files: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    std::fs::write(dir.path().join("haproxy.cfg"), cfg).unwrap();
    let out = Command::new(SPOE)
        .args(["check", "-f", "haproxy.cfg"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}
