//! The `server` side of a backend as HAProxy 2.6 reads it (`haproxy -c` agrees): cookie
//! persistence and what it refuses.

use super::haproxy_agrees::{both_accept, both_reject, ours, with_defaults};
use crate::cookie::CookieMode;

#[test]
fn cookie_lines_are_read_as_haproxy_reads_them() {
    let c = both_accept(&with_defaults(
        "frontend fe
    bind 127.0.0.1:8080
    default_backend be
backend be
    cookie SRV insert indirect nocache httponly secure domain .a.example domain .b.example attr SameSite=Lax
    option persist
    server s1 127.0.0.1:9001 cookie one
    server s2 127.0.0.1:9002
backend pfx
    cookie JSESSIONID prefix
    server s1 127.0.0.1:9001 cookie one
",
    ));
    let be = &c.backends[0];
    let ck = be.cookie.as_deref().expect("cookie");
    assert_eq!(ck.mode, Some(CookieMode::Insert));
    assert!(ck.indirect && ck.nocache && ck.httponly && ck.secure && be.persist);
    assert_eq!(ck.domain.as_deref(), Some(".a.example; domain=.b.example"));
    assert_eq!(ck.attrs.as_deref(), Some("SameSite=Lax"));
    assert_eq!(be.servers[0].cookie.as_deref(), Some("one"));
    assert_eq!(be.servers[1].cookie, None);
    assert_eq!(
        c.backends[1].cookie.as_deref().map(|c| c.mode),
        Some(Some(CookieMode::Prefix))
    );
}

#[test]
fn conflicting_cookie_modes_are_refused_by_both() {
    for (line, expected) in [
        ("cookie S rewrite indirect", "'rewrite' and 'indirect'"),
        ("cookie S insert prefix", "modes are incompatible"),
        ("cookie S preserve", "'preserve' requires"),
        ("cookie S insert bogus", "supports 'rewrite'"),
        ("cookie", "expects <cookie_name>"),
    ] {
        let e = both_reject(&with_defaults(&format!(
            "backend be\n    {line}\n    server s1 127.0.0.1:9001 cookie one\n"
        )));
        assert!(e.contains(expected), "{line}: {e}");
    }
}

#[test]
fn dated_and_dynamic_cookies_are_errors_naming_them() {
    let e = ours(&with_defaults(
        "backend be\n    cookie S insert maxidle 30m maxlife 8h dynamic\n    server s1 127.0.0.1:9001\n",
    ))
    .unwrap_err();
    for kw in ["'maxidle'", "'maxlife'", "'dynamic'"] {
        assert!(e.contains(kw), "{kw} not named in:\n{e}");
    }
}
