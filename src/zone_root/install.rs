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

use super::{pairs, root_properties, ZoneRootError};
use crate::delegated;
use crate::image::{self, ImageKind, Unpacked};
use crate::props;
use crate::rootfs::{self, SourcePlaces};
use crate::support::output::{info, ms, notice, warn};
use crate::support::pathio::PathIoError;
use crate::support::revert::Revert;
use crate::support::{faults, signals, timings};
use crate::template::{self, Ready, Site};
use crate::zone::{Zone, ROOT};

/// What an install reads of this host besides the zone: where zone
/// configurations are, where templates keep their state, and where the
/// system trees and the baseline are.
#[derive(Debug, Clone)]
pub struct Host {
    /// zonecfg's `ZONE.xml` files, for the delegated-dataset check.
    pub zones_dir: PathBuf,
    /// Template locks, caches and this boot.
    pub site: Site,
    /// The system trees and baseline.
    pub sources: SourcePlaces,
}

/// A failed install and whether its rollback left anything behind.
#[derive(Debug)]
pub struct InstallFailure {
    /// What went wrong.
    pub error: Box<ZoneRootError>,
    /// Undo steps that failed (empty: nothing was left behind).
    pub leftovers: Vec<String>,
}

/// Installs `zone` from this boot's template and `images`.
pub fn install(
    zfs: &dyn Zfs,
    host: &Host,
    zone: &Zone,
    images: &[PathBuf],
) -> Result<(), InstallFailure> {
    let started = Instant::now();
    let mut revert = Revert::new();
    match install_steps(zfs, host, zone, images, &mut revert) {
        Ok(()) => {
            revert.disarm();
            info(format_args!(
                "install complete in {} msec",
                ms(started.elapsed())
            ));
            Ok(())
        }
        Err(error) => {
            notice(format_args!(
                "install of zone {} failed, rolling back: {error}",
                zone.name
            ));
            let leftovers = revert.run();
            Err(InstallFailure {
                error: Box::new(error),
                leftovers,
            })
        }
    }
}

fn install_steps<'a>(
    zfs: &'a dyn Zfs,
    host: &Host,
    zone: &Zone,
    images: &[PathBuf],
    revert: &mut Revert<'a>,
) -> Result<(), ZoneRootError> {
    info(format_args!(
        "installing zone {} @ {:?}...",
        zone.name, zone.zonepath
    ));
    for path in images {
        std::fs::File::open(path).map_err(|source| ZoneRootError::ImageUnreadable {
            path: path.clone(),
            source,
        })?;
    }
    let zonepath =
        std::fs::canonicalize(&zone.zonepath).map_err(|source| ZoneRootError::Zonepath {
            path: zone.zonepath.clone(),
            source,
        })?;
    let zone = Zone {
        name: zone.name.clone(),
        zonepath,
    };
    timings::phase("delegated-check", || {
        delegated::check_for_install(zfs, &host.zones_dir, &zone)
    })?;
    let found = timings::phase("find-dataset", || {
        zfs.mounted_at(&zone.zonepath, &["encryptionroot"])
    })?;
    match found {
        Some(row) => {
            let zonepath = ZonepathDataset {
                encryption_root: row.value("encryptionroot").map(str::to_string),
                dataset: row.name.dataset(),
            };
            install_clone(zfs, host, &zone, &zonepath, images, revert)
        }
        None => install_copy(host, &zone, images, revert),
    }
}

/// The dataset mounted at the zonepath, and how it is encrypted.
struct ZonepathDataset {
    dataset: DatasetName,
    encryption_root: Option<String>,
}

fn install_clone<'a>(
    zfs: &'a dyn Zfs,
    host: &Host,
    zone: &Zone,
    zonepath: &ZonepathDataset,
    images: &[PathBuf],
    revert: &mut Revert<'a>,
) -> Result<(), ZoneRootError> {
    let dataset = &zonepath.dataset;
    let root = dataset.child(ROOT)?;
    let parent = dataset
        .parent()
        .ok_or_else(|| ZoneRootError::NoParent(dataset.clone()))?;
    let sources = host.sources.find().map_err(template::TemplateError::from)?;
    let identity = template::identity::identity(&host.site, &sources.baseline)?;
    // `ready.in_use` keeps collectors off the template until it is cloned.
    let ready = timings::phase("template", || {
        template::ensure(zfs, &host.site, &parent, &identity, &sources)
    })?;
    check_encryption(&ready, zonepath)?;
    let template = &ready.template;
    faults::point("before-clone");

    info(format_args!("cloning {} to {root}", template.snapshot));
    let properties = root_properties(&zone.name, "installing", &template.snapshot, false);
    // An existing root makes the clone fail, so it needs no check of its own.
    match timings::phase("clone", || {
        zfs.clone_snapshot(&template.snapshot, &root, &pairs(&properties))
    }) {
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            return Err(ZoneRootError::RootExists(root.to_string()))
        }
        other => other?,
    }
    let doomed = root.clone();
    revert.push(format!("destroy zone root {root}"), move || {
        zfs.destroy((&doomed).into(), DestroyOptions::RECURSIVE)
    });
    faults::point("after-clone");

    let unpacked = unpack_images(&zone.root_path(), images)?;
    let mut record = image_properties(images, &unpacked);
    record.push((props::STATE.to_string(), "installed".to_string()));
    faults::point("before-record");
    timings::phase("record", || zfs.set((&root).into(), &pairs(&record)))?;
    Ok(())
}

/// A zone root must be encrypted exactly as its zonepath dataset is; a clone
/// is encrypted as its origin is.
fn check_encryption(ready: &Ready, zonepath: &ZonepathDataset) -> Result<(), ZoneRootError> {
    if ready.encryption_root != zonepath.encryption_root {
        return Err(ZoneRootError::EncryptionMismatch {
            template: ready.template.snapshot.clone(),
            template_root: ready.encryption_root.clone(),
            zonepath: zonepath.dataset.clone(),
            zonepath_root: zonepath.encryption_root.clone(),
        });
    }
    Ok(())
}

fn unpack_images(root: &Path, images: &[PathBuf]) -> Result<Vec<Unpacked>, ZoneRootError> {
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
fn install_copy(
    host: &Host,
    zone: &Zone,
    images: &[PathBuf],
    revert: &mut Revert<'_>,
) -> Result<(), ZoneRootError> {
    warn(format_args!(
        "zonepath {} is not a ZFS mountpoint: copying the system trees into \
         the zone as the original brand did (slow; put the zonepath on ZFS to clone a template)",
        zone.zonepath.display()
    ));
    let root = zone.root_path();
    match std::fs::create_dir(&root) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(ZoneRootError::RootExists(root.display().to_string()))
        }
        Err(source) => return Err(PathIoError::on("cannot create", &root)(source).into()),
    }
    let doomed = root.clone();
    revert.push(format!("remove {}", root.display()), move || {
        std::fs::remove_dir_all(&doomed)
    });
    let sources = host.sources.find()?;
    rootfs::populate(&root, &sources)?;
    unpack_images(&root, images)?;
    Ok(())
}
