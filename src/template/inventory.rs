//! The templates on a pool, as an administrator sees them.
//!
//!
//! A template is *current* when it was built in this boot from this baseline,
//! *stale* otherwise, and *unfinished* while it has no `@ready` snapshot (a
//! build in progress, or one that died). Stale templates are destroyed once no
//! zone root is cloned from them; a zone on a stale template keeps working
//! but runs on the trees of an earlier boot, so it should be reinstalled (the
//! man page's LIMITATIONS).

use std::collections::BTreeMap;

use omicron1_zfs::{
    DatasetName, Depth, ListKind, ListRow, ListedName, PoolName, SnapshotName, Zfs,
};

use super::identity::Current;
use super::{TemplateError, CONTAINER, READY};
use crate::props;

/// One template found on a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateInfo {
    /// Its dataset.
    pub dataset: DatasetName,
    /// Its `@ready` snapshot (which may not exist yet).
    pub snapshot: SnapshotName,
    /// Whether `@ready` exists.
    pub ready: bool,
    /// The boot it was built in.
    pub boot_id: Option<String>,
    /// The baseline it was built from.
    pub baseline_sha256: Option<String>,
    /// When it was built.
    pub created: Option<String>,
    /// Bytes referenced by the dataset.
    pub referenced: Option<u64>,
    /// The zone roots cloned from `@ready`.
    pub clones: Vec<DatasetName>,
}

/// Where a template stands against this boot and baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Built in this boot from this baseline: installs clone it.
    Current,
    /// From another boot or baseline: collected once unused.
    Stale,
    /// No `@ready` snapshot: being built, or a build that died.
    Unfinished,
}

impl Status {
    /// The word `template list` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Current => "current",
            Status::Stale => "stale",
            Status::Unfinished => "unfinished",
        }
    }
}

impl TemplateInfo {
    /// Its status against `current` (this boot and baseline). Without a known
    /// baseline, only the boot is compared, so nothing of this boot is stale.
    pub fn status(&self, current: &Current) -> Status {
        if !self.ready {
            return Status::Unfinished;
        }
        let same_boot = self.boot_id.as_deref() == Some(current.boot_id.as_str());
        let same_baseline = current
            .baseline_sha256
            .as_deref()
            .is_none_or(|b| self.baseline_sha256.as_deref() == Some(b));
        if same_boot && same_baseline {
            Status::Current
        } else {
            Status::Stale
        }
    }
}

/// The templates containers (`.../omicron1-templates`) in a pool: one scan.
pub fn containers(zfs: &dyn Zfs, pool: &PoolName) -> Result<Vec<DatasetName>, TemplateError> {
    let rows = zfs.list(
        &pool.root_dataset(),
        ListKind::Filesystems,
        Depth::Recursive,
        &[],
    )?;
    Ok(rows
        .into_iter()
        .filter_map(|r| match r.name {
            ListedName::Dataset(d) if d.basename() == CONTAINER && d.parent().is_some() => Some(d),
            _ => None,
        })
        .collect())
}

/// The templates in one container: one scan of the templates and their
/// snapshots.
pub fn inventory(
    zfs: &dyn Zfs,
    container: &DatasetName,
) -> Result<Vec<TemplateInfo>, TemplateError> {
    let fields = [
        props::KIND,
        props::BOOT_ID,
        props::BASELINE,
        props::CREATED,
        "referenced",
        "clones",
    ];
    let rows = zfs.list(
        container,
        ListKind::FilesystemsAndSnapshots,
        Depth::Levels(2),
        &fields,
    )?;
    let clones_of: BTreeMap<&SnapshotName, Vec<String>> = rows
        .iter()
        .filter_map(|r| r.name.as_snapshot().map(|s| (s, r)))
        .map(|(s, r)| (s, omicron1_zfs::parse::clone_list(r.value("clones"))))
        .collect();
    // The templates are the container's children (depth 2 also lists theirs).
    let templates = rows.iter().filter_map(|r: &ListRow| {
        let d = r.name.as_dataset()?;
        (d.parent().as_ref() == Some(container)).then_some((d, r))
    });
    let mut out = Vec::new();
    for (dataset, row) in templates {
        let dataset = dataset.clone();
        let snapshot = dataset.snapshot(READY)?;
        let mut clones = match clones_of.get(&snapshot) {
            Some(list) => list
                .iter()
                .map(|c| c.parse())
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        // ZFS lists clones in no particular order; people read them sorted.
        clones.sort();
        out.push(TemplateInfo {
            ready: clones_of.contains_key(&snapshot),
            snapshot,
            dataset,
            boot_id: row.value(props::BOOT_ID).map(props::unescape),
            baseline_sha256: row.value(props::BASELINE).map(str::to_string),
            created: row.value(props::CREATED).map(str::to_string),
            referenced: row.value("referenced").and_then(|v| v.parse().ok()),
            clones,
        });
    }
    Ok(out)
}

/// Zone names of zone roots: `<parent>/<zone>/root` gives `<zone>`.
pub fn zone_names(clones: &[DatasetName]) -> Vec<String> {
    clones
        .iter()
        .map(|c| match (c.basename(), c.parent()) {
            (crate::zone::ROOT, Some(zonepath)) => zonepath.basename().to_string(),
            _ => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn info(name: &str, boot: &str, ready: bool, clones: &[&str]) -> TemplateInfo {
        let dataset: DatasetName = name.parse().unwrap();
        TemplateInfo {
            snapshot: dataset.snapshot(READY).unwrap(),
            dataset,
            ready,
            boot_id: Some(boot.into()),
            baseline_sha256: Some("b".repeat(64)),
            created: Some("2026-11-26T05:00:00Z".into()),
            referenced: Some(50 * 1024 * 1024),
            clones: clones.iter().map(|c| c.parse().unwrap()).collect(),
        }
    }

    fn current(boot: &str, baseline: Option<&str>) -> Current {
        Current {
            boot_id: boot.into(),
            baseline_sha256: baseline.map(str::to_string),
        }
    }

    #[test]
    fn status_compares_boot_and_baseline() {
        let b = "b".repeat(64);
        let t = info("tp/z/omicron1-templates/t-1", "boot1", true, &[]);
        assert_eq!(t.status(&current("boot1", Some(&b))), Status::Current);
        assert_eq!(t.status(&current("boot2", Some(&b))), Status::Stale);
        assert_eq!(
            t.status(&current("boot1", Some(&"c".repeat(64)))),
            Status::Stale
        );
        assert_eq!(
            t.status(&current("boot1", None)),
            Status::Current,
            "unknown baseline: boot decides"
        );
        let unfinished = info("tp/z/omicron1-templates/t-2", "boot1", false, &[]);
        assert_eq!(
            unfinished.status(&current("boot1", Some(&b))),
            Status::Unfinished
        );
    }
}
