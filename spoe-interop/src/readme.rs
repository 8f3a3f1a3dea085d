//! The README's code, tested as a user would run it: a fenced block after a marker comment,
//! built as a crate of its own (its own `Cargo.toml`, listing only what the README says it
//! needs) and tested with `cargo test`.
//!
//! The crates live in `target/readme-crates/<name>/`, with one target directory shared by all
//! of them (a nested cargo must not wait on the outer one's lock; the shared one lets them
//! reuse each other's dependencies), built `--offline` against a copy of the workspace's
//! `Cargo.lock`, so they use the same versions and need no network. The first run compiles
//! their dependencies; later runs are incremental.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::ChildGuard;

/// A cold build on a busy 2-core machine takes minutes; a warm one seconds.
pub const BUILD_LIMIT: Duration = Duration::from_secs(20 * 60);

/// The Rust block that follows the `<!-- {marker}:{tag} ...-->` comment in `readme`.
///
/// # Panics
///
/// When there is no such marker or block.
pub fn readme_block(readme: &str, marker: &str, tag: &str) -> String {
    let marker = format!("<!-- {marker}:{tag}");
    let after = readme
        .split_once(&marker)
        .unwrap_or_else(|| panic!("README.md has no {marker:?} marker"))
        .1;
    let code = after
        .split_once("```rust\n")
        .unwrap_or_else(|| panic!("no ```rust block after {marker:?}"))
        .1;
    code.split_once("```")
        .unwrap_or_else(|| panic!("unterminated block after {marker:?}"))
        .0
        .to_owned()
}

/// The workspace's root (the parent of the crate running the test).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// `target/` of the running test (`target/<profile>/deps/<test>`, three levels up).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test binary");
    exe.ancestors()
        .nth(3)
        .expect("test binary in target/<profile>/deps")
        .to_path_buf()
}

/// Writes crate `name` (`[dependencies]` and `[dev-dependencies]` as TOML lines, `src/main.rs`)
/// and runs `cargo test --offline` in it. Returns whether it passed and cargo's output.
///
/// # Panics
///
/// When the crate cannot be written, cargo cannot be started, or it runs past
/// [`BUILD_LIMIT`].
pub fn cargo_test_crate(
    name: &str,
    dependencies: &str,
    dev_dependencies: &str,
    main_rs: &str,
) -> (bool, String) {
    let workspace = workspace_root();
    let root = target_dir().join("readme-crates");
    let krate = root.join(name);
    std::fs::create_dir_all(krate.join("src")).expect("create crate directory");
    let patches = workspace_patches(&workspace);
    let manifest = format!(
        "\
[package]
name = \"{name}\"
version = \"0.0.0\"
edition = \"2024\"
publish = false

# Its own workspace: not a member of the one it sits in.
[workspace]

[dependencies]
{dependencies}
[dev-dependencies]
{dev_dependencies}
{patches}"
    );
    write_if_changed(&krate.join("Cargo.toml"), &manifest);
    write_if_changed(&krate.join("src/main.rs"), main_rs);
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
            .env("CARGO_TARGET_DIR", root.join("target"))
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
    (status.success(), output)
}

/// The workspace's `[patch.crates-io]` section with its paths made absolute:
/// the crate builds against the same patched crates as the workspace (the
/// vendored ones are never fetched from crates.io, so an `--offline` build
/// on a fresh machine could not resolve them otherwise).
fn workspace_patches(workspace: &Path) -> String {
    let manifest = std::fs::read_to_string(workspace.join("Cargo.toml"))
        .expect("read the workspace's Cargo.toml");
    let Some((_, after)) = manifest.split_once("[patch.crates-io]\n") else {
        return String::new();
    };
    let section = after.split("\n[").next().unwrap_or_default();
    let root = format!("path = \"{}/", workspace.display());
    format!("[patch.crates-io]\n{}", section.replace("path = \"", &root))
}

/// The path of a workspace crate, as a TOML string for `path = ...`.
pub fn crate_path(name: &str) -> String {
    format!("{:?}", workspace_root().join(name).display().to_string())
}

/// Leaves an unchanged file alone, so that cargo's fingerprints stay warm.
fn write_if_changed(path: &Path, contents: &str) {
    if std::fs::read_to_string(path).ok().as_deref() != Some(contents) {
        std::fs::write(path, contents).expect("write file");
    }
}
