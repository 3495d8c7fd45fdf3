//! What the installer records in `omicron1:` user properties reads back exactly
//! from real ZFS, whatever the text: an image's `pkg` and `version` from its
//! `oxide.json`, the image's path, the boot identity and the source root — with
//! spaces, quotes, `=`, `%`, newlines, tabs, escape sequences, non-ASCII.
//!
//! The values are read raw with `zfs get -H -p -o value` and decoded here by
//! the README's rule (`%` and control characters stored as `%XX` of their
//! UTF-8 bytes), independently of the installer's own decoder; and the raw
//! values must hold no control character that could break `zfs get`'s
//! line-oriented output.

use std::path::Path;
use std::process::Command;

use omicron1_vm_tests::fixture::{sha256_hex, Entry, Fixture, Layer};
use omicron1_zfs::DatasetName;

/// A text with everything that could break a property or its read-back.
const HOSTILE: &str =
    "we ird \"pkg\" 'q' =a=b %41 %% 100% é ü 日本 \n\t\r\u{1b}[31m \u{7f} \u{85} \\ ; $(x) `y` #";

/// `zfs get -H -p -o value PROP DS`, as stored, without the newline `zfs` adds.
fn raw(ds: &DatasetName, prop: &str) -> String {
    let out = Command::new("/usr/sbin/zfs")
        .args(["get", "-H", "-p", "-o", "value", prop, ds.as_str()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{prop}: {out:?}");
    let text = String::from_utf8(out.stdout).expect("zfs prints UTF-8 here");
    text.strip_suffix('\n').unwrap().to_string()
}

/// The README's decoding: `%XX` is one byte; nothing else is escaped.
fn decode(stored: &str) -> String {
    let b = stored.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// Reads `prop` raw, checks it is one safe line, and decodes it.
fn read_back(ds: &DatasetName, prop: &str) -> String {
    let stored = raw(ds, prop);
    assert!(
        !stored.chars().any(char::is_control),
        "{prop} is stored with a control character: {stored:?}"
    );
    decode(&stored)
}

#[test]
fn hostile_image_fields_read_back_exactly() {
    let f = Fixture::new("rec_image");
    // The image's path: a folder and a file name with the same hostility.
    let dir = f.dir.join(format!("images {HOSTILE}"));
    std::fs::create_dir_all(&dir).unwrap();
    let hostile = dir.join(format!("layer = {HOSTILE}.tar.gz"));
    let meta = serde_json::json!({
        "v": "1",
        "t": "layer",
        "pkg": HOSTILE,
        "version": format!("1.0.0-rc.1+build=7 {HOSTILE}"),
    });
    let mut l = Layer::new(&hostile, &meta.to_string());
    l.entries(&[Entry::File("opt/hostile", b"h\n", 0o644)]);
    l.finish();
    // A second, plain image, to see the numbering.
    let plain = f.image_path("plain");
    let mut l = Layer::layer(&plain, "plain");
    l.entries(&[Entry::File("opt/plain", b"p\n", 0o644)]);
    l.finish();

    let zp = f.zonepath("z1");
    let out = f
        .command()
        .args(["-z", "z1", "-R"])
        .arg(&zp)
        .arg("install")
        .arg(&hostile)
        .arg(&plain)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root = f.root_dataset("z1");
    assert_eq!(read_back(&root, "omicron1:images"), "2");
    assert_eq!(read_back(&root, "omicron1:image.0.pkg"), HOSTILE);
    assert_eq!(
        read_back(&root, "omicron1:image.0.version"),
        format!("1.0.0-rc.1+build=7 {HOSTILE}")
    );
    assert_eq!(
        read_back(&root, "omicron1:image.0.path"),
        hostile.to_str().unwrap(),
        "the image's absolute path"
    );
    assert_eq!(
        read_back(&root, "omicron1:image.0.sha256"),
        sha256_hex(&hostile)
    );
    assert_eq!(read_back(&root, "omicron1:image.1.pkg"), "plain");
    assert_eq!(read_back(&root, "omicron1:image.1.version"), "1.0.0");
    assert_eq!(
        read_back(&root, "omicron1:image.1.path"),
        plain.to_str().unwrap()
    );
    assert_eq!(read_back(&root, "omicron1:state"), "installed");
    assert_eq!(read_back(&root, "omicron1:zone"), "z1");
    assert_eq!(std::fs::read(zp.join("root/opt/hostile")).unwrap(), b"h\n");
}

#[test]
fn a_hostile_boot_identity_and_source_root_read_back_exactly() {
    let f = Fixture::new("rec_template");
    // The fixture's system tree, moved to a hostile path.
    let source = f.dir.join(format!("system {HOSTILE}"));
    std::fs::rename(&f.source_root, &source).unwrap();
    let boot = format!("boot {HOSTILE}");
    let img = f.image_path("app");
    let mut l = Layer::layer(&img, "app");
    l.entries(&[Entry::File("opt/app", b"app\n", 0o644)]);
    l.finish();
    let zp = f.zonepath("z1");
    let run = |args: &[&str], zone: Option<(&str, &Path)>| {
        let mut c = f.command();
        c.env("OMICRON1_BOOT_ID", &boot)
            .env("OMICRON1_SOURCE_ROOT", &source);
        if let Some((zone, zp)) = zone {
            c.args(["-z", zone, "-R"]).arg(zp);
        }
        let out = c.args(args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(&["install", img.to_str().unwrap()], Some(("z1", &zp)));
    let templates = omicron1_zfs::Zfs::children(&f.zfs, &f.templates()).unwrap();
    assert_eq!(templates.len(), 1);
    let t = &templates[0];
    assert_eq!(read_back(t, "omicron1:boot-id"), boot);
    assert_eq!(
        read_back(t, "omicron1:source-root"),
        source.to_str().unwrap()
    );
    assert_eq!(read_back(t, "omicron1:kind"), "template");
    // The installer reads the boot identity back too: the template is this
    // boot's (`current`), and a second install uses it.
    let list = run(
        &[
            "template",
            "list",
            "--pool",
            f.dataset.pool().as_str(),
            "--json",
        ],
        None,
    );
    let list: Vec<serde_json::Value> = serde_json::from_str(&list).unwrap();
    let mine: Vec<&serde_json::Value> =
        list.iter().filter(|e| e["dataset"] == t.as_str()).collect();
    assert_eq!(mine.len(), 1, "{list:?}");
    assert_eq!(mine[0]["boot_id"], boot.as_str());
    assert_eq!(mine[0]["state"], "current");
    let zp2 = f.zonepath("z2");
    let out = run(&["install", img.to_str().unwrap()], Some(("z2", &zp2)));
    assert!(
        out.contains("using template") && !out.contains("building"),
        "{out}"
    );
}
