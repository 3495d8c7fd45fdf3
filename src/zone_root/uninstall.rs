//! `uninstall [-F]`: destroy the zone's root.

use omicron1_zfs::{DestroyOptions, ErrorKind, SnapshotName, Zfs};

use super::{zone_root, ZoneRoot, ZoneRootError};
use crate::props;
use crate::support::output::info;
use crate::support::pathio::PathIoError;
use crate::template::{collect, Site};
use crate::zone::Zone;

/// `uninstall [-F]`: destroys the zone root and nothing else (plus, for a zone
/// made by the clone hook, the snapshot of its source that it was cloned from,
/// and for the last zone on a stale template, that template).
///
/// On ZFS that is three `zfs` commands: a `list` finding the zonepath's
/// dataset, a `get` of the root's clone snapshot and origin (which also says
/// whether there is a root), and a `destroy -r`. A zone made by the clone hook
/// adds a `destroy -d` of its snapshot; a zone on a template other than this
/// boot's adds the collection ([`collect::collect_after_uninstall`]).
pub fn uninstall(
    zfs: &dyn Zfs,
    site: &Site,
    zone: &Zone,
    force: bool,
) -> Result<(), ZoneRootError> {
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
            match zfs.destroy((&root).into(), DestroyOptions::RECURSIVE) {
                Err(e) if e.kind() == ErrorKind::HasDependents => {
                    return Err(ZoneRootError::HasClones { root });
                }
                other => other?,
            }
            info(format_args!("destroyed zone root {root}"));
            if let Some(snapshot) = clone_snapshot {
                match zfs.destroy((&snapshot).into(), DestroyOptions::DEFERRED) {
                    Err(e) if e.is_not_found() => {}
                    other => other?,
                }
            } else if let Some(origin) = origin {
                // The last zone on a stale template takes the template with it.
                collect::collect_after_uninstall(zfs, site, &origin);
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
