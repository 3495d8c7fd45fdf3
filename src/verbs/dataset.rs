//! `dataset check|setup DATASET [--zone ZONE] [--apply] [--json]`: a
//! delegated dataset against every rule, as a report, or set up so it keeps
//! them.
//!
//! `check` tells "a rule is broken" (exit 254) from "the dataset could not
//! be checked" (exit 255: the zone configurations or the dataset's
//! properties could not be read), in its exit code and in `--json`'s
//! `result`.

use omicron1_zfs::{DatasetName, Zfs};

use super::exit::{BoxError, Exit, Failure};
use super::schema::{self, DatasetCheck, DatasetSetup, RuleResult};
use super::settings::Settings;
use super::zone_name;
use crate::cli::DatasetVerb;
use crate::delegated::facts::{self, quoted, Context, Listing};
use crate::delegated::rules::{self, Finding, Outcome, Rule, Severity};
use crate::delegated::{setup, zonecfg};
use crate::support::output;

/// `omicron1 dataset check|setup ...`.
pub(crate) fn run(zfs: &dyn Zfs, settings: &Settings, verb: DatasetVerb) -> Result<(), Failure> {
    let (DatasetVerb::Check {
        dataset,
        zone,
        json,
        ..
    }
    | DatasetVerb::Setup {
        dataset,
        zone,
        json,
        ..
    }) = &verb;
    let json = *json;
    if json {
        output::json_mode();
    }
    let zone = zone.as_deref();
    if let Some(zone) = zone {
        zone_name(zone)?;
    }
    let ds: DatasetName = dataset
        .parse()
        .map_err(|e: omicron1_zfs::NameError| Failure::new(Exit::Usage, e))?;
    let context: Result<Context, BoxError> = facts::all_zones(&settings.zones_dir)
        .map_err(BoxError::from)
        .and_then(|zones| {
            facts::context_for(zfs, &settings.zones_dir, zones, &ds, zone).map_err(BoxError::from)
        });
    match verb {
        DatasetVerb::Check { .. } => {
            let checked = context.and_then(|context| {
                let facts = facts::facts(zfs, &ds).map_err(BoxError::from)?;
                Ok((rules::evaluate(&facts, &context), context))
            });
            match checked {
                Ok((findings, context)) => check(&ds, &context, &findings, json),
                Err(e) => {
                    let failure = Failure::new(Exit::Fatal, e);
                    if json {
                        schema::print(&DatasetCheck {
                            dataset: ds.to_string(),
                            zone: zone.map(str::to_string),
                            result: "unchecked",
                            rules: Vec::new(),
                            error: Some(failure.to_string()),
                        });
                    }
                    Err(failure)
                }
            }
        }
        DatasetVerb::Setup { apply, .. } => {
            let context = context.map_err(|e| Failure::new(Exit::NotComplete, e))?;
            let commands = setup::setup(zfs, &ds, &context, apply).map_err(|e| {
                let exit = if e.changed_something() {
                    Exit::Fatal
                } else {
                    Exit::NotComplete
                };
                Failure::new(exit, e)
            })?;
            if json {
                schema::print(&setup_report(&ds, &context, commands));
            }
            Ok(())
        }
    }
}

/// What `dataset setup --json` prints.
fn setup_report(ds: &DatasetName, context: &Context, commands: Vec<String>) -> DatasetSetup {
    let zone = context.zone.as_ref();
    let (zone_config, zonecfg) = match zone.map(|z| (&z.listing, &z.name)) {
        None | Some((Listing::NotAsked, _)) => ("unknown", None),
        Some((Listing::Listed, _)) => ("listed", None),
        Some((Listing::NotListed, name)) => {
            ("not-listed", Some(zonecfg::zonecfg_add(name, ds.as_str())))
        }
        Some((Listing::NoConfig(_), name)) => (
            "not-configured",
            Some(zonecfg::zonecfg_add(name, ds.as_str())),
        ),
    };
    DatasetSetup {
        dataset: ds.to_string(),
        zone: zone.map(|z| z.name.clone()),
        changed: !commands.is_empty(),
        commands,
        zone_config,
        zonecfg,
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

/// A finding as `dataset check --json` shows it.
fn rule_result(f: &Finding) -> RuleResult {
    let (status, detail, fix) = match &f.outcome {
        Outcome::Pass(detail) => ("ok", detail.clone(), None),
        Outcome::Fail { problem, fix } => ("fail", problem.clone(), Some(fix.clone())),
        Outcome::Skipped(why) => ("skipped", why.clone(), None),
    };
    RuleResult {
        rule: f.rule.name(),
        severity: match f.rule.severity() {
            Severity::Error => "error",
            Severity::Warning => "warning",
        },
        status,
        detail,
        fix,
    }
}

/// `dataset check`: one line per rule on stdout (or one JSON object); 254 if
/// any rule is broken.
fn check(
    ds: &DatasetName,
    context: &Context,
    findings: &[Finding],
    json: bool,
) -> Result<(), Failure> {
    let zone = context.zone.as_ref().map(|z| z.name.as_str());
    let failed: Vec<&Finding> = findings.iter().filter(|f| f.failed()).collect();
    if json {
        schema::print(&DatasetCheck {
            dataset: ds.to_string(),
            zone: zone.map(str::to_string),
            result: if failed.is_empty() { "ok" } else { "broken" },
            rules: findings.iter().map(rule_result).collect(),
            error: None,
        });
    } else {
        let mut text = match zone {
            Some(z) => format!("dataset {ds} for zone {z}:\n"),
            None => format!("dataset {ds}:\n"),
        };
        for f in findings {
            text.push_str(&format!("  {:<4} {}\n", tag(f), f.describe()));
        }
        if failed.is_empty() {
            let checked = findings
                .iter()
                .filter(|f| matches!(f.outcome, Outcome::Pass(_)))
                .count();
            text.push_str(&match zone {
                Some(z) => format!(
                    "OK: {ds} keeps all {checked} rules checked; zone {z} mounts it at /data when it boots\n"
                ),
                None => format!("OK: {ds} keeps all {checked} rules checked\n"),
            });
        }
        output::report(text);
    }
    if failed.is_empty() {
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
