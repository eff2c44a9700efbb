//! The code's imports match the map in `src/lib.rs` and
//! `docs/architecture.md`: every top-level module has a layer, a module only
//! reaches into layers below its own (so there is no circle), nothing below
//! `http` reaches `http`, `config`, `server` or the CLI, and the Markdown and
//! the code link only files inside the repo.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::files_with_extension;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Lower number = lower layer. Data flows transport -> engine -> store.
const LAYERS: &[(&str, u8)] = &[
    ("protocol", 0),
    ("obs", 0),
    ("store", 1),
    ("engine", 2),
    ("cluster", 3),
    ("domain", 3),
    ("http", 4),
    ("config", 5),
    ("server", 6),
    ("devkey", 5),
    ("cli", 7),
];

/// The top-level module a file of `src/` belongs to (`None` for the crate
/// root and the binary).
fn top_module(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(Path::new(ROOT).join("src")).unwrap();
    let first = rel.components().next()?.as_os_str().to_string_lossy();
    let name = first.trim_end_matches(".rs").to_string();
    (name != "lib" && name != "main").then_some(name)
}

/// Code without its comments (line comments and doc comments).
fn code_of(text: &str) -> String {
    text.lines()
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::x` a file names, by its top-level module `x`.
fn reaches(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.insert(name);
        }
    }
    out
}

fn edges() -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let mut files = vec![];
    files_with_extension(&Path::new(ROOT).join("src"), "rs", &mut files);
    let mut edges: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for f in files {
        let Some(from) = top_module(&f) else { continue };
        let code = code_of(&std::fs::read_to_string(&f).unwrap());
        for to in reaches(&code) {
            if to != from {
                let shown = f.strip_prefix(ROOT).unwrap().display().to_string();
                edges
                    .entry(from.clone())
                    .or_default()
                    .entry(to)
                    .or_default()
                    .push(shown);
            }
        }
    }
    edges
}

#[test]
fn every_module_has_a_layer_and_is_on_the_map() {
    let layers: BTreeMap<_, _> = LAYERS.iter().copied().collect();
    let lib = std::fs::read_to_string(Path::new(ROOT).join("src/lib.rs")).unwrap();
    let arch = std::fs::read_to_string(Path::new(ROOT).join("docs/architecture.md")).unwrap();
    let mut files = vec![];
    files_with_extension(&Path::new(ROOT).join("src"), "rs", &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| top_module(f)).collect();
    for m in &modules {
        assert!(
            layers.contains_key(m.as_str()),
            "src/{m}: give it a layer in tests/module_layers.rs and a place on the map"
        );
        assert!(
            lib.contains(&format!("[`{m}`]")),
            "src/lib.rs's map does not name `{m}`"
        );
        assert!(
            arch.contains(&format!("`{m}")),
            "docs/architecture.md does not name `{m}`"
        );
    }
}

#[test]
fn modules_reach_only_into_lower_layers() {
    let layers: BTreeMap<_, _> = LAYERS.iter().copied().collect();
    let mut upward = vec![];
    for (from, tos) in edges() {
        for (to, files) in tos {
            let (Some(a), Some(b)) = (layers.get(from.as_str()), layers.get(to.as_str())) else {
                continue;
            };
            if b >= a {
                upward.push(format!("{from} -> {to} ({})", files.join(", ")));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports against the layers (a circle, or a lower layer reaching up):\n{}",
        upward.join("\n")
    );
}

#[test]
fn nothing_below_http_reaches_the_edge() {
    let layers: BTreeMap<_, _> = LAYERS.iter().copied().collect();
    let http = layers["http"];
    for (from, tos) in edges() {
        if layers.get(from.as_str()).is_some_and(|l| *l < http) {
            for edge in ["http", "config", "server", "cli"] {
                assert!(
                    !tos.contains_key(edge),
                    "{from} imports {edge}: {:?}",
                    tos[edge]
                );
            }
        }
    }
}

/// Relative Markdown links `](target)` in a file.
fn links(text: &str) -> Vec<String> {
    let mut out = vec![];
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        let Some(end) = rest.find(')') else { break };
        let target = rest[..end].split('#').next().unwrap_or("").trim();
        if !target.is_empty() && !target.contains("://") && !target.starts_with("mailto:") {
            out.push(target.to_string());
        }
        rest = &rest[end..];
    }
    out
}

#[test]
fn docs_link_only_files_inside_the_repo() {
    let root = Path::new(ROOT).canonicalize().unwrap();
    let mut docs = vec![root.join("README.md")];
    for e in std::fs::read_dir(root.join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            docs.push(p);
        }
    }
    let mut broken = vec![];
    for doc in &docs {
        let text = std::fs::read_to_string(doc).unwrap();
        for target in links(&text) {
            let path = doc.parent().unwrap().join(&target);
            let inside = path
                .canonicalize()
                .is_ok_and(|p| p.starts_with(&root) && !p.starts_with(root.join("target")));
            if !inside {
                broken.push(format!("{}: {target}", doc.display()));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "links to nowhere or outside the repo:\n{}",
        broken.join("\n")
    );
}

#[test]
fn code_comments_cite_nothing_a_clone_lacks() {
    let mut files = vec![];
    files_with_extension(&Path::new(ROOT).join("src"), "rs", &mut files);
    files_with_extension(&Path::new(ROOT).join("tests"), "rs", &mut files);
    let mut found = vec![];
    for f in files {
        if f.ends_with("module_layers.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.contains("design.md") || line.contains("../shared") {
                found.push(format!("{}:{}", f.display(), n + 1));
            }
        }
    }
    assert!(found.is_empty(), "references outside the repo: {found:?}");
}
