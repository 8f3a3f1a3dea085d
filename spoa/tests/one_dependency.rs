//! An agent crate that depends only on `spoa` and `tokio` builds and its
//! tests pass: the README's "Write an agent" crate (its `Cargo.toml` block's
//! dependencies, its `main.rs` block and its tests block), compiled as a
//! crate of its own (see `spoe_interop::readme`), with the manifest's `spoa`
//! path pointed at this checkout.

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
    let dependencies = readme_dependencies(&toml_block(&readme));
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

/// The ```toml block after the README's `write-an-agent:Cargo.toml` marker.
fn toml_block(readme: &str) -> String {
    let marker = "<!-- write-an-agent:Cargo.toml";
    let after = readme
        .split_once(marker)
        .unwrap_or_else(|| panic!("README.md has no {marker:?} marker"))
        .1;
    let code = after
        .split_once("```toml\n")
        .unwrap_or_else(|| panic!("no ```toml block after {marker:?}"))
        .1;
    code.split_once("```")
        .unwrap_or_else(|| panic!("unterminated block after {marker:?}"))
        .0
        .to_owned()
}

/// The `[dependencies]` lines of the README's manifest, with the `spoa`
/// path pointed at this checkout. They must be exactly `spoa` and `tokio`.
fn readme_dependencies(readme_toml: &str) -> String {
    let mut names = Vec::new();
    let mut in_deps = false;
    let mut out = String::new();
    for line in readme_toml.lines() {
        if line.starts_with('[') {
            in_deps = line.trim() == "[dependencies]";
            continue;
        }
        if !in_deps {
            continue;
        }
        let Some((name, _)) = line.split_once('=') else {
            continue;
        };
        names.push(name.trim().to_owned());
        if name.trim() == "spoa" {
            let (before, after) = line
                .split_once("path = \"")
                .unwrap_or_else(|| panic!("the README's spoa dependency is a path: {line}"));
            let rest = after.split_once('"').expect("a quoted path").1;
            out.push_str(&format!("{before}path = {}{rest}\n", crate_path("spoa")));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert_eq!(
        names,
        ["spoa", "tokio"],
        "the README's agent depends on spoa and tokio only:\n{readme_toml}"
    );
    out
}
