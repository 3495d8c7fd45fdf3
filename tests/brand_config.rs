//! `brand/config.xml` and `brand/platform.xml` agree with the binary: every hook
//! the binary implements is routed to it with the arguments zoneadm must pass,
//! and every routed verb exists in the binary.

use std::path::Path;
use std::process::Command;

use omicron1::cli::HOOK_VERBS;

const BRAND_BIN: &str = "/usr/lib/brand/omicron1/brand";

fn read(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("brand")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// (element name, command text) for every element that calls the brand binary.
fn routed_hooks(xml: &str) -> Vec<(String, String)> {
    let doc = roxmltree::Document::parse_with_options(
        xml,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .expect("config.xml parses");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "brand");
    assert_eq!(root.attribute("name"), Some("omicron1"));
    root.children()
        .filter(|n| n.is_element())
        .filter_map(|n| {
            let text = n.text().unwrap_or("");
            text.starts_with(BRAND_BIN)
                .then(|| (n.tag_name().name().to_string(), text.to_string()))
        })
        .collect()
}

#[test]
fn every_hook_is_routed_with_zoneadm_arguments() {
    let hooks = routed_hooks(&read("config.xml"));
    for verb in HOOK_VERBS {
        let (_, text) = hooks
            .iter()
            .find(|(element, _)| element == verb)
            .unwrap_or_else(|| panic!("hook {verb} is not routed in config.xml"));
        let args = text[BRAND_BIN.len()..].to_string();
        if *verb == "verify_cfg" {
            assert_eq!(
                args, " verify_cfg",
                "verify_cfg gets only the XML file, no -z/-R"
            );
        } else if *verb == "verify_adm" {
            assert_eq!(
                args, " -z %z -R %R verify_adm ",
                "verify_adm needs its trailing space"
            );
        } else {
            assert_eq!(args, format!(" -z %z -R %R {verb}"), "arguments of {verb}");
        }
    }
}

#[test]
fn every_routed_verb_exists_in_the_binary() {
    let hooks = routed_hooks(&read("config.xml"));
    assert!(!hooks.is_empty());
    for (element, text) in hooks {
        let words: Vec<String> = text[BRAND_BIN.len()..]
            .split_whitespace()
            .map(|w| w.replace("%z", "z1").replace("%R", "/zones/z1"))
            .collect();
        let verb = words.last().expect("a verb").clone();
        assert_eq!(verb, element, "element {element} routes to verb {verb}");
        assert!(
            HOOK_VERBS.contains(&verb.as_str()),
            "{verb} is routed but not a hook verb"
        );
        let out = Command::new(env!("CARGO_BIN_EXE_omicron1"))
            .args(&words)
            .arg("--help")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "`omicron1 {} --help` failed: {out:?}",
            words.join(" ")
        );
    }
}

#[test]
fn platform_mounts_system_trees_read_only_and_allows_exclusive_ip() {
    let xml = read("platform.xml");
    let doc = roxmltree::Document::parse_with_options(
        &xml,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .expect("platform.xml parses");
    let root = doc.root_element();
    assert_eq!(root.attribute("name"), Some("omicron1"));
    assert_eq!(root.attribute("allow-exclusive-ip"), Some("true"));
    for tree in ["usr", "lib", "sbin"] {
        let special = format!("/{tree}");
        let mount = root
            .children()
            .filter(|n| n.has_tag_name("global_mount"))
            .find(|n| n.attribute("special") == Some(special.as_str()))
            .unwrap_or_else(|| panic!("no global_mount of {special}"));
        assert_eq!(
            mount.attribute("directory"),
            Some(format!("/system/{tree}").as_str())
        );
        assert_eq!(mount.attribute("type"), Some("lofs"));
        let opts: Vec<&str> = mount.attribute("opt").unwrap_or("").split(',').collect();
        assert!(
            opts.contains(&"ro"),
            "/system/{tree} must be read-only: {opts:?}"
        );
    }
    let zfs_device = root
        .children()
        .any(|n| n.has_tag_name("device") && n.attribute("match") == Some("zfs"));
    assert!(
        zfs_device,
        "the zone needs /dev/zfs for its delegated dataset"
    );
}

#[test]
fn the_template_service_builds_after_the_baseline_with_a_routed_verb() {
    let xml = read("omicron1-template.xml");
    let doc = roxmltree::Document::parse_with_options(
        &xml,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .expect("the SMF manifest parses");
    let service = doc
        .descendants()
        .find(|n| n.has_tag_name("service"))
        .expect("a service");
    assert_eq!(service.attribute("name"), Some("system/omicron1/template"));
    let deps: Vec<&str> = service
        .descendants()
        .filter(|n| n.has_tag_name("service_fmri"))
        .filter_map(|n| n.attribute("value"))
        .collect();
    assert!(
        deps.contains(&"svc:/system/omicron/baseline"),
        "depends on the baseline service: {deps:?}"
    );
    let start = service
        .children()
        .find(|n| n.has_tag_name("exec_method") && n.attribute("name") == Some("start"))
        .and_then(|n| n.attribute("exec"))
        .expect("a start method");
    assert!(
        start.contains(&format!("{BRAND_BIN} template build --pool")),
        "{start}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_omicron1"))
        .args(["template", "build", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("--pool"));
}
