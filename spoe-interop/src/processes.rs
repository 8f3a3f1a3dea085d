//! Processes tests start beside HAProxy: programs that report the address they bound on
//! stdout, the workspace's own binaries and examples, the PyPI reference agent's Python, and
//! `redis-server` on a Unix socket.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::ChildGuard;

/// How long a started process may take to report its address or answer.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The Python that has the PyPI references (`haproxyspoa`): `$SPOE_TEST_PYTHON`, else the
/// workspace's `.venv` (which `./test.sh` creates).
///
/// # Panics
///
/// When neither exists, naming the command that installs them: the tests fail, never skip.
pub fn reference_python() -> String {
    if let Ok(p) = std::env::var("SPOE_TEST_PYTHON") {
        return p;
    }
    let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python");
    assert!(
        Path::new(venv).exists(),
        "the PyPI references (haproxyspoa) are not installed: run ./test.sh (it creates .venv with `pip install haproxyspoa`)"
    );
    venv.to_owned()
}

/// A binary of this workspace built in the same profile as the running test:
/// `target/<profile>/<name>` (a `[[bin]]`), or `target/<profile>/examples/<name>` with
/// `example`; looked for next to the running test, then in the workspace's `target/` (for the
/// tests of a crate outside the workspace, such as `examples/pingora`).
///
/// # Panics
///
/// When it was not built, naming the command that builds it (`cargo test --workspace` does).
pub fn workspace_binary(name: &str, example: bool, build_hint: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test binary");
    // target/<profile>/deps/<test>
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary in target/<profile>/deps");
    let in_dir = |dir: &Path| {
        if example {
            dir.join("examples").join(name)
        } else {
            dir.join(name)
        }
    };
    let here = in_dir(profile);
    if here.exists() {
        return here;
    }
    let workspace = crate::readme::workspace_root()
        .join("target")
        .join(profile.file_name().unwrap_or_default());
    let there = in_dir(&workspace);
    assert!(
        there.exists(),
        "{} is not built (nor {}): run `{build_hint}` (`cargo test --workspace` builds it)",
        here.display(),
        there.display()
    );
    there
}

/// A process that printed the address it bound on its stdout, whose later lines a test can
/// wait for.
#[derive(Debug)]
pub struct Reporting {
    /// The process (killed on drop).
    pub child: ChildGuard,
    /// What the first reporting line gave (the address).
    pub found: String,
    lines: std::sync::Mutex<mpsc::Receiver<String>>,
}

impl Reporting {
    /// Starts `cmd` with its stdout piped and waits, at most [`START_TIMEOUT`], for the first
    /// line from which `find` extracts a value (the address it bound).
    ///
    /// # Panics
    ///
    /// When it cannot be spawned, or ends or stays silent past the timeout (with its lines).
    pub fn start(cmd: &mut Command, find: impl Fn(&str) -> Option<String>) -> Self {
        let mut child = ChildGuard::spawn(cmd.stdout(Stdio::piped()))
            .unwrap_or_else(|e| panic!("cannot spawn {cmd:?}: {e}"));
        let stdout = child.take_stdout().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        // Reads until the child's stdout closes, so that the child never blocks on a full pipe.
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(found) = find(&line) {
                        return Self {
                            child,
                            found,
                            lines: std::sync::Mutex::new(lines),
                        };
                    }
                    seen.push(line);
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("{cmd:?} ended without reporting its address: {seen:?}")
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("{cmd:?} reported no address within {START_TIMEOUT:?}: {seen:?}")
                }
            }
        }
    }

    /// Waits at most `timeout` for a later stdout line that `wanted` accepts, and returns it
    /// (`None` past the timeout or when the process closed its stdout).
    pub fn wait_line(&self, timeout: Duration, wanted: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let lines = self
            .lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) if wanted(&line) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }
}

/// A `redis-server` on a Unix socket in a temporary directory (`--port 0`: no TCP at all),
/// killed on drop.
#[derive(Debug)]
pub struct Redis {
    child: ChildGuard,
    socket: PathBuf,
    dir: tempfile::TempDir,
}

impl Redis {
    /// Starts it and waits until it answers PING.
    ///
    /// # Panics
    ///
    /// When `redis-server` is missing (naming the install command) or does not answer within
    /// [`START_TIMEOUT`].
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("spoe-redis-")
            .tempdir()
            .expect("temporary directory");
        let socket = dir.path().join("redis.sock");
        let log = std::fs::File::create(dir.path().join("redis.log")).expect("redis log");
        let mut child = ChildGuard::spawn(
            Command::new("redis-server")
                .args(["--port", "0", "--save", "", "--appendonly", "no"])
                .arg("--unixsocket")
                .arg(&socket)
                .args(["--unixsocketperm", "700"])
                .arg("--dir")
                .arg(dir.path())
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("dup"))
                .stderr(log),
        )
        .unwrap_or_else(|e| {
            panic!(
                "cannot spawn redis-server ({e}): install it with `apt-get install -y redis-server` (test.sh does)"
            )
        });
        let deadline = Instant::now() + START_TIMEOUT;
        while !ping(&socket) {
            let gone = child.try_wait().ok().flatten().is_some();
            assert!(
                !gone && Instant::now() < deadline,
                "redis-server not answering PING on {} within {START_TIMEOUT:?}:\n{}",
                socket.display(),
                std::fs::read_to_string(dir.path().join("redis.log")).unwrap_or_default()
            );
            // Poll interval of a bounded wait (the server's readiness has no event to wait on).
            thread::sleep(Duration::from_millis(10));
        }
        Self { child, socket, dir }
    }

    /// Its URL for the `redis` crate: `redis+unix:///.../redis.sock`.
    pub fn url(&self) -> String {
        format!("redis+unix://{}", self.socket.display())
    }

    /// Its temporary directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kills it now (a test of what happens without Redis).
    pub fn kill(&mut self) {
        self.child.kill();
    }
}

fn ping(socket: &Path) -> bool {
    let Ok(mut s) = UnixStream::connect(socket) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

/// A TCP agent that accepts connections and never answers (not even its hello): every
/// message sent to it runs out its `timeout processing`. Its listener lives until drop.
#[derive(Debug)]
pub struct SilentAgent {
    listener: std::net::TcpListener,
    held: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl SilentAgent {
    /// Listens on a loopback port the kernel picks, holding every connection open.
    pub fn start() -> io::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let accept = listener.try_clone()?;
        let kept = held.clone();
        // Ends when the listener is shut down (drop): accept then fails.
        thread::spawn(move || {
            for conn in accept.incoming() {
                let Ok(conn) = conn else { break };
                kept.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(conn);
            }
        });
        Ok(Self { listener, held })
    }

    /// Its address.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.listener.local_addr().expect("bound listener")
    }

    /// How many connections it received.
    pub fn connections(&self) -> usize {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

impl Drop for SilentAgent {
    fn drop(&mut self) {
        // accept() then fails, which ends the accepting thread.
        let _ = rustix::net::shutdown(&self.listener, rustix::net::Shutdown::Both);
    }
}
