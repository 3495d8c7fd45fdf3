//! A signal during an install rolls it back: the clone is destroyed. In a
//! process of its own, since the signal flag is the process's.

mod pipeline;

use omicron1::support::signals;
use omicron1::zone_root::ZoneRootError;
use omicron1_zfs::{ObjectName, Zfs};
use pipeline::World;

#[test]
fn a_signal_after_the_clone_rolls_the_install_back() {
    let w = World::new();
    // The template first, so that the signal is seen by the install's own
    // check before it unpacks the first image (the build checks too).
    w.build_template();
    let layer = w.layer("a.tar.gz", "etc/hello", b"hi\n");
    signals::install_handlers();
    nix::sys::signal::raise(nix::sys::signal::Signal::SIGTERM).unwrap();
    let failure = w.install(&[layer]).unwrap_err();
    assert!(
        matches!(*failure.error, ZoneRootError::Interrupted(_)),
        "{}",
        failure.error
    );
    assert!(failure.leftovers.is_empty());
    let commands = w.zfs.take_commands();
    assert!(commands.contains(&"zfs clone"), "{commands:?}");
    assert_eq!(commands.last(), Some(&"zfs destroy"), "{commands:?}");
    assert!(!w.zfs.exists(ObjectName::from(&w.root)).unwrap());
    assert!(!w.zone.root_path().join("etc/hello").exists());
    assert!(w.template_is_ready());
}
