//! `dataset check|setup DATASET [--zone ZONE] [--apply]`: a delegated
//! dataset against every rule, as a report, or set up so it keeps them.

use omicron1_zfs::{DatasetName, Zfs};

use super::exit::{Exit, Failure};
use super::settings::Settings;
use super::{not_complete, zone_name};
use crate::cli::DatasetVerb;
use crate::delegated::facts::{self, quoted, Context};
use crate::delegated::rules::{self, Finding, Outcome, Rule, Severity};
use crate::delegated::setup;

/// `omicron1 dataset check|setup ...`.
pub(crate) fn run(zfs: &dyn Zfs, settings: &Settings, verb: DatasetVerb) -> Result<(), Failure> {
    let (DatasetVerb::Check { dataset, zone } | DatasetVerb::Setup { dataset, zone, .. }) = &verb;
    let zone = zone.as_deref();
    if let Some(zone) = zone {
        zone_name(zone)?;
    }
    let ds: DatasetName = dataset
        .parse()
        .map_err(|e: omicron1_zfs::NameError| Failure::new(Exit::Usage, e))?;
    let zones = facts::all_zones(&settings.zones_dir).map_err(not_complete)?;
    let context =
        facts::context_for(zfs, &settings.zones_dir, zones, &ds, zone).map_err(not_complete)?;
    match verb {
        DatasetVerb::Check { .. } => check(zfs, &ds, &context),
        DatasetVerb::Setup { apply, .. } => setup::setup(zfs, &ds, &context, apply)
            .map(drop)
            .map_err(|e| {
                let exit = if e.changed_something() {
                    Exit::Fatal
                } else {
                    Exit::NotComplete
                };
                Failure::new(exit, e)
            }),
    }
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
    let facts = facts::facts(zfs, ds).map_err(not_complete)?;
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
            .map(|z| format!(" --zone {}", quoted(z)))
            .unwrap_or_default();
        let apply = if names.contains(&"zone-config") {
            " --apply"
        } else {
            ""
        };
        format!(
            "; `omicron1 dataset setup {}{zone_arg}{apply}` fixes them in a safe order",
            quoted(ds.as_str())
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
