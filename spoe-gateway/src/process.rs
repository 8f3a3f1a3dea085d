//! What `global` makes of the process once its listeners are open, in HAProxy 2.6's order
//! (`main()` and `set_identity()` in `src/haproxy.c`): `chroot` (then `chdir("/")`), no
//! supplementary group, `setgid`, `setuid`. The calls are glibc's, which apply them to every
//! thread of the process (the worker threads are running already).
//!
//! It happens once, at start: a reload reads its files and binds new addresses as the user,
//! and in the root directory, the gateway became (see `changed_on_reload`).

use std::path::PathBuf;
use std::sync::Arc;

use nix::unistd::{Gid, Uid, chdir, chroot, getgroups, setgid, setgroups, setuid};

use crate::model::Process;

/// Why the process could not become what `global` says (HAProxy stops with the same words:
/// "Cannot chroot(DIR)", "Cannot set gid N", "Cannot set uid N").
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// `chroot DIR` failed (no such directory, not allowed).
    #[error("Cannot chroot({dir}): {source}")]
    Chroot {
        /// The directory.
        dir: PathBuf,
        /// The operating system's error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// `group`/`gid` could not be set.
    #[error("Cannot set gid {gid}: {source}")]
    Gid {
        /// The group id.
        gid: u32,
        /// The operating system's error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// `user`/`uid` could not be set.
    #[error("Cannot set uid {uid}: {source}")]
    Uid {
        /// The user id.
        uid: u32,
        /// The operating system's error.
        #[source]
        source: Arc<std::io::Error>,
    },
}

fn io(e: nix::Error) -> Arc<std::io::Error> {
    Arc::new(std::io::Error::from(e))
}

/// Enters `chroot`, then drops to `group` and `user`, as HAProxy does once listening.
pub(crate) fn enter(process: &Process) -> Result<(), ProcessError> {
    if let Some(dir) = &process.chroot {
        chroot(dir)
            .and_then(|()| chdir("/"))
            .map_err(|e| ProcessError::Chroot {
                dir: dir.clone(),
                source: io(e),
            })?;
    }
    if process.gid != 0 {
        // As HAProxy: a failure to drop the supplementary groups is only a warning (they stay
        // when the gateway cannot change them, as when it does not run as root).
        if getgroups().is_ok_and(|g| !g.is_empty())
            && let Err(e) = setgroups(&[])
        {
            tracing::warn!(
                "Failed to drop supplementary groups ({e}). Using 'gid'/'group' without \
                 'uid'/'user' is generally useless."
            );
        }
        setgid(Gid::from_raw(process.gid)).map_err(|e| ProcessError::Gid {
            gid: process.gid,
            source: io(e),
        })?;
    }
    if process.uid != 0 {
        setuid(Uid::from_raw(process.uid)).map_err(|e| ProcessError::Uid {
            uid: process.uid,
            source: io(e),
        })?;
    }
    if process.dumpable {
        dumpable();
    }
    Ok(())
}

/// `set-dumpable`, as HAProxy once it changed user: no file size or core size limit, and the
/// process dumpable again (a change of user clears the flag). A failure is a warning.
fn dumpable() {
    use rustix::process::{Resource, Rlimit, setrlimit};
    for (resource, what) in [
        (Resource::Fsize, "maximum file size"),
        (Resource::Core, "core dump size"),
    ] {
        let unlimited = Rlimit {
            current: None,
            maximum: None,
        };
        if setrlimit(resource, unlimited).is_err() {
            tracing::warn!("Failed to raise the {what} ('set-dumpable').");
        }
    }
    if nix::sys::prctl::set_dumpable(true).is_err() {
        tracing::warn!("Failed to set the dumpable flag, no core will be dumped.");
    }
}

/// What a reload would change of [`Process`] that only a restart can (the process already
/// left its root directory and user behind): `None` when nothing.
pub(crate) fn changed_on_reload(running: &Process, new: &Process) -> Option<String> {
    let mut changed = Vec::new();
    if running.chroot != new.chroot {
        changed.push("'chroot'");
    }
    if running.uid != new.uid {
        changed.push("'user'/'uid'");
    }
    if running.gid != new.gid {
        changed.push("'group'/'gid'");
    }
    if running.files != new.files {
        changed.push("'ulimit-n'/'fd-hard-limit'/'strict-limits'");
    }
    if running.cpu_map != new.cpu_map {
        changed.push("'cpu-map'");
    }
    (!changed.is_empty()).then(|| {
        format!(
            "{} changed: the gateway changes its root directory, user, group, open files \
             limit and CPUs once, at start; restart it to apply the new ones",
            changed.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reload_may_not_change_what_only_a_start_does() {
        let running = Process {
            daemon: true,
            uid: 65534,
            gid: 65534,
            chroot: Some("/var/empty".into()),
            ..Process::default()
        };
        let same_but_foreground = Process {
            daemon: false,
            ..running.clone()
        };
        assert_eq!(changed_on_reload(&running, &same_but_foreground), None);
        let other = Process {
            daemon: true,
            uid: 1,
            gid: 65534,
            chroot: None,
            ..Process::default()
        };
        let why = changed_on_reload(&running, &other).expect("refused");
        assert!(why.starts_with("'chroot', 'user'/'uid' changed"), "{why}");
    }
}
