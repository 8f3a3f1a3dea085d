//! Differential test of `compression algo|type|offload`: the same `haproxy.cfg` run by HAProxy
//! 2.6 and by `spoe gateway -f`, the same requests (`Accept-Encoding` variants, HTTP/1.0,
//! `HEAD`) for the same server responses (content types, `Content-Encoding`, `Cache-Control:
//! no-transform`, strong and malformed `ETag`, chunked, close-delimited, empty, 404,
//! multipart, an existing `Vary`). What the client gets must be the same: status, the
//! headers compression changes, and the body once decompressed (the compressed bytes differ:
//! zlib against miniz_oxide); and whether the server saw `Accept-Encoding` (`offload`).
//! Fails (never skips) without `haproxy`.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock"
)]

mod gateway_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use gateway_support::{Conn, GatewayProc, ThreadServer, local};
use spoe_interop::Haproxy;

fn haproxy_cfg(port: u16, server: SocketAddr) -> String {
    format!(
        r#"defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:{port}
    compression algo gzip deflate
    compression type text/html text/plain
    use_backend off if {{ path_beg /off }}
    use_backend raw if {{ path_beg /raw }}
    default_backend app
backend app
    server s1 {server}
backend off
    compression offload
    server s1 {server}
backend raw
    compression algo raw-deflate
    compression type application/json
    server s1 {server}
"#
    )
}

/// The page every compressible answer carries.
fn page() -> String {
    "<p>the same words again and again</p>\n".repeat(200)
}

/// The server: the answer is chosen by the path's last segment; `x-ae` tells what
/// `Accept-Encoding` it saw.
fn serve(mut sock: TcpStream) {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match sock.read(&mut b) {
            Ok(1) => head.push(b[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
    let ae = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("accept-encoding:")
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_else(|| "-".into());
    let case = path.rsplit('/').next().unwrap_or_default();
    let body = page();
    let (status, extra, te) = match case {
        "json" => ("200 OK", "content-type: application/json\r\n", false),
        "img" => ("200 OK", "content-type: image/png\r\n", false),
        "encoded" => (
            "200 OK",
            "content-type: text/html\r\ncontent-encoding: br\r\n",
            false,
        ),
        "notransform" => (
            "200 OK",
            "content-type: text/html\r\ncache-control: public, no-transform\r\n",
            false,
        ),
        "etag" => (
            "200 OK",
            "content-type: text/html\r\netag: \"v1\"\r\n",
            false,
        ),
        "badetag" => ("200 OK", "content-type: text/html\r\netag: v1\r\n", false),
        "chunked" => ("200 OK", "content-type: text/plain\r\n", true),
        "notype" => ("200 OK", "", false),
        "multipart" => ("200 OK", "content-type: multipart/mixed\r\n", false),
        "missing" => ("404 Not Found", "content-type: text/html\r\n", false),
        "vary" => (
            "200 OK",
            "content-type: text/html\r\nvary: Cookie\r\n",
            false,
        ),
        _ => (
            "200 OK",
            "content-type: text/html; charset=utf-8\r\n",
            false,
        ),
    };
    let mut out = format!("HTTP/1.1 {status}\r\n{extra}x-ae: {ae}\r\nconnection: close\r\n");
    match case {
        "empty" => out.push_str("content-length: 0\r\n\r\n"),
        "close" => {
            out.push_str("\r\n");
            out.push_str(&body);
        }
        _ if te => {
            out.push_str("transfer-encoding: chunked\r\n\r\n");
            for c in body.as_bytes().chunks(1000) {
                out.push_str(&format!(
                    "{:x}\r\n{}\r\n",
                    c.len(),
                    String::from_utf8_lossy(c)
                ));
            }
            out.push_str("0\r\n\r\n");
        }
        _ if head.starts_with("HEAD ") => {
            out.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
        }
        _ => {
            out.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
            out.push_str(&body);
        }
    }
    let _ = sock.write_all(out.as_bytes());
}

/// The headers compared.
const HEADERS: &[&str] = &[
    "content-encoding",
    "content-length",
    "transfer-encoding",
    "vary",
    "etag",
    "content-type",
    "x-ae",
];

/// Status, headers, the body decompressed (or as sent).
type Seen = (u16, Vec<Option<String>>, String);

fn decoded(encoding: Option<&str>, body: &[u8], raw_deflate: bool) -> String {
    let mut out = String::new();
    let ok = match encoding {
        Some("gzip") => flate2::read::GzDecoder::new(body).read_to_string(&mut out),
        Some("deflate") if raw_deflate => {
            flate2::read::DeflateDecoder::new(body).read_to_string(&mut out)
        }
        Some("deflate") => flate2::read::ZlibDecoder::new(body).read_to_string(&mut out),
        _ => return String::from_utf8_lossy(body).into_owned(),
    };
    ok.map(|_| out)
        .unwrap_or_else(|e| format!("undecodable: {e}"))
}

fn send(addr: SocketAddr, method: &str, version: &str, target: &str, ae: Option<&str>) -> Seen {
    let mut conn = Conn::connect(addr).expect("connect");
    let mut req = format!("{method} {target} {version}\r\nhost: test\r\nconnection: close\r\n");
    if let Some(ae) = ae {
        req.push_str(&format!("accept-encoding: {ae}\r\n"));
    }
    req.push_str("\r\n");
    conn.send_raw(req.as_bytes()).expect("send");
    if method == "HEAD" {
        // No body follows whatever the length says: the head alone.
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && conn.stream.read(&mut b).unwrap_or(0) == 1 {
            head.push(b[0]);
        }
        let text = String::from_utf8_lossy(&head).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers = HEADERS
            .iter()
            .map(|n| {
                text.lines().find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case(n).then(|| v.trim().to_owned())
                })
            })
            .collect();
        return (status, headers, String::new());
    }
    let r = conn.read_response().expect("response");
    let (status, headers, _) = r.seen(HEADERS);
    let body = decoded(
        r.header("content-encoding"),
        &r.body,
        target.starts_with("/raw"),
    );
    (status, headers, body)
}

#[test]
fn compression_as_haproxy() {
    let server = ThreadServer::start(serve);
    let (_haproxy, hap_port) = Haproxy::start_on_port(|port| haproxy_cfg(port, server.addr), &[]);
    let (gateway, gw_addr) = GatewayProc::start_on_port(|port| haproxy_cfg(port, server.addr), &[]);
    let cases: &[(&str, &str, &str, Option<&str>)] = &[
        ("GET", "HTTP/1.1", "/html", Some("gzip")),
        ("GET", "HTTP/1.1", "/html", Some("deflate")),
        (
            "GET",
            "HTTP/1.1",
            "/html",
            Some("gzip;q=0.2, deflate;q=0.9"),
        ),
        ("GET", "HTTP/1.1", "/html", Some("br")),
        ("GET", "HTTP/1.1", "/html", Some("*")),
        ("GET", "HTTP/1.1", "/html", Some("gzip;q=0")),
        ("GET", "HTTP/1.1", "/html", None),
        ("GET", "HTTP/1.0", "/html", Some("gzip")),
        ("HEAD", "HTTP/1.1", "/html", Some("gzip")),
        ("GET", "HTTP/1.1", "/json", Some("gzip")),
        ("GET", "HTTP/1.1", "/img", Some("gzip")),
        ("GET", "HTTP/1.1", "/encoded", Some("gzip")),
        ("GET", "HTTP/1.1", "/notransform", Some("gzip")),
        ("GET", "HTTP/1.1", "/etag", Some("gzip")),
        ("GET", "HTTP/1.1", "/badetag", Some("gzip")),
        ("GET", "HTTP/1.1", "/chunked", Some("gzip")),
        ("GET", "HTTP/1.1", "/close", Some("gzip")),
        ("GET", "HTTP/1.1", "/empty", Some("gzip")),
        ("GET", "HTTP/1.1", "/notype", Some("gzip")),
        ("GET", "HTTP/1.1", "/multipart", Some("gzip")),
        ("GET", "HTTP/1.1", "/missing", Some("gzip")),
        ("GET", "HTTP/1.1", "/vary", Some("gzip")),
        ("GET", "HTTP/1.1", "/off/html", Some("gzip")),
        ("GET", "HTTP/1.1", "/off/html", Some("br")),
        ("GET", "HTTP/1.1", "/raw/json", Some("deflate")),
        ("GET", "HTTP/1.1", "/raw/html", Some("deflate")),
    ];
    let mut differ = Vec::new();
    let mut hap_all = Vec::new();
    for (method, version, target, ae) in cases {
        let mut hap = send(local(hap_port), method, version, target, *ae);
        let mut gw = send(gw_addr, method, version, target, *ae);
        if *target == "/close" {
            // A close-delimited answer reaches the client chunked through the gateway, close
            // delimited through HAProxy, compressed or not: not this test's subject.
            hap.1[2] = None;
            gw.1[2] = None;
        }
        if hap != gw {
            differ.push(format!(
                "{method} {target} {version} ae={ae:?}\n  haproxy: {:?}\n  gateway: {:?}",
                (hap.0, &hap.1, hap.2.len()),
                (gw.0, &gw.1, gw.2.len())
            ));
        }
        hap_all.push(hap);
    }
    assert!(
        differ.is_empty(),
        "{}\n--- gateway stderr:\n{}",
        differ.join("\n"),
        gateway.log()
    );
    // Not vacuous: HAProxy compressed what it should, and the page survived.
    let encoding = |i: usize| hap_all[i].1[0].as_deref();
    assert_eq!(encoding(0), Some("gzip"));
    assert_eq!(encoding(1), Some("deflate"));
    assert_eq!(encoding(2), Some("deflate"));
    assert_eq!(encoding(3), None);
    assert_eq!(encoding(24), Some("deflate"));
    assert_eq!(hap_all[0].2, page());
    assert_eq!(hap_all[24].2, page());
    assert_eq!(
        hap_all[22].1[6].as_deref(),
        Some("-"),
        "offload hides Accept-Encoding"
    );
}
