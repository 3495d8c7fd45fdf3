//! Behaviour every [`Zfs`] backend must show, as reusable checks.
//!
//! The same checks run against [`crate::FakeZfs`] in this crate's unit tests
//! and against real OpenZFS through [`crate::CliZfs`] in the VM suite
//! (`vm-tests/tests/zfs_ops.rs`), so the fake is proven to fail and succeed
//! where the real thing does. Each check panics with a message on a mismatch,
//! like a test assertion; they are meant to be called from tests only.

use std::path::{Path, PathBuf};

use crate::{
    CreateOptions, DatasetName, Depth, DestroyOptions, ErrorKind, ListKind, PropertySource,
    SnapshotName, Zfs,
};

/// A dataset the checks may fill with children, and where it is mounted.
#[derive(Debug, Clone)]
pub struct Scratch {
    /// An existing, empty filesystem.
    pub dataset: DatasetName,
    /// Its mountpoint.
    pub mountpoint: PathBuf,
}

impl Scratch {
    fn child(&self, name: &str) -> DatasetName {
        self.dataset.child(name).expect("valid child name")
    }
}

fn expect_kind<T: std::fmt::Debug>(result: crate::Result<T>, kind: ErrorKind, what: &str) {
    match result {
        Err(e) => assert_eq!(e.kind(), kind, "{what}: wrong error kind for {e}"),
        Ok(v) => panic!("{what}: expected {kind:?}, got Ok({v:?})"),
    }
}

fn create(zfs: &dyn Zfs, ds: &DatasetName, props: &[(&str, &str)]) {
    let opts = CreateOptions {
        parents: false,
        properties: props,
    };
    zfs.create(ds, &opts)
        .unwrap_or_else(|e| panic!("create {ds}: {e}"));
}

/// Every check, in order, each on its own child of `scratch`.
pub fn all(zfs: &dyn Zfs, scratch: &Scratch) {
    create_and_properties(zfs, scratch);
    create_errors(zfs, scratch);
    snapshots(zfs, scratch);
    clones(zfs, scratch);
    destroy(zfs, scratch);
    inheritance(zfs, scratch);
    mounts(zfs, scratch);
    pools(zfs, scratch);
    listing(zfs, scratch);
}

/// Create with properties set at creation; get, set and inherit user properties.
pub fn create_and_properties(zfs: &dyn Zfs, s: &Scratch) {
    let ds = s.child("props");
    create(
        zfs,
        &ds,
        &[("omicron1:test", "hello"), ("canmount", "noauto")],
    );
    assert!(
        zfs.exists((&ds).into()).unwrap(),
        "{ds} exists after create"
    );
    let p = zfs
        .get(
            (&ds).into(),
            &["omicron1:test", "canmount", "omicron1:unset"],
        )
        .unwrap();
    assert_eq!(p["omicron1:test"].value.as_deref(), Some("hello"));
    assert_eq!(p["omicron1:test"].source, PropertySource::Local);
    assert_eq!(p["canmount"].value.as_deref(), Some("noauto"));
    assert_eq!(
        p["omicron1:unset"].value, None,
        "an unset user property reads as None"
    );

    zfs.set(
        (&ds).into(),
        &[("omicron1:test", "a b\tc"), ("omicron1:other", "2")],
    )
    .unwrap();
    assert_eq!(
        zfs.get_value((&ds).into(), "omicron1:test")
            .unwrap()
            .as_deref(),
        Some("a b\tc")
    );
    assert_eq!(
        zfs.get_value((&ds).into(), "omicron1:other")
            .unwrap()
            .as_deref(),
        Some("2")
    );
    assert!(zfs.children(&s.dataset).unwrap().contains(&ds));
}

/// Create of an existing dataset, of one whose parent is missing, and with `-p`.
pub fn create_errors(zfs: &dyn Zfs, s: &Scratch) {
    let ds = s.child("dup");
    create(zfs, &ds, &[]);
    expect_kind(
        zfs.create(&ds, &CreateOptions::default()),
        ErrorKind::AlreadyExists,
        "create twice",
    );
    let deep = s.child("nope/a/b");
    expect_kind(
        zfs.create(&deep, &CreateOptions::default()),
        ErrorKind::NotFound,
        "missing parent",
    );
    let opts = CreateOptions {
        parents: true,
        properties: &[],
    };
    zfs.create(&deep, &opts).unwrap();
    assert!(zfs.exists((&deep).into()).unwrap());
    zfs.create(&deep, &opts)
        .expect("create -p of an existing dataset succeeds");
    let missing = s.child("never");
    assert!(!zfs.exists((&missing).into()).unwrap());
    expect_kind(
        zfs.get((&missing).into(), &["type"]),
        ErrorKind::NotFound,
        "get of missing",
    );
    expect_kind(
        zfs.set((&missing).into(), &[("omicron1:x", "1")]),
        ErrorKind::NotFound,
        "set",
    );
}

/// Snapshots with properties, listed oldest first; duplicate and missing cases.
pub fn snapshots(zfs: &dyn Zfs, s: &Scratch) {
    let ds = s.child("snaps");
    create(zfs, &ds, &[]);
    let first = ds.snapshot("first").unwrap();
    let second = ds.snapshot("second").unwrap();
    zfs.snapshot(&second, &[("omicron1:n", "2")]).unwrap();
    zfs.snapshot(&first, &[]).unwrap();
    let listed = zfs
        .list(&ds, ListKind::Snapshots, Depth::Levels(1), &[])
        .unwrap();
    let mut names: Vec<&str> = listed.iter().map(|r| r.name.as_str()).collect();
    names.sort();
    assert_eq!(names, [first.as_str(), second.as_str()]);
    assert!(listed.iter().all(|r| r.name.as_snapshot().is_some()));
    assert_eq!(
        zfs.get_value((&second).into(), "omicron1:n")
            .unwrap()
            .as_deref(),
        Some("2")
    );
    assert_eq!(
        zfs.get_value((&second).into(), "type").unwrap().as_deref(),
        Some("snapshot")
    );
    expect_kind(
        zfs.snapshot(&first, &[]),
        ErrorKind::AlreadyExists,
        "snapshot twice",
    );
    let orphan = s.child("nosuch").snapshot("x").unwrap();
    expect_kind(
        zfs.snapshot(&orphan, &[]),
        ErrorKind::NotFound,
        "snapshot of missing dataset",
    );
    assert!(zfs.exists((&first).into()).unwrap());
    assert!(!zfs.exists((&orphan).into()).unwrap());
}

/// Clone with properties: origin and clones agree; missing origin, existing target.
pub fn clones(zfs: &dyn Zfs, s: &Scratch) {
    let src = s.child("clonesrc");
    create(zfs, &src, &[]);
    let snap = src.snapshot("base").unwrap();
    zfs.snapshot(&snap, &[]).unwrap();
    let clones = |snap: &SnapshotName| {
        crate::parse::clone_list(zfs.get_value(snap.into(), "clones").unwrap().as_deref())
    };
    assert!(clones(&snap).is_empty());
    let c1 = s.child("clone1");
    zfs.clone_snapshot(&snap, &c1, &[("omicron1:zone", "z1")])
        .unwrap();
    assert_eq!(
        zfs.get_value((&c1).into(), "origin").unwrap().as_deref(),
        Some(snap.as_str())
    );
    assert_eq!(
        zfs.get_value((&c1).into(), "omicron1:zone")
            .unwrap()
            .as_deref(),
        Some("z1")
    );
    assert_eq!(clones(&snap), vec![c1.to_string()]);
    assert_eq!(
        zfs.get_value((&src).into(), "origin").unwrap(),
        None,
        "a non-clone has no origin"
    );

    let missing = src.snapshot("nope").unwrap();
    expect_kind(
        zfs.clone_snapshot(&missing, &s.child("c2"), &[]),
        ErrorKind::NotFound,
        "clone of missing",
    );
    expect_kind(
        zfs.clone_snapshot(&snap, &c1, &[]),
        ErrorKind::AlreadyExists,
        "clone onto existing",
    );
    let no_parent = s.child("noparent/c");
    expect_kind(
        zfs.clone_snapshot(&snap, &no_parent, &[]),
        ErrorKind::NotFound,
        "clone, no parent",
    );
}

/// Destroy: dependents refused with a typed error, recursive and deferred destroy.
pub fn destroy(zfs: &dyn Zfs, s: &Scratch) {
    let src = s.child("dsrc");
    create(zfs, &src, &[]);
    let snap = src.snapshot("s").unwrap();
    zfs.snapshot(&snap, &[]).unwrap();
    let clone = s.child("dclone");
    zfs.clone_snapshot(&snap, &clone, &[]).unwrap();

    let plain = DestroyOptions::default();
    expect_kind(
        zfs.destroy((&snap).into(), plain),
        ErrorKind::HasDependents,
        "snapshot with clones",
    );
    expect_kind(
        zfs.destroy((&src).into(), plain),
        ErrorKind::HasDependents,
        "dataset with snapshot",
    );
    let recursive = DestroyOptions {
        recursive: true,
        deferred: false,
    };
    expect_kind(
        zfs.destroy((&src).into(), recursive),
        ErrorKind::HasDependents,
        "-r, clone outside",
    );

    let deferred = DestroyOptions {
        recursive: false,
        deferred: true,
    };
    zfs.destroy((&snap).into(), deferred)
        .expect("deferred destroy of a cloned snapshot");
    assert!(
        zfs.exists((&snap).into()).unwrap(),
        "a deferred snapshot lives while cloned"
    );
    zfs.destroy((&clone).into(), plain).unwrap();
    assert!(!zfs.exists((&clone).into()).unwrap());
    assert!(
        !zfs.exists((&snap).into()).unwrap(),
        "the deferred snapshot goes with its last clone"
    );

    let child = src.child("kid").unwrap();
    create(zfs, &child, &[]);
    expect_kind(
        zfs.destroy((&src).into(), plain),
        ErrorKind::HasDependents,
        "dataset with child",
    );
    zfs.destroy((&src).into(), recursive).unwrap();
    assert!(!zfs.exists((&src).into()).unwrap());
    assert!(!zfs.exists((&child).into()).unwrap());
    expect_kind(
        zfs.destroy((&src).into(), plain),
        ErrorKind::NotFound,
        "destroy of missing",
    );
    expect_kind(
        zfs.destroy((&snap).into(), plain),
        ErrorKind::NotFound,
        "destroy missing snapshot",
    );
}

/// User and native properties inherit, and `get` says from where.
pub fn inheritance(zfs: &dyn Zfs, s: &Scratch) {
    let parent = s.child("inh");
    let child = parent.child("kid").unwrap();
    create(zfs, &parent, &[("omicron1:tag", "p"), ("zoned", "on")]);
    create(zfs, &child, &[]);
    let p = zfs
        .get((&child).into(), &["omicron1:tag", "zoned", "mountpoint"])
        .unwrap();
    assert_eq!(p["omicron1:tag"].value.as_deref(), Some("p"));
    assert_eq!(
        p["omicron1:tag"].source,
        PropertySource::Inherited(parent.to_string())
    );
    assert_eq!(p["zoned"].value.as_deref(), Some("on"));
    assert!(!p["zoned"].source.is_local());
    assert!(
        !p["mountpoint"].source.is_local(),
        "mountpoint inherited: {:?}",
        p["mountpoint"]
    );
    // The global zone may not set a zoned dataset's mountpoint afterwards...
    let err = zfs
        .set((&child).into(), &[("mountpoint", "/data")])
        .expect_err("mountpoint on zoned");
    assert_eq!(err.kind(), ErrorKind::Other, "{err}");
    // ...but may set both at creation, and the dataset then never mounts here.
    let data = s.child("inhdata");
    create(zfs, &data, &[("zoned", "on"), ("mountpoint", "/data")]);
    let p = zfs
        .get((&data).into(), &["mountpoint", "mounted", "zoned"])
        .unwrap();
    assert_eq!(p["mountpoint"].value.as_deref(), Some("/data"));
    assert_eq!(p["mountpoint"].source, PropertySource::Local);
    assert_eq!(p["zoned"].source, PropertySource::Local);
    assert_eq!(
        p["mounted"].value.as_deref(),
        Some("no"),
        "zoned datasets never mount here"
    );
    // Turning zoned on unmounts a mounted dataset.
    let late = s.child("inhlate");
    create(zfs, &late, &[]);
    assert_eq!(
        zfs.get_value((&late).into(), "mounted").unwrap().as_deref(),
        Some("yes")
    );
    zfs.set((&late).into(), &[("zoned", "on")]).unwrap();
    assert_eq!(
        zfs.get_value((&late).into(), "mounted").unwrap().as_deref(),
        Some("no")
    );
}

/// Mount, unmount and finding the dataset mounted at a path.
pub fn mounts(zfs: &dyn Zfs, s: &Scratch) {
    let ds = s.child("mnt");
    create(zfs, &ds, &[]);
    let mp: PathBuf = s.mountpoint.join("mnt");
    assert_eq!(
        zfs.get_value((&ds).into(), "mounted").unwrap().as_deref(),
        Some("yes")
    );
    assert_eq!(zfs.dataset_mounted_at(&mp).unwrap(), Some(ds.clone()));
    assert_eq!(
        zfs.dataset_mounted_at(&s.mountpoint).unwrap(),
        Some(s.dataset.clone())
    );
    zfs.set((&ds).into(), &[("omicron1:at", "here")]).unwrap();
    let row = zfs
        .mounted_at(&mp, &["omicron1:at", "omicron1:none"])
        .unwrap()
        .expect("mounted");
    assert_eq!(row.name, ds.clone());
    assert_eq!(row.value("omicron1:at"), Some("here"));
    assert_eq!(row.value("omicron1:none"), None);
    zfs.unmount(&ds).unwrap();
    assert_eq!(
        zfs.get_value((&ds).into(), "mounted").unwrap().as_deref(),
        Some("no")
    );
    assert_ne!(
        zfs.dataset_mounted_at(&mp).unwrap(),
        Some(ds.clone()),
        "unmounted"
    );
    zfs.mount(&ds).unwrap();
    assert_eq!(zfs.dataset_mounted_at(&mp).unwrap(), Some(ds.clone()));

    let noauto = s.child("noauto");
    create(zfs, &noauto, &[("canmount", "noauto")]);
    assert_eq!(
        zfs.get_value((&noauto).into(), "mounted")
            .unwrap()
            .as_deref(),
        Some("no")
    );
    let path = Path::new(&s.mountpoint).join("noauto");
    assert_ne!(zfs.dataset_mounted_at(&path).unwrap(), Some(noauto.clone()));
}

/// The scratch dataset's pool is listed among the imported pools.
pub fn pools(zfs: &dyn Zfs, s: &Scratch) {
    assert!(zfs.pools().unwrap().contains(&s.dataset.pool()));
}

/// `list`: names and properties of filesystems, snapshots, or both, in one call.
pub fn listing(zfs: &dyn Zfs, s: &Scratch) {
    let top = s.child("list");
    let a = top.child("a").unwrap();
    let deep = a.child("deep").unwrap();
    create(zfs, &top, &[]);
    create(zfs, &a, &[("omicron1:tag", "A")]);
    create(zfs, &deep, &[]);
    let snap = a.snapshot("s1").unwrap();
    zfs.snapshot(&snap, &[("omicron1:mark", "m")]).unwrap();
    let clone = top.child("c").unwrap();
    zfs.clone_snapshot(&snap, &clone, &[]).unwrap();

    let all = zfs
        .list(
            &top,
            ListKind::Filesystems,
            Depth::Recursive,
            &["omicron1:tag"],
        )
        .unwrap();
    let names: Vec<&str> = all.iter().map(|r| r.name.as_str()).collect();
    for ds in [&top, &a, &deep, &clone] {
        assert!(names.contains(&ds.as_str()), "{ds} in {names:?}");
    }
    let row_a = all.iter().find(|r| r.name == a).unwrap();
    assert_eq!(row_a.value("omicron1:tag"), Some("A"));
    let row_deep = all.iter().find(|r| r.name == deep).unwrap();
    assert_eq!(
        row_deep.value("omicron1:tag"),
        Some("A"),
        "inherited values are listed"
    );
    let row_top = all.iter().find(|r| r.name == top).unwrap();
    assert_eq!(row_top.value("omicron1:tag"), None);

    let one = zfs
        .list(&top, ListKind::Filesystems, Depth::Levels(1), &[])
        .unwrap();
    let names: Vec<&str> = one.iter().map(|r| r.name.as_str()).collect();
    assert!(
        names.contains(&a.as_str()) && !names.contains(&deep.as_str()),
        "{names:?}"
    );

    let snaps = zfs
        .list(
            &top,
            ListKind::Snapshots,
            Depth::Recursive,
            &["clones", "omicron1:mark"],
        )
        .unwrap();
    assert_eq!(snaps.len(), 1, "{snaps:?}");
    assert_eq!(snaps[0].name, snap);
    assert_eq!(snaps[0].value("clones"), Some(clone.as_str()));
    assert_eq!(snaps[0].value("omicron1:mark"), Some("m"));
    let none = zfs
        .list(&top, ListKind::Snapshots, Depth::Levels(1), &[])
        .unwrap();
    assert!(none.is_empty(), "no snapshots of top itself: {none:?}");

    // Both kinds in one scan; a snapshot counts one level below its dataset.
    let both = zfs
        .list(
            &top,
            ListKind::FilesystemsAndSnapshots,
            Depth::Levels(2),
            &["clones", "omicron1:tag"],
        )
        .unwrap();
    let names: Vec<&str> = both.iter().map(|r| r.name.as_str()).collect();
    for object in [
        top.as_str(),
        a.as_str(),
        deep.as_str(),
        clone.as_str(),
        snap.as_str(),
    ] {
        assert!(names.contains(&object), "{object} in {names:?}");
    }
    assert_eq!(names.len(), 5, "{names:?}");
    let row_snap = both.iter().find(|r| r.name == snap).unwrap();
    assert_eq!(row_snap.value("clones"), Some(clone.as_str()));
    let row_a = both.iter().find(|r| r.name == a).unwrap();
    assert_eq!(row_a.value("omicron1:tag"), Some("A"));
    let shallow = zfs
        .list(
            &top,
            ListKind::FilesystemsAndSnapshots,
            Depth::Levels(1),
            &[],
        )
        .unwrap();
    let names: Vec<&str> = shallow.iter().map(|r| r.name.as_str()).collect();
    assert!(
        names.contains(&a.as_str()) && !names.contains(&deep.as_str()),
        "{names:?}"
    );
    assert!(
        !names.contains(&snap.as_str()),
        "a child's snapshot is two levels down: {names:?}"
    );
    let missing = s.child("nolist");
    let err = zfs
        .list(&missing, ListKind::Filesystems, Depth::Recursive, &[])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}
