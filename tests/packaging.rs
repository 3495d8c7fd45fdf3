//! `pkg/omicron1.p5m`, the IPS manifest, delivers what the brand needs: every
//! path that `brand/config.xml`, the SMF manifest and its method name under
//! the brand's own directories is delivered, every delivered file's source
//! exists in the repository (or is the binary cargo builds), every file of
//! `brand/` that belongs on a system is delivered, and the SMF manifest is
//! delivered where manifest-import finds it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn top() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    let path = top().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One action of a p5m manifest: its name, the source of a `file` action
/// (the positional argument), and its attributes.
#[derive(Debug)]
struct Action {
    name: String,
    source: Option<String>,
    attrs: BTreeMap<String, String>,
}

/// Splits one action line into words, keeping `key="a value"` together.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    assert!(!quoted, "unbalanced quote in: {line}");
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Parses a p5m manifest: `#` comments, `\` continuation lines.
fn parse_p5m(text: &str) -> Vec<Action> {
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if current.is_empty() && (line.is_empty() || line.starts_with('#')) {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
        } else {
            current.push_str(line);
            joined.push(std::mem::take(&mut current));
        }
    }
    assert!(
        current.is_empty(),
        "the manifest ends in a continuation line"
    );
    joined
        .iter()
        .map(|line| {
            let mut w = words(line).into_iter();
            let name = w.next().expect("an action name");
            let mut source = None;
            let mut attrs = BTreeMap::new();
            for word in w {
                match word.split_once('=') {
                    Some((k, v)) => {
                        let old = attrs.insert(k.to_string(), v.to_string());
                        assert!(old.is_none(), "{k} given twice in: {line}");
                    }
                    None => {
                        assert!(source.is_none(), "two sources in: {line}");
                        source = Some(word);
                    }
                }
            }
            Action {
                name,
                source,
                attrs,
            }
        })
        .collect()
}

fn manifest() -> Vec<Action> {
    parse_p5m(&read("pkg/omicron1.p5m"))
}

/// Every delivered path (files, directories, links), without the leading `/`.
fn delivered(actions: &[Action]) -> BTreeMap<String, &Action> {
    actions
        .iter()
        .filter(|a| ["file", "dir", "link", "hardlink"].contains(&a.name.as_str()))
        .map(|a| {
            let path = a.attrs.get("path").expect("a path").clone();
            assert!(!path.starts_with('/'), "{path}: IPS paths are relative");
            (path, a)
        })
        .collect()
}

/// Absolute paths in `text` under the brand's own places on the system.
fn brand_paths(text: &str) -> Vec<String> {
    const OURS: &[&str] = &[
        "/usr/lib/brand/omicron1/",
        "/lib/svc/method/",
        "/lib/svc/manifest/",
        "/usr/sbin/omicron1",
    ];
    text.split(|c: char| !(c.is_ascii_alphanumeric() || "_./-".contains(c)))
        .map(|w| w.trim_end_matches('.'))
        .filter(|w| OURS.iter().any(|p| w.starts_with(p)))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_p5m_parser_reads_continuations_quotes_and_sources() {
    let actions = parse_p5m(
        "# comment\nset name=pkg.summary value=\"two words\"\n\
         file src/a path=usr/a \\\n    mode=0444\n",
    );
    assert_eq!(actions.len(), 2);
    assert_eq!(actions[0].attrs["value"], "two words");
    assert_eq!(actions[1].source.as_deref(), Some("src/a"));
    assert_eq!(actions[1].attrs["mode"], "0444");
}

#[test]
fn every_path_the_brand_files_name_is_delivered() {
    let actions = manifest();
    let paths = delivered(&actions);
    let mut named = Vec::new();
    for file in [
        "brand/config.xml",
        "brand/platform.xml",
        "brand/omicron1-template.xml",
        "brand/svc-omicron1-template",
    ] {
        for p in brand_paths(&read(file)) {
            named.push((file, p));
        }
    }
    // The hooks' binary and the service's method must be among them.
    for must in [
        "/usr/lib/brand/omicron1/brand",
        "/lib/svc/method/svc-omicron1-template",
    ] {
        assert!(
            named.iter().any(|(_, p)| p == must),
            "no brand file names {must}: {named:?}"
        );
    }
    for (file, p) in named {
        let rel = &p[1..];
        let action = paths
            .get(rel)
            .unwrap_or_else(|| panic!("{file} names {p}, which pkg/omicron1.p5m does not deliver"));
        if p == "/usr/lib/brand/omicron1/brand" || p.starts_with("/lib/svc/method/") {
            assert_eq!(action.name, "file", "{p}");
            assert_eq!(
                action.attrs.get("mode").map(String::as_str),
                Some("0555"),
                "{p} must be executable"
            );
        }
    }
}

#[test]
fn every_delivered_file_exists_in_the_repository_or_the_build() {
    let actions = manifest();
    for a in actions.iter().filter(|a| a.name == "file") {
        let path = &a.attrs["path"];
        let source = a
            .source
            .as_deref()
            .unwrap_or_else(|| panic!("file {path} names no source"));
        for attr in ["owner", "group", "mode"] {
            assert!(a.attrs.contains_key(attr), "file {path} has no {attr}");
        }
        if let Some(binary) = source.strip_prefix("target/release/") {
            // Built by cargo: this test's own build of the same binary exists.
            assert_eq!(
                binary, "omicron1",
                "{source} is not a binary of this workspace"
            );
            assert!(Path::new(env!("CARGO_BIN_EXE_omicron1")).is_file());
            continue;
        }
        assert!(
            top().join(source).is_file(),
            "{source} (delivered as {path}) is not in the repository"
        );
    }
}

#[test]
fn every_file_of_brand_that_belongs_on_a_system_is_delivered() {
    let actions = manifest();
    let sources: Vec<&str> = actions.iter().filter_map(|a| a.source.as_deref()).collect();
    // validate.sh checks the XML files at build time; it is not for a system.
    let dev_only = ["brand/validate.sh"];
    for entry in std::fs::read_dir(top().join("brand")).unwrap() {
        let name = entry.unwrap().file_name();
        let rel = format!("brand/{}", name.to_string_lossy());
        if dev_only.contains(&rel.as_str()) {
            continue;
        }
        assert!(
            sources.contains(&rel.as_str()),
            "{rel} is not delivered by pkg/omicron1.p5m"
        );
    }
}

#[test]
fn the_smf_manifest_is_imported_and_the_command_is_in_the_path() {
    let actions = manifest();
    let paths = delivered(&actions);
    let smf: Vec<&&Action> = paths
        .iter()
        .filter(|(p, a)| a.name == "file" && p.starts_with("lib/svc/manifest/"))
        .map(|(_, a)| a)
        .collect();
    assert_eq!(smf.len(), 1, "one SMF manifest");
    assert!(smf[0].attrs["path"].starts_with("lib/svc/manifest/system/"));
    assert_eq!(
        smf[0].attrs.get("restart_fmri").map(String::as_str),
        Some("svc:/system/manifest-import:default"),
        "manifest-import must import it on install"
    );
    let link = paths
        .get("usr/sbin/omicron1")
        .expect("an omicron1 command in /usr/sbin");
    assert_eq!(link.name, "link");
    let target = Path::new("usr/sbin").join(&link.attrs["target"]);
    let mut resolved = PathBuf::new();
    for c in target.components() {
        match c {
            std::path::Component::ParentDir => {
                resolved.pop();
            }
            c => resolved.push(c),
        }
    }
    assert_eq!(resolved, Path::new("usr/lib/brand/omicron1/brand"));
    assert!(
        paths.contains_key("usr/share/man/man7/omicron1.7"),
        "the man page"
    );
    for a in paths.values().filter(|a| a.name == "file") {
        let parent = Path::new(&a.attrs["path"])
            .parent()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            paths.contains_key(&parent) || !parent.starts_with("usr/lib/brand/omicron1"),
            "{parent} is not delivered"
        );
    }
}
