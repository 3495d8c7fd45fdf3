//! An in-memory [`Zfs`] that behaves like the real one at this interface.
//!
//! It is a fake, not a mock: it keeps datasets, snapshots, clones, properties
//! and mount state, and fails the way `zfs` does (the shared
//! [`crate::conformance`] checks run against both it and real OpenZFS in the
//! VM suite). It does not touch the filesystem: "mounting" only flips a flag.
//!
//! It also counts the commands [`crate::CliZfs`] would have run for the same
//! calls (one `zfs` or `zpool` process per call of a [`Zfs`] method that is not
//! a provided one), so tests can hold operations to their process budgets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::error::{Error, ErrorKind};
use crate::names::{DatasetName, ObjectName, PoolName, SnapshotName};
use crate::parse::{Properties, Property, PropertySource};
use crate::{CreateOptions, Depth, DestroyOptions, ListKind, ListRow, Result, Zfs};

#[derive(Debug, Clone, Default)]
struct Dataset {
    local: BTreeMap<String, String>,
    origin: Option<String>,
    mounted: bool,
}

#[derive(Debug, Clone, Default)]
struct Snapshot {
    local: BTreeMap<String, String>,
    defer_destroy: bool,
    /// Creation order, for listing oldest first like `-s createtxg`.
    txg: u64,
}

#[derive(Debug, Default)]
struct State {
    datasets: BTreeMap<String, Dataset>,
    snapshots: BTreeMap<String, Snapshot>,
    next_txg: u64,
}

/// Properties that are inherited from the parent when not set locally.
const INHERITABLE: &[&str] = &[
    "mountpoint",
    "zoned",
    "encryption",
    "compression",
    "readonly",
];

/// Built-in defaults, as `zfs get` shows them with source `default`.
fn default_value(prop: &str) -> Option<&'static str> {
    Some(match prop {
        "canmount" => "on",
        "zoned" => "off",
        "encryption" => "off",
        "compression" => "off",
        "readonly" => "off",
        _ => return None,
    })
}

/// An in-memory ZFS for tests of logic.
#[derive(Debug, Default)]
pub struct FakeZfs {
    state: Mutex<State>,
    /// How many commands the CLI backend would have run.
    started: AtomicU64,
    /// Those commands since the last [`FakeZfs::take_commands`], oldest first.
    commands: Mutex<Vec<&'static str>>,
    /// Failures to inject ([`FakeZfs::fail_next`]), oldest first.
    failures: Mutex<Vec<(&'static str, usize, ErrorKind)>>,
}

fn fail<T>(op: &'static str, target: impl ToString, kind: ErrorKind) -> Result<T> {
    Err(Error::Fake {
        op,
        target: target.to_string(),
        kind,
    })
}

impl FakeZfs {
    /// An empty system with no pools.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a pool whose root dataset mounts at `mountpoint`.
    pub fn add_pool(&self, pool: &PoolName, mountpoint: &Path) {
        let mut st = self.lock();
        let mut root = Dataset {
            mounted: true,
            ..Default::default()
        };
        root.local
            .insert("mountpoint".into(), mountpoint.display().to_string());
        st.datasets.insert(pool.as_str().to_string(), root);
    }

    /// How many `zfs` and `zpool` processes [`crate::CliZfs`] would have
    /// started for the calls so far, as its runner's `processes_started` counts.
    pub fn processes_started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }

    /// The commands [`crate::CliZfs`] would have run since the last call of
    /// this method (or since the start), oldest first: `["zfs list", "zfs get"]`.
    pub fn take_commands(&self) -> Vec<&'static str> {
        std::mem::take(&mut *self.commands.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Makes the next `command` (`"zfs clone"`, `"zfs destroy"`, `"zfs set"`,
    /// `"zfs get"`, `"zfs list"`, `"zfs create"`)
    /// fail with `kind` and change nothing, as a full pool or a busy dataset
    /// would make it: for tests of what callers do when ZFS fails.
    pub fn fail_next(&self, command: &'static str, kind: ErrorKind) {
        self.fail_after(command, 0, kind);
    }

    /// Like [`FakeZfs::fail_next`], but lets `skip` such commands succeed
    /// first: `fail_after("zfs destroy", 1, ..)` fails the second destroy.
    pub fn fail_after(&self, command: &'static str, skip: usize, kind: ErrorKind) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((command, skip, kind));
    }

    /// The failure injected for this `command`, if any is due (taken).
    fn injected(&self, command: &str) -> Option<ErrorKind> {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let i = failures.iter().position(|(c, _, _)| *c == command)?;
        if failures[i].1 > 0 {
            failures[i].1 -= 1;
            return None;
        }
        Some(failures.remove(i).2)
    }

    /// Counts one command of the CLI backend.
    fn started(&self, command: &'static str) {
        self.started.fetch_add(1, Ordering::Relaxed);
        self.commands
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(command);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic in another test thread must not hide this one's result.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    fn parent_of(name: &str) -> Option<&str> {
        name.rsplit_once('/').map(|(p, _)| p)
    }

    fn is_below(name: &str, top: &str) -> bool {
        name.len() > top.len() && name.starts_with(top) && name.as_bytes()[top.len()] == b'/'
    }

    /// A property with inheritance, as `zfs get` reports it.
    fn dataset_prop(&self, name: &str, prop: &str) -> Property {
        let ds = &self.datasets[name];
        match prop {
            "type" => return fixed("filesystem"),
            "name" => return fixed(name),
            "mounted" => return fixed(if ds.mounted { "yes" } else { "no" }),
            "origin" => {
                return Property {
                    value: ds.origin.clone(),
                    source: PropertySource::None,
                }
            }
            "encryptionroot" => {
                return Property {
                    value: self.encryption_root(name),
                    source: PropertySource::None,
                }
            }
            _ => {}
        }
        if let Some(v) = ds.local.get(prop) {
            return Property {
                value: Some(v.clone()),
                source: PropertySource::Local,
            };
        }
        let user = prop.contains(':');
        if INHERITABLE.contains(&prop) || user {
            let mut cur = Self::parent_of(name);
            while let Some(p) = cur {
                if let Some(v) = self.datasets.get(p).and_then(|d| d.local.get(prop)) {
                    let value = if prop == "mountpoint" && v != "none" && v != "legacy" {
                        format!("{}{}", v.trim_end_matches('/'), &name[p.len()..])
                    } else {
                        v.clone()
                    };
                    return Property {
                        value: Some(value),
                        source: PropertySource::Inherited(p.to_string()),
                    };
                }
                cur = Self::parent_of(p);
            }
        }
        match default_value(prop) {
            Some(v) => Property {
                value: Some(v.into()),
                source: PropertySource::Default,
            },
            None => Property {
                value: None,
                source: PropertySource::None,
            },
        }
    }

    /// The dataset whose key encrypts `name`, as OpenZFS reports it: one
    /// created with `encryption` on is its own; a clone keeps its origin's
    /// (even below an encrypted parent, an unencrypted origin gives an
    /// unencrypted clone); any other inherits its parent's. `None`: not encrypted.
    fn encryption_root(&self, name: &str) -> Option<String> {
        let ds = self.datasets.get(name)?;
        if let Some(origin) = &ds.origin {
            let of = origin.split_once('@').map_or(origin.as_str(), |(d, _)| d);
            return self.encryption_root(of);
        }
        match ds.local.get("encryption") {
            Some(v) if v != "off" => Some(name.to_string()),
            _ => Self::parent_of(name).and_then(|p| self.encryption_root(p)),
        }
    }

    fn mountpoint(&self, name: &str) -> Option<PathBuf> {
        let mp = self.dataset_prop(name, "mountpoint").value?;
        (mp != "none" && mp != "legacy").then(|| PathBuf::from(mp))
    }

    fn should_mount(&self, name: &str) -> bool {
        self.mountpoint(name).is_some()
            && self.dataset_prop(name, "canmount").value.as_deref() == Some("on")
            && self.dataset_prop(name, "zoned").value.as_deref() != Some("on")
    }

    fn clones_of(&self, snap: &str) -> Vec<String> {
        self.datasets
            .iter()
            .filter(|(_, d)| d.origin.as_deref() == Some(snap))
            .map(|(n, _)| n.clone())
            .collect()
    }

    fn has_dependents(&self, name: &str) -> bool {
        self.datasets.keys().any(|d| Self::is_below(d, name))
            || self
                .snapshots
                .keys()
                .any(|s| s.starts_with(&format!("{name}@")))
    }

    /// Removes a dataset and, for a clone, its origin if that was marked for
    /// deferred destruction and has no clones left.
    fn remove_dataset(&mut self, name: &str) {
        if let Some(ds) = self.datasets.remove(name) {
            if let Some(origin) = ds.origin {
                let deferred = self.snapshots.get(&origin).is_some_and(|s| s.defer_destroy);
                if deferred && self.clones_of(&origin).is_empty() {
                    self.snapshots.remove(&origin);
                }
            }
        }
    }
}

fn fixed(v: &str) -> Property {
    Property {
        value: Some(v.to_string()),
        source: PropertySource::None,
    }
}

impl Zfs for FakeZfs {
    fn create(&self, dataset: &DatasetName, options: &CreateOptions<'_>) -> Result<()> {
        self.started("zfs create");
        if let Some(kind) = self.injected("zfs create") {
            return fail("create", dataset, kind);
        }
        let mut st = self.lock();
        let name = dataset.as_str();
        if st.datasets.contains_key(name) {
            return if options.parents {
                Ok(())
            } else {
                fail("create", dataset, ErrorKind::AlreadyExists)
            };
        }
        let mut missing = Vec::new();
        let mut cur = State::parent_of(name);
        while let Some(p) = cur {
            if st.datasets.contains_key(p) {
                break;
            }
            missing.push(p.to_string());
            cur = State::parent_of(p);
        }
        if cur.is_none() || (!missing.is_empty() && !options.parents) {
            return fail("create", dataset, ErrorKind::NotFound);
        }
        for parent in missing.into_iter().rev() {
            st.datasets.insert(parent.clone(), Dataset::default());
            let mount = st.should_mount(&parent);
            if let Some(d) = st.datasets.get_mut(&parent) {
                d.mounted = mount;
            }
        }
        let local = options
            .properties
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        st.datasets.insert(
            name.to_string(),
            Dataset {
                local,
                ..Default::default()
            },
        );
        let mount = st.should_mount(name);
        if let Some(d) = st.datasets.get_mut(name) {
            d.mounted = mount;
        }
        Ok(())
    }

    fn snapshot(&self, snapshot: &SnapshotName, properties: &[(&str, &str)]) -> Result<()> {
        self.started("zfs snapshot");
        let mut st = self.lock();
        if !st.datasets.contains_key(snapshot.dataset().as_str()) {
            return fail("snapshot", snapshot, ErrorKind::NotFound);
        }
        if st.snapshots.contains_key(snapshot.as_str()) {
            return fail("snapshot", snapshot, ErrorKind::AlreadyExists);
        }
        let local = properties
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        st.next_txg += 1;
        let snap = Snapshot {
            local,
            defer_destroy: false,
            txg: st.next_txg,
        };
        st.snapshots.insert(snapshot.as_str().to_string(), snap);
        Ok(())
    }

    fn clone_snapshot(
        &self,
        origin: &SnapshotName,
        target: &DatasetName,
        properties: &[(&str, &str)],
    ) -> Result<()> {
        self.started("zfs clone");
        let what = format!("{origin} to {target}");
        if let Some(kind) = self.injected("zfs clone") {
            return fail("clone", what, kind);
        }
        let mut st = self.lock();
        if !st.snapshots.contains_key(origin.as_str()) {
            return fail("clone", what, ErrorKind::NotFound);
        }
        if st.datasets.contains_key(target.as_str()) {
            return fail("clone", what, ErrorKind::AlreadyExists);
        }
        if !target
            .parent()
            .is_some_and(|p| st.datasets.contains_key(p.as_str()))
        {
            return fail("clone", what, ErrorKind::NotFound);
        }
        let local = properties
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let ds = Dataset {
            local,
            origin: Some(origin.as_str().to_string()),
            mounted: false,
        };
        st.datasets.insert(target.as_str().to_string(), ds);
        let mount = st.should_mount(target.as_str());
        if let Some(d) = st.datasets.get_mut(target.as_str()) {
            d.mounted = mount;
        }
        Ok(())
    }

    fn destroy(&self, object: ObjectName<'_>, options: DestroyOptions) -> Result<()> {
        self.started("zfs destroy");
        if let Some(kind) = self.injected("zfs destroy") {
            return fail("destroy", object, kind);
        }
        let mut st = self.lock();
        match object {
            ObjectName::Snapshot(snap) => {
                let name = snap.as_str();
                if !st.snapshots.contains_key(name) {
                    return fail("destroy", snap, ErrorKind::NotFound);
                }
                if !st.clones_of(name).is_empty() {
                    if !options.deferred {
                        return fail("destroy", snap, ErrorKind::HasDependents);
                    }
                    if let Some(s) = st.snapshots.get_mut(name) {
                        s.defer_destroy = true;
                    }
                    return Ok(());
                }
                st.snapshots.remove(name);
                Ok(())
            }
            ObjectName::Dataset(ds) => {
                let name = ds.as_str();
                if !st.datasets.contains_key(name) {
                    return fail("destroy", ds, ErrorKind::NotFound);
                }
                if !options.recursive && st.has_dependents(name) {
                    return fail("destroy", ds, ErrorKind::HasDependents);
                }
                let doomed: Vec<String> = st
                    .datasets
                    .keys()
                    .filter(|d| *d == name || State::is_below(d, name))
                    .cloned()
                    .collect();
                let snaps: Vec<String> = st
                    .snapshots
                    .keys()
                    .filter(|s| doomed.iter().any(|d| s.starts_with(&format!("{d}@"))))
                    .cloned()
                    .collect();
                let outside_clone = snaps
                    .iter()
                    .flat_map(|s| st.clones_of(s))
                    .any(|c| !doomed.contains(&c));
                if outside_clone {
                    return fail("destroy", ds, ErrorKind::HasDependents);
                }
                for d in doomed.iter().rev() {
                    st.remove_dataset(d);
                }
                for s in snaps {
                    st.snapshots.remove(&s);
                }
                Ok(())
            }
        }
    }

    fn get(&self, object: ObjectName<'_>, properties: &[&str]) -> Result<Properties> {
        self.started("zfs get");
        if let Some(kind) = self.injected("zfs get") {
            return fail("get", object, kind);
        }
        let st = self.lock();
        let mut out = Properties::new();
        match object {
            ObjectName::Dataset(ds) => {
                if !st.datasets.contains_key(ds.as_str()) {
                    return fail("get", ds, ErrorKind::NotFound);
                }
                for p in properties {
                    out.insert(p.to_string(), st.dataset_prop(ds.as_str(), p));
                }
            }
            ObjectName::Snapshot(snap) => {
                let Some(s) = st.snapshots.get(snap.as_str()) else {
                    return fail("get", snap, ErrorKind::NotFound);
                };
                for p in properties {
                    let prop = match *p {
                        "type" => fixed("snapshot"),
                        "name" => fixed(snap.as_str()),
                        "clones" => fixed(&st.clones_of(snap.as_str()).join(",")),
                        "defer_destroy" => fixed(if s.defer_destroy { "on" } else { "off" }),
                        "encryptionroot" => Property {
                            value: snap
                                .as_str()
                                .split_once('@')
                                .and_then(|(ds, _)| st.encryption_root(ds)),
                            source: PropertySource::None,
                        },
                        other => match s.local.get(other) {
                            Some(v) => Property {
                                value: Some(v.clone()),
                                source: PropertySource::Local,
                            },
                            None => Property {
                                value: None,
                                source: PropertySource::None,
                            },
                        },
                    };
                    out.insert(p.to_string(), prop);
                }
            }
        }
        Ok(out)
    }

    fn local_properties(&self, dataset: &DatasetName) -> Result<Properties> {
        self.started("zfs get");
        let st = self.lock();
        let Some(ds) = st.datasets.get(dataset.as_str()) else {
            return fail("get", dataset, ErrorKind::NotFound);
        };
        Ok(ds
            .local
            .iter()
            .map(|(k, v)| {
                let prop = Property {
                    value: Some(v.clone()),
                    source: PropertySource::Local,
                };
                (k.clone(), prop)
            })
            .collect())
    }

    fn set(&self, object: ObjectName<'_>, properties: &[(&str, &str)]) -> Result<()> {
        self.started("zfs set");
        if let Some(kind) = self.injected("zfs set") {
            return fail("set", object, kind);
        }
        let mut st = self.lock();
        if let ObjectName::Dataset(ds) = object {
            // Like the global zone's zfs: a zoned dataset's mountpoint is the zone's.
            let zoned = st.datasets.contains_key(ds.as_str())
                && st.dataset_prop(ds.as_str(), "zoned").value.as_deref() == Some("on");
            if zoned && properties.iter().any(|(k, _)| *k == "mountpoint") {
                return fail("set", object, ErrorKind::Other);
            }
            if properties.contains(&("zoned", "on")) {
                if let Some(d) = st.datasets.get_mut(ds.as_str()) {
                    d.mounted = false;
                }
            }
        }
        let local = match object {
            ObjectName::Dataset(ds) => st.datasets.get_mut(ds.as_str()).map(|d| &mut d.local),
            ObjectName::Snapshot(s) => st.snapshots.get_mut(s.as_str()).map(|s| &mut s.local),
        };
        let Some(local) = local else {
            return fail("set", object, ErrorKind::NotFound);
        };
        for (k, v) in properties {
            local.insert(k.to_string(), v.to_string());
        }
        Ok(())
    }

    fn list(
        &self,
        root: &DatasetName,
        kind: ListKind,
        depth: Depth,
        properties: &[&str],
    ) -> Result<Vec<ListRow>> {
        self.started("zfs list");
        if let Some(kind) = self.injected("zfs list") {
            return fail("list", root, kind);
        }
        let st = self.lock();
        let top = root.as_str();
        if !st.datasets.contains_key(top) {
            return fail("list", root, ErrorKind::NotFound);
        }
        // Levels below the root: a child is 1, a snapshot of the root is 1.
        let level = |ds: &str| ds[top.len()..].matches('/').count() as u32;
        let within = |ds: &str, extra: u32| {
            (ds == top || State::is_below(ds, top))
                && match depth {
                    Depth::Recursive => true,
                    Depth::Levels(n) => level(ds) + extra <= n,
                }
        };
        let dataset_row = |name: &String| -> Result<ListRow> {
            let values = properties
                .iter()
                .map(|p| (p.to_string(), st.dataset_prop(name, p).value))
                .collect();
            Ok(ListRow {
                name: name.parse()?,
                values,
            })
        };
        let snapshot_row = |name: &String, snap: &Snapshot| -> Result<ListRow> {
            let values = properties
                .iter()
                .map(|p| {
                    let v = match *p {
                        "clones" => Some(st.clones_of(name).join(",")).filter(|c| !c.is_empty()),
                        "name" => Some(name.clone()),
                        "encryptionroot" => name
                            .split_once('@')
                            .and_then(|(ds, _)| st.encryption_root(ds)),
                        other => snap.local.get(other).cloned(),
                    };
                    (p.to_string(), v)
                })
                .collect();
            Ok(ListRow {
                name: name.parse()?,
                values,
            })
        };
        let mut snaps: Vec<(&String, &Snapshot)> = st
            .snapshots
            .iter()
            .filter(|(n, _)| n.split_once('@').is_some_and(|(ds, _)| within(ds, 1)))
            .collect();
        snaps.sort_by_key(|(_, s)| s.txg);
        let mut rows = Vec::new();
        match kind {
            ListKind::Filesystems => {
                for name in st.datasets.keys().filter(|d| within(d, 0)) {
                    rows.push(dataset_row(name)?);
                }
            }
            ListKind::Snapshots => {
                for (name, snap) in snaps {
                    rows.push(snapshot_row(name, snap)?);
                }
            }
            ListKind::FilesystemsAndSnapshots => {
                // As `zfs list` prints them: each filesystem, then its snapshots.
                for name in st.datasets.keys().filter(|d| within(d, 0)) {
                    rows.push(dataset_row(name)?);
                    let own = snaps
                        .iter()
                        .filter(|(n, _)| n.split_once('@').map(|(d, _)| d) == Some(name));
                    for (n, snap) in own {
                        rows.push(snapshot_row(n, snap)?);
                    }
                }
            }
        }
        Ok(rows)
    }

    fn children(&self, dataset: &DatasetName) -> Result<Vec<DatasetName>> {
        self.started("zfs list");
        let st = self.lock();
        if !st.datasets.contains_key(dataset.as_str()) {
            return fail("list", dataset, ErrorKind::NotFound);
        }
        st.datasets
            .keys()
            .filter(|d| State::parent_of(d) == Some(dataset.as_str()))
            .map(|d| Ok(d.parse()?))
            .collect()
    }

    fn mounted_at(&self, path: &Path, properties: &[&str]) -> Result<Option<ListRow>> {
        self.started("zfs list");
        let st = self.lock();
        for (name, ds) in &st.datasets {
            if ds.mounted && st.mountpoint(name).as_deref() == Some(path) {
                let values = properties
                    .iter()
                    .map(|p| (p.to_string(), st.dataset_prop(name, p).value))
                    .collect();
                return Ok(Some(ListRow {
                    name: name.parse()?,
                    values,
                }));
            }
        }
        Ok(None)
    }

    fn mount(&self, dataset: &DatasetName) -> Result<()> {
        self.started("zfs mount");
        let mut st = self.lock();
        let Some(ds) = st.datasets.get(dataset.as_str()) else {
            return fail("mount", dataset, ErrorKind::NotFound);
        };
        if ds.mounted || st.mountpoint(dataset.as_str()).is_none() {
            return fail("mount", dataset, ErrorKind::Other);
        }
        if let Some(d) = st.datasets.get_mut(dataset.as_str()) {
            d.mounted = true;
        }
        Ok(())
    }

    fn unmount(&self, dataset: &DatasetName) -> Result<()> {
        self.started("zfs unmount");
        let mut st = self.lock();
        match st.datasets.get_mut(dataset.as_str()) {
            None => fail("unmount", dataset, ErrorKind::NotFound),
            Some(d) if !d.mounted => fail("unmount", dataset, ErrorKind::Other),
            Some(d) => {
                d.mounted = false;
                Ok(())
            }
        }
    }

    fn pools(&self) -> Result<Vec<PoolName>> {
        self.started("zpool list");
        let st = self.lock();
        st.datasets
            .keys()
            .filter(|d| !d.contains('/'))
            .map(|d| Ok(d.parse()?))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::{self, Scratch};

    #[test]
    fn fake_passes_the_conformance_checks() {
        let zfs = FakeZfs::new();
        let pool: PoolName = "tp".parse().unwrap();
        zfs.add_pool(&pool, Path::new("/tmp/tp"));
        let dataset: DatasetName = "tp/scratch".parse().unwrap();
        zfs.create(&dataset, &CreateOptions::default()).unwrap();
        let scratch = Scratch {
            dataset,
            mountpoint: PathBuf::from("/tmp/tp/scratch"),
        };
        conformance::all(&zfs, &scratch);
    }
}
