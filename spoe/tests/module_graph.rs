//! No import cycles among a crate's modules (the repository's rule), checked
//! on the sources themselves so that CI catches a new one.
//!
//! Each file is one node (`src/a/b.rs` and `src/a/b/mod.rs` are `a::b`). An
//! edge A -> B is any path in A's code (comments left out) that names B:
//! `crate::a::b::..`, `super::..`, or `use child::..` of A's own child. A
//! path is resolved to the longest module it names, so `crate::engine::job::Job`
//! is an edge to `engine::job`, and `crate::Engine` one to the root, whose
//! own edges are its `use`s (so reaching a module back through a root
//! re-export is a cycle too). `mod x;` declarations are not edges. Inline
//! test modules (`mod tests { .. }`, always at the end of a file here) are
//! left out: compiled only under `cfg(test)`, they may use their crate freely.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

type Module = Vec<String>;

fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(src).expect("file under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" && !(parts.is_empty() && stem == "main") {
        parts.push(stem.to_string());
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its comments (line and doc comments; block
/// comments are not used in this repository).
fn code(text: &str) -> String {
    text.lines()
        .map(|line| {
            let t = line.trim_start();
            if t.starts_with("//") { "" } else { line }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths (as segments) that follow `prefix::` at each occurrence, with
/// one level of `{a::b, c}` groups expanded.
fn paths_after(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let needle = format!("{prefix}::");
    let mut from = 0;
    while let Some(i) = code[from..].find(&needle).map(|i| from + i) {
        let before = code[..i].chars().last();
        from = i + needle.len();
        let rest = &code[from..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let mut segs = Vec::new();
        let mut s = rest;
        loop {
            let len = s
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(s.len());
            if len == 0 {
                break;
            }
            segs.push(s[..len].to_string());
            s = &s[len..];
            if let Some(next) = s.strip_prefix("::") {
                s = next;
            } else {
                break;
            }
        }
        if let Some(group) = s.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let mut p = segs.clone();
                p.extend(
                    item.trim()
                        .split("::")
                        .map(|x| x.trim().to_string())
                        .filter(|x| !x.is_empty()),
                );
                out.push(p);
            }
        } else {
            out.push(segs);
        }
    }
    out
}

/// The use trees of a file's `use` statements, each path as segments with
/// the name it is known by (the alias of `as`, or its last segment).
fn use_paths(code: &str) -> Vec<(Vec<String>, String, bool)> {
    fn expand(tree: &str, prefix: &[String], out: &mut Vec<(Vec<String>, String)>) {
        let tree = tree.trim();
        if let Some(open) = tree.find('{') {
            let mut path = prefix.to_vec();
            path.extend(segments(&tree[..open]));
            let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand(&inner[start..i], &path, out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            expand(&inner[start..], &path, out);
        } else if !tree.is_empty() {
            let (p, alias) = match tree.split_once(" as ") {
                Some((p, a)) => (p, Some(a.trim().to_string())),
                None => (tree, None),
            };
            let mut path = prefix.to_vec();
            path.extend(segments(p));
            if path.last().is_some_and(|l| l == "self") {
                path.pop();
            }
            let name = alias.or_else(|| path.last().cloned()).unwrap_or_default();
            out.push((path, name));
        }
    }
    fn segments(p: &str) -> Vec<String> {
        p.split("::")
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect()
    }
    let mut out = Vec::new();
    let mut at = 0;
    for line in code.split_inclusive('\n') {
        let start = at;
        at += line.len();
        let t = line.trim_start();
        let (public, stmt) = if let Some(u) = t.strip_prefix("pub use ") {
            (true, u)
        } else if let Some(u) = t.strip_prefix("pub(crate) use ") {
            (true, u)
        } else if let Some(u) = t.strip_prefix("use ") {
            (false, u)
        } else {
            continue;
        };
        let from = start + (line.len() - stmt.len());
        let end = code[from..].find(';').map_or(code.len(), |e| from + e);
        let mut trees = Vec::new();
        expand(&code[from..end], &[], &mut trees);
        out.extend(trees.into_iter().map(|(p, n)| (p, n, public)));
    }
    out
}

/// A path as written in module `me` (`crate::`, `super::`, `self::`, a
/// child's name), made absolute; `None` for other crates.
fn absolute(
    modules: &BTreeSet<Module>,
    me: &Module,
    base: &[String],
    path: &[String],
) -> Option<Module> {
    let (first, rest) = path.split_first()?;
    match first.as_str() {
        "crate" => Some(rest.to_vec()),
        "self" => Some(me.iter().cloned().chain(rest.iter().cloned()).collect()),
        "super" => {
            let mut full = base.to_vec();
            let mut rest = path;
            while let Some((h, tail)) = rest.split_first() {
                if h != "super" {
                    break;
                }
                full.pop();
                rest = tail;
            }
            full.extend(rest.iter().cloned());
            Some(full)
        }
        child => {
            let mut full = me.clone();
            full.push(child.to_string());
            modules
                .contains(&full)
                .then(|| me.iter().cloned().chain(path.iter().cloned()).collect())
        }
    }
}

type Reexports = BTreeMap<Module, BTreeMap<String, Module>>;

/// The module that defines what `path` names: the longest module it names
/// (the root at least), then through that module's `pub use` re-exports.
fn resolve(modules: &BTreeSet<Module>, reexports: &Reexports, path: &[String]) -> Module {
    let mut path = path.to_vec();
    for _ in 0..8 {
        let m = (0..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|m| modules.contains(m))
            .unwrap_or_default();
        match path
            .get(m.len())
            .and_then(|item| reexports.get(&m)?.get(item))
        {
            Some(target) if *target != m => path = target.clone(),
            _ => return m,
        }
    }
    path
}

/// The file's code before its first inline module, and the rest.
fn split_inline_mod(text: &str) -> (&str, &str) {
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        let t = t
            .strip_prefix("pub(crate) ")
            .or_else(|| t.strip_prefix("pub "))
            .unwrap_or(t);
        if t.starts_with("mod ") && t.ends_with('{') {
            return text.split_at(at);
        }
        at += line.len();
    }
    (text, "")
}

fn graph(src: &Path) -> BTreeMap<Module, BTreeSet<Module>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<Module> = files.iter().map(|f| module_of(src, f)).collect();
    let sources: Vec<(Module, String)> = files
        .iter()
        .map(|f| {
            (
                module_of(src, f),
                code(&fs::read_to_string(f).expect("read source")),
            )
        })
        .collect();
    // Where each module's `pub use` items come from (as paths; resolved below).
    let mut reexports: Reexports = BTreeMap::new();
    for (me, text) in &sources {
        let base = &me[..];
        for (path, name, public) in use_paths(split_inline_mod(text).0) {
            if let (true, Some(abs)) = (public, absolute(&modules, me, base, &path)) {
                reexports.entry(me.clone()).or_default().insert(name, abs);
            }
        }
    }
    let mut edges = BTreeMap::new();
    for (me, text) in &sources {
        let mut to = BTreeSet::new();
        // Test modules are left out: they are compiled only under
        // `cfg(test)` and may use their crate freely.
        let (part, base) = (split_inline_mod(text).0, me);
        let mut paths: Vec<Vec<String>> = use_paths(part).into_iter().map(|(p, _, _)| p).collect();
        for prefix in ["crate", "super"] {
            paths.extend(paths_after(part, prefix).into_iter().map(|mut p| {
                p.insert(0, prefix.to_string());
                p
            }));
        }
        for p in paths {
            if let Some(abs) = absolute(&modules, me, base, &p) {
                to.insert(resolve(&modules, &reexports, &abs));
            }
        }
        to.remove(me);
        edges.insert(me.clone(), to);
    }
    edges
}

/// One cycle, if the graph has any (depth-first search with colours).
fn find_cycle(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<String>> {
    fn visit(
        n: &Module,
        edges: &BTreeMap<Module, BTreeSet<Module>>,
        state: &mut BTreeMap<Module, u8>,
        stack: &mut Vec<Module>,
    ) -> Option<Vec<String>> {
        state.insert(n.clone(), 1);
        stack.push(n.clone());
        for m in edges.get(n).into_iter().flatten() {
            match state.get(m).copied().unwrap_or(0) {
                1 => {
                    let start = stack.iter().position(|x| x == m).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        stack[start..].iter().map(|x| x.join("::")).collect();
                    cycle.push(m.join("::"));
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(m, edges, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in edges.keys() {
        if state.get(n).copied().unwrap_or(0) == 0
            && let Some(c) = visit(n, edges, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

fn crate_src(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(name)
        .join("src")
}

fn assert_acyclic(name: &str) {
    let edges = graph(&crate_src(name));
    assert!(
        edges.len() > 3,
        "{name}: found only {} modules",
        edges.len()
    );
    if let Some(cycle) = find_cycle(&edges) {
        panic!("{name}: import cycle {}", cycle.join(" -> "));
    }
}

/// Every crate of the workspace (the `members` of the root `Cargo.toml`).
fn workspace_crates() -> Vec<String> {
    let manifest = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml"))
        .expect("read the workspace manifest");
    let members = manifest
        .lines()
        .find_map(|l| l.trim().strip_prefix("members = "))
        .expect("a members line");
    members
        .trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .map(|m| m.trim().trim_matches('"').to_string())
        .filter(|m| !m.is_empty())
        .collect()
}

#[test]
fn no_crate_has_an_import_cycle() {
    let crates = workspace_crates();
    assert!(crates.len() >= 8, "{crates:?}");
    let cycles: Vec<String> = crates
        .iter()
        .filter_map(|name| {
            let edges = graph(&crate_src(name));
            find_cycle(&edges).map(|c| format!("{name}: {}", c.join(" -> ")))
        })
        .collect();
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_largest_crates_are_checked_on_many_modules() {
    for name in [
        "spop",
        "spoa",
        "spoe",
        "spoe-http",
        "spoe-gateway",
        "spoe-cli",
    ] {
        assert_acyclic(name);
    }
}

#[test]
fn spop_cursor_is_under_typed_data_and_frames_above_it() {
    let edges = graph(&crate_src("spop"));
    let m = |s: &str| vec![s.to_string()];
    let names = |n: &str| -> Vec<String> { edges[&m(n)].iter().map(|x| x.join("::")).collect() };
    assert_eq!(
        names("cursor"),
        ["error", "varint"],
        "the cursor is the bottom layer"
    );
    assert!(names("data").contains(&"cursor".to_string()));
    assert!(!names("data").contains(&"frame".to_string()));
    assert!(names("frame").contains(&"cursor".to_string()));
    assert!(names("view").contains(&"frame".to_string()));
}

#[test]
fn the_engine_is_one_folder_with_a_leaf_for_its_messages() {
    let edges = graph(&crate_src("spoe"));
    let engine: Vec<&Module> = edges
        .keys()
        .filter(|m| m.first().is_some_and(|s| s == "engine"))
        .collect();
    assert!(engine.len() >= 6, "engine modules: {engine:?}");
    let job = vec!["engine".to_string(), "job".to_string()];
    let from_job: Vec<String> = edges[&job].iter().map(|m| m.join("::")).collect();
    assert_eq!(
        from_job,
        ["engine::outcome"],
        "engine::job must stay a leaf"
    );
}

#[test]
fn the_checker_sees_a_cycle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path();
    fs::create_dir(src.join("a")).expect("mkdir");
    fs::write(src.join("lib.rs"), "mod a;\nmod b;\n").expect("write");
    fs::write(src.join("a/mod.rs"), "mod c;\nuse c::X;\n").expect("write");
    fs::write(
        src.join("a/c.rs"),
        "// use crate::b;\nuse super::super::b::Y;\nmod tests {\n    use crate::a::X;\n}\n",
    )
    .expect("write");
    fs::write(src.join("b.rs"), "use crate::{a::Z, b};\n").expect("write");
    let edges = graph(src);
    assert!(edges[&vec!["a".to_string(), "c".to_string()]].contains(&vec!["b".to_string()]));
    let cycle = find_cycle(&edges).expect("a -> a::c -> b -> a");
    assert_eq!(cycle.len(), 4, "{cycle:?}");
    // Without the edge back, no cycle.
    fs::write(src.join("b.rs"), "pub struct Y;\n").expect("write");
    assert_eq!(find_cycle(&graph(src)), None);
}
