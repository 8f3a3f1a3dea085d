use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use spoe::config::Span;

use spoe::config::reader::Word;

use super::*;
use crate::logtime::Timer;

fn span() -> Span {
    Span::file(Arc::from(Path::new("t.cfg")))
}

fn format(text: &str) -> Result<LineFormat, String> {
    LineFormat::parse(&Word::synthetic(text, span()))
}

// 2026-12-04T14:45:59.092 UTC.
const T: u64 = 1_796_395_559;

fn facts() -> Facts<'static> {
    Facts {
        client: "127.0.0.1:47772".parse().unwrap(),
        local: "127.0.0.1:8080".parse().unwrap(),
        server_addr: None,
        received: UNIX_EPOCH + Duration::from_secs(T) + Duration::from_millis(92),
        frontend: "fe",
        tls: false,
        backend: "fe",
        server: "<NOSRV>",
        t_request: Timer::ms(Duration::ZERO),
        t_queue: Timer::NEVER,
        t_connect: Timer::NEVER,
        t_response: Timer::NEVER,
        t_active: Duration::ZERO,
        status: Some(200),
        bytes: 73,
        termination: "LR",
        cookies: *b"--",
        counters: [1, 1, 0, 0, 0],
        queues: [0, 0],
        request: Some(("GET", "/x?a=1", "HTTP/1.1")),
        request_counter: 7,
        log_count: 0,
        unique_id: None,
        request_captures: &[],
        response_captures: &[],
        samples: &[],
    }
}

fn line(format: &LineFormat, facts: Facts<'_>) -> String {
    Line { format, facts }.to_string()
}

#[test]
fn the_httplog_preset_is_haproxys_line_field_for_field() {
    // The line HAProxy 2.6.12 wrote for an `http-request return`.
    let f = LineFormat::preset(HTTPLOG, span());
    assert_eq!(
        line(
            &f,
            Facts {
                request: Some(("GET", "/x", "HTTP/1.1")),
                ..facts()
            }
        ),
        "127.0.0.1:47772 [04/Dec/2026:14:45:59.092] fe fe/<NOSRV> 0/-1/-1/-1/0 200 73 - - \
         LR-- 1/1/0/0/0 0/0 \"GET /x HTTP/1.1\""
    );
    let bad = Facts {
        status: None,
        termination: "CD",
        cookies: *b"--",
        request: Some(("GET", "/\"q#", "HTTP/1.1")),
        ..facts()
    };
    // `"` and `#` in the request are written `#22` and `#23` (HAProxy's url_encode_map).
    assert!(line(&f, bad).ends_with(" -1 73 - - CD-- 1/1/0/0/0 0/0 \"GET /#22q#23 HTTP/1.1\""),);
    assert!(
        line(
            &f,
            Facts {
                request: None,
                ..facts()
            }
        )
        .ends_with(" \"<BADREQ>\"")
    );
}

#[test]
fn the_other_presets() {
    let tcp = LineFormat::preset(TCPLOG, span());
    assert_eq!(
        line(&tcp, facts()),
        "127.0.0.1:47772 [04/Dec/2026:14:45:59.092] fe fe/<NOSRV> -1/-1/0 73 LR 1/1/0/0/0 0/0"
    );
    let clf = LineFormat::preset(HTTPLOG_CLF, span());
    assert_eq!(
        line(&clf, facts()),
        "127.0.0.1 - - [04/Dec/2026:14:45:59 +0000] \"GET /x?a=1 HTTP/1.1\" 200 73 \"\" \"\" \
         47772 092 \"fe\" \"fe\" \"<NOSRV>\" 0 -1 -1 -1 0 LR-- 1 1 0 0 0 0 0 \"\" \"\" "
    );
}

#[test]
fn spaces_merge_and_flags_apply() {
    let f =
        format("  %ci   %{+Q}ft %{+X}cp %HM %HP %HPO %HQ %HU %HV %ID %{+Q}ID x%%y %{+E}[str(ab)] ")
            .unwrap();
    let samples = [Some("a\"b".to_owned())];
    assert_eq!(
        line(
            &f,
            Facts {
                samples: &samples,
                ..facts()
            }
        ),
        "127.0.0.1 \"fe\" BA9C GET /x /x ?a=1 /x?a=1 HTTP/1.1 - \"\" x%y a\\\"b "
    );
    // `%o` sets the options of what follows.
    let f = format("%{+Q}o %b %{-Q}s %[str(x)]").unwrap();
    assert_eq!(line(&f, facts()), "\"fe\" <NOSRV> \"\"");
    // Timers accumulate as HAProxy's: %Tw is the queue alone, %Td what follows the head.
    let f = format("%Tq %TR %Tw %Tc %Tr %Td %Ta %Tt %Th %Ti %ST").unwrap();
    let ms = |n| Timer::ms(Duration::from_millis(n));
    let timed = Facts {
        t_request: ms(1),
        t_queue: ms(2),
        t_connect: ms(3),
        t_response: ms(4),
        t_active: Duration::from_millis(20),
        ..facts()
    };
    assert_eq!(line(&f, timed), "1 1 2 3 4 10 20 20 0 0 200");
}

#[test]
fn errors_are_haproxys() {
    assert_eq!(
        format("%zz").unwrap_err(),
        "no such format variable 'zz'. If you wanted to emit the '%' character verbatim, you need to use '%%'"
    );
    assert_eq!(
        format("%U").unwrap_err(),
        "format variable '%U' is not supported by the gateway"
    );
    assert_eq!(format("a %").unwrap_err(), "truncated line after '%'");
    assert_eq!(format("%[src").unwrap_err(), "missing ']' after 'src'");
    assert!(
        format("50% off")
            .unwrap_err()
            .starts_with("unexpected variable name near ' '")
    );
    assert_eq!(
        format("%{+Q} x").unwrap_err(),
        "parse argument modifier without variable name near '%{+Q}'"
    );
    assert!(
        format("%[nope]")
            .unwrap_err()
            .starts_with("failed to parse sample expression <nope>")
    );
    assert_eq!(
        format("%[req.hdr(host)]").unwrap_err(),
        "sample fetch <req.hdr(host)> may not be reliably used here because it needs 'HTTP request headers' which is not available here"
    );
    // Every preset parses (a failure would log the preset's text itself).
    for p in [HTTPLOG, HTTPLOG_CLF, TCPLOG] {
        assert!(format(p).is_ok(), "{p}");
    }
    let _ = SystemTime::now();
}
