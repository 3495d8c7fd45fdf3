//! `clone [-s SNAP] SOURCE`: the zone's root as a ZFS clone of another zone's.

use std::path::Path;

use omicron1_zfs::{DestroyOptions, Zfs};

use super::{pairs, root_properties, zonepath_dataset, ZoneRootError};
use crate::support::output::info;
use crate::support::revert::Revert;
use crate::zone::{Zone, ZoneConfig, ZoneName, ROOT};

/// `clone [-s SNAP] SOURCE`: makes the zone's root an O(1) ZFS clone of the
/// source zone's root, through a snapshot named after the new zone (or the
/// given existing snapshot).
pub fn clone(
    zfs: &dyn Zfs,
    zones_dir: &Path,
    zone: &Zone,
    source_zone: &ZoneName,
    snapshot: Option<&str>,
) -> Result<(), ZoneRootError> {
    let config = ZoneConfig::for_zone(zones_dir, source_zone.as_str())?;
    let source_path = config
        .zonepath
        .ok_or_else(|| ZoneRootError::NoZonepath(source_zone.clone()))?;
    let source_ds =
        zonepath_dataset(zfs, &source_path)?.ok_or(ZoneRootError::NotZfs(source_path))?;
    let source_root = source_ds.child(ROOT)?;
    if !zfs.exists((&source_root).into())? {
        return Err(ZoneRootError::NoSourceRoot {
            zone: source_zone.clone(),
            root: source_root,
        });
    }
    let target_ds = zonepath_dataset(zfs, &zone.zonepath)?
        .ok_or_else(|| ZoneRootError::NotZfs(zone.zonepath.clone()))?;
    let target_root = target_ds.child(ROOT)?;
    if zfs.exists((&target_root).into())? {
        return Err(ZoneRootError::CloneTargetExists(target_root));
    }

    let mut revert = Revert::new();
    let (snap, made_here) = match snapshot {
        Some(name) => (source_root.snapshot(name)?, false),
        None => (source_root.snapshot(&format!("clone-{}", zone.name))?, true),
    };
    if made_here {
        zfs.snapshot(&snap, &[])?;
        let doomed = snap.clone();
        revert.push(format!("destroy snapshot {snap}"), move || {
            zfs.destroy((&doomed).into(), DestroyOptions::default())
        });
    }
    info(format_args!("cloning {snap} to {target_root}"));
    let properties = root_properties(&zone.name, "installed", &snap, made_here);
    zfs.clone_snapshot(&snap, &target_root, &pairs(&properties))?;
    revert.disarm();
    info(format_args!(
        "zone {} cloned from zone {source_zone}",
        zone.name
    ));
    Ok(())
}
