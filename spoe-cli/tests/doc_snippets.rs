//! Every `haproxy.cfg` and `spoe.conf` snippet of the documentation loads, with no error and no
//! warning, in HAProxy 2.6 (`haproxy -c`) and in `spoe check` (issue 24 §1), as the Rust
//! snippets are compiled.
//!
//! Snippets are the fenced blocks of `README.md`, `docs/`, `bench/README.md` and the crates'
//! documentation (`//!` and `///` comments of `src/` and `examples/`). Each configuration
//! block is announced by a marker line just before its fence, an HTML comment that neither
//! GitHub nor rustdoc shows:
//!
//! - `<!-- config: NAME spoe.conf -->`, `<!-- config: NAME haproxy.cfg -->`: the files of the
//!   snippet NAME, checked together (the haproxy.cfg reads `config spoe.conf` from its own
//!   directory). A `spoe.conf` shown without a `haproxy.cfg` is checked behind a generated one:
//!   a frontend with `filter spoe [engine SCOPE] config spoe.conf` and the backend its
//!   `use-backend` names.
//! - `<!-- config: NAME partial of BASE -->`: lines to add to BASE's files, deliberately partial
//!   (`...` stands for BASE's lines). Each section header of the block (`spoe-agent X`,
//!   `frontend Y`, ...) names a section of BASE; the block's other lines are appended to it, and
//!   the result is checked.
//!
//! A `haproxy.cfg` naming PEM files by relative name (`crt site.pem`, `ca-file clients-ca.pem`)
//! is checked beside certificates generated for it: a CA for a name containing `ca`, a
//! certificate with its key for any other.
//!
//! A fenced block that looks like a configuration (a section keyword at the start of a line)
//! without a marker fails the test: no snippet escapes the check.

mod cli_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use cli_support::{ChildGuard, SPOE};

/// Section keywords of haproxy.cfg.
const HAPROXY_SECTIONS: &[&str] = &["global", "defaults", "frontend", "backend", "listen"];
/// Section keywords of spoe.conf.
const SPOE_SECTIONS: &[&str] = &["spoe-agent", "spoe-message", "spoe-group"];
/// Fence languages whose blocks are not configurations (Rust blocks are compiled as doctests).
const OTHER_LANGUAGES: &[&str] = &["rust", "sh", "console", "toml", "json", "no_run", "ignore"];

/// How long one `spoe check` may take.
const CHECK_LIMIT: Duration = Duration::from_secs(60);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// One fenced block: where it is, the marker before it, its language and text.
#[derive(Debug)]
struct Block {
    origin: String,
    marker: Option<String>,
    lang: String,
    text: String,
}

/// The documentation files: markdown whole, Rust files' doc comments.
fn sources(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![root.join("README.md"), root.join("bench/README.md")];
    let mut dirs = vec![root.join("docs")];
    for member in [
        "spop",
        "spoa",
        "spoe",
        "spoe-gateway",
        "spoe-cli",
        "spoe-interop",
        "spoe-conformance",
    ] {
        dirs.push(root.join(member).join("src"));
        dirs.push(root.join(member).join("examples"));
        files.push(root.join(member).join("README.md"));
    }
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md" || e == "rs") {
                files.push(path);
            }
        }
    }
    files.retain(|f| f.exists());
    files.sort();
    files
}

/// The documentation text of `path`, line by line with line numbers: a markdown file's lines, a
/// Rust file's `//!` and `///` lines (without the comment marker).
fn doc_lines(path: &Path) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let rust = path.extension().is_some_and(|e| e == "rs");
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            if !rust {
                return Some((i + 1, line.to_owned()));
            }
            let t = line.trim_start();
            let doc = t.strip_prefix("//!").or_else(|| t.strip_prefix("///"))?;
            Some((i + 1, doc.strip_prefix(' ').unwrap_or(doc).to_owned()))
        })
        .collect()
}

/// The fenced blocks of `path`. In a Rust file, a doc comment interrupted by code ends a block.
fn blocks(root: &Path, path: &Path) -> Vec<Block> {
    let name = path
        .strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string();
    let lines = doc_lines(path);
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let (n, line) = &lines[i];
        let Some(lang) = line.trim_start().strip_prefix("```") else {
            i += 1;
            continue;
        };
        let marker = i
            .checked_sub(1)
            .and_then(|p| lines.get(p))
            .filter(|(pn, _)| pn + 1 == *n)
            .and_then(|(_, l)| l.trim().strip_prefix("<!-- config:"))
            .and_then(|m| m.strip_suffix("-->"))
            .map(|m| m.trim().to_owned());
        let mut text = String::new();
        let mut j = i + 1;
        while j < lines.len() && !lines[j].1.trim_start().starts_with("```") {
            text.push_str(&lines[j].1);
            text.push('\n');
            j += 1;
        }
        let mut lang = lang.trim().split(',').next().unwrap_or("").to_owned();
        if lang.is_empty() && path.extension().is_some_and(|e| e == "rs") {
            // rustdoc compiles an unlabelled block as Rust.
            lang = "rust".to_owned();
        }
        out.push(Block {
            origin: format!("{name}:{n}"),
            marker,
            lang,
            text,
        });
        i = j + 1;
    }
    out
}

/// The section keyword a line opens, if it opens one (at its start, as both files write them).
fn section_of(line: &str) -> Option<&'static str> {
    if line.starts_with(char::is_whitespace) {
        return None;
    }
    let first = line.split_whitespace().next()?;
    if first.starts_with('[') && first.ends_with(']') {
        return Some("[scope]");
    }
    HAPROXY_SECTIONS
        .iter()
        .chain(SPOE_SECTIONS)
        .find(|k| **k == first)
        .copied()
}

fn looks_like_config(text: &str) -> bool {
    text.lines().any(|l| section_of(l).is_some())
}

/// The files of one snippet.
#[derive(Debug, Default)]
struct Snippet {
    spoe_conf: Option<(String, String)>,
    haproxy_cfg: Option<(String, String)>,
}

/// A partial snippet: lines to add to `base`'s files.
#[derive(Debug)]
struct Partial {
    name: String,
    origin: String,
    base: String,
    text: String,
}

/// `text` with each `(header, lines)` of `additions` appended at the end of the section whose
/// header line is `header`; `None` when `text` has no such section.
fn append_to_section(text: &str, header: &str, lines: &[String]) -> Option<String> {
    let all: Vec<&str> = text.lines().collect();
    let start = all.iter().position(|l| l.trim_end() == header)?;
    let mut end = all[start + 1..]
        .iter()
        .position(|l| {
            !l.trim().is_empty() && !l.starts_with(char::is_whitespace) && !l.starts_with('#')
        })
        .map_or(all.len(), |p| start + 1 + p);
    while end > start + 1 && all[end - 1].trim().is_empty() {
        end -= 1;
    }
    let mut out: Vec<String> = all[..end].iter().map(|s| (*s).to_owned()).collect();
    out.extend(lines.iter().cloned());
    out.extend(all[end..].iter().map(|s| (*s).to_owned()));
    Some(out.join("\n") + "\n")
}

/// Applies a partial snippet to its base's files.
fn complete(partial: &Partial, base: &Snippet) -> (String, String) {
    let mut conf = base
        .spoe_conf
        .as_ref()
        .map(|(_, t)| t.clone())
        .unwrap_or_default();
    let mut cfg = base
        .haproxy_cfg
        .as_ref()
        .map(|(_, t)| t.clone())
        .unwrap_or_default();
    let mut header: Option<String> = None;
    let mut pending: Vec<String> = Vec::new();
    let mut flush = |header: &Option<String>, pending: &mut Vec<String>| {
        let Some(h) = header else {
            assert!(
                pending.is_empty(),
                "{}: lines of partial snippet {} before any section header: {pending:?}",
                partial.origin,
                partial.name
            );
            return;
        };
        let target = if SPOE_SECTIONS.contains(&section_of(h).unwrap_or("")) {
            &mut conf
        } else {
            &mut cfg
        };
        *target = append_to_section(target, h, pending).unwrap_or_else(|| {
            panic!(
                "{}: partial snippet {} names section {h:?}, which snippet {} does not have",
                partial.origin, partial.name, partial.base
            )
        });
        pending.clear();
    };
    for line in partial.text.lines() {
        let t = line.trim();
        if t.is_empty() || t == "..." || t.starts_with('#') {
            continue;
        }
        if section_of(line).is_some() {
            flush(&header, &mut pending);
            header = Some(line.trim_end().to_owned());
        } else {
            pending.push(line.to_owned());
        }
    }
    flush(&header, &mut pending);
    (conf, cfg)
}

/// A haproxy.cfg that hosts `spoe_conf`: its scope as the filter's engine, its `use-backend` as
/// a backend of agents.
fn host_for(spoe_conf: &str) -> String {
    let scope = spoe_conf
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| format!("engine {} ", &l[1..l.len() - 1]));
    let backend = spoe_conf
        .lines()
        .find_map(|l| l.trim().strip_prefix("use-backend "))
        .map(str::trim)
        .expect("a spoe.conf snippet names its agents' backend (use-backend)");
    format!(
        "defaults\n    mode http\n    timeout connect 5s\n    timeout client 30s\n    \
         timeout server 30s\n\nfrontend web\n    bind 127.0.0.1:8080\n    \
         filter spoe {}config spoe.conf\n    default_backend app\n\nbackend app\n    \
         server app1 127.0.0.1:8000\n\nbackend {backend}\n    mode tcp\n    \
         server agent1 127.0.0.1:12345\n",
        scope.unwrap_or_default()
    )
}

/// The PEM files `haproxy_cfg` names by relative name, generated: `(name, contents)`.
fn certificates(haproxy_cfg: &str) -> Vec<(String, String)> {
    let mut names: Vec<&str> = haproxy_cfg
        .split_whitespace()
        .filter(|w| w.ends_with(".pem") && !w.contains('/'))
        .collect();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        return Vec::new();
    }
    let mut pki = spoe_interop::pki::TestPki::new();
    let read = |path: PathBuf| std::fs::read_to_string(path).expect("generated PEM");
    names
        .into_iter()
        .map(|name| {
            let pem = if name.contains("ca") {
                read(pki.ca())
            } else {
                read(pki.server(name, &["localhost"]))
            };
            (name.to_owned(), pem)
        })
        .collect()
}

/// Checks one pair of files with both tools; the problems found, if any.
fn check_pair(what: &str, haproxy_cfg: &str, spoe_conf: Option<&str>) -> Vec<String> {
    let certs = certificates(haproxy_cfg);
    let mut files: Vec<(&str, &str)> = spoe_conf.map(|c| ("spoe.conf", c)).into_iter().collect();
    files.extend(certs.iter().map(|(n, c)| (n.as_str(), c.as_str())));
    let mut problems = Vec::new();
    let (ok, output) = spoe_interop::haproxy_check_with_files(haproxy_cfg, &files);
    if !ok || output.contains("[WARNING]") || output.contains("[ALERT]") {
        problems.push(format!("{what}: haproxy -c (2.6) says:\n{output}"));
    }

    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::write(dir.path().join("haproxy.cfg"), haproxy_cfg).expect("write haproxy.cfg");
    for (name, contents) in &files {
        std::fs::write(dir.path().join(name), contents).expect("write a snippet's file");
    }
    let log = dir.path().join("check.log");
    let out = std::fs::File::create(&log).expect("log file");
    let mut child = ChildGuard::spawn(
        Command::new(SPOE)
            .args(["check", "-f", "haproxy.cfg"])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out),
    )
    .expect("spawn spoe check");
    let status = child
        .wait_timeout(CHECK_LIMIT)
        .expect("wait for spoe check")
        .unwrap_or_else(|| panic!("spoe check still running after {CHECK_LIMIT:?}"));
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    if !status.success() || output.contains("[WARNING]") || output.contains("[ALERT]") {
        problems.push(format!("{what}: spoe check ({status}) says:\n{output}"));
    }
    problems
}

#[test]
fn every_configuration_snippet_loads_in_haproxy_and_spoe_check() {
    let root = workspace();
    let mut snippets: BTreeMap<String, Snippet> = BTreeMap::new();
    let mut partials = Vec::new();
    let mut unmarked = Vec::new();
    for file in sources(&root) {
        for block in blocks(&root, &file) {
            if OTHER_LANGUAGES.contains(&block.lang.as_str()) {
                continue;
            }
            let Some(marker) = &block.marker else {
                if looks_like_config(&block.text) {
                    unmarked.push(block.origin.clone());
                }
                continue;
            };
            let words: Vec<&str> = marker.split_whitespace().collect();
            match words.as_slice() {
                [name, "spoe.conf"] => {
                    let s = snippets.entry((*name).to_owned()).or_default();
                    assert!(
                        s.spoe_conf.is_none(),
                        "{}: a second spoe.conf for {name}",
                        block.origin
                    );
                    s.spoe_conf = Some((block.origin.clone(), block.text.clone()));
                }
                [name, "haproxy.cfg"] => {
                    let s = snippets.entry((*name).to_owned()).or_default();
                    assert!(
                        s.haproxy_cfg.is_none(),
                        "{}: a second haproxy.cfg for {name}",
                        block.origin
                    );
                    s.haproxy_cfg = Some((block.origin.clone(), block.text.clone()));
                }
                [name, "partial", "of", base] => partials.push(Partial {
                    name: (*name).to_owned(),
                    origin: block.origin.clone(),
                    base: (*base).to_owned(),
                    text: block.text.clone(),
                }),
                _ => panic!(
                    "{}: marker {marker:?}: expected `NAME spoe.conf`, `NAME haproxy.cfg` or `NAME partial of BASE`",
                    block.origin
                ),
            }
        }
    }
    assert!(
        unmarked.is_empty(),
        "configuration blocks without a `<!-- config: ... -->` marker (see this test's header): {unmarked:?}"
    );
    // The README's agent, its fail-closed variant, the spoa guide and its three examples at least:
    // an extractor that finds nothing must not pass.
    assert!(
        snippets.len() >= 5 && !partials.is_empty(),
        "too few snippets found: {snippets:?} {partials:?}"
    );
    assert!(snippets.contains_key("write-an-agent"), "{snippets:?}");

    let mut problems = Vec::new();
    for (name, s) in &snippets {
        let conf = s.spoe_conf.as_ref().map(|(_, t)| t.as_str());
        let (cfg, origin) = match (&s.haproxy_cfg, conf) {
            (Some((origin, cfg)), _) => (cfg.clone(), origin.clone()),
            (None, Some(conf)) => (
                host_for(conf),
                s.spoe_conf
                    .as_ref()
                    .map(|(o, _)| o.clone())
                    .unwrap_or_default(),
            ),
            (None, None) => unreachable!("a snippet has at least one file"),
        };
        problems.extend(check_pair(
            &format!("snippet {name} ({origin})"),
            &cfg,
            conf,
        ));
    }
    for p in &partials {
        let base = snippets.get(&p.base).unwrap_or_else(|| {
            panic!(
                "{}: partial snippet {} of unknown snippet {}",
                p.origin, p.name, p.base
            )
        });
        let (conf, cfg) = complete(p, base);
        assert!(
            conf != base
                .spoe_conf
                .as_ref()
                .map(|(_, t)| t.clone())
                .unwrap_or_default()
                || cfg
                    != base
                        .haproxy_cfg
                        .as_ref()
                        .map(|(_, t)| t.clone())
                        .unwrap_or_default(),
            "{}: partial snippet {} adds nothing",
            p.origin,
            p.name
        );
        let conf = (!conf.is_empty()).then_some(conf);
        problems.extend(check_pair(
            &format!("partial snippet {} ({}) on {}", p.name, p.origin, p.base),
            &cfg,
            conf.as_deref(),
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn a_partial_snippet_lands_in_the_sections_it_names() {
    let base = Snippet {
        spoe_conf: Some((
            "base".into(),
            "[e]\nspoe-agent a\n    use-backend agents\n\nspoe-message m\n    event on-frontend-http-request\n".into(),
        )),
        haproxy_cfg: Some(("base".into(), "frontend web\n    bind :80\nbackend agents\n    mode tcp\n".into())),
    };
    let partial = Partial {
        name: "p".into(),
        origin: "here".into(),
        base: "base".into(),
        text: "# spoe.conf\nspoe-agent a\n    ...\n    option set-on-error error\n\n# haproxy.cfg\nfrontend web\n    ...\n    http-request deny\n".into(),
    };
    let (conf, cfg) = complete(&partial, &base);
    assert_eq!(
        conf,
        "[e]\nspoe-agent a\n    use-backend agents\n    option set-on-error error\n\nspoe-message m\n    event on-frontend-http-request\n"
    );
    assert_eq!(
        cfg,
        "frontend web\n    bind :80\n    http-request deny\nbackend agents\n    mode tcp\n"
    );
    assert!(looks_like_config("x\nfrontend web\n"));
    assert!(!looks_like_config(
        "spoe gateway -f haproxy.cfg\n    frontend\n"
    ));
}
