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

pub mod build;
pub mod collect;
pub mod error;
pub mod identity;
pub mod inventory;
pub mod lock;

use std::path::PathBuf;

use omicron1_zfs::{DatasetName, Depth, DestroyOptions, ListKind, SnapshotName, Zfs};

use crate::rootfs::Sources;
use crate::support::output::{info, warn};
pub use error::TemplateError;
pub use identity::{Current, Identity};
use lock::{Lock, LockMode};

/// The folder-like dataset holding a parent's templates.
pub const CONTAINER: &str = "omicron1-templates";
/// The snapshot that marks a template finished; zones are cloned from it.
pub const READY: &str = "ready";

/// What templates need to know of this host, read from the settings once by
/// the verbs: where per-boot state is, which boot this is, where the baseline
/// is looked for.
#[derive(Debug, Clone)]
pub struct Site {
    /// Locks (`locks/`) and the baseline-digest cache.
    pub run_dir: PathBuf,
    /// This boot's identity if the settings fix it; `None`: ask the system.
    pub boot_id: Option<String>,
    /// Candidate baseline folders, first wins (for what is current).
    pub baseline_dirs: Vec<PathBuf>,
}

impl Site {
    /// The lock file guarding one template: installs hold it shared while they
    /// check and clone the template, builders and collectors hold it exclusively.
    pub fn lock_path(&self, template: &DatasetName) -> PathBuf {
        let name = format!("template-{}.lock", template.as_str().replace('/', "+"));
        self.run_dir.join("locks").join(name)
    }
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
    for row in &rows {
        // The dataset a row is, or is a snapshot of.
        let of = row.name.dataset();
        let below_dataset = of != template.dataset && of.is_within(&template.dataset);
        if row.name == template.snapshot {
            found.ready = Some(row.value("encryptionroot").map(str::to_string));
        } else if of == template.dataset {
            found.dataset = true;
        } else if of != template.container && !below_dataset {
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
    site: &Site,
    parent: &DatasetName,
    identity: &Identity,
    sources: &Sources,
) -> Result<Ready, TemplateError> {
    let template = Template::locate(parent, identity)?;
    let path = site.lock_path(&template.dataset);
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
        zfs.destroy((&template.dataset).into(), DestroyOptions::RECURSIVE)?;
    }
    let encryption_root = build::build(zfs, &template, identity, sources, found.container)?;
    exclusive.downgrade()?;
    // Collect only if the survey saw other templates. One made beside this one
    // since is another baseline's: its builder holds it (the lock) until its zone
    // is cloned from it, and one whose build died is redone by its next build.
    if found.others {
        // Collection is housekeeping: its failure must not fail the install.
        let container = &template.container;
        let current = Current::from(identity);
        if let Err(e) = collect::collect(zfs, site, container, &current, false) {
            warn(format_args!(
                "collecting stale templates in {container}: {e}"
            ));
        }
    }
    Ok(Ready {
        template,
        encryption_root,
        in_use: exclusive,
    })
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
