//! SIGINT, SIGTERM and SIGHUP roll back what an install or a template build
//! made, on real ZFS: during the unpack of a layer (the zone root is
//! destroyed), during a template build (the unfinished template is destroyed),
//! and during the copy fallback (the copied tree is removed). Exit 254 each
//! time, naming the signal, and the next install succeeds.
//!
//! Each signal is delivered at a named fault point (`omicron1_vm_tests::stop`):
//! the installer stops itself there, the test looks at what it has made so far,
//! sends the signal and `SIGCONT`. No output line or sleep decides when.

use std::path::{Path, PathBuf};
use std::process::Command;

use nix::sys::signal::Signal;
use omicron1_vm_tests::fixture::{Entry, Fixture, Layer};
use omicron1_vm_tests::stop::{run_until, Finished};
use omicron1_zfs::{DatasetName, Zfs};

/// A layer with `files` files `opt/fN`: entry #1 is `oxide.json`, `opt/fN` is #N+2.
fn image(f: &Fixture, name: &str, files: usize) -> PathBuf {
    let path = f.image_path(name);
    let names: Vec<String> = (0..files).map(|i| format!("opt/f{i}")).collect();
    let entries: Vec<Entry<'_>> = names
        .iter()
        .map(|n| Entry::File(n, b"data\n", 0o644))
        .collect();
    let mut l = Layer::layer(&path, name);
    l.entries(&entries);
    l.finish();
    path
}

fn install(f: &Fixture, zone: &str, zp: &Path, img: &Path, boot: &str) -> Command {
    let mut c = f.command();
    c.env("OMICRON1_BOOT_ID", boot)
        .arg("-z")
        .arg(zone)
        .arg("-R")
        .arg(zp)
        .arg("install")
        .arg(img);
    c
}

fn ok(f: &Fixture, zone: &str, zp: &Path, img: &Path) {
    let out = f.hook(zone, zp, &["install", img.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{zone}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn get(f: &Fixture, ds: &DatasetName, prop: &str) -> Option<String> {
    f.zfs.get_value(ds.into(), prop).unwrap()
}

fn exists(f: &Fixture, ds: &DatasetName) -> bool {
    f.zfs.exists(ds.into()).unwrap()
}

/// Exit 254, saying which signal interrupted it and that it rolled back.
fn rolled_back(what: &str, signal: Signal, end: &Finished) {
    assert_eq!(end.code, Some(254), "{what}: {}", end.stderr);
    assert!(
        end.stderr.contains(&format!("interrupted by {signal}")),
        "{what}: names the signal: {}",
        end.stderr
    );
}

/// The one template of the fixture's container, with its identity.
fn template_state(f: &Fixture) -> (DatasetName, Vec<Option<String>>) {
    let t = f.zfs.children(&f.templates()).unwrap();
    assert_eq!(t.len(), 1, "{t:?}");
    let snap = t[0].snapshot("ready").unwrap();
    let mut state = Vec::new();
    for p in ["guid", "referenced", "written"] {
        state.push(f.zfs.get_value((&snap).into(), p).unwrap());
        state.push(get(f, &t[0], p));
    }
    (t[0].clone(), state)
}

#[test]
fn a_signal_during_the_unpack_destroys_the_zone_root() {
    let f = Fixture::new("sig_unpack");
    let img = image(&f, "app", 6);
    let zp0 = f.zonepath("warm");
    ok(&f, "warm", &zp0, &img);
    let before = template_state(&f);
    for signal in [Signal::SIGHUP, Signal::SIGTERM, Signal::SIGINT] {
        let zone = format!("z-{}", signal.as_str().to_lowercase());
        let zp = f.zonepath(&zone);
        let root = f.root_dataset(&zone);
        // Stopped before entry #4: opt/f0 and opt/f1 are unpacked.
        let stopped = run_until(
            install(&f, &zone, &zp, &img, &f.boot_id),
            "unpack-entry:layer#4",
            &f.dir,
            &zone,
        );
        assert_eq!(
            get(&f, &root, "omicron1:state").as_deref(),
            Some("installing")
        );
        assert!(zp.join("root/opt/f1").exists() && !zp.join("root/opt/f2").exists());
        let end = stopped.signal(signal);
        rolled_back(&zone, signal, &end);
        assert!(
            end.stderr
                .contains(&format!("install of zone {zone} failed, rolling back")),
            "{}",
            end.stderr
        );
        assert!(!exists(&f, &root), "{signal}: the zone root is destroyed");
        assert_eq!(
            template_state(&f),
            before,
            "{signal}: the template is untouched"
        );
        // Nothing is left to refuse: the zone installs.
        ok(&f, &zone, &zp, &img);
        assert_eq!(
            get(&f, &root, "omicron1:state").as_deref(),
            Some("installed")
        );
    }
}

#[test]
fn a_signal_during_a_template_build_destroys_the_unfinished_template() {
    let f = Fixture::new("sig_build");
    let img = image(&f, "app", 2);
    let pool = f.dataset.pool().to_string();
    let parent = f.dataset.child("zones").unwrap();
    // Each case in a boot of its own, so that each builds. The walk does
    // usr first: its second entry is in the middle of replicating /usr.
    let cases = [
        (Signal::SIGTERM, "replicate-entry#2", "install"),
        (Signal::SIGHUP, "pruned", "install"),
        (Signal::SIGINT, "unpack-entry:baseline#3", "install"),
        (Signal::SIGHUP, "replicate-entry#2", "template build"),
        (Signal::SIGTERM, "unpack-entry:baseline#2", "template build"),
    ];
    for (i, (signal, point, how)) in cases.into_iter().enumerate() {
        let boot = format!("{}-{i}", f.boot_id);
        let zone = format!("b{i}");
        let zp = f.zonepath(&zone);
        let cmd = if how == "install" {
            install(&f, &zone, &zp, &img, &boot)
        } else {
            let mut c = f.command();
            c.env("OMICRON1_BOOT_ID", &boot)
                .args(["template", "build", "--pool", &pool, "--parent"])
                .arg(parent.as_str());
            c
        };
        let what = format!("{how} stopped at {point}, {signal}");
        let stopped = run_until(cmd, point, &f.dir, &zone);
        let building: Vec<DatasetName> = f
            .zfs
            .children(&f.templates())
            .unwrap()
            .into_iter()
            .filter(|t| get(&f, t, "omicron1:boot-id").as_deref() == Some(boot.as_str()))
            .collect();
        assert_eq!(building.len(), 1, "{what}: the template being built");
        let template = building[0].clone();
        let ready = template.snapshot("ready").unwrap();
        assert!(
            !f.zfs.exists((&ready).into()).unwrap(),
            "{what}: no @ready yet"
        );
        let end = stopped.signal(signal);
        rolled_back(&what, signal, &end);
        assert!(
            !exists(&f, &template),
            "{what}: the unfinished template is destroyed"
        );
        assert!(!exists(&f, &f.root_dataset(&zone)), "{what}: no zone root");
        // The next install builds it and succeeds.
        let out = f
            .command()
            .env("OMICRON1_BOOT_ID", &boot)
            .args(["-z", &zone, "-R"])
            .arg(&zp)
            .arg("install")
            .arg(&img)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{what}: {stdout}");
        assert!(
            stdout.contains("building template") && !stdout.contains("destroying unfinished"),
            "{what}: a fresh build, nothing left to clean: {stdout}"
        );
        assert_eq!(
            std::fs::read(zp.join("root/etc/motd")).unwrap(),
            b"baseline motd\n"
        );
    }
}

#[test]
fn a_signal_during_the_copy_fallback_removes_the_copied_tree() {
    let f = Fixture::new("sig_copy");
    let img = image(&f, "app", 4);
    let cases = [
        (Signal::SIGTERM, "replicate-entry#2"),
        (Signal::SIGHUP, "pruned"),
        (Signal::SIGINT, "unpack-entry:baseline#3"),
        (Signal::SIGHUP, "unpack-entry:layer#3"),
    ];
    for (i, (signal, point)) in cases.into_iter().enumerate() {
        let zone = format!("c{i}");
        // A zonepath that is a plain folder (the guest's tmpfs), not on ZFS.
        let zp = f.dir.join(format!("plain-{zone}"));
        std::fs::create_dir_all(&zp).unwrap();
        let what = format!("copy fallback stopped at {point}, {signal}");
        let stopped = run_until(
            install(&f, &zone, &zp, &img, &f.boot_id),
            point,
            &f.dir,
            &zone,
        );
        assert!(
            zp.join("root/usr").is_dir(),
            "{what}: the copy is under way"
        );
        let end = stopped.signal(signal);
        rolled_back(&what, signal, &end);
        assert!(end.stderr.contains("not a ZFS mountpoint"), "{what}");
        assert!(
            !zp.join("root").exists(),
            "{what}: the copied tree is removed"
        );
        assert!(zp.is_dir(), "{what}: the zonepath itself stays");
        assert!(
            f.zfs
                .children(&f.templates())
                .unwrap_or_default()
                .is_empty(),
            "{what}: no template for a copied zone"
        );
        ok(&f, &zone, &zp, &img);
        assert_eq!(
            std::fs::read(zp.join("root/opt/f3")).unwrap(),
            b"data\n",
            "{what}"
        );
    }
}
