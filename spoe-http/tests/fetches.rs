//! Every fetch `spoe` parses is answered by an [`Exchange`], with HAProxy 2.6's value for a
//! known request and response. A fetch added to `spoe` and not here fails
//! `every_fetch_spoe_parses_has_a_value` with its name.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use spoe::config::Span;
use spoe::config::reader::Word;
use spoe::expr::{Fetch, Sample, SampleExpr, fetch_names};
use spoe_http::{Captures, ClientCert, ConnectionFacts, Exchange, TlsFacts, Vars};

fn expr(text: &str) -> SampleExpr {
    let span = Span::new(Arc::from(Path::new("test")), 1, 1);
    SampleExpr::parse(&Word::synthetic(text, span)).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// A request, its buffered body and its response, from a TLS client.
struct Fixture {
    request: http::request::Parts,
    response: http::response::Parts,
    body: Bytes,
    conn: ConnectionFacts,
    vars: Vars,
    captures: Captures,
}

fn fixture() -> Fixture {
    let (request, ()) = http::Request::post("/api/items?id=7&tag=a;tag=b")
        .version(http::Version::HTTP_11)
        .header("host", "example.test")
        .header("user-agent", "Googlebot/2.1")
        .header("x-multi", "a, b")
        .header("x-multi", "c")
        .header("x-num", "42")
        .header("cookie", "sid=abc; theme=dark")
        .header("content-length", "10")
        .body(())
        .unwrap()
        .into_parts();
    let (response, ()) = http::Response::builder()
        .status(201)
        .header("x-backend", "b1")
        .header("content-length", "5")
        .body(())
        .unwrap()
        .into_parts();
    let mut tls = TlsFacts::default();
    tls.sni = Some("example.test".into());
    tls.protocol = Some("TLSv1.3".into());
    tls.cipher = Some("TLS_AES_128_GCM_SHA256".into());
    tls.alpn = Some(Bytes::from_static(b"h2"));
    let mut cert = ClientCert::default();
    cert.subject = vec![
        ("C".into(), "FR".into()),
        ("OU".into(), "a".into()),
        ("OU".into(), "b".into()),
        ("CN".into(), "client".into()),
    ];
    cert.issuer = vec![("CN".into(), "CA".into())];
    cert.subject_dn = spoe_http::dn_oneline(&cert.subject);
    cert.issuer_dn = spoe_http::dn_oneline(&cert.issuer);
    cert.serial = Bytes::from_static(&[0x01, 0x02]);
    cert.sha1 = Bytes::from_static(&[0xaa; 20]);
    cert.der = Bytes::from_static(b"0");
    tls.client_cert = Some(Box::new(cert));
    let mut conn = ConnectionFacts::tcp(
        "192.0.2.7:50000".parse().unwrap(),
        "[::ffff:10.0.0.1]:443".parse().unwrap(),
    )
    .with_tls(tls)
    .with_frontend("fe-web");
    // It began with a PROXY header: `src`/`dst` above are the header's.
    conn.proxy = Some(Arc::new(spoe_http::ReceivedProxy {
        client: Some("127.0.0.1:40000".parse().unwrap()),
        local: Some("127.0.0.2:8443".parse().unwrap()),
        authority: Some(b"example.test".to_vec()),
        unique_id: Some(b"uid-1".to_vec()),
    }));
    let mut vars = Vars::default();
    vars.set("txn.t.x", Some(Sample::Int(3)));
    Fixture {
        request,
        response,
        body: Bytes::from_static(b"hello"),
        conn,
        vars,
        captures: Captures {
            request: vec![Some("example.test".into()), None],
            response: vec![Some("b1".into())],
            request_line: Some((
                http::Method::POST,
                "http://example.test/api/items?id=7".parse().unwrap(),
            )),
            response_version: None,
        },
    }
}

const ID: &str = "req-1";

impl Fixture {
    fn at_request(&self) -> Exchange<'_> {
        Exchange::new(&self.request)
            .body(&self.body)
            .conn(&self.conn)
            .vars(&self.vars)
            .unique_id(&ID)
            .captures(&self.captures)
    }

    fn at_response(&self) -> Exchange<'_> {
        self.at_request().response(&self.response)
    }
}

/// Arguments for the fetches that need some.
fn call(name: &str) -> String {
    match name {
        "var" => "var(txn.t.x)".into(),
        "str" => "str(a)".into(),
        "int" => "int(1)".into(),
        "bool" => "bool(1)".into(),
        "ipv4" => "ipv4(1.2.3.4)".into(),
        "ipv6" => "ipv6(::1)".into(),
        "bin" => "bin(00)".into(),
        "meth" => "meth(GET)".into(),
        "env" => "env(SPOE_HTTP_TEST_UNSET_VARIABLE)".into(),
        "capture.req.hdr" | "capture.res.hdr" => format!("{name}(0)"),
        "http_auth" | "http_auth_group" => format!("{name}(users)"),
        other => other.into(),
    }
}

#[test]
fn every_fetch_spoe_parses_has_a_value() {
    let f = fixture();
    let x = f.at_response();
    let mut missing = Vec::new();
    for name in fetch_names() {
        // `env()` is read by `spoe` itself, from this process's environment; `url_ip` and
        // `url_port` have a value for an absolute target only (`absolute_targets`).
        // The TLS contents fetches (`req.ssl_sni`...) read a `mode tcp` connection's raw
        // first bytes, which an HTTP exchange does not have.
        if [
            "env",
            "url_ip",
            "url_port",
            "req.ssl_sni",
            "req_ssl_sni",
            "req.ssl_hello_type",
            "req_ssl_hello_type",
            "req.ssl_ver",
            "req_ssl_ver",
            "req.payload",
            "payload",
            // The userlists are the gateway's.
            "http_auth",
            "http_auth_group",
            // With an `Authorization` header only: `authorization_fetches`.
            "http_auth_type",
            "http_auth_user",
            "http_auth_pass",
            "http_auth_bearer",
            // No header of the fixture holds an address: `addresses_as_hdr_ip_reads_them`
            // (spoe-http's unit tests) reads them.
            "req.hdr_ip",
            "hdr_ip",
            // The cache is the gateway's (`cache` sections): its transaction answers them.
            "res.cache_hit",
            "res.cache_name",
        ]
        .contains(&name)
        {
            continue;
        }
        if expr(&call(name)).eval(&x).is_none() {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "spoe parses these fetches and spoe-http does not answer them (add them in \
         spoe-http/src/fetch/): {missing:?}"
    );
}

#[test]
fn values_at_the_request() {
    let f = fixture();
    let x = f.at_request();
    let s = |text: &str| expr(text).eval(&x);
    let str = |v: &str| Some(Sample::str(v));
    assert_eq!(s("method"), str("POST"));
    assert_eq!(s("path"), str("/api/items"));
    assert_eq!(s("query"), str("id=7&tag=a;tag=b"));
    assert_eq!(s("url"), str("/api/items?id=7&tag=a;tag=b"));
    assert_eq!(s("base"), str("example.test/api/items"));
    assert_eq!(s("pathq"), str("/api/items?id=7&tag=a;tag=b"));
    assert_eq!(s("url_ip"), None);
    assert_eq!(s("url_port"), None);
    assert_eq!(s("fe_name"), str("fe-web"));
    assert_eq!(
        s("req.hdr_names"),
        str("host,user-agent,x-multi,x-multi,x-num,cookie,content-length")
    );
    assert_eq!(
        s("req.hdr_names(:)"),
        str("host:user-agent:x-multi:x-multi:x-num:cookie:content-length")
    );
    assert_eq!(s("req.ver"), str("1.1"));
    assert_eq!(s("capture.req.hdr(0)"), str("example.test"));
    assert_eq!(s("capture.req.hdr(1)"), None);
    assert_eq!(s("capture.req.hdr(2)"), None);
    assert_eq!(s("capture.req.method"), str("POST"));
    // The path of an absolute target, with its query (`http_parse_path()`).
    assert_eq!(s("capture.req.uri"), str("/api/items?id=7"));
    assert_eq!(s("capture.req.ver"), str("HTTP/1.1"));
    assert_eq!(s("capture.res.ver"), None);
    assert_eq!(s("capture.res.hdr(0)"), str("b1"));
    assert_eq!(s("req.hdr(x-multi)"), str("c"));
    assert_eq!(s("req.hdr(x-multi,1)"), str("a"));
    assert_eq!(s("req.fhdr(x-multi,1)"), str("a, b"));
    assert_eq!(s("hdr(user-agent)"), str("Googlebot/2.1"));
    assert_eq!(s("req.hdr_cnt(x-multi)"), Some(Sample::Int(3)));
    assert_eq!(s("req.hdr_val(x-num)"), Some(Sample::Int(42)));
    assert_eq!(s("req.cook(theme)"), str("dark"));
    assert_eq!(s("req.cook"), str("abc"));
    assert_eq!(s("url_param(tag)"), str("a"));
    assert_eq!(s("urlp(id)"), str("7"));
    assert_eq!(
        s("req.body"),
        Some(Sample::Bin(Bytes::from_static(b"hello")))
    );
    assert_eq!(s("req.body_len"), Some(Sample::Int(5)));
    // Content-Length announces 10: the agent sees a partial body.
    assert_eq!(s("req.body_size"), Some(Sample::Int(10)));
    assert_eq!(s("src"), Some(Sample::Ipv4([192, 0, 2, 7].into())));
    assert_eq!(s("src_port"), Some(Sample::Int(50000)));
    // An IPv4-mapped address stays IPv6, as HAProxy 2.6 gives it (gateway_bind).
    assert_eq!(
        s("dst"),
        Some(Sample::Ipv6([0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0001].into()))
    );
    assert_eq!(s("dst_port"), Some(Sample::Int(443)));
    assert_eq!(s("ssl_fc"), Some(Sample::Bool(true)));
    assert_eq!(s("ssl_fc_sni"), str("example.test"));
    assert_eq!(s("ssl_fc_has_sni"), Some(Sample::Bool(true)));
    assert_eq!(s("ssl_fc_protocol"), str("TLSv1.3"));
    assert_eq!(s("ssl_fc_cipher"), str("TLS_AES_128_GCM_SHA256"));
    assert_eq!(s("ssl_fc_alpn"), str("h2"));
    assert_eq!(s("ssl_c_used"), Some(Sample::Bool(true)));
    assert_eq!(s("ssl_c_verify"), Some(Sample::Int(0)));
    assert_eq!(s("ssl_c_s_dn"), str("/C=FR/OU=a/OU=b/CN=client"));
    assert_eq!(s("ssl_c_s_dn(CN)"), str("client"));
    assert_eq!(s("ssl_c_s_dn(OU,2)"), str("b"));
    assert_eq!(s("ssl_c_s_dn(,0,rfc2253)"), str("CN=client,OU=b,OU=a,C=FR"));
    assert_eq!(s("ssl_c_i_dn(CN)"), str("CA"));
    assert_eq!(s("ssl_c_serial,hex"), str("0102"));
    assert_eq!(s("unique-id"), str("req-1"));
    assert_eq!(s("var(txn.t.x)"), Some(Sample::Int(3)));
    assert_eq!(s("var(txn.t.unset)"), None);
    // No response yet.
    for name in [
        "status",
        "res.ver",
        "res.hdr(x-backend)",
        "res.hdrs",
        "res.len",
        "res.body",
    ] {
        assert_eq!(s(name), None, "{name}");
    }
    let mut headers = b"host: example.test\r\nuser-agent: Googlebot/2.1\r\n".to_vec();
    headers.extend_from_slice(b"x-multi: a, b\r\nx-multi: c\r\nx-num: 42\r\n");
    headers.extend_from_slice(b"cookie: sid=abc; theme=dark\r\ncontent-length: 10\r\n\r\n");
    assert_eq!(s("req.hdrs"), Some(Sample::Str(Bytes::from(headers))));
}

#[test]
fn values_at_the_response() {
    let f = fixture();
    let x = f.at_response();
    let s = |text: &str| expr(text).eval(&x);
    assert_eq!(s("status"), Some(Sample::Int(201)));
    assert_eq!(s("res.ver"), Some(Sample::str("1.1")));
    assert_eq!(s("res.hdr(x-backend)"), Some(Sample::str("b1")));
    assert_eq!(s("shdr(x-backend)"), Some(Sample::str("b1")));
    assert_eq!(s("res.hdr_val(content-length)"), Some(Sample::Int(5)));
    // `hdr()` reads the channel being analysed: the response now.
    assert_eq!(s("hdr(x-backend)"), Some(Sample::str("b1")));
    assert_eq!(s("hdr(user-agent)"), None);
    assert_eq!(
        s("res.hdrs_bin"),
        Some(Sample::Bin(Bytes::from_static(
            b"\x09x-backend\x02b1\x0econtent-length\x015\x00\x00"
        )))
    );
}

#[test]
fn acls_iterate_over_every_value() {
    let f = fixture();
    let x = f.at_response();
    let all = |text: &str| expr(text).fetch().clone();
    let strs = |v: &[&str]| v.iter().map(|s| Sample::str(*s)).collect::<Vec<_>>();
    assert_eq!(
        x.fetch_all(&all("req.hdr(x-multi)")),
        strs(&["a", "b", "c"])
    );
    assert_eq!(x.fetch_all(&all("req.fhdr(x-multi)")), strs(&["a, b", "c"]));
    assert_eq!(x.fetch_all(&all("req.cook")), strs(&["abc", "dark"]));
    assert_eq!(x.fetch_all(&all("res.hdr(x-backend)")), strs(&["b1"]));
    assert_eq!(
        x.fetch_all(&all("req.hdr_val(x-num)")),
        vec![Sample::Int(42)]
    );
}

#[test]
fn the_connection_comes_from_the_extensions_or_is_absent() {
    let f = fixture();
    let (mut parts, ()) = http::Request::get("/").body(()).unwrap().into_parts();
    assert_eq!(expr("src").eval(&Exchange::new(&parts)), None);
    assert_eq!(
        expr("ssl_fc").eval(&Exchange::new(&parts)),
        Some(Sample::Bool(false))
    );
    parts.extensions.insert(f.conn);
    assert_eq!(
        expr("src").eval(&Exchange::new(&parts)),
        Some(Sample::Ipv4([192, 0, 2, 7].into()))
    );
    // On a Unix socket, HAProxy's src has no value either.
    let unix = ConnectionFacts::unknown();
    assert_eq!(expr("src").eval(&Exchange::new(&parts).conn(&unix)), None);
    // Without a unique id (HAProxy without unique-id-format), no value.
    assert_eq!(expr("unique-id").eval(&Exchange::new(&parts)), None);
}

/// `url_ip`, `url_port`, `pathq` of an absolute target (a proxy request), and the hashes:
/// the values HAProxy 2.6 gives for the same request (`gateway_fetches` in `spoe-cli`'s tests
/// checks them against a running HAProxy).
#[test]
fn absolute_targets_and_hashes() {
    let (request, ()) = http::Request::get("http://192.0.2.9:8081/a/b?c=d")
        .header("host", "example.test")
        .body(())
        .unwrap()
        .into_parts();
    let conn = ConnectionFacts::tcp(
        "192.0.2.7:50000".parse().unwrap(),
        "127.0.0.1:8080".parse().unwrap(),
    );
    let x = Exchange::new(&request).conn(&conn);
    let s = |text: &str| expr(text).eval(&x);
    assert_eq!(s("url_ip"), Some(Sample::Ipv4([192, 0, 2, 9].into())));
    assert_eq!(s("url_port"), Some(Sample::Int(8081)));
    assert_eq!(s("pathq"), Some(Sample::str("/a/b?c=d")));
    let Some(Sample::Int(base32)) = s("base32") else {
        panic!("base32")
    };
    let Some(Sample::Bin(with_src)) = s("base32+src") else {
        panic!("base32+src")
    };
    let hash = u32::try_from(base32).unwrap().to_be_bytes();
    assert_eq!(&with_src[..4], &hash);
    assert_eq!(&with_src[4..], &[192, 0, 2, 7]);
    assert_ne!(s("url32"), s("base32"), "url32 hashes the query too");
}

#[test]
fn fc_fetches_read_the_connection_and_its_proxy_header() {
    let f = fixture();
    let x = f.at_request();
    let ip = |s: &str| Some(Sample::Ipv4(s.parse().unwrap()));
    let eval = |e: &str| expr(e).eval(&x);
    assert_eq!(eval("src"), ip("192.0.2.7"));
    assert_eq!(eval("fc_src"), ip("127.0.0.1"));
    assert_eq!(eval("fc_src_port"), Some(Sample::Int(40000)));
    assert_eq!(eval("fc_dst"), ip("127.0.0.2"));
    assert_eq!(eval("fc_dst_port"), Some(Sample::Int(8443)));
    assert_eq!(eval("fc_rcvd_proxy"), Some(Sample::Bool(true)));
    assert_eq!(eval("fc_pp_authority"), Some(Sample::str("example.test")));
    assert_eq!(eval("fc_pp_unique_id"), Some(Sample::str("uid-1")));
    // Without a header: the connection's addresses, no TLV, `fc_rcvd_proxy` false.
    let plain = ConnectionFacts::tcp(
        "192.0.2.7:50000".parse().unwrap(),
        "10.0.0.1:443".parse().unwrap(),
    );
    let x = Exchange::new(&f.request).conn(&plain);
    let eval = |e: &str| expr(e).eval(&x);
    assert_eq!(eval("fc_src"), ip("192.0.2.7"));
    assert_eq!(eval("fc_rcvd_proxy"), Some(Sample::Bool(false)));
    assert_eq!(eval("fc_pp_authority"), None);
}

#[test]
fn authorization_fetches() {
    let with = |value: &str| {
        http::Request::get("/")
            .header("authorization", value)
            .header("x-token", "Bearer t2")
            .body(())
            .unwrap()
            .into_parts()
            .0
    };
    let basic = with("Basic YWRtaW46czNjcmV0");
    let x = Exchange::new(&basic);
    let s = |text: &str| expr(text).eval(&x);
    assert_eq!(s("http_auth_type"), Some(Sample::str("Basic")));
    assert_eq!(s("http_auth_user"), Some(Sample::str("admin")));
    assert_eq!(s("http_auth_pass"), Some(Sample::str("s3cret")));
    assert_eq!(s("http_auth_bearer"), None);
    assert_eq!(s("http_auth_bearer(x-token)"), Some(Sample::str("t2")));
    // The userlists are the host's: no value here.
    assert_eq!(s("http_auth(users)"), None);
    let bearer = with("Bearer t1");
    let x = Exchange::new(&bearer);
    let s = |text: &str| expr(text).eval(&x);
    assert_eq!(s("http_auth_type"), Some(Sample::str("Bearer")));
    assert_eq!(s("http_auth_bearer"), Some(Sample::str("t1")));
    assert_eq!(s("http_auth_user"), None);
}
