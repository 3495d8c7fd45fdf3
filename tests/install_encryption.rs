//! The install refuses a zonepath dataset encrypted otherwise than the
//! template it would clone (OpenZFS would clone an unencrypted template into an
//! encrypted zonepath as an *unencrypted* zone root), on the fake, which models
//! encryption roots as OpenZFS reports them. The VM suite shows the same on real
//! ZFS (`vm-tests/tests/install.rs`).

mod pipeline;

use omicron1::zone_root::ZoneRootError;
use omicron1_zfs::{ObjectName, Zfs};
use pipeline::World;

const OWN_KEY: [(&str, &str); 3] = [
    ("encryption", "on"),
    ("keyformat", "passphrase"),
    ("keylocation", "file:///nonexistent/key"),
];

#[test]
fn a_zonepath_that_is_its_own_encryption_root_is_refused_before_the_clone() {
    let w = World::with_zonepath(&OWN_KEY);
    let layer = w.layer("a.tar.gz", "etc/hello", b"hi\n");
    let failure = w.install(&[layer]).unwrap_err();
    match &*failure.error {
        ZoneRootError::EncryptionMismatch {
            template_root,
            zonepath,
            zonepath_root,
            ..
        } => {
            assert_eq!(*template_root, None, "the template is not encrypted");
            assert_eq!(zonepath.as_str(), "tp/zone/z1");
            assert_eq!(zonepath_root.as_deref(), Some("tp/zone/z1"));
        }
        other => panic!("not an encryption mismatch: {other}"),
    }
    assert!(failure.leftovers.is_empty());
    let commands = w.zfs.take_commands();
    assert!(
        !commands.contains(&"zfs clone"),
        "refused before cloning: {commands:?}"
    );
    assert!(!w.zfs.exists(ObjectName::from(&w.root)).unwrap());
    assert!(w.template_is_ready(), "the template itself is fine");
}

#[test]
fn a_zonepath_sharing_the_templates_encryption_root_installs() {
    // Unencrypted both: the case every other pipeline test runs.
    let w = World::new();
    let layer = w.layer("a.tar.gz", "etc/hello", b"hi\n");
    w.install(&[layer]).unwrap();
    let root = w
        .zfs
        .get_value(ObjectName::from(&w.root), "encryptionroot")
        .unwrap();
    assert_eq!(root, None);
}
