//! `option httplog` with `log stdout format rfc3164`: the gateway's access lines are HAProxy's.
//!
//! The same requests go to HAProxy 2.6 and to the gateway on the same configuration; every line
//! of both is read by a log consumer nobody here wrote (PyPI `haproxy-log-analysis` 6.0,
//! `haproxy.line.parse_line`), which must find it valid; and the gateway's line must say what
//! HAProxy's says: status, termination state, frontend, backend and server, the request, and
//! which timers ran (`-1` for a step that never happened).
//!
//! Python comes from `SPOE_TEST_PYTHON` (test.sh's venv), else `python3`; the test fails (never
//! skips) when `haproxy` or the PyPI package is missing.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock, and spawn helpers that end with the test"
)]

mod gateway_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use gateway_support::{Backend, Conn, GatewayProc, local, wait_until};
use spoe_interop::Haproxy;

/// The servers behind both proxies.
struct Servers {
    app: SocketAddr,
    hang: SocketAddr,
    part: SocketAddr,
    garbage: SocketAddr,
}

fn haproxy_cfg(port: u16, s: &Servers) -> String {
    let Servers {
        app,
        hang,
        part,
        garbage,
    } = s;
    format!(
        r#"global
    log stdout format rfc3164 local0
defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    timeout client 5s
    timeout server 1s
    timeout http-request 500ms
    retries 0
frontend fe
    bind 127.0.0.1:{port}
    http-request deny if {{ path /denied }}
    http-request redirect location /new code 302 if {{ path /old }}
    http-request use-service prometheus-exporter if {{ path /metrics }}
    http-request return status 404 content-type text/plain string "nothing here" if {{ path /missing }}
    use_backend dead if {{ path_beg /dead }}
    use_backend slow if {{ path_beg /slow }}
    use_backend cut if {{ path_beg /cut }}
    use_backend garbage if {{ path_beg /garbage }}
    default_backend app
backend app
    server app1 {app}
backend dead
    server down 127.0.0.1:1
backend slow
    server hang {hang}
backend cut
    server part {part}
backend garbage
    server junk {garbage}
"#
    )
}

/// A server that accepts connections, reads a request, writes `answer` (maybe nothing), says
/// so and holds the connection until the test ends.
struct Hang {
    addr: SocketAddr,
    accepted: mpsc::Receiver<TcpStream>,
}

impl Hang {
    fn start(answer: &'static [u8]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, accepted) = mpsc::channel();
        thread::spawn(move || {
            for mut sock in listener.incoming().flatten() {
                let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf);
                let _ = sock.write_all(answer);
                if tx.send(sock).is_err() {
                    return;
                }
            }
        });
        Self { addr, accepted }
    }
}

/// The requests both proxies get, in order, on new connections.
const REQUESTS: &[(&str, &[u8])] = &[
    ("served", b"GET /page HTTP/1.1\r\nhost: a\r\n\r\n"),
    ("returned", b"GET /missing HTTP/1.1\r\nhost: a\r\n\r\n"),
    ("denied", b"GET /denied HTTP/1.1\r\nhost: a\r\n\r\n"),
    ("redirected", b"GET /old HTTP/1.1\r\nhost: a\r\n\r\n"),
    (
        "prometheus exporter",
        b"GET /metrics HTTP/1.1\r\nhost: a\r\n\r\n",
    ),
    (
        "invalid response",
        b"GET /garbage HTTP/1.1\r\nhost: a\r\n\r\n",
    ),
    ("server too slow", b"GET /slow HTTP/1.1\r\nhost: a\r\n\r\n"),
    ("no server", b"GET /dead HTTP/1.1\r\nhost: a\r\n\r\n"),
    (
        "two Host headers",
        b"GET /x HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n",
    ),
    ("stalled head", b"GET /x HTTP/1.1\r\nhost: a\r\nx-half: "),
];

fn send(addr: SocketAddr, raw: &[u8]) -> Option<u16> {
    let mut c = Conn::connect(addr).unwrap();
    let _ = c.send_raw(raw);
    let status = c.read_response().ok().map(|r| r.status);
    // Wait for the close so that the next line is the next request's.
    c.closed_within(Duration::from_secs(2));
    status
}

/// The access lines in `text` (rfc3164: `<134>Mmm dd hh:mm:ss localhost haproxy[PID]: ...`).
fn access_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("<134>") && l.contains(" haproxy["))
        .map(str::to_owned)
        .collect()
}

/// What `haproxy.line.parse_line` read from one line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Parsed {
    valid: bool,
    status: String,
    /// Tq (TR), Tw, Tc, Tr, Ta.
    timers: [i64; 5],
    frontend: String,
    backend: String,
    server: String,
    request: String,
}

const PARSE: &str = r#"
import sys
try:
    import haproxy.line
except ImportError as e:
    sys.exit("haproxy-log-analysis is missing (pip install haproxy-log-analysis==6.0): %s" % e)
for raw in sys.stdin.read().splitlines():
    l = haproxy.line.parse_line(raw)
    if not l.is_valid:
        print("invalid")
        continue
    print("\t".join(str(x) for x in [
        "valid", l.status_code, l.time_wait_request, l.time_wait_queues, l.time_connect_server,
        l.time_wait_response, l.total_time, l.frontend_name, l.backend_name, l.server_name,
        l.raw_http_request]))
"#;

fn parse_with_haproxy_log_analysis(lines: &[String]) -> Vec<Parsed> {
    let python = std::env::var("SPOE_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("lines");
    std::fs::write(&input, lines.join("\n")).unwrap();
    let out = Command::new(&python)
        .args(["-c", PARSE])
        .stdin(std::fs::File::open(&input).unwrap())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    assert!(
        out.status.success(),
        "{python}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            if f[0] != "valid" {
                return Parsed {
                    valid: false,
                    status: String::new(),
                    timers: [0; 5],
                    frontend: String::new(),
                    backend: String::new(),
                    server: String::new(),
                    request: String::new(),
                };
            }
            let n = |i: usize| f[i].parse::<i64>().unwrap();
            Parsed {
                valid: true,
                status: f[1].to_owned(),
                timers: [n(2), n(3), n(4), n(5), n(6)],
                frontend: f[7].to_owned(),
                backend: f[8].to_owned(),
                server: f[9].to_owned(),
                request: f[10].to_owned(),
            }
        })
        .collect()
}

/// The termination state (`%tsc`, four characters), which the package does not read.
fn termination(line: &str) -> &str {
    line.split(" - - ")
        .nth(1)
        .and_then(|rest| rest.get(..4))
        .unwrap_or("?")
}

/// Which timers ran: `-1` stays, any duration becomes 0 (durations differ run to run).
fn ran(timers: [i64; 5]) -> [i64; 5] {
    timers.map(|t| if t < 0 { -1 } else { 0 })
}

#[test]
fn every_access_line_is_haproxys_and_a_haproxy_log_parser_reads_it() {
    let app = Backend::start("app");
    let hang = Hang::start(b"");
    let part = Hang::start(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\nfirst bytes");
    let garbage = Hang::start(b"NOT HTTP AT ALL\r\n\r\n");
    let servers = Servers {
        app: app.addr,
        hang: hang.addr,
        part: part.addr,
        garbage: garbage.addr,
    };
    let (haproxy, hap_port) = Haproxy::start_on_port(|port| haproxy_cfg(port, &servers), &[]);
    let (gateway, gw) = GatewayProc::start_on_port(|port| haproxy_cfg(port, &servers), &[]);
    let gw_port = gw.port();
    let gw_out = || gateway.out();

    let mut statuses = Vec::new();
    for (name, raw) in REQUESTS {
        let hap = send(local(hap_port), raw);
        let gw = send(local(gw_port), raw);
        statuses.push((name, hap, gw));
    }
    // A client that leaves while the server has not answered yet.
    while hang.accepted.try_recv().is_ok() {}
    let mut c = Conn::connect(local(gw_port)).unwrap();
    c.send_raw(b"GET /slow HTTP/1.1\r\nhost: a\r\n\r\n")
        .unwrap();
    let held = hang
        .accepted
        .recv_timeout(Duration::from_secs(5))
        .expect("the request reached the hanging server");
    drop(c);
    let n = REQUESTS.len();
    assert!(
        wait_until(Duration::from_secs(10), || access_lines(&gw_out()).len()
            > n),
        "no access line for the client that left:\n{}",
        gw_out()
    );
    // A client that leaves during the body: it got the head and some bytes.
    let mut c = Conn::connect(local(gw_port)).unwrap();
    c.send_raw(b"GET /cut HTTP/1.1\r\nhost: a\r\n\r\n").unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        c.stream.read_exact(&mut byte).expect("the response head");
        head.push(byte[0]);
    }
    drop(c);

    let logged = wait_until(Duration::from_secs(10), || {
        access_lines(&haproxy.log()).len() >= n && access_lines(&gw_out()).len() > n + 1
    });
    let (hap_lines, gw_lines) = (access_lines(&haproxy.log()), access_lines(&gw_out()));
    drop(held);
    assert!(
        logged,
        "access lines: haproxy {} (of {n}), gateway {} (of {})\n--- haproxy:\n{}\n--- gateway \
         stdout:\n{}\n--- gateway stderr:\n{}",
        hap_lines.len(),
        gw_lines.len(),
        n + 2,
        haproxy.log(),
        gw_out(),
        gateway.log()
    );
    // Nothing of tracing's format on stdout: only access lines.
    let stdout = gw_out();
    assert!(
        stdout.lines().all(|l| access_lines(l).len() == 1),
        "{stdout}"
    );

    let hap = parse_with_haproxy_log_analysis(&hap_lines);
    let gw = parse_with_haproxy_log_analysis(&gw_lines);
    let mut wrong = Vec::new();
    for (i, (name, hap_status, gw_status)) in statuses.iter().enumerate() {
        let (h, g) = (&hap[i], &gw[i]);
        let (hl, gl) = (&hap_lines[i], &gw_lines[i]);
        if !g.valid {
            wrong.push(format!(
                "{name}: haproxy-log-analysis rejects the gateway's {gl:?}"
            ));
            continue;
        }
        assert!(h.valid, "haproxy's own line {hl:?}");
        // The line says what the client got.
        if g.status.parse::<u16>().ok() != *gw_status {
            wrong.push(format!(
                "{name}: the client got {gw_status:?}, the line says {gl:?}"
            ));
        }
        let same = h.status == g.status
            && termination(hl) == termination(gl)
            && ran(h.timers) == ran(g.timers)
            && (&h.frontend, &h.backend, &h.server) == (&g.frontend, &g.backend, &g.server)
            && h.request == g.request;
        if !same || hap_status != gw_status {
            wrong.push(format!("{name}:\n    haproxy {hl}\n    gateway {gl}"));
        }
    }
    // The client that left: status -1 (nothing was sent), termination CH (client, waiting for
    // the server's headers), the server chosen, and no response timer.
    let (g, gl) = (&gw[n], &gw_lines[n]);
    if !(g.valid
        && g.status == "-1"
        && termination(gl) == "CH--"
        && g.server == "hang"
        && g.timers[3] == -1)
    {
        wrong.push(format!(
            "client gone while waiting for the server: {gl:?} read as {g:?}"
        ));
    }
    // The client that left during the body: 200 (it got the head), termination CD (client, data
    // phase), at least the head's bytes, the server's response timer.
    let (g, gl) = (&gw[n + 1], &gw_lines[n + 1]);
    let bytes: u64 = gl
        .split(" 200 ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|b| b.parse().ok())
        .unwrap_or(0);
    if !(g.valid
        && g.status == "200"
        && termination(gl) == "CD--"
        && g.server == "part"
        && g.timers[3] >= 0
        && bytes >= head.len() as u64)
    {
        wrong.push(format!(
            "client gone during the body (after {} bytes of head): {gl:?} read as {g:?}",
            head.len()
        ));
    }
    assert!(
        wrong.is_empty(),
        "access lines differ:\n  {}\n--- haproxy:\n{}\n--- gateway stdout:\n{stdout}",
        wrong.join("\n  "),
        hap_lines.join("\n"),
    );
}

/// A stop that outlasts `hard-stop-after` cuts the requests still waiting: each gets its access
/// line, status -1 (nothing was sent) and `K` (killed by the gateway, not the client's doing) with
/// the phase it was in.
#[test]
fn a_request_cut_at_hard_stop_after_is_logged_killed() {
    let app = Backend::start("app");
    let hang = Hang::start(b"");
    let servers = Servers {
        app: app.addr,
        hang: hang.addr,
        part: hang.addr,
        garbage: hang.addr,
    };
    let (mut gateway, addr) = GatewayProc::start_on_port(
        |port| {
            haproxy_cfg(port, &servers)
                .replacen("global\n", "global\n    hard-stop-after 300ms\n", 1)
                .replace("timeout server 1s", "timeout server 30s")
        },
        &[],
    );
    let mut c = Conn::connect(addr).unwrap();
    c.send_raw(b"GET /slow HTTP/1.1\r\nhost: a\r\n\r\n")
        .unwrap();
    let _held = hang
        .accepted
        .recv_timeout(Duration::from_secs(5))
        .expect("the request reached the hanging server");
    gateway.signal(spoe_interop::Signal::TERM);
    let exited = gateway.child.wait_timeout(Duration::from_secs(10)).unwrap();
    assert!(
        exited.is_some(),
        "the gateway did not stop:\n{}",
        gateway.log()
    );
    let out = gateway.out();
    let lines = access_lines(&out);
    assert!(
        lines.len() == 1
            && termination(&lines[0]) == "KH--"
            && lines[0].contains(" slow/hang ")
            && lines[0].contains(" -1 0 - - KH--"),
        "one line, KH--, status -1, 0 bytes:\n{out}\n--- stderr:\n{}",
        gateway.log()
    );
    drop(c);
}

/// The SPOE lines of an agent with `log global` go to the same target as the access lines, framed
/// the same way, at HAProxy's levels (`notice` for a success, access lines at `info`): every line
/// of stdout is a syslog line, none in tracing's format.
#[test]
fn spoe_lines_are_framed_as_the_access_lines() {
    let agent = gateway_support::AgentProc::echo(&[]);
    let app = Backend::start("app");
    let config = |port: u16| {
        format!(
            r#"global
    log stdout format rfc5424 local0
defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    filter spoe engine e config spoe.conf
    default_backend app
backend app
    server app1 {}
backend agents
    mode tcp
    server a {}
"#,
            app.addr, agent.addr
        )
    };
    let spoe_conf = spoe_interop::echo_spoe_conf("s=str(hello)", "2s", false);
    let (gateway, addr) = GatewayProc::start_on_port(config, &[("spoe.conf", &spoe_conf)]);
    for _ in 0..2 {
        let r = gateway_support::get(addr, "/", &[]).unwrap();
        assert_eq!(r.status, 200);
    }
    let out = || gateway.out();
    assert!(
        wait_until(Duration::from_secs(5), || out().lines().count() >= 4),
        "two access lines and two SPOE lines expected:\n{}\n--- stderr:\n{}",
        out(),
        gateway.log()
    );
    let text = out();
    let pid = gateway.child.id();
    let framed = |l: &str, pri: &str, what: &str| {
        l.starts_with(&format!("<{pri}>1 "))
            && l.contains(&format!(" - haproxy {pid} - - {what}"))
            && !l.contains("INFO")
    };
    let spoe = text
        .lines()
        .filter(|l| framed(l, "133", "SPOE: [echo-agent] "))
        .count();
    let access = text
        .lines()
        .filter(|l| framed(l, "134", "127.0.0.1:"))
        .count();
    assert!(
        spoe == 2 && access == 2 && text.lines().count() == 4,
        "{spoe} SPOE and {access} access lines framed as rfc5424:\n{text}"
    );
}
