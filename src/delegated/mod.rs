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

mod facts;
pub mod plan;
pub mod rules;
mod setup;

use std::path::Path;

use omicron1_zfs::{DatasetName, Zfs};

use crate::cli::DatasetVerb;
use crate::support::output::info;
use crate::verbs::exit::{Exit, Failure};
use crate::verbs::settings::Settings;
use crate::zone::config::{ZoneConfig, ZoneConfigError};
use crate::zone_root::install::Zone;
use rules::{Context, Finding, Listing, Outcome, Rule, Severity};

/// `omicron1 dataset check|setup ...`.
pub fn run(zfs: &dyn Zfs, settings: &Settings, verb: DatasetVerb) -> Result<(), Failure> {
    let (DatasetVerb::Check { dataset, zone } | DatasetVerb::Setup { dataset, zone, .. }) = &verb;
    let zone = zone.as_deref();
    if let Some(zone) = zone {
        crate::verbs::hooks::check_zone_name(zone)?;
    }
    let ds: DatasetName = dataset
        .parse()
        .map_err(|e: omicron1_zfs::NameError| Failure::usage(e.to_string()))?;
    let not_complete = |e: String| Failure::new(Exit::NotComplete, e);
    let zones = facts::all_zones(&settings.zones_dir).map_err(|e| not_complete(e.to_string()))?;
    let context =
        facts::context_for(zfs, &settings.zones_dir, &zones, &ds, zone).map_err(not_complete)?;
    match verb {
        DatasetVerb::Check { .. } => check(zfs, &ds, &context),
        DatasetVerb::Setup { apply, .. } => setup::setup(zfs, &ds, &context, apply).map(drop),
    }
}

/// `verify_cfg`: the zone's delegated datasets against the rules.
pub fn verify_config(
    zfs: &dyn Zfs,
    settings: &Settings,
    config: &ZoneConfig,
) -> Result<(), Failure> {
    if config.datasets.is_empty() {
        return Ok(());
    }
    let mut errors = enforce(zfs, settings, config, config.zonepath.as_deref())
        .map_err(|e| Failure::new(Exit::NotComplete, e))?;
    let Some(last) = errors.pop() else {
        return Ok(());
    };
    for e in errors {
        eprintln!("omicron1: error: {e}");
    }
    Err(Failure::new(Exit::NotComplete, last))
}

/// `install`: refuse a zone whose delegated datasets would make it fail to boot
/// or share data. Runs before anything is made, so a refusal leaves nothing.
/// The error is one line per broken rule.
pub fn check_for_install(zfs: &dyn Zfs, settings: &Settings, zone: &Zone) -> Result<(), String> {
    let config = match ZoneConfig::for_zone(&settings.zones_dir, &zone.name) {
        Ok(config) => config,
        // zoneadm keeps the configuration there; without one there is nothing to check.
        Err(ZoneConfigError::Read { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            return Ok(())
        }
        Err(e) => {
            return Err(format!(
                "cannot check zone {}'s delegated datasets: {e}",
                zone.name
            ))
        }
    };
    if config.datasets.is_empty() {
        return Ok(());
    }
    info(format_args!(
        "checking delegated datasets: {}",
        config.datasets.join(", ")
    ));
    let errors = enforce(zfs, settings, &config, Some(&zone.zonepath))?;
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

/// Checks every dataset `config` delegates (its zonepath is `zonepath`):
/// prints a warning per broken cosmetic rule and returns the errors, one line
/// per broken rule, each naming the dataset, the zone, the rule and the fix.
fn enforce(
    zfs: &dyn Zfs,
    settings: &Settings,
    config: &ZoneConfig,
    zonepath: Option<&Path>,
) -> Result<Vec<String>, String> {
    let zones = facts::all_zones(&settings.zones_dir).map_err(|e| e.to_string())?;
    let view = facts::zone_view(zfs, &config.name, zonepath, Listing::NotAsked)
        .map_err(|e| e.to_string())?;
    let context = Context {
        zone: Some(view),
        others: facts::delegations(&zones, Some(&config.name)),
    };
    let mut errors = Vec::new();
    for name in &config.datasets {
        let what = format!("delegated dataset {name} of zone {}", config.name);
        let ds: DatasetName = match name.parse() {
            Ok(ds) => ds,
            Err(e) => {
                errors.push(format!("{what}: {e}"));
                continue;
            }
        };
        let facts = facts::facts(zfs, &ds).map_err(|e| format!("{what}: {e}"))?;
        for f in rules::evaluate(&facts, &context)
            .iter()
            .filter(|f| f.failed())
        {
            match f.rule.severity() {
                Severity::Error => errors.push(format!("{what}: {}", f.describe())),
                Severity::Warning => eprintln!("omicron1: warning: {what}: {}", f.describe()),
            }
        }
    }
    Ok(errors)
}

/// How a finding is tagged in `dataset check`'s report.
fn tag(f: &Finding) -> &'static str {
    match (&f.outcome, f.rule.severity()) {
        (Outcome::Pass(_), _) => "ok",
        (Outcome::Fail { .. }, Severity::Error) => "FAIL",
        (Outcome::Fail { .. }, Severity::Warning) => "WARN",
        (Outcome::Skipped(_), _) => "--",
    }
}

/// `dataset check`: one line per rule on stdout; 254 if any rule is broken.
fn check(zfs: &dyn Zfs, ds: &DatasetName, context: &Context) -> Result<(), Failure> {
    let facts = facts::facts(zfs, ds).map_err(|e| Failure::new(Exit::NotComplete, e))?;
    let findings = rules::evaluate(&facts, context);
    let zone = context.zone.as_ref().map(|z| z.name.as_str());
    match zone {
        Some(z) => println!("dataset {ds} for zone {z}:"),
        None => println!("dataset {ds}:"),
    }
    for f in &findings {
        println!("  {:<4} {}", tag(f), f.describe());
    }
    let failed: Vec<&Finding> = findings.iter().filter(|f| f.failed()).collect();
    if failed.is_empty() {
        let checked = findings
            .iter()
            .filter(|f| matches!(f.outcome, Outcome::Pass(_)))
            .count();
        match zone {
            Some(z) => println!("OK: {ds} keeps all {checked} rules checked; zone {z} mounts it at /data when it boots"),
            None => println!("OK: {ds} keeps all {checked} rules checked"),
        }
        return Ok(());
    }
    let names: Vec<&str> = failed.iter().map(|f| f.rule.name()).collect();
    let setup_fixes = failed
        .iter()
        .all(|f| !matches!(f.rule, Rule::Filesystem | Rule::Zonepath | Rule::OneZone));
    let hint = if setup_fixes {
        let zone_arg = zone
            .map(|z| format!(" --zone {}", rules::quoted(z)))
            .unwrap_or_default();
        let apply = if names.contains(&"zone-config") {
            " --apply"
        } else {
            ""
        };
        format!(
            "; `omicron1 dataset setup {}{zone_arg}{apply}` fixes them in a safe order",
            rules::quoted(ds.as_str())
        )
    } else {
        String::new()
    };
    Err(Failure::new(
        Exit::NotComplete,
        format!(
            "{ds} breaks {} rule(s): {}{hint}",
            failed.len(),
            names.join(", ")
        ),
    ))
}
