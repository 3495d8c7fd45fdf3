//! The install path against real ZFS, driven the way zoneadm drives it:
//! template contents, clone origin, layers in order, metadata, one build for
//! many installs (also racing), rollback, uninstall, the clone hook, the
//! non-ZFS fallback, encryption (and the refusal of a zonepath encrypted
//! otherwise than its template), and each hook's arguments. Signals during an
//! install are in `signals.rs`.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Output;

use omicron1_vm_tests::fixture::{sha256_hex, Entry, Fixture, Layer};
use omicron1_zfs::{CreateOptions, Zfs};

fn ok(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn prop(f: &Fixture, ds: &omicron1_zfs::DatasetName, name: &str) -> Option<String> {
    f.zfs.get_value(ds.into(), name).unwrap()
}

fn template_count(f: &Fixture) -> usize {
    f.zfs.children(&f.templates()).map(|c| c.len()).unwrap_or(0)
}

fn simple_layer(f: &Fixture, name: &str, files: &[Entry<'_>]) -> std::path::PathBuf {
    let path = f.image_path(name);
    let mut l = Layer::layer(&path, name);
    l.entries(files);
    l.finish();
    path
}

#[test]
fn install_clones_the_template_and_applies_layers_in_order() {
    let f = Fixture::new("inst_basic");
    let zp = f.zonepath("z1");
    let first = simple_layer(
        &f,
        "first",
        &[
            Entry::File("opt/app/bin/app", b"#!/bin/sh\necho first\n", 0o755),
            Entry::File("etc/motd", b"from the first layer\n", 0o644),
            Entry::File("usr/bin/hello", b"replaced by an image\n", 0o755),
        ],
    );
    let second = simple_layer(
        &f,
        "second",
        &[Entry::File("etc/motd", b"from the second layer\n", 0o644)],
    );
    let out = ok(&f.hook(
        "z1",
        &zp,
        &["install", first.to_str().unwrap(), second.to_str().unwrap()],
    ));
    for line in [
        "installing zone z1",
        "building template",
        "replicating /usr tree...",
        "replicated /usr:",
        "pruning SMF manifests...",
        "pruning global-only files...",
        "unpacking baseline archive...",
        "unpacking image",
        "install complete",
    ] {
        assert!(
            out.contains(&format!("INFO: omicron: {line}")),
            "missing {line:?} in:\n{out}"
        );
    }

    let root_ds = f.root_dataset("z1");
    let origin = prop(&f, &root_ds, "origin").expect("the zone root is a clone");
    assert!(
        origin.starts_with(&format!("{}/t-", f.templates())) && origin.ends_with("@ready"),
        "{origin}"
    );
    assert_eq!(
        f.zfs.dataset_mounted_at(&zp.join("root")).unwrap(),
        Some(root_ds.clone())
    );

    let root = zp.join("root");
    // Replicated: executables and shared objects link into /system, the rest is copied.
    assert_eq!(
        std::fs::read_link(root.join("lib/libc.so.1")).unwrap(),
        Path::new("../system/lib/libc.so.1")
    );
    assert_eq!(
        std::fs::read_link(root.join("usr/lib/libdemo.so.1")).unwrap(),
        Path::new("../../system/usr/lib/libdemo.so.1")
    );
    assert_eq!(
        std::fs::read(root.join("usr/share/doc/readme")).unwrap(),
        b"documentation\n"
    );
    assert_eq!(
        std::fs::metadata(root.join("usr/share/doc/readme"))
            .unwrap()
            .mode()
            & 0o7777,
        0o640
    );
    assert_eq!(
        std::fs::read_link(root.join("usr/bin/hi")).unwrap(),
        Path::new("hello")
    );
    // Pruned, global-only removed, baseline unpacked.
    assert!(
        !root.join("lib/svc/manifest").exists(),
        "SMF manifests are pruned"
    );
    assert!(
        root.join("lib/svc/method/net").symlink_metadata().is_ok(),
        "the rest of lib/svc stays"
    );
    assert!(
        !root.join("usr/lib/gz-only.conf").exists(),
        "gzonly.txt paths are removed"
    );
    assert_eq!(
        std::fs::read(root.join("etc/passwd")).unwrap(),
        b"root:x:0:0::/root:/bin/sh\n"
    );
    // Layers in order, later wins; an image file replaces a template symlink.
    assert_eq!(
        std::fs::read(root.join("etc/motd")).unwrap(),
        b"from the second layer\n"
    );
    assert_eq!(
        std::fs::read(root.join("opt/app/bin/app")).unwrap(),
        b"#!/bin/sh\necho first\n"
    );
    let hello = root.join("usr/bin/hello");
    assert!(
        hello.symlink_metadata().unwrap().is_file(),
        "a file replaces the symlink"
    );
    assert_eq!(std::fs::read(&hello).unwrap(), b"replaced by an image\n");

    // Recorded: state, images with their digests and oxide.json fields.
    assert_eq!(
        prop(&f, &root_ds, "omicron1:state").as_deref(),
        Some("installed")
    );
    assert_eq!(prop(&f, &root_ds, "omicron1:zone").as_deref(), Some("z1"));
    assert_eq!(prop(&f, &root_ds, "omicron1:images").as_deref(), Some("2"));
    assert_eq!(
        prop(&f, &root_ds, "omicron1:image.0.sha256"),
        Some(sha256_hex(&first))
    );
    assert_eq!(
        prop(&f, &root_ds, "omicron1:image.1.sha256"),
        Some(sha256_hex(&second))
    );
    assert_eq!(
        prop(&f, &root_ds, "omicron1:image.0.pkg").as_deref(),
        Some("first")
    );
    assert_eq!(
        prop(&f, &root_ds, "omicron1:image.1.version").as_deref(),
        Some("1.0.0")
    );
    assert_eq!(
        prop(&f, &root_ds, "omicron1:image.0.path"),
        Some(first.display().to_string())
    );

    // The template records what it was built from.
    let template = f.zfs.children(&f.templates()).unwrap().remove(0);
    assert_eq!(
        prop(&f, &template, "omicron1:boot-id").as_deref(),
        Some("boot-inst_basic")
    );
    let baseline_digest = prop(&f, &template, "omicron1:baseline-sha256").unwrap();
    assert_eq!(baseline_digest.len(), 64);
    assert!(prop(&f, &template, "omicron1:created")
        .unwrap()
        .ends_with('Z'));
}

#[test]
fn metadata_is_preserved() {
    let f = Fixture::new("inst_meta");
    let zp = f.zonepath("z1");
    let path = f.image_path("meta");
    let long = format!("opt/{}/{}", "d".repeat(120), "f".repeat(150));
    {
        let mut l = Layer::layer(&path, "meta");
        l.raw_file(
            "root/opt/owned",
            b"owned\n",
            0o640,
            1234,
            5678,
            1_500_000_000,
        );
        l.raw_file(
            "root/opt/suid",
            b"\x7fELF suid\n",
            0o4755,
            0,
            0,
            1_500_000_000,
        );
        l.entries(&[
            Entry::File(&long, b"long\n", 0o644),
            Entry::Symlink("opt/link", "owned"),
            Entry::Hardlink("opt/hard", "opt/owned"),
        ]);
        l.finish();
    }
    ok(&f.hook("z1", &zp, &["install", path.to_str().unwrap()]));
    let root = zp.join("root");
    let owned = std::fs::metadata(root.join("opt/owned")).unwrap();
    assert_eq!((owned.uid(), owned.gid()), (1234, 5678));
    assert_eq!(owned.mode() & 0o7777, 0o640);
    assert_eq!(owned.mtime(), 1_500_000_000);
    assert_eq!(
        std::fs::metadata(root.join("opt/suid"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o4755
    );
    assert_eq!(std::fs::read(root.join(&long)).unwrap(), b"long\n");
    assert_eq!(
        std::fs::read_link(root.join("opt/link")).unwrap(),
        Path::new("owned")
    );
    let hard = std::fs::metadata(root.join("opt/hard")).unwrap();
    assert_eq!(hard.ino(), owned.ino(), "a hard link is the same inode");
}

#[test]
fn one_template_serves_several_installs_and_uninstall_leaves_it() {
    let f = Fixture::new("inst_many");
    let image = simple_layer(&f, "app", &[Entry::File("opt/app", b"app\n", 0o644)]);
    let mut outputs = Vec::new();
    for zone in ["a", "b", "c"] {
        let zp = f.zonepath(zone);
        outputs.push(ok(&f.hook(
            zone,
            &zp,
            &["install", image.to_str().unwrap()],
        )));
    }
    assert!(outputs[0].contains("building template"));
    for out in &outputs[1..] {
        assert!(
            !out.contains("building template") && out.contains("using template"),
            "{out}"
        );
    }
    assert_eq!(template_count(&f), 1);
    let zp = f.mountpoint.join("zones/b");
    ok(&f.hook("b", &zp, &["uninstall", "-F"]));
    assert!(!f.zfs.exists((&f.root_dataset("b")).into()).unwrap());
    assert!(
        f.zfs.exists((&f.root_dataset("a")).into()).unwrap(),
        "other zones stay"
    );
    assert_eq!(template_count(&f), 1, "uninstall leaves a current template");
    // Uninstalling again has nothing to do and succeeds.
    ok(&f.hook("b", &zp, &["uninstall"]));
}

#[test]
fn eight_parallel_installs_build_one_template() {
    let f = Fixture::new("inst_race");
    let image = simple_layer(&f, "app", &[Entry::File("opt/app", b"app\n", 0o644)]);
    let zones: Vec<String> = (0..8).map(|i| format!("r{i}")).collect();
    let children: Vec<_> = zones
        .iter()
        .map(|z| {
            let zp = f.zonepath(z);
            f.command()
                .arg("-z")
                .arg(z)
                .arg("-R")
                .arg(&zp)
                .args(["install", image.to_str().unwrap()])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut builds = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        let text = ok(&out);
        builds += text.matches("INFO: omicron: building template").count();
    }
    assert_eq!(builds, 1, "exactly one install builds the template");
    assert_eq!(template_count(&f), 1);
    for z in &zones {
        let root = f.mountpoint.join("zones").join(z).join("root");
        assert_eq!(
            std::fs::read(root.join("opt/app")).unwrap(),
            b"app\n",
            "zone {z}"
        );
        assert_eq!(
            std::fs::read(root.join("etc/motd")).unwrap(),
            b"baseline motd\n",
            "zone {z}"
        );
    }
}

#[test]
fn a_failed_install_rolls_back_and_exits_254() {
    let f = Fixture::new("inst_fail");
    let good = simple_layer(&f, "good", &[Entry::File("opt/good", b"good\n", 0o644)]);
    let bad = f.image_path("bad");
    {
        let mut l = Layer::layer(&bad, "bad");
        l.entries(&[Entry::File("opt/fine", b"fine\n", 0o644)]);
        l.raw_name(b"root/../../escape", b"escaped\n");
        l.finish();
    }
    let zp = f.zonepath("z1");
    let out = f.hook(
        "z1",
        &zp,
        &["install", good.to_str().unwrap(), bad.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(254));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(bad.to_str().unwrap()),
        "names the image: {stderr}"
    );
    assert!(stderr.contains("escape"), "names the entry: {stderr}");
    assert!(
        !f.zfs.exists((&f.root_dataset("z1")).into()).unwrap(),
        "no zone root is left"
    );
    assert!(!zp.join("root/opt").exists(), "no files are left");
    assert!(!Path::new("/tmp/tp/inst_fail/escape").exists());
    // The template is intact and still clones.
    assert_eq!(template_count(&f), 1);
    ok(&f.hook("z1", &zp, &["install", good.to_str().unwrap()]));
    assert_eq!(std::fs::read(zp.join("root/opt/good")).unwrap(), b"good\n");
    // A missing image fails before anything is made.
    let zp2 = f.zonepath("z2");
    let out = f.hook("z2", &zp2, &["install", "/nonexistent/image.tar.gz"]);
    assert_eq!(out.status.code(), Some(254));
    assert!(!f.zfs.exists((&f.root_dataset("z2")).into()).unwrap());
}

#[test]
fn clone_hook_makes_an_o1_clone_of_the_source_root() {
    let f = Fixture::new("inst_clone");
    let image = simple_layer(&f, "app", &[Entry::File("opt/app", b"app\n", 0o644)]);
    let src = f.zonepath("src");
    ok(&f.hook("src", &src, &["install", image.to_str().unwrap()]));
    f.write_zone_config("src", &src, "");
    let dst = f.zonepath("dst");
    ok(&f.hook("dst", &dst, &["clone", "src"]));
    let dst_root = f.root_dataset("dst");
    let origin = prop(&f, &dst_root, "origin").unwrap();
    assert_eq!(origin, format!("{}@clone-dst", f.root_dataset("src")));
    assert_eq!(std::fs::read(dst.join("root/opt/app")).unwrap(), b"app\n");
    // The source cannot be uninstalled while cloned; the clone can, and takes its snapshot.
    let out = f.hook("src", &src, &["uninstall"]);
    assert_eq!(out.status.code(), Some(254));
    assert!(String::from_utf8_lossy(&out.stderr).contains("dependent clones"));
    ok(&f.hook("dst", &dst, &["uninstall"]));
    assert!(!f
        .zfs
        .exists((&origin.parse::<omicron1_zfs::SnapshotName>().unwrap()).into())
        .unwrap());
    ok(&f.hook("src", &src, &["uninstall"]));
    // Cloning a zone that is not installed fails cleanly.
    let out = f.hook("dst", &dst, &["clone", "src"]);
    assert_eq!(out.status.code(), Some(254));
    assert!(!f.zfs.exists((&dst_root).into()).unwrap());
}

#[test]
fn a_zonepath_not_on_zfs_falls_back_to_copying() {
    let f = Fixture::new("inst_copy");
    let image = simple_layer(&f, "app", &[Entry::File("opt/app", b"app\n", 0o644)]);
    let zp = f.dir.join("plainzone");
    std::fs::create_dir_all(&zp).unwrap();
    let out = f.hook("plain", &zp, &["install", image.to_str().unwrap()]);
    ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a ZFS mountpoint"),
        "warns"
    );
    let root = zp.join("root");
    assert_eq!(std::fs::read(root.join("opt/app")).unwrap(), b"app\n");
    assert_eq!(
        std::fs::read(root.join("etc/motd")).unwrap(),
        b"baseline motd\n"
    );
    assert!(std::fs::read_link(root.join("sbin/init")).is_ok());
    assert_eq!(template_count(&f), 0, "no template for a copied zone");
    ok(&f.hook("plain", &zp, &["uninstall", "-F"]));
    assert!(!root.exists());
    // A failure rolls the copy back too.
    let bad = f.image_path("bad");
    {
        let mut l = Layer::new(&bad, r#"{"v":"1","t":"baseline"}"#);
        l.entries(&[Entry::File("opt/x", b"x", 0o644)]);
        l.finish();
    }
    let out = f.hook("plain", &zp, &["install", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(254));
    assert!(!root.exists(), "the copied tree is removed");
}

#[test]
fn zones_under_an_encrypted_parent_stay_encrypted() {
    let f = Fixture::new("inst_crypt");
    let key = f.dir.join("key");
    std::fs::write(&key, "correct horse battery staple").unwrap();
    let crypt = f.dataset.child("crypt").unwrap();
    let keylocation = format!("file://{}", key.display());
    let props = [
        ("encryption", "on"),
        ("keyformat", "passphrase"),
        ("keylocation", keylocation.as_str()),
    ];
    f.zfs
        .create(
            &crypt,
            &CreateOptions {
                parents: false,
                properties: &props,
            },
        )
        .unwrap();
    let zone_parent = crypt.child("zone").unwrap();
    f.zfs
        .create(&zone_parent, &CreateOptions::default())
        .unwrap();
    let zpds = zone_parent.child("z1").unwrap();
    f.zfs.create(&zpds, &CreateOptions::default()).unwrap();
    let zp = f.mountpoint.join("crypt/zone/z1");
    let image = simple_layer(&f, "app", &[Entry::File("opt/app", b"app\n", 0o644)]);
    ok(&f.hook("z1", &zp, &["install", image.to_str().unwrap()]));
    let root = zpds.child("root").unwrap();
    assert_ne!(
        prop(&f, &root, "encryption").as_deref(),
        Some("off"),
        "the zone root is encrypted"
    );
    assert_eq!(
        prop(&f, &root, "encryptionroot"),
        prop(&f, &zpds, "encryptionroot")
    );
    assert_eq!(
        prop(&f, &root, "encryptionroot").as_deref(),
        Some(crypt.as_str())
    );
    let origin = prop(&f, &root, "origin").unwrap();
    assert!(
        origin.starts_with(&format!("{zone_parent}/omicron1-templates/")),
        "{origin}"
    );
}

#[test]
fn hooks_accept_what_zoneadm_passes() {
    let f = Fixture::new("inst_hooks");
    let image = simple_layer(&f, "app", &[Entry::File("opt/app", b"app\n", 0o644)]);
    let zp = f.zonepath("z1");
    let img = image.to_str().unwrap();
    ok(&f.hook("z1", &zp, &["verify_adm", "install", img]));
    ok(&f.hook("z1", &zp, &["verify_adm", "boot"]));
    assert_eq!(
        f.hook("z1", &zp, &["verify_adm", "install", "/nonexistent.tgz"])
            .status
            .code(),
        Some(254)
    );
    // attach before install has nothing to attach.
    assert_eq!(f.hook("z1", &zp, &["attach"]).status.code(), Some(254));
    ok(&f.hook("z1", &zp, &["install", img]));
    assert_eq!(ok(&f.hook("z1", &zp, &["query", "datasets"])), "");
    ok(&f.hook("z1", &zp, &["prestatechange", "3", "1"]));
    ok(&f.hook("z1", &zp, &["poststatechange", "5", "1"]));
    ok(&f.hook("z1", &zp, &["detach"]));
    ok(&f.hook("z1", &zp, &["attach", "-F"]));
    assert!(
        f.zfs.exists((&f.root_dataset("z1")).into()).unwrap(),
        "detach/attach keep the root"
    );
    // verify_cfg gets only a file.
    let xml = f.dir.join("z1.xml");
    f.write_zone_config("z1", &zp, "");
    std::fs::copy(f.zones_dir.join("z1.xml"), &xml).unwrap();
    let out = f
        .command()
        .args(["verify_cfg", xml.to_str().unwrap()])
        .output()
        .unwrap();
    ok(&out);
    std::fs::write(
        &xml,
        "<zone name=\"z1\" brand=\"omicron1\" ip-type=\"shared\"/>",
    )
    .unwrap();
    let out = f
        .command()
        .args(["verify_cfg", xml.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(254));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ip-type=exclusive"));
}

/// Creates `ds` as an encryption root of its own, keyed by a file.
fn create_encrypted(f: &Fixture, ds: &omicron1_zfs::DatasetName, key_name: &str) {
    let key = f.dir.join(key_name);
    std::fs::write(&key, format!("passphrase of {key_name}")).unwrap();
    let keylocation = format!("file://{}", key.display());
    let props = [
        ("encryption", "on"),
        ("keyformat", "passphrase"),
        ("keylocation", keylocation.as_str()),
    ];
    f.zfs
        .create(
            ds,
            &CreateOptions {
                parents: false,
                properties: &props,
            },
        )
        .unwrap();
}

#[test]
fn a_zonepath_encrypted_otherwise_than_its_template_is_refused() {
    let f = Fixture::new("inst_crypt_refuse");
    let image = simple_layer(&f, "app", &[Entry::File("opt/app", b"app\n", 0o644)]);
    let refused = |zone: &str, zp: &std::path::Path, zpds: &omicron1_zfs::DatasetName| {
        let out = f.hook(zone, zp, &["install", image.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(254), "{zone}: {err}");
        assert!(
            err.contains(&format!("but zonepath dataset {zpds} has Some(\"{zpds}\")"))
                && err.contains("put the zonepath dataset under an encrypted parent"),
            "{zone}: names both encryption roots and what to do: {err}"
        );
        assert!(
            !f.zfs.exists((&zpds.child("root").unwrap()).into()).unwrap(),
            "{zone}: no zone root is left"
        );
        err
    };

    // An unencrypted parent (so an unencrypted template) and a zonepath dataset
    // that is its own encryption root: a clone would be unencrypted.
    let zpds = f.zonepath_dataset("own");
    create_encrypted(&f, &zpds, "own.key");
    let zp = f.mountpoint.join("zones/own");
    let err = refused("own", &zp, &zpds);
    assert!(err.contains("has encryption root None"), "{err}");

    // An encrypted parent (the template shares its encryption root) and a
    // zonepath dataset below it with a key of its own.
    let crypt = f.dataset.child("crypt").unwrap();
    create_encrypted(&f, &crypt, "crypt.key");
    let zone_parent = crypt.child("zone").unwrap();
    f.zfs
        .create(&zone_parent, &CreateOptions::default())
        .unwrap();
    let zpds = zone_parent.child("rekeyed").unwrap();
    create_encrypted(&f, &zpds, "rekeyed.key");
    let zp = f.mountpoint.join("crypt/zone/rekeyed");
    let err = refused("rekeyed", &zp, &zpds);
    assert!(
        err.contains(&format!("has encryption root Some(\"{crypt}\")")),
        "{err}"
    );

    // Beside them, a zonepath dataset that inherits the parent's encryption
    // installs from the same template.
    let zpds = zone_parent.child("inherits").unwrap();
    f.zfs.create(&zpds, &CreateOptions::default()).unwrap();
    let zp = f.mountpoint.join("crypt/zone/inherits");
    ok(&f.hook("inherits", &zp, &["install", image.to_str().unwrap()]));
    assert_eq!(
        prop(&f, &zpds.child("root").unwrap(), "encryptionroot").as_deref(),
        Some(crypt.as_str())
    );
}
