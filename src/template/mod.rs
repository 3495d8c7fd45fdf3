//! Templates: one ZFS dataset per boot, baseline and zone parent dataset,
//! holding what every zone root starts from, snapshotted `@ready` once complete.
//!
//! A template lives beside the zones it serves, under the zonepath dataset's
//! parent: `<parent>/omicron1-templates/<key>@ready`. It therefore shares their
//! encryption root (OpenZFS would clone an unencrypted snapshot into an
//! encrypted parent as an *unencrypted* zone root), and goes when the sled
//! agent wipes the zone datasets.
//!
//! Only a finished template is ever cloned: the `@ready` snapshot is the last
//! step of a build and is atomic, so a template dataset without it is a build
//! that died, which the next build (under the same lock) destroys and redoes.

pub mod inventory;
pub mod lock;

use std::path::{Path, PathBuf};
use std::time::Instant;

use omicron1_zfs::{
    CreateOptions, DatasetName, Depth, DestroyOptions, ErrorKind, ListKind, SnapshotName, Zfs,
};
use sha2::{Digest, Sha256};

use crate::image::{self, ImageKind};
use crate::props;
use crate::rootfs::baseline::{self, Baseline};
use crate::rootfs::replicate::{self, Mode};
use crate::support::output::{info, ms};
use crate::support::pathio::PathIoError;
use crate::support::revert::Revert;
use crate::support::signals;
use crate::template::lock::{Lock, LockMode};
use crate::verbs::settings::Settings;

/// The folder-like dataset holding a parent's templates.
pub const CONTAINER: &str = "omicron1-templates";
/// The snapshot that marks a template finished; zones are cloned from it.
pub const READY: &str = "ready";
/// The system trees replicated into every template, in order.
pub const TREES: [&str; 3] = ["usr", "lib", "sbin"];
/// SMF manifests of the global zone, which a zone must not import.
pub const PRUNED: &str = "lib/svc/manifest";

/// What a template is built from and so what it is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The boot it was built in.
    pub boot_id: String,
    /// The baseline's digest ([`baseline::digest`]).
    pub baseline_sha256: String,
}

impl Identity {
    /// The template's dataset name below the container: short digests of the
    /// boot and the baseline, so a new boot or baseline gets a new template.
    pub fn key(&self) -> String {
        let boot = hex(&Sha256::digest(self.boot_id.as_bytes()));
        let baseline: String = self.baseline_sha256.chars().take(12).collect();
        format!("t-{}-{}", &boot[..8], baseline)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A template's container, dataset and `@ready` snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The container holding the parent's templates (`<parent>/omicron1-templates`).
    pub container: DatasetName,
    /// The dataset the build fills.
    pub dataset: DatasetName,
    /// The snapshot zones are cloned from.
    pub snapshot: SnapshotName,
}

impl Template {
    /// The template for `identity` serving zones whose zonepath datasets are
    /// children of `parent`.
    pub fn locate(parent: &DatasetName, identity: &Identity) -> Result<Template, TemplateError> {
        let container = parent.child(CONTAINER)?;
        let dataset = container.child(&identity.key())?;
        let snapshot = dataset.snapshot(READY)?;
        Ok(Template {
            container,
            dataset,
            snapshot,
        })
    }
}

/// What zone roots start from: the system trees and the baseline.
#[derive(Debug, Clone)]
pub struct Sources {
    /// Where `usr`, `lib` and `sbin` are replicated from.
    pub source_root: PathBuf,
    /// The baseline archive and global-zone-only list.
    pub baseline: Baseline,
    /// Symlink shared objects and executables into `/system`, or copy all.
    pub mode: Mode,
    /// Copy threads.
    pub threads: usize,
}

impl Sources {
    /// The sources the settings name; fails if no baseline is found.
    pub fn from_settings(settings: &Settings) -> Result<Sources, TemplateError> {
        Ok(Sources {
            source_root: settings.source_root.clone(),
            baseline: baseline::find(&settings.baseline_dirs)?,
            mode: settings.replicate_mode,
            threads: settings
                .copy_threads
                .unwrap_or_else(replicate::default_threads),
        })
    }
}

/// Why a template could not be found or built.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// A ZFS operation failed.
    #[error(transparent)]
    Zfs(#[from] omicron1_zfs::Error),
    /// A generated dataset name was invalid (a parent name too long).
    #[error(transparent)]
    Name(#[from] omicron1_zfs::NameError),
    /// The build lock could not be taken.
    #[error(transparent)]
    Lock(#[from] crate::template::lock::LockError),
    /// Replicating a system tree failed.
    #[error(transparent)]
    Replicate(#[from] replicate::ReplicateError),
    /// The baseline could not be found or read.
    #[error(transparent)]
    Baseline(#[from] baseline::BaselineError),
    /// The baseline archive could not be unpacked.
    #[error(transparent)]
    Image(#[from] image::ImageError),
    /// The boot identity could not be read.
    #[error("cannot tell which boot this is (set OMICRON1_BOOT_ID): {0}")]
    BootId(#[source] std::io::Error),
    /// A signal arrived.
    #[error(transparent)]
    Interrupted(#[from] signals::Interrupted),
    /// A filesystem operation failed.
    #[error(transparent)]
    Io(#[from] crate::support::pathio::PathIoError),
    /// The template dataset has no mountpoint to build in.
    #[error("template dataset {0} has no usable mountpoint (mountpoint=none or legacy?)")]
    NoMountpoint(DatasetName),
}

/// This boot's identity for the given baseline; the baseline digest is cached
/// in the run directory, keyed by the files' identity, so warm installs do not
/// rehash the archive.
pub fn identity(settings: &Settings, baseline: &Baseline) -> Result<Identity, TemplateError> {
    let boot_id = crate::support::boot::boot_id(settings.boot_id.as_deref())
        .map_err(TemplateError::BootId)?;
    let baseline_sha256 = cached_digest(&settings.run_dir, baseline)?;
    Ok(Identity {
        boot_id,
        baseline_sha256,
    })
}

fn file_stamp(path: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(path) {
        Ok(m) => format!(
            "{}:{}:{}:{}.{}",
            m.dev(),
            m.ino(),
            m.size(),
            m.mtime(),
            m.mtime_nsec()
        ),
        Err(_) => "absent".to_string(),
    }
}

fn cached_digest(run_dir: &Path, baseline: &Baseline) -> Result<String, TemplateError> {
    let stamp = format!(
        "{} {} {} {}",
        baseline.files.display(),
        file_stamp(&baseline.files),
        baseline.gzonly.display(),
        file_stamp(&baseline.gzonly)
    );
    let cache = run_dir.join("baseline-digest");
    if let Ok(text) = std::fs::read_to_string(&cache) {
        if let Some((cached_stamp, digest)) = text.trim_end().rsplit_once(' ') {
            if cached_stamp == stamp && digest.len() == 64 {
                return Ok(digest.to_string());
            }
        }
    }
    let digest = baseline::digest(baseline)?;
    // A cache that cannot be written only costs time.
    let tmp = run_dir.join(format!("baseline-digest.{}", std::process::id()));
    let written = std::fs::create_dir_all(run_dir)
        .and_then(|()| std::fs::write(&tmp, format!("{stamp} {digest}\n")))
        .and_then(|()| std::fs::rename(&tmp, &cache));
    if let Err(e) = written {
        tracing::debug!(
            "cannot cache the baseline digest in {}: {e}",
            cache.display()
        );
    }
    Ok(digest)
}

/// The lock file guarding one template: installs hold it shared while they
/// check and clone the template, builders and collectors hold it exclusively.
pub fn lock_path(settings: &Settings, template: &DatasetName) -> PathBuf {
    let name = format!("template-{}.lock", template.as_str().replace('/', "+"));
    settings.run_dir.join("locks").join(name)
}

/// A ready template, held in use.
#[derive(Debug)]
pub struct Ready {
    /// The template.
    pub template: Template,
    /// Its encryption root (`None`: not encrypted), which a zone root cloned
    /// from it will have.
    pub encryption_root: Option<String>,
    /// A shared hold on the template's lock: collectors leave it alone until
    /// this is dropped, after the clone.
    pub in_use: Lock,
}

/// The encryption root of the `@ready` snapshot, or `None` if it does not
/// exist: one `zfs get` that both finds the template and says how it is
/// encrypted.
fn probe(zfs: &dyn Zfs, template: &Template) -> Result<Option<Option<String>>, TemplateError> {
    match zfs.get_value((&template.snapshot).into(), "encryptionroot") {
        Ok(root) => Ok(Some(root)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// What a builder finds in the container once it holds the template's lock.
#[derive(Debug, Default)]
struct Survey {
    /// The encryption root of `@ready`, if it exists (`Some(None)`: not encrypted).
    ready: Option<Option<String>>,
    /// Whether the container exists.
    container: bool,
    /// Whether the template's dataset exists (without `@ready`: a build that died).
    dataset: bool,
    /// Whether the container holds other templates, which the build then
    /// collects if they are stale and unused.
    others: bool,
}

/// The probe a builder makes under the exclusive lock: one `zfs list` of the
/// container's filesystems and snapshots says whether another builder finished
/// while this one waited (and the template's encryption root), whether a build
/// that died left the dataset, whether the container must be made, and whether
/// there is anything beside the template to collect.
fn survey(zfs: &dyn Zfs, template: &Template) -> Result<Survey, TemplateError> {
    let kind = ListKind::FilesystemsAndSnapshots;
    let rows = match zfs.list(
        &template.container,
        kind,
        Depth::Levels(2),
        &["encryptionroot"],
    ) {
        Ok(rows) => rows,
        Err(e) if e.is_not_found() => return Ok(Survey::default()),
        Err(e) => return Err(e.into()),
    };
    let mut found = Survey {
        container: true,
        ..Survey::default()
    };
    let dataset = template.dataset.as_str();
    for row in &rows {
        // The dataset a row is, or is a snapshot of.
        let of = row
            .name
            .split_once('@')
            .map_or(row.name.as_str(), |(ds, _)| ds);
        let below_dataset = of
            .strip_prefix(dataset)
            .is_some_and(|rest| rest.starts_with('/'));
        if row.name == template.snapshot.as_str() {
            found.ready = Some(row.value("encryptionroot").map(str::to_string));
        } else if of == dataset {
            found.dataset = true;
        } else if of != template.container.as_str() && !below_dataset {
            found.others = true;
        }
    }
    Ok(found)
}

/// Returns this identity's ready template for zones under `parent`, building it
/// first if there is none, held shared so that collectors leave it alone until
/// the caller has cloned it. Concurrent callers build it once: one builds, the
/// others wait and then clone. A build also collects the unused stale
/// templates it found beside its own.
///
/// A warm call runs one `zfs` command: a `get` of `@ready`. A cold one runs
/// eight where the container is new: that `get`, the [`survey`]'s `list` under
/// the exclusive lock, `create` of the container and of the template, `mount`,
/// a `get` of the template's mountpoint and encryption root, `unmount` and
/// `snapshot`. Where the container exists it runs no `create` of it; it adds a
/// `destroy` of a build that died, and where other templates were beside its
/// own, the collection: a `list`, and a `destroy` per template collected.
pub fn ensure(
    zfs: &dyn Zfs,
    settings: &Settings,
    parent: &DatasetName,
    identity: &Identity,
    sources: &Sources,
) -> Result<Ready, TemplateError> {
    let template = Template::locate(parent, identity)?;
    let path = lock_path(settings, &template.dataset);
    let waiting = || {
        info(format_args!(
            "waiting for another install to finish building template {}",
            template.dataset
        ))
    };
    let shared = Lock::acquire(&path, LockMode::Shared, waiting)?;
    if let Some(encryption_root) = probe(zfs, &template)? {
        info(format_args!("using template {}", template.snapshot));
        return Ok(Ready {
            template,
            encryption_root,
            in_use: shared,
        });
    }
    // Upgrading in place could deadlock with another upgrader: release, then wait.
    drop(shared);
    let exclusive = Lock::acquire(&path, LockMode::Exclusive, waiting)?;
    // Probe again, now that no one else can build: another builder may have
    // finished while this one waited.
    let found = survey(zfs, &template)?;
    if let Some(encryption_root) = found.ready {
        info(format_args!(
            "using template {} (built while waiting)",
            template.snapshot
        ));
        exclusive.downgrade()?;
        return Ok(Ready {
            template,
            encryption_root,
            in_use: exclusive,
        });
    }
    if found.dataset {
        info(format_args!(
            "destroying unfinished template {}",
            template.dataset
        ));
        zfs.destroy(
            (&template.dataset).into(),
            DestroyOptions {
                recursive: true,
                deferred: false,
            },
        )?;
    }
    let encryption_root = build(zfs, &template, identity, sources, found.container)?;
    exclusive.downgrade()?;
    // Collect only if the survey saw other templates. One made beside this one
    // since is another baseline's: its builder holds it (the lock) until its zone
    // is cloned from it, and one whose build died is redone by its next build.
    if found.others {
        // Collection is housekeeping: its failure must not fail the install.
        let container = &template.container;
        if let Err(e) =
            crate::template::inventory::collect(zfs, settings, container, Some(identity), false)
        {
            eprintln!("omicron1: warning: collecting stale templates in {container}: {e}");
        }
    }
    Ok(Ready {
        template,
        encryption_root,
        in_use: exclusive,
    })
}

/// Builds a template from scratch, making the container first unless it
/// exists; on any failure the dataset is destroyed. Returns the template's
/// encryption root, which its `@ready` snapshot and every clone of it share.
fn build(
    zfs: &dyn Zfs,
    template: &Template,
    identity: &Identity,
    sources: &Sources,
    container_exists: bool,
) -> Result<Option<String>, TemplateError> {
    let started = Instant::now();
    info(format_args!("building template {}", template.dataset));
    if !container_exists {
        let opts = CreateOptions {
            parents: false,
            properties: &[("canmount", "off")],
        };
        // A builder of another baseline may have made it since the survey.
        match zfs.create(&template.container, &opts) {
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            other => other?,
        }
    }
    let created = props::now_rfc3339();
    let boot = props::escape(&identity.boot_id);
    let source = props::escape(&sources.source_root.to_string_lossy());
    let properties = [
        ("canmount", "noauto"),
        (props::KIND, "template"),
        (props::BOOT_ID, boot.as_str()),
        (props::BASELINE, identity.baseline_sha256.as_str()),
        (props::SOURCE_ROOT, source.as_str()),
        (props::CREATED, created.as_str()),
    ];
    zfs.create(
        &template.dataset,
        &CreateOptions {
            parents: false,
            properties: &properties,
        },
    )?;
    let mut revert = Revert::new();
    revert.push(
        format!("destroy unfinished template {}", template.dataset),
        || {
            zfs.destroy(
                (&template.dataset).into(),
                DestroyOptions {
                    recursive: true,
                    deferred: false,
                },
            )
            .map_err(|e| e.to_string())
        },
    );
    zfs.mount(&template.dataset)?;
    // The mountpoint is inherited, so known only now; the encryption root comes along.
    let mut found = zfs.get(
        (&template.dataset).into(),
        &["mountpoint", "encryptionroot"],
    )?;
    let mut value = |name: &str| found.remove(name).and_then(|p| p.value);
    let encryption_root = value("encryptionroot");
    let mountpoint = value("mountpoint")
        .filter(|m| m.starts_with('/'))
        .ok_or_else(|| TemplateError::NoMountpoint(template.dataset.clone()))?;
    populate(Path::new(&mountpoint), sources)?;
    zfs.unmount(&template.dataset)?;
    signals::check()?;
    crate::support::faults::point("before-snapshot");
    zfs.snapshot(&template.snapshot, &[])?;
    crate::support::faults::point("after-snapshot");
    revert.disarm();
    info(format_args!(
        "template {} ready in {} msec",
        template.snapshot,
        ms(started.elapsed())
    ));
    Ok(encryption_root)
}

/// Fills `dir` with what a zone root starts from, as the original brand did for
/// every zone: the system trees, less SMF manifests and global-zone-only files,
/// plus the baseline archive. Used for templates and for the copy fallback.
pub fn populate(dir: &Path, sources: &Sources) -> Result<(), TemplateError> {
    for tree in TREES {
        signals::check()?;
        replicate_one(dir, sources, tree)?;
    }
    info("pruning SMF manifests...");
    replicate::prune(dir, Path::new(PRUNED))?;
    info("pruning global-only files...");
    let gzonly = baseline::read_gzonly(&sources.baseline.gzonly)?;
    let removed = baseline::remove_gzonly(dir, &gzonly)?;
    tracing::debug!("removed {removed} global-only paths");
    crate::support::faults::point("pruned");
    signals::check()?;
    info("unpacking baseline archive...");
    image::unpack(&sources.baseline.files, dir, ImageKind::Baseline)?;
    Ok(())
}

/// Replicates one tree. A tree that is a symlink at the source (`/lib ->
/// usr/lib` on merged-/usr systems) is recreated as the same symlink.
fn replicate_one(dir: &Path, sources: &Sources, tree: &str) -> Result<(), TemplateError> {
    let src = sources.source_root.join(tree);
    let meta = std::fs::symlink_metadata(&src)
        .map_err(PathIoError::on("cannot read system tree", &src))?;
    if meta.file_type().is_symlink() {
        let target =
            std::fs::read_link(&src).map_err(PathIoError::on("cannot read symlink", &src))?;
        let dest = dir.join(tree);
        std::os::unix::fs::symlink(&target, &dest)
            .map_err(PathIoError::on("cannot create symlink", &dest))?;
        info(format_args!(
            "replicated /{tree}: a symlink to {}",
            target.display()
        ));
        return Ok(());
    }
    info(format_args!("replicating /{tree} tree..."));
    let stats = replicate::replicate_tree(
        &sources.source_root,
        tree,
        dir,
        sources.mode,
        sources.threads,
    )?;
    info(format_args!(
        "replicated /{tree}: {} files, {} bytes, {} links, {} msec",
        stats.files,
        stats.bytes,
        stats.links,
        ms(stats.elapsed)
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_changes_with_boot_and_baseline() {
        let a = Identity {
            boot_id: "boot-a".into(),
            baseline_sha256: "ab".repeat(32),
        };
        let b = Identity {
            boot_id: "boot-b".into(),
            ..a.clone()
        };
        let c = Identity {
            baseline_sha256: "cd".repeat(32),
            ..a.clone()
        };
        assert_ne!(a.key(), b.key());
        assert_ne!(a.key(), c.key());
        assert_eq!(a.key(), a.clone().key());
        assert!(
            a.key().starts_with("t-") && a.key().ends_with("ababababab"),
            "{}",
            a.key()
        );
        let parent: DatasetName = "tp/crypt/zone".parse().unwrap();
        let t = Template::locate(&parent, &a).unwrap();
        assert_eq!(
            t.dataset.parent().unwrap().as_str(),
            "tp/crypt/zone/omicron1-templates"
        );
        assert_eq!(t.container.as_str(), "tp/crypt/zone/omicron1-templates");
        assert_eq!(t.snapshot.as_str(), format!("{}@ready", t.dataset));
    }
}
