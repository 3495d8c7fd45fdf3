//! The install pipeline, top to bottom: find the zonepath's dataset (and
//! refuse one holding anything this call did not make) → ensure this boot's
//! template under the dataset's encryption root → replace the empty zonepath
//! dataset with a clone of the template, under the same name and with the same
//! local properties ([`swap`]) → unpack each image into `ZONEPATH/root` → copy
//! the global zone's `etc/default/init` in → record what was installed. A
//! revert stack undoes every step on any failure or signal: the clone is
//! destroyed and the zonepath dataset made again as it was (exit 254).
//!
//! A zonepath that is not a ZFS mountpoint gets the original brand's method
//! instead: the system trees and baseline are copied into `ZONEPATH/root`, with
//! the same rollback.
//!
//! A killed install is finished off by the next install or `uninstall -F`
//! ([`swap::recover`]): a zone dataset still `installing` is destroyed and the
//! zonepath dataset made again from what it saved.

use std::path::{Path, PathBuf};
use std::time::Instant;

use omicron1_zfs::{DatasetName, DestroyOptions, ErrorKind, ListRow, Zfs};

use super::swap::{self, Saved};
use super::{is_zone, pairs, zone_properties, zonepath_dataset, Failed, ZoneRootError};
use crate::delegated;
use crate::image::{self, ImageKind, Unpacked};
use crate::props;
use crate::rootfs::{self, SourcePlaces};
use crate::support::output::{info, ms, notice, warn};
use crate::support::pathio::PathIoError;
use crate::support::revert::Revert;
use crate::support::{faults, signals, timings};
use crate::template::{self, Base, Site};
use crate::zone::Zone;

/// The global zone's file every zone gets a copy of, as with the original brand.
pub const INIT_DEFAULTS: &str = "etc/default/init";

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

/// Installs `zone` from this boot's template and `images`.
pub fn install(zfs: &dyn Zfs, host: &Host, zone: &Zone, images: &[PathBuf]) -> Result<(), Failed> {
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
            Err(Failed {
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
    // First of all, before anything that could fail with 254 (after which
    // zoneadm deletes the zonepath): finish off an install that was killed
    // (its record says so), then make sure the zonepath is ours to install
    // into — its files first, which needs no ZFS.
    let record = swap::record_path(&host.site.run_dir, &zone.name);
    let recovered = if record.exists() {
        Some(swap::recover(zfs, &host.site.run_dir, zone)?)
    } else {
        None
    };
    check_vacant_folder(&zone.zonepath)?;
    for path in images {
        std::fs::File::open(path).map_err(|source| ZoneRootError::ImageUnreadable {
            path: path.clone(),
            source,
        })?;
    }
    let found = match recovered {
        Some(found) => found,
        None => timings::phase("find-dataset", || zonepath_dataset(zfs, &zone.zonepath))?,
    };
    check_vacant_dataset(&zone.zonepath, found.as_ref())?;
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
    match found {
        Some(row) => install_clone(zfs, host, &zone, &row, images, revert),
        None => install_copy(host, &zone, images, revert),
    }
}

fn occupied(zonepath: &Path, what: String) -> ZoneRootError {
    ZoneRootError::Occupied {
        path: zonepath.to_path_buf(),
        what,
    }
}

/// Refuses a zonepath folder holding anything (a zone's `root/`, any file):
/// an install starts from the empty zonepath zoneadm made.
fn check_vacant_folder(zonepath: &Path) -> Result<(), ZoneRootError> {
    let entries = match std::fs::read_dir(zonepath) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(PathIoError::on("cannot read", zonepath)(e).into()),
    };
    for entry in entries {
        let entry = entry.map_err(PathIoError::on("cannot read", zonepath))?;
        if entry.file_name() != ".zfs" {
            return Err(occupied(zonepath, format!("{:?}", entry.file_name())));
        }
    }
    Ok(())
}

/// Refuses a zonepath dataset that is a zone (this brand's, or any clone).
/// (Children and snapshots of it make its destroy fail, before anything is
/// touched: [`install_clone`].)
fn check_vacant_dataset(zonepath: &Path, found: Option<&ListRow>) -> Result<(), ZoneRootError> {
    if let Some(row) = found {
        if is_zone(row) {
            return Err(occupied(zonepath, format!("zone dataset {}", row.name)));
        }
        if let Some(origin) = row.value("origin") {
            return Err(occupied(
                zonepath,
                format!("dataset {}, a clone of {origin}", row.name),
            ));
        }
    }
    Ok(())
}

fn install_clone<'a>(
    zfs: &'a dyn Zfs,
    host: &Host,
    zone: &Zone,
    row: &ListRow,
    images: &[PathBuf],
    revert: &mut Revert<'a>,
) -> Result<(), ZoneRootError> {
    let dataset = row.name.dataset();
    if dataset.parent().is_none() {
        return Err(ZoneRootError::NoParent(dataset));
    }
    let base = Base::of(&dataset, row.value("encryptionroot"))?;
    let sources = host.sources.find().map_err(template::TemplateError::from)?;
    let identity = template::identity::identity(&host.site, &sources.baseline)?;
    // `ready.in_use` keeps collectors off the template until it is cloned.
    let ready = timings::phase("template", || {
        template::ensure(zfs, &host.site, &base, &identity, &sources)
    })?;
    check_encryption(&ready, &dataset, row.value("encryptionroot"))?;
    let local = timings::phase("zonepath-properties", || zfs.local_properties(&dataset))?;
    let saved = Saved::read(&dataset, &zone.zonepath, &local)?;
    faults::point("before-clone");

    let record = swap::record_path(&host.site.run_dir, &zone.name);
    swap::write_record(&record, &saved)?;
    match timings::phase("destroy-zonepath", || {
        zfs.destroy((&dataset).into(), DestroyOptions::default())
    }) {
        Ok(()) => {}
        Err(e) => {
            swap::remove_record(&record)?;
            return Err(if e.kind() == ErrorKind::HasDependents {
                ZoneRootError::Occupied {
                    path: zone.zonepath.clone(),
                    what: format!("dataset {dataset} with child datasets or snapshots"),
                }
            } else {
                e.into()
            });
        }
    }
    let (restore, zonepath) = (saved.clone(), zone.zonepath.clone());
    revert.push(
        format!("make zonepath dataset {dataset} again"),
        move || {
            swap::recreate(zfs, &restore, &zonepath)?;
            swap::remove_record(&record).map_err(ZoneRootError::from)
        },
    );
    faults::point("after-destroy");

    info(format_args!(
        "cloning {} to {dataset}",
        ready.template.snapshot
    ));
    let mut properties: Vec<(String, String)> = saved.properties.clone();
    properties.extend(zone_properties(
        &zone.name,
        "installing",
        &ready.template.snapshot,
        false,
    ));
    properties.push((props::ZONEPATH.to_string(), saved.encode()));
    let cloned = timings::phase("clone", || {
        zfs.clone_snapshot(&ready.template.snapshot, &dataset, &pairs(&properties))
    });
    if let Err(e) = cloned {
        // illumos creates the clone and then fails to mount it (a non-empty
        // folder): that clone is this call's, to destroy.
        if e.kind() != ErrorKind::AlreadyExists && zfs.exists((&dataset).into())? {
            push_destroy(revert, zfs, &dataset);
        }
        return Err(e.into());
    }
    push_destroy(revert, zfs, &dataset);
    drop(ready);
    swap::ensure_mounted(zfs, &dataset, &properties)?;
    swap::set_mode(&zone.zonepath, 0o700, saved.uid, saved.gid)?;
    faults::point("after-clone");

    let root = zone.root_path();
    let unpacked = unpack_images(&root, images)?;
    copy_init_defaults(host, &root)?;
    let mut record = image_properties(images, &unpacked);
    record.push((props::STATE.to_string(), "installed".to_string()));
    faults::point("before-record");
    timings::phase("record", || zfs.set((&dataset).into(), &pairs(&record)))?;
    swap::remove_record(&swap::record_path(&host.site.run_dir, &zone.name))?;
    Ok(())
}

/// Pushes the destroy of the zone dataset this install cloned.
fn push_destroy<'a>(revert: &mut Revert<'a>, zfs: &'a dyn Zfs, dataset: &DatasetName) {
    let doomed = dataset.clone();
    revert.push(format!("destroy zone dataset {dataset}"), move || {
        zfs.destroy((&doomed).into(), DestroyOptions::RECURSIVE)
    });
}

/// Copies the global zone's `etc/default/init` into the zone root, as the
/// original brand did; a global zone without one is fine.
fn copy_init_defaults(host: &Host, root: &Path) -> Result<(), ZoneRootError> {
    let source = host.sources.source_root.join(INIT_DEFAULTS);
    if image::copy_in(&source, root, INIT_DEFAULTS)? {
        info(format_args!("copied {} into the zone", source.display()));
    }
    Ok(())
}

/// A zone must be encrypted exactly as its zonepath dataset is; a clone is
/// encrypted as its origin is.
fn check_encryption(
    ready: &template::Ready,
    dataset: &DatasetName,
    zonepath_root: Option<&str>,
) -> Result<(), ZoneRootError> {
    let zonepath_root = zonepath_root.filter(|r| *r != "-").map(str::to_string);
    if ready.encryption_root != zonepath_root {
        return Err(ZoneRootError::EncryptionMismatch {
            template: ready.template.snapshot.clone(),
            template_root: ready.encryption_root.clone(),
            zonepath: dataset.clone(),
            zonepath_root,
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
    rootfs::make_root(&root)?;
    let doomed = root.clone();
    revert.push(format!("remove {}", root.display()), move || {
        std::fs::remove_dir_all(&doomed)
    });
    let sources = host.sources.find()?;
    rootfs::populate(&root, &sources)?;
    unpack_images(&root, images)?;
    copy_init_defaults(host, &root)?;
    Ok(())
}
