//! The hooks around install: uninstall, clone, attach and detach.
//!
//! Each acts only on the zone's own root — `<zonepath dataset>/root`, or
//! `ZONEPATH/root` for a zonepath not on ZFS — and never on templates or other
//! zones' datasets, except the snapshot the clone hook takes of its source.

use std::path::{Path, PathBuf};

use omicron1_zfs::{DatasetName, DestroyOptions, ErrorKind, SnapshotName, Zfs};

use crate::props;
use crate::support::output::info;
use crate::support::pathio::PathIoError;
use crate::support::revert::Revert;
use crate::verbs::settings::Settings;
use crate::zone::config::{ZoneConfig, ZoneConfigError};
use crate::zone_root::install::Zone;

/// Why a lifecycle hook failed.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// A ZFS operation failed.
    #[error(transparent)]
    Zfs(#[from] omicron1_zfs::Error),
    /// A name built from the zone's was invalid.
    #[error(transparent)]
    Name(#[from] omicron1_zfs::NameError),
    /// Another zone was cloned from this one.
    #[error(
        "zone root {root} has dependent clones (zones cloned from it): uninstall those zones first"
    )]
    HasClones {
        /// The zone root.
        root: DatasetName,
    },
    /// The source zone's configuration could not be read.
    #[error(transparent)]
    Config(#[from] ZoneConfigError),
    /// The source zone has no zonepath in its configuration.
    #[error("zone {0} has no zonepath in its configuration")]
    NoZonepath(String),
    /// A zone's zonepath is not a ZFS mountpoint, so it cannot be cloned from or into.
    #[error("zonepath {0} is not a ZFS mountpoint: the clone hook needs ZFS zonepaths")]
    NotZfs(PathBuf),
    /// The source zone is not installed.
    #[error("zone {zone} has no root dataset {root}: install it before cloning it")]
    NoSourceRoot {
        /// The source zone.
        zone: String,
        /// The root dataset that is missing.
        root: DatasetName,
    },
    /// The zone has no root to attach.
    #[error("zone {zone} has no root at {root}: install the zone instead of attaching it")]
    NothingToAttach {
        /// The zone.
        zone: String,
        /// Where its root should be.
        root: String,
    },
    /// The new zone already has a root.
    #[error("zone root {0} already exists: uninstall the zone first")]
    RootExists(String),
    /// A filesystem operation failed.
    #[error(transparent)]
    Io(#[from] crate::support::pathio::PathIoError),
}

/// Where a zone's root is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZoneRoot {
    /// A dataset (the zonepath is on ZFS).
    Dataset(DatasetName),
    /// A copied tree (the zonepath is not on ZFS).
    Tree(PathBuf),
}

/// The zonepath's dataset, if the zonepath is a ZFS mountpoint; `None` if it is
/// not on ZFS or does not exist.
pub fn zonepath_dataset(
    zfs: &dyn Zfs,
    zonepath: &Path,
) -> Result<Option<DatasetName>, LifecycleError> {
    match std::fs::canonicalize(zonepath) {
        Ok(path) => Ok(zfs.dataset_mounted_at(&path)?),
        Err(_) => Ok(None),
    }
}

/// Where `zone`'s root is or would be.
pub fn zone_root(zfs: &dyn Zfs, zone: &Zone) -> Result<ZoneRoot, LifecycleError> {
    Ok(match zonepath_dataset(zfs, &zone.zonepath)? {
        Some(ds) => ZoneRoot::Dataset(ds.child("root")?),
        None => ZoneRoot::Tree(zone.root_path()),
    })
}

/// `uninstall [-F]`: destroys the zone root and nothing else (plus, for a zone
/// made by the clone hook, the snapshot of its source that it was cloned from,
/// and for the last zone on a stale template, that template).
///
/// On ZFS that is three `zfs` commands: a `list` finding the zonepath's
/// dataset, a `get` of the root's clone snapshot and origin (which also says
/// whether there is a root), and a `destroy -r`. A zone made by the clone hook
/// adds a `destroy -d` of its snapshot; a zone on a template other than this
/// boot's adds the collection ([`crate::template::inventory::collect_after_uninstall`]).
pub fn uninstall(
    zfs: &dyn Zfs,
    settings: &Settings,
    zone: &Zone,
    force: bool,
) -> Result<(), LifecycleError> {
    info(format_args!(
        "uninstalling zone {}{}",
        zone.name,
        if force { " (forced)" } else { "" }
    ));
    match zone_root(zfs, zone)? {
        ZoneRoot::Dataset(root) => {
            // One `zfs get` both finds the root and reads where it was cloned from.
            let recorded = match zfs.get((&root).into(), &[props::CLONE_SNAPSHOT, "origin"]) {
                Ok(recorded) => recorded,
                Err(e) if e.is_not_found() => {
                    info(format_args!(
                        "zone root {root} does not exist: nothing to uninstall"
                    ));
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            };
            let snapshot_prop = |name: &str| {
                recorded
                    .get(name)
                    .and_then(|p| p.value.as_deref())
                    .and_then(|v| props::unescape(v).parse::<SnapshotName>().ok())
            };
            let clone_snapshot = snapshot_prop(props::CLONE_SNAPSHOT);
            let origin = snapshot_prop("origin");
            let recursive = DestroyOptions {
                recursive: true,
                deferred: false,
            };
            match zfs.destroy((&root).into(), recursive) {
                Err(e) if e.kind() == ErrorKind::HasDependents => {
                    return Err(LifecycleError::HasClones { root });
                }
                other => other?,
            }
            info(format_args!("destroyed zone root {root}"));
            if let Some(snapshot) = clone_snapshot {
                let deferred = DestroyOptions {
                    recursive: false,
                    deferred: true,
                };
                match zfs.destroy((&snapshot).into(), deferred) {
                    Err(e) if e.is_not_found() => {}
                    other => other?,
                }
            } else if let Some(origin) = origin {
                // The last zone on a stale template takes the template with it.
                crate::template::inventory::collect_after_uninstall(zfs, settings, &origin);
            }
        }
        ZoneRoot::Tree(path) => match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                info(format_args!(
                    "{} does not exist: nothing to uninstall",
                    path.display()
                ));
            }
            _ => {
                std::fs::remove_dir_all(&path).map_err(PathIoError::on("cannot remove", &path))?;
                info(format_args!("removed {}", path.display()));
            }
        },
    }
    Ok(())
}

/// `clone [-s SNAP] SOURCE`: makes the zone's root an O(1) ZFS clone of the
/// source zone's root, through a snapshot named after the new zone (or the
/// given existing snapshot).
pub fn clone(
    zfs: &dyn Zfs,
    zones_dir: &Path,
    zone: &Zone,
    source_zone: &str,
    snapshot: Option<&str>,
) -> Result<(), LifecycleError> {
    let config = ZoneConfig::for_zone(zones_dir, source_zone)?;
    let source_path = config
        .zonepath
        .ok_or_else(|| LifecycleError::NoZonepath(source_zone.to_string()))?;
    let source_ds =
        zonepath_dataset(zfs, &source_path)?.ok_or(LifecycleError::NotZfs(source_path))?;
    let source_root = source_ds.child("root")?;
    if !zfs.exists((&source_root).into())? {
        return Err(LifecycleError::NoSourceRoot {
            zone: source_zone.to_string(),
            root: source_root,
        });
    }
    let target_ds = zonepath_dataset(zfs, &zone.zonepath)?
        .ok_or_else(|| LifecycleError::NotZfs(zone.zonepath.clone()))?;
    let target_root = target_ds.child("root")?;
    if zfs.exists((&target_root).into())? {
        return Err(LifecycleError::RootExists(target_root.to_string()));
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
                .map_err(|e| e.to_string())
        });
    }
    info(format_args!("cloning {snap} to {target_root}"));
    let origin = snap.to_string();
    let zone_name = props::escape(&zone.name);
    let created = props::now_rfc3339();
    let mut properties = vec![
        (props::KIND, "zone-root"),
        (props::STATE, "installed"),
        (props::ZONE, zone_name.as_str()),
        (props::ORIGIN, origin.as_str()),
        (props::CREATED, created.as_str()),
    ];
    if made_here {
        properties.push((props::CLONE_SNAPSHOT, origin.as_str()));
    }
    zfs.clone_snapshot(&snap, &target_root, &properties)?;
    revert.disarm();
    info(format_args!(
        "zone {} cloned from zone {source_zone}",
        zone.name
    ));
    Ok(())
}

/// `attach`: the zone's root must already be in place; nothing else to do.
pub fn attach(zfs: &dyn Zfs, zone: &Zone) -> Result<(), LifecycleError> {
    let present = match zone_root(zfs, zone)? {
        ZoneRoot::Dataset(root) => zfs.exists((&root).into())?.then(|| root.to_string()),
        ZoneRoot::Tree(path) => path.is_dir().then(|| path.display().to_string()),
    };
    match present {
        Some(root) => {
            info(format_args!("attached zone {} with root {root}", zone.name));
            Ok(())
        }
        None => Err(LifecycleError::NothingToAttach {
            zone: zone.name.clone(),
            root: zone.root_path().display().to_string(),
        }),
    }
}
