//! `template::ensure` when ZFS fails or finds something odd, on the fake: a
//! failure to look for the template is an error, never taken for "no template"
//! (which would start a build over whatever is there); and what a dead build
//! left is cleaned without a collection scan it does not need.

mod pipeline;

use omicron1::template::TemplateError;
use omicron1_zfs::{CreateOptions, ErrorKind, Zfs};
use pipeline::World;

#[test]
fn a_failing_probe_is_an_error_not_a_missing_template() {
    let w = World::new();
    w.build_template();
    w.zfs.fail_next("zfs get", ErrorKind::Other);
    let err = w.ensure_in("boot-1").unwrap_err();
    assert!(matches!(err, TemplateError::Zfs(_)), "{err}");
    assert_eq!(
        w.zfs.take_commands(),
        ["zfs get"],
        "nothing built or listed"
    );
    assert!(w.template_is_ready(), "the template is untouched");
}

#[test]
fn a_failing_survey_is_an_error_not_an_empty_container() {
    let w = World::new();
    w.zfs.fail_next("zfs list", ErrorKind::Other);
    let err = w.ensure_in("boot-1").unwrap_err();
    assert!(matches!(err, TemplateError::Zfs(_)), "{err}");
    assert_eq!(
        w.zfs.take_commands(),
        ["zfs get", "zfs list"],
        "no container or template made after the failed look"
    );
}

#[test]
fn what_is_below_a_dead_build_is_not_another_template() {
    let w = World::new();
    // A build that died, with a dataset below its template (as a stray
    // `zfs create` could leave): destroyed with it, and no reason to scan
    // the container for stale templates afterwards.
    let dead = w.template().dataset;
    let opts = CreateOptions {
        parents: true,
        properties: &[("canmount", "noauto")],
    };
    w.zfs.create(&dead, &opts).unwrap();
    w.zfs.create(&dead.child("stray").unwrap(), &opts).unwrap();
    w.zfs.take_commands();
    let ready = w.ensure_in("boot-1").unwrap();
    assert_eq!(
        w.zfs.take_commands(),
        [
            "zfs get",
            "zfs list",
            "zfs destroy",
            "zfs create",
            "zfs mount",
            "zfs get",
            "zfs unmount",
            "zfs snapshot",
        ],
        "no collection scan"
    );
    drop(ready);
    assert!(w.template_is_ready());
}

#[test]
fn a_container_made_by_another_builder_meanwhile_is_used() {
    let w = World::new();
    // Another baseline's builder made the container after this build looked
    // (the look is told it is not there): creating it finds it, and goes on.
    let container = w.template().container;
    let opts = CreateOptions {
        parents: false,
        properties: &[("canmount", "off")],
    };
    w.zfs.create(&container, &opts).unwrap();
    w.zfs.take_commands();
    w.zfs.fail_next("zfs list", ErrorKind::NotFound);
    let ready = w.ensure_in("boot-1").unwrap();
    assert_eq!(
        w.zfs.take_commands(),
        [
            "zfs get",
            "zfs list",
            "zfs create",
            "zfs create",
            "zfs mount",
            "zfs get",
            "zfs unmount",
            "zfs snapshot",
        ]
    );
    drop(ready);
    assert!(w.template_is_ready());
}

#[test]
fn a_container_that_cannot_be_made_is_the_error() {
    let w = World::new();
    w.zfs.fail_next("zfs create", ErrorKind::NoSpace);
    let err = w.ensure_in("boot-1").unwrap_err();
    let container = w.template().container;
    assert!(
        err.to_string()
            .starts_with(&format!("zfs create of {container}: ")),
        "the container's failure is reported, not a later one: {err}"
    );
    assert_eq!(
        w.zfs.take_commands(),
        ["zfs get", "zfs list", "zfs create"],
        "nothing more is tried"
    );
}
