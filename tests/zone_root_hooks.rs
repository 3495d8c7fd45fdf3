//! The hooks beside install on the fake: `attach` finds the zone's root or
//! refuses; `clone` through its own snapshot or a given one; `uninstall`
//! refusing a root with clones and reporting other failures; the copy fallback
//! for a zonepath not on ZFS. (The VM suite runs them on real ZFS,
//! `vm-tests/tests/install.rs`.)

mod pipeline;

use omicron1::zone::Zone;
use omicron1::zone_root::uninstall::uninstall;
use omicron1::zone_root::{self, ZoneRootError};
use omicron1_zfs::{ErrorKind, ObjectName, Zfs};
use pipeline::World;

#[test]
fn attach_needs_the_zone_root() {
    let w = World::new();
    match zone_root::attach(&w.zfs, &w.zone) {
        Err(ZoneRootError::NothingToAttach { zone, .. }) => assert_eq!(zone, w.zone.name),
        other => panic!("attach before install: {other:?}"),
    }
    let layer = w.layer("a.tar.gz", "etc/hello", b"hi\n");
    w.install(&[layer]).unwrap();
    zone_root::attach(&w.zfs, &w.zone).unwrap();
}

#[test]
fn clone_makes_the_root_a_clone_of_the_source_zones_root() {
    let w = World::new();
    w.write_config(&w.zone);
    let z2 = w.another_zone("z2");
    // Nothing to clone before the source is installed.
    match zone_root::clone::clone(&w.zfs, w.zones_dir(), &z2, &w.zone.name, None) {
        Err(ZoneRootError::NoSourceRoot { zone, .. }) => assert_eq!(zone, w.zone.name),
        other => panic!("clone of an uninstalled zone: {other:?}"),
    }
    let layer = w.layer("a.tar.gz", "etc/hello", b"hi\n");
    w.install(&[layer]).unwrap();

    // Through a snapshot of its own, named after the new zone.
    zone_root::clone::clone(&w.zfs, w.zones_dir(), &z2, &w.zone.name, None).unwrap();
    let root2 = w.parent().child("z2").unwrap().child("root").unwrap();
    let snap = w.root.snapshot("clone-z2").unwrap();
    let get = |p: &str| w.zfs.get_value(ObjectName::from(&root2), p).unwrap();
    assert!(w.zfs.exists(ObjectName::from(&snap)).unwrap());
    assert_eq!(get("origin").as_deref(), Some(snap.as_str()));
    assert_eq!(get("omicron1:state").as_deref(), Some("installed"));
    assert_eq!(get("omicron1:zone").as_deref(), Some("z2"));
    assert_eq!(
        get("omicron1:clone-snapshot").as_deref(),
        Some(snap.as_str())
    );
    // Again: the root is there.
    assert!(matches!(
        zone_root::clone::clone(&w.zfs, w.zones_dir(), &z2, &w.zone.name, None),
        Err(ZoneRootError::CloneTargetExists(_))
    ));

    // From a snapshot given with -s: used as it is, not the new zone's to destroy.
    let z3 = w.another_zone("z3");
    let given = w.root.snapshot("s1").unwrap();
    w.zfs.snapshot(&given, &[]).unwrap();
    zone_root::clone::clone(&w.zfs, w.zones_dir(), &z3, &w.zone.name, Some("s1")).unwrap();
    let root3 = w.parent().child("z3").unwrap().child("root").unwrap();
    let get3 = |p: &str| w.zfs.get_value(ObjectName::from(&root3), p).unwrap();
    assert_eq!(get3("origin").as_deref(), Some(given.as_str()));
    assert_eq!(get3("omicron1:clone-snapshot"), None);
    assert!(!w
        .zfs
        .exists(ObjectName::from(&w.root.snapshot("clone-z3").unwrap()))
        .unwrap());
}

#[test]
fn uninstall_refuses_a_root_with_clones_and_reports_other_failures() {
    let w = World::new();
    w.write_config(&w.zone);
    let layer = w.layer("a.tar.gz", "etc/hello", b"hi\n");
    w.install(&[layer]).unwrap();
    // A failure to read the root is an error, not "nothing to uninstall".
    w.zfs.fail_next("zfs get", ErrorKind::Other);
    let err = uninstall(&w.zfs, w.site(), &w.zone, false).unwrap_err();
    assert!(matches!(err, ZoneRootError::Zfs(_)), "{err}");
    assert!(w.zfs.exists(ObjectName::from(&w.root)).unwrap());
    // A busy root is that failure, not "it has clones".
    w.zfs.fail_next("zfs destroy", ErrorKind::Busy);
    let err = uninstall(&w.zfs, w.site(), &w.zone, false).unwrap_err();
    assert!(matches!(err, ZoneRootError::Zfs(_)), "{err}");
    // A zone cloned from it keeps it.
    let z2 = w.another_zone("z2");
    zone_root::clone::clone(&w.zfs, w.zones_dir(), &z2, &w.zone.name, None).unwrap();
    let err = uninstall(&w.zfs, w.site(), &w.zone, false).unwrap_err();
    match err {
        ZoneRootError::HasClones { root } => assert_eq!(root, w.root),
        other => panic!("{other}"),
    }
    assert!(w.zfs.exists(ObjectName::from(&w.root)).unwrap());
    // Uninstalling the clone first, then it, works.
    uninstall(&w.zfs, w.site(), &z2, false).unwrap();
    uninstall(&w.zfs, w.site(), &w.zone, false).unwrap();
    assert!(!w.zfs.exists(ObjectName::from(&w.root)).unwrap());
    assert!(!w
        .zfs
        .exists(ObjectName::from(&w.root.snapshot("clone-z2").unwrap()))
        .unwrap());
    // Nothing left: nothing to do.
    uninstall(&w.zfs, w.site(), &w.zone, false).unwrap();
}

#[test]
fn a_zonepath_not_on_zfs_gets_a_copied_root_once() {
    let w = World::new();
    let zonepath = w.dir.path().join("plain/zcopy");
    std::fs::create_dir_all(&zonepath).unwrap();
    let zone = Zone {
        name: "zcopy".parse().unwrap(),
        zonepath: zonepath.clone(),
    };
    let layer = w.layer("a.tar.gz", "etc/hello", b"hi\n");
    w.install_zone(&zone, std::slice::from_ref(&layer)).unwrap();
    let root = zonepath.join("root");
    assert_eq!(std::fs::read(root.join("etc/hello")).unwrap(), b"hi\n");
    assert_eq!(std::fs::read(root.join("etc/motd")).unwrap(), b"motd\n");
    assert!(root.join("usr/bin/true").exists() && root.join("sbin/init").exists());
    // Again: refused as an existing root, which stays.
    let failure = w
        .install_zone(&zone, std::slice::from_ref(&layer))
        .unwrap_err();
    assert!(
        matches!(*failure.error, ZoneRootError::RootExists(_)),
        "{}",
        failure.error
    );
    assert!(root.join("etc/hello").exists(), "the first copy is kept");
    // A root that cannot be made for another reason is that error.
    let file_zonepath = w.dir.path().join("plain/not-a-folder");
    std::fs::write(&file_zonepath, b"a file").unwrap();
    let odd = Zone {
        name: "odd".parse().unwrap(),
        zonepath: file_zonepath,
    };
    let failure = w.install_zone(&odd, &[layer]).unwrap_err();
    assert!(
        !matches!(*failure.error, ZoneRootError::RootExists(_)),
        "{}",
        failure.error
    );
    // Nor is a root that cannot be looked at taken for one not there.
    assert!(uninstall(&w.zfs, w.site(), &odd, false).is_err());
    // Uninstall removes the copy.
    uninstall(&w.zfs, w.site(), &zone, false).unwrap();
    assert!(!root.exists() && zonepath.is_dir());
    // Again: nothing to uninstall, and that is not an error.
    uninstall(&w.zfs, w.site(), &zone, false).unwrap();
}

#[test]
fn uninstall_of_a_clone_takes_its_snapshot_if_it_is_still_there() {
    let w = World::new();
    w.write_config(&w.zone);
    let layer = w.layer("a.tar.gz", "etc/hello", b"hi\n");
    w.install(&[layer]).unwrap();
    let z2 = w.another_zone("z2");
    zone_root::clone::clone(&w.zfs, w.zones_dir(), &z2, &w.zone.name, None).unwrap();
    let root2 = w.parent().child("z2").unwrap().child("root").unwrap();
    // A snapshot already gone is fine: the root goes, and that is all.
    let gone = w.root.snapshot("gone").unwrap().to_string();
    w.zfs
        .set(
            ObjectName::from(&root2),
            &[("omicron1:clone-snapshot", gone.as_str())],
        )
        .unwrap();
    uninstall(&w.zfs, w.site(), &z2, false).unwrap();
    assert!(!w.zfs.exists(ObjectName::from(&root2)).unwrap());
    // Any other failure to destroy the snapshot is reported.
    let z3 = w.another_zone("z3");
    zone_root::clone::clone(&w.zfs, w.zones_dir(), &z3, &w.zone.name, None).unwrap();
    w.zfs.fail_after("zfs destroy", 1, ErrorKind::Busy);
    let err = uninstall(&w.zfs, w.site(), &z3, false).unwrap_err();
    assert!(matches!(err, ZoneRootError::Zfs(_)), "{err}");
}
