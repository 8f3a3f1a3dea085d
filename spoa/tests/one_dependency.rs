//! An agent crate that depends only on `spoa` and `tokio` builds and its
//! tests pass: the README's "Write an agent" crate (its `Cargo.toml` block,
//! its `main.rs` block and its tests block), compiled as a crate of its own
//! outside this workspace, with the manifest's `spoa` path pointed at this
//! checkout.
//!
//! The crate lives in `target/one-dependency-agent/` with a target directory
//! of its own (a nested cargo must not wait on the outer one's lock), built
//! `--offline` against a copy of the workspace's `Cargo.lock`, so it uses
//! the same versions and needs no network. The first run compiles tokio and
//! spoa's dependencies once; later runs are incremental.

#![allow(
    clippy::disallowed_types,
    reason = "waits on a real cargo process on the wall clock"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use spoe_interop::ChildGuard;

/// A cold build on a busy 2-core machine takes minutes; a warm one seconds.
const BUILD_LIMIT: Duration = Duration::from_secs(20 * 60);

/// The `lang` block that follows the `<!-- write-an-agent:TAG ...-->` marker
/// in the README.
fn readme_block(readme: &str, tag: &str, lang: &str) -> String {
    let marker = format!("<!-- write-an-agent:{tag}");
    let after = readme
        .split_once(&marker)
        .unwrap_or_else(|| panic!("README.md has no {marker:?} marker"))
        .1;
    let fence = format!("```{lang}\n");
    let code = after
        .split_once(&fence)
        .unwrap_or_else(|| panic!("no {fence:?} block after {marker:?}"))
        .1;
    code.split_once("```")
        .unwrap_or_else(|| panic!("unterminated block after {marker:?}"))
        .0
        .to_owned()
}

fn target_dir() -> PathBuf {
    // target/<profile>/deps/<this test>
    let exe = std::env::current_exe().expect("path of the test binary");
    exe.ancestors()
        .nth(3)
        .expect("test binary in target/<profile>/deps")
        .to_path_buf()
}

#[test]
fn the_readme_agent_builds_and_tests_with_only_spoa_and_tokio() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let readme = std::fs::read_to_string(workspace.join("README.md")).expect("README.md");
    let cargo_toml = readme_block(&readme, "Cargo.toml", "toml");
    let main_rs = readme_block(&readme, "main.rs", "rust");
    let tests_rs = readme_block(&readme, "tests", "rust");
    assert!(
        !main_rs.contains("spop") && !main_rs.contains("tokio_util"),
        "the agent names only spoa and tokio:\n{main_rs}"
    );

    let krate = target_dir().join("one-dependency-agent");
    std::fs::create_dir_all(krate.join("src")).expect("create crate directory");
    let manifest = readme_manifest(&cargo_toml, &workspace.join("spoa"));
    write_if_changed(&krate.join("Cargo.toml"), &manifest);
    write_if_changed(
        &krate.join("src/main.rs"),
        &format!("{main_rs}\n{tests_rs}"),
    );
    if !krate.join("Cargo.lock").exists() {
        std::fs::copy(workspace.join("Cargo.lock"), krate.join("Cargo.lock"))
            .expect("copy Cargo.lock");
    }

    let log_path = krate.join("cargo-test.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut cargo = ChildGuard::spawn(
        Command::new(env!("CARGO"))
            .args(["test", "--offline", "--quiet"])
            .current_dir(&krate)
            .env("CARGO_TARGET_DIR", krate.join("target"))
            .env_remove("RUSTFLAGS")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup"))
            .stderr(log),
    )
    .expect("spawn cargo");
    let status = cargo.wait_timeout(BUILD_LIMIT).expect("wait for cargo");
    let output = std::fs::read_to_string(&log_path).unwrap_or_default();
    let status = status
        .unwrap_or_else(|| panic!("cargo test still running after {BUILD_LIMIT:?}:\n{output}"));
    assert!(
        status.success(),
        "the README's agent, depending only on spoa and tokio, failed to build or test ({status}):\n{output}"
    );
    assert!(output.contains("1 passed"), "its test ran:\n{output}");
}

/// The README's manifest, with its `spoa` path pointed at `spoa` and a
/// `[workspace]` of its own (the crate sits under this workspace's target
/// directory, which it is not a member of). Its dependencies must be
/// exactly `spoa` and `tokio`.
fn readme_manifest(readme_toml: &str, spoa: &Path) -> String {
    let mut deps = Vec::new();
    let mut in_deps = false;
    let mut out = String::new();
    for line in readme_toml.lines() {
        if line.starts_with('[') {
            in_deps = line.trim() == "[dependencies]";
        } else if in_deps && let Some((name, _)) = line.split_once('=') {
            deps.push(name.trim().to_owned());
        }
        if in_deps && line.starts_with("spoa ") {
            let (before, after) = line
                .split_once("path = \"")
                .unwrap_or_else(|| panic!("the README's spoa dependency is a path: {line}"));
            let rest = after.split_once('"').expect("a quoted path").1;
            out.push_str(&format!(
                "{before}path = {:?}{rest}\n",
                spoa.display().to_string()
            ));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert_eq!(
        deps,
        ["spoa", "tokio"],
        "the README's agent depends on spoa and tokio only:\n{readme_toml}"
    );
    out.push_str("\n# Its own workspace: not a member of the one it sits in.\n[workspace]\n");
    out
}

/// Leaves an unchanged file alone, so that cargo's fingerprints stay warm.
fn write_if_changed(path: &Path, contents: &str) {
    if std::fs::read_to_string(path).ok().as_deref() != Some(contents) {
        std::fs::write(path, contents).expect("write file");
    }
}
