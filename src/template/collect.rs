//! Collecting stale templates: `template gc`, a build's housekeeping, and the
//! collection after the last zone on a stale template is uninstalled.

use omicron1_zfs::{DatasetName, DestroyOptions, SnapshotName, Zfs};

use super::identity::{self, Current, Identity};
use super::inventory::{inventory, zone_names, Status};
use super::lock::{Lock, LockMode};
use super::{Site, TemplateError, CONTAINER};
use crate::support::output::{info, warn};

/// What a collection did with one template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Collected {
    /// Destroyed (or would be, in a dry run).
    Destroyed(DatasetName),
    /// Kept, and why.
    Kept(DatasetName, String),
}

/// Destroys the stale templates in `container` that no zone is cloned from, and
/// unfinished ones whose build died; `current` says what is current. A
/// template an install or build holds (its lock) is kept.
pub fn collect(
    zfs: &dyn Zfs,
    site: &Site,
    container: &DatasetName,
    current: &Current,
    dry_run: bool,
) -> Result<Vec<Collected>, TemplateError> {
    let mut outcomes = Vec::new();
    for t in inventory(zfs, container)? {
        let status = t.status(current);
        let keep = |why: String| Collected::Kept(t.dataset.clone(), why);
        let outcome = match status {
            Status::Current => keep("current".into()),
            Status::Stale if !t.clones.is_empty() => keep(format!(
                "stale, but zones are cloned from it: {}",
                zone_names(&t.clones).join(", ")
            )),
            Status::Stale | Status::Unfinished => {
                match Lock::try_acquire(&site.lock_path(&t.dataset), LockMode::Exclusive)? {
                    None => keep(format!(
                        "{}, but in use by an install or build",
                        status.as_str()
                    )),
                    Some(_lock) if dry_run => Collected::Destroyed(t.dataset.clone()),
                    Some(_lock) => {
                        zfs.destroy((&t.dataset).into(), DestroyOptions::RECURSIVE)?;
                        info(format_args!(
                            "destroyed {} template {}",
                            status.as_str(),
                            t.dataset
                        ));
                        Collected::Destroyed(t.dataset.clone())
                    }
                }
            }
        };
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// After a zone root cloned from `origin` is destroyed: collect its template if
/// it is now stale and unused (and any other unused stale template beside it).
/// Housekeeping: failures are warnings.
///
/// Only a template of another boot or baseline can be stale, and this boot's
/// current template is named by its identity's key ([`Identity::key`]), known
/// without asking ZFS. So uninstalling a zone on the current template scans
/// nothing; one on another template costs a `zfs list` of the container, and a
/// `zfs destroy` per template collected.
pub fn collect_after_uninstall(zfs: &dyn Zfs, site: &Site, origin: &SnapshotName) {
    let template = origin.dataset();
    let Some(container) = template.parent().filter(|c| c.basename() == CONTAINER) else {
        return;
    };
    let warn_of = |e: TemplateError| {
        warn(format_args!(
            "collecting stale templates in {container}: {e}"
        ))
    };
    let identity = match identity::current_identity(site) {
        Ok(identity) => identity,
        Err(e) => return warn_of(e),
    };
    if identity
        .as_ref()
        .is_some_and(|id: &Identity| template.basename() == id.key())
    {
        return;
    }
    let current = match &identity {
        Some(id) => Current::from(id),
        None => match identity::current(site) {
            Ok(current) => current,
            Err(e) => return warn_of(e),
        },
    };
    if let Err(e) = collect(zfs, site, &container, &current, false) {
        warn_of(e);
    }
}
