//! The stats page in a real browser: headless Chromium (Debian's) loads the page of a gateway
//! with a server up, a checked server refusing connections (DOWN), a server put in
//! maintenance through the admin form, and an SPOE agent; a screenshot is kept in the test's
//! output directory (`target/tmp/stats_page/stats.png`) and the DOM Chromium built is checked:
//! HAProxy's table per proxy, each server's line in the colour of its state, the admin form,
//! and the SPOE agents' figures. Fails (never skips) when `chromium` is missing.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock"
)]

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use spoe_interop::{ChildGuard, RefusedPort, http_get};

mod support;
use support::serve_backend;

const WAIT: Duration = Duration::from_secs(60);

fn config(
    web: SocketAddr,
    stats: SocketAddr,
    up: SocketAddr,
    down: SocketAddr,
    agent: SocketAddr,
) -> String {
    format!(
        "defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
frontend web
    bind {web}
    filter spoe engine e config spoe.conf
    default_backend app
backend app
    server s1 {up}
    server s2 {down} check inter 100ms
    server s3 {up}
backend agents
    mode tcp
    server a1 {agent}
listen stats
    bind {stats}
    stats enable
    stats uri /
    stats show-legends
    stats admin if TRUE
"
    )
}

/// Runs headless Chromium on `url` with `args`; its stdout.
fn chromium(profile: &Path, url: &str, args: &[&str]) -> String {
    let mut child = ChildGuard::spawn(
        Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1400,900",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(args)
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    )
    .expect("chromium (Debian's package) must be installed: test.sh installs it");
    let mut stdout = child.take_stdout().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let status = child.wait_timeout(WAIT).unwrap();
    assert!(
        status.is_some_and(|s| s.success()),
        "chromium did not finish in {WAIT:?}"
    );
    reader.join().unwrap()
}

/// The server line of `name` in the DOM: its `<tr ...>` tag.
fn server_line<'d>(dom: &'d str, name: &str) -> &'d str {
    let anchor = format!("name=\"app/{name}\"");
    let at = dom
        .find(&anchor)
        .unwrap_or_else(|| panic!("no line for {name}"));
    let start = dom[..at].rfind("<tr").unwrap();
    &dom[start..at]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_shows_the_page_as_haproxys() {
    let (agent, stop, agent_task) = support::start_agent().await;
    let backend = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = backend.local_addr().unwrap();
    let server = tokio::spawn(serve_backend(backend));
    let refused = RefusedPort::new();

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spoe.conf"), support::ECHO_SPOE_CONF).unwrap();
    let web = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stats = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (web_addr, stats_addr) = (web.local_addr().unwrap(), stats.local_addr().unwrap());
    let text = config(web_addr, stats_addr, up, refused.addr(), agent);
    let gw = support::start_gateway(text, dir.path().to_owned(), vec![web, stats]).await;

    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("stats_page");
    std::fs::create_dir_all(&out).unwrap();
    let shot = out.join("stats.png");
    let _ = std::fs::remove_file(&shot);
    let dom = tokio::task::spawn_blocking(move || {
        // The refusing server goes DOWN after its checks (inter 100ms): then every request
        // goes to a server that answers.
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let (_, _, csv) = http_get(stats_addr, "/;csv", &[]).unwrap();
            let csv = String::from_utf8_lossy(&csv).into_owned();
            if csv.lines().any(|l| l.starts_with("app,s2,") && l.contains(",DOWN,")) {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "s2 never DOWN:\n{csv}");
            std::thread::sleep(Duration::from_millis(50));
        }
        for path in ["/", "/a", "/b"] {
            let (status, _, _) = http_get(web_addr, path, &[]).unwrap();
            assert_eq!(status, 200, "GET {path}");
        }
        // s3 into maintenance through the page's admin form, as a browser posts it.
        let form = "s=s3&action=maint&b=app";
        let mut sock = std::net::TcpStream::connect(stats_addr).unwrap();
        sock.set_read_timeout(Some(WAIT)).unwrap();
        write!(
            sock,
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
            form.len()
        )
        .unwrap();
        let mut answer = String::new();
        sock.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 303"), "{answer}");
        assert!(answer.to_ascii_lowercase().contains("location: /;st=done"), "{answer}");
        let url = format!("http://{stats_addr}/;st=DONE");
        let profile = tempfile::tempdir().unwrap();
        chromium(profile.path(), &url, &[&format!("--screenshot={}", shot.display())]);
        assert!(std::fs::metadata(&shot).is_ok_and(|m| m.len() > 10_000), "no screenshot");
        chromium(profile.path(), &url, &["--dump-dom"])
    })
    .await
    .unwrap();

    // HAProxy's layout: a title and a table per proxy, the column groups, the lines.
    for proxy in ["web", "app", "stats"] {
        assert!(
            dom.contains(&format!("href=\"#{proxy}\">{proxy}</a>")),
            "no table for {proxy}"
        );
    }
    for group in [
        "Queue",
        "Session rate",
        "Sessions",
        "Bytes",
        "Denied",
        "Errors",
        "Warnings",
        "Server",
    ] {
        assert!(
            dom.contains(&format!(">{group}</th>")),
            "no column group {group}"
        );
    }
    assert!(dom.contains("Statistics Report for pid"));
    // Each server in the colour of its state.
    assert!(
        server_line(&dom, "s1").contains("active_no_check"),
        "{}",
        server_line(&dom, "s1")
    );
    assert!(
        server_line(&dom, "s2").contains("active_down"),
        "{}",
        server_line(&dom, "s2")
    );
    assert!(
        server_line(&dom, "s3").contains("maintain"),
        "{}",
        server_line(&dom, "s3")
    );
    // The admin form and the result of the last action.
    assert!(dom.contains("name=\"action\""), "no admin form");
    assert!(dom.contains("Action processed successfully."));
    // The SPOE agents' figures: three events processed, no error.
    let spoe = &dom[dom.find("SPOE agents").expect("no SPOE table")..];
    let line = &spoe[spoe.find("echo-agent").expect("no line for the agent")..];
    let cells: Vec<&str> = line
        .split("<td>")
        .skip(1)
        .take(2)
        .map(|c| c.split('<').next().unwrap_or_default())
        .collect();
    assert_eq!(cells, ["3", "0"], "processed, errors: {line}");

    gw.stop(true).await;
    stop.cancel();
    let _ = agent_task.await;
    server.abort();
}
