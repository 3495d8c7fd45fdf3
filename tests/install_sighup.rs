//! SIGHUP (a closed terminal or a restarted session) rolls back like SIGINT and
//! SIGTERM: the install destroys its clone, a template build its unfinished
//! template. In a process of its own, since the signal flag is the process's;
//! without a handler for SIGHUP the signal would end the test process.

mod pipeline;

use nix::sys::signal::{raise, Signal};
use omicron1::support::signals;
use omicron1::template::TemplateError;
use omicron1::zone_root::ZoneRootError;
use omicron1_zfs::{ObjectName, Zfs};
use pipeline::World;

#[test]
fn sighup_rolls_back_an_install_and_a_template_build() {
    let w = World::new();
    w.build_template();
    let layer = w.layer("a.tar.gz", "etc/hello", b"hi\n");
    signals::install_handlers();
    raise(Signal::SIGHUP).unwrap();
    assert_eq!(signals::interrupted(), Some(Signal::SIGHUP));

    // The install: cloned, then interrupted before the first image.
    let failure = w.install(&[layer]).unwrap_err();
    match &*failure.error {
        ZoneRootError::Interrupted(i) => assert_eq!(i.0, Signal::SIGHUP),
        other => panic!("not interrupted: {other}"),
    }
    assert!(failure.error.to_string().contains("SIGHUP"));
    assert!(failure.leftovers.is_empty());
    let commands = w.zfs.take_commands();
    assert!(commands.contains(&"zfs clone"), "{commands:?}");
    assert_eq!(commands.last(), Some(&"zfs destroy"), "{commands:?}");
    assert!(!w.zfs.exists(ObjectName::from(&w.root)).unwrap());
    assert!(w.template_is_ready(), "the template is kept");

    // A build in another boot: the dataset is made, then destroyed.
    let err = w.ensure_in("boot-2").unwrap_err();
    assert!(
        matches!(
            err,
            TemplateError::Interrupted(_) | TemplateError::Rootfs(_)
        ),
        "{err}"
    );
    let mut chain = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        chain.push_str(&format!(": {s}"));
        source = s.source();
    }
    assert!(chain.contains("interrupted by SIGHUP"), "{chain}");
    let commands = w.zfs.take_commands();
    assert!(commands.contains(&"zfs create"), "{commands:?}");
    assert_eq!(commands.last(), Some(&"zfs destroy"), "{commands:?}");
    let container = w.parent().child("omicron1-templates").unwrap();
    assert_eq!(
        w.zfs.children(&container).unwrap().len(),
        1,
        "only boot-1's template is left"
    );
}
