//! Tests of the harness itself against the installed HAProxy.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock, and spawn helpers that end with the test"
)]

use std::net::SocketAddr;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use spoe_interop::{Haproxy, haproxy_check, http_get};

fn return_config(port: u16, body: &str) -> String {
    format!(
        "global
    log stderr format short local0 info
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    http-request return status 200 content-type text/plain string {body}
"
    )
}

/// Waits until `/proc/<pid>` is gone: the process exited *and* was reaped (a zombie still counts
/// as left behind).
fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Path::new(&format!("/proc/{pid}")).exists() {
        if Instant::now() >= deadline {
            return false;
        }
        // Not a barrier: the poll interval of a bounded wait on the condition above.
        thread::sleep(Duration::from_millis(10));
    }
    true
}

#[test]
fn get_reload_get_then_drop_leaves_no_process() {
    let (mut haproxy, port) = Haproxy::start_on_port(|port| return_config(port, "first"), &[]);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();

    let (status, headers, body) = http_get(addr, "/", &[("x-test", "1")]).expect("GET");
    assert_eq!(status, 200, "{}", haproxy.log());
    assert_eq!(body, b"first");
    assert!(
        headers
            .iter()
            .any(|(n, v)| n == "content-type" && v == "text/plain")
    );

    // Reload with a changed configuration: the new worker answers.
    haproxy.write_config(&return_config(port, "second"));
    let master = haproxy.pid();
    haproxy.reload();
    assert_eq!(
        haproxy.pid(),
        master,
        "the master keeps its pid across a reload"
    );
    assert!(
        haproxy.log().contains("Reloading HAProxy"),
        "{}",
        haproxy.log()
    );
    let workers = haproxy.worker_pids();
    assert_eq!(workers.len(), 2, "one worker per load:\n{}", haproxy.log());

    let (status, _, body) = http_get(addr, "/after-reload", &[]).expect("GET after reload");
    assert_eq!(status, 200, "{}", haproxy.log());
    assert_eq!(body, b"second");

    drop(haproxy);
    for pid in [master].into_iter().chain(workers) {
        assert!(
            wait_gone(pid, Duration::from_secs(5)),
            "process {pid} still alive after drop"
        );
    }
    // (Whether something answers on the port afterwards is not checked: once HAProxy let it go,
    // anything on the machine may take it. The processes being gone is the event.)
}

#[test]
fn start_with_files_resolves_relative_names() {
    let config = |port| {
        format!(
            "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    http-request return status 201 content-type text/plain file body.txt
"
        )
    };
    let (haproxy, port) = Haproxy::start_on_port(config, &[("body.txt", "from a file\n")]);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let (status, _, body) = http_get(addr, "/", &[]).expect("GET");
    assert_eq!(status, 201, "{}", haproxy.log());
    assert_eq!(body, b"from a file\n");
}

#[test]
fn haproxy_check_reports_errors() {
    // `haproxy -c` binds nothing: any port will do.
    let (ok, output) = haproxy_check(&return_config(8080, "ok"));
    assert!(ok, "{output}");

    let (ok, output) = haproxy_check("frontend fe\n    no-such-keyword 1\n");
    assert!(!ok, "{output}");
    assert!(output.contains("no-such-keyword"), "{output}");
}

#[test]
#[should_panic(expected = "haproxy -c rejected the configuration")]
fn start_panics_with_haproxy_output_on_bad_config() {
    let _haproxy = Haproxy::start("frontend fe\n    no-such-keyword 1\n");
}

#[test]
#[should_panic(expected = "haproxy reload failed")]
fn reload_panics_when_the_new_configuration_fails() {
    let (mut haproxy, _) = Haproxy::start_on_port(|port| return_config(port, "ok"), &[]);
    // Bypass write_config's check to make the master's own reload fail.
    std::fs::write(
        haproxy.dir().join("haproxy.cfg"),
        "frontend fe\n    no-such-keyword 1\n",
    )
    .expect("overwrite haproxy.cfg");
    haproxy.reload();
}

#[test]
fn a_port_in_use_is_port_taken_not_a_panic() {
    // Held (listening) by this test for the whole check.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let r = Haproxy::try_start_with_files(&return_config(port, "x"), &[]);
    assert_eq!(r.err(), Some(spoe_interop::PortTaken));
}
