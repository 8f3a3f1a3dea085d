//! Differential tests of what `global` makes of the process: `daemon`, `user`/`group`,
//! `chroot`. The same `haproxy.cfg` is run by HAProxy 2.6 and by `spoe gateway -f`: with
//! `daemon`, each command returns once listening and leaves one process in a session of its
//! own, whose pid the pidfile holds, serving; once listening, every thread of that process
//! runs as the configured user and group with no supplementary group, in the `chroot`
//! directory; `-db` keeps both in the foreground; a `chroot` that fails stops both at start.
//! Fails (never skips) without `haproxy`; runs as root, as the suite does.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock"
)]

mod gateway_support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use gateway_support::{
    ChildGuard, PortTaken, SPOE, claim_port, get, local, run_to_exit, wait_until,
};
use spoe_interop::{Haproxy, haproxy_path};

/// Held by each test: the daemons of one test at a time (they start, bind and count their
/// threads more slowly when several start together on a loaded machine).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What the tests compare of a running process.
#[derive(Debug, PartialEq, Eq)]
struct Facts {
    /// The `Uid:`, `Gid:` and `Groups:` lines of every thread (the same for all, or more).
    ids: BTreeSet<String>,
    /// Its root and current directories.
    root: PathBuf,
    cwd: PathBuf,
    /// Whether it leads a session of its own (`setsid`).
    session_leader: bool,
}

fn facts(pid: u32) -> Facts {
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let mut ids = BTreeSet::new();
    for task in std::fs::read_dir(proc.join("task")).expect("read tasks") {
        let status = std::fs::read_to_string(task.unwrap().path().join("status")).unwrap();
        for line in status.lines() {
            if ["Uid:", "Gid:", "Groups:"]
                .iter()
                .any(|k| line.starts_with(k))
            {
                ids.insert(line.split_whitespace().collect::<Vec<_>>().join(" "));
            }
        }
    }
    let stat = std::fs::read_to_string(proc.join("stat")).unwrap();
    // After the command's name in parentheses: state, ppid, pgrp, session.
    let after = &stat[stat.rfind(')').unwrap() + 1..];
    let session: u32 = after.split_whitespace().nth(3).unwrap().parse().unwrap();
    Facts {
        ids,
        root: std::fs::read_link(proc.join("root")).unwrap(),
        cwd: std::fs::read_link(proc.join("cwd")).unwrap(),
        session_leader: session == pid,
    }
}

/// A process left in the background, killed (by the pid its pidfile gave) when dropped.
struct Daemon(u32);

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.0 as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

fn cfg(port: u16, global: &str, pidfile: &Path) -> String {
    format!(
        "global\n{global}    pidfile {}\ndefaults\n    mode http\n    timeout connect 1s\n    \
         timeout client 5s\n    timeout server 5s\nfrontend fe\n    bind 127.0.0.1:{port}\n    \
         http-request return status 200 content-type text/plain string ok\n",
        pidfile.display()
    )
}

/// Runs `cmd` to its exit (at most 20 s) with its output. Unlike `run_to_exit`, nothing kills
/// its process group afterwards: HAProxy's daemon leaves it (`setsid()`) only after its parent
/// returned, and would die with it.
fn run_detaching(cmd: &mut Command) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let file = std::fs::File::create(&out).unwrap();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .expect("spawn");
    let exited = wait_until(Duration::from_secs(20), || {
        child.try_wait().ok().flatten().is_some()
    });
    if !exited {
        let _ = child.kill();
    }
    let status = child.wait().expect("wait");
    assert!(exited, "did not exit at start");
    (status.code(), std::fs::read_to_string(out).unwrap())
}

/// Runs `command -f FILE` (with `cfg` for a candidate port) to its exit, which `daemon` makes
/// the exit once listening; returns the exit code, the output, the pid the pidfile holds and
/// the port.
fn run_daemon(
    dir: &Path,
    name: &str,
    global: &str,
    command: impl Fn(&Path) -> Command,
) -> (Option<i32>, String, Daemon, u16) {
    let file = dir.join(format!("{name}.cfg"));
    let pidfile = dir.join(format!("{name}.pid"));
    let ((code, out), port) = claim_port(|port| {
        std::fs::write(&file, cfg(port, global, &pidfile)).unwrap();
        let (code, out) = run_detaching(&mut command(&file));
        if out.contains("Address already in use") || out.contains("cannot bind") {
            return Err(PortTaken);
        }
        Ok((code, out))
    });
    let pid = std::fs::read_to_string(&pidfile)
        .unwrap_or_else(|e| panic!("{name}: no pidfile ({e}); output:\n{out}"));
    let pid = pid.trim().parse().expect("a pid");
    (code, out, Daemon(pid), port)
}

#[test]
fn daemon_user_group_and_chroot_as_haproxy() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("empty");
    std::fs::create_dir(&root).unwrap();
    let global = format!(
        "    daemon\n    user nobody\n    group nogroup\n    chroot {}\n",
        root.display()
    );
    let (hap_code, hap_out, hap, hap_port) = run_daemon(dir.path(), "haproxy", &global, |f| {
        let mut c = Command::new(haproxy_path());
        c.arg("-f").arg(f);
        c
    });
    let (gw_code, gw_out, gw, gw_port) = run_daemon(dir.path(), "gateway", &global, |f| {
        let mut c = Command::new(SPOE);
        c.args(["gateway", "-f"]).arg(f);
        c
    });
    assert_eq!(hap_code, Some(0), "{hap_out}");
    assert_eq!(gw_code, Some(0), "{gw_out}");
    // Listening as soon as the command returned, from the background.
    for port in [hap_port, gw_port] {
        let resp = get(local(port), "/", &[]).expect("served by the daemon");
        assert_eq!(resp.status, 200);
    }
    let (hap_facts, gw_facts) = (facts(hap.0), facts(gw.0));
    assert_eq!(gw_facts, hap_facts);
    assert!(gw_facts.session_leader);
    assert_eq!(gw_facts.root, root);
    assert!(
        gw_facts.ids.contains("Uid: 65534 65534 65534 65534") && gw_facts.ids.len() == 3,
        "{:?}",
        gw_facts.ids
    );
}

#[test]
fn db_keeps_both_in_the_foreground() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let (hap_pid, gw_pid) = (dir.path().join("h.pid"), dir.path().join("g.pid"));
    // HAProxy's helper runs `haproxy -W -db`: the master stays, its pid in the file.
    let (haproxy, _) = Haproxy::start_on_port(|p| cfg(p, "    daemon\n", &hap_pid), &[]);
    assert_eq!(
        std::fs::read_to_string(&hap_pid).unwrap(),
        format!("{}\n", haproxy.pid())
    );
    let file = dir.path().join("g.cfg");
    let err = dir.path().join("g.err");
    let (mut child, _) = claim_port(|port| {
        std::fs::write(&file, cfg(port, "    daemon\n", &gw_pid)).unwrap();
        let mut child = ChildGuard::spawn(
            Command::new(SPOE)
                .args(["gateway", "-db", "-f"])
                .arg(&file)
                .env("RUST_LOG", "info")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&err).unwrap()),
        )
        .unwrap();
        gateway_support::wait_listening(&mut child, local(port), &err)?;
        Ok(child)
    });
    assert_eq!(
        std::fs::read_to_string(&gw_pid).unwrap(),
        format!("{}\n", child.id())
    );
    assert!(child.try_wait().unwrap().is_none(), "still running");
    child.terminate(Duration::from_secs(5));
}

#[test]
fn a_chroot_that_fails_stops_both() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir");
    let global = format!("    chroot {}\n", missing.display());
    let expected = format!("Cannot chroot({})", missing.display());
    both_stop_at_start(dir.path(), &global, &expected);
}

/// HAProxy (`-db`) and the gateway, on the same file with `global`, both stop at start (exit
/// 1) saying `expected`.
fn both_stop_at_start(dir: &Path, global: &str, expected: &str) {
    let file = dir.join("stop.cfg");
    let pidfile = dir.join("stop.pid");
    let ((hap, hap_out, gw, gw_out), _) = claim_port(|port| {
        std::fs::write(&file, cfg(port, global, &pidfile)).unwrap();
        let (hap, hap_out) =
            run_to_exit(Command::new(haproxy_path()).arg("-db").arg("-f").arg(&file));
        let (gw, gw_out) = run_to_exit(Command::new(SPOE).args(["gateway", "-f"]).arg(&file));
        if hap_out.contains("Address already in use") || gw_out.contains("cannot bind") {
            return Err(PortTaken);
        }
        Ok((hap, hap_out, gw, gw_out))
    });
    assert_eq!(hap, Some(1), "{hap_out}");
    assert!(hap_out.contains(expected), "{hap_out}");
    assert_eq!(gw, Some(1), "{gw_out}");
    assert!(gw_out.contains(expected), "{gw_out}");
}

/// The soft open files limit of `pid` and the CPUs each of its serving threads may run on
/// (HAProxy's threads; the gateway's `spoe-worker-N`), sorted.
fn limits(pid: u32, threads_named: Option<&str>) -> (u64, Vec<String>) {
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let text = std::fs::read_to_string(proc.join("limits"))
        .unwrap_or_else(|e| panic!("process {pid} is gone ({e})"));
    let files = text
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse().ok())
        .expect("Max open files");
    let mut cpus = Vec::new();
    for task in std::fs::read_dir(proc.join("task")).expect("read tasks") {
        let task = task.unwrap().path();
        let comm = std::fs::read_to_string(task.join("comm")).unwrap();
        if threads_named.is_some_and(|prefix| !comm.starts_with(prefix)) {
            continue;
        }
        let status = std::fs::read_to_string(task.join("status")).unwrap();
        let list = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .expect("Cpus_allowed_list")
            .trim()
            .to_owned();
        cpus.push(list);
    }
    cpus.sort();
    (files, cpus)
}

/// `cpu-map` binds each thread (`auto:` one CPU each) or the whole process, as HAProxy 2.6
/// does in the background (the open files limits are compared by `strict_limits_as_haproxy`).
#[test]
fn cpu_map_as_haproxy() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    for (name, global) in [
        (
            "threads",
            "    daemon\n    nbthread 2\n    cpu-map auto:1/1-2 0-1\n",
        ),
        ("process", "    daemon\n    nbthread 2\n    cpu-map 1 1\n"),
    ] {
        let (hap_code, hap_out, hap, _) =
            run_daemon(dir.path(), &format!("h-{name}"), global, |f| {
                let mut c = Command::new(haproxy_path());
                c.arg("-f").arg(f);
                c
            });
        let (gw_code, gw_out, gw, _) = run_daemon(dir.path(), &format!("g-{name}"), global, |f| {
            let mut c = Command::new(SPOE);
            c.args(["gateway", "-f"]).arg(f);
            c
        });
        assert_eq!(hap_code, Some(0), "{hap_out}");
        assert_eq!(gw_code, Some(0), "{gw_out}");
        let expected = match name {
            "threads" => ["0", "1"],
            _ => ["1", "1"],
        };
        // HAProxy's command returns before its worker has started and bound its threads.
        let bound = wait_until(Duration::from_secs(10), || {
            limits(hap.0, None).1 == expected
        });
        assert!(
            bound,
            "{name}: haproxy's threads {:?}",
            limits(hap.0, None).1
        );
        assert_eq!(limits(gw.0, Some("spoe-worker-")).1, expected, "{name}");
        // With a process map, every thread of the gateway is on it.
        if name == "process" {
            assert!(limits(gw.0, None).1.iter().all(|c| c == "1"));
        }
    }
}

/// A `ulimit-n` that cannot be had (above `fd-hard-limit`, or above the hard limit) stops both
/// at start with HAProxy's alert under `strict-limits` (HAProxy 2.6's default); with `no
/// strict-limits` both start with the same warning, the gateway at the cap.
#[test]
fn strict_limits_as_haproxy() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .maximum
        .expect("a hard limit");
    let over = hard + 1000;
    for (global, expected) in [
        (
            "    ulimit-n 5000\n    fd-hard-limit 2000\n".to_owned(),
            "Cannot raise FD limit to 5000, limit is 2000.".to_owned(),
        ),
        (
            format!("    ulimit-n {over}\n"),
            format!("Cannot raise FD limit to {over}, limit is "),
        ),
    ] {
        both_stop_at_start(dir.path(), &global, &expected);
    }

    let global = "    daemon\n    no strict-limits\n    ulimit-n 5000\n    fd-hard-limit 2000\n";
    let (_, hap_out, _hap, _) = run_daemon(dir.path(), "h-loose", global, |f| {
        let mut c = Command::new(haproxy_path());
        c.arg("-f").arg(f);
        c
    });
    let (_, gw_out, gw, _) = run_daemon(dir.path(), "g-loose", global, |f| {
        let mut c = Command::new(SPOE);
        c.args(["gateway", "-f"]).arg(f);
        c
    });
    let warning = "Cannot raise FD limit to 5000, limit is ";
    assert!(hap_out.contains(warning), "{hap_out}");
    assert!(gw_out.contains(warning), "{gw_out}");
    assert_eq!(limits(gw.0, None).0, 2000, "{gw_out}");
}
