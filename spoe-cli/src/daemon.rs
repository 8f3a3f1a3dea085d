//! `daemon` in `global`: `spoe gateway` returns once the gateway listens, and the gateway goes
//! on in the background, in a session of its own, as HAProxy's `daemon` mode does.
//!
//! HAProxy binds, then forks. A process with threads cannot fork safely, and the gateway's
//! runtime and workers are threads: the command starts itself again instead (the same
//! arguments, plus `--daemon-child`), before any thread exists, and waits until that process
//! says it listens (systemd's `READY=1`, on a socket of the command's own) or exits. A
//! configuration that fails to bind makes the command fail, as HAProxy's. The gateway's
//! stdin is `/dev/null`; its stdout and stderr stay the command's (HAProxy closes them:
//! redirect them to get that).

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// The hidden argument that tells the started process it is the daemon.
pub(crate) const CHILD_ARG: &str = "--daemon-child";

/// How often the wait looks whether the gateway exited (it wakes up at once on `READY=1`).
const EXIT_POLL: Duration = Duration::from_millis(100);

/// Starts the gateway in the background and returns once it listens.
pub(crate) fn launch() -> Result<()> {
    let dir = tempfile::tempdir().context("creating the daemon's readiness socket")?;
    let path = dir.path().join("notify");
    let ready = UnixDatagram::bind(&path).context("binding the daemon's readiness socket")?;
    ready.set_read_timeout(Some(EXIT_POLL))?;
    let exe = std::env::current_exe().context("finding the spoe command")?;
    let mut child = Command::new(exe)
        .args(std::env::args_os().skip(1))
        .arg(CHILD_ARG)
        .env("NOTIFY_SOCKET", &path)
        .stdin(Stdio::null())
        .spawn()
        .context("starting the gateway in the background")?;
    let mut buf = [0u8; 256];
    loop {
        match ready.recv(&mut buf) {
            Ok(n) if buf[..n].split(|b| *b == b'\n').any(|l| l == b"READY=1") => return Ok(()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e).context("waiting for the gateway to listen"),
        }
        if let Some(status) = child.try_wait()? {
            bail!("the gateway stopped before it listened ({status})");
        }
    }
}

/// In the started process: a session of its own, away from the command's terminal.
pub(crate) fn detach() -> Result<()> {
    nix::unistd::setsid().context("setsid")?;
    Ok(())
}
