//! Where the gateway's request lines go: `log stdout` in `global` sends the access and SPOE lines
//! to stdout, as HAProxy's `log stdout` does; without it they go to stderr with the rest.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock, and spawn helpers that end with the test"
)]

mod gateway_support;

use gateway_support::{GatewayProc, START_TIMEOUT, wait_until};

fn config(port: u16, global_log: &str) -> String {
    format!(
        "global\n{global_log}\ndefaults\n    mode http\n    timeout client 5s\n\
         frontend web\n    bind 127.0.0.1:{port}\n    http-request return status 200 content-type text/plain string ok\n"
    )
}

fn access_lines(text: &str) -> usize {
    text.lines().filter(|l| l.contains("spoe::access")).count()
}

fn serve_two_requests(log: &str) -> (String, String) {
    let (gw, addr) = GatewayProc::start_on_port(|port| config(port, log), &[]);
    for _ in 0..2 {
        let r = spoe_interop::http_get(addr, "/x", &[]).expect("GET /x");
        assert_eq!(r.0, 200);
    }
    let out = || std::fs::read_to_string(gw.dir.path().join("gateway.out")).unwrap_or_default();
    // Lines are written by a logging thread: wait for them.
    wait_until(START_TIMEOUT, || {
        access_lines(&out()) + access_lines(&gw.log()) >= 2
    });
    (out(), gw.log())
}

#[test]
fn log_stdout_sends_the_access_lines_to_stdout() {
    let (stdout, stderr) = serve_two_requests("    log stdout format raw local0");
    assert_eq!(
        access_lines(&stdout),
        2,
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(access_lines(&stderr), 0, "stderr:\n{stderr}");
    // Everything else (start-up, listening) stays on stderr.
    assert!(stderr.contains("listening"), "stderr:\n{stderr}");
}

#[test]
fn without_log_stdout_the_access_lines_go_to_stderr() {
    let (stdout, stderr) = serve_two_requests("    maxconn 100");
    assert_eq!(access_lines(&stderr), 2, "stderr:\n{stderr}");
    assert_eq!(access_lines(&stdout), 0, "stdout:\n{stdout}");
}
