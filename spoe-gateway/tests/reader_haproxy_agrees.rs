//! The configuration reader shared by `haproxy.cfg` and `spoe.conf` and HAProxy 2.6 (`haproxy
//! -c`) agree on a corpus of quoting, escape, environment-variable and preprocessor cases: the
//! same verdict, and where HAProxy shows the value (the message of a `.warning` line, which
//! prints the word as read) the same value at the same line.
//!
//! Every case runs in exactly the environment it names (nothing inherited), in both. Each file
//! starts with a `global` line: HAProxy 2.6 grows its output buffer by re-reading a line, and
//! a `${VAR-default}` on the very first non-empty line is then read twice and refused (its
//! defaulting rewrites the line in place); on any later line it works, and that is what the
//! gateway does everywhere.
//!
//! Known differences, left out of the corpus on purpose: `.if feature(...)` answers with the
//! gateway's features (`spoe_gateway::config::FEATURES`), `openssl_version_*()` is an error
//! and `ssllib_name_startswith()` false, as in an HAProxy built without OpenSSL (HAProxy
//! 2.6.12 built with it crashes on `openssl_version_atleast()`).

use std::collections::BTreeMap;
use std::path::Path;

use spoe_gateway::config::GatewayConfig;

/// What follows each case: a configuration both accept.
const TAIL: &str = "\
defaults
    mode http
    timeout client 1s
    timeout server 1s
    timeout connect 1s
frontend f
    bind 127.0.0.1:8080
    http-request return status 200
";

struct Case {
    name: &'static str,
    env: &'static [(&'static str, &'static str)],
    /// Lines between `global` and [`TAIL`].
    text: &'static str,
}

const fn case(
    name: &'static str,
    env: &'static [(&'static str, &'static str)],
    text: &'static str,
) -> Case {
    Case { name, env, text }
}

const CASES: &[Case] = &[
    // Quotes, escapes, comments.
    case("double quotes", &[], ".warning \"a b\"\n"),
    case("single quotes", &[], ".warning 'a \"b\" $X'\n"),
    case("quotes glued", &[], ".warning 'it'\"s\"x\n"),
    case("escaped quote", &[], ".warning \"a\\\"b\"\n"),
    case("escaped blank", &[], ".warning a\\ b\n"),
    case("hex escapes", &[], ".warning \\x41\\x62\n"),
    case("bad hex escape", &[], ".warning \\x4\n"),
    case("backslash kept", &[], ".warning a\\qb\\1\n"),
    case("escaped sharp", &[], ".warning a\\#b\n"),
    case("sharp in quotes", &[], ".warning \"a#b\" # comment\n"),
    case("comment cuts", &[], ".warning a#b\n"),
    case("unmatched double quote", &[], ".warning \"a b\n"),
    case("unmatched single quote", &[], ".warning 'a b\n"),
    case("no line continuation", &[], ".warning a\\\n.warning b\n"),
    case("two words", &[], ".warning a b\n"),
    case("empty word ends the line", &[], ".warning \"\" b\n"),
    // Environment variables.
    case("braces", &[("FOO", "bar")], ".warning \"${FOO}\"\n"),
    case("bare name", &[("FOO", "bar")], ".warning \"$FOO\"x\n"),
    case(
        "name ends at a dot",
        &[("FOO", "bar")],
        ".warning \"$FOO.x\"\n",
    ),
    case("unset is empty", &[], ".warning \"<${NOPE}>\"\n"),
    case("set but empty", &[("E", "")], ".warning \"<$E>\"\n"),
    case("outside quotes stays", &[("FOO", "bar")], ".warning $FOO\n"),
    case(
        "single quotes stay",
        &[("FOO", "bar")],
        ".warning '${FOO}'\n",
    ),
    case("escaped dollar", &[("FOO", "bar")], ".warning \"\\$FOO\"\n"),
    case(
        "escape outside quotes",
        &[("FOO", "bar")],
        ".warning \\$FOO\n",
    ),
    case("default used", &[], ".warning \"${NOPE-dflt}\"\n"),
    case(
        "default unused",
        &[("FOO", "bar")],
        ".warning \"${FOO-dflt}\"\n",
    ),
    case("empty default", &[], ".warning \"<${NOPE-}>\"\n"),
    case("default with blanks", &[], ".warning \"${NOPE-a b}\"\n"),
    case(
        "word expansion, one word",
        &[("L", "a")],
        ".warning \"${L[*]}\"\n",
    ),
    case(
        "word expansion, two words",
        &[("L", "a b")],
        ".warning \"${L[*]}\"\n",
    ),
    case("bad word expansion", &[], ".warning \"${L[x]}\"\n"),
    case("unmatched brace", &[], ".warning \"${FOO\"\n"),
    case("bad first character", &[], ".warning \"$1\"\n"),
    case("pseudo variables", &[], ".warning \"$.LINE:$.SECTION\"\n"),
    case("value with quotes", &[("Q", "a\"b'c")], ".warning \"$Q\"\n"),
    case("value with a dollar", &[("D", "$FOO")], ".warning \"$D\"\n"),
    // Addresses expand outside quotes (HAProxy's str2sa_range).
    case(
        "bind port from the environment",
        &[("PORT", "8081")],
        "frontend g\n    mode http\n    bind :${PORT}\n    http-request return status 200\n",
    ),
    case(
        "bind port unset",
        &[],
        "frontend g\n    mode http\n    bind :${PORT}\n    http-request return status 200\n",
    ),
    case(
        "bind address from the environment",
        &[("ADDR", "127.0.0.1:8082")],
        "frontend g\n    mode http\n    bind $ADDR\n    http-request return status 200\n",
    ),
    case(
        "bind address resolves to nothing",
        &[],
        "frontend g\n    mode http\n    bind ${ADDR}\n    http-request return status 200\n",
    ),
    case(
        "server address from the environment",
        &[("HOST", "127.0.0.1")],
        "backend b\n    mode http\n    server s1 ${HOST}:8083\n",
    ),
    // The preprocessor.
    case(
        ".if true",
        &[],
        ".if 1\n.warning yes\n.else\n.warning no\n.endif\n",
    ),
    case(
        ".if false",
        &[],
        ".if 0\n.warning yes\n.else\n.warning no\n.endif\n",
    ),
    case(
        ".elif",
        &[],
        ".if 0\n.warning a\n.elif 1\n.warning b\n.elif 1\n.warning c\n.else\n.warning d\n.endif\n",
    ),
    case(
        "nested, masked",
        &[],
        ".if 0\n.if 1\n.warning a\n.endif\n.else\n.if 1\n.warning b\n.endif\n.endif\n",
    ),
    case(
        "defined",
        &[("X", "")],
        ".if defined(X) && !defined(Y)\n.warning yes\n.endif\n",
    ),
    case(
        "streq and strneq",
        &[("V", "a b")],
        ".if streq(\"$V\",\"a b\") && strneq(a,b)\n.warning yes\n.endif\n",
    ),
    case(
        "numbers",
        &[],
        ".if 0x10 && !0 && (0 || 010)\n.warning yes\n.endif\n",
    ),
    case(
        "version_atleast",
        &[],
        ".if version_atleast(2.6) && version_atleast(2.6.12) && !version_atleast(2.6.13)\n.warning yes\n.endif\n",
    ),
    case(
        "version_before",
        &[],
        ".if version_before(2.7-dev1) && !version_before(2.6) && version_before(3)\n.warning yes\n.endif\n",
    ),
    case(
        "unparsable version",
        &[],
        ".if version_atleast(x.y) && !version_before(x.y)\n.warning yes\n.endif\n",
    ),
    case(
        "feature both have",
        &[],
        ".if feature(THREAD) && !feature(NOPE)\n.warning yes\n.endif\n",
    ),
    case("unparsable condition", &[], ".if bogus\n.endif\n"),
    case("trailing garbage", &[], ".if 1 2\n.endif\n"),
    case("missing parenthesis", &[], ".if (1\n.endif\n"),
    case(
        "masked lines are still tokenized",
        &[],
        ".if 0\n.warning \"a\n.endif\n",
    ),
    case("else after else", &[], ".if 1\n.else\n.else\n.endif\n"),
    case("elif after else", &[], ".if 1\n.else\n.elif 1\n.endif\n"),
    case("lone endif", &[], ".endif\n"),
    case("lone else", &[], ".else\n"),
    case("argument to endif", &[], ".if 1\n.endif x\n"),
    case("unterminated if", &[], ".if 1\n"),
    case("notice", &[], ".notice \"n\"\n"),
    case("diag", &[], ".diag \"d\"\n"),
    case("alert", &[], ".alert \"stop\"\n"),
    case("unknown directive", &[], ".bogus\n"),
    // Modifiers and sections.
    case("no on a section", &[], "no frontend x\n"),
    case("default on a keyword", &[], "default maxconn 10\n"),
    case("no option", &[], "defaults\n    no option httplog\n"),
    case("unknown section keyword", &[], "frontnd x\n"),
];

/// `(line, value)` of each `.warning` HAProxy printed.
fn haproxy_warnings(output: &str) -> Vec<(u32, String)> {
    output
        .lines()
        .filter(|l| l.contains("[WARNING]"))
        .filter_map(|l| {
            let at = l.find("parsing [")?;
            let rest = &l[at..];
            let line: u32 = rest[rest.find(':')? + 1..rest.find(']')?].parse().ok()?;
            let value = &rest[rest.find("]: '")? + 4..rest.rfind("'.")?];
            Some((line, value.to_owned()))
        })
        .collect()
}

/// Our verdict and `(line, value)` of each `.warning`.
fn ours(text: &str, env: &[(&str, &str)]) -> (bool, Vec<(u32, String)>, String) {
    let env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let (accepted, warnings, errors) =
        match GatewayConfig::parse_str(text, "haproxy.cfg", Path::new("."), Some(env)) {
            Ok((_, warnings)) => (true, warnings, String::new()),
            Err(e) => (false, e.warnings.clone(), e.to_string()),
        };
    let messages = warnings
        .iter()
        .filter(|w| matches!(w.kind, spoe::config::ConfigWarningKind::Message(_)))
        .map(|w| {
            let spoe::config::ConfigWarningKind::Message(m) = &w.kind else {
                unreachable!()
            };
            (w.span.line, m.clone())
        })
        .collect();
    (accepted, messages, errors)
}

/// The failure of one case, if any.
fn judge(case: &Case) -> Option<String> {
    let text = format!("global\n{}{TAIL}", case.text);
    let (h_accepted, h_output) = spoe_interop::haproxy_check_with_env(&text, case.env);
    let (accepted, messages, errors) = ours(&text, case.env);
    let h_messages = haproxy_warnings(&h_output);
    if accepted != h_accepted {
        Some(format!(
            "{}: haproxy {}, the gateway {}\n--- haproxy ---\n{h_output}\n--- gateway ---\n{errors}",
            case.name,
            if h_accepted { "accepts" } else { "rejects" },
            if accepted { "accepts" } else { "rejects" },
        ))
    } else if h_accepted && messages != h_messages {
        Some(format!(
            "{}: values differ: haproxy {h_messages:?}, the gateway {messages:?}",
            case.name
        ))
    } else {
        None
    }
}

#[test]
fn the_reader_reads_as_haproxy_reads() {
    // A few `haproxy -c` at a time: each is mostly process start-up.
    let failures: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = CASES
            .chunks(CASES.len().div_ceil(4))
            .map(|chunk| scope.spawn(move || chunk.iter().filter_map(judge).collect::<Vec<_>>()))
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a case panicked"))
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The values themselves, so that the corpus above cannot agree by both printing nothing.
#[test]
fn the_corpus_shows_values() {
    let value = |text: &str, env: &[(&str, &str)]| {
        let (accepted, messages, errors) = ours(&format!("global\n{text}{TAIL}"), env);
        assert!(accepted, "{errors}");
        messages.into_iter().map(|(_, v)| v).collect::<Vec<_>>()
    };
    assert_eq!(value(".warning \"$FOO\"x\n", &[("FOO", "bar")]), ["barx"]);
    assert_eq!(value(".warning \"${NOPE-a b}\"\n", &[]), ["a b"]);
    assert_eq!(value(".warning $FOO\n", &[("FOO", "bar")]), ["$FOO"]);
    assert_eq!(value(".warning \"$.LINE:$.SECTION\"\n", &[]), ["2:global"]);
    assert_eq!(
        value(".if version_atleast(2.6)\n.warning yes\n.endif\n", &[]),
        ["yes"]
    );
}
