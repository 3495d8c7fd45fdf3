//! What an install records on the zone root, on the fake: the images in order
//! (`omicron1:images`, `omicron1:image.N.{path,sha256,pkg,version}`), escaped so
//! that hostile `oxide.json` text and paths read back exactly, and the zone's
//! own properties from the clone. The VM suite reads the same from real ZFS
//! (`vm-tests/tests/records.rs`).

mod pipeline;

use std::io::Write;
use std::path::{Path, PathBuf};

use omicron1::props;
use omicron1_zfs::{ObjectName, Zfs};
use pipeline::World;
use sha2::{Digest, Sha256};

const HOSTILE: &str = "a b \"q\" =x %41 100% é 日本 \n\t\u{1b}[0m \u{7f} \u{85} end";

/// A layer with this `oxide.json` and one file, at `path`.
fn layer(path: &Path, meta: &serde_json::Value) -> PathBuf {
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    let json = meta.to_string();
    let header = |size: usize| {
        let mut h = tar::Header::new_gnu();
        h.set_size(size as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_500_000_000);
        h
    };
    let mut h = header(json.len());
    tar.append_data(&mut h, "oxide.json", json.as_bytes())
        .unwrap();
    let mut h = header(2);
    tar.append_data(&mut h, "root/opt/x", &b"x\n"[..]).unwrap();
    tar.into_inner().unwrap().finish().unwrap().flush().unwrap();
    path.to_path_buf()
}

fn sha256(path: &Path) -> String {
    Sha256::digest(std::fs::read(path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn the_images_are_recorded_in_order_and_read_back_exactly() {
    let w = World::new();
    let dir = w.dir.path().join(format!("images {HOSTILE}"));
    std::fs::create_dir_all(&dir).unwrap();
    let first = layer(
        &dir.join(format!("{HOSTILE}.tar.gz")),
        &serde_json::json!({"v": "1", "t": "layer", "pkg": HOSTILE, "version": format!("v={HOSTILE}")}),
    );
    let second = layer(
        &w.dir.path().join("plain.tar.gz"),
        &serde_json::json!({"v": "1", "t": "layer"}),
    );
    w.install(&[first.clone(), second.clone()]).unwrap();
    let get = |prop: &str| -> Option<String> {
        w.zfs.get_value(ObjectName::from(&w.root), prop).unwrap()
    };
    let read = |prop: &str| -> String {
        let stored = get(prop).unwrap_or_else(|| panic!("{prop} is not recorded"));
        assert!(
            !stored.chars().any(char::is_control),
            "{prop} is stored with a control character: {stored:?}"
        );
        props::unescape(&stored)
    };
    assert_eq!(read("omicron1:images"), "2");
    let canonical = |p: &Path| {
        std::fs::canonicalize(p)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(read("omicron1:image.0.path"), canonical(&first));
    assert_eq!(read("omicron1:image.0.sha256"), sha256(&first));
    assert_eq!(read("omicron1:image.0.pkg"), HOSTILE);
    assert_eq!(read("omicron1:image.0.version"), format!("v={HOSTILE}"));
    assert_eq!(read("omicron1:image.1.path"), canonical(&second));
    assert_eq!(read("omicron1:image.1.sha256"), sha256(&second));
    assert_eq!(
        get("omicron1:image.1.pkg"),
        None,
        "no pkg, nothing recorded"
    );
    assert_eq!(get("omicron1:image.1.version"), None);
    assert_eq!(get("omicron1:image.2.path"), None);
    assert_eq!(read("omicron1:state"), "installed");
    assert_eq!(read("omicron1:kind"), "zone-root");
    assert_eq!(read("omicron1:zone"), "z1");
    assert_eq!(read("omicron1:origin"), w.template().snapshot.to_string());
    let created = read("omicron1:created");
    assert!(
        created.len() == 20 && created.ends_with('Z') && created.as_bytes()[10] == b'T',
        "RFC 3339 UTC: {created}"
    );
}
