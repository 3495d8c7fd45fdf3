//! Typed access to ZFS, the one way omicron1 touches it.
//!
//! [`Zfs`] is the small interface the installer programs against. [`CliZfs`]
//! implements it by running the `zfs` and `zpool` commands (as Oxide's sled
//! agent, SmartOS and Incus do); [`FakeZfs`] implements it in memory for fast
//! tests of logic; a libzfs_core backend could be added behind the same trait.
//!
//! This crate knows nothing of zones or images.

pub mod command;
pub mod conformance;
pub mod error;
pub mod fake;
pub mod names;
pub mod parse;
pub mod runner;

use std::path::Path;

pub use command::CliZfs;
pub use error::{Error, ErrorKind};
pub use fake::FakeZfs;
pub use names::{DatasetName, ListedName, NameError, ObjectName, PoolName, SnapshotName};
pub use parse::{Properties, Property, PropertySource};

/// The result of a ZFS operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How [`Zfs::create`] makes a dataset.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions<'a> {
    /// Create missing parents too (`-p`); an existing dataset is then no error.
    pub parents: bool,
    /// Properties set atomically at creation (`-o name=value`).
    pub properties: &'a [(&'a str, &'a str)],
}

/// How [`Zfs::destroy`] removes a dataset or snapshot.
#[derive(Debug, Clone, Copy, Default)]
pub struct DestroyOptions {
    /// Also destroy children and snapshots (`-r`).
    pub recursive: bool,
    /// For a snapshot with clones: mark it to be destroyed when its last clone goes,
    /// instead of failing (`-d`).
    pub deferred: bool,
}

impl DestroyOptions {
    /// `zfs destroy -r`: the dataset with its children and snapshots.
    pub const RECURSIVE: DestroyOptions = DestroyOptions {
        recursive: true,
        deferred: false,
    };

    /// `zfs destroy -d`: a snapshot now, or once its last clone goes.
    pub const DEFERRED: DestroyOptions = DestroyOptions {
        recursive: false,
        deferred: true,
    };
}

/// Which objects [`Zfs::list`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// Filesystems (`-t filesystem`).
    Filesystems,
    /// Snapshots (`-t snapshot`).
    Snapshots,
    /// Filesystems and snapshots in one scan (`-t filesystem,snapshot`); a
    /// snapshot's row has an `@` in its name. Do not rely on the order of rows.
    FilesystemsAndSnapshots,
}

/// How deep [`Zfs::list`] looks below its root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// The root and everything below it (`-r`).
    Recursive,
    /// The root and N levels below it (`-d N`; snapshots of the root are at 1).
    Levels(u32),
}

/// One row of [`Zfs::list`]: a name and the asked-for properties (`None` for `-`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRow {
    /// The dataset or snapshot.
    pub name: ListedName,
    /// Property values by name.
    pub values: std::collections::BTreeMap<String, Option<String>>,
}

impl ListRow {
    /// A property's value, `None` if unset or not asked for.
    pub fn value(&self, property: &str) -> Option<&str> {
        self.values.get(property).and_then(|v| v.as_deref())
    }
}

/// The ZFS operations omicron1 needs. Names are validated types, so nothing a
/// user types reaches an argv unchecked.
pub trait Zfs: Send + Sync {
    /// Creates a filesystem with properties set at creation.
    fn create(&self, dataset: &DatasetName, options: &CreateOptions<'_>) -> Result<()>;

    /// Takes a snapshot with properties set at creation.
    fn snapshot(&self, snapshot: &SnapshotName, properties: &[(&str, &str)]) -> Result<()>;

    /// Clones a snapshot into a new filesystem with properties set at creation.
    fn clone_snapshot(
        &self,
        origin: &SnapshotName,
        target: &DatasetName,
        properties: &[(&str, &str)],
    ) -> Result<()>;

    /// Destroys a dataset or snapshot.
    fn destroy(&self, object: ObjectName<'_>, options: DestroyOptions) -> Result<()>;

    /// Gets the named properties (native or `module:name` user properties).
    fn get(&self, object: ObjectName<'_>, properties: &[&str]) -> Result<Properties>;

    /// Sets properties.
    fn set(&self, object: ObjectName<'_>, properties: &[(&str, &str)]) -> Result<()>;

    /// Lists `kind` objects at and below `root` with the named properties, in one
    /// command (one scan instead of a `get` per dataset). Values must not contain
    /// tabs (omicron1's own properties are escaped).
    fn list(
        &self,
        root: &DatasetName,
        kind: ListKind,
        depth: Depth,
        properties: &[&str],
    ) -> Result<Vec<ListRow>>;

    /// The filesystems directly below `dataset`.
    fn children(&self, dataset: &DatasetName) -> Result<Vec<DatasetName>>;

    /// The filesystem mounted exactly at `path` with the named properties, or
    /// `None` if `path` is not the mountpoint of a mounted ZFS filesystem (or does
    /// not exist). One command, so a caller can learn a zonepath's dataset and,
    /// say, its encryption root at once. `path` should be canonical.
    fn mounted_at(&self, path: &Path, properties: &[&str]) -> Result<Option<ListRow>>;

    /// The filesystem mounted exactly at `path`, as [`Zfs::mounted_at`].
    fn dataset_mounted_at(&self, path: &Path) -> Result<Option<DatasetName>> {
        match self.mounted_at(path, &[])? {
            Some(row) => Ok(Some(row.name.dataset())),
            None => Ok(None),
        }
    }

    /// Mounts a filesystem at its `mountpoint`.
    fn mount(&self, dataset: &DatasetName) -> Result<()>;

    /// Unmounts a filesystem.
    fn unmount(&self, dataset: &DatasetName) -> Result<()>;

    /// The imported pools.
    fn pools(&self) -> Result<Vec<PoolName>>;

    /// Whether the dataset or snapshot exists.
    fn exists(&self, object: ObjectName<'_>) -> Result<bool> {
        match self.get(object, &["type"]) {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// One property's value, `None` if unset (`-`).
    fn get_value(&self, object: ObjectName<'_>, property: &str) -> Result<Option<String>> {
        let mut props = self.get(object, &[property])?;
        Ok(props.remove(property).and_then(|p| p.value))
    }
}
