//! `spoe check -f` exits as `haproxy -c` does (issue 11 §1): 0 valid, 1 errors, 2 valid but will
//! not start (no listener); and `contrib/spoe-gateway.service` refuses such a file on reload.

use std::path::Path;
use std::process::{Command, Output};

const SPOE: &str = env!("CARGO_BIN_EXE_spoe");

const DEFAULTS: &str = "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    \
                        timeout server 5s\n";

/// A frontend with a `bind` line (`spoe check` binds nothing: the port is never opened).
fn serving() -> String {
    format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:1\n    default_backend be\nbackend be\n    \
         server s1 127.0.0.1:2\n"
    )
}

fn check_text(contents: &str) -> Output {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("haproxy.cfg");
    std::fs::write(&path, contents).expect("write haproxy.cfg");
    check(&path)
}

fn check(path: &Path) -> Output {
    check_with(path, &[])
}

fn check_with(path: &Path, flags: &[&str]) -> Output {
    Command::new(SPOE)
        .arg("check")
        .args(flags)
        .arg("-f")
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {SPOE}: {e}"))
}

fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_valid_configuration_exits_0() {
    let out = check_text(&serving());
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Configuration file is valid"),
        "{}",
        describe(&out)
    );
}

#[test]
fn a_configuration_with_errors_exits_1() {
    let out = check_text(&format!("{}    no-such-keyword here\n", serving()));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
}

/// `--strict` turns warnings into exit 1, for CI pipelines; notices (`.notice`) are not
/// warnings.
#[test]
fn strict_makes_warnings_fatal_not_notices() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("haproxy.cfg");
    let cases = [
        (
            "a warning",
            format!("{}    option dontlognull\n", serving()),
            0,
            1,
        ),
        (
            "a notice",
            format!(".notice \"hello\"\n{}", serving()),
            0,
            0,
        ),
        ("nothing", serving(), 0, 0),
    ];
    for (what, contents, plain, strict) in cases {
        std::fs::write(&path, contents).expect("write haproxy.cfg");
        let out = check(&path);
        assert_eq!(out.status.code(), Some(plain), "{what}: {}", describe(&out));
        let out = check_with(&path, &["--strict"]);
        assert_eq!(
            out.status.code(),
            Some(strict),
            "{what}: {}",
            describe(&out)
        );
        if strict == 1 {
            assert!(
                String::from_utf8_lossy(&out.stderr).contains("--strict"),
                "{what}: {}",
                describe(&out)
            );
        }
    }
    // A notice is marked as HAProxy marks it.
    std::fs::write(&path, format!(".notice \"hello\"\n{}", serving())).unwrap();
    let out = check(&path);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("[NOTICE]   config : parsing"),
        "{}",
        describe(&out)
    );
}

/// Empty, backends only, a frontend without `bind`: valid, but nothing would listen.
#[test]
fn a_configuration_without_listener_exits_2_with_haproxys_words() {
    let cases = [
        ("empty", String::new()),
        (
            "backends only",
            format!("{DEFAULTS}backend be\n    server s1 127.0.0.1:2\n"),
        ),
        (
            "frontend without bind",
            format!(
                "{DEFAULTS}frontend fe\n    default_backend be\nbackend be\n    server s1 127.0.0.1:2\n"
            ),
        ),
    ];
    for (what, contents) in cases {
        let out = check_text(&contents);
        assert_eq!(out.status.code(), Some(2), "{what}: {}", describe(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("Configuration file has no error but will not start (no listener)"),
            "{what}: {}",
            describe(&out)
        );
        assert!(!stdout.contains("is valid"), "{what}: {}", describe(&out));
    }
}

/// The unit's `ExecReload=` lines, run as systemd runs them (in order, stopping at the first
/// that fails) with `/usr/local/bin/spoe` replaced by the binary under test and the configuration
/// path by `config`. Returns whether the reload would reach the signal (`/bin/kill`), which is
/// not run.
fn unit_reload_signals(config: &Path) -> bool {
    let unit_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/spoe-gateway.service");
    let unit = std::fs::read_to_string(&unit_path)
        .unwrap_or_else(|e| panic!("read {}: {e}", unit_path.display()));
    let lines: Vec<&str> = unit
        .lines()
        .filter_map(|l| l.strip_prefix("ExecReload="))
        .collect();
    assert!(
        !lines.is_empty(),
        "no ExecReload= in {}",
        unit_path.display()
    );
    for line in lines {
        let argv: Vec<&str> = line.split_whitespace().collect();
        match argv.first().copied() {
            Some("/bin/kill") => return true,
            Some("/usr/local/bin/spoe") => {
                let args: Vec<&str> = argv[1..]
                    .iter()
                    .map(|a| {
                        if *a == "/etc/spoe/haproxy.cfg" {
                            config.to_str().expect("UTF-8 path")
                        } else {
                            a
                        }
                    })
                    .collect();
                let out = Command::new(SPOE)
                    .args(&args)
                    .output()
                    .unwrap_or_else(|e| panic!("cannot run {SPOE}: {e}"));
                if !out.status.success() {
                    return false;
                }
            }
            other => panic!("unexpected ExecReload= command {other:?} in {line:?}"),
        }
    }
    false
}

#[test]
fn the_systemd_unit_refuses_to_reload_into_a_configuration_without_listener() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("haproxy.cfg");
    std::fs::write(&path, serving()).expect("write haproxy.cfg");
    assert!(
        unit_reload_signals(&path),
        "a valid configuration is reloaded"
    );
    std::fs::write(&path, "").expect("truncate haproxy.cfg");
    assert!(
        !unit_reload_signals(&path),
        "the unit's ExecReload signals the gateway with an empty configuration"
    );
}

/// `spoe gateway` on a file without listener exits at once with an error saying so, instead of
/// running and serving nothing.
#[test]
fn the_gateway_refuses_to_start_without_listener() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("haproxy.cfg");
    std::fs::write(&path, "").expect("write haproxy.cfg");
    let err = tempfile::NamedTempFile::new().expect("stderr file");
    let mut child = spoe_interop::ChildGuard::spawn(
        Command::new(SPOE)
            .arg("gateway")
            .arg("-f")
            .arg(&path)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(err.reopen().expect("reopen stderr file")),
    )
    .unwrap_or_else(|e| panic!("cannot spawn {SPOE}: {e}"));
    let status = child
        .wait_timeout(std::time::Duration::from_secs(10))
        .expect("wait for spoe gateway");
    let stderr = std::fs::read_to_string(err.path()).unwrap_or_default();
    let status = status.unwrap_or_else(|| panic!("still running after 10 s:\n{stderr}"));
    assert!(!status.success(), "{status}:\n{stderr}");
    assert!(
        stderr.contains("will not start (no listener)"),
        "{status}:\n{stderr}"
    );
}

/// `zero-warning` in `global`: a file with a warning exits 1 with HAProxy's alert, as
/// `haproxy -c` does; without a warning it is valid. Fails (never skips) without `haproxy`.
#[test]
fn zero_warning_makes_warnings_fatal_as_haproxy() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("haproxy.cfg");
    // `option httplog` in a backend: HAProxy's warning, and the gateway's.
    let warned = format!(
        "global\n    zero-warning\n{}    option httplog\n",
        serving()
    );
    for (text, code) in [
        (warned, 1),
        (format!("global\n    zero-warning\n{}", serving()), 0),
    ] {
        std::fs::write(&path, &text).expect("write haproxy.cfg");
        let ours = check(&path);
        let theirs = Command::new(spoe_interop::haproxy_path())
            .arg("-c")
            .arg("-f")
            .arg(&path)
            .output()
            .expect("run haproxy -c");
        assert_eq!(theirs.status.code(), Some(code), "{}", describe(&theirs));
        assert_eq!(ours.status.code(), Some(code), "{}", describe(&ours));
        let alert = "Some warnings were found and 'zero-warning' is set. Aborting.";
        for out in [&ours, &theirs] {
            let all = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(all.contains(alert), code == 1, "{}", describe(out));
        }
    }
}

#[test]
fn the_agents_backend_in_mode_spop_checks_as_in_mode_tcp() {
    // HAProxy 3.1+ files say `mode spop` where 2.6 files say `mode tcp`: the same verdict,
    // the same messages, and `mode spop` where 3.1 refuses it is refused.
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../spoe-gateway/tests/data");
    std::fs::copy(data.join("agents.conf"), dir.path().join("agents.conf")).unwrap();
    let conf = dir.path().join("agents.conf");
    let file = |mode: &str| {
        format!(
            "{DEFAULTS}frontend fe\n    bind 127.0.0.1:1\n    filter spoe engine ip config \
             {}\n    default_backend be\nbackend be\n    server s1 127.0.0.1:2\n\
             backend agents\n    mode {mode}\n    option spop-check\n    server a1 127.0.0.1:3 check\n",
            conf.display()
        )
    };
    let run = |mode: &str| {
        let path = dir.path().join(format!("{mode}.cfg"));
        std::fs::write(&path, file(mode)).unwrap();
        let out = check(&path);
        let text = describe(&out).replace(&format!("{mode}.cfg"), "haproxy.cfg");
        (out.status.code(), text)
    };
    let (tcp, spop) = (run("tcp"), run("spop"));
    assert_eq!(tcp.0, Some(0), "{}", tcp.1);
    assert_eq!(spop, tcp);
    let out = check_text(&format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:1\n    default_backend agents\nbackend \
         agents\n    mode spop\n    server a1 127.0.0.1:3\n"
    ));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        describe(&out).contains("tries to use incompatible spop backend 'agents'"),
        "{}",
        describe(&out)
    );
}
