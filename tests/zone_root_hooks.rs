//! The hooks beside install on the fake: `attach` finds the zone's root or
//! refuses, for a ZFS zonepath and for a copied tree. (The VM suite runs them
//! on real ZFS, `vm-tests/tests/install.rs`.)

mod pipeline;

use omicron1::zone_root::{self, ZoneRootError};
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
