//! The core's layout, checked: its modules import each other one way only
//! (types < ids < report < policy < sign < error, message < body < node),
//! the files inside a directory module (`node/`, `sign/`) likewise, and no
//! source file is over 800 lines.
//!
//! The check reads `src/` and collects every `crate::…` and `super::…`
//! path outside comments and `#[cfg(test)]` modules — in `use` lines
//! (grouped or not, over several lines) and inline in code (as rustfmt
//! writes them: no space before `::`) — and resolves
//! each to the module that defines it. A parent `mod.rs` re-exporting its
//! children, and children using their parent, are not cycles: the first
//! graph collapses every file to its top-level module, the second looks
//! only at edges between siblings.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Longest file allowed in `src/`.
const MAX_LINES: usize = 800;

/// One source file: its module path (`node::hub` is `["node", "hub"]`;
/// `lib.rs` is `[]`) and its text.
struct Source {
    module: Vec<String>,
    text: String,
}

fn src(module: &str, text: &str) -> Source {
    let module = if module.is_empty() { Vec::new() } else { module.split("::").map(str::to_owned).collect() };
    Source { module, text: text.to_owned() }
}

/// Every `.rs` file under `dir`, with its module path. `tests.rs` files
/// are unit tests, not part of the layering.
fn read_tree(dir: &Path, prefix: &[String], out: &mut Vec<Source>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if path.is_dir() {
            let mut p = prefix.to_vec();
            p.push(name);
            read_tree(&path, &p, out);
        } else if let Some(stem) = name.strip_suffix(".rs") {
            let mut module = prefix.to_vec();
            match stem {
                "lib" | "mod" => {}
                "tests" => continue,
                _ => module.push(stem.to_owned()),
            }
            out.push(Source { module, text: std::fs::read_to_string(&path).unwrap() });
        }
    }
}

fn crate_sources() -> Vec<Source> {
    let mut out = Vec::new();
    read_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &[], &mut out);
    out
}

/// The code of a file: without line comments (doc comments included) and
/// without an inline `#[cfg(test)] mod tests { … }` (by convention last).
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests {") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines().map(|l| l.find("//").map_or(l, |i| &l[..i])).collect::<Vec<_>>().join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The paths after `crate::` or `super::` at `at`: one per name in a
/// `{…}` group (its first segments), else the one path.
fn paths_at(code: &str, at: usize) -> Vec<Vec<String>> {
    let rest = &code[at..];
    if let Some(group) = rest.strip_prefix('{') {
        let mut depth = 0;
        let mut end = group.len();
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    end = i;
                    break;
                }
                '}' => depth -= 1,
                _ => {}
            }
        }
        let mut out = Vec::new();
        let mut depth = 0;
        let mut item = String::new();
        for c in group[..end].chars().chain([',']) {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    out.push(path_of(item.trim()));
                    item.clear();
                    continue;
                }
                _ => {}
            }
            item.push(c);
        }
        out.into_iter().filter(|p| !p.is_empty()).collect()
    } else {
        vec![path_of(rest)]
    }
}

/// The leading `a::b::c` of `s` (whitespace allowed around `::`).
fn path_of(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut s = s.trim_start();
    loop {
        let end = s.find(|c: char| !is_ident(c)).unwrap_or(s.len());
        if end == 0 {
            break;
        }
        out.push(s[..end].to_owned());
        match s[end..].trim_start().strip_prefix("::") {
            Some(r) => s = r.trim_start(),
            None => break,
        }
    }
    out
}

/// Every module path `file` refers to through `crate::` or `super::`,
/// resolved against the modules in `known` (the deepest one that exists).
fn references(file: &Source, known: &BTreeSet<Vec<String>>) -> BTreeSet<Vec<String>> {
    let code = code(&file.text);
    let mut out = BTreeSet::new();
    for (kw, base) in
        [("crate::", Vec::new()), ("super::", file.module[..file.module.len().saturating_sub(1)].to_vec())]
    {
        let mut from = 0;
        while let Some(i) = code[from..].find(kw) {
            let at = from + i;
            from = at + kw.len();
            if code[..at].chars().next_back().is_some_and(is_ident) {
                continue; // `xcrate::` is not `crate::`
            }
            for p in paths_at(&code, from) {
                let mut full = base.clone();
                full.extend(p);
                let target = (0..=full.len()).rev().map(|n| full[..n].to_vec()).find(|m| known.contains(m));
                if let Some(t) = target.filter(|t| !t.is_empty()) {
                    out.insert(t);
                }
            }
        }
    }
    out
}

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The graph between top-level modules (a file counts as its top-level
/// module), and for each directory module the graph between its children.
fn graphs(files: &[Source]) -> (Graph, BTreeMap<Vec<String>, Graph>) {
    let known: BTreeSet<Vec<String>> = files.iter().map(|f| f.module.clone()).collect();
    let mut top = Graph::new();
    let mut siblings: BTreeMap<Vec<String>, Graph> = BTreeMap::new();
    for f in files.iter().filter(|f| !f.module.is_empty()) {
        top.entry(f.module[0].clone()).or_default();
        for t in references(f, &known) {
            if t[0] != f.module[0] {
                top.entry(f.module[0].clone()).or_default().insert(t[0].clone());
            }
            // Siblings: same parent, different child (edges to or from the parent itself are not between siblings).
            let d = f.module.len() - 1;
            if d > 0 && t.len() > d && t[..d] == f.module[..d] && t[d] != f.module[d] {
                siblings
                    .entry(f.module[..d].to_vec())
                    .or_default()
                    .entry(f.module[d].clone())
                    .or_default()
                    .insert(t[d].clone());
            }
        }
    }
    (top, siblings)
}

/// A cycle in `g`, if there is one (as the list of its modules).
fn find_cycle(g: &Graph) -> Option<Vec<String>> {
    fn visit(n: &str, g: &Graph, state: &mut BTreeMap<String, u8>, stack: &mut Vec<String>) -> Option<Vec<String>> {
        match state.get(n) {
            Some(2) => return None,
            Some(1) => {
                let i = stack.iter().position(|s| s == n).unwrap();
                let mut cycle = stack[i..].to_vec();
                cycle.push(n.to_owned());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(n.to_owned(), 1);
        stack.push(n.to_owned());
        for m in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, g, state, stack) {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(n.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    g.keys().find_map(|n| visit(n, g, &mut state, &mut Vec::new()))
}

fn edge(g: &Graph, from: &str, to: &str) -> bool {
    g.get(from).is_some_and(|s| s.contains(to))
}

#[test]
fn core_modules_import_each_other_one_way() {
    let (top, siblings) = graphs(&crate_sources());
    // The parser sees the real imports (else an empty graph would pass).
    for (a, b) in [("ids", "types"), ("error", "policy"), ("message", "sign"), ("body", "message"), ("node", "body")] {
        assert!(edge(&top, a, b), "{a} -> {b} not found; graph: {top:?}");
    }
    assert_eq!(find_cycle(&top), None, "import cycle between core modules; graph: {top:#?}");
    let node = &siblings[&vec!["node".to_owned()]];
    assert!(edge(node, "recipient", "hub"), "node::recipient -> node::hub not found; graph: {node:?}");
    for (dir, g) in &siblings {
        assert_eq!(find_cycle(g), None, "import cycle between the files of {}; graph: {g:#?}", dir.join("::"));
    }
}

#[test]
fn a_cycle_is_found_and_one_way_imports_pass() {
    let leaf = src("types", "pub struct Party;\n");
    let upper = src("error", "use crate::types::Party;\npub struct E(Party);\n");
    let (top, _) = graphs(&[leaf, upper]);
    assert_eq!(find_cycle(&top), None, "control: one way");
    // The same pair with a back edge in each form the parser must see.
    for back in [
        "use crate::error::E;\n",
        "use crate::{\n    error::E,\n};\n",
        "pub fn f(_: crate::error::E) {}\n",
        "use crate::{\n    types::Party as P,\n    error::{self, E},\n};\n",
    ] {
        let leaf = src("types", &format!("pub struct Party;\n{back}"));
        let upper = src("error", "use crate::types::Party;\npub struct E(Party);\n");
        let (top, _) = graphs(&[leaf, upper]);
        assert!(find_cycle(&top).is_some(), "back edge not seen: {back:?}");
    }
    // Comments and unit tests are not imports.
    for ignored in ["/// see [`crate::error::E`]\n", "#[cfg(test)]\nmod tests {\n    use crate::error::E;\n}\n"] {
        let leaf = src("types", &format!("pub struct Party;\n{ignored}"));
        let upper = src("error", "use crate::types::Party;\npub struct E(Party);\n");
        let (top, _) = graphs(&[leaf, upper]);
        assert_eq!(find_cycle(&top), None, "not an import: {ignored:?}");
    }
}

#[test]
fn a_cycle_between_sibling_files_is_found_and_parent_child_edges_are_not_cycles() {
    let files = |b_uses_a: bool| {
        vec![
            src("node", "mod a;\nmod b;\npub use a::A;\npub struct Node;\n"),
            src("node::a", "use super::b::B;\nuse super::Node;\npub struct A(B, Node);\n"),
            src(
                "node::b",
                if b_uses_a { "use super::a::A;\npub struct B;\n" } else { "use super::Node;\npub struct B;\n" },
            ),
        ]
    };
    let (top, siblings) = graphs(&files(false));
    assert_eq!(find_cycle(&top), None);
    assert_eq!(find_cycle(&siblings[&vec!["node".to_owned()]]), None, "control: a -> b only, both -> parent");
    let (_, siblings) = graphs(&files(true));
    assert!(find_cycle(&siblings[&vec!["node".to_owned()]]).is_some(), "a -> b -> a");
}

fn too_long(files: &[Source]) -> Vec<String> {
    files
        .iter()
        .filter(|f| f.text.lines().count() > MAX_LINES)
        .map(|f| format!("{} ({} lines)", f.module.join("::"), f.text.lines().count()))
        .collect()
}

#[test]
fn no_source_file_is_over_800_lines() {
    let files = crate_sources();
    assert!(files.len() > 10, "read {} files", files.len());
    assert_eq!(too_long(&files), Vec::<String>::new());
    // Control: a file one line over is caught.
    assert_eq!(too_long(&[src("big", &"x\n".repeat(MAX_LINES + 1))]).len(), 1);
    assert!(too_long(&[src("ok", &"x\n".repeat(MAX_LINES))]).is_empty());
}
