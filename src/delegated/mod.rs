//! Delegated datasets that mount at `/data` inside a zone: the contract's
//! rules, `dataset check`, `dataset setup`, and their enforcement at
//! `verify_cfg` and `install`.
//!
//! The man page's four-step recipe is easy to get wrong, and each mistake
//! shows up late: an inherited mountpoint makes zoneadm refuse the zone, a
//! dataset left mounted in the global zone (or `zoned=off`) leaks or collides
//! with the global zone's `/data`, one dataset delegated to two zones corrupts
//! data. So the rules live in one place ([`rules`], pure functions over what
//! [`inspect`] reads), `dataset check` prints each with the command that fixes
//! it, `dataset setup` applies the fixes in the one order that never mounts the
//! dataset in the global zone ([`plan`]), and install and `verify_cfg` refuse a
//! zone whose datasets break a rule that would make it fail to boot or share
//! data ([`rules::Rule::severity`]).

pub mod facts;
pub mod plan;
pub mod rules;
pub mod setup;
pub mod zonecfg;

use std::fmt;
use std::path::Path;

use omicron1_zfs::{DatasetName, NameError, Zfs};

use crate::support::output::{info, warn};
use crate::zone::config::{ZoneConfig, ZoneConfigError};
use crate::zone::Zone;
use facts::{Context, Listing};
use rules::{Finding, Severity};
pub use setup::SetupError;

/// Why delegated datasets could not be checked or set up, or the rules they
/// break.
#[derive(Debug, thiserror::Error)]
pub enum DelegatedError {
    /// A ZFS operation failed.
    #[error(transparent)]
    Zfs(#[from] omicron1_zfs::Error),
    /// The zones folder could not be read.
    #[error(transparent)]
    Zones(#[from] ZoneConfigError),
    /// The named zone's configuration cannot be read.
    #[error("zone {zone}'s configuration cannot be read")]
    Unreadable {
        /// The zone.
        zone: String,
        /// Why.
        #[source]
        source: ZoneConfigError,
    },
    /// The zone's configuration could not be read to check its datasets.
    #[error("cannot check zone {zone}'s delegated datasets")]
    CannotCheck {
        /// The zone.
        zone: String,
        /// Why.
        #[source]
        source: ZoneConfigError,
    },
    /// A delegated dataset's state could not be read.
    #[error("delegated dataset {dataset} of zone {zone}")]
    Facts {
        /// The dataset.
        dataset: DatasetName,
        /// The zone.
        zone: String,
        /// Why.
        #[source]
        source: omicron1_zfs::Error,
    },
    /// The zone's delegated datasets break rules that would make it fail to
    /// boot or share data: every one, in order.
    #[error("{}", lines(.0))]
    Broken(Vec<Problem>),
    /// `dataset setup` stopped.
    #[error(transparent)]
    Setup(#[from] SetupError),
}

fn lines(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// One broken rule of one delegated dataset of a zone.
#[derive(Debug, Clone)]
pub struct Problem {
    /// The dataset, as the configuration names it.
    pub dataset: String,
    /// The zone.
    pub zone: String,
    /// What is wrong.
    pub kind: ProblemKind,
}

/// What is wrong with a delegated dataset.
#[derive(Debug, Clone)]
pub enum ProblemKind {
    /// The name is not a dataset name.
    BadName(NameError),
    /// A rule is broken.
    Rule(Finding),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "delegated dataset {} of zone {}: ",
            self.dataset, self.zone
        )?;
        match &self.kind {
            ProblemKind::BadName(e) => write!(f, "{e}"),
            ProblemKind::Rule(finding) => f.write_str(&finding.describe()),
        }
    }
}

impl std::error::Error for Problem {}

/// `verify_cfg`: the zone's delegated datasets against the rules. Warnings are
/// printed; the broken rules are returned, every one in order.
pub fn verify_config(
    zfs: &dyn Zfs,
    zones_dir: &Path,
    config: &ZoneConfig,
) -> Result<(), DelegatedError> {
    if config.datasets.is_empty() {
        return Ok(());
    }
    let problems = enforce(zfs, zones_dir, config, config.zonepath.as_deref())?;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(DelegatedError::Broken(problems))
    }
}

/// `install`: refuse a zone whose delegated datasets would make it fail to boot
/// or share data. Runs before anything is made, so a refusal leaves nothing.
pub fn check_for_install(
    zfs: &dyn Zfs,
    zones_dir: &Path,
    zone: &Zone,
) -> Result<(), DelegatedError> {
    let config = match ZoneConfig::for_zone(zones_dir, zone.name.as_str()) {
        Ok(config) => config,
        // zoneadm keeps the configuration there; without one there is nothing to check.
        Err(ZoneConfigError::Read { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            return Ok(())
        }
        Err(source) => {
            return Err(DelegatedError::CannotCheck {
                zone: zone.name.to_string(),
                source,
            })
        }
    };
    if config.datasets.is_empty() {
        return Ok(());
    }
    info(format_args!(
        "checking delegated datasets: {}",
        config.datasets.join(", ")
    ));
    let problems = enforce(zfs, zones_dir, &config, Some(&zone.zonepath))?;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(DelegatedError::Broken(problems))
    }
}

/// Checks every dataset `config` delegates (its zonepath is `zonepath`):
/// prints a warning per broken cosmetic rule and returns the broken rules that
/// are errors, each naming the dataset, the zone, the rule and the fix.
fn enforce(
    zfs: &dyn Zfs,
    zones_dir: &Path,
    config: &ZoneConfig,
    zonepath: Option<&Path>,
) -> Result<Vec<Problem>, DelegatedError> {
    let zones = facts::all_zones(zones_dir)?;
    let view = facts::zone_view(zfs, &config.name, zonepath, Listing::NotAsked)?;
    let context = Context {
        zone: Some(view),
        others: facts::delegations(&zones, Some(&config.name)),
    };
    let mut problems = Vec::new();
    for name in &config.datasets {
        let problem = |kind| Problem {
            dataset: name.clone(),
            zone: config.name.clone(),
            kind,
        };
        let ds: DatasetName = match name.parse() {
            Ok(ds) => ds,
            Err(e) => {
                problems.push(problem(ProblemKind::BadName(e)));
                continue;
            }
        };
        let facts = facts::facts(zfs, &ds).map_err(|source| DelegatedError::Facts {
            dataset: ds.clone(),
            zone: config.name.clone(),
            source,
        })?;
        for f in rules::evaluate(&facts, &context)
            .into_iter()
            .filter(|f| f.failed())
        {
            match f.rule.severity() {
                Severity::Error => problems.push(problem(ProblemKind::Rule(f))),
                Severity::Warning => warn(problem(ProblemKind::Rule(f))),
            }
        }
    }
    Ok(problems)
}
