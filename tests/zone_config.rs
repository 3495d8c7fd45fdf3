//! Broken and hostile zone configurations given to `verify_cfg`, the way
//! zoneadm gives them (a file path): every one ends with a clear error naming
//! the file and the right exit code — 253 when there is no file to read, 254
//! when it is malformed or breaks a rule — and nothing hangs, leaks a file's
//! contents or eats memory. (Delegated datasets have their own tests.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A folder for one test's files and the installer's run directory.
struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        Dir(tempfile::tempdir().unwrap())
    }

    fn write(&self, name: &str, content: &[u8]) -> PathBuf {
        let p = self.0.path().join(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    fn verify_cfg(&self, xml: &Path) -> Output {
        let started = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_omicron1"))
            .arg("verify_cfg")
            .arg(xml)
            .env("OMICRON1_RUN_DIR", self.0.path().join("run"))
            .env("OMICRON1_ZONES_DIR", self.0.path().join("zones"))
            .output()
            .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "verify_cfg {} took {:?}",
            xml.display(),
            started.elapsed()
        );
        out
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const GOOD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE zone PUBLIC "-//Sun Microsystems Inc//DTD Zones//EN" "file:///usr/share/lib/xml/dtd/zonecfg.dtd.1">
<zone name="oxz_ntp" zonepath="/zones/oxz_ntp" autoboot="false" brand="omicron1" ip-type="exclusive">
  <network physical="ntp0"/>
  <future-element x="1"/>
</zone>
"#;

#[test]
fn a_good_configuration_passes() {
    let d = Dir::new();
    let out = d.verify_cfg(&d.write("good.xml", GOOD.as_bytes()));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // zonecfg always names the brand; without one there is no other brand to refuse.
    let no_brand = GOOD.replace(" brand=\"omicron1\"", "");
    let out = d.verify_cfg(&d.write("nobrand.xml", no_brand.as_bytes()));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn no_file_to_read_is_a_usage_error_253() {
    let d = Dir::new();
    let missing = d.0.path().join("missing.xml");
    let out = d.verify_cfg(&missing);
    assert_eq!(out.status.code(), Some(253), "{}", stderr(&out));
    assert!(stderr(&out).contains("missing.xml"), "{}", stderr(&out));
    let folder = d.0.path().join("folder.xml");
    std::fs::create_dir(&folder).unwrap();
    let out = d.verify_cfg(&folder);
    assert_eq!(out.status.code(), Some(253), "{}", stderr(&out));
    assert!(stderr(&out).contains("folder.xml"), "{}", stderr(&out));
    // No argument at all.
    let out = Command::new(env!("CARGO_BIN_EXE_omicron1"))
        .arg("verify_cfg")
        .env("OMICRON1_RUN_DIR", d.0.path().join("run"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(253), "{}", stderr(&out));
}

#[test]
fn malformed_configurations_exit_254_naming_the_file_and_the_problem() {
    let d = Dir::new();
    let cases: &[(&str, &[u8], &str)] = &[
        ("empty", b"", "malformed"),
        ("not-xml", b"zonename=z\nbrand=omicron1\n", "malformed"),
        ("truncated", &GOOD.as_bytes()[..GOOD.len() / 2], "malformed"),
        (
            "unclosed",
            b"<zone name=\"z\" brand=\"omicron1\" ip-type=\"exclusive\">",
            "malformed",
        ),
        (
            "wrong-root",
            b"<profile name=\"z\"/>",
            "the root element is <profile>, not <zone>",
        ),
        (
            "no-name",
            b"<zone brand=\"omicron1\" ip-type=\"exclusive\"/>",
            "<zone> has no name attribute",
        ),
        (
            "dataset-without-name",
            b"<zone name=\"z\" brand=\"omicron1\" ip-type=\"exclusive\"><dataset/></zone>",
            "a <dataset> element has no name attribute",
        ),
        (
            "not-utf8",
            b"<zone name=\"caf\xe9\" ip-type=\"exclusive\"/>",
            "not UTF-8 text",
        ),
        (
            "nul",
            b"<zone name=\"a\0b\" ip-type=\"exclusive\"/>",
            "malformed",
        ),
        (
            "two-roots",
            b"<zone name=\"a\" ip-type=\"exclusive\"/><zone name=\"b\"/>",
            "malformed",
        ),
    ];
    for (name, content, want) in cases {
        let file = format!("{name}.xml");
        let out = d.verify_cfg(&d.write(&file, content));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(254), "{name}: {err}");
        assert!(err.contains(&file), "{name}: names the file: {err}");
        assert!(err.contains(want), "{name}: wanted {want:?} in {err}");
        assert_eq!(err.lines().count(), 1, "{name}: one line: {err}");
    }
}

#[test]
fn wrong_brand_and_shared_ip_are_refused_with_the_fix() {
    let d = Dir::new();
    let cases: &[(&str, String, &[&str])] = &[
        (
            "sparse",
            GOOD.replace("brand=\"omicron1\"", "brand=\"sparse\""),
            &["brand \"sparse\"", "zonecfg -z oxz_ntp set brand=omicron1"],
        ),
        (
            "lx",
            GOOD.replace("brand=\"omicron1\"", "brand=\"lx\""),
            &["brand \"lx\""],
        ),
        (
            "shared",
            GOOD.replace("ip-type=\"exclusive\"", "ip-type=\"shared\""),
            &[
                "ip-type \"shared\"",
                "zonecfg -z oxz_ntp set ip-type=exclusive",
            ],
        ),
        // zonecfg's default when ip-type is absent is a shared stack.
        (
            "no-ip-type",
            GOOD.replace(" ip-type=\"exclusive\"", ""),
            &["ip-type \"shared\""],
        ),
        (
            "misspelt",
            GOOD.replace("ip-type=\"exclusive\"", "ip-type=\"exclusve\""),
            &["ip-type \"exclusve\""],
        ),
        (
            "both",
            GOOD.replace("brand=\"omicron1\"", "brand=\"ipkg\"")
                .replace("ip-type=\"exclusive\"", "ip-type=\"shared\""),
            &["brand \"ipkg\"", "ip-type \"shared\""],
        ),
    ];
    for (name, xml, wants) in cases {
        let out = d.verify_cfg(&d.write(&format!("{name}.xml"), xml.as_bytes()));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(254), "{name}: {err}");
        for want in *wants {
            assert!(err.contains(want), "{name}: wanted {want:?} in {err}");
        }
    }
}

#[test]
fn entity_tricks_fail_fast_and_leak_nothing() {
    let d = Dir::new();
    // An external entity: its file must not be read into a message.
    let secret = d.write("secret", b"TOP-SECRET-CONTENTS");
    let xxe = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE zone [<!ENTITY x SYSTEM \"file://{}\">]>\n\
         <zone name=\"&x;\" brand=\"omicron1\" ip-type=\"exclusive\"/>\n",
        secret.display()
    );
    // Nested entities ("billion laughs").
    let mut lol = String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE zone [<!ENTITY l0 \"lol\">");
    for i in 1..10 {
        lol.push_str(&format!(
            "<!ENTITY l{i} \"{}\">",
            format!("&l{};", i - 1).repeat(10)
        ));
    }
    lol.push_str("]>\n<zone name=\"&l9;\" brand=\"omicron1\" ip-type=\"exclusive\"/>\n");
    // One large entity referred to many times (the quadratic blowup).
    let quadratic = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE zone [<!ENTITY a \"{}\">]>\n\
         <zone name=\"z\" brand=\"omicron1\" ip-type=\"exclusive\" autoboot=\"{}\"/>\n",
        "A".repeat(100_000),
        "&a;".repeat(20_000)
    );
    for (name, xml) in [("xxe", xxe), ("lol", lol), ("quadratic", quadratic)] {
        let out = d.verify_cfg(&d.write(&format!("{name}.xml"), xml.as_bytes()));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(254), "{name}: {err}");
        assert!(
            err.contains(&format!("{name}.xml is malformed")),
            "{name}: {err}"
        );
        assert!(!err.contains("TOP-SECRET"), "{name}: leaks the file: {err}");
    }
}

#[test]
fn an_oversized_configuration_is_refused_without_reading_it_all() {
    let d = Dir::new();
    let big = d.0.path().join("big.xml");
    let f = std::fs::File::create(&big).unwrap();
    // Sparse: 1 GiB that takes no space.
    f.set_len(1 << 30).unwrap();
    let out = d.verify_cfg(&big);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(254), "{err}");
    assert!(
        err.contains("big.xml is malformed: it is larger than"),
        "{err}"
    );
}
