//! An agent crate that depends only on `spoa` and `tokio` builds and its
//! tests pass: the README's "Write an agent" code (its `main.rs` block and
//! its tests block), compiled as a crate of its own whose `Cargo.toml` lists
//! those two dependencies and nothing else (see `spoe_interop::readme`).

use spoe_interop::readme::{cargo_test_crate, crate_path, readme_block, workspace_root};

#[test]
fn the_readme_agent_builds_and_tests_with_only_spoa_and_tokio() {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).expect("README.md");
    let main_rs = readme_block(&readme, "write-an-agent", "main.rs");
    let tests_rs = readme_block(&readme, "write-an-agent", "tests");
    assert!(
        !main_rs.contains("spop") && !main_rs.contains("tokio_util"),
        "the agent names only spoa and tokio:\n{main_rs}"
    );
    let dependencies = format!(
        "spoa = {{ path = {} }}\ntokio = {{ version = \"1\", features = [\"macros\", \"rt-multi-thread\"] }}\n",
        crate_path("spoa")
    );
    let (passed, output) = cargo_test_crate(
        "one-dependency-agent",
        &dependencies,
        "",
        &format!("{main_rs}\n{tests_rs}"),
    );
    assert!(
        passed,
        "the README's agent, depending only on spoa and tokio, failed to build or test:\n{output}"
    );
    assert!(output.contains("1 passed"), "its test ran:\n{output}");
}
