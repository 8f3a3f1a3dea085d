//! Which server takes a request before balancing does, HAProxy 2.6 against the gateway on the
//! same `haproxy.cfg` and the same requests: `stick on|match|store-request|store-response`
//! through a stick table's `server_id` (with `non-stick` and `id` servers), `use-server`,
//! `force-persist` and `ignore-persist` with a cookie and a down server, and
//! `http-send-name-header`; which server answered, what it saw, the `Set-Cookie` the client
//! got, and `%s %tsc` in the access line.
//!
//! Each proxy gets its own servers (the same program), so what each saw can be put side by
//! side. Fails (never skips) when `haproxy` is missing.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock, and spawn helpers that end with the test"
)]

mod gateway_support;

use std::net::SocketAddr;
use std::time::Duration;

use gateway_support::{Both, Conn, RefusedPort, ThreadServer, access, head_server, wait_until};

/// A server that answers every request with `x-server: NAME`, `x-name: <the x-srv headers it
/// got, joined by " | ">` and, when the path has `?set=VALUE`, `Set-Cookie: app=VALUE` and `x-key: VALUE`.
fn echo_server(name: &'static str) -> ThreadServer {
    head_server("x-srv", move |target, named| {
        let mut head = format!(
            "HTTP/1.1 200 OK\r\nx-server: {name}\r\nx-name: {}\r\ncontent-length: 0\r\n",
            named.join(" | ")
        );
        if let Some((_, set)) = target.split_once("?set=") {
            head.push_str(&format!(
                "set-cookie: app={set}; Path=/\r\nx-key: {set}\r\n"
            ));
        }
        head
    })
}

fn config(port: u16, s1: SocketAddr, s2: SocketAddr, dead: SocketAddr) -> String {
    format!(
        r#"global
    log stdout format raw local0
defaults
    mode http
    log global
    log-format "PS %HU %s %tsc"
    timeout connect 500ms
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:{port}
    use_backend %[path,field(2,/)]
backend on
    stick-table type string len 32 size 100 expire 10m
    stick on req.hdr(x-user)
    server s1 {s1}
    server s2 {s2}
backend down
    stick-table type string len 32 size 100 expire 10m
    stick on req.hdr(x-user)
    force-persist if {{ req.hdr(x-force) 1 }}
    retries 0
    use-server s3 if {{ req.hdr(x-to) s3 }}
    server s1 {s1}
    server s3 {dead} check inter 100ms fall 1 rise 1
backend store
    stick-table type string len 32 size 100 expire 10m
    stick match req.cook(app)
    stick store-response res.hdr(x-key)
    stick store-request req.hdr(x-user) table on
    server s1 {s1}
    server s2 {s2}
backend ids
    stick-table type ip size 100 expire 10m
    stick on src
    server s1 {s1} non-stick
    server s2 {s2} id 7
backend use
    use-server s2 if {{ req.hdr(x-to) s2 }}
    use-server s3 if {{ req.hdr(x-to) s3 }}
    use-server s1 if {{ req.hdr(x-to) s3 }}
    server s1 {s1}
    server s2 {s2}
    server s3 {dead} check inter 100ms fall 1 rise 1
backend ign
    cookie SRV insert indirect
    ignore-persist if {{ path_end /ign }}
    force-persist if {{ path_end /force }}
    use-server s2 if {{ path_end /use }}
    retries 0
    server s1 {s1} cookie one
    server s2 {s2} cookie two
    server s3 {dead} cookie three check inter 100ms fall 1 rise 1
backend name
    http-send-name-header x-srv
    balance roundrobin
    server s1 {s1}
    server s2 {s2}
"#
    )
}

/// What a client and a server saw of one request.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    status: u16,
    server: Option<String>,
    name_at_server: Option<String>,
    set_cookie: Vec<String>,
}

fn send(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Seen {
    let mut conn = Conn::connect(addr).unwrap();
    let mut h = vec![("connection", "close")];
    h.extend_from_slice(headers);
    let r = conn.request("GET", path, &h, b"").unwrap();
    Seen {
        status: r.status,
        server: r.header("x-server").map(str::to_owned),
        name_at_server: r.header("x-name").map(str::to_owned),
        set_cookie: r
            .headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .map(|(_, v)| v.clone())
            .collect(),
    }
}

/// The access lines (`PS URI SERVER TSC`) of a log, the polls left out.
fn access_lines(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| l.find("PS ").map(|at| l[at..].to_owned()))
        .filter(|l| !l.contains("poll"))
        .collect()
}

type Case = (&'static str, &'static [(&'static str, &'static str)]);

const CASES: &[Case] = &[
    // `stick on`: the first request of each user is balanced, then stays.
    ("/on/a", &[("x-user", "ann")]),
    ("/on/b", &[("x-user", "bob")]),
    ("/on/c", &[("x-user", "ann")]),
    ("/on/d", &[("x-user", "bob")]),
    ("/on/e", &[("x-user", "ann")]),
    ("/on/f", &[]),
    ("/on/g", &[]),
    // A down server: `use-server` skips it, `force-persist` sends there anyway.
    ("/down/a", &[("x-user", "cid"), ("x-to", "s3")]),
    ("/down/b", &[("x-user", "cid")]),
    (
        "/down/c",
        &[("x-user", "dan"), ("x-to", "s3"), ("x-force", "1")],
    ),
    // `store-response` learns the server's key; `match` reads it back; a `store-request`
    // into another backend's table ('on') is matched there.
    ("/store/a?set=k1", &[]),
    ("/store/b?set=k2", &[]),
    ("/store/c", &[("cookie", "app=k1")]),
    ("/store/d", &[("cookie", "app=k2")]),
    ("/store/e", &[("cookie", "app=k1")]),
    ("/store/f", &[("x-user", "eve")]),
    ("/on/h", &[("x-user", "eve")]),
    // `non-stick`: what s1 serves is not stored; s2 (`id 7`) is, and stays.
    ("/ids/a", &[]),
    ("/ids/b", &[]),
    ("/ids/c", &[]),
    ("/ids/d", &[]),
    // `use-server`: the first rule that holds and whose server runs.
    ("/use/a", &[("x-to", "s2")]),
    ("/use/b", &[("x-to", "s3")]),
    ("/use/c", &[]),
    // Cookies with `ignore-persist`, `force-persist`, `use-server`.
    ("/ign/a", &[("cookie", "SRV=two")]),
    ("/ign/ign", &[("cookie", "SRV=two")]),
    ("/ign/ign", &[]),
    ("/ign/use", &[("cookie", "SRV=one")]),
    ("/ign/use", &[]),
    ("/ign/force", &[("cookie", "SRV=three")]),
    ("/ign/b", &[("cookie", "SRV=three")]),
    // `http-send-name-header`: the server learns its name, whatever the client sent.
    ("/name/a", &[("x-srv", "forged")]),
    ("/name/b", &[]),
];

#[test]
fn server_choice_as_haproxy() {
    let both = Both::start_with(
        || (echo_server("s1"), echo_server("s2"), RefusedPort::new()),
        |port, (s1, s2, dead)| config(port, s1.addr, s2.addr, dead.addr()),
    );
    let gw_err = || both.gateway.log();
    // The dead servers' checks mark them down on both sides first: `use-server s3` then
    // falls through to s1.
    for (addr, name) in both.sides() {
        assert!(
            wait_until(Duration::from_secs(10), || send(
                addr,
                "/use/poll",
                &[("x-to", "s3")]
            )
            .status
                == 200),
            "{name}: s3 of 'use' never went down\n{}",
            gw_err()
        );
        assert!(
            wait_until(Duration::from_secs(10), || send(addr, "/ign/poll", &[])
                .status
                == 200
                && send(addr, "/down/poll", &[]).status == 200),
            "{name}: s3 of 'ign' or 'down' never went down\n{}",
            gw_err()
        );
    }
    let (outcomes, mut diffs) =
        both.compare(CASES, |addr, _, (path, headers)| send(addr, path, headers));
    // Not vacuous: HAProxy kept users on their servers, refused the forced down server,
    // and named the server to itself.
    let at = |path: &str| {
        let i = CASES.iter().position(|(p, _)| *p == path).unwrap();
        &outcomes[i]
    };
    assert_eq!(at("/on/a").server, at("/on/e").server);
    assert_ne!(at("/on/a").server, at("/on/b").server);
    assert_eq!(at("/down/c").status, 503);
    assert_eq!(at("/ids/d").server.as_deref(), Some("s2"));
    assert_eq!(at("/name/a").name_at_server.as_deref(), Some("s1"));
    diffs.extend(access::line_diffs(
        || both.haproxy.log(),
        || both.gateway.out(),
        access_lines,
        CASES.len(),
    ));
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}\n--- gateway stderr:\n{}",
        diffs.len(),
        diffs.join("\n"),
        gw_err()
    );
}

// ===== option prefer-last-server, http-reuse =====

fn keepalive_config(port: u16, s1: SocketAddr, s2: SocketAddr) -> String {
    format!(
        r#"defaults
    mode http
    timeout connect 500ms
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:{port}
    use_backend %[path,field(2,/)]
backend never
    http-reuse never
    option prefer-last-server
    server s1 {s1}
    server s2 {s2}
backend safe
    option prefer-last-server
    server s1 {s1}
    server s2 {s2}
backend hash
    http-reuse never
    option prefer-last-server
    balance uri
    server s1 {s1}
    server s2 {s2}
backend plain
    http-reuse never
    server s1 {s1}
    server s2 {s2}
"#
    )
}

/// The servers that answered `n` requests to `/BACKEND/i` on one client connection.
fn servers_on_one_connection(addr: SocketAddr, backend: &str, n: usize) -> Vec<String> {
    let mut conn = Conn::connect(addr).unwrap();
    (0..n)
        .map(|i| {
            let r = conn
                .request("GET", &format!("/{backend}/{i}"), &[], b"")
                .unwrap();
            assert_eq!(r.status, 200, "/{backend}/{i}");
            r.header("x-server").unwrap_or_default().to_owned()
        })
        .collect()
}

#[test]
fn prefer_last_server_as_haproxy() {
    let both = Both::start_with(
        || (echo_server("s1"), echo_server("s2")),
        |port, (s1, s2)| keepalive_config(port, s1.addr, s2.addr),
    );
    let mut diffs = Vec::new();
    let mut seen = Vec::new();
    for backend in ["never", "safe", "hash", "plain"] {
        let h = servers_on_one_connection(both.hap_addr, backend, 4);
        let g = servers_on_one_connection(both.gw_addr, backend, 4);
        if h != g {
            diffs.push(format!("{backend}:\n  haproxy {h:?}\n  gateway {g:?}"));
        }
        seen.push(h);
    }
    // Not vacuous: with `http-reuse never` the client stays on its server; with `safe`
    // (HTTP/1 servers) round robin goes on.
    assert!(seen[0].iter().all(|s| *s == seen[0][0]), "{seen:?}");
    assert_ne!(seen[1][0], seen[1][1], "{seen:?}");
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

// ===== hash-type =====

fn hash_config(port: u16, s: [SocketAddr; 3]) -> String {
    let [a, b, c] = s;
    let mut cfg = format!(
        "defaults\n    mode http\n    timeout connect 500ms\n    timeout client 10s\n    timeout server 10s\n\
         frontend fe\n    bind 127.0.0.1:{port}\n    use_backend %[req.hdr(x-be)]\n"
    );
    let kinds = [
        ("sdbm", "uri", "map-based"),
        ("djb2", "uri", "map-based djb2"),
        ("wt6", "uri whole", "map-based wt6"),
        ("crc32", "uri", "map-based crc32"),
        ("sdbmav", "uri", "map-based sdbm avalanche"),
        ("wt6av", "hdr(x-k)", "map-based wt6 avalanche"),
        ("crc32av", "hdr(x-k)", "map-based crc32 avalanche"),
        ("djb2src", "source", "map-based djb2 avalanche"),
    ];
    for (name, balance, hash) in kinds {
        cfg.push_str(&format!(
            "backend {name}\n    balance {balance}\n    hash-type {hash}\n    hash-balance-factor 150\n    \
             server s1 {a} weight 3\n    server s2 {b} weight 2\n    server s3 {c}\n"
        ));
    }
    cfg
}

#[test]
fn hash_types_pick_haproxys_server() {
    let both = Both::start_with(
        || [echo_server("s1"), echo_server("s2"), echo_server("s3")],
        |port, s| hash_config(port, s.each_ref().map(|s| s.addr)),
    );
    let backends = [
        "sdbm", "djb2", "wt6", "crc32", "sdbmav", "wt6av", "crc32av", "djb2src",
    ];
    let mut diffs = Vec::new();
    let mut spread = std::collections::BTreeSet::new();
    for be in backends {
        for key in 0..24 {
            let path = format!("/k/{key}/item-{}?q={key}", key * 7919);
            let k = format!("user-{key}");
            let headers = [("x-be", be), ("x-k", k.as_str())];
            let [hs, gs] =
                [both.hap_addr, both.gw_addr].map(|addr| send(addr, &path, &headers).server);
            if hs != gs {
                diffs.push(format!("{be} {path} {k}: haproxy {hs:?}, gateway {gs:?}"));
            }
            spread.insert((be, hs));
        }
    }
    // Not vacuous: the keys spread over every server of the hash backends.
    assert!(
        spread.iter().filter(|(be, _)| *be == "djb2").count() == 3,
        "{spread:?}"
    );
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}
