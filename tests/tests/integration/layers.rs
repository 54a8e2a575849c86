//! Imports point down the layers of `../shared/DESIGN.md`, and no two modules import each other,
//! anywhere in the workspace. Read from the `use` lines and paths of the sources themselves
//! (test modules excluded: a unit test may reach anywhere).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The library's floors, ground first. A module may import from its own floor or below.
/// Webhook notifications are `signals::notify` (called by the guarded commit and the
/// controller), so no floor of the library imports one above it.
const FLOORS: &[&[&str]] = &[
    &["error", "sql"],
    &["catalog"],
    &["store"],
    &["resolve"],
    &["contract"],
    &["signals"],
    &["guard"],
    &["statement"],
    &["session"],
    &["controller"],
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without its `#[cfg(test)]` parts (a test module at the end of a file, or a
/// `#[cfg(test)] mod tests;` line whose file is skipped as a whole) and without comments.
fn production_code(path: &Path) -> Option<String> {
    if path.file_stem().is_some_and(|s| s == "tests") {
        return None;
    }
    let text = std::fs::read_to_string(path).unwrap();
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    Some(
        code.lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// The `name` of every `prefix::name` path in `code`.
fn targets(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices(prefix) {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &code[at + prefix.len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            found.insert(name);
        }
    }
    found
}

/// For each top-level module of a crate's `src`, the other top-level modules it imports.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let Some(code) = production_code(&file) else {
            continue;
        };
        let relative = file.strip_prefix(src).unwrap();
        let first = relative.components().next().unwrap();
        let module = first
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        let edges = graph.entry(module.clone()).or_default();
        for target in targets(&code, "crate::") {
            if target != module {
                edges.insert(target);
            }
        }
        // A file at the top (`shell.rs`) also reaches its siblings through `super::`.
        if relative.components().count() == 1 {
            for target in targets(&code, "super::") {
                edges.insert(target);
            }
        }
    }
    graph
}

/// Pairs of files of one folder (other than its `mod.rs`) that name each other via `super::`.
fn sibling_cycles(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut uses: BTreeMap<(PathBuf, String), BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let stem = file.file_stem().unwrap().to_string_lossy().to_string();
        if stem == "mod" || stem == "lib" || stem == "main" {
            continue;
        }
        let Some(code) = production_code(file) else {
            continue;
        };
        let folder = file.parent().unwrap().to_path_buf();
        uses.insert((folder, stem), targets(&code, "super::"));
    }
    let mut cycles = Vec::new();
    for ((folder, a), targets_a) in &uses {
        for b in targets_a {
            let back = uses.get(&(folder.clone(), b.clone()));
            if a < b && back.is_some_and(|t| t.contains(a)) {
                cycles.push(format!(
                    "{}: {a} and {b} import each other",
                    folder.display()
                ));
            }
        }
    }
    cycles
}

fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut found = Vec::new();
    for (a, targets) in graph {
        for b in targets {
            if a < b && graph.get(b).is_some_and(|t| t.contains(a)) {
                found.push(format!("{a} and {b} import each other"));
            }
        }
    }
    found
}

fn floor(module: &str) -> Option<usize> {
    FLOORS.iter().position(|f| f.contains(&module))
}

#[test]
fn library_imports_point_down_the_layers() {
    let src = workspace().join("datafusion-rollout/src");
    let graph = module_graph(&src);
    let mut faults = cycles(&graph);
    for (module, targets) in &graph {
        for target in targets {
            if let (Some(from), Some(to)) = (floor(module), floor(target))
                && to > from
            {
                faults.push(format!("{module} imports {target}, which sits above it"));
            }
        }
    }
    faults.extend(sibling_cycles(&src));
    assert!(faults.is_empty(), "{}", faults.join("\n"));
    // The check sees what it should: the statement layer uses the guard layer.
    assert!(graph["statement"].contains("guard"), "{graph:?}");
}

#[test]
fn no_two_modules_import_each_other_anywhere() {
    let mut faults = Vec::new();
    for krate in [
        "datafusion-rollout",
        "udfs",
        "sql-shell",
        "python",
        "bench",
        "examples",
    ] {
        let src = workspace().join(krate).join("src");
        if !src.exists() {
            continue;
        }
        faults.extend(
            cycles(&module_graph(&src))
                .into_iter()
                .map(|c| format!("{krate}: {c}")),
        );
        faults.extend(
            sibling_cycles(&src)
                .into_iter()
                .map(|c| format!("{krate}: {c}")),
        );
    }
    assert!(faults.is_empty(), "{}", faults.join("\n"));
}

#[test]
fn the_checks_find_a_cycle_and_an_upward_import() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("catalog")).unwrap();
    std::fs::write(src.join("catalog/mod.rs"), "use crate::statement::Thing;\n").unwrap();
    std::fs::write(src.join("statement.rs"), "use crate::catalog::State;\n").unwrap();
    std::fs::write(src.join("catalog/a.rs"), "use super::b::X;\n").unwrap();
    std::fs::write(src.join("catalog/b.rs"), "use super::a::Y;\n").unwrap();
    let graph = module_graph(src);
    assert_eq!(
        cycles(&graph),
        vec!["catalog and statement import each other"]
    );
    assert!(floor("statement") > floor("catalog"));
    assert_eq!(sibling_cycles(src).len(), 1);
}
