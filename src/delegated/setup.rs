//! `omicron1 dataset setup DATASET [--zone ZONE] [--apply]`: create the
//! dataset, or fix it in place keeping its data, so that it keeps the rules —
//! without it ever being mounted in the global zone (see [`super::plan`] for
//! the order and why).
//!
//! What setup cannot make right it refuses before changing anything: a
//! dataset delegated to another zone, the zone's zonepath dataset or one inside
//! or above it, a volume, a pool's root dataset, a dataset mounted inside a
//! running zone or with datasets below it mounted, and a busy mount.

use std::fmt;

use omicron1_zfs::{CreateOptions, DatasetName, ErrorKind, Zfs};

use super::facts::{self, Context, Listing, MOUNTPOINT};
use super::plan::{self, Step, CREATE_PROPERTIES};
use super::rules::{self, Finding, Rule};
use super::zonecfg;
use crate::support::command::CommandError;
use crate::support::output::{info, warn};

/// Why `dataset setup` stopped. [`SetupError::changed_something`] says
/// whether the dataset was changed before it did.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// Refused before anything was changed.
    #[error("refusing to set up {dataset}: {why}; nothing was changed")]
    Refused {
        /// The dataset.
        dataset: DatasetName,
        /// Why.
        why: Refusal,
    },
    /// The dataset could not be unmounted because it is in use.
    #[error(
        "cannot unmount {dataset} from {at}: it is busy. Is it in use? A process has a file, or \
         its working directory, under {at} (`fuser -c {at}` names it); stop it and run \
         setup again. Nothing was changed"
    )]
    Busy {
        /// The dataset.
        dataset: DatasetName,
        /// Where it is mounted.
        at: String,
    },
    /// The first step failed.
    #[error("`{command}` failed: {error}; nothing was changed")]
    FirstStep {
        /// The step's command.
        command: String,
        /// Why it failed.
        error: Box<omicron1_zfs::Error>,
    },
    /// A later step failed: the earlier ones are done.
    #[error(
        "`{command}` failed: {error}. Done before it: {}. Fix the cause and run setup again: it goes on \
         from the dataset's state",
        done.join("; ")
    )]
    LaterStep {
        /// The step's command.
        command: String,
        /// Why it failed.
        error: Box<omicron1_zfs::Error>,
        /// The commands done before it.
        done: Vec<String>,
    },
    /// A step left what it acted on mounted in the global zone.
    #[error(
        "`{command}` left {target} mounted in the global zone; {}. Done: {}",
        unmount_outcome(unmount_error),
        done.join("; ")
    )]
    LeftMounted {
        /// The step's command.
        command: String,
        /// What it acted on.
        target: DatasetName,
        /// Why unmounting it again failed, if it did.
        unmount_error: Option<Box<omicron1_zfs::Error>>,
        /// The commands done.
        done: Vec<String>,
    },
    /// The steps ran, and the dataset still breaks rules.
    #[error("after setup, {dataset} still breaks: {}", described(broken))]
    StillBroken {
        /// The dataset.
        dataset: DatasetName,
        /// The rules it breaks.
        broken: Vec<Finding>,
    },
    /// Reading the dataset's state failed before anything was changed.
    #[error(transparent)]
    Zfs(omicron1_zfs::Error),
    /// Reading the dataset's state failed after a step.
    #[error(transparent)]
    ZfsAfterChange(omicron1_zfs::Error),
    /// zonecfg failed.
    #[error(transparent)]
    Zonecfg(#[from] CommandError),
}

impl SetupError {
    /// Whether the dataset was changed before setup stopped (so it may be
    /// half set up).
    pub fn changed_something(&self) -> bool {
        matches!(
            self,
            SetupError::LaterStep { .. }
                | SetupError::LeftMounted { .. }
                | SetupError::StillBroken { .. }
                | SetupError::ZfsAfterChange(_)
        )
    }
}

fn unmount_outcome(error: &Option<Box<omicron1_zfs::Error>>) -> String {
    match error {
        Some(e) => format!("unmounting it failed too: {e}"),
        None => "it was unmounted again".to_string(),
    }
}

fn described(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(Finding::describe)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Why setup refuses a dataset.
#[derive(Debug)]
pub enum Refusal {
    /// A pool's root dataset.
    PoolRoot,
    /// Rules setup cannot make right.
    Rules(Vec<Finding>),
    /// Mounted inside a running zone.
    InAZone,
    /// Datasets below it are mounted in the global zone.
    MountedBelow(Vec<DatasetName>),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::PoolRoot => f.write_str(
                "it is a pool's root dataset: delegating it would give the zone the whole pool",
            ),
            Refusal::Rules(findings) => f.write_str(&described(findings)),
            Refusal::InAZone => {
                f.write_str("it is mounted inside a running zone: halt the zone first")
            }
            Refusal::MountedBelow(mounted) => {
                let names: Vec<String> = mounted.iter().map(|d| d.to_string()).collect();
                let fix: Vec<String> = mounted
                    .iter()
                    .rev()
                    .map(|d| Step::Unmount.command(d))
                    .collect();
                write!(
                    f,
                    "datasets below it are mounted in the global zone ({}); setup would unmount them: if they are \
                     not in use, unmount them first: {}",
                    names.join(", "),
                    fix.join(" && ")
                )
            }
        }
    }
}

fn refused(ds: &DatasetName, why: Refusal) -> SetupError {
    SetupError::Refused {
        dataset: ds.clone(),
        why,
    }
}

/// Runs `dataset setup`; returns the `zfs` commands it ran (none when the
/// dataset was already set up).
pub fn setup(
    zfs: &dyn Zfs,
    ds: &DatasetName,
    context: &Context,
    apply: bool,
) -> Result<Vec<String>, SetupError> {
    if ds.parent().is_none() {
        return Err(refused(ds, Refusal::PoolRoot));
    }
    let facts = facts::facts(zfs, ds).map_err(SetupError::Zfs)?;
    let blockers: Vec<Finding> = rules::evaluate(&facts, context)
        .into_iter()
        .filter(|f| {
            f.failed() && matches!(f.rule, Rule::Filesystem | Rule::Zonepath | Rule::OneZone)
        })
        .collect();
    if !blockers.is_empty() {
        return Err(refused(ds, Refusal::Rules(blockers)));
    }

    let steps = match &facts.state {
        None => create_steps(zfs, ds).map_err(SetupError::Zfs)?,
        Some(state) => {
            let steps = plan::fix_steps(state);
            if !steps.is_empty() {
                if state.mounted_in_a_zone() {
                    return Err(refused(ds, Refusal::InAZone));
                }
                check_descendants(zfs, ds)?;
            }
            steps
        }
    };
    if steps.is_empty() {
        info(format_args!(
            "{ds} is already set up (zoned=on, mountpoint={MOUNTPOINT} set locally, canmount=on, \
             not mounted in the global zone): nothing changed"
        ));
    } else {
        run_steps(zfs, ds, &steps)?;
    }

    // Whatever was done, the dataset must now keep every rule (the zone's
    // configuration is the next step's).
    let after = facts::facts(zfs, ds).map_err(SetupError::Zfs)?;
    let broken: Vec<Finding> = rules::evaluate(&after, context)
        .into_iter()
        .filter(|f| f.failed() && f.rule != Rule::ZoneConfig)
        .collect();
    if !broken.is_empty() {
        return Err(SetupError::StillBroken {
            dataset: ds.clone(),
            broken,
        });
    }
    if !steps.is_empty() {
        info(format_args!(
            "{ds} is set up: zoned=on, mountpoint={MOUNTPOINT} (local), canmount=on, not mounted in the \
             global zone; the zone mounts it at {MOUNTPOINT} when it boots"
        ));
    }
    delegate(ds, context, apply)?;
    Ok(steps.iter().map(|s| s.command(ds)).collect())
}

/// A missing dataset: its missing parents (`canmount=off`, top down), then the
/// dataset itself in one create.
fn create_steps(zfs: &dyn Zfs, ds: &DatasetName) -> omicron1_zfs::Result<Vec<Step>> {
    let mut parents = Vec::new();
    let mut cur = ds.parent();
    while let Some(p) = cur {
        if zfs.exists((&p).into())? {
            break;
        }
        cur = p.parent();
        parents.push(p);
    }
    // A missing pool is left for `zfs create` to report.
    let mut steps: Vec<Step> = parents.into_iter().rev().map(Step::CreateParent).collect();
    steps.push(Step::Create);
    Ok(steps)
}

/// Refuses a change that would unmount, or move, datasets below `ds` that are
/// mounted in the global zone (`zoned` and `mountpoint` are inherited).
fn check_descendants(zfs: &dyn Zfs, ds: &DatasetName) -> Result<(), SetupError> {
    let mut todo = zfs.children(ds).map_err(SetupError::Zfs)?;
    let mut mounted = Vec::new();
    while let Some(child) = todo.pop() {
        if zfs
            .get_value((&child).into(), "mounted")
            .map_err(SetupError::Zfs)?
            .as_deref()
            == Some("yes")
        {
            mounted.push(child.clone());
        }
        todo.extend(zfs.children(&child).map_err(SetupError::Zfs)?);
    }
    if mounted.is_empty() {
        return Ok(());
    }
    mounted.sort();
    Err(refused(ds, Refusal::MountedBelow(mounted)))
}

/// Runs the steps, checking after each that what it acted on is not mounted
/// in the global zone.
fn run_steps(zfs: &dyn Zfs, ds: &DatasetName, steps: &[Step]) -> Result<(), SetupError> {
    let mut done: Vec<String> = Vec::new();
    for step in steps {
        let command = step.command(ds);
        info(format_args!("{command}"));
        if let Err(error) = run_step(zfs, ds, step) {
            if !done.is_empty() {
                return Err(SetupError::LaterStep {
                    command,
                    error: Box::new(error),
                    done,
                });
            }
            return Err(match (step, error.kind()) {
                (Step::Unmount, ErrorKind::Busy) => SetupError::Busy {
                    dataset: ds.clone(),
                    at: zfs
                        .get_value(ds.into(), "mountpoint")
                        .ok()
                        .flatten()
                        .unwrap_or_default(),
                },
                _ => SetupError::FirstStep {
                    command,
                    error: Box::new(error),
                },
            });
        }
        done.push(command.clone());
        let target = step.target(ds);
        let mounted = zfs
            .get_value(target.into(), "mounted")
            .map_err(SetupError::ZfsAfterChange)?;
        if mounted.as_deref() == Some("yes") {
            return Err(SetupError::LeftMounted {
                command,
                target: target.clone(),
                unmount_error: zfs.unmount(target).err().map(Box::new),
                done,
            });
        }
    }
    Ok(())
}

fn run_step(zfs: &dyn Zfs, ds: &DatasetName, step: &Step) -> omicron1_zfs::Result<()> {
    match step {
        Step::CreateParent(parent) => zfs.create(
            parent,
            &CreateOptions {
                parents: false,
                properties: &[("canmount", "off")],
            },
        ),
        Step::Create | Step::CreateWithParents => {
            let parents = matches!(step, Step::CreateWithParents);
            zfs.create(
                ds,
                &CreateOptions {
                    parents,
                    properties: &CREATE_PROPERTIES,
                },
            )
        }
        Step::Unmount => zfs.unmount(ds),
        Step::Set(k, v) => zfs.set(ds.into(), &[(k, v)]),
    }
}

/// Adds the dataset to the zone's configuration, or says how.
fn delegate(ds: &DatasetName, context: &Context, apply: bool) -> Result<(), SetupError> {
    let Some(zone) = &context.zone else {
        info(format_args!(
            "delegate it to its zone: {}",
            zonecfg::zonecfg_add("ZONE", ds.as_str())
        ));
        return Ok(());
    };
    let command = zonecfg::zonecfg_add(&zone.name, ds.as_str());
    match &zone.listing {
        Listing::Listed | Listing::NotAsked => {
            info(format_args!("zone {} delegates {ds}", zone.name));
            Ok(())
        }
        Listing::NoConfig(path) => {
            warn(format_args!(
                "zone {} is not configured ({} does not exist): configure it, then run: {command}",
                zone.name,
                path.display()
            ));
            Ok(())
        }
        Listing::NotListed if !apply => {
            info(format_args!(
                "zone {} does not delegate {ds} yet; add it with: {command} (or run setup with --apply)",
                zone.name
            ));
            Ok(())
        }
        Listing::NotListed => {
            if !zonecfg::available() {
                warn(format_args!(
                    "--apply: this system has no {}; on the zone's host run: {command}",
                    zonecfg::ZONECFG
                ));
                return Ok(());
            }
            info(format_args!("{command}"));
            zonecfg::add_dataset(&zone.name, ds.as_str())?;
            info(format_args!("zone {} now delegates {ds}", zone.name));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delegated::facts::{Delegation, ZoneView};
    use omicron1_zfs::{FakeZfs, PoolName};
    use std::path::Path;
    use std::path::PathBuf;

    // `run_steps` checks after every step that the dataset is not mounted (the
    // fake mounts and unmounts as ZFS does), so a setup that succeeds here never
    // had it mounted in between.

    fn world() -> FakeZfs {
        let zfs = FakeZfs::new();
        zfs.add_pool(&"tp".parse::<PoolName>().unwrap(), Path::new("/tp"));
        zfs
    }

    fn make(zfs: &FakeZfs, name: &str, props: &[(&str, &str)]) -> DatasetName {
        let d: DatasetName = name.parse().unwrap();
        zfs.create(
            &d,
            &CreateOptions {
                parents: true,
                properties: props,
            },
        )
        .unwrap();
        d
    }

    fn zone(listing: Listing) -> Context {
        let zonepath = Some((
            PathBuf::from("/tp/zones/z1"),
            Some("tp/zones/z1".parse().unwrap()),
        ));
        Context {
            zone: Some(ZoneView {
                name: "z1".into(),
                zonepath,
                listing,
            }),
            others: vec![],
        }
    }

    fn mounted(zfs: &FakeZfs, ds: &DatasetName) -> bool {
        zfs.get_value(ds.into(), "mounted").unwrap().as_deref() == Some("yes")
    }

    fn all_rules_pass(zfs: &dyn Zfs, ds: &DatasetName) {
        let facts = facts::facts(zfs, ds).unwrap();
        let findings = rules::evaluate(&facts, &zone(Listing::Listed));
        assert!(findings.iter().all(|f| !f.failed()), "{findings:#?}");
    }

    #[test]
    fn creates_a_missing_dataset_and_its_parents_never_mounted() {
        let zfs = world();
        let ds: DatasetName = "tp/a/b/d".parse().unwrap();
        let ran = setup(&zfs, &ds, &zone(Listing::Listed), false).unwrap();
        assert_eq!(
            ran,
            [
                "zfs create -o canmount=off tp/a",
                "zfs create -o canmount=off tp/a/b",
                "zfs create -o zoned=on -o mountpoint=/data -o canmount=on tp/a/b/d",
            ]
        );
        for parent in ["tp/a", "tp/a/b"] {
            let p: DatasetName = parent.parse().unwrap();
            assert!(!mounted(&zfs, &p), "{parent}");
            assert_eq!(
                zfs.get_value((&p).into(), "canmount").unwrap().as_deref(),
                Some("off")
            );
        }
        assert!(!mounted(&zfs, &ds));
        all_rules_pass(&zfs, &ds);
        // Idempotent: a second run changes nothing.
        assert!(setup(&zfs, &ds, &zone(Listing::NotListed), false)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn fixes_each_broken_state_in_place() {
        let states: [&[(&str, &str)]; 6] = [
            &[],                        // inherited mountpoint, zoned off, mounted
            &[("mountpoint", "/data")], // mounted at /data in the global zone
            &[("zoned", "on")],         // zoned, inherited mountpoint
            &[
                ("zoned", "on"),
                ("mountpoint", "/data"),
                ("canmount", "noauto"),
            ],
            &[("canmount", "noauto"), ("mountpoint", "legacy")],
            &[("mountpoint", "/elsewhere"), ("canmount", "off")],
        ];
        for props in states {
            let zfs = world();
            let ds = make(&zfs, "tp/d/z1", props);
            let ran = setup(&zfs, &ds, &zone(Listing::Listed), false)
                .unwrap_or_else(|e| panic!("{props:?}: {e}"));
            assert!(!ran.is_empty(), "{props:?}: something was changed");
            assert!(!mounted(&zfs, &ds), "{props:?}");
            all_rules_pass(&zfs, &ds);
            let again = setup(&zfs, &ds, &zone(Listing::Listed), false).unwrap();
            assert!(
                again.is_empty(),
                "{props:?}: a second run changes nothing, ran {again:?}"
            );
        }
    }

    #[test]
    fn refuses_what_it_cannot_make_right() {
        let ds: DatasetName = "tp/d/z1".parse().unwrap();
        // Inside a dataset delegated to another zone.
        let zfs = world();
        let mut ctx = zone(Listing::Listed);
        ctx.others.push(Delegation {
            zone: "z2".into(),
            dataset: "tp/d".parse().unwrap(),
        });
        let err = setup(&zfs, &ds, &ctx, false).unwrap_err();
        assert!(!err.changed_something());
        assert!(
            err.to_string()
                .contains("is inside tp/d, delegated to zone z2"),
            "{err}"
        );
        assert!(!zfs.exists((&ds).into()).unwrap(), "nothing was made");
        // The zonepath's dataset, and one inside it.
        for name in ["tp/zones/z1", "tp/zones/z1/data"] {
            let zfs = world();
            let d: DatasetName = name.parse().unwrap();
            let err = setup(&zfs, &d, &zone(Listing::Listed), false).unwrap_err();
            assert!(err.to_string().contains("zonepath dataset"), "{err}");
            assert!(!zfs.exists((&d).into()).unwrap());
        }
        // A pool's root.
        let err = setup(
            &world(),
            &"tp".parse().unwrap(),
            &zone(Listing::Listed),
            false,
        )
        .unwrap_err();
        assert!(err.to_string().contains("pool's root"), "{err}");
        // Datasets below it mounted in the global zone: nothing changes.
        let zfs = world();
        make(&zfs, "tp/d/z1/child", &[]);
        let err = setup(&zfs, &ds, &zone(Listing::Listed), false).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("tp/d/z1/child") && text.contains("zfs unmount tp/d/z1/child"),
            "{text}"
        );
        assert!(
            mounted(&zfs, &ds)
                && zfs.get_value((&ds).into(), "zoned").unwrap().as_deref() == Some("off")
        );
    }
}
