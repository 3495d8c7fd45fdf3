//! Every operation of the `zfs` crate against real OpenZFS, error cases included.
//!
//! Each test runs one of the shared conformance checks (the same ones the
//! in-memory fake passes) on a scratch dataset of its own, plus the cases only
//! a real system can show: a busy unmount, a path that is not on ZFS, and the
//! full story a failed command carries.

use std::path::Path;

use omicron1_vm_tests::{real_zfs, scratch};
use omicron1_zfs::conformance::{self, Scratch};
use omicron1_zfs::{Error, ErrorKind, Zfs};

fn run(test: &str, check: fn(&dyn Zfs, &Scratch)) {
    let zfs = real_zfs();
    let (dataset, mountpoint) = scratch(&zfs, test);
    check(
        &zfs,
        &Scratch {
            dataset,
            mountpoint,
        },
    );
}

#[test]
fn create_and_properties() {
    run("create_and_properties", conformance::create_and_properties);
}

#[test]
fn create_errors() {
    run("create_errors", conformance::create_errors);
}

#[test]
fn snapshots() {
    run("snapshots", conformance::snapshots);
}

#[test]
fn clones() {
    run("clones", conformance::clones);
}

#[test]
fn destroy() {
    run("destroy", conformance::destroy);
}

#[test]
fn inheritance() {
    run("inheritance", conformance::inheritance);
}

#[test]
fn mounts() {
    run("mounts", conformance::mounts);
}

#[test]
fn pools() {
    run("pools", conformance::pools);
}

#[test]
fn unmount_of_a_dataset_in_use_is_busy() {
    let zfs = real_zfs();
    let (ds, mountpoint) = scratch(&zfs, "busy");
    // An open directory handle inside the mount keeps it busy.
    let file = mountpoint.join("held");
    std::fs::write(&file, b"x").unwrap();
    let held = std::fs::File::open(&file).unwrap();
    let err = zfs.unmount(&ds).expect_err("unmount while a file is open");
    assert_eq!(err.kind(), ErrorKind::Busy, "{err}");
    drop(held);
    zfs.unmount(&ds).expect("unmount once the file is closed");
}

#[test]
fn a_path_not_on_zfs_has_no_dataset() {
    let zfs = real_zfs();
    // The harness keeps the VM's own root off ZFS; /proc is never ZFS.
    assert_eq!(zfs.dataset_mounted_at(Path::new("/proc")).unwrap(), None);
    // A directory inside a ZFS mount is not itself a mountpoint.
    let (_, mountpoint) = scratch(&zfs, "notamount");
    let dir = mountpoint.join("sub");
    std::fs::create_dir(&dir).unwrap();
    assert_eq!(zfs.dataset_mounted_at(&dir).unwrap(), None);
}

#[test]
fn a_failed_command_carries_argv_status_and_stderr() {
    let zfs = real_zfs();
    let missing: omicron1_zfs::DatasetName = "nosuchpool/x".parse().unwrap();
    let err = zfs
        .get((&missing).into(), &["type"])
        .expect_err("get on a missing pool");
    assert!(err.is_not_found(), "{err}");
    let Error::Command { source, .. } = &err else {
        panic!("not a command error: {err:?}")
    };
    assert_eq!(source.argv[0], "/usr/sbin/zfs");
    assert!(
        source.argv.iter().any(|a| a == "nosuchpool/x"),
        "{:?}",
        source.argv
    );
    assert_eq!(source.status.and_then(|s| s.code()), Some(1));
    assert!(source.stderr.contains("nosuchpool"), "{}", source.stderr);
}

#[test]
fn clone_of_a_missing_snapshot_is_not_found_and_creates_nothing() {
    let zfs = real_zfs();
    let (ds, _) = scratch(&zfs, "noclone");
    let target = ds.child("c").unwrap();
    let err = zfs
        .clone_snapshot(&ds.snapshot("nope").unwrap(), &target, &[])
        .expect_err("clone of a missing snapshot");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(!zfs.exists((&target).into()).unwrap());
}

#[test]
fn runner_counts_processes() {
    let zfs = real_zfs();
    let before = zfs.runner().processes_started();
    zfs.pools().unwrap();
    assert_eq!(zfs.runner().processes_started(), before + 1);
}

#[test]
fn listing() {
    run("listing", conformance::listing);
}
