//! Golden messages: small `spoe.conf` snippets and the exact errors and warnings they produce,
//! with `file:line:col`.

use spoe::config::{ParseOptions, SpoeConfig};

/// The `haproxy.cfg` the snippets are checked with.
const HAPROXY_CFG: &str = "defaults
    mode http
    timeout connect 1s
    timeout client 1s
    timeout server 1s

frontend fe
    bind 127.0.0.1:8080
    filter spoe config spoe.conf
    default_backend be

backend be
    server s1 127.0.0.1:8081

backend agents
    mode tcp
    server a1 127.0.0.1:12345
";

/// A valid agent; `{agent}` and `{message}` receive extra lines.
fn config(agent: &str, message: &str) -> String {
    format!(
        "spoe-agent a\n    messages m\n    use-backend agents\n    timeout hello 1s\n    timeout idle 1s\n    timeout processing 1s\n{agent}spoe-message m\n    args ip=src\n    event on-client-session\n{message}"
    )
}

fn options() -> ParseOptions {
    ParseOptions {
        env: Some([("NAME".to_owned(), "x".to_owned())].into_iter().collect()),
        base_dir: Some(std::env::temp_dir()),
        ..ParseOptions::default()
    }
}

fn errors(text: &str) -> Vec<String> {
    match SpoeConfig::parse_str_with(text, "spoe.conf", None, &options()) {
        Ok(_) => vec![],
        Err(e) => e.errors.iter().map(ToString::to_string).collect(),
    }
}

fn warnings(text: &str) -> Vec<String> {
    match SpoeConfig::parse_str_with(text, "spoe.conf", None, &options()) {
        Ok((_, w)) => w.iter().map(ToString::to_string).collect(),
        Err(e) => panic!("{e}"),
    }
}

/// `(name, snippet, the one expected error)`.
fn error_cases() -> Vec<(&'static str, String, &'static str)> {
    vec![
        (
            "bad duration",
            config("    timeout processing 5x\n", ""),
            "parsing [spoe.conf:7:24] : 'timeout processing' expects a duration such as 500ms, got '5x'",
        ),
        (
            "timer overflow",
            config("    timeout idle 25d\n", ""),
            "parsing [spoe.conf:7:18] : timer overflow in argument '25d' to 'timeout idle', maximum value is 2147483647 ms (~24.8 days)",
        ),
        (
            "unknown timeout",
            config("    timeout connect 1s\n", ""),
            "parsing [spoe.conf:7:13] : 'timeout' supports 'hello', 'idle' or 'processing' (got connect)",
        ),
        (
            "unknown directive",
            config("    max-connections 10\n", ""),
            "parsing [spoe.conf:7:5] : unknown keyword 'max-connections' in spoe-agent section",
        ),
        (
            "unknown section",
            format!("spoe-agents b\n{}", config("", "")),
            "parsing [spoe.conf:1:1] : unknown keyword 'spoe-agents' out of section; did you mean 'spoe-agent' maybe ?",
        ),
        (
            "missing use-backend",
            "spoe-agent a\n    messages m\n    timeout processing 1s\nspoe-message m\n    args ip=src\n    event on-client-session\n".to_owned(),
            "parsing [spoe.conf:1:1] : no backend declared for SPOE agent 'a' (missing 'use-backend')",
        ),
        (
            "too many arguments",
            config("    use-backend agents other\n", ""),
            "parsing [spoe.conf:7:24] : 'use-backend' cannot handle unexpected argument 'other'",
        ),
        (
            "unknown message in messages",
            config("    messages nope\n", ""),
            "parsing [spoe.conf:7:14] : SPOE agent 'a' try to use undefined SPOE message 'nope'",
        ),
        (
            "message listed twice",
            config("    messages m\n", ""),
            "parsing [spoe.conf:7:14] : spoe-message 'm' already used",
        ),
        (
            "unknown group in groups",
            config("    groups g\n", ""),
            "parsing [spoe.conf:7:12] : SPOE agent 'a' try to use undefined SPOE group 'g'",
        ),
        (
            "group with an unknown message",
            config("    groups g\n", "spoe-group g\n    messages m nope\n"),
            "parsing [spoe.conf:12:16] : SPOE group 'g' try to use undefined SPOE message 'nope'",
        ),
        (
            "message in two groups",
            config(
                "    groups g1 g2\n",
                "spoe-group g1\n    messages m\nspoe-group g2\n    messages m\n",
            ),
            "parsing [spoe.conf:14:14] : SPOE message 'm' already belongs to the SPOE group 'g1' declared at spoe.conf:11:1",
        ),
        (
            "unknown fetch",
            config("", "    args path=req.path\n"),
            "parsing [spoe.conf:10:15] : 'args' : unknown fetch method 'req.path'",
        ),
        (
            "unsupported fetch",
            config("", "    args na=ssl_c_notafter\n"),
            "parsing [spoe.conf:10:13] : 'args' : fetch method 'ssl_c_notafter' is not supported by this engine (HAProxy has it)",
        ),
        (
            "bad converter",
            config("", "    args host=req.hdr(host),lowr\n"),
            "parsing [spoe.conf:10:29] : 'args' : unknown converter 'lowr'",
        ),
        (
            "converter that cannot apply",
            config("", "    args x=bool(1),ipmask(8)\n"),
            "parsing [spoe.conf:10:20] : 'args' : converter 'ipmask' cannot be applied (it takes addr, the expression gives bool)",
        ),
        (
            "bad fetch argument",
            config("", "    args x=req.hdr(host,last)\n"),
            "parsing [spoe.conf:10:25] : 'args' : fetch method 'req.hdr' : failed to parse 'last' as type 'sint' at position 2",
        ),
        (
            "bad event name",
            config("", "    event on-request\n"),
            "parsing [spoe.conf:10:11] : unknown event 'on-request'",
        ),
        (
            "event trailer",
            config("", "    event on-client-session when x\n"),
            "parsing [spoe.conf:10:29] : 'event on-client-session' expects either 'if' or 'unless' followed by a condition but found 'when'",
        ),
        (
            "unknown ACL in a condition",
            config("", "    event on-client-session if trusted\n"),
            "parsing [spoe.conf:10:32] : 'event on-client-session' condition : no such ACL : 'trusted'",
        ),
        (
            "bad ACL flag",
            config("", "    acl x path -z /a\n"),
            "parsing [spoe.conf:10:16] : ACL 'x' : '-z' is not a valid ACL option. Please use '--' before any pattern beginning with a '-'",
        ),
        (
            "match method the fetch cannot feed",
            config("", "    acl x req.body -m int 5\n"),
            "parsing [spoe.conf:10:23] : ACL 'x' : matching method 'int' cannot be used with fetch keyword 'req.body'",
        ),
        (
            "bad ACL pattern",
            config("", "    acl x src_port gt http\n"),
            "parsing [spoe.conf:10:23] : ACL 'x' : 'http' is neither a number nor a supported operator",
        ),
        (
            "max-frame-size out of range",
            config("    max-frame-size 100\n", ""),
            "parsing [spoe.conf:7:20] : 'max-frame-size' expects a positive integer argument in the range [256, 16380], got '100'",
        ),
        (
            "max-waiting-frames zero",
            config("    max-waiting-frames 0\n", ""),
            "parsing [spoe.conf:7:24] : 'max-waiting-frames' expects a positive integer argument, got '0'",
        ),
        (
            "var-prefix with bad characters",
            config("    option var-prefix my-prefix\n", ""),
            "parsing [spoe.conf:7:25] : 'option var-prefix' only supports [a-zA-Z0-9_.] chars, got 'my-prefix'",
        ),
        (
            "set-on-error with bad characters",
            config("    option set-on-error err/code\n", ""),
            "parsing [spoe.conf:7:28] : 'option set-on-error' only supports [a-zA-Z0-9_.] chars, got 'err/code'",
        ),
        (
            "negated option that cannot be",
            config("    no option var-prefix x\n", ""),
            "parsing [spoe.conf:7:15] : negation is not supported for option 'var-prefix'",
        ),
        (
            "negated keyword that cannot be",
            config("    no use-backend agents\n", ""),
            "parsing [spoe.conf:7:5] : negation/default currently supported only for options, log, busy-polling, set-dumpable, strict-limits, insecure-fork-wanted and numa-cpu-mapping",
        ),
        (
            "unknown option",
            config("    option fast\n", ""),
            "parsing [spoe.conf:7:12] : option 'fast' is not supported",
        ),
        (
            "register-var-names with a bad name",
            config("    register-var-names ok bad-name\n", ""),
            "parsing [spoe.conf:7:27] : SPOE agent 'a': failed to register variable a.bad-name (only [a-zA-Z0-9_.] chars are supported)",
        ),
        (
            "bad log line",
            config("    log 127.0.0.1:514 local9\n", ""),
            "parsing [spoe.conf:7:5] : log : unknown log facility 'local9'",
        ),
        (
            "duplicate agent",
            format!("{}spoe-agent b\n    use-backend agents\n", config("", "")),
            "parsing [spoe.conf:10:1] : another spoe-agent section previously defined at spoe.conf:1:1",
        ),
        (
            "duplicate message",
            config("", "spoe-message m\n    args src\n"),
            "parsing [spoe.conf:10:14] : spoe-message section 'm' has the same name as another one declared at spoe.conf:7:1",
        ),
        (
            "section without a name",
            config("", "spoe-group\n"),
            "parsing [spoe.conf:10:1] : missing name for spoe-group section",
        ),
        (
            "section name with a bad character",
            config("", "spoe-group g/1\n"),
            "parsing [spoe.conf:10:13] : character '/' is not permitted in 'spoe-group' name 'g/1'",
        ),
        (
            "fetch not available at the event",
            config("", "    args server=res.hdr(server)\n"),
            "parsing [spoe.conf:10:17] : SPOE message 'm': argument 'server' uses 'res.hdr', which needs HTTP response headers, not available at event 'on-client-session'",
        ),
        (
            "unmatched quote",
            config("    option var-prefix \"abc\n", ""),
            "parsing [spoe.conf:7:23] : unmatched quote",
        ),
        (
            "missing final newline",
            config("", "    args port=src_port").trim_end().to_owned(),
            "parsing [spoe.conf:10:23] : missing LF on last line, file might have been truncated",
        ),
        (
            "bad scope",
            format!("{}[my engine]\n", config("", "")),
            "parsing [spoe.conf:10:4] : character ' ' is not permitted in a scope name",
        ),
        (
            "no agent",
            "spoe-message m\n    args src\n".to_owned(),
            "parsing [spoe.conf] : no spoe-agent section found outside of any [scope]",
        ),
        (
            "default variable prefix",
            config("", "").replace("spoe-agent a\n", "spoe-agent my-agent\n"),
            "parsing [spoe.conf:1:1] : invalid variable prefix 'my-agent' for SPOE agent 'my-agent'. Use 'option var-prefix' to set it. Only [a-zA-Z0-9_.] chars are supported",
        ),
        (
            "missing pattern file",
            config("", "    acl bad src -f nope-does-not-exist.lst\n"),
            "parsing [spoe.conf:10:20] : ACL 'bad' : failed to open pattern file <nope-does-not-exist.lst> (No such file or directory (os error 2))",
        ),
        (
            "unterminated .if",
            format!(".if defined(NAME)\n{}", config("", "")),
            "parsing [spoe.conf:1:1] : non-terminated '.if' block",
        ),
    ]
}

#[test]
fn every_error_has_its_exact_message() {
    let cases = error_cases();
    assert!(cases.len() >= 25);
    let mut failures = Vec::new();
    for (name, text, expected) in &cases {
        let got = errors(text);
        if got != [*expected] {
            failures.push(format!(
                "{name}:\n  expected {expected:?}\n       got {got:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn all_errors_are_reported_at_once() {
    let text = "\
spoe-agent a
    messages m nope
    timeout processing 5x
    max-frame-size 99999
    option fast
spoe-message m
    args a=src,foo b=int(x)
    event on-nothing
";
    assert_eq!(
        errors(text),
        [
            "parsing [spoe.conf:1:1] : no backend declared for SPOE agent 'a' (missing 'use-backend')",
            "parsing [spoe.conf:2:16] : SPOE agent 'a' try to use undefined SPOE message 'nope'",
            "parsing [spoe.conf:3:24] : 'timeout processing' expects a duration such as 500ms, got '5x'",
            "parsing [spoe.conf:4:20] : 'max-frame-size' expects a positive integer argument in the range [256, 16380], got '99999'",
            "parsing [spoe.conf:5:12] : option 'fast' is not supported",
            "parsing [spoe.conf:7:16] : 'args' : unknown converter 'foo'",
            "parsing [spoe.conf:7:26] : 'args' : fetch method 'int' : failed to parse 'x' as type 'sint' at position 1",
            "parsing [spoe.conf:8:11] : unknown event 'on-nothing'",
        ]
    );
    let all = SpoeConfig::parse_str(text, "spoe.conf", None).unwrap_err();
    assert_eq!(all.to_string().lines().count(), 8);
}

/// `(name, snippet, the expected warnings)`: accepted configurations.
fn warning_cases() -> Vec<(&'static str, String, Vec<&'static str>)> {
    vec![
        (
            "option async",
            config("    option async\n", ""),
            vec![
                "parsing [spoe.conf:7:5] : 'option async' is accepted and ignored: this engine does not use async mode (removed in HAProxy 3.1): an ACK is expected on the connection that carried its NOTIFY",
            ],
        ),
        (
            "option send-frag-payload",
            config("    option send-frag-payload\n", ""),
            vec![
                "parsing [spoe.conf:7:5] : 'option send-frag-payload' is accepted and ignored: this engine never fragments frames (as HAProxy 3.1+): a message larger than max-frame-size fails with status 3",
            ],
        ),
        ("no option async is what we do anyway", config("    no option async\n", ""), vec![]),
        (
            "missing timeouts",
            "spoe-agent a\n    messages m\n    use-backend agents\n    timeout idle 1s\nspoe-message m\n    args src\n    event on-client-session\n".to_owned(),
            vec![
                "parsing [spoe.conf:1:1] : missing timeouts for SPOE agent 'a': 'hello', 'processing'. While not properly invalid, you will certainly encounter various problems with such a configuration; set them to a non-zero value",
            ],
        ),
        (
            "no message",
            // Without any spoe-message section, haproxy 2.6.12 -c prints "Configuration file is
            // valid" and then aborts (free(): invalid pointer), hence the unused message here.
            "spoe-agent a\n    use-backend agents\n    timeout hello 1s\n    timeout idle 1s\n    timeout processing 1s\nspoe-message n\n    args src\n".to_owned(),
            vec![
                "parsing [spoe.conf:1:1] : no message/group used by SPOE agent 'a'",
                "parsing [spoe.conf:6:1] : spoe-message 'n' is not used by SPOE agent 'a'",
            ],
        ),
        (
            "message without event",
            config("    messages n\n", "spoe-message n\n    args src\n"),
            vec!["parsing [spoe.conf:11:1] : ignore SPOE message 'n' without event"],
        ),
        (
            "unused message",
            config("", "spoe-message n\n    args src\n"),
            vec!["parsing [spoe.conf:10:1] : spoe-message 'n' is not used by SPOE agent 'a'"],
        ),
        (
            "unknown keyword in spoe-message",
            config("", "    bogus src\n"),
            vec![
                "parsing [spoe.conf:10:5] : unknown keyword 'bogus' in spoe-message section is ignored (HAProxy ignores it too)",
            ],
        ),
        (
            "lenient integer",
            config("    maxconnrate 10x\n", ""),
            vec![
                "parsing [spoe.conf:7:17] : 'maxconnrate' expects an integer, got '10x'; it is read as 10, as HAProxy does",
            ],
        ),
        (
            "characters after a timer unit",
            config("    timeout hello 2sec\n", ""),
            vec![
                "parsing [spoe.conf:7:19] : unexpected character 'e' after the timer value '2sec', only (us=microseconds,ms=milliseconds,s=seconds,m=minutes,h=hours,d=days) are supported",
            ],
        ),
        (
            "ACL without pattern",
            config("", "    acl x path\n"),
            vec![
                "parsing [spoe.conf:10:11] : acl 'path' : no pattern to match against were provided, so this ACL will never match. If this is what you intended, please add '--' to get rid of this warning. If you intended to match only for existence, please use '-m found'. If you wanted to force an int to match as a bool, please use '-m bool'",
            ],
        ),
        (
            "words after an empty one",
            config("    register-var-names a \"\" b\n", ""),
            vec![
                "parsing [spoe.conf:7:29] : 'b' and the words after it are ignored: they follow an empty word, where HAProxy stops reading arguments",
            ],
        ),
        (
            ".warning",
            format!(".warning \"check ${{NAME}}\"\n{}", config("", "")),
            vec!["parsing [spoe.conf:1:1] : 'check x'"],
        ),
    ]
}

/// What HAProxy 2.6 accepts and the gateway refuses, on purpose: each loses traffic silently
/// in HAProxy.
fn departures() -> Vec<(&'static str, String, &'static str)> {
    vec![
        (
            "misspelt event: the message would never be sent",
            config("", "    evnet on-client-session\n"),
            "parsing [spoe.conf:10:5] : unknown keyword 'evnet' in spoe-message section; did you mean 'event' maybe ?",
        ),
        (
            "misspelt args",
            config("", "    argz src\n"),
            "parsing [spoe.conf:10:5] : unknown keyword 'argz' in spoe-message section; did you mean 'args' maybe ?",
        ),
        (
            "misspelt section keyword in a message: its lines would go to the message above",
            config("", "spoe-mesage n\n    args src\n"),
            "parsing [spoe.conf:10:1] : unknown keyword 'spoe-mesage' in spoe-message section; did you mean 'spoe-message' maybe ?",
        ),
    ]
}

#[test]
fn departures_are_errors_haproxy_does_not_give() {
    let mut failures = Vec::new();
    for (name, text, expected) in departures() {
        let got = errors(&text);
        if got != [expected] {
            failures.push(format!(
                "{name}:\n  expected {expected:?}\n       got {got:?}"
            ));
        }
        let (ok, output) =
            spoe_interop::haproxy_check_with_files(HAPROXY_CFG, &[("spoe.conf", &text)]);
        if !ok {
            failures.push(format!(
                "haproxy rejects '{name}' too: not a departure\n{output}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn warnings_have_their_exact_message() {
    let cases = warning_cases();
    let mut failures = Vec::new();
    for (name, text, expected) in &cases {
        let got = warnings(text);
        if got != *expected {
            failures.push(format!(
                "{name}:\n  expected {expected:?}\n       got {got:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn environment_and_scopes() {
    let text = "[other]\nspoe-agent hidden\n    bogus\n[mine]\nspoe-agent \"${NAME}\"\n    use-backend agents\n";
    let (config, _) =
        SpoeConfig::parse_str_with(text, "spoe.conf", Some("mine"), &options()).unwrap();
    assert_eq!(config.agent.id, "x");
    assert_eq!(config.engine_id(), "mine");
    let errors =
        SpoeConfig::parse_str_with(text, "spoe.conf", Some("other"), &options()).unwrap_err();
    assert_eq!(
        errors.to_string(),
        "parsing [spoe.conf:2:1] : no backend declared for SPOE agent 'hidden' (missing 'use-backend')\n\
         parsing [spoe.conf:3:5] : unknown keyword 'bogus' in spoe-agent section"
    );
}

#[test]
fn from_file_reports_io_errors() {
    let errors = SpoeConfig::from_file("/nonexistent/spoe.conf", None).unwrap_err();
    assert_eq!(
        errors.to_string(),
        "parsing [/nonexistent/spoe.conf] : cannot read '/nonexistent/spoe.conf': No such file or directory (os error 2)"
    );
}

/// `haproxy -c` rejects every snippet we reject, and accepts every one we only warn about.
#[test]
fn haproxy_agrees_with_every_case() {
    let mut disagreements = Vec::new();
    for (name, text, _) in error_cases() {
        let (ok, output) =
            spoe_interop::haproxy_check_with_files(HAPROXY_CFG, &[("spoe.conf", &text)]);
        if ok {
            disagreements.push(format!("haproxy accepts '{name}':\n{output}"));
        }
    }
    for (name, text, _) in warning_cases() {
        let (ok, output) =
            spoe_interop::haproxy_check_with_files(HAPROXY_CFG, &[("spoe.conf", &text)]);
        if !ok {
            disagreements.push(format!("haproxy rejects '{name}':\n{output}"));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

#[test]
fn the_backend_check_needs_haproxy_cfg() {
    let (config, _) = SpoeConfig::parse_str(&config("", ""), "spoe.conf", None).unwrap();
    assert_eq!(
        config.check_backend(|name| (name == "agents").then_some(true)),
        Ok(())
    );
    assert_eq!(
        config.check_backend(|_| None).unwrap_err().to_string(),
        "parsing [spoe.conf:3:17] : unknown backend 'agents' used by SPOE agent 'a'"
    );
    assert_eq!(
        config
            .check_backend(|_| Some(false))
            .unwrap_err()
            .to_string(),
        "parsing [spoe.conf:3:17] : backend 'agents' used by SPOE agent 'a' does not support HTTP mode"
    );
}
