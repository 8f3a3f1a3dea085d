//! Test harness for running a real HAProxy next to this project's code.
//!
//! ```text
//!   test ──config──▶ Haproxy::start ──▶ haproxy -c -f cfg   (validate, panic with output)
//!                                  └──▶ haproxy -W -db -f cfg (master + worker, own process group)
//!   test ──http_get──▶ 127.0.0.1:<claimed port> ──▶ worker ──SPOP──▶ agent under test
//!   drop(Haproxy) ──▶ SIGTERM to the master (it reaps its workers), at most 2 s later SIGKILL to
//!                     the whole process group, then wait for the master
//! ```
//!
//! Rules this crate keeps (see `docs/style.md` 4.6, "Interop"):
//!
//! - HAProxy runs from a fresh temporary directory (its working directory, so extra files such as a
//!   `spoe.conf` are named by a relative path), with its output in a log file there.
//! - No port number is handed on after its socket is closed (the "free port" race: anything on
//!   the machine may take it in between). A server the test runs binds port 0 and reports the
//!   address it got; a process whose configuration cannot say port 0 (HAProxy rejects `bind :0`,
//!   and so does the gateway) claims its port itself with [`claim_port`], which retries when its
//!   bind finds the port taken; a port that must refuse connections is a [`RefusedPort`]. Nothing
//!   uses a fixed port, a pid file or global state.
//! - Every wait is bounded: a helper that waits too long panics (or returns
//!   [`io::ErrorKind::TimedOut`]) with what it saw, it never hangs.
//! - If `haproxy` is not installed the helpers *panic* with the command that installs it; tests fail,
//!   they never skip.
//! - [`ChildGuard`] and [`Haproxy`] kill their process group and wait on `Drop`, so a failing test
//!   leaves no process behind.
//!
//! Does not do: parse HAProxy's configuration, speak SPOP (tests bring their own agent), or manage
//! HAProxy versions other than the installed one.

// It waits on real processes (HAProxy, agents) on the wall clock, never on tokio's paused one.
#![allow(clippy::disallowed_types)]
#![warn(missing_docs)]

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::Pid;
pub use rustix::process::Signal;

/// How long [`Haproxy::start`] and [`Haproxy::reload`] wait for "Loading success." in the log.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long `haproxy -c` may run before it is killed and the check counts as failed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// How long dropping a [`Haproxy`] waits after SIGTERM before it SIGKILLs the process group.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// Per-read timeout and overall deadline of [`http_get`].
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest response [`http_get`] accepts, in bytes (headers and body together).
pub const HTTP_MAX_RESPONSE: usize = 16 * 1024 * 1024;

/// The line HAProxy 2.6's master prints each time a new worker is ready (start and reload).
const READY_LINE: &str = "Loading success.";

/// The line HAProxy 2.6's master prints when a reload's new configuration fails.
const FAILURE_LINE: &str = "Loading failure!";

const LOG_FILE: &str = "haproxy.log";
const CHECK_LOG_FILE: &str = "check.log";
const CONFIG_FILE: &str = "haproxy.cfg";
const NEW_CONFIG_FILE: &str = "haproxy.cfg.new";

/// Path of the `haproxy` binary: the first `haproxy` on `PATH`, else `/usr/sbin/haproxy`.
///
/// # Panics
///
/// If neither exists, with a message naming the install command: interop tests must fail, not skip,
/// when HAProxy is missing.
pub fn haproxy_path() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("haproxy"));
    on_path
        .chain([PathBuf::from("/usr/sbin/haproxy")])
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "haproxy not found: install it with `apt-get install -y haproxy` \
                 (the test command .ci/run does this)"
            )
        })
}

/// A loopback TCP port that refuses connections: its socket is bound (so nothing else on the
/// machine can take the port) but does not listen, so a connect gets a reset at once.
/// [`RefusedPort::listen`] turns the same socket into a listener, for a server that "comes up"
/// later on the same address.
#[derive(Debug)]
pub struct RefusedPort {
    sock: std::os::fd::OwnedFd,
    addr: SocketAddr,
}

impl RefusedPort {
    /// Binds a socket to `127.0.0.1:0` and keeps it, without listening.
    ///
    /// # Panics
    ///
    /// If the socket cannot be created or bound (no loopback interface).
    pub fn new() -> Self {
        use rustix::net::{AddressFamily, SocketType, bind, getsockname, socket};
        let sock = socket(AddressFamily::INET, SocketType::STREAM, None).expect("TCP socket");
        bind(&sock, &SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind 127.0.0.1:0");
        let addr = getsockname(&sock)
            .ok()
            .and_then(|a| SocketAddr::try_from(a).ok())
            .expect("address of a bound socket");
        Self { sock, addr }
    }

    /// The address, which refuses connections while `self` lives.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Starts listening on the same socket (so on the same address).
    ///
    /// # Panics
    ///
    /// If listen(2) fails.
    pub fn listen(self) -> TcpListener {
        rustix::net::listen(&self.sock, 128).expect("listen on a bound socket");
        TcpListener::from(self.sock)
    }
}

impl Default for RefusedPort {
    fn default() -> Self {
        Self::new()
    }
}

/// What a start function passed to [`claim_port`] returns when its process could not bind the
/// port it was given because something else holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortTaken;

/// How many ports [`claim_port`] tries before it gives up.
pub const CLAIM_ATTEMPTS: usize = 50;

/// Starts something that binds a port of its own choosing and cannot be told "port 0" (HAProxy,
/// the gateway): `start(port)` starts it on a candidate port and returns [`PortTaken`] when its
/// bind found the port in use; then another candidate is tried. Returns what `start` returned
/// and the port.
///
/// There is no window in which the port is free but promised: the process's own bind is the
/// only claim, and a lost race is seen by that bind (never by a connect probe, which could reach
/// whoever else holds the port). Candidates are random ports below the kernel's ephemeral range
/// (`/proc/sys/net/ipv4/ip_local_port_range`), which `bind(0)` and outgoing connections never
/// use, so only another claimant can hold one.
///
/// # Panics
///
/// After [`CLAIM_ATTEMPTS`] ports all taken.
pub fn claim_port<T>(mut start: impl FnMut(u16) -> Result<T, PortTaken>) -> (T, u16) {
    for port in port_candidates() {
        if let Ok(t) = start(port) {
            return (t, port);
        }
    }
    panic!("{CLAIM_ATTEMPTS} candidate ports were all taken");
}

/// The candidates [`claim_port`] tries, for callers that must start their process in an async
/// context: [`CLAIM_ATTEMPTS`] random ports below the kernel's ephemeral range. A candidate is
/// only a candidate: the process's own bind decides.
pub fn port_candidates() -> impl Iterator<Item = u16> {
    let low = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let first = 10_000u16.min(low.saturating_sub(1000));
    let span = u64::from(low.saturating_sub(first).max(1));
    (0..CLAIM_ATTEMPTS)
        .map(move |attempt| first + u16::try_from(random_u64(attempt) % span).unwrap_or(0))
}

/// A number that differs from call to call (std seeds each `RandomState` afresh).
fn random_u64(salt: usize) -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one((salt, std::process::id()))
}

/// Waits until a TCP connection to `addr` succeeds, for at most `timeout`.
///
/// Each attempt uses a connect timeout of at most 100 ms; the connection is closed at once.
///
/// # Errors
///
/// [`io::ErrorKind::TimedOut`] (with the last connect error in the message) if no attempt
/// succeeded before `timeout`.
pub fn wait_for_port(addr: SocketAddr, timeout: Duration) -> io::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let Err(err) = TcpStream::connect_timeout(&addr, Duration::from_millis(100)) else {
            return Ok(());
        };
        if Instant::now() >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{addr} not accepting connections after {timeout:?}: {err}"),
            ));
        }
        // Not a barrier: the poll interval of a bounded wait on the condition above.
        thread::sleep(Duration::from_millis(20));
    }
}

/// A child process, in a process group of its own, killed with its whole group and reaped on drop.
///
/// HAProxy in master-worker mode forks workers that stay in the master's process group; killing the
/// group (SIGKILL to `-pgid`) takes them all down, even when the master cannot forward a signal.
/// After the master is reaped, orphaned workers are reaped by init.
#[derive(Debug)]
pub struct ChildGuard {
    child: Child,
    reaped: Option<ExitStatus>,
}

impl ChildGuard {
    /// Spawns `cmd` as the leader of a new process group (`process_group(0)`).
    ///
    /// # Errors
    ///
    /// Whatever [`Command::spawn`] returns.
    pub fn spawn(cmd: &mut Command) -> io::Result<Self> {
        let child = cmd.process_group(0).spawn()?;
        Ok(Self {
            child,
            reaped: None,
        })
    }

    /// Takes the child's piped standard output, if it was piped and not taken yet.
    pub fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.child.stdout.take()
    }

    /// Takes the child's piped standard error, if it was piped and not taken yet.
    pub fn take_stderr(&mut self) -> Option<std::process::ChildStderr> {
        self.child.stderr.take()
    }

    /// The child's pid, which is also its process group id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if the child has exited, without blocking.
    ///
    /// # Errors
    ///
    /// Whatever [`Child::try_wait`] returns.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.reaped.is_none() {
            self.reaped = self.child.try_wait()?;
        }
        Ok(self.reaped)
    }

    /// Waits at most `timeout` for the child to exit, polling every 10 ms.
    ///
    /// Returns `Ok(None)` if it is still running at the deadline (it is not killed).
    ///
    /// # Errors
    ///
    /// Whatever [`Child::try_wait`] returns.
    pub fn wait_timeout(&mut self, timeout: Duration) -> io::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            // Not a barrier: the poll interval of a bounded wait on the condition above.
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends `signal` to the child only (not its group).
    ///
    /// # Errors
    ///
    /// Whatever kill(2) returns, e.g. `ESRCH` once the child has been reaped.
    pub fn signal(&self, signal: Signal) -> io::Result<()> {
        if self.reaped.is_some() {
            // The pid may belong to another process by now.
            return Err(rustix::io::Errno::SRCH.into());
        }
        rustix::process::kill_process(self.pid(), signal).map_err(io::Error::from)
    }

    /// SIGKILLs the whole process group and reaps the child. Idempotent.
    pub fn kill(&mut self) {
        // The group outlives the leader while workers remain, so kill it even if the leader is dead.
        let _ = rustix::process::kill_process_group(self.pid(), Signal::KILL);
        if self.reaped.is_none() {
            let _ = self.child.kill();
            // SIGKILL cannot be caught: this wait returns as soon as the kernel has torn it down.
            self.reaped = self.child.wait().ok();
        }
    }

    /// Asks the child to stop with SIGTERM, waits at most `grace` for it to exit, then
    /// [`kill`](Self::kill)s the group (which also reaps the child). Idempotent.
    ///
    /// For HAProxy's master this is the clean path: it stops its workers and reaps them before it
    /// exits, so no orphan is left for init to reap.
    pub fn terminate(&mut self, grace: Duration) {
        if self.signal(Signal::TERM).is_ok() {
            let _ = self.wait_timeout(grace);
        }
        self.kill();
    }

    fn pid(&self) -> Pid {
        // A spawned child's pid is always positive.
        Pid::from_child(&self.child)
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A running HAProxy (master-worker, foreground) in its own temporary directory.
///
/// Dropping it stops the master and its workers (SIGTERM, then after at most [`STOP_GRACE`] SIGKILL
/// to the whole group, see [`ChildGuard::terminate`]) and deletes the directory.
pub struct Haproxy {
    // Field order matters: the processes die before their directory is removed.
    child: ChildGuard,
    dir: tempfile::TempDir,
}

impl fmt::Debug for Haproxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Haproxy")
            .field("pid", &self.child.id())
            .field("dir", &self.dir.path())
            .finish()
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        self.child.terminate(STOP_GRACE);
    }
}

impl Haproxy {
    /// Writes `config` as `haproxy.cfg` into a new temporary directory, checks it with `haproxy -c`,
    /// starts `haproxy -W -db -f haproxy.cfg` there and waits (at most [`READY_TIMEOUT`]) until the
    /// master logs that its worker is ready.
    ///
    /// `config` is the whole configuration; a port HAProxy binds comes from [`claim_port`] (see
    /// [`start_on_port`](Self::start_on_port)). The listeners accept connections once this
    /// returns.
    ///
    /// # Panics
    ///
    /// If `haproxy` is missing, if the check fails (with HAProxy's output), or if HAProxy exits or is
    /// not ready in time (with its log).
    pub fn start(config: &str) -> Self {
        Self::start_with_files(config, &[])
    }

    /// As [`start`](Self::start), also writing each `(name, contents)` of `files` into the directory
    /// first. HAProxy's working directory is that directory, so `config` names them by their relative
    /// name, e.g. `filter spoe engine e config spoe.conf`.
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start), and if a name is not a plain relative file name.
    pub fn start_with_files(config: &str, files: &[(&str, &str)]) -> Self {
        match Self::try_start_with_files(config, files) {
            Ok(h) => h,
            Err(PortTaken) => panic!("haproxy could not bind a port: already in use"),
        }
    }

    /// As [`start_with_files`](Self::start_with_files) on the port [`claim_port`] finds:
    /// `config(port)` is the configuration for a candidate port. Returns HAProxy and the port.
    ///
    /// # Panics
    ///
    /// As [`start_with_files`](Self::start_with_files).
    pub fn start_on_port(config: impl Fn(u16) -> String, files: &[(&str, &str)]) -> (Self, u16) {
        claim_port(|port| Self::try_start_with_files(&config(port), files))
    }

    /// As [`start_with_files`](Self::start_with_files), but a port HAProxy cannot bind because it
    /// is in use is [`PortTaken`] rather than a panic.
    ///
    /// # Errors
    ///
    /// [`PortTaken`] when HAProxy logged that a socket could not be bound as its address is in use.
    ///
    /// # Panics
    ///
    /// As [`start_with_files`](Self::start_with_files), for any other failure.
    pub fn try_start_with_files(config: &str, files: &[(&str, &str)]) -> Result<Self, PortTaken> {
        let haproxy = haproxy_path();
        let dir = prepare_dir(config, files);

        let (ok, output) = run_check(&haproxy, dir.path(), CONFIG_FILE);
        assert!(
            ok,
            "haproxy -c rejected the configuration:\n{output}\n--- config ---\n{config}"
        );

        let log = open_log(&dir.path().join(LOG_FILE));
        let log_err = log.try_clone().expect("dup log file");
        let child = ChildGuard::spawn(
            Command::new(&haproxy)
                .args(["-W", "-db", "-f", CONFIG_FILE])
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log_err),
        )
        .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", haproxy.display()));

        let mut this = Self { child, dir };
        match this.wait_ready("", "start") {
            Ok(()) => Ok(this),
            Err(log) if log.contains("Address already in use") => Err(PortTaken),
            Err(log) => panic!("haproxy start failed:\n{log}"),
        }
    }

    /// The master's pid (also the process group id). It stays the same across [`reload`](Self::reload).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Pids of every worker the master has forked so far, oldest first, read from the log's
    /// "New worker (PID) forked" lines. Old workers may have exited since.
    pub fn worker_pids(&self) -> Vec<u32> {
        self.log()
            .lines()
            .filter_map(|l| {
                l.split_once("New worker (")?
                    .1
                    .split_once(')')?
                    .0
                    .parse()
                    .ok()
            })
            .collect()
    }

    /// The temporary directory HAProxy runs in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything HAProxy wrote to stdout and stderr so far (master notices, worker warnings and,
    /// with `log stderr ...` in `global`, its logs).
    pub fn log(&self) -> String {
        let bytes = fs::read(self.dir.path().join(LOG_FILE)).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Reloads HAProxy the way `systemctl reload` does: SIGUSR2 to the master, which re-executes
    /// itself with the same configuration file and forks a new worker; the old worker finishes its
    /// connections. Returns once the new worker is ready (at most [`READY_TIMEOUT`]).
    ///
    /// The configuration file can be changed first with [`write_config`](Self::write_config).
    ///
    /// # Panics
    ///
    /// If the signal cannot be sent, the reload fails ("Loading failure!"), the master exits, or the
    /// new worker is not ready in time; the message includes the log.
    pub fn reload(&mut self) {
        let before = self.log();
        if let Err(e) = self.child.signal(Signal::USR2) {
            panic!(
                "cannot send SIGUSR2 to haproxy master {}: {e}\n{}",
                self.pid(),
                self.log()
            );
        }
        if let Err(log) = self.wait_ready(&before, "reload") {
            panic!("haproxy reload failed:\n{log}");
        }
    }

    /// Replaces `haproxy.cfg` (for a following [`reload`](Self::reload)) after checking the new
    /// content with `haproxy -c`.
    ///
    /// # Panics
    ///
    /// If the check fails, with HAProxy's output.
    pub fn write_config(&self, config: &str) {
        // Checked in place, so relative file names resolve as they will after the reload.
        let candidate = self.dir.path().join(NEW_CONFIG_FILE);
        fs::write(&candidate, config).expect("write haproxy.cfg.new");
        let (ok, output) = run_check(&haproxy_path(), self.dir.path(), NEW_CONFIG_FILE);
        assert!(
            ok,
            "haproxy -c rejected the configuration:\n{output}\n--- config ---\n{config}"
        );
        fs::rename(&candidate, self.dir.path().join(CONFIG_FILE)).expect("replace haproxy.cfg");
    }

    /// Whether the master is in its wait loop, where it handles SIGUSR2 and SIGTERM.
    ///
    /// 2.6's master prints "Loading success." right after forking the worker, then re-executes
    /// itself in "wait mode" with these signals blocked (and SIGUSR2 ignored), and only installs its
    /// handlers and unblocks them in `mworker_loop()`. A signal sent in that window is lost (seen: a
    /// reload right after start never happened), so readiness also requires SIGUSR2 to be caught
    /// and not blocked, per `/proc/<pid>/status`.
    fn master_in_loop(&self) -> bool {
        let Ok(status) = fs::read_to_string(format!("/proc/{}/status", self.pid())) else {
            return false;
        };
        let mask = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        };
        let bit = 1u64 << (Signal::USR2.as_raw() - 1);
        matches!((mask("SigCgt:"), mask("SigBlk:")), (Some(cgt), Some(blk)) if cgt & bit != 0 && blk & bit == 0)
    }

    /// Waits until the log has more ready lines than the log `before` had and the master can take
    /// signals again. A new failure line or an exit is an error with the log; the timeout panics.
    fn wait_ready(&mut self, before: &str, what: &str) -> Result<(), String> {
        let ready_before = before.matches(READY_LINE).count();
        let failures_before = before.matches(FAILURE_LINE).count();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let log = self.log();
            if log.matches(READY_LINE).count() > ready_before && self.master_in_loop() {
                return Ok(());
            }
            if log.matches(FAILURE_LINE).count() > failures_before {
                return Err(format!("haproxy {what} failed:\n{log}"));
            }
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    return Err(format!("haproxy exited during {what} ({status}):\n{log}"));
                }
                Ok(None) => {}
                Err(e) => panic!("cannot wait for haproxy: {e}\n{log}"),
            }
            if Instant::now() >= deadline {
                panic!("haproxy {what}: no {READY_LINE:?} after {READY_TIMEOUT:?}:\n{log}");
            }
            // Not a barrier: the poll interval of a bounded wait on the condition above.
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Runs `haproxy -c` on `config` in a fresh temporary directory, for tests that compare what HAProxy
/// accepts with what this project accepts.
///
/// Returns whether HAProxy accepted it, and its combined stdout and stderr. A check running longer
/// than [`CHECK_TIMEOUT`] is killed and reported as rejected.
///
/// # Panics
///
/// If `haproxy` is missing or the temporary directory cannot be written.
pub fn haproxy_check(config: &str) -> (bool, String) {
    haproxy_check_with_files(config, &[])
}

/// As [`haproxy_check`], with extra files written next to the configuration (see
/// [`Haproxy::start_with_files`]).
///
/// # Panics
///
/// As [`haproxy_check`], and if a name is not a plain relative file name.
pub fn haproxy_check_with_files(config: &str, files: &[(&str, &str)]) -> (bool, String) {
    let haproxy = haproxy_path();
    let dir = prepare_dir(config, files);
    run_check(&haproxy, dir.path(), CONFIG_FILE)
}

/// One warning of `haproxy -c`'s output, and what it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaproxyWarning {
    /// The message, continuation lines joined (without the `[WARNING] (pid) : config :`
    /// prefix).
    pub text: String,
    /// `file:line` when the warning names one (`parsing [file:line]`, `... at file:line`).
    pub at: Option<(String, u32)>,
    /// The proxy the warning names otherwise (`missing timeouts for frontend 'web'`).
    pub proxy: Option<String>,
}

impl HaproxyWarning {
    /// Where the warning points: its `file:line`, or the line of the `frontend`, `backend`
    /// or `listen` section it names in `config` (the text of `config_name`).
    pub fn place(&self, config: &str, config_name: &str) -> Option<(String, u32)> {
        if let Some(at) = &self.at {
            return Some(at.clone());
        }
        let proxy = self.proxy.as_deref()?;
        let line = config.lines().position(|l| {
            let mut words = l.split_whitespace();
            matches!(words.next(), Some("frontend" | "backend" | "listen"))
                && words.next() == Some(proxy)
        })?;
        Some((config_name.to_owned(), u32::try_from(line + 1).ok()?))
    }
}

/// The warnings of `haproxy -c`'s `output`, in order.
pub fn haproxy_warnings(output: &str) -> Vec<HaproxyWarning> {
    let mut warnings: Vec<HaproxyWarning> = Vec::new();
    for line in output.lines() {
        if let Some(rest) = line.split_once("[WARNING]").map(|(_, r)| r) {
            let text = rest.split_once(" : ").map_or(rest, |(_, t)| t);
            let text = text
                .strip_prefix("config : ")
                .unwrap_or(text)
                .trim()
                .to_owned();
            warnings.push(HaproxyWarning {
                text,
                at: None,
                proxy: None,
            });
        } else if let (Some(w), Some(more)) =
            (warnings.last_mut(), line.trim_start().strip_prefix('|'))
        {
            w.text.push(' ');
            w.text.push_str(more.trim());
        }
    }
    for w in &mut warnings {
        w.at = location(&w.text);
        w.proxy = ["frontend '", "backend '", "proxy '", "Proxy '"]
            .iter()
            .find_map(|kind| {
                let start = w.text.find(kind)? + kind.len();
                let len = w.text[start..].find('\'')?;
                Some(w.text[start..start + len].to_owned())
            });
    }
    warnings
}

/// `parsing [file:line]` or a trailing `at file:line`.
fn location(text: &str) -> Option<(String, u32)> {
    let spot = if let Some(i) = text.find("parsing [") {
        let rest = &text[i + "parsing [".len()..];
        &rest[..rest.find(']')?]
    } else {
        let i = text.rfind(" at ")?;
        text[i + 4..]
            .split_whitespace()
            .next()?
            .trim_end_matches('.')
    };
    let (file, line) = spot.rsplit_once(':')?;
    Some((file.to_owned(), line.parse().ok()?))
}

/// As [`haproxy_check`], with exactly the environment `env` (nothing inherited): for tests of
/// environment variables in configurations.
///
/// # Panics
///
/// As [`haproxy_check`].
pub fn haproxy_check_with_env(config: &str, env: &[(&str, &str)]) -> (bool, String) {
    let haproxy = haproxy_path();
    let dir = prepare_dir(config, &[]);
    run_check_in(&haproxy, dir.path(), CONFIG_FILE, Some(env))
}

fn prepare_dir(config: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("spoe-interop-")
        .tempdir()
        .expect("create temporary directory");
    for (name, contents) in files {
        assert!(
            !name.is_empty()
                && !name.contains('/')
                && ![CONFIG_FILE, NEW_CONFIG_FILE, LOG_FILE, CHECK_LOG_FILE].contains(name),
            "bad file name {name:?}: use a plain name that the harness does not use itself"
        );
        fs::write(dir.path().join(name), contents).expect("write file into temporary directory");
    }
    fs::write(dir.path().join(CONFIG_FILE), config).expect("write haproxy.cfg");
    dir
}

/// `haproxy -c -f <config_file>` in `dir`, bounded by [`CHECK_TIMEOUT`].
fn run_check(haproxy: &Path, dir: &Path, config_file: &str) -> (bool, String) {
    run_check_in(haproxy, dir, config_file, None)
}

/// [`run_check`] with exactly the environment `env`, when given.
fn run_check_in(
    haproxy: &Path,
    dir: &Path,
    config_file: &str,
    env: Option<&[(&str, &str)]>,
) -> (bool, String) {
    // Output goes to a file, not a pipe, so a chatty check cannot block on a full pipe.
    let out_path = dir.join(CHECK_LOG_FILE);
    let out = File::create(&out_path).expect("create check log");
    let err = out.try_clone().expect("dup check log");
    let mut command = Command::new(haproxy);
    command
        .args(["-c", "-f", config_file])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    if let Some(env) = env {
        command.env_clear().envs(env.iter().copied());
    }
    let mut child = ChildGuard::spawn(&mut command)
        .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", haproxy.display()));
    let status = child
        .wait_timeout(CHECK_TIMEOUT)
        .expect("wait for haproxy -c");
    drop(child);
    let mut output = String::from_utf8_lossy(&fs::read(&out_path).unwrap_or_default()).into_owned();
    match status {
        Some(status) => (status.success(), output),
        None => {
            output.push_str(&format!("\n(haproxy -c killed after {CHECK_TIMEOUT:?})"));
            (false, output)
        }
    }
}

fn open_log(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

/// What [`http_get`] returns: status code, headers in order (names as sent, values trimmed), body.
pub type HttpResponse = (u16, Vec<(String, String)>, Vec<u8>);

/// One HTTP/1.1 `GET` with `Connection: close`: returns the status code, the response headers in
/// order (names as sent) and the body.
///
/// Every read has a timeout of [`HTTP_TIMEOUT`], and the whole exchange must finish within
/// [`HTTP_TIMEOUT`] too. Handles `Content-Length`, chunked and read-to-close bodies.
///
/// # Errors
///
/// Connect or I/O errors, [`io::ErrorKind::TimedOut`] past the deadline, and
/// [`io::ErrorKind::InvalidData`] for a response that is not HTTP/1.x, is truncated, or is larger than
/// [`HTTP_MAX_RESPONSE`].
pub fn http_get(
    addr: impl ToSocketAddrs,
    path: &str,
    extra_headers: &[(&str, &str)],
) -> io::Result<HttpResponse> {
    let deadline = Instant::now() + HTTP_TIMEOUT;
    let addr = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address"))?;
    let stream = TcpStream::connect_timeout(&addr, HTTP_TIMEOUT)?;
    stream.set_read_timeout(Some(HTTP_TIMEOUT))?;
    stream.set_write_timeout(Some(HTTP_TIMEOUT))?;
    get_on(stream, &addr.to_string(), path, extra_headers, deadline)
}

/// Sends `GET path` with `Connection: close` on `stream` and reads the whole
/// response, by `deadline`.
fn get_on(
    mut stream: impl Read + Write,
    host: &str,
    path: &str,
    extra_headers: &[(&str, &str)],
    deadline: Instant,
) -> io::Result<HttpResponse> {
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in extra_headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;

    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if Instant::now() >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "HTTP response deadline",
            ));
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if raw.len() > HTTP_MAX_RESPONSE {
            return Err(invalid("response too large"));
        }
    }
    parse_response(&raw)
}

/// As [`http_get`], over a Unix stream socket: for a HAProxy frontend bound
/// on `unix@PATH` in its temporary directory, which needs no port at all.
///
/// # Errors
///
/// As [`http_get`].
pub fn http_get_unix(
    socket: &Path,
    path: &str,
    extra_headers: &[(&str, &str)],
) -> io::Result<HttpResponse> {
    let deadline = Instant::now() + HTTP_TIMEOUT;
    let stream = std::os::unix::net::UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(HTTP_TIMEOUT))?;
    stream.set_write_timeout(Some(HTTP_TIMEOUT))?;
    get_on(stream, "localhost", path, extra_headers, deadline)
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_owned())
}

fn parse_response(raw: &[u8]) -> io::Result<HttpResponse> {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let rest = &raw[head_end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    if !parts.next().unwrap_or_default().starts_with("HTTP/1.") {
        return Err(invalid("not an HTTP/1.x status line"));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| invalid("bad status code"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };

    let body = if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        decode_chunked(rest)?
    } else if let Some(len) = header("content-length") {
        let len: usize = len.parse().map_err(|_| invalid("bad content-length"))?;
        rest.get(..len)
            .ok_or_else(|| invalid("body shorter than content-length"))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok((status, headers, body))
}

fn decode_chunked(mut rest: &[u8]) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| invalid("truncated chunk size"))?;
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| invalid("bad chunk size"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        let chunk = rest.get(..size).ok_or_else(|| invalid("truncated chunk"))?;
        body.extend_from_slice(chunk);
        rest = rest
            .get(size + 2..)
            .ok_or_else(|| invalid("truncated chunk"))?;
    }
}

/// The sum of the samples `name{labels}` of a Prometheus text exposition (of every label set when
/// `labels` is empty; labels written as in the exposition, e.g. `outcome="ok"`).
#[must_use]
pub fn metric_sum(text: &str, name: &str, labels: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            let (metric, key_labels) = match key.split_once('{') {
                Some((m, rest)) => (m, rest.trim_end_matches('}')),
                None => (key, ""),
            };
            (metric == name && (labels.is_empty() || key_labels == labels))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

/// The tests' spoe.conf of engine `e`: agent `echo-agent` in backend `agents` (variables
/// `txn.echo.*`, errors in `txn.echo.err`), one message `echo` with `args` on
/// `on-frontend-http-request`; `force_set_var` adds `option force-set-var`.
#[must_use]
pub fn echo_spoe_conf(args: &str, processing: &str, force_set_var: bool) -> String {
    let force = if force_set_var {
        "    option force-set-var\n"
    } else {
        ""
    };
    format!(
        "\
[e]
spoe-agent echo-agent
    messages echo
    option var-prefix echo
    option set-on-error err
{force}    timeout hello 2s
    timeout idle 30s
    timeout processing {processing}
    use-backend agents
    log global

spoe-message echo
    args {args}
    event on-frontend-http-request
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_length_response() {
        let raw =
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nokEXTRA";
        let (status, headers, body) = parse_response(raw).unwrap();
        assert_eq!(status, 200);
        assert_eq!(
            headers[1],
            ("content-type".to_owned(), "text/plain".to_owned())
        );
        assert_eq!(body, b"ok");
    }

    #[test]
    fn parses_chunked_response() {
        let raw = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        let (status, _, body) = parse_response(raw).unwrap();
        assert_eq!(status, 404);
        assert_eq!(body, b"abcde");
    }

    #[test]
    fn rejects_truncated_response() {
        assert!(parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nok").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(parse_response(b"SSH-2.0\r\n\r\n").is_err());
    }

    #[test]
    fn wait_for_port_times_out_on_closed_port() {
        let closed = RefusedPort::new();
        let err = wait_for_port(closed.addr(), Duration::from_millis(200)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[test]
    fn a_refused_port_refuses_then_listens() {
        let port = RefusedPort::new();
        let addr = port.addr();
        let err = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        let listener = port.listen();
        assert_eq!(listener.local_addr().unwrap(), addr);
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    }

    #[test]
    fn claim_port_retries_a_taken_port() {
        let mut seen = Vec::new();
        let (v, port) = claim_port(|p| {
            seen.push(p);
            if seen.len() < 3 {
                Err(PortTaken)
            } else {
                Ok("started")
            }
        });
        assert_eq!((v, seen.len(), Some(&port)), ("started", 3, seen.last()));
        let low: u16 = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(seen.iter().all(|&p| p < low), "{seen:?} not below {low}");
    }

    #[test]
    fn child_guard_kills_group_on_drop() {
        let guard = ChildGuard::spawn(Command::new("sleep").arg("30")).unwrap();
        let pid = guard.id();
        drop(guard);
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
    }
}
