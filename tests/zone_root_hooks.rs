//! The hooks beside install on the fake: `attach` finds the zone's root or
//! refuses, for a ZFS zonepath and for a copied tree. (The VM suite runs them
//! on real ZFS, `vm-tests/tests/install.rs`.)

mod pipeline;

use omicron1::zone_root::{self, ZoneRootError};
use omicron1_zfs::{ObjectName, Zfs};
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
