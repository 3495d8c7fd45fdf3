//! The install pipeline, top to bottom: find the zonepath's dataset → ensure
//! this boot's template → clone it to `<zonepath dataset>/root` → unpack each
//! image → record what was installed. A revert stack destroys the clone on any
//! failure or signal, so a failed install leaves nothing behind (exit 254).
//!
//! A zonepath that is not a ZFS mountpoint gets the original brand's method
//! instead: the system trees and baseline are copied into `ZONEPATH/root`, with
//! the same rollback.

use std::path::{Path, PathBuf};
use std::time::Instant;

use omicron1_zfs::{DatasetName, DestroyOptions, ErrorKind, Zfs};

use crate::image::{self, ImageKind, Unpacked};
use crate::props;
use crate::support::output::{info, ms};
use crate::support::pathio::PathIoError;
use crate::support::revert::Revert;
use crate::support::signals;
use crate::support::timings;
use crate::template::{self, Ready, Sources, TemplateError};
use crate::verbs::settings::Settings;

/// The zone being installed.
#[derive(Debug, Clone)]
pub struct Zone {
    /// Its name.
    pub name: String,
    /// Its zonepath (absolute).
    pub zonepath: PathBuf,
}

impl Zone {
    /// Where the zone's root file system is: `ZONEPATH/root`.
    pub fn root_path(&self) -> PathBuf {
        self.zonepath.join("root")
    }
}

/// Why an install failed. Everything it made has been removed unless
/// `InstallFailure::leftovers` says otherwise.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The zonepath does not exist or cannot be resolved.
    #[error("zonepath {path}: {source}")]
    Zonepath {
        /// The zonepath.
        path: PathBuf,
        /// The system's reason.
        #[source]
        source: std::io::Error,
    },
    /// An image given on the command line cannot be read.
    #[error("image {path} cannot be read: {source}")]
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
        template: String,
        /// Its encryption root.
        template_root: Option<String>,
        /// The zonepath dataset.
        zonepath: DatasetName,
        /// Its encryption root.
        zonepath_root: Option<String>,
    },
    /// The zone's delegated datasets break a rule that would make it fail to
    /// boot or share data.
    #[error("{0}")]
    Delegated(String),
    /// Building or finding the template failed.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// A ZFS operation failed.
    #[error(transparent)]
    Zfs(#[from] omicron1_zfs::Error),
    /// An image could not be unpacked.
    #[error(transparent)]
    Image(#[from] image::ImageError),
    /// A signal arrived.
    #[error(transparent)]
    Interrupted(#[from] signals::Interrupted),
    /// A filesystem operation failed.
    #[error(transparent)]
    Io(#[from] crate::support::pathio::PathIoError),
}

/// A failed install and whether its rollback left anything behind.
#[derive(Debug)]
pub struct InstallFailure {
    /// What went wrong.
    pub error: InstallError,
    /// Undo steps that failed (empty: nothing was left behind).
    pub leftovers: Vec<String>,
}

/// Installs `zone` from this boot's template and `images`.
pub fn install(
    zfs: &dyn Zfs,
    settings: &Settings,
    zone: &Zone,
    images: &[PathBuf],
) -> Result<(), InstallFailure> {
    let started = Instant::now();
    let mut revert = Revert::new();
    match install_steps(zfs, settings, zone, images, &mut revert) {
        Ok(()) => {
            revert.disarm();
            info(format_args!(
                "install complete in {} msec",
                ms(started.elapsed())
            ));
            Ok(())
        }
        Err(error) => {
            eprintln!(
                "omicron1: install of zone {} failed, rolling back: {error}",
                zone.name
            );
            let leftovers = revert.run();
            Err(InstallFailure { error, leftovers })
        }
    }
}

fn install_steps<'a>(
    zfs: &'a dyn Zfs,
    settings: &Settings,
    zone: &Zone,
    images: &[PathBuf],
    revert: &mut Revert<'a>,
) -> Result<(), InstallError> {
    info(format_args!(
        "installing zone {} @ {:?}...",
        zone.name, zone.zonepath
    ));
    for path in images {
        std::fs::File::open(path).map_err(|source| InstallError::ImageUnreadable {
            path: path.clone(),
            source,
        })?;
    }
    let zonepath =
        std::fs::canonicalize(&zone.zonepath).map_err(|source| InstallError::Zonepath {
            path: zone.zonepath.clone(),
            source,
        })?;
    let zone = Zone {
        name: zone.name.clone(),
        zonepath,
    };
    timings::phase("delegated-check", || {
        crate::delegated::check_for_install(zfs, settings, &zone)
    })
    .map_err(InstallError::Delegated)?;
    let found = timings::phase("find-dataset", || {
        zfs.mounted_at(&zone.zonepath, &["encryptionroot"])
    })?;
    match found {
        Some(row) => {
            let zonepath = ZonepathDataset {
                encryption_root: row.value("encryptionroot").map(str::to_string),
                dataset: row.name.parse().map_err(omicron1_zfs::Error::from)?,
            };
            install_clone(zfs, settings, &zone, &zonepath, images, revert)
        }
        None => install_copy(settings, &zone, images, revert),
    }
}

/// The dataset mounted at the zonepath, and how it is encrypted.
struct ZonepathDataset {
    dataset: DatasetName,
    encryption_root: Option<String>,
}

fn install_clone<'a>(
    zfs: &'a dyn Zfs,
    settings: &Settings,
    zone: &Zone,
    zonepath: &ZonepathDataset,
    images: &[PathBuf],
    revert: &mut Revert<'a>,
) -> Result<(), InstallError> {
    let dataset = &zonepath.dataset;
    let root = dataset.child("root").map_err(omicron1_zfs::Error::from)?;
    let parent = dataset
        .parent()
        .ok_or_else(|| InstallError::NoParent(dataset.clone()))?;
    let sources = Sources::from_settings(settings)?;
    let identity = template::identity(settings, &sources.baseline)?;
    // `ready.in_use` keeps collectors off the template until it is cloned.
    let ready = timings::phase("template", || {
        template::ensure(zfs, settings, &parent, &identity, &sources)
    })?;
    check_encryption(&ready, zonepath)?;
    let template = &ready.template;
    crate::support::faults::point("before-clone");

    info(format_args!("cloning {} to {root}", template.snapshot));
    let origin = template.snapshot.to_string();
    let zone_name = props::escape(&zone.name);
    let created = props::now_rfc3339();
    let properties = [
        (props::KIND, "zone-root"),
        (props::STATE, "installing"),
        (props::ZONE, zone_name.as_str()),
        (props::ORIGIN, origin.as_str()),
        (props::CREATED, created.as_str()),
    ];
    // An existing root makes the clone fail, so it needs no check of its own.
    match timings::phase("clone", || {
        zfs.clone_snapshot(&template.snapshot, &root, &properties)
    }) {
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            return Err(InstallError::RootExists(root.to_string()))
        }
        other => other?,
    }
    let doomed = root.clone();
    revert.push(format!("destroy zone root {root}"), move || {
        zfs.destroy(
            (&doomed).into(),
            DestroyOptions {
                recursive: true,
                deferred: false,
            },
        )
        .map_err(|e| e.to_string())
    });
    crate::support::faults::point("after-clone");

    let unpacked = unpack_images(&zone.root_path(), images)?;
    let mut record = image_properties(images, &unpacked);
    record.push((props::STATE.to_string(), "installed".to_string()));
    let pairs: Vec<(&str, &str)> = record
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    crate::support::faults::point("before-record");
    timings::phase("record", || zfs.set((&root).into(), &pairs))?;
    Ok(())
}

/// A zone root must be encrypted exactly as its zonepath dataset is; a clone
/// is encrypted as its origin is.
fn check_encryption(ready: &Ready, zonepath: &ZonepathDataset) -> Result<(), InstallError> {
    if ready.encryption_root != zonepath.encryption_root {
        return Err(InstallError::EncryptionMismatch {
            template: ready.template.snapshot.to_string(),
            template_root: ready.encryption_root.clone(),
            zonepath: zonepath.dataset.clone(),
            zonepath_root: zonepath.encryption_root.clone(),
        });
    }
    Ok(())
}

fn unpack_images(root: &Path, images: &[PathBuf]) -> Result<Vec<Unpacked>, InstallError> {
    let mut unpacked = Vec::with_capacity(images.len());
    for path in images {
        signals::check()?;
        info(format_args!("unpacking image {path:?}..."));
        let started = Instant::now();
        let u = image::unpack(path, root, ImageKind::Layer)?;
        timings::record(format!("unpack:{}", unpacked.len()), started.elapsed());
        info(format_args!(
            "unpacked image {path:?}: {} entries, {} bytes, {} msec",
            u.entries,
            u.bytes,
            ms(started.elapsed())
        ));
        unpacked.push(u);
    }
    Ok(unpacked)
}

/// `omicron1:images` and `omicron1:image.N.{path,sha256,pkg,version}`.
fn image_properties(images: &[PathBuf], unpacked: &[Unpacked]) -> Vec<(String, String)> {
    let mut out = vec![(props::IMAGES.to_string(), images.len().to_string())];
    for (n, (path, u)) in images.iter().zip(unpacked).enumerate() {
        let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
        out.push((
            props::image(n, "path"),
            props::escape(&abs.to_string_lossy()),
        ));
        out.push((props::image(n, "sha256"), u.sha256.clone()));
        if let Some(pkg) = &u.meta.pkg {
            out.push((props::image(n, "pkg"), props::escape(pkg)));
        }
        if let Some(version) = &u.meta.version {
            out.push((props::image(n, "version"), props::escape(version)));
        }
    }
    out
}

/// The original brand's method, for a zonepath that is not on ZFS.
fn install_copy<'a>(
    settings: &Settings,
    zone: &Zone,
    images: &[PathBuf],
    revert: &mut Revert<'a>,
) -> Result<(), InstallError> {
    eprintln!(
        "omicron1: warning: zonepath {} is not a ZFS mountpoint: copying the system trees into \
         the zone as the original brand did (slow; put the zonepath on ZFS to clone a template)",
        zone.zonepath.display()
    );
    let root = zone.root_path();
    match std::fs::create_dir(&root) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(InstallError::RootExists(root.display().to_string()))
        }
        Err(source) => return Err(PathIoError::on("cannot create", &root)(source).into()),
    }
    let doomed = root.clone();
    revert.push(format!("remove {}", root.display()), move || {
        std::fs::remove_dir_all(&doomed).map_err(|e| e.to_string())
    });
    let sources = Sources::from_settings(settings)?;
    template::populate(&root, &sources)?;
    unpack_images(&root, images)?;
    Ok(())
}
