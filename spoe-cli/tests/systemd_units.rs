//! The systemd units in `contrib/` (issue 24 §5): `systemd-analyze verify`
//! accepts each without a warning, `systemd-analyze security` rates each at
//! the exposure its header records, and each runs as a user of its own with
//! the usual sandbox. The units name `/usr/local/bin/spoe`; the copies checked
//! here name the binary under test instead, which `verify` requires to exist.

mod cli_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use cli_support::{ChildGuard, SPOE};

const LIMIT: Duration = Duration::from_secs(60);

fn units() -> Vec<PathBuf> {
    let contrib = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib");
    let mut units: Vec<PathBuf> = std::fs::read_dir(&contrib)
        .unwrap_or_else(|e| panic!("{}: {e}", contrib.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "service"))
        .collect();
    units.sort();
    units
}

fn systemd_analyze() -> &'static str {
    let path = "/usr/bin/systemd-analyze";
    assert!(
        Path::new(path).exists(),
        "systemd-analyze is missing: ./test.sh installs it (apt-get install -y systemd)"
    );
    path
}

/// Runs `systemd-analyze ARGS` in `dir`: (success, stdout + stderr).
fn analyze(dir: &Path, args: &[&str]) -> (bool, String) {
    let log = dir.join("analyze.log");
    let out = std::fs::File::create(&log).expect("log file");
    let mut child = ChildGuard::spawn(
        Command::new(systemd_analyze())
            .args(args)
            .current_dir(dir)
            .env("SYSTEMD_COLORS", "0")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out),
    )
    .expect("spawn systemd-analyze");
    let status = child
        .wait_timeout(LIMIT)
        .expect("wait for systemd-analyze")
        .unwrap_or_else(|| panic!("systemd-analyze {args:?} still running after {LIMIT:?}"));
    (
        status.success(),
        std::fs::read_to_string(&log).unwrap_or_default(),
    )
}

/// The unit's `KEY=` values, in order.
fn values<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    let prefix = format!("{key}=");
    unit.lines()
        .filter_map(|l| l.strip_prefix(prefix.as_str()))
        .collect()
}

/// The exposure figure a unit's header records: `exposure: 1.4 OK`.
fn recorded_exposure(unit: &str) -> String {
    unit.lines()
        .find_map(|l| l.split_once("`systemd-analyze security` exposure: "))
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .expect("the unit's header records its `systemd-analyze security` exposure")
        .to_owned()
}

#[test]
fn the_units_verify_and_score_what_they_record() {
    let units = units();
    let names: Vec<String> = units
        .iter()
        .map(|u| u.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["spoe-agent.service", "spoe-gateway.service"]);
    let dir = tempfile::tempdir().expect("temporary directory");
    for (path, name) in units.iter().zip(&names) {
        let unit = std::fs::read_to_string(path).expect("read unit");
        let copy = dir.path().join(name);
        std::fs::write(&copy, unit.replace("/usr/local/bin/spoe", SPOE)).expect("write unit");

        let (ok, output) = analyze(dir.path(), &["verify", "--man=no", name]);
        assert!(
            ok && output.trim().is_empty(),
            "{name}: systemd-analyze verify:\n{output}"
        );

        let (ok, output) = analyze(dir.path(), &["security", "--offline=true", name]);
        assert!(ok, "{name}: systemd-analyze security:\n{output}");
        let measured = output
            .lines()
            .find_map(|l| l.split_once(&format!("Overall exposure level for {name}: ")))
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("{name}: no overall exposure in:\n{output}"));
        assert_eq!(
            measured,
            recorded_exposure(&unit),
            "{name}: the exposure its header records is not what systemd-analyze says:\n{output}"
        );
    }
}

#[test]
fn the_units_run_sandboxed_as_a_user_of_their_own() {
    for path in units() {
        let unit = std::fs::read_to_string(&path).expect("read unit");
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        for (key, value) in [
            ("DynamicUser", "yes"),
            ("NoNewPrivileges", "yes"),
            ("ProtectSystem", "strict"),
            ("ProtectHome", "yes"),
            ("PrivateTmp", "yes"),
            ("PrivateDevices", "yes"),
            ("RestrictSUIDSGID", "yes"),
            ("MemoryDenyWriteExecute", "yes"),
        ] {
            assert_eq!(values(&unit, key), [value], "{name}: {key}");
        }
        assert_eq!(values(&unit, "WorkingDirectory").len(), 1, "{name}");
        assert!(
            values(&unit, "User").is_empty(),
            "{name}: DynamicUser makes the user"
        );
        let caps = values(&unit, "CapabilityBoundingSet");
        let exec = values(&unit, "ExecStart");
        match name.as_str() {
            "spoe-gateway.service" => {
                assert_eq!(caps, ["CAP_NET_BIND_SERVICE"], "{name}");
                assert_eq!(
                    values(&unit, "AmbientCapabilities"),
                    ["CAP_NET_BIND_SERVICE"]
                );
                assert_eq!(values(&unit, "WorkingDirectory"), ["/etc/spoe"]);
                assert!(exec[0].contains("spoe gateway -f "), "{exec:?}");
            }
            "spoe-agent.service" => {
                assert_eq!(caps, [""], "{name}: no capability at all");
                assert!(exec[0].contains("spoe agent --listen "), "{exec:?}");
            }
            other => panic!("a unit this test does not know: {other}"),
        }
    }
}
