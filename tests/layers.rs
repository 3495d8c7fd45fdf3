//! The layer rule of `src/lib.rs` (and of `architecture.md`'s "Who may import
//! whom"), checked on the source: every `crate::` path of every file under
//! `src/` names a module its layer may import, and the files of one folder
//! import each other without a cycle. So the layers cannot grow back into the
//! import circle they replaced.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Each layer of `src/` (a folder, or a top-level file) and the layers it may
/// import. `verbs` may import every other layer but `cli`'s parser only
/// (`cli` imports nothing of the crate).
const MAY_IMPORT: &[(&str, &[&str])] = &[
    ("cli", &[]),
    (
        "verbs",
        &[
            "cli",
            "zone_root",
            "template",
            "rootfs",
            "image",
            "delegated",
            "zone",
            "props",
            "support",
        ],
    ),
    (
        "zone_root",
        &[
            "template",
            "rootfs",
            "image",
            "delegated",
            "zone",
            "props",
            "support",
        ],
    ),
    ("template", &["rootfs", "image", "zone", "props", "support"]),
    ("delegated", &["zone", "support"]),
    ("rootfs", &["image", "support"]),
    ("image", &["support"]),
    ("zone", &[]),
    ("props", &[]),
    ("support", &[]),
];

/// Layers that know directories, not ZFS: they may not use the `zfs` crate.
const NO_ZFS: &[&str] = &["rootfs", "image", "support", "props", "cli"];

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without comments (`//` to the end of the line; the
/// sources have no block comments) and without string literals' contents.
fn code(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let mut in_string = false;
        let mut prev = ' ';
        let mut kept = String::new();
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if !in_string && c == '/' && chars.get(i + 1) == Some(&'/') {
                break;
            }
            if c == '"' && prev != '\\' {
                in_string = !in_string;
                kept.push(c);
            } else if !in_string {
                kept.push(c);
            }
            prev = if prev == '\\' && c == '\\' { ' ' } else { c };
            i += 1;
        }
        out.push_str(&kept);
        out.push('\n');
    }
    out
}

/// The first identifier of each item of the path that starts right after
/// `prefix` at every place `prefix` occurs: `crate::a::b` gives `a`,
/// `super::{a::x, b}` gives `a` and `b`.
fn heads(code: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().last();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `foo_crate::`, not `crate::`
        }
        if let Some(group) = rest.strip_prefix('{') {
            // Split the group at its top-level commas.
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push(first_ident(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            out.push(first_ident(&item));
        } else {
            out.push(first_ident(rest));
        }
    }
    out.retain(|h| !h.is_empty());
    out
}

/// Whether `word` occurs in `text` not as the end of a longer identifier.
fn contains_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().last();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
            && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

fn first_ident(text: &str) -> String {
    text.trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The layer of a file under `src/`: its folder, or its stem at the top.
fn layer(rel: &Path) -> String {
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

#[test]
fn every_crate_import_follows_the_layer_table() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    let table: BTreeMap<&str, &[&str]> = MAY_IMPORT.iter().copied().collect();
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let from = layer(rel);
        if from == "lib" || from == "main" {
            continue; // the module list and `main`'s hand-over
        }
        let allowed = table
            .get(from.as_str())
            .unwrap_or_else(|| panic!("{}: layer {from} is not in the table", rel.display()));
        let text = code(&fs::read_to_string(file).unwrap());
        for to in heads(&text, "crate::") {
            checked += 1;
            if to != from && !allowed.contains(&to.as_str()) {
                broken.push(format!("{}: {from} imports {to}", rel.display()));
            }
        }
        if NO_ZFS.contains(&from.as_str()) && text.contains("omicron1_zfs") {
            broken.push(format!("{}: {from} uses the zfs crate", rel.display()));
        }
        if from == "zone" && text.contains("dyn Zfs") {
            broken.push(format!("{}: zone calls Zfs", rel.display()));
        }
        if from != "verbs" && from != "cli" {
            for word in ["clap::", "Exit::", "Failure"] {
                if contains_word(&text, word) {
                    broken.push(format!("{}: {from} names {word}", rel.display()));
                }
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} crate:: paths found: is the parser right?"
    );
    assert!(
        broken.is_empty(),
        "imports against the layer rule:\n{}",
        broken.join("\n")
    );
}

/// Within a folder, the files other than `mod.rs` (which declares them and
/// holds what they share) import each other without a cycle.
#[test]
fn no_import_cycle_between_the_files_of_a_folder() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    // folder -> file stem -> sibling stems it imports
    let mut graphs: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let Some(folder) = rel.parent().filter(|p| !p.as_os_str().is_empty()) else {
            continue;
        };
        let stem = rel.file_stem().unwrap().to_string_lossy().to_string();
        if stem == "mod" {
            continue;
        }
        let folder_name = folder.to_string_lossy().to_string();
        let siblings: BTreeSet<String> = fs::read_dir(file.parent().unwrap())
            .unwrap()
            .filter_map(|e| {
                let p = e.unwrap().path();
                let s = p.file_stem()?.to_string_lossy().to_string();
                (p.extension().is_some_and(|x| x == "rs") && s != "mod").then_some(s)
            })
            .collect();
        let text = code(&fs::read_to_string(file).unwrap());
        let crate_prefix = format!("crate::{}::", folder_name.replace('/', "::"));
        let mut to: BTreeSet<String> = heads(&text, "super::").into_iter().collect();
        to.extend(heads(&text, &crate_prefix));
        to.retain(|t| siblings.contains(t) && *t != stem);
        graphs.entry(folder_name).or_default().insert(stem, to);
    }
    assert!(graphs.contains_key("template") && graphs.contains_key("delegated"));
    for (folder, graph) in &graphs {
        // Depth-first search for a back edge.
        fn visit(
            node: &str,
            graph: &BTreeMap<String, BTreeSet<String>>,
            path: &mut Vec<String>,
            done: &mut BTreeSet<String>,
        ) -> Option<Vec<String>> {
            if let Some(i) = path.iter().position(|n| n == node) {
                let mut cycle = path[i..].to_vec();
                cycle.push(node.to_string());
                return Some(cycle);
            }
            if done.contains(node) {
                return None;
            }
            path.push(node.to_string());
            for next in graph.get(node).into_iter().flatten() {
                if let Some(cycle) = visit(next, graph, path, done) {
                    return Some(cycle);
                }
            }
            path.pop();
            done.insert(node.to_string());
            None
        }
        let mut done = BTreeSet::new();
        for node in graph.keys() {
            if let Some(cycle) = visit(node, graph, &mut Vec::new(), &mut done) {
                panic!("import cycle in src/{folder}: {}", cycle.join(" -> "));
            }
        }
    }
}

#[test]
fn the_parser_finds_grouped_and_nested_paths() {
    let text = code(
        "use crate::a::b;\nuse super::{c::{d, e}, f};\nlet x = my_crate::g; // crate::h\n\
         let s = \"crate::i\"; crate::j::k();",
    );
    assert_eq!(heads(&text, "crate::"), ["a", "j"]);
    assert_eq!(heads(&text, "super::"), ["c", "f"]);
    assert!(contains_word("x: Failure)", "Failure"));
    assert!(!contains_word("InstallFailure", "Failure"));
}
