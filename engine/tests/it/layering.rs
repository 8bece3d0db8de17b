//! The engine's layering rules of design/architecture.md, checked on the
//! source: the top-level modules of `engine/src` (a folder or a file beside
//! `lib.rs`) import each other without a loop; no module but the offline
//! tools (`inspect`, which open a store) names the facade (`crate::store`,
//! or `Store` and the other types `lib.rs` re-exports from it): the log, the
//! catalog and the features take what they need, never `Store`; the catalog
//! and the log name no feature. A module's imports are every `crate::` path in its code
//! (comments skipped), a name `lib.rs` re-exports counted as the module it
//! comes from.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The code of `text`: line comments (and doc comments) removed.
fn code(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("//") {
            continue;
        }
        // A trailing comment: `//` outside a string literal.
        let mut quotes = 0;
        let mut end = line.len();
        let bytes = line.as_bytes();
        for i in 0..bytes.len() {
            match bytes[i] {
                b'"' if i == 0 || bytes[i - 1] != b'\\' => quotes += 1,
                b'/' if quotes % 2 == 0 && bytes.get(i + 1) == Some(&b'/') => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        out.push_str(&line[..end]);
        out.push('\n');
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The first segment of every `crate::` path in `code`, and of every path in
/// a `crate::{...}` group.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| is_ident(c) || c == '$' || c == ':') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item = String::new();
            let mut first = true;
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
                if depth == 1 && c == ',' {
                    first = true;
                    if !item.is_empty() {
                        found.insert(std::mem::take(&mut item));
                    }
                    continue;
                }
                if first && is_ident(c) {
                    item.push(c);
                } else if !item.is_empty() || !c.is_whitespace() {
                    first = false;
                    if !item.is_empty() {
                        found.insert(std::mem::take(&mut item));
                    }
                }
            }
            if !item.is_empty() {
                found.insert(item);
            }
        } else {
            let name: String = rest.chars().take_while(|c| is_ident(*c)).collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// The top-level modules: each folder and each file of `src/` but `lib.rs`.
fn modules() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(src_dir()).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
        if path.is_dir() || (path.extension().is_some_and(|e| e == "rs") && stem != "lib") {
            names.insert(stem);
        }
    }
    names
}

/// Name → the top-level module it comes from, for every name `lib.rs`
/// re-exports (`pub use store::{Store, ...}`, `pub use pipeline::{dlq, txn}`,
/// `pub use io as storage`, `pub use batch::{Record, ...}` through `batch`).
fn re_exports(modules: &BTreeSet<String>) -> BTreeMap<String, String> {
    let lib = code(&std::fs::read_to_string(src_dir().join("lib.rs")).unwrap());
    let mut statements: Vec<(String, Vec<String>)> = Vec::new();
    for statement in lib.split(';') {
        let statement = statement.trim();
        let Some(start) = statement.find("pub use ") else {
            continue;
        };
        let path = statement[start + "pub use ".len()..]
            .split_whitespace()
            .collect::<String>();
        let origin = path.split("::").next().unwrap().split("as").next().unwrap().to_string();
        let mut names = Vec::new();
        if let Some(open) = path.find('{') {
            for item in path[open + 1..].trim_end_matches('}').split(',') {
                let name = item.rsplit("as").next().unwrap().rsplit("::").next().unwrap();
                if !name.is_empty() {
                    names.push(name.to_string());
                }
            }
        } else if let Some((_, alias)) = path.rsplit_once("as") {
            names.push(alias.to_string());
        } else {
            names.push(path.rsplit("::").next().unwrap().to_string());
        }
        statements.push((origin, names));
    }
    let mut map = BTreeMap::new();
    // An origin may itself be a re-export (`batch`): resolve until stable.
    for _ in 0..4 {
        for (origin, names) in &statements {
            let module = if modules.contains(origin) {
                Some(origin.clone())
            } else {
                map.get(origin).cloned()
            };
            if let Some(module) = module {
                for name in names {
                    map.insert(name.clone(), module.clone());
                }
            }
        }
    }
    map
}

/// Top-level module → the top-level modules its code names (itself excluded).
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules();
    let exported = re_exports(&modules);
    let src = src_dir();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in sources(&src) {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative.components().next().unwrap().as_os_str().to_str().unwrap();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" {
            continue;
        }
        let text = code(&std::fs::read_to_string(&file).unwrap());
        let entry = graph.entry(module.clone()).or_default();
        for name in crate_paths(&text) {
            let target = if modules.contains(&name) {
                Some(name.clone())
            } else {
                exported.get(&name).cloned()
            };
            if let Some(target) = target.filter(|t| *t != module) {
                entry.insert(target);
            }
        }
    }
    graph
}

/// Every import loop: the strongly connected components of more than one
/// module (Tarjan's algorithm).
fn loops(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(walk: &mut Walk<'a>, node: &'a str) {
        let next = walk.index.len();
        walk.index.insert(node, next);
        walk.low.insert(node, next);
        walk.stack.push(node);
        walk.on_stack.insert(node);
        if let Some(targets) = walk.graph.get(node) {
            for target in targets {
                let target = target.as_str();
                if !walk.index.contains_key(target) {
                    visit(walk, target);
                    let low = walk.low[node].min(walk.low[target]);
                    walk.low.insert(node, low);
                } else if walk.on_stack.contains(target) {
                    let low = walk.low[node].min(walk.index[target]);
                    walk.low.insert(node, low);
                }
            }
        }
        if walk.low[node] == walk.index[node] {
            let mut component = Vec::new();
            while let Some(top) = walk.stack.pop() {
                walk.on_stack.remove(top);
                component.push(top.to_string());
                if top == node {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                walk.found.push(component);
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for node in graph.keys() {
        if !walk.index.contains_key(node.as_str()) {
            visit(&mut walk, node);
        }
    }
    walk.found
}

fn describe(graph: &BTreeMap<String, BTreeSet<String>>) -> String {
    graph
        .iter()
        .map(|(module, targets)| {
            format!(
                "  {module} -> {}",
                targets.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_checker_sees_imports_and_loops() {
    let paths =
        crate_paths("use crate::{clock::now_ms, error::{Error, Result}};\nlet s: crate::Store = x; a::crate::no;");
    assert_eq!(
        paths,
        ["Store", "clock", "error"]
            .into_iter()
            .map(String::from)
            .collect::<BTreeSet<_>>()
    );
    assert_eq!(
        code("let a = 1; // crate::store\n/// crate::Store\nlet b = \"//\";"),
        "let a = 1; \nlet b = \"//\";\n"
    );
    let exported = re_exports(&modules());
    assert_eq!(exported.get("Store").map(String::as_str), Some("store"));
    assert_eq!(exported.get("Record").map(String::as_str), Some("log"));
    assert_eq!(exported.get("txn").map(String::as_str), Some("pipeline"));
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    graph.entry("a".into()).or_default().insert("b".into());
    graph.entry("b".into()).or_default().insert("c".into());
    graph.entry("c".into()).or_default().insert("a".into());
    graph.entry("d".into()).or_default().insert("a".into());
    assert_eq!(loops(&graph), vec![vec!["a".to_string(), "b".into(), "c".into()]]);
}

#[test]
fn no_import_loop_between_engine_modules() {
    let graph = imports();
    let found = loops(&graph);
    assert!(
        found.is_empty(),
        "import loops between engine modules: {found:?}\nimports:\n{}",
        describe(&graph)
    );
}

/// The modules that sit on the facade: the offline tools open a `Store`.
const ABOVE_THE_FACADE: &[&str] = &["inspect"];

#[test]
fn only_the_facade_and_what_sits_on_it_name_the_store() {
    let graph = imports();
    let offending: Vec<&String> = graph
        .iter()
        .filter(|(module, targets)| targets.contains("store") && !ABOVE_THE_FACADE.contains(&module.as_str()))
        .map(|(module, _)| module)
        .collect();
    assert!(
        offending.is_empty(),
        "these modules import the facade (crate::store / crate::Store): {offending:?}\nimports:\n{}",
        describe(&graph)
    );
    for feature in ["producer", "consumer", "pipeline", "catalog", "log", "io"] {
        assert!(
            graph.contains_key(feature),
            "no module {feature}: the rules above check nothing there"
        );
    }
}

#[test]
fn the_catalog_and_the_log_name_no_feature() {
    let graph = imports();
    let features = ["producer", "consumer", "pipeline", "store", "inspect"];
    let mut offending = Vec::new();
    for module in ["io", "log", "catalog"] {
        for feature in features {
            if graph.get(module).is_some_and(|targets| targets.contains(feature)) {
                offending.push(format!("{module} -> {feature}"));
            }
        }
    }
    if graph.get("log").is_some_and(|targets| targets.contains("catalog")) {
        offending.push("log -> catalog".into());
    }
    assert!(
        offending.is_empty(),
        "imports against the layers: {offending:?}\nimports:\n{}",
        describe(&graph)
    );
}
