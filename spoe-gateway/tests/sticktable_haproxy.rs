//! Stick tables against HAProxy 2.6 (issue 23, part "sticktables"): the same configuration
//! (a frontend tracking the client's address, a rate limit answering 429, `sc-inc-gpc0`,
//! `sc-set-gpt0`, a second counter tracking the path in a backend's table), the same
//! requests, then the same fetches (in a `return lf-string`) and the same runtime API
//! commands (`show table`, with `key` and `data.` filters, `clear table`) to both.
//!
//! Equal: every reply byte for byte, but each entry's address (HAProxy prints a pointer) and
//! its `exp` (milliseconds left, which depend on when the command runs: checked to be within
//! the table's `expire`). Fails (never skips) when `haproxy` is missing.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock"
)]

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use spoe_interop::{Haproxy, http_get};

mod support;
use support::serve_backend;

const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// The configuration, with the `bind` address, the CLI socket and the server's address.
fn config(web: &str, cli: &str, up: SocketAddr) -> String {
    format!(
        "global
    stats socket {cli} mode 600 level admin
defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
frontend web
    bind {web}
    stick-table type ip size 100 expire 60s store http_req_rate(10s),http_req_cnt,conn_cnt,conn_cur,http_err_cnt,http_err_rate(10s),gpc0,gpc0_rate(10s),gpt0
    http-request track-sc0 src
    http-request track-sc1 path table paths if {{ path_beg /p }}
    http-request sc-inc-gpc0(0) if {{ path /count }}
    http-request sc-set-gpt0(0) 7 if {{ path /gpt }}
    http-request return status 200 content-type text/plain lf-string \"rate=%[sc_http_req_rate(0)] cnt=%[sc0_http_req_cnt] gpc0=%[sc_get_gpc0(0)] src=%[src_http_req_cnt] cur=%[sc_conn_cur(0)] used=%[table_cnt] trackers=%[sc0_trackers] tracked1=%[sc1_tracked] paths=%[sc1_http_req_cnt] err=%[sc_http_err_cnt(0)] gpt=%[sc0_get_gpt0] other=%[src_http_req_cnt(paths)]\" if {{ path /show }}
    http-request deny deny_status 429 if {{ sc_http_req_rate(0) gt 8 }}
    default_backend app
backend app
    server s1 {up}
backend paths
    stick-table type string len 8 size 10 expire 30s store http_req_cnt,conn_cur
"
    )
}

/// A runtime API command in the one-command-per-connection mode (`echo CMD | socat`).
fn cli(socket: &Path, command: &str) -> String {
    let mut s = std::os::unix::net::UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.write_all(format!("{command}\n").as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// An entry line without its address and with its `exp` checked and masked: `exp` must
/// be within `(0, expire]`.
fn masked(reply: &str) -> String {
    reply
        .lines()
        .map(|l| {
            if l.starts_with('#') || !l.contains(": key=") {
                return l.to_owned();
            }
            let rest = &l[l.find(": key=").unwrap()..];
            let words: Vec<String> = rest
                .split(' ')
                .map(|w| match w.strip_prefix("exp=") {
                    Some(ms) => {
                        let ms: u64 = ms.parse().unwrap();
                        assert!(ms > 0 && ms <= 60_000, "exp {ms} in {l}");
                        "exp=-".to_owned()
                    }
                    None => w.to_owned(),
                })
                .collect();
            format!("ADDR{}", words.join(" "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The commands whose replies are compared.
const COMMANDS: &[&str] = &[
    "show table",
    "show table web",
    "show table paths",
    "show table web key 127.0.0.1",
    "show table web key 127.0.0.2",
    "show table web data.http_req_cnt gt 3",
    "show table web data.gpc0 eq 0",
    "show table web data.bytes_in_rate gt 1",
    "show table web data.server_id gt 1",
    "show table web data.foo gt 1",
    "show table web data.gpc0 gt 0 data.http_req_cnt lt 100",
    "show table web data.gpc0 gt 0 extra",
    "show table web data.gpc0 zz 0",
    "show table web data.gpc0 gt x",
    "show table web key",
    "show table web bogus",
    "clear table",
    "clear table web bogus",
    "show table paths key /p1",
    "clear table paths key /p1",
    "show table paths",
    "show table nosuch",
    "clear table paths",
    "show table",
];

/// The requests, and what each side answered.
fn drive(web: SocketAddr, socket: &Path) -> Vec<String> {
    let mut seen = Vec::new();
    for path in [
        "/a", "/count", "/count", "/gpt", "/p1", "/p1", "/p2", "/show", "/b", "/c", "/d", "/e",
        "/f", "/show",
    ] {
        let r = http_get(web, path, &[]).unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let body = String::from_utf8_lossy(&r.2).into_owned();
        seen.push(format!("{path} {} {body}", r.0));
    }
    for command in COMMANDS {
        seen.push(format!("{command}:\n{}", masked(&cli(socket, command))));
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_count_and_show_as_haproxy() {
    let backend = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = backend.local_addr().unwrap();
    let server = tokio::spawn(serve_backend(backend));

    let (haproxy, port) = Haproxy::start_on_port(
        |port| config(&format!("127.0.0.1:{port}"), "unix@cli.sock", up),
        &[],
    );
    let reference: (SocketAddr, PathBuf) = (
        SocketAddr::from(([127, 0, 0, 1], port)),
        haproxy.dir().join("cli.sock"),
    );
    let tmp = tempfile::tempdir().unwrap();
    let web = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let web_addr = web.local_addr().unwrap();
    let socket = tmp.path().join("gateway.sock");
    let text = config(&web_addr.to_string(), &socket.display().to_string(), up);
    let gw = support::start_gateway(text, tmp.path().to_owned(), vec![web]).await;

    let (theirs, mine) = tokio::task::spawn_blocking(move || {
        (drive(reference.0, &reference.1), drive(web_addr, &socket))
    })
    .await
    .unwrap();
    let differ: Vec<_> = theirs
        .iter()
        .zip(&mine)
        .filter(|(t, m)| t != m)
        .map(|(t, m)| format!("HAProxy:\n{t}\ngateway:\n{m}"))
        .collect();
    assert!(differ.is_empty(), "{}", differ.join("\n----\n"));
    assert_eq!(mine.len(), theirs.len());
    // The limit answered: the last requests were refused.
    assert!(mine.iter().any(|l| l.starts_with("/f 429")), "{mine:#?}");

    gw.stop(true).await;
    drop(haproxy);
    server.abort();
}
