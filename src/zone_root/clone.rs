//! `clone [-s SNAPSHOT] SOURCE`: the zone as a ZFS clone of another zone.
//!
//! zoneadm, for a brand with a clone hook, makes the zonepath only a folder
//! (mode 0700) and runs the hook (`clone_func`); the hook makes the zonepath
//! dataset itself, named as `create_zfs_zonepath` would name it (the dataset
//! mounted at the zonepath's parent folder, plus the zonepath's last
//! component), as a clone of the source zone's dataset. zoneadm cleans
//! nothing after a failed clone hook, so the hook rolls itself back.

use std::path::Path;

use omicron1_zfs::{DatasetName, DestroyOptions, ErrorKind, SnapshotName, Zfs};

use super::swap;
use super::{
    is_zone, pairs, zone_properties, zonepath_dataset, zonepath_dataset_name, Failed, ZoneRootError,
};
use crate::support::faults;
use crate::support::output::{info, notice};
use crate::support::revert::Revert;
use crate::zone::{Zone, ZoneConfig, ZoneName};

/// `clone [-s SNAPSHOT] SOURCE`: makes the zone an O(1) ZFS clone of the
/// source zone's dataset, through a snapshot named `clone-<zone>` taken here,
/// or through `snapshot` (a full snapshot name, `DATASET@NAME`, as zoneadm(8)
/// has it, or a bare `NAME` of the source zone's dataset).
pub fn clone(
    zfs: &dyn Zfs,
    zones_dir: &Path,
    zone: &Zone,
    source_zone: &ZoneName,
    snapshot: Option<&str>,
) -> Result<(), Failed> {
    let mut revert = Revert::new();
    match clone_steps(zfs, zones_dir, zone, source_zone, snapshot, &mut revert) {
        Ok(()) => {
            revert.disarm();
            info(format_args!(
                "zone {} cloned from zone {source_zone}",
                zone.name
            ));
            Ok(())
        }
        Err(error) => {
            notice(format_args!(
                "clone of zone {} failed, rolling back: {error}",
                zone.name
            ));
            let leftovers = revert.run();
            Err(Failed {
                error: Box::new(error),
                leftovers,
            })
        }
    }
}

fn clone_steps<'a>(
    zfs: &'a dyn Zfs,
    zones_dir: &Path,
    zone: &Zone,
    source_zone: &ZoneName,
    snapshot: Option<&str>,
    revert: &mut Revert<'a>,
) -> Result<(), ZoneRootError> {
    let config = ZoneConfig::for_zone(zones_dir, source_zone.as_str())?;
    let source_path = config
        .zonepath
        .ok_or_else(|| ZoneRootError::NoZonepath(source_zone.clone()))?;
    let source = zonepath_dataset(zfs, &source_path)?
        .ok_or_else(|| ZoneRootError::NotZfs(source_path.clone()))?;
    let source_ds = source.name.dataset();
    if !is_zone(&source) {
        return Err(ZoneRootError::NoSourceRoot {
            zone: source_zone.clone(),
            root: source_ds,
        });
    }
    let target = target_dataset(zfs, zone)?;
    if zfs.exists((&target).into())? {
        return Err(ZoneRootError::Occupied {
            path: zone.zonepath.clone(),
            what: format!("dataset {target}"),
        });
    }

    let (snap, made_here) = match snapshot {
        Some(name) => (given_snapshot(name, source_zone, &source_ds)?, false),
        None => (source_ds.snapshot(&format!("clone-{}", zone.name))?, true),
    };
    if made_here {
        zfs.snapshot(&snap, &[])?;
        let doomed = snap.clone();
        revert.push(format!("destroy snapshot {snap}"), move || {
            zfs.destroy((&doomed).into(), DestroyOptions::default())
        });
    }
    faults::point("before-clone");
    info(format_args!("cloning {snap} to {target}"));
    let properties = zone_properties(&zone.name, "installed", &snap, made_here);
    if let Err(e) = zfs.clone_snapshot(&snap, &target, &pairs(&properties)) {
        // illumos creates the clone and then fails to mount it over a
        // non-empty folder: that clone is this call's, to destroy.
        if e.kind() != ErrorKind::AlreadyExists && zfs.exists((&target).into())? {
            push_destroy(revert, zfs, &target);
        }
        return Err(e.into());
    }
    push_destroy(revert, zfs, &target);
    swap::ensure_mounted(zfs, &target, &properties)?;
    swap::set_mode(&zone.zonepath, 0o700, 0, 0)?;
    faults::point("after-clone");
    Ok(())
}

/// The dataset `create_zfs_zonepath` would make for the zone's zonepath.
fn target_dataset(zfs: &dyn Zfs, zone: &Zone) -> Result<DatasetName, ZoneRootError> {
    if let Some(row) = zonepath_dataset(zfs, &zone.zonepath)? {
        return Err(ZoneRootError::Occupied {
            path: zone.zonepath.clone(),
            what: format!("dataset {}", row.name),
        });
    }
    if let Ok(mut entries) = std::fs::read_dir(&zone.zonepath) {
        if let Some(Ok(entry)) = entries.next() {
            return Err(ZoneRootError::Occupied {
                path: zone.zonepath.clone(),
                what: format!("{:?}", entry.file_name()),
            });
        }
    }
    zonepath_dataset_name(zfs, &zone.zonepath)?.ok_or_else(|| {
        ZoneRootError::NotZfs(
            zone.zonepath
                .parent()
                .unwrap_or(Path::new("/"))
                .to_path_buf(),
        )
    })
}

/// `-s SNAPSHOT`: a full name must be a snapshot of the source's dataset; a
/// bare name is taken as one.
fn given_snapshot(
    name: &str,
    zone: &ZoneName,
    source: &DatasetName,
) -> Result<SnapshotName, ZoneRootError> {
    if !name.contains('@') {
        return Ok(source.snapshot(name)?);
    }
    let foreign = || ZoneRootError::ForeignSnapshot {
        snapshot: name.to_string(),
        zone: zone.clone(),
        dataset: source.clone(),
    };
    let snap: SnapshotName = name.parse().map_err(|_| foreign())?;
    if &snap.dataset() != source {
        return Err(foreign());
    }
    Ok(snap)
}

/// Pushes the destroy of the zone dataset this clone made.
fn push_destroy<'a>(revert: &mut Revert<'a>, zfs: &'a dyn Zfs, dataset: &DatasetName) {
    let doomed = dataset.clone();
    revert.push(format!("destroy zone dataset {dataset}"), move || {
        zfs.destroy((&doomed).into(), DestroyOptions::RECURSIVE)
    });
}
