//! Templates as an administrator sees them: `omicron1 template build|list|gc`,
//! and the collection of stale ones that uninstall and builds do on their own.
//!
//! A template is *current* when it was built in this boot from this baseline,
//! *stale* otherwise, and *unfinished* while it has no `@ready` snapshot (a
//! build in progress, or one that died). Stale templates are destroyed once no
//! zone root is cloned from them; a zone on a stale template keeps working
//! but runs on the trees of an earlier boot, so it should be reinstalled (the
//! man page's LIMITATIONS).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use omicron1_zfs::{
    DatasetName, Depth, DestroyOptions, ListKind, ListRow, PoolName, SnapshotName, Zfs,
};
use serde_json::json;

use crate::cli::TemplateVerb;
use crate::props;
use crate::rootfs::baseline;
use crate::support::output::info;
use crate::template::lock::{Lock, LockMode};
use crate::template::{self, Identity, Sources, TemplateError, CONTAINER, READY};
use crate::verbs::exit::{Exit, Failure};
use crate::verbs::settings::Settings;

/// One template found on a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateInfo {
    /// Its dataset.
    pub dataset: DatasetName,
    /// Its `@ready` snapshot (which may not exist yet).
    pub snapshot: SnapshotName,
    /// Whether `@ready` exists.
    pub ready: bool,
    /// The boot it was built in.
    pub boot_id: Option<String>,
    /// The baseline it was built from.
    pub baseline_sha256: Option<String>,
    /// When it was built.
    pub created: Option<String>,
    /// Bytes referenced by the dataset.
    pub referenced: Option<u64>,
    /// The zone roots cloned from `@ready`.
    pub clones: Vec<DatasetName>,
}

/// Where a template stands against this boot and baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Built in this boot from this baseline: installs clone it.
    Current,
    /// From another boot or baseline: collected once unused.
    Stale,
    /// No `@ready` snapshot: being built, or a build that died.
    Unfinished,
}

impl Status {
    /// The word `template list` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Current => "current",
            Status::Stale => "stale",
            Status::Unfinished => "unfinished",
        }
    }
}

impl TemplateInfo {
    /// Its status against `current` (this boot and baseline). Without a known
    /// baseline, only the boot is compared, so nothing of this boot is stale.
    pub fn status(&self, boot_id: &str, baseline_sha256: Option<&str>) -> Status {
        if !self.ready {
            return Status::Unfinished;
        }
        let same_boot = self.boot_id.as_deref() == Some(boot_id);
        let same_baseline =
            baseline_sha256.map_or(true, |b| self.baseline_sha256.as_deref() == Some(b));
        if same_boot && same_baseline {
            Status::Current
        } else {
            Status::Stale
        }
    }
}

/// The templates containers (`.../omicron1-templates`) in a pool: one scan.
pub fn containers(zfs: &dyn Zfs, pool: &PoolName) -> Result<Vec<DatasetName>, TemplateError> {
    let rows = zfs.list(
        &pool.root_dataset(),
        ListKind::Filesystems,
        Depth::Recursive,
        &[],
    )?;
    rows.iter()
        .filter(|r| r.name.rsplit('/').next() == Some(CONTAINER) && r.name.contains('/'))
        .map(|r| Ok(r.name.parse()?))
        .collect()
}

/// The templates in one container: one scan of the templates and their
/// snapshots.
pub fn inventory(
    zfs: &dyn Zfs,
    container: &DatasetName,
) -> Result<Vec<TemplateInfo>, TemplateError> {
    let fields = [
        props::KIND,
        props::BOOT_ID,
        props::BASELINE,
        props::CREATED,
        "referenced",
        "clones",
    ];
    let rows = zfs.list(
        container,
        ListKind::FilesystemsAndSnapshots,
        Depth::Levels(2),
        &fields,
    )?;
    let (snapshots, datasets): (Vec<&ListRow>, Vec<&ListRow>) =
        rows.iter().partition(|r| r.name.contains('@'));
    let clones_of: BTreeMap<&str, Vec<String>> = snapshots
        .iter()
        .map(|s| {
            let clones = omicron1_zfs::parse::clone_list(s.value("clones"));
            (s.name.as_str(), clones)
        })
        .collect();
    // The templates are the container's children (depth 2 also lists theirs).
    let is_template = |r: &&ListRow| {
        r.name.rsplit_once('/').map(|(parent, _)| parent) == Some(container.as_str())
    };
    let mut out = Vec::new();
    for row in datasets.into_iter().filter(is_template) {
        let dataset: DatasetName = row.name.parse()?;
        let snapshot = dataset.snapshot(READY)?;
        let mut clones = match clones_of.get(snapshot.as_str()) {
            Some(list) => list
                .iter()
                .map(|c| c.parse())
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        // ZFS lists clones in no particular order; people read them sorted.
        clones.sort();
        out.push(TemplateInfo {
            ready: clones_of.contains_key(snapshot.as_str()),
            snapshot,
            dataset,
            boot_id: row.value(props::BOOT_ID).map(props::unescape),
            baseline_sha256: row.value(props::BASELINE).map(str::to_string),
            created: row.value(props::CREATED).map(str::to_string),
            referenced: row.value("referenced").and_then(|v| v.parse().ok()),
            clones,
        });
    }
    Ok(out)
}

/// This boot's identity, and the baseline's digest if a baseline is found.
fn current(settings: &Settings) -> Result<(String, Option<String>), TemplateError> {
    match current_identity(settings)? {
        Some(identity) => Ok((identity.boot_id, Some(identity.baseline_sha256))),
        None => {
            let boot_id = crate::support::boot::boot_id(settings.boot_id.as_deref())
                .map_err(TemplateError::BootId)?;
            Ok((boot_id, None))
        }
    }
}

/// This boot's identity, or `None` if no baseline is found (then only the boot
/// is known, and [`current`] tells it).
fn current_identity(settings: &Settings) -> Result<Option<Identity>, TemplateError> {
    match baseline::find(&settings.baseline_dirs) {
        Ok(b) => Ok(Some(template::identity(settings, &b)?)),
        Err(_) => Ok(None),
    }
}

/// What a collection did with one template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Collected {
    /// Destroyed (or would be, in a dry run).
    Destroyed(DatasetName),
    /// Kept, and why.
    Kept(DatasetName, String),
}

/// Destroys the stale templates in `container` that no zone is cloned from, and
/// unfinished ones whose build died. `current` is this boot's identity if the
/// caller knows it; otherwise it is worked out from the settings. A template an
/// install or build holds (its lock) is kept.
pub fn collect(
    zfs: &dyn Zfs,
    settings: &Settings,
    container: &DatasetName,
    current_identity: Option<&Identity>,
    dry_run: bool,
) -> Result<Vec<Collected>, TemplateError> {
    let (boot_id, baseline) = match current_identity {
        Some(id) => (id.boot_id.clone(), Some(id.baseline_sha256.clone())),
        None => current(settings)?,
    };
    let mut outcomes = Vec::new();
    for t in inventory(zfs, container)? {
        let status = t.status(&boot_id, baseline.as_deref());
        let keep = |why: String| Collected::Kept(t.dataset.clone(), why);
        let outcome = match status {
            Status::Current => keep("current".into()),
            Status::Stale if !t.clones.is_empty() => keep(format!(
                "stale, but zones are cloned from it: {}",
                zone_names(&t.clones).join(", ")
            )),
            Status::Stale | Status::Unfinished => {
                match Lock::try_acquire(
                    &template::lock_path(settings, &t.dataset),
                    LockMode::Exclusive,
                )? {
                    None => keep(format!(
                        "{}, but in use by an install or build",
                        status.as_str()
                    )),
                    Some(_lock) if dry_run => Collected::Destroyed(t.dataset.clone()),
                    Some(_lock) => {
                        zfs.destroy(
                            (&t.dataset).into(),
                            DestroyOptions {
                                recursive: true,
                                deferred: false,
                            },
                        )?;
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

/// Zone names of zone roots: `<parent>/<zone>/root` gives `<zone>`.
fn zone_names(clones: &[DatasetName]) -> Vec<String> {
    clones
        .iter()
        .map(|c| match (c.basename(), c.parent()) {
            ("root", Some(zonepath)) => zonepath.basename().to_string(),
            _ => c.to_string(),
        })
        .collect()
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
pub fn collect_after_uninstall(zfs: &dyn Zfs, settings: &Settings, origin: &SnapshotName) {
    let template = origin.dataset();
    let Some(container) = template.parent().filter(|c| c.basename() == CONTAINER) else {
        return;
    };
    let warn = |e: TemplateError| {
        eprintln!("omicron1: warning: collecting stale templates in {container}: {e}")
    };
    let identity = match current_identity(settings) {
        Ok(identity) => identity,
        Err(e) => return warn(e),
    };
    if identity
        .as_ref()
        .is_some_and(|id| template.basename() == id.key())
    {
        return;
    }
    if let Err(e) = collect(zfs, settings, &container, identity.as_ref(), false) {
        warn(e);
    }
}

/// The pools to look at: the one named, or every imported pool.
fn pools(zfs: &dyn Zfs, pool: Option<&str>) -> Result<Vec<PoolName>, Failure> {
    match pool {
        Some(p) => Ok(vec![p.parse().map_err(|e| Failure::new(Exit::Usage, e))?]),
        None => zfs.pools().map_err(|e| Failure::new(Exit::NotComplete, e)),
    }
}

fn fail(e: TemplateError) -> Failure {
    Failure::new(Exit::NotComplete, e)
}

/// Runs a `template` verb.
pub fn run(zfs: &dyn Zfs, settings: &Settings, verb: TemplateVerb) -> Result<(), Failure> {
    match verb {
        TemplateVerb::Build { pool, parent } => build(zfs, settings, &pool, parent.as_deref()),
        TemplateVerb::List { pool, json } => list(zfs, settings, pool.as_deref(), json),
        TemplateVerb::Gc { pool, dry_run } => gc(zfs, settings, pool.as_deref(), dry_run),
    }
}

/// `template build --pool POOL [--parent DATASET]`: the parents are the given
/// one, else those that already have templates in the pool, else Oxide's
/// `POOL/crypt/zone`.
fn build(
    zfs: &dyn Zfs,
    settings: &Settings,
    pool: &str,
    parent: Option<&str>,
) -> Result<(), Failure> {
    let pool: PoolName = pool.parse().map_err(|e| Failure::new(Exit::Usage, e))?;
    let parents: Vec<DatasetName> = match parent {
        Some(p) => {
            let p: DatasetName = p.parse().map_err(|e| Failure::new(Exit::Usage, e))?;
            if p.pool() != pool {
                return Err(Failure::usage(format!(
                    "--parent {p} is not in pool {pool}"
                )));
            }
            vec![p]
        }
        None => {
            let found: Vec<DatasetName> = containers(zfs, &pool)
                .map_err(fail)?
                .iter()
                .filter_map(|c| c.parent())
                .collect();
            if !found.is_empty() {
                found
            } else {
                let oxide: DatasetName = format!("{pool}/crypt/zone")
                    .parse()
                    .map_err(|e| Failure::new(Exit::Usage, e))?;
                if !zfs
                    .exists((&oxide).into())
                    .map_err(|e| Failure::new(Exit::NotComplete, e))?
                {
                    return Err(Failure::new(
                        Exit::NotComplete,
                        format!(
                            "pool {pool} has no templates yet and no {oxide}: pass --parent DATASET, \
                             the dataset whose children are zonepath datasets"
                        ),
                    ));
                }
                vec![oxide]
            }
        }
    };
    let sources = Sources::from_settings(settings).map_err(fail)?;
    let identity = template::identity(settings, &sources.baseline).map_err(fail)?;
    for parent in parents {
        let ready = template::ensure(zfs, settings, &parent, &identity, &sources).map_err(fail)?;
        info(format_args!(
            "template {} is ready",
            ready.template.snapshot
        ));
    }
    Ok(())
}

/// `template list [--pool POOL] [--json]`.
fn list(zfs: &dyn Zfs, settings: &Settings, pool: Option<&str>, json: bool) -> Result<(), Failure> {
    let (boot_id, baseline) = current(settings).map_err(fail)?;
    let mut groups: Vec<(DatasetName, Vec<TemplateInfo>)> = Vec::new();
    for pool in pools(zfs, pool)? {
        for container in containers(zfs, &pool).map_err(fail)? {
            let templates = inventory(zfs, &container).map_err(fail)?;
            groups.push((container, templates));
        }
    }
    if json {
        let items: Vec<serde_json::Value> = groups
            .iter()
            .flat_map(|(_, ts)| ts)
            .map(|t| {
                let status = t.status(&boot_id, baseline.as_deref());
                json!({
                    "dataset": t.dataset.to_string(),
                    "snapshot": t.snapshot.to_string(),
                    "ready": t.ready,
                    "state": status.as_str(),
                    "current": status == Status::Current,
                    "boot_id": t.boot_id,
                    "baseline_sha256": t.baseline_sha256,
                    "created": t.created,
                    "referenced": t.referenced,
                    "clones": t.clones.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
                    "zones": zone_names(&t.clones),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(items));
        return Ok(());
    }
    print!("{}", table(&groups, &boot_id, baseline.as_deref()));
    Ok(())
}

/// The human listing: one block per container, rows that fit 100 columns, and
/// for a stale template with clones the zones that need reinstalling.
pub fn table(
    groups: &[(DatasetName, Vec<TemplateInfo>)],
    boot_id: &str,
    baseline: Option<&str>,
) -> String {
    let mut out = String::new();
    if groups.iter().all(|(_, ts)| ts.is_empty()) {
        out.push_str("no templates\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:<30} {:<11} {:<21} {:>9} {:>6}",
        "TEMPLATE", "STATE", "CREATED", "REFER", "CLONES"
    );
    for (container, templates) in groups {
        let _ = writeln!(out, "{container}/");
        for t in templates {
            let status = t.status(boot_id, baseline);
            let _ = writeln!(
                out,
                "  {:<28} {:<11} {:<21} {:>9} {:>6}",
                t.dataset.basename(),
                status.as_str(),
                t.created.as_deref().unwrap_or("-"),
                t.referenced.map(human_bytes).unwrap_or_else(|| "-".into()),
                t.clones.len()
            );
            if status == Status::Stale && !t.clones.is_empty() {
                let mut line = String::from("    needs reinstall:");
                for zone in zone_names(&t.clones) {
                    if line.len() + zone.len() + 2 > 100 {
                        let _ = writeln!(out, "{line}");
                        line = String::from("     ");
                    }
                    line.push(' ');
                    line.push_str(&zone);
                }
                let _ = writeln!(out, "{line}");
            }
        }
    }
    out
}

fn human_bytes(n: u64) -> String {
    let units = ["B", "K", "M", "G", "T"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < units.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n}B")
    } else {
        format!("{v:.1}{}", units[i])
    }
}

/// `template gc [--pool POOL] [--dry-run]`.
fn gc(
    zfs: &dyn Zfs,
    settings: &Settings,
    pool: Option<&str>,
    dry_run: bool,
) -> Result<(), Failure> {
    let verb = if dry_run {
        "would destroy"
    } else {
        "destroyed"
    };
    for pool in pools(zfs, pool)? {
        for container in containers(zfs, &pool).map_err(fail)? {
            for outcome in collect(zfs, settings, &container, None, dry_run).map_err(fail)? {
                match outcome {
                    Collected::Destroyed(d) => println!("{verb} {d}"),
                    Collected::Kept(d, why) => println!("kept {d}: {why}"),
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, boot: &str, ready: bool, clones: &[&str]) -> TemplateInfo {
        let dataset: DatasetName = name.parse().unwrap();
        TemplateInfo {
            snapshot: dataset.snapshot(READY).unwrap(),
            dataset,
            ready,
            boot_id: Some(boot.into()),
            baseline_sha256: Some("b".repeat(64)),
            created: Some("2026-11-26T05:00:00Z".into()),
            referenced: Some(50 * 1024 * 1024),
            clones: clones.iter().map(|c| c.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn status_compares_boot_and_baseline() {
        let b = "b".repeat(64);
        let t = info("tp/z/omicron1-templates/t-1", "boot1", true, &[]);
        assert_eq!(t.status("boot1", Some(&b)), Status::Current);
        assert_eq!(t.status("boot2", Some(&b)), Status::Stale);
        assert_eq!(t.status("boot1", Some(&"c".repeat(64))), Status::Stale);
        assert_eq!(
            t.status("boot1", None),
            Status::Current,
            "unknown baseline: boot decides"
        );
        let unfinished = info("tp/z/omicron1-templates/t-2", "boot1", false, &[]);
        assert_eq!(unfinished.status("boot1", Some(&b)), Status::Unfinished);
    }

    #[test]
    fn table_fits_100_columns_and_names_zones_to_reinstall() {
        let long = "oxp_0123456789abcdef0123456789abcdef/crypt/zone";
        let container: DatasetName = format!("{long}/omicron1-templates").parse().unwrap();
        let zones: Vec<String> = (0..12)
            .map(|i| format!("{long}/oxz_service_{i:02}/root"))
            .collect();
        let zone_refs: Vec<&str> = zones.iter().map(String::as_str).collect();
        let groups = vec![(
            container.clone(),
            vec![
                info(
                    &format!("{container}/t-aaaaaaaa-bbbbbbbbbbbb"),
                    "now",
                    true,
                    &[],
                ),
                info(
                    &format!("{container}/t-cccccccc-bbbbbbbbbbbb"),
                    "old",
                    true,
                    &zone_refs,
                ),
            ],
        )];
        let text = table(&groups, "now", Some(&"b".repeat(64)));
        for line in text.lines() {
            assert!(line.len() <= 100, "{} columns: {line}", line.len());
        }
        assert!(text.contains("current") && text.contains("stale"), "{text}");
        assert!(text.contains("needs reinstall: oxz_service_00"), "{text}");
        assert!(
            text.contains("oxz_service_11"),
            "every zone is named:\n{text}"
        );
        assert!(text.contains("50.0M"), "{text}");
        assert_eq!(table(&[], "now", None), "no templates\n");
    }
}
