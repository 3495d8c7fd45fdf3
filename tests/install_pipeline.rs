//! The install pipeline's rollback on the in-memory fake: an image that fails
//! destroys the clone, and a clone that fails leaves nothing — fast, beside
//! the VM tests that prove the same on real ZFS (`vm-tests/tests/install.rs`,
//! `kill.rs`). A signal's rollback is in `install_signal.rs`: the signal flag
//! is the process's, so it gets a process of its own.

mod pipeline;

use omicron1::zone_root::ZoneRootError;
use omicron1_zfs::{ErrorKind, ObjectName, Zfs};
use pipeline::World;

#[test]
fn an_install_on_the_fake_clones_unpacks_and_records() {
    let w = World::new();
    let layer = w.layer("a.tar.gz", "etc/hello", b"hi\n");
    w.install(&[layer]).unwrap();
    assert_eq!(
        std::fs::read(w.zone.root_path().join("etc/hello")).unwrap(),
        b"hi\n"
    );
    let state = w.zfs.get_value((&w.root).into(), "omicron1:state").unwrap();
    assert_eq!(state.as_deref(), Some("installed"));
}

#[test]
fn an_image_that_fails_destroys_the_clone() {
    let w = World::new();
    let good = w.layer("a.tar.gz", "etc/hello", b"hi\n");
    let bad = w.dir.path().join("bad.tar.gz");
    std::fs::write(&bad, b"not a gzip stream").unwrap();
    let failure = w.install(&[good, bad]).unwrap_err();
    assert!(
        matches!(*failure.error, ZoneRootError::Image(_)),
        "{}",
        failure.error
    );
    assert!(failure.leftovers.is_empty(), "{:?}", failure.leftovers);
    let commands = w.zfs.take_commands();
    let clone = commands.iter().position(|c| *c == "zfs clone").unwrap();
    assert_eq!(commands.last(), Some(&"zfs destroy"), "{commands:?}");
    assert!(clone < commands.len() - 1);
    assert!(
        !w.zfs.exists(ObjectName::from(&w.root)).unwrap(),
        "the clone was destroyed"
    );
    assert!(
        failure.error.to_string().contains("bad.tar.gz"),
        "the second image failed: {}",
        failure.error
    );
    assert!(
        w.template_is_ready(),
        "the template stays for the next install"
    );
}

#[test]
fn a_clone_that_fails_leaves_nothing() {
    let w = World::new();
    let layer = w.layer("a.tar.gz", "etc/hello", b"hi\n");
    w.zfs.fail_next("zfs clone", ErrorKind::NoSpace);
    let failure = w.install(&[layer]).unwrap_err();
    assert!(
        matches!(&*failure.error, ZoneRootError::Zfs(e) if e.kind() == ErrorKind::NoSpace),
        "{}",
        failure.error
    );
    assert!(failure.leftovers.is_empty());
    let commands = w.zfs.take_commands();
    assert!(!w.zfs.exists(ObjectName::from(&w.root)).unwrap());
    assert_eq!(
        commands.iter().filter(|c| **c == "zfs destroy").count(),
        0,
        "nothing was made, so nothing is destroyed: {commands:?}"
    );
    assert!(
        !w.zone.root_path().join("etc/hello").exists(),
        "no image was unpacked"
    );
}

#[test]
fn a_rollback_that_fails_is_reported_as_leftovers() {
    let w = World::new();
    let bad = w.dir.path().join("bad.tar.gz");
    std::fs::write(&bad, b"not a gzip stream").unwrap();
    w.zfs.fail_next("zfs destroy", ErrorKind::Busy);
    let failure = w.install(&[bad]).unwrap_err();
    assert_eq!(failure.leftovers.len(), 1, "{:?}", failure.leftovers);
    assert!(
        failure.leftovers[0].contains(w.root.as_str()),
        "{:?}",
        failure.leftovers
    );
    assert!(w.zfs.exists(ObjectName::from(&w.root)).unwrap());
}

#[test]
fn a_second_install_is_refused_and_leaves_the_first_root() {
    let w = World::new();
    let layer = w.layer("a.tar.gz", "etc/hello", b"hi\n");
    w.install(std::slice::from_ref(&layer)).unwrap();
    let failure = w.install(&[layer]).unwrap_err();
    match &*failure.error {
        ZoneRootError::RootExists(root) => assert_eq!(*root, w.root.to_string()),
        other => panic!("not refused as an existing root: {other}"),
    }
    assert!(
        failure.error.to_string().contains("uninstall -F"),
        "says what to do: {}",
        failure.error
    );
    assert!(failure.leftovers.is_empty());
    assert!(
        w.zfs.exists(ObjectName::from(&w.root)).unwrap(),
        "the first install's root is kept"
    );
    assert_eq!(
        w.zfs
            .get_value(ObjectName::from(&w.root), "omicron1:state")
            .unwrap()
            .as_deref(),
        Some("installed")
    );
}
