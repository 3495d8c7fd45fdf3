//! Shared setup for the tests that run inside the VM against real OpenZFS.
//!
//! `vm-tests/run.sh` boots the VM, creates a file-backed pool and runs these
//! tests with `OMICRON1_TEST_POOL` (the pool) and `OMICRON1_TEST_MOUNT` (its
//! mountpoint) set. Outside the VM they fail at once with a message saying how
//! to run them: they are never skipped.

pub mod fixture;
pub mod stop;
pub mod trace;

use std::path::PathBuf;

use omicron1_zfs::{CliZfs, CreateOptions, DatasetName, Zfs};

/// The pool the harness made for this run and where it is mounted.
#[derive(Debug, Clone)]
pub struct TestPool {
    /// The pool's root dataset.
    pub root: DatasetName,
    /// Its mountpoint.
    pub mountpoint: PathBuf,
}

/// The harness's pool. Panics, naming the way to run the suite, outside the VM.
pub fn test_pool() -> TestPool {
    let (Ok(pool), Ok(mount)) = (
        std::env::var("OMICRON1_TEST_POOL"),
        std::env::var("OMICRON1_TEST_MOUNT"),
    ) else {
        panic!("VM tests need a real ZFS pool: run them with vm-tests/run.sh");
    };
    TestPool {
        root: pool.parse().expect("OMICRON1_TEST_POOL is a pool name"),
        mountpoint: mount.into(),
    }
}

/// A fresh, empty filesystem for one test, named after it, and its mountpoint.
/// Fails if it exists already: each test owns its name.
pub fn scratch(zfs: &dyn Zfs, test: &str) -> (DatasetName, PathBuf) {
    let pool = test_pool();
    let ds = pool
        .root
        .child(test)
        .expect("test name is a valid dataset component");
    zfs.create(&ds, &CreateOptions::default())
        .unwrap_or_else(|e| panic!("create {ds}: {e}"));
    (ds, pool.mountpoint.join(test))
}

/// The real backend.
pub fn real_zfs() -> CliZfs {
    CliZfs::new()
}
