//! Making and removing a zone's root: the install pipeline ([`install`]) and
//! its siblings, [`uninstall`], [`clone`] and [`attach`].
//!
//! Each acts only on the zone's own root — `<zonepath dataset>/root`, or
//! `ZONEPATH/root` for a zonepath not on ZFS — and never on templates or other
//! zones' datasets, except the snapshot the clone hook takes of its source
//! and a stale template uninstall collects.

pub mod clone;
pub mod install;
pub mod uninstall;

use std::path::{Path, PathBuf};

use omicron1_zfs::{DatasetName, SnapshotName, Zfs};

use crate::delegated::DelegatedError;
use crate::image::ImageError;
use crate::props;
use crate::rootfs::baseline::BaselineError;
use crate::rootfs::RootfsError;
use crate::support::output::info;
use crate::support::pathio::PathIoError;
use crate::support::signals::Interrupted;
use crate::template::TemplateError;
use crate::zone::{Zone, ZoneConfigError, ZoneName, ROOT};

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
    /// The zone already has a root.
    #[error(
        "zone root {0} already exists: uninstall the zone first (zoneadm -z ZONE uninstall -F)"
    )]
    RootExists(String),
    /// The zonepath dataset is a pool's root dataset, which leaves no parent for templates.
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
    /// The new zone of a clone already has a root.
    #[error("zone root {0} already exists: uninstall the zone first")]
    CloneTargetExists(DatasetName),
    /// The zone has no root to attach.
    #[error("zone {zone} has no root at {}: install the zone instead of attaching it", root.display())]
    NothingToAttach {
        /// The zone.
        zone: ZoneName,
        /// Where its root should be.
        root: PathBuf,
    },
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
) -> Result<Option<DatasetName>, ZoneRootError> {
    match std::fs::canonicalize(zonepath) {
        Ok(path) => Ok(zfs.dataset_mounted_at(&path)?),
        Err(_) => Ok(None),
    }
}

/// Where `zone`'s root is or would be.
pub fn zone_root(zfs: &dyn Zfs, zone: &Zone) -> Result<ZoneRoot, ZoneRootError> {
    Ok(match zonepath_dataset(zfs, &zone.zonepath)? {
        Some(ds) => ZoneRoot::Dataset(ds.child(ROOT)?),
        None => ZoneRoot::Tree(zone.root_path()),
    })
}

/// The `omicron1:` properties a zone root is created with: what it is, its
/// state, its zone, the snapshot it is cloned from and when; and, for a root
/// the clone hook made through a snapshot of its own, that snapshot.
pub(crate) fn root_properties(
    zone: &ZoneName,
    state: &'static str,
    origin: &SnapshotName,
    own_snapshot: bool,
) -> Vec<(&'static str, String)> {
    let origin = origin.to_string();
    let mut properties = vec![
        (props::KIND, "zone-root".to_string()),
        (props::STATE, state.to_string()),
        (props::ZONE, props::escape(zone.as_str())),
        (props::ORIGIN, origin.clone()),
        (props::CREATED, props::now_rfc3339()),
    ];
    if own_snapshot {
        properties.push((props::CLONE_SNAPSHOT, origin));
    }
    properties
}

/// Name-value pairs as the `Zfs` calls take them.
pub(crate) fn pairs<K: AsRef<str>>(values: &[(K, String)]) -> Vec<(&str, &str)> {
    values
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_str()))
        .collect()
}

/// `attach`: the zone's root must already be in place; nothing else to do.
pub fn attach(zfs: &dyn Zfs, zone: &Zone) -> Result<(), ZoneRootError> {
    let present = match zone_root(zfs, zone)? {
        ZoneRoot::Dataset(root) => zfs.exists((&root).into())?.then(|| root.to_string()),
        ZoneRoot::Tree(path) => path.is_dir().then(|| path.display().to_string()),
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
