//! `uninstall [-F]`: destroy the zone and leave the zonepath as zoneadm
//! found it before the install.

use std::path::Path;

use omicron1_zfs::Zfs;

use super::swap::{recover, restore};
use super::{is_zone, ZoneRootError};
use crate::props;
use crate::support::output::info;
use crate::support::pathio::PathIoError;
use crate::template::{collect, Site};
use crate::zone::Zone;

/// `uninstall [-F]`: destroys the zone and nothing else (plus, for a zone
/// made by the clone hook, the snapshot of its source that it was cloned from,
/// and for the last zone on a stale template, that template). A zone that
/// install made is replaced by the empty zonepath dataset it replaced, with
/// the same local properties, mode and owner; one the clone hook made leaves
/// the zonepath folder zoneadm made. What a killed install left is finished
/// off first ([`recover`]).
///
/// On ZFS that is three `zfs` commands: a `list` finding the zonepath's
/// dataset with what it was made from, a `destroy -r` and a `create` of the
/// empty dataset (a `mount` too if it was `canmount=noauto`). A zone made by the clone hook runs no `create` and adds a
/// `destroy -d` of its snapshot; a zone on a template other than this boot's
/// adds the collection ([`collect::collect_after_uninstall`]).
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
    match recover(zfs, &site.run_dir, zone)? {
        Some(row) if is_zone(&row) => {
            let origin = restore(zfs, &row, &zone.zonepath)?;
            if row.value(props::CLONE_SNAPSHOT).is_none() {
                if let Some(origin) = origin {
                    // The last zone on a stale template takes the template with it.
                    collect::collect_after_uninstall(zfs, site, &origin);
                }
            }
        }
        Some(row) => {
            info(format_args!(
                "zonepath dataset {} holds no zone: nothing to uninstall",
                row.name
            ));
        }
        None => remove_tree(&zone.root_path())?,
    }
    Ok(())
}

/// Removes a copied zone root, if there is one.
fn remove_tree(path: &Path) -> Result<(), ZoneRootError> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            info(format_args!(
                "{} does not exist: nothing to uninstall",
                path.display()
            ));
        }
        _ => {
            std::fs::remove_dir_all(path).map_err(PathIoError::on("cannot remove", path))?;
            info(format_args!("removed {}", path.display()));
        }
    }
    Ok(())
}
