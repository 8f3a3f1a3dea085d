//! The README's "Use SPOE from your Rust server" code builds as a crate of its own whose
//! `Cargo.toml` lists what the README says (`spoe-http` with `axum`, `axum`, `tokio`; `spoa`
//! and `tower` for its tests), and its tests pass: the bot-blocker agent in the same process
//! denies a bot through the layer, and a human's handler sees the agent's verdict.

use spoe_interop::readme::{cargo_test_crate, crate_path, readme_block, workspace_root};

#[test]
fn the_readme_server_builds_and_its_tests_pass() {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).expect("README.md");
    let main_rs = readme_block(&readme, "use-spoe", "main.rs");
    let tests_rs = readme_block(&readme, "use-spoe", "tests");
    let dependencies = format!(
        "\
spoe-http = {{ path = {}, features = [\"axum\"] }}
axum = {{ version = \"0.8\", default-features = false, features = [\"tokio\", \"http1\"] }}
tokio = {{ version = \"1\", features = [\"macros\", \"rt-multi-thread\"] }}
",
        crate_path("spoe-http")
    );
    let dev_dependencies = format!(
        "spoa = {{ path = {} }}\ntower = {{ version = \"0.5\", features = [\"util\"] }}\n",
        crate_path("spoa")
    );
    let (passed, output) = cargo_test_crate(
        "use-spoe-server",
        &dependencies,
        &dev_dependencies,
        &format!("{main_rs}\n{tests_rs}"),
    );
    assert!(
        passed,
        "the README's server failed to build or test:\n{output}"
    );
    assert!(output.contains("1 passed"), "its test ran:\n{output}");
}
