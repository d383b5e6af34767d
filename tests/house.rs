//! The code's rooms (issue HOUSE): which file of `src/` imports which, read from their
//! `crate::` and `super::` paths, and the import circles between files. A circle means two
//! files each need the other: neither can be read, moved or tested alone. The circles still
//! there are listed below and may only go away; a new one fails this test with its files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Circles not untied yet (each named by its files, sorted); the list only shrinks, and is
/// empty now: a circle that comes back fails the test.
const KNOWN: &[&[&str]] = &[];

/// Every `.rs` file under `dir`.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file (`src/a/b.rs` and `src/a/b/mod.rs` are `a::b`).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The code of a file without comments, strings and `#[cfg(test)]` modules at its end.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or("");
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The `use` trees of a file (what follows `use`, to its `;`), and whether each is re-exported
/// (`pub use`, `pub(crate) use`; `pub(super) use` is not a re-export to the crate).
fn use_trees(code: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let mut lines = code.lines();
    while let Some(line) = lines.next() {
        let line = line.trim_start();
        let (public, line) = match line
            .strip_prefix("pub ")
            .or_else(|| line.strip_prefix("pub(crate) "))
        {
            Some(rest) => (true, rest),
            None => (false, line.strip_prefix("pub(super) ").unwrap_or(line)),
        };
        let Some(tree) = line.strip_prefix("use ") else {
            continue;
        };
        let mut tree = tree.to_string();
        while !tree.contains(';') {
            match lines.next() {
                Some(more) => tree.push_str(more),
                None => break,
            }
        }
        out.push((public, tree.split(';').next().unwrap_or("").to_string()));
    }
    out
}

/// Every path a file names: `use` trees expanded (`a::{b, c::d}` is `a::b` and `a::c::d`) and
/// paths written in the code.
fn paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut uses = Vec::new();
    for (_, tree) in use_trees(code) {
        expand("", &tree, &mut uses);
    }
    // Paths through the file's own child modules (`mod steps;` then `steps::critical`).
    let children: Vec<String> = code
        .lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let l = l.strip_prefix("pub ").unwrap_or(l);
            let l = l.strip_prefix("pub(crate) ").unwrap_or(l);
            let name = l.strip_prefix("mod ")?.strip_suffix(';')?;
            Some(format!("{name}::"))
        })
        .collect();
    let bytes = code.as_bytes();
    let roots: Vec<&str> = ["crate::", "super::"]
        .into_iter()
        .chain(children.iter().map(String::as_str))
        .collect();
    // A module's own children are its rooms, not imports (`mod x; pub use x::Item;`).
    out.extend(uses.into_iter().filter(|path| {
        let first = path.split("::").next().unwrap_or("");
        !children.iter().any(|c| c.trim_end_matches(':') == first)
    }));
    for root in roots {
        let mut from = 0;
        while let Some(i) = code[from..].find(root) {
            let start = from + i;
            let before = start.checked_sub(1).map(|b| bytes[b] as char);
            let mut end = start;
            while end < bytes.len()
                && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_' || bytes[end] == b':')
            {
                end += 1;
            }
            if before.is_none_or(|c| !c.is_alphanumeric() && c != '_' && c != ':') {
                let path = code[start..end].trim_end_matches(':');
                if matches!(root, "crate::" | "super::") {
                    out.push(path.to_string());
                }
            }
            from = end.max(start + root.len());
        }
    }
    out
}

/// Expands one `use` tree under `prefix`.
fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    // `a as b` names `a`; spaces go.
    let tree: String = tree
        .split(" as ")
        .enumerate()
        .map(|(i, part)| match i {
            0 => part.to_string(),
            _ => part
                .trim_start()
                .trim_start_matches(|c: char| c.is_alphanumeric() || c == '_')
                .to_string(),
        })
        .collect::<String>()
        .split_whitespace()
        .collect();
    let Some(open) = tree.find('{') else {
        out.push(format!("{prefix}{tree}"));
        return;
    };
    let head = &tree[..open];
    let body = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut depth = 0;
    let mut item = String::new();
    for c in body.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                expand(&format!("{prefix}{head}"), &item, out);
                item.clear();
                continue;
            }
            _ => {}
        }
        item.push(c);
    }
    if !item.is_empty() {
        expand(&format!("{prefix}{head}"), &item, out);
    }
}

/// What each module re-exports from its children: (module, name) -> the child's module.
type Reexports = BTreeMap<(Vec<String>, String), Vec<String>>;

/// The `pub use child::…` lines of a module's file, as [`Reexports`].
fn reexports(module: &[String], code: &str, out: &mut Reexports) {
    for (public, tree) in use_trees(code) {
        if !public {
            continue;
        }
        let mut paths = Vec::new();
        expand("", &tree, &mut paths);
        for path in paths {
            let mut parts: Vec<&str> = path.split("::").collect();
            if parts.first() == Some(&"self") {
                parts.remove(0);
            }
            if parts.len() < 2 || matches!(parts[0], "crate" | "super") {
                continue;
            }
            let name = parts[parts.len() - 1].to_string();
            let mut child = module.to_vec();
            child.extend(parts[..parts.len() - 1].iter().map(|p| (*p).to_string()));
            out.insert((module.to_vec(), name), child);
        }
    }
}

/// The file a path leads to from a file of module `here`: the longest prefix of it that is a
/// module of a file, or the child a module re-exports the next name from.
fn target(
    here: &[String],
    path: &str,
    modules: &BTreeMap<Vec<String>, String>,
    reexported: &Reexports,
) -> Option<String> {
    let mut parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
    let mut module: Vec<String> = match parts.first() {
        Some(&"crate") => {
            parts.remove(0);
            Vec::new()
        }
        Some(&"self") => {
            parts.remove(0);
            here.to_vec()
        }
        Some(&"super") => {
            let mut m = here.to_vec();
            while parts.first() == Some(&"super") {
                parts.remove(0);
                m.pop();
            }
            m
        }
        _ => return None,
    };
    let mut found = modules.get(&module).cloned();
    for part in parts {
        if let Some(child) = reexported.get(&(module.clone(), part.to_string())) {
            let mut longest = child.clone();
            while !longest.is_empty() && !modules.contains_key(&longest) {
                longest.pop();
            }
            return modules.get(&longest).cloned().or(found);
        }
        module.push(part.to_string());
        match modules.get(&module) {
            Some(file) => found = Some(file.clone()),
            None => break,
        }
    }
    found
}

/// The strongly connected groups of more than one file (Tarjan).
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(w: &mut Walk<'a>, v: &'a str) {
        let i = w.index.len();
        w.index.insert(v, i);
        w.low.insert(v, i);
        w.stack.push(v);
        w.on.insert(v);
        for next in w.graph.get(v).into_iter().flatten() {
            let next = next.as_str();
            if !w.index.contains_key(next) {
                visit(w, next);
                let l = w.low[next].min(w.low[v]);
                w.low.insert(v, l);
            } else if w.on.contains(next) {
                let l = w.index[next].min(w.low[v]);
                w.low.insert(v, l);
            }
        }
        if w.low[v] == w.index[v] {
            let mut group = Vec::new();
            while let Some(top) = w.stack.pop() {
                w.on.remove(top);
                group.push(top.to_string());
                if top == v {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                w.out.push(group);
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !walk.index.contains_key(v.as_str()) {
            visit(&mut walk, v);
        }
    }
    walk.out
}

/// File -> the files it imports.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let name = |f: &Path| {
        f.strip_prefix(&src)
            .expect("under src")
            .to_string_lossy()
            .into_owned()
    };
    let modules: BTreeMap<Vec<String>, String> = all
        .iter()
        .filter(|f| !f.ends_with("main.rs"))
        .map(|f| (module_of(&src, f), name(f)))
        .collect();
    let texts: Vec<(PathBuf, String)> = all
        .iter()
        .map(|f| {
            (
                f.clone(),
                code(&std::fs::read_to_string(f).expect("readable")),
            )
        })
        .collect();
    let mut reexported = Reexports::new();
    for (file, code) in &texts {
        reexports(&module_of(&src, file), code, &mut reexported);
    }
    let mut graph = BTreeMap::new();
    for (file, code) in &texts {
        let here = module_of(&src, file);
        let me = name(file);
        let targets: BTreeSet<String> = paths(code)
            .iter()
            .filter_map(|p| target(&here, p, &modules, &reexported))
            // A module's own children (`mod.rs` naming `super::` from below is theirs).
            .filter(|t| *t != me)
            .collect();
        graph.insert(me, targets);
    }
    graph
}

#[test]
fn no_import_circle_between_files_of_src_but_the_known_ones_still_shrinking() {
    let found = circles(&imports());
    let known: BTreeSet<Vec<String>> = KNOWN
        .iter()
        .map(|c| c.iter().map(|s| (*s).to_string()).collect())
        .collect();
    let new: Vec<&Vec<String>> = found.iter().filter(|c| !known.contains(*c)).collect();
    assert!(
        new.is_empty(),
        "files that import each other (move what both need into a module of its own): {new:#?}"
    );
    let gone: Vec<&Vec<String>> = known.iter().filter(|c| !found.contains(*c)).collect();
    assert!(
        gone.is_empty(),
        "these circles are untied: take them off KNOWN in tests/house.rs: {gone:#?}"
    );
}

#[test]
fn the_circle_finder_sees_a_circle_and_a_chain() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec!["a"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(str::to_string).collect()))
    .collect();
    assert_eq!(circles(&graph), vec![vec!["a", "b", "c"]]);
    let mut out = Vec::new();
    expand("", "super::{Shared, wire::{self, Piece}}", &mut out);
    assert_eq!(
        out,
        vec!["super::Shared", "super::wire::self", "super::wire::Piece"]
    );
}

#[test]
fn no_file_of_src_is_over_500_lines() {
    let long: Vec<(String, usize)> = imports()
        .keys()
        .map(|f| {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(f);
            let lines = std::fs::read_to_string(path)
                .expect("readable")
                .lines()
                .count();
            (f.clone(), lines)
        })
        .filter(|(_, n)| *n > 500)
        .collect();
    assert!(long.is_empty(), "split these by responsibility: {long:?}");
}
