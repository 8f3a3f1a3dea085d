//! `log` to syslog over UDP and to a Unix datagram socket, and the log options, against HAProxy
//! 2.6 on the same configuration and traffic.
//!
//! HAProxy and the gateway each send to their own receivers (a UDP socket and a Unix datagram
//! socket bound by the test); the same requests go to both; the datagrams are compared field by
//! field, with what differs from run to run masked: the dates, the process ID, the client's port,
//! durations (a timer that never ran stays `-1`), the connection counts, and the bytes sent
//! (the gateway's response heads are not HAProxy's). The test fails, never skips, when `haproxy` is
//! missing.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock, and spawn helpers that end with the test"
)]

mod gateway_support;

use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use gateway_support::{Backend, Conn, GatewayProc, wait_until};
use spoe_interop::Haproxy;

/// Datagrams received so far, as text.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<String>>>);

impl Received {
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    fn push(&self, datagram: &[u8]) {
        self.0
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(datagram).into_owned());
    }
}

/// A UDP syslog receiver on a port of its own, and a Unix datagram one in `dir`.
struct Syslog {
    udp: SocketAddr,
    unix: std::path::PathBuf,
    udp_lines: Received,
    unix_lines: Received,
}

impl Syslog {
    fn start(dir: &Path, name: &str) -> Self {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = udp.local_addr().unwrap();
        let path = dir.join(format!("{name}.sock"));
        let unix = UnixDatagram::bind(&path).unwrap();
        let (udp_lines, unix_lines) = (Received::default(), Received::default());
        // The threads end with the process (their sockets block in `recv`): the test's own.
        {
            let lines = udp_lines.clone();
            thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                while let Ok(n) = udp.recv(&mut buf) {
                    lines.push(&buf[..n]);
                }
            });
        }
        {
            let lines = unix_lines.clone();
            thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                while let Ok(n) = unix.recv(&mut buf) {
                    lines.push(&buf[..n]);
                }
            });
        }
        Self {
            udp: addr,
            unix: path,
            udp_lines,
            unix_lines,
        }
    }
}

fn config(port: u16, syslog: &Syslog, app: SocketAddr, options: &str) -> String {
    format!(
        r#"global
    log {udp} local0
    log unix@{unix} len 100 format rfc5424 local1 info
defaults
    mode http
    log global
    option httplog
{options}    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    http-request set-var(txn.v) str(spoa-ok)
    http-request return status 404 content-type text/plain string "nothing here" if {{ path /missing }}
    default_backend app
backend app
    server app1 {app}
"#,
        udp = syslog.udp,
        unix = syslog.unix.display(),
    )
}

/// The traffic both proxies get, in order, each on its own connection.
#[derive(Debug, Clone, Copy)]
enum Traffic {
    /// A request and its response.
    Request(&'static str),
    /// A connection closed without sending anything.
    Empty,
    /// A connection closed in the middle of a request head.
    Partial,
}

const TRAFFIC: &[Traffic] = &[
    Traffic::Request("GET /page HTTP/1.1\r\nhost: a\r\n\r\n"),
    Traffic::Empty,
    Traffic::Request("GET /missing?q=1 HTTP/1.1\r\nhost: a\r\n\r\n"),
    Traffic::Partial,
    Traffic::Request("GET /page HTTP/1.0\r\n\r\n"),
];

fn play(addr: SocketAddr, traffic: Traffic) {
    match traffic {
        Traffic::Request(raw) => {
            let mut c = Conn::connect(addr).unwrap();
            c.send_raw(raw.as_bytes()).unwrap();
            c.read_response().unwrap();
            c.closed_within(Duration::from_millis(100));
        }
        Traffic::Empty => drop(TcpStream::connect(addr).unwrap()),
        Traffic::Partial => {
            let mut c = Conn::connect(addr).unwrap();
            c.send_raw(b"GET /half HTT").unwrap();
        }
    }
}

/// A syslog line with what differs from run to run masked.
fn normalize(line: &str, [bytes, counters]: [usize; 2]) -> String {
    let line = line.trim_end_matches('\n');
    // `<PRI>Mmm dd hh:mm:ss haproxy[PID]: ` (local, the default) or
    // `<PRI>1 ISO-DATE - haproxy PID - - ` (rfc5424).
    let (header, body) = if let Some((h, b)) = line.split_once("]: ") {
        let pri = &h[..=h.find('>').unwrap_or(0)];
        // The day is padded with a space: `Dec  7 03:45:33 haproxy[...`.
        let tag = h.split_whitespace().nth(3).unwrap_or("?");
        let tag = tag.split('[').next().unwrap_or("?");
        (format!("{pri}DATE {tag}[PID]: "), b)
    } else {
        let mut words = line.splitn(7, ' ');
        let pri = words.next().unwrap_or("?").to_owned();
        let _date = words.next();
        let host = words.next().unwrap_or("?");
        let tag = words.next().unwrap_or("?");
        let _pid = words.next();
        let _msgid = words.next();
        let rest = words.next().unwrap_or("");
        let (sd, body) = rest.split_once(' ').unwrap_or((rest, ""));
        (format!("{pri} DATE {host} {tag} PID - {sd} "), body)
    };
    let fields: Vec<String> = body
        .split(' ')
        .enumerate()
        .map(|(i, f)| match i {
            // Client address: the port differs.
            0 => f.rsplit_once(':').map_or(f, |(ip, _)| ip).to_owned() + ":PORT",
            // Accept date (a cut line may end inside it).
            1 => "[DATE]".to_owned(),
            // Timers: which ran, not how long.
            4 => f
                .split('/')
                .map(|t| if t.starts_with('-') { t } else { "T" })
                .collect::<Vec<_>>()
                .join("/"),
            // Bytes sent: the gateway's response heads are its own (its error pages); the line's count of them is checked by the httplog tests.
            i if i == bytes => "B".to_owned(),
            // %ac/%fc/%bc/%sc/%rc: the connections still open when the line is written
            // depend on when each proxy saw the previous client close.
            i if i == counters => f.split('/').map(|_| "N").collect::<Vec<_>>().join("/"),
            _ => f.to_owned(),
        })
        .collect();
    header + &fields.join(" ")
}

/// Where `%B` and `%ac/%fc/%bc/%sc/%rc` are in the lines of `option httplog`.
const HTTPLOG_FIELDS: [usize; 2] = [6, 10];

/// Plays [`TRAFFIC`] through HAProxy and the gateway on the same configuration (with `options`
/// in `defaults`) and returns each one's normalized lines: UDP, then Unix.
fn run(options: &str, expected_udp: usize) -> [[Vec<String>; 2]; 2] {
    run_format(options, expected_udp, HTTPLOG_FIELDS)
}

/// [`run`] with lines whose `%B` and counters are the words at `fields`.
fn run_format(options: &str, expected_udp: usize, fields: [usize; 2]) -> [[Vec<String>; 2]; 2] {
    let dir = tempfile::tempdir().unwrap();
    let app = Backend::start("app");
    let hap_log = Syslog::start(dir.path(), "h");
    let gw_log = Syslog::start(dir.path(), "g");
    let (haproxy, hap_port) =
        Haproxy::start_on_port(|port| config(port, &hap_log, app.addr, options), &[]);
    let (gateway, gw) =
        GatewayProc::start_on_port(|port| config(port, &gw_log, app.addr, options), &[]);
    let hap = gateway_support::local(hap_port);
    for &t in TRAFFIC {
        play(hap, t);
        play(gw, t);
    }
    let complete = wait_until(Duration::from_secs(10), || {
        hap_log.udp_lines.lines().len() >= expected_udp
            && gw_log.udp_lines.lines().len() >= expected_udp
    });
    // Nothing more comes (a line written late would be one too many).
    thread::sleep(Duration::from_millis(300));
    // Sorted: HAProxy writes the line of a connection closed without a byte when it next
    // looks at it, sometimes after the next request's line.
    let lines = |r: &Received| {
        let mut lines = r
            .lines()
            .iter()
            .map(|l| normalize(l, fields))
            .collect::<Vec<_>>();
        lines.sort();
        lines
    };
    let out = [
        [lines(&hap_log.udp_lines), lines(&hap_log.unix_lines)],
        [lines(&gw_log.udp_lines), lines(&gw_log.unix_lines)],
    ];
    assert!(
        complete,
        "{expected_udp} UDP lines expected\n--- haproxy:\n{}\n--- gateway:\n{}\n--- gateway stderr:\n{}\n--- haproxy log:\n{}",
        out[0][0].join("\n"),
        out[1][0].join("\n"),
        gateway.log(),
        haproxy.log()
    );
    out
}

fn assert_same(what: &str, hap: &[String], gw: &[String]) {
    assert!(
        hap == gw,
        "{what}: the gateway's lines differ from HAProxy's\n--- haproxy:\n{}\n--- gateway:\n{}",
        hap.join("\n"),
        gw.join("\n")
    );
}

#[test]
fn syslog_over_udp_and_unix_sockets_is_haproxys() {
    let [[hap_udp, hap_unix], [gw_udp, gw_unix]] = run("", TRAFFIC.len());
    assert_eq!(hap_udp.len(), TRAFFIC.len(), "{hap_udp:#?}");
    assert_same("udp (rfc3164)", &hap_udp, &gw_udp);
    // The Unix socket's lines: rfc5424, cut at 100 bytes with the line feed after the cut.
    assert!(hap_unix.iter().all(|l| l.starts_with("<142>1 DATE")));
    assert_same("unix (rfc5424, len 100)", &hap_unix, &gw_unix);
}

#[test]
fn dontlognull_leaves_out_connections_that_sent_nothing() {
    let options = "    option dontlognull\n";
    let [[hap_udp, _], [gw_udp, _]] = run(options, TRAFFIC.len() - 1);
    assert_eq!(hap_udp.len(), TRAFFIC.len() - 1, "{hap_udp:#?}");
    assert_same("dontlognull", &hap_udp, &gw_udp);
}

#[test]
fn dontlog_normal_and_log_separate_errors_write_errors_only_at_err() {
    let options = "    option dontlog-normal\n    option log-separate-errors\n";
    // The two connections that end in a client's error (`CR`); the 200s and the 404 (`LR`) are
    // normal.
    let [[hap_udp, _], [gw_udp, _]] = run(options, 2);
    assert_eq!(hap_udp.len(), 2, "{hap_udp:#?}");
    assert!(
        hap_udp.iter().all(|l| l.starts_with("<131>")),
        "{hap_udp:#?}"
    );
    assert_same("dontlog-normal, log-separate-errors", &hap_udp, &gw_udp);
}

#[test]
fn log_format_with_haproxys_variables_and_samples_is_haproxys() {
    // The ID reads a variable: HAProxy builds the ID of a request that never reached a backend
    // (`http-request return`) only when it writes the line, without the request's headers;
    // the gateway with them (see `logline`).
    let options = r#"    unique-id-format %[var(txn.v)]-id
    log-format "%ci:%cp [%tr] %ft %b/%s %Th/%Ti/%TR/%Tq/%Tw/%Tc/%Tr/%Tt %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r %ID spoa-error:\ %[var(txn.v)]  %{+Q}[status] %HM %HP %HPO %HQ %HV %{+Q,+E}HU %{+Q}o %b %{-Q}s %f %ts x%%y"
"#;
    let [[hap_udp, _], [gw_udp, _]] = run(options, TRAFFIC.len());
    // `status` has no value any more when HAProxy writes the line: `""`.
    assert!(
        hap_udp
            .iter()
            .any(|l| l.contains("spoa-ok-id spoa-error: spoa-ok \"\" GET /page /page  HTTP/1.1")),
        "{hap_udp:#?}"
    );
    assert_same("log-format", &hap_udp, &gw_udp);
}

#[test]
fn option_tcplog_is_haproxys() {
    // %B is the 6th word of tcplog's line, the counters the 8th.
    let [[hap_udp, _], [gw_udp, _]] = run_format("    option tcplog\n", TRAFFIC.len(), [5, 7]);
    assert_same("option tcplog", &hap_udp, &gw_udp);
}
