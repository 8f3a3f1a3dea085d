//! `bind ... accept-proxy` against HAProxy 2.6: the same configuration and the same bytes
//! through both proxies. A PROXY header (version 1 text, version 2 binary, `UNKNOWN`,
//! version 2 `LOCAL`) is read before the request; the addresses it announces are what `src`,
//! `dst`, `option forwardfor`, `option originalto` (with the backend's `except` and header
//! name) and the access line see. A connection whose header is missing,
//! cut or wrong is closed without an answer and logged with HAProxy's message. `tcp-request
//! connection expect-proxy layer4 if ...` asks for the header on the connections it matches
//! only. Fails (never skips) when `haproxy` is missing.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock"
)]

mod gateway_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use gateway_support::{Backend, Both, wait_until};

fn config(port: u16, backend: SocketAddr) -> String {
    format!(
        r#"global
    log stdout format raw local0
defaults
    mode http
    log global
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend web
    bind 127.0.0.1:{port} accept-proxy
    bind 127.0.0.2:{port}
    bind 127.0.0.3:{port}
    tcp-request connection expect-proxy layer4 if {{ dst 127.0.0.2 }}
    option forwardfor
    option originalto header X-Fe-Orig
    log-format "line %ci:%cp %fi:%fp %ST %{{+Q}}r"
    http-request set-header X-Src "%[src]:%[src_port]"
    http-request set-header X-Dst "%[dst]:%[dst_port]"
    http-request set-header X-Fc "%[fc_rcvd_proxy] %[fc_src] %[fc_dst]"
    http-request set-header X-Authority "%[fc_pp_authority]"
    default_backend app
backend app
    option originalto except 198.51.100.0/24
    server s1 {backend}
"#
    )
}

/// A version 2 header: PROXY command, TCP over IPv4, no TLV.
fn v2_inet(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend_from_slice(&[0x21, 0x11, 0, 12]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h
}

/// [`v2_inet`] with an authority TLV (the TLS server name a proxy in front saw).
fn v2_authority(authority: &str) -> Vec<u8> {
    let mut h = v2_inet([198, 51, 100, 7], 40004, [192, 0, 2, 98], 443);
    let len = u16::try_from(12 + 3 + authority.len()).unwrap();
    h[14..16].copy_from_slice(&len.to_be_bytes());
    h.push(0x02);
    h.extend_from_slice(&u16::try_from(authority.len()).unwrap().to_be_bytes());
    h.extend_from_slice(authority.as_bytes());
    h
}

/// A version 2 header with the LOCAL command (a health check of the proxy in front).
fn v2_local() -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend_from_slice(&[0x20, 0x00, 0, 0]);
    h
}

/// Sends `prefix` then (when `request`) a GET on one connection; returns the status line (or
/// what came back when there is none) and what the backend saw of the forwarding headers.
fn exchange(addr: SocketAddr, prefix: &[u8], request: bool) -> String {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The header and the request in one write: HAProxy takes the header from its first read.
    let mut bytes = prefix.to_vec();
    if request {
        bytes.extend_from_slice(b"GET /pp HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    }
    c.write_all(&bytes).unwrap();
    let mut answer = Vec::new();
    let _ = c.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    text.lines().next().unwrap_or("<closed>").to_owned()
}

/// `s` with each `127.0.0.N[:PORT]` (the test's own connections, whose ports differ) masked.
fn mask_local(s: &str) -> String {
    s.split(' ')
        .map(|w| {
            if w.starts_with("127.0.0.") {
                "<local>"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The forwarding headers of the backend's last request, sorted (where the gateway puts
/// `X-Forwarded-For` among the others is `option forwardfor`'s matter, not this test's).
fn seen(backend: &Backend) -> Vec<String> {
    let head = backend
        .seen()
        .last()
        .map(|s| s.head.clone())
        .unwrap_or_default();
    let mut headers: Vec<String> = head
        .split("\r\n")
        .map(str::to_ascii_lowercase)
        .filter(|l| {
            [
                "x-forwarded-for:",
                "x-src:",
                "x-dst:",
                "x-fc:",
                "x-authority:",
                "x-original-to:",
                "x-fe-orig:",
            ]
            .iter()
            .any(|h| l.starts_with(h))
        })
        .collect();
    headers.sort();
    headers
}

#[test]
fn proxy_headers_set_the_addresses_and_bad_ones_close_as_haproxy() {
    let both = Both::start("b", config);
    let gw_out = || both.gateway.out();

    let good: Vec<(&str, Vec<u8>)> = vec![
        (
            "v1 tcp4",
            b"PROXY TCP4 192.0.2.10 198.51.100.20 40001 443\r\n".to_vec(),
        ),
        (
            "v1 tcp6",
            b"PROXY TCP6 2001:db8::10 2001:db8::20 40002 8443\r\n".to_vec(),
        ),
        ("v1 unknown", b"PROXY UNKNOWN\r\n".to_vec()),
        (
            "v2 inet",
            v2_inet([203, 0, 113, 5], 40003, [192, 0, 2, 99], 80),
        ),
        ("v2 local", v2_local()),
        ("v2 authority", v2_authority("www.example.org")),
    ];
    let mut results: [Vec<(String, String, Vec<String>)>; 2] = [Vec::new(), Vec::new()];
    for (side, (addr, backend)) in [
        (both.hap_addr, &both.hap_backend),
        (both.gw_addr, &both.gw_backend),
    ]
    .into_iter()
    .enumerate()
    {
        for (name, header) in &good {
            let status = exchange(addr, header, true);
            // `UNKNOWN` and `LOCAL` keep the real addresses: only their shape is compared.
            let headers = seen(backend).into_iter().map(|h| mask_local(&h)).collect();
            results[side].push(((*name).to_owned(), status, headers));
        }
    }
    assert_eq!(results[1], results[0], "gateway, then haproxy");
    assert_eq!(
        results[0][0].2,
        [
            "x-authority: ",
            "x-dst: 198.51.100.20:443",
            "x-fc: 1 <local> <local>",
            "x-forwarded-for: 192.0.2.10",
            "x-src: 192.0.2.10:40001"
        ]
    );
    // Not in the backend's `except` network: the backend's header name.
    assert!(
        results[0][3]
            .2
            .contains(&"x-original-to: 192.0.2.99".to_owned()),
        "{:?}",
        results[0][3]
    );
    assert!(
        results[0][5]
            .2
            .contains(&"x-authority: www.example.org".to_owned()),
        "{:?}",
        results[0][5]
    );

    // Wrong headers: closed without an answer, with HAProxy's message.
    let bad: &[(&str, &[u8])] = &[
        ("not a header", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("truncated", b"PROXY TCP4 192.0.2.1 19"),
        ("bad v1", b"PROXY TCP4 192.0.2.1 198.51.100.2 1 2 3\r\n"),
        ("bad protocol", b"PROXY UDP4 192.0.2.1 198.51.100.2 1 2\r\n"),
    ];
    for addr in [both.hap_addr, both.gw_addr] {
        for (name, bytes) in bad {
            let got = exchange(addr, bytes, false);
            assert_eq!(got, "<closed>", "{name} on {addr}");
        }
    }
    // `expect-proxy layer4` on 127.0.0.2 only: a header there is read, none is an error;
    // 127.0.0.3 takes plain requests.
    let mut expecting: [Vec<(String, Vec<String>)>; 2] = [Vec::new(), Vec::new()];
    for (side, (p, backend)) in [
        (both.hap_addr.port(), &both.hap_backend),
        (both.gw_addr.port(), &both.gw_backend),
    ]
    .into_iter()
    .enumerate()
    {
        let at = |ip: [u8; 4]| SocketAddr::from((ip, p));
        let header = b"PROXY TCP4 192.0.2.30 198.51.100.30 40005 80\r\n";
        let status = exchange(at([127, 0, 0, 2]), header, true);
        expecting[side].push((status, seen(backend)));
        let status = exchange(at([127, 0, 0, 3]), b"", true);
        // Each proxy listens on its own port.
        let plain = seen(backend)
            .iter()
            .map(|h| mask_local(&h.replace(&format!(":{p}"), ":<port>")))
            .collect();
        expecting[side].push((status, plain));
        let status = exchange(at([127, 0, 0, 2]), b"", true);
        expecting[side].push((status, Vec::new()));
    }
    assert_eq!(expecting[1], expecting[0], "gateway, then haproxy");
    assert_eq!(expecting[0][0].0, "HTTP/1.1 200 OK");
    assert!(
        expecting[0][0]
            .1
            .contains(&"x-src: 192.0.2.30:40005".to_owned()),
        "{:?}",
        expecting[0][0]
    );
    assert!(
        expecting[0][1]
            .1
            .contains(&"x-fc: 0 <local> <local>".to_owned()),
        "{:?}",
        expecting[0][1]
    );
    assert_eq!(expecting[0][2].0, "<closed>");

    let messages = |log: &str| -> Vec<String> {
        log.lines()
            .filter(|l| l.contains(" web/") && l.contains("PROXY protocol"))
            .map(|l| l.split_once("] ").map_or("", |(_, m)| m).to_owned())
            .collect()
    };
    let lines = |log: &str| -> Vec<String> {
        log.lines()
            .filter(|l| l.starts_with("line "))
            .map(str::to_owned)
            .collect()
    };
    let logged = wait_until(Duration::from_secs(10), || {
        messages(&both.haproxy.log()).len() > bad.len()
            && messages(&gw_out()).len() > bad.len()
            && lines(&both.haproxy.log()).len() >= good.len() + 2
            && lines(&gw_out()).len() >= good.len() + 2
    });
    let (hap_log, gw_log) = (both.haproxy.log(), gw_out());
    assert!(
        logged,
        "haproxy:\n{hap_log}\ngateway:\n{gw_log}\n{}",
        both.gateway.log()
    );
    assert_eq!(messages(&gw_log), messages(&hap_log));
    assert_eq!(
        messages(&hap_log),
        [
            "web/1: Received something which does not look like a PROXY protocol header",
            "web/1: Truncated PROXY protocol header received",
            "web/1: Received an invalid PROXY protocol header",
            "web/1: Received an unhandled protocol in the PROXY protocol header",
            "web/2: Received something which does not look like a PROXY protocol header",
        ]
    );
    // The access lines: the announced addresses (the real ones for UNKNOWN and LOCAL).
    let masked = |ls: Vec<String>| -> Vec<String> { ls.iter().map(|l| mask_local(l)).collect() };
    assert_eq!(masked(lines(&gw_log)), masked(lines(&hap_log)));
    assert_eq!(
        masked(lines(&hap_log))[0],
        "line 192.0.2.10:40001 198.51.100.20:443 200 \"GET /pp HTTP/1.1\""
    );
}
