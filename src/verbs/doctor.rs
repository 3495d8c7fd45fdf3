//! `doctor [--json]`: whether this host can install zones, one line per
//! check with `ok`, `warn` or `FAIL` and, where something is wrong, the
//! command or setting that fixes it. Exit 254 when a check fails (a warning
//! does not fail).
//!
//! The checks, in order: `zpool` and `zfs` runnable; the baseline archive
//! found and valid; `gzonly.txt` beside it; the run folder writable; the boot
//! identity; the source trees; per pool, this boot's template, stale and
//! unfinished templates (and the zones on stale ones), zones left
//! incomplete; the template service's state where SMF exists.

use std::path::Path;

use omicron1_zfs::{Depth, ListKind, PoolName, Zfs};

use super::exit::{Exit, Failure};
use super::schema::{self, DoctorCheck, DoctorReport};
use super::settings::Settings;
use crate::rootfs::baseline;
use crate::rootfs::TREES;
use crate::support::command;
use crate::support::output::{self, chain, size};
use crate::template::identity::{self, Current};
use crate::template::inventory::{containers, inventory, zone_names, Status};
use crate::zone_root::inventory::zones;

/// The template service's FMRI.
pub(crate) const SERVICE: &str = "svc:/system/omicron1/template:default";
/// Where `svcs` is on a system with SMF.
const SVCS: &str = "/usr/bin/svcs";

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// Nothing to do.
    Ok,
    /// Worth a look; installs still work.
    Warn,
    /// Installs will fail until it is fixed.
    Fail,
}

impl Level {
    fn word(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "fail",
        }
    }
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Check {
    /// What was checked (`zfs`, `baseline`, `templates on tp`).
    pub name: String,
    /// How it came out.
    pub level: Level,
    /// What was found.
    pub detail: String,
    /// What fixes it, when it is not ok.
    pub fix: Option<String>,
}

fn ok(name: impl Into<String>, detail: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        level: Level::Ok,
        detail: detail.into(),
        fix: None,
    }
}

fn bad(level: Level, name: impl Into<String>, detail: impl Into<String>, fix: &str) -> Check {
    Check {
        name: name.into(),
        level,
        detail: detail.into(),
        fix: Some(fix.to_string()),
    }
}

/// What the template service's state is: `None` where there is no SMF,
/// else `svcs`'s answer or why it could not be had.
pub(crate) type ServiceState = Option<Result<String, String>>;

/// Asks SMF for the template service's state, where SMF exists.
fn service_state() -> ServiceState {
    let svcs = Path::new(SVCS);
    if !svcs.exists() {
        return None;
    }
    Some(
        command::run(svcs, ["-H", "-o", "state", SERVICE])
            .map(|s| s.trim().to_string())
            .map_err(|e| chain(&e)),
    )
}

/// `omicron1 doctor [--json]`.
pub(crate) fn run(zfs: &dyn Zfs, settings: &Settings, json: bool) -> Result<(), Failure> {
    if json {
        output::json_mode();
    }
    let checks = checks(zfs, settings, service_state());
    let failed = checks.iter().filter(|c| c.level == Level::Fail).count();
    if json {
        schema::print(&DoctorReport {
            ok: failed == 0,
            checks: checks
                .iter()
                .map(|c| DoctorCheck {
                    check: c.name.clone(),
                    status: c.level.word(),
                    detail: c.detail.clone(),
                    fix: c.fix.clone(),
                })
                .collect(),
        });
    } else {
        output::report(text(&checks));
    }
    if failed == 0 {
        Ok(())
    } else {
        Err(Failure::new(
            Exit::NotComplete,
            format!("{failed} check(s) failed: installs will fail until they are fixed"),
        ))
    }
}

/// The report as text: one line per check, then its fix.
fn text(checks: &[Check]) -> String {
    let mut out = String::new();
    for c in checks {
        let tag = match c.level {
            Level::Ok => "ok",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        };
        out.push_str(&format!("{tag:<5} {}: {}\n", c.name, c.detail));
        if let Some(fix) = &c.fix {
            out.push_str(&format!("      fix: {fix}\n"));
        }
    }
    out
}

/// Every check, in order.
pub(crate) fn checks(zfs: &dyn Zfs, settings: &Settings, service: ServiceState) -> Vec<Check> {
    let mut out = Vec::new();
    let pools = check_zfs(zfs, &mut out);
    check_baseline(settings, &mut out);
    out.push(check_run_dir(&settings.run_dir));
    let current = match identity::current(&settings.site()) {
        Ok(current) => {
            out.push(ok("boot identity", current.boot_id.clone()));
            Some(current)
        }
        Err(e) => {
            out.push(bad(
                Level::Fail,
                "boot identity",
                chain(&e),
                "set OMICRON1_BOOT_ID (in /etc/default/omicron1)",
            ));
            None
        }
    };
    out.push(check_sources(&settings.source_root));
    if let Some(current) = &current {
        for pool in &pools {
            check_pool(zfs, pool, current, &mut out);
        }
    }
    out.push(match service {
        None => ok("template service", "no SMF on this system: nothing to check"),
        Some(Ok(state)) => match state.as_str() {
            "online" => ok("template service", format!("{SERVICE} is online")),
            "disabled" => ok(
                "template service",
                format!("{SERVICE} is disabled: each boot's first install builds the template"),
            ),
            "maintenance" => bad(
                Level::Fail,
                "template service",
                format!("{SERVICE} is in maintenance"),
                "svcs -xv svc:/system/omicron1/template; fix the cause, then svcadm clear svc:/system/omicron1/template:default",
            ),
            other => bad(
                Level::Warn,
                "template service",
                format!("{SERVICE} is {other}"),
                "svcs -xv svc:/system/omicron1/template",
            ),
        },
        Some(Err(e)) => bad(
            Level::Warn,
            "template service",
            format!("{SERVICE} is not known to SMF: {e}"),
            "svccfg import /usr/lib/brand/omicron1/omicron1-template.xml (optional: builds templates at boot)",
        ),
    });
    out
}

/// `zpool` and `zfs` can be run; returns the imported pools.
fn check_zfs(zfs: &dyn Zfs, out: &mut Vec<Check>) -> Vec<PoolName> {
    let fix = "install ZFS (zfs and zpool in /usr/sbin) and load its kernel module";
    let pools = match zfs.pools() {
        Ok(pools) => pools,
        Err(e) => {
            out.push(bad(Level::Fail, "zpool", chain(&e), fix));
            out.push(bad(Level::Fail, "zfs", "not checked: zpool failed", fix));
            return Vec::new();
        }
    };
    let Some(first) = pools.first() else {
        out.push(bad(
            Level::Warn,
            "zpool",
            "runnable, but no pool is imported",
            "zpool import POOL (zones need their zonepath on a ZFS pool)",
        ));
        out.push(bad(
            Level::Warn,
            "zfs",
            "not checked: no pool to list",
            "zpool import POOL",
        ));
        return pools;
    };
    let names: Vec<String> = pools.iter().map(|p| p.to_string()).collect();
    out.push(ok(
        "zpool",
        format!("runnable; imported: {}", names.join(", ")),
    ));
    match zfs.list(
        &first.root_dataset(),
        ListKind::Filesystems,
        Depth::Levels(0),
        &[],
    ) {
        Ok(_) => out.push(ok("zfs", "runnable")),
        Err(e) => out.push(bad(Level::Fail, "zfs", chain(&e), fix)),
    }
    pools
}

/// The baseline archive is found and starts as one; `gzonly.txt` is beside it.
fn check_baseline(settings: &Settings, out: &mut Vec<Check>) {
    let found = match settings.sources().find() {
        Ok(sources) => sources.baseline,
        Err(e) => {
            out.push(bad(
                Level::Fail,
                "baseline",
                chain(&e),
                "install the baseline (svc:/system/omicron/baseline), or set OMICRON1_BASELINE_DIR",
            ));
            out.push(bad(
                Level::Fail,
                "gzonly",
                "not checked: no baseline archive",
                "install the baseline first",
            ));
            return;
        }
    };
    match baseline::check_archive(&found.files) {
        Ok(()) => {
            let bytes = std::fs::metadata(&found.files)
                .map(|m| m.len())
                .unwrap_or(0);
            out.push(ok(
                "baseline",
                format!("{} ({})", found.files.display(), size(bytes)),
            ));
        }
        Err(e) => out.push(bad(
            Level::Fail,
            "baseline",
            chain(&e),
            "replace it with a baseline archive (omicron1 baseline create makes one)",
        )),
    }
    if !found.gzonly.exists() {
        out.push(bad(
            Level::Warn,
            "gzonly",
            format!(
                "no {}: global-zone-only files are not removed from zones",
                found.gzonly.display()
            ),
            "put gzonly.txt beside files.tar.gz (omicron1 baseline create --gzonly LIST writes it)",
        ));
        return;
    }
    match baseline::read_gzonly(&found.gzonly) {
        Ok(paths) => out.push(ok(
            "gzonly",
            format!("{} ({} paths)", found.gzonly.display(), paths.len()),
        )),
        Err(e) => out.push(bad(
            Level::Fail,
            "gzonly",
            chain(&e),
            "fix the line named: paths relative to the zone root, one per line",
        )),
    }
}

/// The run folder exists (or can be made) and a file can be written in it.
fn check_run_dir(run_dir: &Path) -> Check {
    let written = std::fs::create_dir_all(run_dir).and_then(|()| tempfile::tempfile_in(run_dir));
    match written {
        Ok(_) => ok("run folder", format!("{} is writable", run_dir.display())),
        Err(e) => bad(
            Level::Fail,
            "run folder",
            format!("{} is not writable: {e}", run_dir.display()),
            "make it writable by root, or set OMICRON1_RUN_DIR",
        ),
    }
}

/// `usr`, `lib` and `sbin` exist under the source root (a directory, or a
/// symlink as merged-/usr systems have).
fn check_sources(root: &Path) -> Check {
    let missing: Vec<&str> = TREES
        .iter()
        .copied()
        .filter(|t| {
            !std::fs::symlink_metadata(root.join(t))
                .is_ok_and(|m| m.is_dir() || m.file_type().is_symlink())
        })
        .collect();
    if missing.is_empty() {
        ok(
            "source trees",
            format!("{}{{{}}}", with_slash(root), TREES.join(",")),
        )
    } else {
        bad(
            Level::Fail,
            "source trees",
            format!("{} lacks {}", root.display(), missing.join(", ")),
            "set OMICRON1_SOURCE_ROOT to a root holding usr, lib and sbin",
        )
    }
}

fn with_slash(p: &Path) -> String {
    let s = p.display().to_string();
    if s.ends_with('/') {
        s
    } else {
        format!("{s}/")
    }
}

/// A pool's templates and zones.
fn check_pool(zfs: &dyn Zfs, pool: &PoolName, current: &Current, out: &mut Vec<Check>) {
    let name = format!("templates on {pool}");
    let mut templates = Vec::new();
    let listed = containers(zfs, pool).and_then(|cs| {
        for c in cs {
            templates.extend(inventory(zfs, &c)?);
        }
        Ok(())
    });
    if let Err(e) = listed {
        out.push(bad(Level::Fail, name, chain(&e), "see the zfs error"));
        return;
    }
    let mut current_ones = Vec::new();
    for t in &templates {
        match t.status(current) {
            Status::Current => current_ones.push(t.dataset.to_string()),
            Status::Stale if !t.clones.is_empty() => out.push(bad(
                Level::Warn,
                name.clone(),
                format!(
                    "{} is stale (an earlier boot or baseline) and zones run on it: {}",
                    t.dataset,
                    zone_names(&t.clones).join(", ")
                ),
                "reinstall those zones; the template goes with the last of them",
            )),
            Status::Stale => out.push(bad(
                Level::Warn,
                name.clone(),
                format!("{} is stale and unused", t.dataset),
                "omicron1 template gc",
            )),
            Status::Unfinished => out.push(bad(
                Level::Warn,
                name.clone(),
                format!(
                    "{} is unfinished (a build in progress, or one that died)",
                    t.dataset
                ),
                "omicron1 template gc (it leaves a build in progress alone)",
            )),
        }
    }
    out.push(if current_ones.is_empty() {
        ok(
            name,
            format!("no template for this boot yet: the first install builds it (or: omicron1 template build --pool {pool})"),
        )
    } else {
        ok(name, format!("this boot's: {}", current_ones.join(", ")))
    });
    let zname = format!("zones on {pool}");
    match zones(zfs, pool, current) {
        Ok(zones) => {
            let incomplete: Vec<&str> = zones
                .iter()
                .filter(|z| !z.installed)
                .map(|z| z.zone.as_str())
                .collect();
            for z in &incomplete {
                out.push(bad(
                    Level::Warn,
                    zname.clone(),
                    format!("zone {z} was left incomplete (an install that did not finish)"),
                    &format!("zoneadm -z {z} uninstall -F, then install it again"),
                ));
            }
            out.push(ok(
                zname,
                format!(
                    "{} installed, {} incomplete",
                    zones.len() - incomplete.len(),
                    incomplete.len()
                ),
            ));
        }
        Err(e) => out.push(bad(Level::Fail, zname, chain(&e), "see the zfs error")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use omicron1_zfs::runner::Runner;
    use omicron1_zfs::{CliZfs, CreateOptions, DatasetName, FakeZfs};
    use std::path::PathBuf;

    /// A host where every check passes: a pool, a valid baseline with
    /// gzonly.txt, a writable run folder, a fixed boot, source trees.
    struct Host {
        dir: tempfile::TempDir,
        zfs: FakeZfs,
    }

    impl Host {
        fn new() -> Host {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path();
            for tree in TREES {
                std::fs::create_dir_all(root.join("src").join(tree)).unwrap();
            }
            let base = root.join("baseline");
            std::fs::create_dir_all(base.join("tree/etc")).unwrap();
            std::fs::write(base.join("tree/etc/motd"), "hi").unwrap();
            std::fs::write(base.join("include"), "etc\n").unwrap();
            std::fs::write(base.join("gz"), "etc/zones/index\n").unwrap();
            crate::rootfs::baseline_archive::create(
                &base.join("tree"),
                &base.join("include"),
                Some(&base.join("gz")),
                &base,
            )
            .unwrap();
            let zfs = FakeZfs::new();
            zfs.add_pool(&"tp".parse().unwrap(), &root.join("tp"));
            Host { dir, zfs }
        }

        fn settings(&self) -> Settings {
            let root = self.dir.path().to_path_buf();
            self.settings_with(move |k| match k {
                "OMICRON1_SOURCE_ROOT" => Some(root.join("src")),
                "OMICRON1_BASELINE_DIR" => Some(root.join("baseline")),
                "OMICRON1_RUN_DIR" => Some(root.join("run")),
                "OMICRON1_ZONES_DIR" => Some(root.join("zones")),
                "OMICRON1_BOOT_ID" => Some("boot-1".into()),
                _ => None,
            })
        }

        fn settings_with(&self, f: impl Fn(&str) -> Option<PathBuf>) -> Settings {
            Settings::from_lookup(f)
        }

        fn path(&self, rel: &str) -> PathBuf {
            self.dir.path().join(rel)
        }

        fn create(&self, ds: &str, props: &[(&str, &str)]) -> DatasetName {
            let ds: DatasetName = ds.parse().unwrap();
            self.zfs
                .create(
                    &ds,
                    &CreateOptions {
                        parents: true,
                        properties: props,
                    },
                )
                .unwrap();
            ds
        }
    }

    /// The levels of every check that is not ok, by name.
    fn not_ok(checks: &[Check]) -> Vec<(String, Level)> {
        checks
            .iter()
            .filter(|c| c.level != Level::Ok)
            .map(|c| (c.name.clone(), c.level))
            .collect()
    }

    #[test]
    fn a_good_host_passes_every_check() {
        let host = Host::new();
        let checks = checks(&host.zfs, &host.settings(), None);
        assert_eq!(not_ok(&checks), [], "{checks:#?}");
        let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "zpool",
                "zfs",
                "baseline",
                "gzonly",
                "run folder",
                "boot identity",
                "source trees",
                "templates on tp",
                "zones on tp",
                "template service"
            ]
        );
        assert!(checks.iter().all(|c| c.fix.is_none()));
    }

    #[test]
    fn zfs_that_cannot_run_fails_zpool_and_zfs() {
        let host = Host::new();
        let zfs = CliZfs::with_runner(Runner::new(host.path("no/zfs"), host.path("no/zpool")));
        let checks = checks(&zfs, &host.settings(), None);
        assert_eq!(
            not_ok(&checks),
            [("zpool".into(), Level::Fail), ("zfs".into(), Level::Fail)],
            "{checks:#?}"
        );
        assert!(checks[0].detail.contains("no/zpool"), "{:?}", checks[0]);
        assert!(checks[0].fix.as_deref().unwrap().contains("install ZFS"));
    }

    #[test]
    fn a_missing_or_bad_baseline_fails() {
        let host = Host::new();
        std::fs::remove_file(host.path("baseline/files.tar.gz")).unwrap();
        let checks = checks(&host.zfs, &host.settings(), None);
        assert_eq!(
            not_ok(&checks),
            [
                ("baseline".into(), Level::Fail),
                ("gzonly".into(), Level::Fail)
            ],
            "{checks:#?}"
        );
        std::fs::write(host.path("baseline/files.tar.gz"), "not gzip").unwrap();
        let checks = super::checks(&host.zfs, &host.settings(), None);
        assert_eq!(
            not_ok(&checks),
            [("baseline".into(), Level::Fail)],
            "{checks:#?}"
        );
        assert!(checks[2].detail.contains("not gzip"), "{:?}", checks[2]);
    }

    #[test]
    fn a_missing_gzonly_is_a_warning() {
        let host = Host::new();
        std::fs::remove_file(host.path("baseline/gzonly.txt")).unwrap();
        let checks = checks(&host.zfs, &host.settings(), None);
        assert_eq!(not_ok(&checks), [("gzonly".into(), Level::Warn)]);
    }

    #[test]
    fn an_unwritable_run_folder_fails() {
        let host = Host::new();
        std::fs::write(host.path("file"), "").unwrap();
        let root = host.dir.path().to_path_buf();
        let settings = host.settings_with(|k| match k {
            "OMICRON1_SOURCE_ROOT" => Some(root.join("src")),
            "OMICRON1_BASELINE_DIR" => Some(root.join("baseline")),
            "OMICRON1_RUN_DIR" => Some(root.join("file/run")),
            "OMICRON1_BOOT_ID" => Some("boot-1".into()),
            _ => None,
        });
        let checks = checks(&host.zfs, &settings, None);
        let failed = not_ok(&checks);
        assert!(
            failed.contains(&("run folder".into(), Level::Fail)),
            "{checks:#?}"
        );
    }

    #[test]
    fn missing_source_trees_fail() {
        let host = Host::new();
        std::fs::remove_dir(host.path("src/sbin")).unwrap();
        let checks = checks(&host.zfs, &host.settings(), None);
        assert_eq!(not_ok(&checks), [("source trees".into(), Level::Fail)]);
        let c = checks.iter().find(|c| c.name == "source trees").unwrap();
        assert!(c.detail.ends_with("lacks sbin"), "{c:?}");
    }

    #[test]
    fn stale_and_unfinished_templates_and_incomplete_zones_are_warnings() {
        let host = Host::new();
        let stale = host.create(
            "tp/omicron1-templates/t-old",
            &[
                ("omicron1:kind", "template"),
                ("omicron1:boot-id", "boot-0"),
            ],
        );
        let snap = stale.snapshot("ready").unwrap();
        host.zfs.snapshot(&snap, &[]).unwrap();
        host.create("tp/zones", &[]);
        let zone: DatasetName = "tp/zones/z1".parse().unwrap();
        host.zfs
            .clone_snapshot(
                &snap,
                &zone,
                &[
                    ("omicron1:kind", "zone-root"),
                    ("omicron1:zone", "z1"),
                    ("omicron1:state", "installed"),
                    ("omicron1:origin", snap.as_str()),
                ],
            )
            .unwrap();
        host.create(
            "tp/zones/z2",
            &[
                ("omicron1:kind", "zone-root"),
                ("omicron1:zone", "z2"),
                ("omicron1:state", "installing"),
            ],
        );
        host.create(
            "tp/omicron1-templates/t-dead",
            &[
                ("omicron1:kind", "template"),
                ("omicron1:boot-id", "boot-1"),
            ],
        );
        let checks = checks(&host.zfs, &host.settings(), None);
        let warned: Vec<&Check> = checks.iter().filter(|c| c.level != Level::Ok).collect();
        assert_eq!(warned.len(), 3, "{checks:#?}");
        assert!(warned.iter().all(|c| c.level == Level::Warn));
        let text = text(&checks);
        assert!(
            text.contains("t-old is stale")
                && text.contains("zones run on it: ")
                && text.contains("z1\n"),
            "{text}"
        );
        assert!(text.contains("t-dead is unfinished"), "{text}");
        assert!(
            text.contains("zone z2 was left incomplete")
                && text.contains("fix: zoneadm -z z2 uninstall -F"),
            "{text}"
        );
        assert!(text.contains("1 installed, 1 incomplete"), "{text}");
    }

    #[test]
    fn the_template_service_in_maintenance_fails() {
        let host = Host::new();
        let state = |s: &str| Some(Ok(s.to_string()));
        for (given, level) in [
            (state("online"), Level::Ok),
            (state("disabled"), Level::Ok),
            (state("maintenance"), Level::Fail),
            (state("offline"), Level::Warn),
            (Some(Err("svcs: Pattern doesn't match".into())), Level::Warn),
        ] {
            let checks = checks(&host.zfs, &host.settings(), given.clone());
            let last = checks.last().unwrap();
            assert_eq!(last.name, "template service");
            assert_eq!(last.level, level, "{given:?}");
            assert_eq!(
                not_ok(&checks).len(),
                usize::from(level != Level::Ok),
                "{checks:#?}"
            );
        }
    }
}
