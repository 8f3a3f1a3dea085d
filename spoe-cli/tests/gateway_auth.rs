//! Differential test of `userlist` sections, `http-request auth`, the `http_auth*` fetches,
//! `http-request tarpit` and `errorloc|errorloc302|errorloc303` (the pages of a deny and of
//! the backend's auth): the same `haproxy.cfg` run by HAProxy 2.6 and by `spoe gateway
//! -f`, the same requests sent to both. The client's answer (status, the `WWW-Authenticate`
//! realm, the page), what the server gets (the headers the fetches filled) and the access
//! line (status, termination state) must be the same. The passwords are crypt(3) hashes of
//! every scheme Debian's HAProxy verifies (SHA-512, SHA-256, MD5, bcrypt, yescrypt, DES) and
//! an `insecure-password`. Fails (never skips) without `haproxy`.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock"
)]

mod gateway_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gateway_support::{Backend, Both, Conn};

/// How long a tarpit holds a request in this test.
const TARPIT: Duration = Duration::from_millis(300);

fn haproxy_cfg(port: u16, server: SocketAddr) -> String {
    format!(
        r#"userlist users
    group admins users ann
    group devs
    user ann password $6$saltsalt$As4wrv0kZlfch1du9WeH7qhskyLriQWySXrZzynnvi46nFnNxjdpl6ksRegrrKexvhIa/Iny8S8uF3fVWTMuC1
    user bob insecure-password pw groups devs
    user cat password $2b$04$abcdefghijklmnopqrstuuLZYjhNQAOdpbzt4WxWlUHjv1wsyH5DG groups devs,admins
    user dan password $y$j9T$abcdefghijklmnopqrstu1$FLQtsIuowj8716dO8If0k7pWcUDTjdxiadprSjMx7m8
    user eve password $1$saltsalt$RwMqRjSWhXMKbW72DwzGd1
    user fay password $5$saltsalt$i1q2ZQzc.tl/BQ6CHiENAcVDvEY6nJ1OWlWXKh94b1.
    user gus password abhWCwoTZY2c6
defaults
    mode http
    log stdout format raw local0
    option httplog
    timeout connect 1s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:{port}
    timeout tarpit {tarpit}ms
    errorloc 403 https://example.com/denied
    errorloc303 429 /slow-down
    http-request deny if {{ path_beg /denyloc }}
    http-request deny deny_status 429 if {{ path_beg /deny429 }}
    acl ok http_auth(users)
    acl admin http_auth_group(users) admins
    http-request auth realm Private if {{ path_beg /private }} !ok
    http-request auth if {{ path_beg /fe-realm }} !ok
    http-request auth realm Admins if {{ path_beg /admin }} !admin
    http-request set-header x-user %[http_auth_user] if {{ path_beg /who }}
    http-request set-header x-pass %[http_auth_pass] if {{ path_beg /who }}
    http-request set-header x-type %[http_auth_type] if {{ path_beg /who }}
    http-request set-header x-group-user %[http_auth_group(users)] if {{ path_beg /who }}
    http-request set-header x-ok %[http_auth(users)] if {{ path_beg /who }}
    http-request tarpit deny_status 429 if {{ path_beg /tarpit429 }}
    http-request tarpit if {{ path_beg /tarpit }}
    default_backend app
backend app
    errorloc302 401 /login
    http-request auth if {{ path_beg /be-auth }} !{{ http_auth(users) }}
    server s1 {server}
"#,
        tarpit = TARPIT.as_millis()
    )
}

/// The headers compared.
const HEADERS: &[&str] = &[
    "www-authenticate",
    "location",
    "content-type",
    "content-length",
    "cache-control",
];

/// Basic credentials, base64 of `user:pass`.
fn basic(user_pass: &str) -> String {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::from("Basic ");
    for chunk in user_pass.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    answer: Option<(u16, Vec<Option<String>>, String)>,
    /// The `x-` headers the server saw, sorted.
    server_saw: Option<String>,
}

fn send(addr: SocketAddr, backend: &Backend, target: &str, auth: Option<&str>) -> Outcome {
    let before = backend.seen().len();
    let mut conn = Conn::connect(addr).expect("connect");
    let mut headers = vec![("connection", "close")];
    if let Some(a) = auth {
        headers.push(("authorization", a));
    }
    let answer = conn
        .request("GET", target, &headers, b"")
        .ok()
        .map(|r| r.seen(HEADERS));
    let seen = backend.seen();
    let server_saw = seen.get(before).map(|s| {
        let mut xs: Vec<&str> = s.head.lines().filter(|l| l.starts_with("x-")).collect();
        xs.sort_unstable();
        xs.join("|")
    });
    Outcome { answer, server_saw }
}

#[test]
fn userlists_auth_and_tarpit_as_haproxy() {
    let both = Both::start("app", haproxy_cfg);
    let creds: Vec<(&str, Option<String>)> = vec![
        ("/private/none", None),
        ("/private/ann", Some(basic("ann:s3cret"))),
        ("/private/ann-bad", Some(basic("ann:s3cres"))),
        ("/private/bob", Some(basic("bob:pw"))),
        ("/private/bob-bad", Some(basic("bob:pwx"))),
        ("/private/cat", Some(basic("cat:s3cret"))),
        ("/private/dan", Some(basic("dan:s3cret"))),
        ("/private/eve", Some(basic("eve:s3cret"))),
        ("/private/fay", Some(basic("fay:s3cret"))),
        ("/private/gus", Some(basic("gus:s3cret"))),
        ("/private/nobody", Some(basic("zed:s3cret"))),
        ("/private/bearer", Some("Bearer abc".into())),
        ("/private/garbage", Some("Basic !!!!".into())),
        ("/fe-realm", None),
        ("/admin/bob", Some(basic("bob:pw"))),
        ("/admin/ann", Some(basic("ann:s3cret"))),
        ("/admin/cat", Some(basic("cat:s3cret"))),
        ("/who/ann", Some(basic("ann:s3cret"))),
        ("/who/bad", Some(basic("ann:nope"))),
        ("/who/bearer", Some("Bearer tok".into())),
        ("/who/none", None),
        ("/be-auth", None),
        ("/be-auth/ok", Some(basic("bob:pw"))),
        ("/denyloc", None),
        ("/deny429", None),
    ];
    let (mut hap_all, mut differ) = both.compare(&creds, |addr, backend, (target, auth)| {
        send(addr, backend, target, auth.as_deref())
    });
    // The tarpit: held for `timeout tarpit`, then 500 (or the status), the connection closed.
    for target in ["/tarpit", "/tarpit429"] {
        let mut held = Vec::new();
        for addr in [both.hap_addr, both.gw_addr] {
            let server = if addr == both.gw_addr {
                &both.gw_backend
            } else {
                &both.hap_backend
            };
            let start = Instant::now();
            let out = send(addr, server, target, None);
            held.push(start.elapsed());
            hap_all.push(out);
        }
        let (h, g) = (&hap_all[hap_all.len() - 2], &hap_all[hap_all.len() - 1]);
        if h != g {
            differ.push(format!("{target}\n  haproxy: {h:?}\n  gateway: {g:?}"));
        }
        assert!(
            held.iter().all(|d| *d >= TARPIT),
            "{target}: held {held:?}, not at least {TARPIT:?}"
        );
    }
    assert!(
        differ.is_empty(),
        "{}\n--- gateway stderr:\n{}",
        differ.join("\n"),
        both.gateway.log()
    );
    // Not vacuous.
    let status = |i: usize| hap_all[i].answer.as_ref().map(|a| a.0);
    assert_eq!(status(0), Some(401));
    assert_eq!(
        hap_all[0].answer.as_ref().unwrap().1[0].as_deref(),
        Some("Basic realm=\"Private\"")
    );
    for i in [1, 3, 5, 6, 7, 8, 9] {
        assert_eq!(status(i), Some(200), "{}", creds[i].0);
    }
    assert_eq!(status(2), Some(401));
    assert_eq!(status(14), Some(401), "bob is not an admin");
    assert_eq!(status(16), Some(200), "cat is an admin");
    assert!(
        hap_all[17]
            .server_saw
            .as_deref()
            .is_some_and(|s| s.contains("x-group-user: ann") && s.contains("x-ok: 1")),
        "{:?}",
        hap_all[17]
    );
    assert_eq!(status(creds.len() - 2), Some(302), "errorloc");
    assert_eq!(status(creds.len() - 1), Some(303), "errorloc303");
    assert_eq!(
        status(21),
        Some(302),
        "the backend's 401 is its errorloc302"
    );
    assert_eq!(status(creds.len()), Some(500));
    // The tarpit's 429 is the frontend's `errorloc303 429` page.
    assert_eq!(status(creds.len() + 2), Some(303));

    // The access lines: the same status and termination state (`PT` for the tarpit, `LR`
    // for an auth page).
    let gw_out = || both.gateway.out();
    let targets: Vec<&str> = creds
        .iter()
        .map(|(t, _)| *t)
        .chain(["/tarpit", "/tarpit429"])
        .collect();
    // Server, status and termination state.
    let requests: Vec<String> = targets.iter().map(|t| format!("GET {t}")).collect();
    gateway_support::access::assert_same_fields(
        || both.haproxy.log(),
        gw_out,
        &requests,
        &[5, 9, 14],
    );
}

#[test]
fn spoe_check_refuses_what_haproxy_refuses() {
    let cfg = "userlist u\n    user a password $9$nothing\n    user b insecure-password x groups nope\nfrontend fe\n    mode http\n    bind :0\n    http-request deny if !{ http_auth(missing) }\n";
    let err = spoe_gateway::config::GatewayConfig::parse_str(
        cfg,
        "h.cfg",
        std::path::Path::new("."),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("the encrypted password used for user 'a' is not supported by crypt(3)"),
        "{err}"
    );
    assert!(
        err.contains("userlist 'u': no such group 'nope' specified in user 'b'"),
        "{err}"
    );
    assert!(err.contains("unable to find userlist 'missing'"), "{err}");
}
