//! The stats page and the runtime API against HAProxy 2.6 (issue 23, part "stats"): the same
//! configuration (`stats socket ... level admin`, a `listen stats` with `stats enable|uri|
//! refresh|realm|auth|admin`, a frontend routing to a backend of two servers), the same
//! requests, then the same runtime API commands and stats page requests to both.
//!
//! Equal: every reply to the commands tools send (errors included), the `show stat` and
//! `;csv` header (HAProxy's columns, in its order), the values that follow from the traffic
//! and the commands (status, weights, active servers, requests and responses by class), the
//! `show servers state` lines (but the seconds since the last change), the `show info` field
//! names, the prompt mode's bytes, the 401 asking for the realm, and the 303 after an admin
//! form. Fails (never skips) when `haproxy` is missing.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock"
)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use spoe_gateway::Gateway;
use spoe_interop::{Haproxy, http_get, http_get_unix};

mod support;
use support::{serve_backend, servers_state};

const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// The configuration, with the `bind` addresses, the CLI socket and the servers' address.
fn config(web: &str, stats: &str, cli: &str, up: SocketAddr) -> String {
    format!(
        "global
    stats socket {cli} mode 600 level admin
    stats timeout 30s
defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
frontend web
    bind {web}
    http-request deny if {{ path /deny }}
    default_backend app
backend app
    server s1 {up}
    server s2 {up} weight 3
listen stats
    bind {stats}
    stats enable
    stats uri /stats
    stats refresh 10s
    stats realm Ops
    stats auth admin:s3cret
    stats admin if TRUE
"
    )
}

/// Where each side listens.
enum Place {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

/// One connection to a place.
enum Stream {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
}

impl Place {
    fn connect(&self) -> Stream {
        match self {
            Self::Tcp(a) => {
                let s = std::net::TcpStream::connect_timeout(a, IO_TIMEOUT).unwrap();
                s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                Stream::Tcp(s)
            }
            Self::Unix(p) => {
                let s = std::os::unix::net::UnixStream::connect(p).unwrap();
                s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                Stream::Unix(s)
            }
        }
    }

    /// Sends `bytes` and reads until the peer closes.
    fn exchange(&self, bytes: &[u8]) -> String {
        let mut out = Vec::new();
        match self.connect() {
            Stream::Tcp(mut s) => {
                s.write_all(bytes).unwrap();
                s.read_to_end(&mut out).unwrap();
            }
            Stream::Unix(mut s) => {
                s.write_all(bytes).unwrap();
                s.read_to_end(&mut out).unwrap();
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    fn get(&self, path: &str, headers: &[(&str, &str)]) -> (u16, Vec<(String, String)>, String) {
        let (status, h, body) = match self {
            Self::Tcp(a) => http_get(a, path, headers),
            Self::Unix(p) => http_get_unix(p, path, headers),
        }
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        (status, h, String::from_utf8_lossy(&body).into_owned())
    }
}

/// One side under test: its web frontend, stats listener and CLI socket.
struct Side {
    web: Place,
    stats: Place,
    cli: Place,
}

impl Side {
    /// A runtime API command in the one-command-per-connection mode (`echo CMD | socat`).
    fn cli(&self, command: &str) -> String {
        self.cli.exchange(format!("{command}\n").as_bytes())
    }
}

/// `Authorization` for admin:s3cret.
const AUTH: (&str, &str) = ("Authorization", "Basic YWRtaW46czNjcmV0");

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Rows by (pxname, svname), each column -> value.
type Table = BTreeMap<(String, String), BTreeMap<String, String>>;

/// `show stat`: its header line and its rows.
fn stat_table(csv: &str) -> (String, Table) {
    let mut lines = csv.lines();
    let header = lines.next().unwrap().to_owned();
    let names: Vec<&str> = header.trim_start_matches("# ").split(',').collect();
    let mut rows = BTreeMap::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let cells: Vec<&str> = line.split(',').collect();
        let row: BTreeMap<String, String> = names
            .iter()
            .zip(&cells)
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        rows.insert((cells[0].to_owned(), cells[1].to_owned()), row);
    }
    (header, rows)
}

/// The columns that must agree once both sides saw the same requests and commands.
const AGREE: &[&str] = &[
    "status", "weight", "act", "bck", "type", "mode", "req_tot", "hrsp_1xx", "hrsp_2xx",
    "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "dreq", "uweight", "qcur", "scur",
];

/// A server's columns that must agree (which server a request went to is the balancing
/// algorithm's: HAProxy's weighted round robin orders servers its own way).
const SERVER_AGREE: &[&str] = &[
    "status", "weight", "act", "bck", "type", "mode", "uweight", "qcur", "scur",
];

/// The rows compared: the web frontend and the app backend with its servers (the stats
/// proxy's own figures depend on the page's own requests, which differ in size).
const ROWS: &[(&str, &str)] = &[
    ("web", "FRONTEND"),
    ("app", "s1"),
    ("app", "s2"),
    ("app", "BACKEND"),
];

/// A `POST` of the admin form, as a browser sends it.
fn post(form: &str) -> Vec<u8> {
    format!(
        "POST /stats HTTP/1.1\r\nHost: h\r\nAuthorization: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        AUTH.1,
        form.len()
    )
    .into_bytes()
}

/// The status line and `Location` of a raw response.
fn status_and_location(response: &str) -> (String, Option<String>) {
    let status = response.lines().next().unwrap_or_default().to_owned();
    let location = response.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .starts_with("location:")
            .then(|| l[9..].trim().to_owned())
    });
    (status, location)
}

/// What one side answered, to compare.
#[derive(Debug, Default)]
struct Answers {
    replies: Vec<(String, String)>,
    info_names: Vec<String>,
    header: String,
    csv_header: String,
    values: Table,
    states: Vec<String>,
    prompt: String,
    unauthorized: (u16, Option<String>),
    csv_headers: (Option<String>, Option<String>, Option<String>),
    posted: (String, Option<String>),
    denied_post: (String, Option<String>),
    states_after_post: Vec<String>,
}

/// The commands whose replies must be byte for byte HAProxy's.
const COMMANDS: &[&str] = &[
    "set server app/zz state ready",
    "set server zz/s1 state ready",
    "set server app/s1 state bogus",
    "set server app/s1 weight 300",
    "set server app/s1 weight abc",
    "set server app/s1",
    "disable server app",
    "get weight app/s2",
    "show table",
    "show table foo",
    "set server app/s2 weight 50%",
    "get weight app/s2",
    "set server app/s1 state drain",
    "set weight app/s2 2",
    "get weight app/s2",
    "disable server app/s2",
    "enable server app/s2",
];

fn drive(side: &Side) -> Answers {
    let mut a = Answers::default();
    for path in ["/", "/a", "/b", "/deny"] {
        let (status, _, _) = side.web.get(path, &[]);
        assert!(matches!(status, 200 | 403), "GET {path}: {status}");
    }
    for command in COMMANDS {
        a.replies.push(((*command).to_owned(), side.cli(command)));
    }
    a.info_names = side
        .cli("show info")
        .lines()
        .filter_map(|l| l.split_once(':').map(|(n, _)| n.to_owned()))
        .collect();
    let stat = side.cli("show stat");
    let (columns, rows) = stat_table(&stat);
    a.header = columns;
    for key in ROWS {
        let key = (key.0.to_owned(), key.1.to_owned());
        let row = rows
            .get(&key)
            .unwrap_or_else(|| panic!("no row {key:?} in\n{stat}"));
        let columns = if key.1.ends_with("END") {
            AGREE
        } else {
            SERVER_AGREE
        };
        let agreed = columns
            .iter()
            .map(|c| ((*c).to_owned(), row.get(*c).cloned().unwrap_or_default()))
            .collect();
        a.values.insert(key, agreed);
    }
    a.states = servers_state(&side.cli("show servers state"));
    a.prompt = side
        .cli
        .exchange(b"prompt\nshow table\nget weight app/s1\nquit\n");
    let (status, headers, _) = side.stats.get("/stats", &[]);
    a.unauthorized = (
        status,
        header(&headers, "www-authenticate").map(str::to_owned),
    );
    let (status, headers, body) = side.stats.get("/stats;csv", &[AUTH]);
    assert_eq!(status, 200, "{body}");
    a.csv_header = body.lines().next().unwrap_or_default().to_owned();
    a.csv_headers = (
        header(&headers, "content-type").map(str::to_owned),
        header(&headers, "refresh").map(str::to_owned),
        header(&headers, "cache-control").map(str::to_owned),
    );
    a.posted = status_and_location(&side.stats.exchange(&post("s=s1&s=s2&action=maint&b=app")));
    a.denied_post = status_and_location(&side.stats.exchange(&post("s=s1&action=bogus&b=app")));
    a.states_after_post = servers_state(&side.cli("show servers state app"));
    a
}

async fn start_gateway(dir: &Path, up: SocketAddr) -> (Arc<Gateway>, Side) {
    let web = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stats = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (web_addr, stats_addr) = (web.local_addr().unwrap(), stats.local_addr().unwrap());
    let cli = dir.join("gateway.sock");
    let text = config(
        &web_addr.to_string(),
        &stats_addr.to_string(),
        &cli.display().to_string(),
        up,
    );
    let gw = support::start_gateway(text, dir.to_owned(), vec![web, stats]).await;
    let side = Side {
        web: Place::Tcp(web_addr),
        stats: Place::Tcp(stats_addr),
        cli: Place::Unix(cli),
    };
    (gw, side)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_api_and_the_page_answer_as_haproxy() {
    let backend = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = backend.local_addr().unwrap();
    let server = tokio::spawn(serve_backend(backend));

    let haproxy = Haproxy::start(&config(
        "unix@web.sock",
        "unix@stats.sock",
        "unix@cli.sock",
        up,
    ));
    let dir = haproxy.dir().to_owned();
    let reference = Side {
        web: Place::Unix(dir.join("web.sock")),
        stats: Place::Unix(dir.join("stats.sock")),
        cli: Place::Unix(dir.join("cli.sock")),
    };
    let tmp = tempfile::tempdir().unwrap();
    let (gw, ours) = start_gateway(tmp.path(), up).await;

    let (theirs, mine) = tokio::task::spawn_blocking(move || (drive(&reference), drive(&ours)))
        .await
        .unwrap();

    for ((command, expected), (_, got)) in theirs.replies.iter().zip(&mine.replies) {
        assert_eq!(got, expected, "reply to '{command}'");
    }
    assert_eq!(mine.info_names, theirs.info_names, "show info's fields");
    assert_eq!(mine.header, theirs.header, "show stat's columns");
    assert_eq!(mine.csv_header, theirs.header, ";csv's columns");
    assert_eq!(mine.values, theirs.values, "show stat's values");
    assert_eq!(mine.states, theirs.states, "show servers state");
    assert_eq!(mine.prompt, theirs.prompt, "prompt mode");
    assert_eq!(mine.unauthorized, theirs.unauthorized, "stats auth");
    assert_eq!(theirs.unauthorized.0, 401);
    assert_eq!(mine.csv_headers, theirs.csv_headers, ";csv's headers");
    assert_eq!(mine.posted, theirs.posted, "the admin form");
    assert_eq!(mine.denied_post, theirs.denied_post, "a bad admin form");
    assert_eq!(mine.states_after_post, theirs.states_after_post);
    assert!(
        mine.states_after_post
            .iter()
            .any(|l| l.starts_with("3 app 1 s1 ") && l.contains(" 0 1 ")),
        "s1 in maintenance after the form: {:?}",
        mine.states_after_post
    );

    gw.stop(true).await;
    drop(haproxy);
    server.abort();
}
