//! Differential test of `pidfile`: the same `haproxy.cfg` run by HAProxy 2.6 (master-worker,
//! as services run it) and by `spoe gateway -f`. Once listening, each has written its
//! (master's) pid and a newline to the file, replacing what was there; a file that cannot be
//! created stops both at start with an exit status that says so. Fails (never skips) without
//! `haproxy`.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock"
)]

mod gateway_support;

use std::path::Path;
use std::process::Command;

use gateway_support::{GatewayProc, SPOE, run_to_exit};
use spoe_interop::{Haproxy, PortTaken, claim_port, haproxy_path};

fn haproxy_cfg(port: u16, pidfile: &Path) -> String {
    format!(
        "global\n    pidfile {}\ndefaults\n    mode http\n    timeout connect 1s\n    \
         timeout client 5s\n    timeout server 5s\nfrontend fe\n    bind 127.0.0.1:{port}\n    \
         http-request return status 200\n",
        pidfile.display()
    )
}

#[test]
fn each_writes_its_pid_once_listening() {
    let dir = tempfile::tempdir().unwrap();
    let (hap_file, gw_file) = (dir.path().join("haproxy.pid"), dir.path().join("gw.pid"));
    std::fs::write(&gw_file, "stale contents that are longer than a pid\n").unwrap();
    let (haproxy, _) = Haproxy::start_on_port(|port| haproxy_cfg(port, &hap_file), &[]);
    let (gateway, _) = GatewayProc::start_on_port(|port| haproxy_cfg(port, &gw_file), &[]);
    assert_eq!(
        std::fs::read_to_string(&hap_file).unwrap(),
        format!("{}\n", haproxy.pid())
    );
    assert_eq!(
        std::fs::read_to_string(&gw_file).unwrap(),
        format!("{}\n", gateway.child.id())
    );
}

#[test]
fn a_pidfile_that_cannot_be_created_stops_both() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir").join("x.pid");
    let cfg = dir.path().join("haproxy.cfg");
    // Both bind first, then fail on the pidfile; a port found taken is tried again.
    let ((hap, hap_out, gw, gw_out), _) = claim_port(|port| {
        std::fs::write(&cfg, haproxy_cfg(port, &missing)).unwrap();
        let (hap, hap_out) = run_to_exit(
            Command::new(haproxy_path())
                .arg("-W")
                .arg("-db")
                .arg("-f")
                .arg(&cfg),
        );
        let (gw, gw_out) = run_to_exit(Command::new(SPOE).arg("gateway").arg("-f").arg(&cfg));
        if hap_out.contains("Address already in use") || gw_out.contains("cannot bind") {
            return Err(PortTaken);
        }
        Ok((hap, hap_out, gw, gw_out))
    });
    assert_eq!(hap, Some(1), "{hap_out}");
    assert!(hap_out.contains("Cannot create pidfile"), "{hap_out}");
    assert!(gw.is_some_and(|c| c != 0), "{gw:?} {gw_out}");
    assert!(gw_out.contains("cannot create pidfile"), "{gw_out}");
    assert!(gw_out.contains(&missing.display().to_string()), "{gw_out}");
}
