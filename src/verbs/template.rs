//! `template build|list|gc`: templates as an administrator sees them, with
//! the table and JSON renderings of `template list`.

use std::fmt::Write as _;

use omicron1_zfs::{DatasetName, PoolName, Zfs};
use serde_json::json;

use super::exit::{Exit, Failure};
use super::not_complete;
use super::settings::Settings;
use crate::cli::TemplateVerb;
use crate::support::output::info;
use crate::template::collect::{collect, Collected};
use crate::template::inventory::{containers, inventory, zone_names, Status, TemplateInfo};
use crate::template::{self, identity, Current, TemplateError};

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
pub(crate) fn run(zfs: &dyn Zfs, settings: &Settings, verb: TemplateVerb) -> Result<(), Failure> {
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
    let site = settings.site();
    let sources = settings.sources().find().map_err(not_complete)?;
    let identity = identity::identity(&site, &sources.baseline).map_err(fail)?;
    for parent in parents {
        let ready = template::ensure(zfs, &site, &parent, &identity, &sources).map_err(fail)?;
        info(format_args!(
            "template {} is ready",
            ready.template.snapshot
        ));
    }
    Ok(())
}

/// `template list [--pool POOL] [--json]`.
fn list(zfs: &dyn Zfs, settings: &Settings, pool: Option<&str>, json: bool) -> Result<(), Failure> {
    let current = identity::current(&settings.site()).map_err(fail)?;
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
                let status = t.status(&current);
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
    print!("{}", table(&groups, &current));
    Ok(())
}

/// The human listing: one block per container, rows that fit 100 columns, and
/// for a stale template with clones the zones that need reinstalling.
fn table(groups: &[(DatasetName, Vec<TemplateInfo>)], current: &Current) -> String {
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
            let status = t.status(current);
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
    let site = settings.site();
    let current = identity::current(&site).map_err(fail)?;
    for pool in pools(zfs, pool)? {
        for container in containers(zfs, &pool).map_err(fail)? {
            for outcome in collect(zfs, &site, &container, &current, dry_run).map_err(fail)? {
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
    use crate::template::inventory::tests::info;

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
        let now = Current {
            boot_id: "now".into(),
            baseline_sha256: Some("b".repeat(64)),
        };
        let text = table(&groups, &now);
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
        assert_eq!(table(&[], &now), "no templates\n");
    }
}
