//! Making and removing a zone: the install pipeline ([`install`]) and its
//! siblings, [`uninstall`], [`clone`] and [`attach`].
//!
//! On ZFS a zone *is* its zonepath dataset: install replaces the empty one
//! zoneadm made with a clone of the template under the same name ([`swap`]),
//! so `ZONEPATH/root` is a folder of that one dataset, as with the original
//! brand. A zonepath that is not on ZFS gets a copied `ZONEPATH/root`. Each
//! acts only on the zone's own dataset or tree, never on templates or other
//! zones' datasets, except the snapshot the clone hook takes of its source
//! and a stale template uninstall collects.

pub mod clone;
pub mod install;
pub mod inventory;
pub mod swap;
pub mod uninstall;

use std::path::{Path, PathBuf};

use omicron1_zfs::{DatasetName, ListRow, SnapshotName, Zfs};

use crate::delegated::DelegatedError;
use crate::image::ImageError;
use crate::props;
use crate::rootfs::baseline::BaselineError;
use crate::rootfs::RootfsError;
use crate::support::output::info;
use crate::support::pathio::PathIoError;
use crate::support::signals::Interrupted;
use crate::template::TemplateError;
use crate::zone::{Zone, ZoneConfigError, ZoneName};

/// Why making, removing or attaching a zone root failed.
#[derive(Debug, thiserror::Error)]
pub enum ZoneRootError {
    /// A ZFS operation failed.
    #[error(transparent)]
    Zfs(#[from] omicron1_zfs::Error),
    /// A name built from the zone's was invalid.
    #[error(transparent)]
    Name(#[from] omicron1_zfs::NameError),
    /// A filesystem operation failed.
    #[error(transparent)]
    Io(#[from] PathIoError),
    /// The zonepath does not exist or cannot be resolved.
    #[error("zonepath {}", path.display())]
    Zonepath {
        /// The zonepath.
        path: PathBuf,
        /// The system's reason.
        #[source]
        source: std::io::Error,
    },
    /// An image given on the command line cannot be read.
    #[error("image {} cannot be read", path.display())]
    ImageUnreadable {
        /// The image.
        path: PathBuf,
        /// The system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The zonepath holds something this call did not make (a zone's files,
    /// a clone, a child dataset, a snapshot): it is left untouched (exit 255,
    /// so that zoneadm does not delete it).
    #[error(
        "zonepath {} already holds {what}, which this call did not make: nothing was touched \
         (uninstall the zone with zoneadm -z ZONE uninstall -F, or empty the zonepath, first)",
        path.display()
    )]
    Occupied {
        /// The zonepath.
        path: PathBuf,
        /// What is there.
        what: String,
    },
    /// The zonepath dataset is a pool's root dataset, which cannot be replaced.
    #[error("zonepath dataset {0} is a pool's root dataset: give the zone its own dataset")]
    NoParent(DatasetName),
    /// The template's encryption root differs from the zonepath's.
    #[error(
        "template {template} has encryption root {template_root:?} but zonepath dataset {zonepath} \
         has {zonepath_root:?}: a clone would not be encrypted like the zone; put the zonepath \
         dataset under an encrypted parent rather than making it its own encryption root"
    )]
    EncryptionMismatch {
        /// The template snapshot.
        template: SnapshotName,
        /// Its encryption root.
        template_root: Option<String>,
        /// The zonepath dataset.
        zonepath: DatasetName,
        /// Its encryption root.
        zonepath_root: Option<String>,
    },
    /// The zone's delegated datasets break a rule that would make it fail to
    /// boot or share data, or could not be checked.
    #[error(transparent)]
    Delegated(#[from] DelegatedError),
    /// Building or finding the template failed.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// No baseline was found for a copied zone root.
    #[error(transparent)]
    Baseline(#[from] BaselineError),
    /// A copied zone root could not be filled.
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    /// An image could not be unpacked.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// A signal arrived.
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
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
    NoZonepath(ZoneName),
    /// A zone's zonepath is not a ZFS mountpoint, so it cannot be cloned from or into.
    #[error("zonepath {} is not a ZFS mountpoint: the clone hook needs ZFS zonepaths", .0.display())]
    NotZfs(PathBuf),
    /// The source zone is not installed.
    #[error("zone {zone} has no root dataset {root}: install it before cloning it")]
    NoSourceRoot {
        /// The source zone.
        zone: ZoneName,
        /// The root dataset that is missing.
        root: DatasetName,
    },
    /// A snapshot given to the clone hook is not one of the source zone's.
    #[error("snapshot {snapshot} is not a snapshot of zone {zone}'s dataset {dataset}")]
    ForeignSnapshot {
        /// The snapshot given.
        snapshot: String,
        /// The source zone.
        zone: ZoneName,
        /// Its zonepath dataset.
        dataset: DatasetName,
    },
    /// The zone has no root to attach.
    #[error("zone {zone} has no root at {}: install the zone instead of attaching it", root.display())]
    NothingToAttach {
        /// The zone.
        zone: ZoneName,
        /// Where its root should be.
        root: PathBuf,
    },
}

/// What install, uninstall, clone and attach read of a zonepath dataset,
/// in the one `zfs list` that finds it.
pub(crate) const ZONEPATH_PROPERTIES: &[&str] = &[
    "encryptionroot",
    "origin",
    props::KIND,
    props::STATE,
    props::ZONEPATH,
    props::CLONE_SNAPSHOT,
];

/// The `omicron1:kind` of a zone's dataset.
pub(crate) const ZONE_KIND: &str = "zone-root";

/// The dataset mounted at `zonepath` with [`ZONEPATH_PROPERTIES`], or `None`
/// if the zonepath is not the mountpoint of a mounted ZFS filesystem (or does
/// not exist).
pub fn zonepath_dataset(zfs: &dyn Zfs, zonepath: &Path) -> Result<Option<ListRow>, ZoneRootError> {
    match std::fs::canonicalize(zonepath) {
        Ok(path) => Ok(zfs.mounted_at(&path, ZONEPATH_PROPERTIES)?),
        Err(_) => Ok(None),
    }
}

/// The dataset zoneadm names for `zonepath` (`path2name` in zoneadm's
/// `zfs.c`): the filesystem mounted at the zonepath's parent folder, plus
/// the zonepath's last component. `None` if that parent is not a ZFS mountpoint.
pub fn zonepath_dataset_name(
    zfs: &dyn Zfs,
    zonepath: &Path,
) -> Result<Option<DatasetName>, ZoneRootError> {
    let (Some(parent), Some(base)) = (zonepath.parent(), zonepath.file_name()) else {
        return Ok(None);
    };
    let Ok(parent) = std::fs::canonicalize(parent) else {
        return Ok(None);
    };
    match zfs.dataset_mounted_at(&parent)? {
        Some(ds) => Ok(Some(ds.child(&base.to_string_lossy())?)),
        None => Ok(None),
    }
}

/// Whether a zonepath dataset (its row from [`zonepath_dataset`]) is a zone
/// this brand made, and not the empty dataset zoneadm made.
pub(crate) fn is_zone(row: &ListRow) -> bool {
    row.value(props::KIND) == Some(ZONE_KIND)
}

/// The `omicron1:` properties a zone dataset is created with: what it is,
/// its state, its zone, the snapshot it is cloned from and when; and, for a
/// zone the clone hook made through a snapshot of its own, that snapshot.
pub(crate) fn zone_properties(
    zone: &ZoneName,
    state: &'static str,
    origin: &SnapshotName,
    own_snapshot: bool,
) -> Vec<(String, String)> {
    let origin = origin.to_string();
    let mut properties = vec![
        (props::KIND.to_string(), ZONE_KIND.to_string()),
        (props::STATE.to_string(), state.to_string()),
        (props::ZONE.to_string(), props::escape(zone.as_str())),
        (props::ORIGIN.to_string(), origin.clone()),
        (props::CREATED.to_string(), props::now_rfc3339()),
        (
            props::INSTALLER.to_string(),
            props::escape(props::INSTALLER_VERSION),
        ),
    ];
    if own_snapshot {
        properties.push((props::CLONE_SNAPSHOT.to_string(), origin));
    }
    properties
}

/// A failed install or clone and whether its rollback left anything behind.
#[derive(Debug)]
pub struct Failed {
    /// What went wrong.
    pub error: Box<ZoneRootError>,
    /// Undo steps that failed (empty: nothing was left behind).
    pub leftovers: Vec<String>,
}

impl Failed {
    /// Whether the call may have left state behind, or found the zonepath
    /// holding something it did not make: what zoneadm must not clean up.
    pub fn fatal(&self) -> bool {
        !self.leftovers.is_empty() || matches!(*self.error, ZoneRootError::Occupied { .. })
    }
}

/// Name-value pairs as the `Zfs` calls take them.
pub(crate) fn pairs<K: AsRef<str>>(values: &[(K, String)]) -> Vec<(&str, &str)> {
    values
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_str()))
        .collect()
}

/// `attach`: the zone must already be in place — its zonepath dataset a
/// zone this brand made, or a copied `ZONEPATH/root`; nothing else to do.
pub fn attach(zfs: &dyn Zfs, zone: &Zone) -> Result<(), ZoneRootError> {
    let present = match zonepath_dataset(zfs, &zone.zonepath)? {
        Some(row) => is_zone(&row).then(|| row.name.to_string()),
        None => {
            let path = zone.root_path();
            path.is_dir().then(|| path.display().to_string())
        }
    };
    match present {
        Some(root) => {
            info(format_args!("attached zone {} with root {root}", zone.name));
            Ok(())
        }
        None => Err(ZoneRootError::NothingToAttach {
            zone: zone.name.clone(),
            root: zone.root_path(),
        }),
    }
}
