//! What a new user meets in the first hour with the `spoe` command (issue 24
//! §6), one test per papercut: each message says what to do instead.

mod cli_support;

use std::time::Duration;

use cli_support::spoe;

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn an_argument_without_its_type_shows_the_form() {
    let out = spoe(
        &[
            "notify",
            "--agent",
            "127.0.0.1:1",
            "check-ua",
            "ua=Googlebot",
        ],
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        out.stderr
            .contains("expected NAME=TYPE:VALUE, such as ua=str:Googlebot"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("unknown type"), "{}", out.stderr);
}

#[test]
fn notify_prints_its_json_alone_and_no_engine_warning() {
    // Port 1 (tcpmux) is privileged and unused on a test machine.
    let out = spoe(&["notify", "--agent", "127.0.0.1:1", "check"], LIMIT);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "stdout is the JSON alone: {:?}", out.stdout);
    let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["status"], 1, "{v}");
    // The failure is said once, in the exit line, not by the engine's log too.
    assert!(!out.stderr.contains("WARN"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}

#[test]
fn check_given_a_spoe_conf_says_which_file_to_pass() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("spoe.conf");
    std::fs::write(
        &conf,
        "[bot]\nspoe-agent bot-agent\n    messages check-ua\n    use-backend agents\n\
         spoe-message check-ua\n    args ua=req.hdr(user-agent)\n    event on-frontend-http-request\n",
    )
    .unwrap();
    let path = conf.to_str().unwrap();
    for args in [["check", "-f", path], ["gateway", "-f", path]] {
        let out = spoe(&args, LIMIT);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        let text = out.stderr.trim();
        assert_eq!(
            text.lines().count(),
            1,
            "{args:?}: one error, not one per line:\n{text}"
        );
        assert!(
            text.contains("spoe.conf:2:1] : 'spoe-agent' : this is an SPOE configuration")
                && text.contains("spoe check -f haproxy.cfg"),
            "{args:?}: {text}"
        );
    }
}

#[test]
fn the_quickstart_prints_its_configuration() {
    let out = spoe(
        &[
            "gateway",
            "--quickstart",
            "--print-config",
            "--listen",
            "127.0.0.1:9999",
        ],
        LIMIT,
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        out.stdout
            .contains(include_str!("../quickstart/haproxy.cfg"))
            && out.stdout.contains(include_str!("../quickstart/spoe.conf")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("SPOE_LISTEN=127.0.0.1:9999"),
        "{}",
        out.stdout
    );
    // --print-config belongs to the quickstart.
    let out = spoe(&["gateway", "--print-config"], LIMIT);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn the_docs_spell_unix_sockets_one_way() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    for doc in ["README.md", "docs/conformance.md"] {
        let text = std::fs::read_to_string(format!("{root}/{doc}")).unwrap();
        assert!(
            !text.contains("unix:/"),
            "{doc} spells a socket unix:PATH; the docs use HAProxy's unix@PATH"
        );
    }
}

#[test]
fn a_port_out_of_range_is_said_so() {
    let out = spoe(&["notify", "--agent", "127.0.0.1:99999", "check"], LIMIT);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        out.stderr.contains("port out of range: 99999"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("expected HOST:PORT"), "{}", out.stderr);
}
