//! Differential test of `http-request set-src|set-src-port|set-dst|set-dst-port`: the same
//! `haproxy.cfg` run by HAProxy 2.6 and by `spoe gateway -f`, the same requests sent to both.
//! What later reads the addresses sees the new ones: the `src`/`dst` fetches, `option
//! forwardfor`, the access line's `%ci`/`%fi`/`%fp`, and the address a request to a server
//! at `0.0.0.0` goes to (the way real files route to an address an agent or a header chose).
//! A value that is no address leaves it; `hdr_ip` reads an address from a header. Fails (never skips) without `haproxy`.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock"
)]

mod gateway_support;

use std::net::SocketAddr;
use std::time::Duration;

use gateway_support::{Backend, GatewayProc, get, local, wait_until};
use spoe_interop::Haproxy;

fn haproxy_cfg(port: u16, app: SocketAddr) -> String {
    format!(
        r#"defaults
    mode http
    log stdout format raw local0
    timeout connect 1s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:{port}
    log-format "%ci %fi:%fp %b/%s %ST %{{+Q}}r"
    option forwardfor
    http-request set-src req.hdr(x-real-ip) if {{ req.hdr(x-real-ip) -m found }}
    http-request set-src hdr_ip(x-fwd) if {{ req.hdr(x-fwd) -m found }}
    http-request set-src-port req.hdr(x-src-port) if {{ req.hdr(x-src-port) -m found }}
    http-request set-header x-seen-src %[src]
    http-request set-header x-seen-sport %[src_port] if {{ req.hdr(x-src-port) -m found }}
    http-request deny deny_status 403 if {{ src 10.66.0.0/16 }}
    use_backend dyn if {{ path_beg /dyn }}
    default_backend app
backend app
    server s1 {app}
backend dyn
    server any 0.0.0.0
    http-request set-dst req.hdr(x-target-ip)
    http-request set-dst-port req.hdr(x-target-port)
    http-request set-header x-seen-dst %[dst]:%[dst_port]
"#
    )
}

/// The headers the servers echoed, compared.
const ECHOED: &[&str] = &[
    "x-backend",
    "echo-x-seen-src",
    "echo-x-seen-sport",
    "echo-x-seen-dst",
    "echo-x-forwarded-for",
];

/// One proxy under test: where it listens and its two servers.
struct Side {
    addr: SocketAddr,
    app: Backend,
    other: Backend,
}

impl Side {
    /// Port numbers that differ between the two proxies, as names.
    fn names(&self, s: &str) -> String {
        s.replace(&self.addr.port().to_string(), "FE")
            .replace(&self.app.addr.port().to_string(), "APP")
            .replace(&self.other.addr.port().to_string(), "OTHER")
    }

    /// `path` with `headers` (`OTHER` in a value: the port of this side's other server):
    /// the status and the echoed headers.
    fn send(&self, path: &str, headers: &[(&str, &str)]) -> (u16, Vec<Option<String>>) {
        let other = self.other.addr.port().to_string();
        let headers: Vec<(&str, String)> = headers
            .iter()
            .map(|(n, v)| (*n, v.replace("OTHER", &other)))
            .collect();
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let r = get(self.addr, path, &headers).expect("answer");
        let (status, echoed, _) = r.seen(ECHOED);
        (
            status,
            echoed
                .into_iter()
                .map(|v| v.map(|v| self.names(&v)))
                .collect(),
        )
    }
}

const REQUESTS: &[(&str, &[(&str, &str)])] = &[
    ("/plain", &[]),
    ("/set-src", &[("x-real-ip", "10.9.8.7")]),
    (
        "/set-src6",
        &[("x-real-ip", "2001:db8::1"), ("x-src-port", "1234")],
    ),
    ("/not-an-address", &[("x-real-ip", "garbage")]),
    ("/denied-by-new-src", &[("x-real-ip", "10.66.1.1")]),
    // `hdr_ip`: the last value, its port ignored.
    ("/xff", &[("x-fwd", "192.0.2.1, 198.51.100.7:1234")]),
    ("/xff-not-an-address", &[("x-fwd", "unknown")]),
    (
        "/dyn/set-dst",
        &[("x-target-ip", "127.0.0.1"), ("x-target-port", "OTHER")],
    ),
    ("/dyn/port-only", &[("x-target-port", "OTHER")]),
];

#[test]
fn set_src_and_dst_as_haproxy() {
    let (hap_app, hap_other) = (Backend::start("app"), Backend::start("other"));
    let (gw_app, gw_other) = (Backend::start("app"), Backend::start("other"));
    let (haproxy, hap_port) = Haproxy::start_on_port(|port| haproxy_cfg(port, hap_app.addr), &[]);
    let (gateway, gw_addr) = GatewayProc::start_on_port(|port| haproxy_cfg(port, gw_app.addr), &[]);
    let hap = Side {
        addr: local(hap_port),
        app: hap_app,
        other: hap_other,
    };
    let gw = Side {
        addr: gw_addr,
        app: gw_app,
        other: gw_other,
    };
    let mut hap_all = Vec::new();
    for (path, headers) in REQUESTS {
        let h = hap.send(path, headers);
        let g = gw.send(path, headers);
        assert_eq!(h, g, "{path} {headers:?}");
        hap_all.push(h);
    }
    // Not vacuous: what HAProxy did is what the rules say.
    let echoed = |i: usize, name: &str| {
        let at = ECHOED.iter().position(|n| *n == name).unwrap();
        hap_all[i].1[at].clone()
    };
    assert_eq!(echoed(1, "echo-x-seen-src").as_deref(), Some("10.9.8.7"));
    assert_eq!(
        echoed(1, "echo-x-forwarded-for").as_deref(),
        Some("10.9.8.7")
    );
    assert_eq!(echoed(2, "echo-x-seen-sport").as_deref(), Some("1234"));
    assert_eq!(echoed(3, "echo-x-seen-src").as_deref(), Some("127.0.0.1"));
    assert_eq!(hap_all[4].0, 403);
    assert_eq!(
        echoed(5, "echo-x-seen-src").as_deref(),
        Some("198.51.100.7")
    );
    assert_eq!(echoed(6, "echo-x-seen-src").as_deref(), Some("127.0.0.1"));
    assert_eq!(echoed(7, "x-backend").as_deref(), Some("other"));
    assert_eq!(
        echoed(7, "echo-x-seen-dst").as_deref(),
        Some("127.0.0.1:OTHER")
    );
    assert_eq!(echoed(8, "x-backend").as_deref(), Some("other"));
    // The access lines name the new addresses.
    let gw_out = || gateway.out();
    let lines = |side: &Side, log: &str| -> Vec<String> {
        log.lines()
            .filter(|l| l.ends_with("HTTP/1.1\""))
            .map(|l| side.names(l))
            .collect()
    };
    assert!(
        wait_until(Duration::from_secs(10), || lines(&hap, &haproxy.log())
            .len()
            == REQUESTS.len()
            && lines(&gw, &gw_out()).len() == REQUESTS.len()),
        "--- haproxy:\n{}\n--- gateway:\n{}",
        haproxy.log(),
        gw_out()
    );
    let hap_lines = lines(&hap, &haproxy.log());
    assert_eq!(hap_lines, lines(&gw, &gw_out()));
    assert!(
        hap_lines[7].starts_with("127.0.0.1 127.0.0.1:OTHER dyn/any 200 "),
        "{hap_lines:?}"
    );
}
