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
fn the_template_service_waits_for_the_baseline_if_any_and_runs_its_method() {
    let xml = read("omicron1-template.xml");
    let doc = parse(&xml);
    let service = doc
        .descendants()
        .find(|n| n.has_tag_name("service"))
        .expect("a service");
    assert_eq!(service.attribute("name"), Some("system/omicron1/template"));
    let dependency = |fmri: &str| {
        service
            .children()
            .filter(|n| n.has_tag_name("dependency"))
            .find(|d| {
                d.children()
                    .any(|f| f.has_tag_name("service_fmri") && f.attribute("value") == Some(fmri))
            })
            .unwrap_or_else(|| panic!("no dependency on {fmri}"))
    };
    // optional_all: a system without the baseline service still starts this one.
    assert_eq!(
        dependency("svc:/system/omicron/baseline").attribute("grouping"),
        Some("optional_all")
    );
    assert_eq!(
        dependency("svc:/system/filesystem/local").attribute("grouping"),
        Some("require_all")
    );
    let start = service
        .children()
        .find(|n| n.has_tag_name("exec_method") && n.attribute("name") == Some("start"))
        .and_then(|n| n.attribute("exec"))
        .expect("a start method");
    assert_eq!(start, "/lib/svc/method/svc-omicron1-template");
    // The pools and parents are multi-valued properties (`property`, not a
    // single `propval` whose spaces would reach the method escaped).
    let config = service
        .children()
        .find(|n| n.has_tag_name("property_group") && n.attribute("name") == Some("config"))
        .expect("a config property group");
    for name in ["pools", "parents"] {
        let prop = config
            .children()
            .find(|n| n.attribute("name") == Some(name))
            .unwrap_or_else(|| panic!("no config/{name}"));
        assert!(
            prop.has_tag_name("property"),
            "config/{name} must be a multi-valued property"
        );
        assert_eq!(prop.attribute("type"), Some("astring"));
    }
    let out = Command::new(env!("CARGO_BIN_EXE_omicron1"))
        .args(["template", "build", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && help.contains("--pool") && help.contains("--parent"));
}

/// Runs the SMF method on the host with stand-ins for `svcprop`,
/// `smf_include.sh` and the brand binary, and returns (exit code, the brand's
/// calls, stderr).
fn run_template_method(pools: &str, parents: &str, failing: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let write = |path: &Path, text: &str| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    // svcprop prints a multi-valued property's values separated by spaces.
    write(
        &bin.join("svcprop"),
        &format!(
            "#!/bin/sh\n[ \"$1\" = -p ] || exit 2\ncase \"$2\" in\n\
             config/pools) echo '{pools}' ;;\nconfig/parents) echo '{parents}' ;;\n\
             *) exit 1 ;;\nesac\n"
        ),
    );
    let include = dir.path().join("smf_include.sh");
    std::fs::write(&include, "SMF_EXIT_OK=0\nSMF_EXIT_ERR_FATAL=95\n").unwrap();
    let calls = dir.path().join("calls");
    let brand = dir.path().join("brand");
    write(
        &brand,
        &format!(
            "#!/bin/sh\necho \"$*\" >> {}\ncase \"$*\" in *'{failing}'*) exit 1 ;; esac\n",
            calls.display()
        ),
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("/bin/sh")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("brand/svc-omicron1-template"))
        .env("PATH", path)
        .env("OMICRON1_SMF_INCLUDE", &include)
        .env("OMICRON1_BRAND_BIN", &brand)
        .env("SMF_FMRI", "svc:/system/omicron1/template:default")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        std::fs::read_to_string(&calls).unwrap_or_default(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_template_method_builds_for_every_value_of_pools_and_parents() {
    let (code, calls, _) = run_template_method("oxp_0 oxp_1", "rpool/zone", "NOTHING");
    assert_eq!(code, 0);
    assert_eq!(
        calls,
        "template build --pool oxp_0\ntemplate build --pool oxp_1\n\
         template build --pool rpool --parent rpool/zone\n"
    );
    // No values: nothing to build, and that is fine.
    let (code, calls, _) = run_template_method("", "", "NOTHING");
    assert_eq!((code, calls.as_str()), (0, ""));
}

#[test]
fn the_template_method_tries_every_entry_and_fails_naming_the_failed_ones() {
    let (code, calls, stderr) = run_template_method("oxp_0 oxp_1", "", "oxp_0");
    assert_eq!(code, 95, "SMF_EXIT_ERR_FATAL");
    assert_eq!(calls.lines().count(), 2, "oxp_1 is still tried: {calls}");
    assert!(
        stderr.contains("pool:oxp_0") && !stderr.contains("oxp_1"),
        "{stderr}"
    );
}

/// How often an element may occur at its place in a DTD sequence.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Occurs {
    /// Exactly once.
    One,
    /// `?`: at most once.
    Optional,
    /// `+`: once or more.
    OneOrMore,
}

/// The content model of `<brand>` in illumos's `brand.dtd.1` (illumos-gate
/// `usr/src/lib/libbrand/dtd/brand.dtd.1`, also in `../shared/reference/illumos/`),
/// written down so that a clone without that folder checks it too:
///
/// ```text
/// (modname?, initname, login_cmd, forcedlogin_cmd, user_cmd, install,
///  installopts?, boot?, sysboot?, halt?, shutdown?, verify_cfg?, verify_adm?,
///  postattach?, postclone?, postinstall?, predetach?, attach?, detach?, clone?,
///  presnap?, postsnap?, validatesnap?, preuninstall?, uninstall?,
///  prestatechange?, poststatechange?, query?, privilege+)
/// ```
///
/// libbrand's `brand_open` validates `config.xml` against it; a file out of
/// this order makes the brand unusable ("missing or invalid brand").
const BRAND_CONTENT_MODEL: &[(&str, Occurs)] = &[
    ("modname", Occurs::Optional),
    ("initname", Occurs::One),
    ("login_cmd", Occurs::One),
    ("forcedlogin_cmd", Occurs::One),
    ("user_cmd", Occurs::One),
    ("install", Occurs::One),
    ("installopts", Occurs::Optional),
    ("boot", Occurs::Optional),
    ("sysboot", Occurs::Optional),
    ("halt", Occurs::Optional),
    ("shutdown", Occurs::Optional),
    ("verify_cfg", Occurs::Optional),
    ("verify_adm", Occurs::Optional),
    ("postattach", Occurs::Optional),
    ("postclone", Occurs::Optional),
    ("postinstall", Occurs::Optional),
    ("predetach", Occurs::Optional),
    ("attach", Occurs::Optional),
    ("detach", Occurs::Optional),
    ("clone", Occurs::Optional),
    ("presnap", Occurs::Optional),
    ("postsnap", Occurs::Optional),
    ("validatesnap", Occurs::Optional),
    ("preuninstall", Occurs::Optional),
    ("uninstall", Occurs::Optional),
    ("prestatechange", Occurs::Optional),
    ("poststatechange", Occurs::Optional),
    ("query", Occurs::Optional),
    ("privilege", Occurs::OneOrMore),
];

/// Checks a sequence of element names against a DTD sequence content model
/// whose names are all distinct (as in `brand.dtd.1`). Returns the first
/// violation.
fn check_sequence(children: &[&str], model: &[(&str, Occurs)]) -> Result<(), String> {
    let mut at = 0; // the model item the next child may match
    let mut seen_at = false; // whether model[at] has matched already
    for (i, child) in children.iter().enumerate() {
        if i > 0 && model[..at].iter().any(|(name, _)| name == child) {
            return Err(format!(
                "<{child}> (child {}) comes after <{}>, but the DTD puts it before",
                i + 1,
                children[i - 1]
            ));
        }
        loop {
            let Some(&(name, occurs)) = model.get(at) else {
                return Err(format!(
                    "<{child}> (child {}) comes after everything the DTD allows, \
                     or out of order",
                    i + 1
                ));
            };
            if name == *child && !(seen_at && occurs != Occurs::OneOrMore) {
                seen_at = true;
                break;
            }
            if occurs != Occurs::Optional && !seen_at {
                return Err(format!(
                    "<{child}> (child {}) where the DTD wants <{name}>",
                    i + 1
                ));
            }
            at += 1;
            seen_at = false;
        }
    }
    if let Some((name, _)) = model[at..]
        .iter()
        .enumerate()
        .find(|&(k, (_, occurs))| *occurs != Occurs::Optional && !(k == 0 && seen_at))
        .map(|(_, item)| item)
    {
        return Err(format!("<{name}> is missing at the end"));
    }
    Ok(())
}

fn parse(xml: &str) -> roxmltree::Document<'_> {
    roxmltree::Document::parse_with_options(
        xml,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .expect("the brand file parses")
}

#[test]
fn the_sequence_checker_rejects_what_the_dtd_rejects() {
    let model = &[
        ("a", Occurs::Optional),
        ("b", Occurs::One),
        ("c", Occurs::Optional),
        ("d", Occurs::OneOrMore),
    ];
    assert_eq!(check_sequence(&["b", "d"], model), Ok(()));
    assert_eq!(check_sequence(&["a", "b", "c", "d", "d"], model), Ok(()));
    for bad in [
        &["a", "d"][..],           // b missing
        &["b", "c"][..],           // d missing
        &["c", "b", "d"][..],      // out of order
        &["b", "b", "d"][..],      // b twice
        &["b", "d", "c"][..],      // c after d
        &["b", "d", "zzz"][..],    // unknown element
        &["a", "a", "b", "d"][..], // a twice
    ] {
        assert!(check_sequence(bad, model).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn config_xml_follows_the_brand_dtd_content_model() {
    let xml = read("config.xml");
    let doc = parse(&xml);
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "brand");
    let children: Vec<&str> = root
        .children()
        .filter(|n| n.is_element())
        .map(|n| n.tag_name().name())
        .collect();
    if let Err(e) = check_sequence(&children, BRAND_CONTENT_MODEL) {
        panic!("brand/config.xml breaks brand.dtd.1's order for <brand>: {e}");
    }
    // Attributes: only <privilege> has any (brand.dtd.1's ATTLISTs).
    for n in root.children().filter(|n| n.is_element()) {
        let name = n.tag_name().name();
        if name != "privilege" {
            assert_eq!(n.attributes().len(), 0, "<{name}> takes no attributes");
            continue;
        }
        for a in n.attributes() {
            let ok = match a.name() {
                "set" => ["default", "prohibited", "required"].contains(&a.value()),
                "name" => !a.value().is_empty(),
                "ip-type" => ["shared", "exclusive"].contains(&a.value()),
                _ => false,
            };
            assert!(
                ok,
                "<privilege {}=\"{}\"> breaks brand.dtd.1",
                a.name(),
                a.value()
            );
        }
        assert!(n.attribute("set").is_some() && n.attribute("name").is_some());
    }
}

#[test]
fn platform_xml_follows_the_zone_platform_dtd() {
    let xml = read("platform.xml");
    let doc = parse(&xml);
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "platform");
    assert!(["true", "false"].contains(&root.attribute("allow-exclusive-ip").unwrap_or("")));
    // zone_platform.dtd.1: (device | global_mount | mount | symlink)*, each EMPTY.
    for n in root.children().filter(|n| n.is_element()) {
        let name = n.tag_name().name();
        let (required, optional): (&[&str], &[&str]) = match name {
            "device" => (&["match"], &["name", "arch", "ip-type"]),
            "symlink" => (&["source", "target"], &[]),
            "global_mount" | "mount" => (&["special", "directory", "type"], &["opt"]),
            other => panic!("<{other}> is not allowed in <platform> by zone_platform.dtd.1"),
        };
        assert!(
            !n.children().any(|c| c.is_element()),
            "<{name}> is EMPTY in zone_platform.dtd.1"
        );
        for r in required {
            assert!(n.attribute(*r).is_some(), "<{name}> needs {r}");
        }
        for a in n.attributes() {
            assert!(
                required.contains(&a.name()) || optional.contains(&a.name()),
                "<{name} {}> is not in zone_platform.dtd.1",
                a.name()
            );
            match a.name() {
                "arch" => assert!(["sparc", "i386"].contains(&a.value())),
                "ip-type" => assert!(["shared", "exclusive"].contains(&a.value())),
                _ => {}
            }
        }
    }
}
