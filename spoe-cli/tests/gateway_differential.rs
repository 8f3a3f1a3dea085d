//! Differential test: the same `haproxy.cfg` and `spoe.conf` run by HAProxy 2.6 (the reference)
//! and by `spoe gateway -f`, each on its own frontend port, with the same `spoe agent --example
//! echo` and the same backends. A corpus of requests must get the same status, the same chosen
//! response headers and (where it is meaningful) the same body from both.
//!
//! Fails (never skips) when `haproxy` is missing: `spoe-interop` panics with the install command.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock, and spawn helpers that end with the test"
)]

mod gateway_support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use gateway_support::{
    AgentProc, Backend, Conn, GatewayProc, RefusedPort, Resp, ThreadServer, local, request,
};
use spoe_interop::Haproxy;

/// The echoed message carries every kind of typed data HAProxy 2.6 sends; the group message is
/// only sent by `send-spoe-group`; the frontend's filter also sends on the TCP events and on
/// the backend's request event, as HAProxy's does. No `force-set-var`: only names the configuration references
/// are set, in both.
const SPOE_CONF: &str = "\
[e]
spoe-agent echo-agent
    messages echo resp fe-tcp be-req tcp-res
    groups grp
    option var-prefix echo
    option set-on-error err
    timeout hello 2s
    timeout idle 30s
    timeout processing 2s
    use-backend agents
    log global

spoe-message echo
    args s=str(hello) n=int(-42) big=int(5000000000) b=bool(1) ip4=src ip6=ipv6(2001:db8::1) bin=bin(cafe00ff) path=path method=method hx=req.hdr(x-in)
    event on-frontend-http-request

spoe-message resp
    args st=status srv=res.hdr(x-backend)
    event on-http-response

spoe-message gm
    args g=str(group-ran) gp=path

spoe-message fe-tcp
    args fetcp=str(fe-tcp) fetcpsrc=src
    event on-frontend-tcp-request

spoe-message be-req
    args bereq=str(be-req) bepath=path
    event on-backend-http-request

spoe-message tcp-res
    args tcpres=str(tcp-res)
    event on-tcp-response

spoe-group grp
    messages gm
";

/// The servers both proxies use.
struct Servers {
    agent: SocketAddr,
    main: SocketAddr,
    alt: SocketAddr,
    /// Reads the request and closes without answering.
    closer: SocketAddr,
    /// Answers with bytes that are not HTTP.
    garbage: SocketAddr,
}

fn haproxy_cfg(port: u16, s: &Servers) -> String {
    let Servers {
        agent,
        main,
        alt,
        closer,
        garbage,
    } = s;
    format!(
        r#"global
    log stderr format short local0 warning
defaults
    mode http
    log global
    timeout connect 1s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:{port}
    filter spoe engine e config spoe.conf
    acl is_api path_beg /api
    acl has_token hdr(x-token) -m str secret
    acl is_admin path_beg /admin
    acl ua_tool hdr(user-agent) -m beg -i CURL
    http-request deny deny_status 429 if is_admin !has_token
    http-request deny if {{ path_end .php }}
    http-request return status 200 content-type text/plain hdr x-s "%[var(txn.echo.s)]" hdr x-n "%[var(txn.echo.n)]" hdr x-big "%[var(txn.echo.big)]" hdr x-b "%[var(txn.echo.b)]" hdr x-ip4 "%[var(txn.echo.ip4)]" hdr x-ip6 "%[var(txn.echo.ip6)]" hdr x-bin "%[var(txn.echo.bin),hex]" hdr x-path "%[var(txn.echo.path)]" hdr x-method "%[var(txn.echo.method)]" hdr x-hx "%[var(txn.echo.hx)]" hdr x-err "%[var(txn.echo.err)]" lf-string "path=%[var(txn.echo.path)] n=%[var(txn.echo.n)] ip=%[src] hx=%[var(txn.echo.hx)]" if {{ path_beg /typed }}
    http-request return status 404 content-type text/plain string "nothing here" if {{ path /missing }}
    http-request return status 200 content-type text/plain hdr x-url "%[url]" hdr x-query "%[query]" hdr x-base "%[base]" hdr x-ver "%[req.ver]" hdr x-num-ge "%[req.hdr_val(x-num)]" lf-string "100%% %[method] %[path,lower]" if {{ path_beg /fetch }}
    http-request redirect location /moved code 301 if {{ path /old }}
    http-request redirect prefix /v2 if {{ path_beg /v1/ }}
    http-request send-spoe-group e grp if {{ path_beg /group }}
    http-request set-var(txn.mark) str(marked) if is_api || {{ hdr(x-force) -m found }}
    http-request set-header x-mark "%[var(txn.mark)]"
    http-request set-header x-g "%[var(txn.echo.g)]" if {{ var(txn.echo.g) -m found }}
    http-request set-header x-gp "%[var(txn.echo.gp),upper]" if {{ var(txn.echo.gp) -m found }}
    http-request set-header x-n "%[var(txn.echo.n)]"
    http-request set-header x-big-gt-32bit yes if {{ var(txn.echo.big) -m int gt 4294967296 }}
    http-request set-header x-neg yes if {{ var(txn.echo.n) -m int lt 0 }}
    http-request set-header x-bool yes if {{ var(txn.echo.b) -m bool }}
    http-request set-header x-not-api yes unless is_api
    http-request set-header x-tool yes if ua_tool
    http-request set-header x-or yes if {{ path /or-a }} or {{ path /or-b }}
    http-request set-header X-Upper-Name "%[str(v),upper]"
    http-request set-var(txn.five) int(5)
    http-request set-header x-five-plus "%[var(txn.five),add(3)]"
    http-request add-header x-added one
    http-request add-header x-added two
    http-request set-var(txn.path_len) path,length
    http-request set-header x-path-len "%[var(txn.path_len)]"
    http-request del-header x-secret
    http-response set-header x-resp-mark "%[var(txn.mark)]"
    http-response set-header x-resp-n "%[var(txn.echo.n)]"
    http-response set-header x-resp-status "%[status]"
    http-response del-header x-drop
    http-response set-header x-from-be "%[res.hdr(x-backend)]"
    http-response set-header x-resp-st "%[var(txn.echo.st)]-%[var(txn.echo.srv)]"
    http-response set-header x-events "%[var(txn.echo.fetcp)] %[var(txn.echo.fetcpsrc)] %[var(txn.echo.bereq)] %[var(txn.echo.bepath)] %[var(txn.echo.tcpres)]"
    http-response set-var(txn.rs) status
    http-response add-header x-rs "%[var(txn.rs)]" if {{ var(txn.rs) -m int eq 200 }}
    use_backend closer if {{ path_beg /broken/close }}
    use_backend garbage if {{ path_beg /broken/garbage }}
    use_backend alt if is_api
    default_backend main
backend main
    server s1 {main}
backend alt
    http-request set-header x-alt yes
    server s2 {alt}
backend closer
    server s3 {closer}
backend garbage
    server s4 {garbage}
backend agents
    mode tcp
    server a {agent}
"#
    )
}

/// A server that reads a request and then closes the connection, after sending `answer`.
fn broken_server(answer: &'static [u8]) -> ThreadServer {
    ThreadServer::start(move |mut sock: TcpStream| {
        let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
        let mut buf = [0u8; 16384];
        let _ = sock.read(&mut buf);
        let _ = sock.write_all(answer);
    })
}

/// One request of the corpus.
struct Case {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: &'static [u8],
    /// Compare bodies too. Off for HAProxy's built-in error pages: their text differs by design
    /// (HAProxy has one wording per status, the gateway one for all; status, content-type and
    /// cache-control are what clients act on).
    compare_body: bool,
}

const fn case(name: &'static str, path: &'static str) -> Case {
    Case {
        name,
        method: "GET",
        path,
        headers: &[],
        body: b"",
        compare_body: true,
    }
}

fn corpus() -> Vec<Case> {
    vec![
        Case {
            headers: &[("x-in", "abc")],
            ..case("typed values into return hdr, lf-string body", "/typed")
        },
        case("typed values, missing req.hdr sample", "/typed/none"),
        Case {
            headers: &[("x-in", "first"), ("x-in", "second")],
            ..case("req.hdr takes the last occurrence", "/typed/occ")
        },
        Case {
            headers: &[("x-in", "a, b")],
            ..case("req.hdr splits on commas", "/typed/comma")
        },
        case("query string is not in path", "/typed/q?x=1&y=2"),
        case("default backend, headers from vars", "/"),
        case("use_backend by path_beg", "/api/v1/items"),
        Case {
            headers: &[("x-force", "1")],
            ..case("|| with an anonymous ACL", "/page")
        },
        Case {
            compare_body: false,
            ..case("deny deny_status 429 (is_admin !has_token)", "/admin")
        },
        Case {
            headers: &[("x-token", "secret")],
            ..case("! branch not taken: token matches", "/admin/panel")
        },
        Case {
            headers: &[("x-token", "Secret")],
            compare_body: false,
            ..case("-m str is case-sensitive", "/admin")
        },
        Case {
            compare_body: false,
            ..case("deny with the default 403", "/index.php")
        },
        case("send-spoe-group sets the group's variables", "/group/x"),
        Case {
            headers: &[("x-secret", "s"), ("x-keep", "k")],
            ..case("del-header", "/del")
        },
        Case {
            method: "POST",
            body: b"hello body",
            ..case("POST with a body to the api backend", "/api/submit")
        },
        case("return string 404", "/missing"),
        Case {
            headers: &[("user-agent", "curl/8.0")],
            ..case("hdr -m beg -i", "/ua")
        },
        Case {
            headers: &[("user-agent", "wget/1.0")],
            ..case("hdr -m beg -i, no match", "/ua")
        },
        Case {
            headers: &[("x-num", "12")],
            ..case(
                "url, query, base, req.ver, hdr_val, %% and lower",
                "/fetch/A%20B?k=v&z",
            )
        },
        case(
            "percent-encoded path reaches the agent as sent",
            "/typed/a%2Fb%20c",
        ),
        case("`or` keyword, first branch", "/or-a"),
        case("`or` keyword, second branch", "/or-b"),
        case("redirect location code 301", "/old"),
        case("redirect prefix", "/v1/thing?x=1"),
        Case {
            method: "PATCH",
            ..case("another method reaches the agent", "/typed/patch")
        },
        Case {
            compare_body: false,
            ..case(
                "server closes without a response: 502 Bad Gateway",
                "/broken/close",
            )
        },
        Case {
            compare_body: false,
            ..case("server answers garbage: 502 Bad Gateway", "/broken/garbage")
        },
    ]
}

/// The part of a response both must agree on: the status, every `x-*` and `echo-*` header (the
/// backend echoes the request's `x-*` headers as `echo-x-*`) and `content-type`/`location`, and
/// the body when the case says so, and whether there is a `date` (neither adds one of its own:
/// only a server's, whose value is the clock's).
///
/// Not compared, on purpose: `content-length` (follows the body), `connection` (each proxy manages its client connection
/// its own way) and `cache-control`.
fn comparable(resp: &Resp, compare_body: bool) -> (u16, BTreeMap<String, Vec<String>>, String) {
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (n, v) in &resp.headers {
        if n.starts_with("x-") || n.starts_with("echo-") || n == "content-type" || n == "location" {
            headers.entry(n.clone()).or_default().push(v.clone());
        } else if n == "date" {
            headers
                .entry(n.clone())
                .or_default()
                .push("present".to_owned());
        }
    }
    let body = if compare_body {
        String::from_utf8_lossy(&resp.body).into_owned()
    } else {
        String::new()
    };
    (resp.status, headers, body)
}

fn send(addr: SocketAddr, c: &Case) -> Resp {
    request(addr, c.method, c.path, c.headers, c.body)
        .unwrap_or_else(|e| panic!("{} {} to {addr} ({}): {e}", c.method, c.path, c.name))
}

/// Sends `c` on the kept-alive connection `conn` (opened, or opened again after the server
/// closed it: when connections close is not compared).
fn send_kept_alive(conn: &mut Option<Conn>, addr: SocketAddr, c: &Case) -> Resp {
    for _ in 0..2 {
        let reused = conn.is_some();
        let k = match conn {
            Some(k) => k,
            None => conn.insert(Conn::connect(addr).expect("connect")),
        };
        match k.request(c.method, c.path, c.headers, c.body) {
            Ok(r) => {
                if r.header("connection") == Some("close") {
                    *conn = None;
                }
                return r;
            }
            // The server may close an idle kept-alive connection: retry once on a new one.
            Err(_) if reused => *conn = None,
            Err(e) => panic!("{} {} to {addr} ({}): {e}", c.method, c.path, c.name),
        }
    }
    unreachable!("the second attempt runs on a new connection")
}

/// A readable difference between two comparable responses.
fn diff(
    c: &Case,
    hap: &(u16, BTreeMap<String, Vec<String>>, String),
    gw: &(u16, BTreeMap<String, Vec<String>>, String),
) -> Option<String> {
    if hap == gw {
        return None;
    }
    let mut out = format!(
        "case {:?} ({} {} {:?}):\n",
        c.name, c.method, c.path, c.headers
    );
    if hap.0 != gw.0 {
        out.push_str(&format!("  status: haproxy {} | gateway {}\n", hap.0, gw.0));
    }
    let names: std::collections::BTreeSet<&String> = hap.1.keys().chain(gw.1.keys()).collect();
    for n in names {
        let (a, b) = (hap.1.get(n), gw.1.get(n));
        if a != b {
            out.push_str(&format!("  {n}: haproxy {a:?} | gateway {b:?}\n"));
        }
    }
    if hap.2 != gw.2 {
        out.push_str(&format!(
            "  body: haproxy {:?} | gateway {:?}\n",
            hap.2, gw.2
        ));
    }
    Some(out)
}

#[test]
fn the_gateway_answers_the_corpus_as_haproxy_does() {
    let agent = AgentProc::echo(&[]);
    let main = Backend::start("main");
    let alt = Backend::start("alt");
    let closer = broken_server(b"");
    let garbage = broken_server(b"NOT HTTP AT ALL\r\n\r\n");
    let servers = Servers {
        agent: agent.addr,
        main: main.addr,
        alt: alt.addr,
        closer: closer.addr,
        garbage: garbage.addr,
    };
    let (haproxy, hap_port) = Haproxy::start_on_port(
        |port| haproxy_cfg(port, &servers),
        &[("spoe.conf", SPOE_CONF)],
    );
    let (gateway, gw_addr) = GatewayProc::start_on_port(
        |port| haproxy_cfg(port, &servers),
        &[("spoe.conf", SPOE_CONF)],
    );
    let gw_port = gw_addr.port();

    let corpus = corpus();
    let mut diffs = Vec::new();
    for c in &corpus {
        let hap = comparable(&send(local(hap_port), c), c.compare_body);
        let gw = comparable(&send(local(gw_port), c), c.compare_body);
        diffs.extend(diff(c, &hap, &gw));
    }
    // Again, every request on one kept-alive connection per proxy: transaction variables
    // (`txn.mark`, the agent's `txn.echo.*`) must not leak from one request to the next.
    let (mut hap_conn, mut gw_conn) = (None, None);
    for c in &corpus {
        let hap = comparable(
            &send_kept_alive(&mut hap_conn, local(hap_port), c),
            c.compare_body,
        );
        let gw = comparable(
            &send_kept_alive(&mut gw_conn, local(gw_port), c),
            c.compare_body,
        );
        diffs.extend(diff(c, &hap, &gw).map(|d| format!("(kept alive) {d}")));
    }
    assert!(
        diffs.is_empty(),
        "{} of {} cases differ between HAProxy 2.6 and the gateway:\n{}\n--- gateway stderr:\n{}\n\
         --- haproxy log:\n{}",
        diffs.len(),
        corpus.len() * 2,
        diffs.join("\n"),
        gateway.log(),
        haproxy.log()
    );
    // Both proxies reached the backends for the same requests.
    assert_eq!(main.count() % 2, 0, "main backend: {}", main.count());
    assert_eq!(alt.count() % 2, 0, "alt backend: {}", alt.count());
}

/// Sanity checks on the corpus itself, so a silent agent or a typo cannot make both sides agree
/// on nothing: the typed values are there, with the SPOE error variable unset.
#[test]
fn the_corpus_exercises_the_agent_through_the_gateway() {
    let agent = AgentProc::echo(&[]);
    let main = Backend::start("main");
    let alt = Backend::start("alt");
    // Backends this test never reaches: addresses that refuse connections.
    let (closer, garbage) = (RefusedPort::new(), RefusedPort::new());
    let servers = Servers {
        agent: agent.addr,
        main: main.addr,
        alt: alt.addr,
        closer: closer.addr(),
        garbage: garbage.addr(),
    };
    let (_gateway, addr) = GatewayProc::start_on_port(
        |port| haproxy_cfg(port, &servers),
        &[("spoe.conf", SPOE_CONF)],
    );
    let port = addr.port();
    let r = request(local(port), "GET", "/typed", &[("x-in", "abc")], b"").unwrap();
    let want = [
        ("x-s", "hello"),
        ("x-n", "-42"),
        ("x-big", "5000000000"),
        ("x-b", "1"),
        ("x-ip4", "127.0.0.1"),
        ("x-ip6", "2001:db8::1"),
        ("x-bin", "CAFE00FF"),
        ("x-path", "/typed"),
        ("x-method", "GET"),
        ("x-hx", "abc"),
    ];
    for (n, v) in want {
        assert_eq!(r.header(n), Some(v), "{n} in {r:?}");
    }
    assert_eq!(r.header("x-err"), None, "{r:?}");
    assert_eq!(
        String::from_utf8_lossy(&r.body),
        "path=/typed n=-42 ip=127.0.0.1 hx=abc"
    );
    let r = request(local(port), "GET", "/api/x", &[], b"").unwrap();
    assert_eq!(r.header("x-backend"), Some("alt"), "{r:?}");
    assert_eq!(r.header("echo-x-mark"), Some("marked"), "{r:?}");
    assert_eq!(r.header("x-resp-n"), Some("-42"), "{r:?}");
    assert_eq!(r.header("x-drop"), None, "{r:?}");
    // The TCP events and the backend's request event reach the frontend's filter.
    assert_eq!(
        r.header("x-events"),
        Some("fe-tcp 127.0.0.1 be-req /api/x tcp-res"),
        "{r:?}"
    );
}
