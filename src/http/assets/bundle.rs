//! Joins the browser client's ES modules into the one module served as
//! `/client/tidemark.js`: a page needs that single file, so an app shell that
//! caches it (as a service worker does) loads offline, and neither the server
//! nor its build needs Node. Each module becomes a function scope that returns
//! its exports; an import becomes a destructuring of the imported module's
//! object. Modules are emitted after the modules they import (cycles are
//! refused), so every import is complete when it is read.
//!
//! The modules keep to a small dialect, checked here line by line (statements
//! start in column 0, as the formatter leaves them):
//!
//! ```text
//! import { a, b as c } from './x.js';
//! export { a, b as c } from './x.js';
//! export function f / export async function f / export class C / export const K
//! ```
//!
//! Any other line starting with `import` or `export` is an error.

use std::collections::HashMap;

/// One module, rewritten: its body and what it exports.
struct Module {
    body: String,
    /// Resolved paths of the modules it imports from, in order.
    deps: Vec<String>,
    /// `(exported name, local name)`.
    exports: Vec<(String, String)>,
}

/// The modules `files` (`(path, source)`, paths relative to one root) as one
/// ES module with the exports of `entry`.
pub fn bundle(entry: &str, files: &[(&str, &str)]) -> Result<String, String> {
    let sources: HashMap<&str, &str> = files.iter().copied().collect();
    let mut order = vec![];
    visit(entry, &sources, &mut vec![], &mut order)?;
    let mut out = String::from(
        "// The tidemark browser client: clients/js/tidemark.js and its modules in one file\n\
         // (bundled by the server, src/http/assets/bundle.rs; each module is also served\n\
         // on its own under /client/src/).\n\n",
    );
    for (path, module) in &order {
        out.push_str(&format!("// ── {path}\n"));
        if path == entry {
            let list = specs(&module.exports, |exported, local| {
                format!("{local} as {exported}")
            });
            out.push_str(&format!("{}export {{ {list} }};\n", module.body));
        } else {
            let object = specs(&module.exports, |exported, local| {
                format!("{exported}: {local}")
            });
            out.push_str(&format!(
                "const {} = (() => {{\n{}return {{ {object} }};\n}})();\n\n",
                var_of(path),
                module.body
            ));
        }
    }
    Ok(out)
}

/// `(outer name, local name)` pairs as a list: `name` where both are one
/// name, else what `renamed(outer, local)` writes.
fn specs(pairs: &[(String, String)], renamed: impl Fn(&str, &str) -> String) -> String {
    let written: Vec<String> = pairs
        .iter()
        .map(|(outer, local)| {
            if outer == local {
                local.clone()
            } else {
                renamed(outer, local)
            }
        })
        .collect();
    written.join(", ")
}

/// Parses `path` and, first, every module it imports; appends them to
/// `order` (imports before importers).
fn visit(
    path: &str,
    sources: &HashMap<&str, &str>,
    stack: &mut Vec<String>,
    order: &mut Vec<(String, Module)>,
) -> Result<(), String> {
    if order.iter().any(|(p, _)| p == path) {
        return Ok(());
    }
    if stack.iter().any(|p| p == path) {
        return Err(format!("import cycle: {} -> {path}", stack.join(" -> ")));
    }
    let source = sources.get(path).ok_or_else(|| {
        format!(
            "{}: imports {path}, which is not embedded",
            stack.join(" -> ")
        )
    })?;
    let module = parse(path, source)?;
    stack.push(path.to_string());
    for dep in &module.deps {
        visit(dep, sources, stack, order)?;
    }
    stack.pop();
    order.push((path.to_string(), module));
    Ok(())
}

/// Rewrites one module's imports and exports (see the module doc).
fn parse(path: &str, source: &str) -> Result<Module, String> {
    let mut module = Module {
        body: String::new(),
        deps: vec![],
        exports: vec![],
    };
    let mut bound: HashMap<String, (String, String)> = HashMap::new();
    let mut lines = source.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let at = || format!("{path}:{}", n + 1);
        if line.starts_with("import {") || line.starts_with("export {") {
            let mut statement = line.to_string();
            while !statement.trim_end().ends_with(';') {
                let (_, more) = lines
                    .next()
                    .ok_or_else(|| format!("{}: unterminated statement", at()))?;
                statement.push(' ');
                statement.push_str(more);
            }
            let (names, from) = split_statement(&statement)
                .ok_or_else(|| format!("{}: expected `{{ names }} from './module.js';`", at()))?;
            let dep = resolve(path, from).ok_or_else(|| {
                format!(
                    "{}: `{from}` is not a relative path inside the client",
                    at()
                )
            })?;
            let reexport = line.starts_with("export");
            let mut pattern = vec![];
            for spec in names.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let (name, alias) = match spec.split_once(" as ") {
                    Some((name, alias)) => (name.trim(), alias.trim()),
                    None => (spec, spec),
                };
                // An import binds `alias`; a re-export binds `name` and exports it as `alias`.
                let local = if reexport { name } else { alias };
                if reexport {
                    module.exports.push((alias.to_string(), local.to_string()));
                }
                let source = (dep.clone(), name.to_string());
                match bound.get(local) {
                    None => {
                        bound.insert(local.to_string(), source);
                        pattern.push((name.to_string(), local.to_string()));
                    }
                    Some(earlier) if *earlier == source => {}
                    Some(_) => return Err(format!("{}: `{local}` is bound twice", at())),
                }
            }
            if !pattern.is_empty() {
                let pattern = specs(&pattern, |name, local| format!("{name}: {local}"));
                module
                    .body
                    .push_str(&format!("const {{ {pattern} }} = {};\n", var_of(&dep)));
            }
            if !module.deps.contains(&dep) {
                module.deps.push(dep);
            }
        } else if let Some(declaration) = line.strip_prefix("export ") {
            let name = declared_name(declaration)
                .ok_or_else(|| format!("{}: only `export` on a function, class or const", at()))?;
            module.exports.push((name.to_string(), name.to_string()));
            module.body.push_str(declaration);
            module.body.push('\n');
        } else if line.starts_with("import") || line.starts_with("export") {
            return Err(format!("{}: unsupported statement `{line}`", at()));
        } else {
            module.body.push_str(line);
            module.body.push('\n');
        }
    }
    Ok(module)
}

/// `{ names } from 'spec';` -> `(names, spec)`.
fn split_statement(statement: &str) -> Option<(&str, &str)> {
    let open = statement.find('{')?;
    let close = statement.find('}')?;
    let rest = statement[close + 1..].trim().strip_prefix("from")?.trim();
    let rest = rest.strip_suffix(';')?.trim();
    let quote = rest.chars().next().filter(|q| *q == '\'' || *q == '"')?;
    let spec = rest.strip_prefix(quote)?.strip_suffix(quote)?;
    Some((&statement[open + 1..close], spec))
}

/// The name a `function`, `async function`, `class` or `const` declaration declares.
fn declared_name(declaration: &str) -> Option<&str> {
    let rest = ["async function ", "function ", "class ", "const "]
        .iter()
        .find_map(|kw| declaration.strip_prefix(kw))?;
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'))
        .unwrap_or(rest.len());
    (end > 0).then_some(&rest[..end])
}

/// `spec` (`./x.js`, `../x.js`) relative to the module at `from`, or `None`
/// when it is not relative or leaves the root.
fn resolve(from: &str, spec: &str) -> Option<String> {
    if !spec.starts_with("./") && !spec.starts_with("../") {
        return None;
    }
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop();
    for segment in spec.split('/') {
        match segment {
            "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

/// The bundle's variable holding a module's exports: `src/transports/sse.js` -> `$src_transports_sse`.
fn var_of(path: &str) -> String {
    let stem = path.strip_suffix(".js").unwrap_or(path);
    let name: String = stem
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("${name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_become_scopes_in_import_order() {
        let files = [
            (
                "main.js",
                "// entry\nexport { b, a as default } from './lib/b.js';\n",
            ),
            (
                "lib/b.js",
                "import { a as first } from '../a.js';\nexport function b() {\n  return first;\n}\n",
            ),
            ("a.js", "export const a = 1;\nconst hidden = 2;\n"),
        ];
        let out = bundle("main.js", &files).unwrap();
        let a =
            out.find("const $a = (() => {\nconst a = 1;\nconst hidden = 2;\nreturn { a };\n})();");
        let b = out.find(
            "const $lib_b = (() => {\nconst { a: first } = $a;\nfunction b() {\n  return first;\n}\nreturn { b };\n})();",
        );
        let main = out.find("// entry\nconst { b, a } = $lib_b;\nexport { b, a as default };\n");
        assert!(a.is_some() && b.is_some() && main.is_some(), "{out}");
        assert!(a < b && b < main, "{out}");
    }

    #[test]
    fn imports_and_exports_are_rewritten() {
        let cases: [(&[(&str, &str)], &str); 2] = [
            // A name exported twice is bound once.
            (
                &[
                    ("main.js", "export { C, C as default } from './c.js';\n"),
                    ("c.js", "export class C {}\n"),
                ],
                "const { C } = $c;\nexport { C, C as default };\n",
            ),
            // An import written over several lines is read whole.
            (
                &[
                    (
                        "main.js",
                        "import {\n  x,\n  y,\n} from './m.js';\nexport const z = x + y;\n",
                    ),
                    ("m.js", "export const x = 1;\nexport const y = 2;\n"),
                ],
                "const { x, y } = $m;\nconst z = x + y;\nexport { z };\n",
            ),
        ];
        for (files, wanted) in cases {
            let out = bundle("main.js", files).unwrap();
            assert!(out.contains(wanted), "{out}");
        }
    }

    #[test]
    fn what_it_cannot_bundle_is_refused_with_its_place() {
        let refused = |files: &[(&str, &str)], wanted: &str| {
            let e = bundle("main.js", files).unwrap_err();
            assert!(e.contains(wanted), "{e}");
        };
        for (source, wanted) in [
            ("export default 1;\n", "main.js:1: only `export`"),
            ("export let x = 1;\n", "main.js:1: only `export`"),
            ("import * as m from './m.js';\n", "main.js:1: unsupported"),
            ("import { x } from 'pkg';\n", "`pkg` is not a relative path"),
            (
                "import { x } from '../up.js';\n",
                "`../up.js` is not a relative path",
            ),
            (
                "import { x } from './gone.js';\n",
                "gone.js, which is not embedded",
            ),
            (
                "import { x } from './a.js';\nimport { y as x } from './a.js';\n",
                "main.js:2: `x` is bound twice",
            ),
        ] {
            refused(&[("main.js", source)], wanted);
        }
        refused(
            &[
                ("main.js", "import { x } from './a.js';\n"),
                (
                    "a.js",
                    "import { y } from './main.js';\nexport const x = 1;\n",
                ),
            ],
            "import cycle: main.js -> a.js -> main.js",
        );
    }
}
