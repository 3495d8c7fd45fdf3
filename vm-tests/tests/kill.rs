//! Installs and template builds killed with SIGKILL part way, on real ZFS.
//!
//! SIGKILL cannot be caught, so nothing rolls back: what a kill leaves must be
//! harmless and cleaned up by the next build or by `uninstall -F`. The tests
//! choose where the installer dies with the fault-injection hook
//! (`OMICRON1_STOP_AT=POINT[#N]`, see `src/faults.rs`): the installer stops
//! itself with SIGSTOP on reaching the point; the test sees it stopped
//! (`waitpid` with `WUNTRACED`), looks at what it left, and kills it.
//!
//! What they prove:
//! - a template whose build was killed (during the replication of each tree,
//!   after pruning, during the baseline unpack, before its snapshot) is never
//!   cloned: the next install destroys it and builds a new one — even an
//!   install that was already waiting for the killed build — and nothing
//!   written into the half-built template reaches a zone;
//! - a build killed just after its snapshot left a complete template, which
//!   the next install uses as it is;
//! - the build lock dies with its holder;
//! - an install killed before the clone leaves nothing; one killed after it
//!   (before or during the unpack of its layers, or before recording them)
//!   leaves a zone root marked `omicron1:state=installing`, which a new
//!   install refuses to touch, `uninstall -F` removes, and a reinstall replaces;
//! - the template is not changed by any of it.

use std::path::{Path, PathBuf};
use std::process::Command;

use omicron1_vm_tests::fixture::{Entry, Fixture, Layer};
use omicron1_vm_tests::stop::{self, Running, Stopped};
use omicron1_zfs::{DatasetName, Zfs};

/// The installer's `install` of `zone`, with extra environment.
fn install_command(
    f: &Fixture,
    zone: &str,
    zp: &Path,
    image: &Path,
    env: &[(&str, &str)],
) -> Command {
    let mut cmd = f.command();
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.arg("-z")
        .arg(zone)
        .arg("-R")
        .arg(zp)
        .arg("install")
        .arg(image);
    cmd
}

/// Starts `install` for `zone` with extra environment, not waiting for it.
fn spawn_install(
    f: &Fixture,
    zone: &str,
    zp: &Path,
    image: &Path,
    env: &[(&str, &str)],
) -> Running {
    stop::spawn(install_command(f, zone, zp, image, env), &f.dir, zone)
}

/// Runs `install` of `zone` until it stops at `point`.
fn install_until(
    f: &Fixture,
    zone: &str,
    zp: &Path,
    image: &Path,
    point: &str,
    env: &[(&str, &str)],
) -> Stopped {
    stop::run_until(
        install_command(f, zone, zp, image, env),
        point,
        &f.dir,
        zone,
    )
}

fn ok(f: &Fixture, zone: &str, zp: &Path, image: &Path) -> String {
    let out = f.hook(zone, zp, &["install", image.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{zone}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn get(f: &Fixture, ds: &DatasetName, prop: &str) -> Option<String> {
    f.zfs.get_value(ds.into(), prop).unwrap()
}

fn exists(f: &Fixture, ds: &DatasetName) -> bool {
    f.zfs.exists(ds.into()).unwrap()
}

fn templates(f: &Fixture) -> Vec<DatasetName> {
    f.zfs.children(&f.templates()).unwrap_or_default()
}

fn ready(ds: &DatasetName) -> omicron1_zfs::SnapshotName {
    ds.snapshot("ready").unwrap()
}

/// Entries the replication walk visits in a source tree (everything below it,
/// links not followed): the `replicate-entry` hits the tree accounts for.
fn walk_count(dir: &Path) -> u64 {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        n += 1;
        if e.file_type().unwrap().is_dir() {
            n += walk_count(&e.path());
        }
    }
    n
}

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

#[test]
fn killed_template_builds_are_never_cloned() {
    let f = Fixture::new("kill_build");
    let img = image(&f, "app", 2);
    let src = &f.source_root;
    let (usr, lib, sbin) = (
        walk_count(&src.join("usr")),
        walk_count(&src.join("lib")),
        walk_count(&src.join("sbin")),
    );
    assert!(usr >= 3 && lib >= 3 && sbin >= 1, "{usr} {lib} {sbin}");
    // The walk does usr, then lib, then sbin: the second entry of each.
    let points = [
        format!("replicate-entry#{}", 2),
        format!("replicate-entry#{}", usr + 2),
        format!("replicate-entry#{}", usr + lib + 1),
        "pruned".to_string(),
        "unpack-entry:baseline#3".to_string(),
        "before-snapshot".to_string(),
    ];
    let mut guids: Vec<String> = Vec::new();
    let mut zones = Vec::new();
    for (i, point) in points.iter().enumerate() {
        let zone = format!("b{i}");
        let zp = f.zonepath(&zone);
        let stopped = install_until(&f, &zone, &zp, &img, point, &[]);
        let out = stopped.stdout();
        assert!(
            out.contains("INFO: omicron: building template"),
            "{point}: {out}"
        );
        if i > 0 {
            assert!(
                out.contains("destroying unfinished template"),
                "{point}: the last one is destroyed: {out}"
            );
        }
        let t = templates(&f);
        assert_eq!(t.len(), 1, "{point}: {t:?}");
        let template = t[0].clone();
        assert!(
            !f.zfs.exists((&ready(&template)).into()).unwrap(),
            "{point}: no @ready while building"
        );
        let guid = get(&f, &template, "guid").unwrap();
        assert!(
            !guids.contains(&guid),
            "{point}: a new dataset, not the killed one"
        );
        guids.push(guid);
        // Poison the half-built template where it is mounted: if it were ever
        // cloned, a zone would show the file.
        if get(&f, &template, "mounted").as_deref() == Some("yes") {
            let mountpoint = get(&f, &template, "mountpoint").unwrap();
            std::fs::write(
                Path::new(&mountpoint).join(format!("poison-{i}")),
                b"half-built\n",
            )
            .unwrap();
        }
        stopped.kill();
        assert!(!exists(&f, &f.root_dataset(&zone)), "{point}: no zone root");
        assert!(
            exists(&f, &template),
            "{point}: the half-built template is left"
        );
        assert!(
            !f.zfs.exists((&ready(&template)).into()).unwrap(),
            "{point}: and has no @ready"
        );
        zones.push((zone, zp));
    }

    // Killed right after the snapshot: the template is complete, and used.
    let zp = f.zonepath("b-snap");
    let stopped = install_until(&f, "b-snap", &zp, &img, "after-snapshot", &[]);
    assert!(stopped.stdout().contains("destroying unfinished template"));
    let template = templates(&f).remove(0);
    assert!(
        f.zfs.exists((&ready(&template)).into()).unwrap(),
        "@ready exists at after-snapshot"
    );
    stopped.kill();
    let template_guid = get(&f, &template, "guid");
    let out = ok(&f, "b-snap", &zp, &img);
    assert!(
        out.contains("INFO: omicron: using template") && !out.contains("building template"),
        "{out}"
    );
    zones.push(("b-snap".to_string(), zp));

    // Every zone whose install was killed installs now, from that template,
    // with none of the poison written into the half-built ones.
    for (zone, zp) in &zones {
        if zone != "b-snap" {
            let out = ok(&f, zone, zp, &img);
            assert!(!out.contains("building template"), "{zone}: {out}");
        }
        let root_ds = f.root_dataset(zone);
        assert_eq!(
            get(&f, &root_ds, "origin"),
            Some(ready(&template).to_string()),
            "{zone}"
        );
        let root = zp.join("root");
        for i in 0..points.len() {
            assert!(
                !root.join(format!("poison-{i}")).exists(),
                "{zone}: poison-{i} from a killed build"
            );
        }
        assert_eq!(
            std::fs::read(root.join("etc/motd")).unwrap(),
            b"baseline motd\n",
            "{zone}"
        );
        assert_eq!(
            std::fs::read(root.join("opt/f1")).unwrap(),
            b"data\n",
            "{zone}"
        );
        assert!(
            root.join("sbin/init").symlink_metadata().is_ok(),
            "{zone}: sbin replicated"
        );
        assert!(!root.join("lib/svc/manifest").exists(), "{zone}: pruned");
    }
    assert_eq!(
        templates(&f),
        vec![template.clone()],
        "no half-built template is left"
    );
    assert_eq!(get(&f, &template, "guid"), template_guid);

    // An install waiting for a build that gets killed builds it anew (a new
    // boot, so that there is a template to build).
    let boot = [("OMICRON1_BOOT_ID", "boot-kill_build-2")];
    let zp = f.zonepath("w-builder");
    let builder = install_until(&f, "w-builder", &zp, &img, "unpack-entry:baseline#3", &boot);
    let second = templates(&f)
        .into_iter()
        .find(|t| *t != template)
        .expect("the second boot's template");
    let mountpoint = get(&f, &second, "mountpoint").unwrap();
    std::fs::write(Path::new(&mountpoint).join("poison-w"), b"half-built\n").unwrap();
    let wzp = f.zonepath("w-waiter");
    let waiter = spawn_install(&f, "w-waiter", &wzp, &img, &boot);
    // The kernel's word that the waiter sits in the lock wait (fcntl F_SETLKW)
    // on the stopped builder's template, not merely that it printed so.
    waiter.wait_until_blocked_in_fcntl();
    assert!(
        waiter
            .stdout()
            .contains("waiting for another install to finish building template"),
        "{}",
        waiter.stdout()
    );
    builder.kill();
    let end = waiter.wait();
    let out = end.stdout;
    assert_eq!(end.code, Some(0), "{out}{}", end.stderr);
    assert!(
        out.contains("destroying unfinished template") && out.contains("building template"),
        "{out}"
    );
    assert!(
        !wzp.join("root/poison-w").exists(),
        "the waiter did not clone the killed build"
    );
    assert_eq!(
        std::fs::read(wzp.join("root/etc/motd")).unwrap(),
        b"baseline motd\n"
    );
    let origin = get(&f, &f.root_dataset("w-waiter"), "origin").unwrap();
    assert_eq!(origin, ready(&second).to_string());
    assert_ne!(get(&f, &second, "guid"), None);
    assert!(!exists(&f, &f.root_dataset("w-builder")));
}

/// Identity and size of the template: unchanged by any install.
fn template_state(f: &Fixture) -> Vec<Option<String>> {
    let t = templates(f);
    assert_eq!(t.len(), 1, "{t:?}");
    let snap = ready(&t[0]);
    let mut out = Vec::new();
    for p in ["guid", "referenced", "written"] {
        out.push(f.zfs.get_value((&snap).into(), p).unwrap());
        out.push(get(f, &t[0], p));
    }
    out
}

#[test]
fn killed_installs_leave_an_incomplete_zone_that_uninstall_cleans() {
    let f = Fixture::new("kill_install");
    let img = image(&f, "app", 8);
    let zp = f.zonepath("warm");
    ok(&f, "warm", &zp, &img);
    let before = template_state(&f);
    let installing = Some("installing".to_string());
    let installed = Some("installed".to_string());

    // Before the clone: nothing is left, and the zone simply installs.
    let zp = f.zonepath("k-before-clone");
    let s = install_until(&f, "k-before-clone", &zp, &img, "before-clone", &[]);
    s.kill();
    let root = f.root_dataset("k-before-clone");
    assert!(!exists(&f, &root));
    ok(&f, "k-before-clone", &zp, &img);
    assert_eq!(get(&f, &root, "omicron1:state"), installed);

    // After the clone, during the unpack (tar entries: oxide.json, then
    // opt/f0.. — stopping before entry 5 means f0-f2 are in), and before
    // recording: an incomplete zone root.
    // Zone, stop point, and what the zone root holds there.
    type Case = (&'static str, &'static str, fn(&Path));
    let cases: [Case; 3] = [
        ("k-after-clone", "after-clone", |root| {
            assert!(!root.join("opt").exists(), "nothing unpacked yet");
            assert!(
                root.join("etc/motd").exists(),
                "the template's files are there"
            );
        }),
        ("k-unpack", "unpack-entry:layer#5", |root| {
            for i in 0..3 {
                assert!(root.join(format!("opt/f{i}")).exists(), "f{i} is unpacked");
            }
            for i in 3..8 {
                assert!(
                    !root.join(format!("opt/f{i}")).exists(),
                    "f{i} is not unpacked yet"
                );
            }
        }),
        ("k-before-record", "before-record", |root| {
            for i in 0..8 {
                assert!(root.join(format!("opt/f{i}")).exists(), "f{i}");
            }
        }),
    ];
    for (zone, point, while_stopped) in cases {
        let zp = f.zonepath(zone);
        let root = f.root_dataset(zone);
        let s = install_until(&f, zone, &zp, &img, point, &[]);
        assert!(exists(&f, &root), "{point}");
        assert_eq!(get(&f, &root, "omicron1:state"), installing, "{point}");
        while_stopped(&zp.join("root"));
        s.kill();
        // What zoneadm would show as incomplete.
        assert_eq!(get(&f, &root, "omicron1:state"), installing, "{point}");
        assert_eq!(
            get(&f, &root, "omicron1:images"),
            None,
            "{point}: nothing recorded"
        );
        let guid = get(&f, &root, "guid");
        // A new install refuses the leftover and leaves it alone.
        let out = f.hook(zone, &zp, &["install", img.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(254), "{point}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("uninstall -F"),
            "{point}: says what to do"
        );
        assert_eq!(
            get(&f, &root, "guid"),
            guid,
            "{point}: the leftover is untouched"
        );
        // uninstall -F removes it; then the zone installs.
        let out = f.hook(zone, &zp, &["uninstall", "-F"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{point}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!exists(&f, &root), "{point}");
        ok(&f, zone, &zp, &img);
        assert_eq!(get(&f, &root, "omicron1:state"), installed, "{point}");
        assert_eq!(
            get(&f, &root, "omicron1:images").as_deref(),
            Some("1"),
            "{point}"
        );
        assert_eq!(
            std::fs::read(zp.join("root/opt/f7")).unwrap(),
            b"data\n",
            "{point}"
        );
        assert_ne!(get(&f, &root, "guid"), guid, "{point}: a new root");
    }
    assert_eq!(template_state(&f), before, "the template is unchanged");
}
