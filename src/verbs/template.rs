//! `template build|list|gc`: templates as an administrator sees them, with
//! the table and JSON renderings of `template list`.

use std::fmt::Write as _;

use omicron1_zfs::{DatasetName, PoolName, Zfs};

use super::exit::{Exit, Failure};
use super::not_complete;
use super::schema::{self, GcReport, Kept, TemplateBuilt, TemplateRow};
use super::settings::Settings;
use crate::cli::TemplateVerb;
use crate::support::output::{self, info};
use crate::template::collect::{collect, Collected};
use crate::template::inventory::{containers, inventory, zone_names, Status, TemplateInfo};
use crate::template::{self, identity, Base, Current, TemplateError};

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

/// A scan's result; when scanning every imported pool, `None` for a pool or
/// container that went away since `zpool list` named it (exported or
/// destroyed meanwhile), which is not this command's failure.
fn scanned<T>(result: Result<T, TemplateError>, every_pool: bool) -> Result<Option<T>, Failure> {
    match result {
        Ok(found) => Ok(Some(found)),
        Err(TemplateError::Zfs(e)) if every_pool && e.is_not_found() => {
            tracing::debug!("skipped what went away during the scan: {e}");
            Ok(None)
        }
        Err(e) => Err(fail(e)),
    }
}

/// Runs a `template` verb.
pub(crate) fn run(zfs: &dyn Zfs, settings: &Settings, verb: TemplateVerb) -> Result<(), Failure> {
    match verb {
        TemplateVerb::Build { pool, parent, json } => {
            if json {
                output::json_mode();
            }
            build(zfs, settings, &pool, parent.as_deref(), json)
        }
        TemplateVerb::List {
            pool,
            json,
            no_header,
            parsable,
        } => {
            let format = if json {
                output::json_mode();
                Format::Json
            } else {
                Format::Table {
                    scripted: no_header,
                    exact: parsable,
                }
            };
            list(zfs, settings, pool.as_deref(), format)
        }
        TemplateVerb::Gc {
            pool,
            dry_run,
            json,
        } => {
            if json {
                output::json_mode();
            }
            gc(zfs, settings, pool.as_deref(), dry_run, json)
        }
    }
}

/// `template build --pool POOL [--parent DATASET]`: templates go where zones
/// whose zonepath datasets are children of the given parent get theirs (its
/// encryption root, or the pool's root dataset); without a parent, where the
/// pool already has templates, else where Oxide's `POOL/crypt/zone` would.
fn build(
    zfs: &dyn Zfs,
    settings: &Settings,
    pool: &str,
    parent: Option<&str>,
    json: bool,
) -> Result<(), Failure> {
    let pool: PoolName = pool.parse().map_err(|e| Failure::new(Exit::Usage, e))?;
    let bases: Vec<Base> = match parent {
        Some(p) => {
            let p: DatasetName = p.parse().map_err(|e| Failure::new(Exit::Usage, e))?;
            if p.pool() != pool {
                return Err(Failure::usage(format!(
                    "--parent {p} is not in pool {pool}"
                )));
            }
            vec![Base::for_parent(zfs, &p).map_err(fail)?]
        }
        None => {
            let found: Vec<DatasetName> = containers(zfs, &pool)
                .map_err(fail)?
                .iter()
                .filter_map(|c| c.parent())
                .collect();
            if !found.is_empty() {
                let mut bases = Vec::with_capacity(found.len());
                for base in &found {
                    bases.push(Base::for_parent(zfs, base).map_err(fail)?);
                }
                bases
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
                vec![Base::for_parent(zfs, &oxide).map_err(fail)?]
            }
        }
    };
    let site = settings.site();
    let sources = settings.sources().find().map_err(not_complete)?;
    let identity = identity::identity(&site, &sources.baseline).map_err(fail)?;
    let mut built = Vec::new();
    for base in bases {
        let ready = template::ensure(zfs, &site, &base, &identity, &sources).map_err(fail)?;
        info(format_args!(
            "template {} is ready",
            ready.template.snapshot
        ));
        built.push(TemplateBuilt {
            dataset: ready.template.dataset.to_string(),
            snapshot: ready.template.snapshot.to_string(),
            encryption_root: ready.encryption_root.clone(),
        });
    }
    if json {
        schema::print(&built);
    }
    Ok(())
}

/// How `template list` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// One JSON array.
    Json,
    /// A table: `scripted` (-H) drops the header and separates fields with
    /// one tab; `exact` (-p) prints sizes in bytes.
    Table { scripted: bool, exact: bool },
}

/// `template list [--pool POOL] [--json]`.
fn list(
    zfs: &dyn Zfs,
    settings: &Settings,
    pool: Option<&str>,
    format: Format,
) -> Result<(), Failure> {
    let current = identity::current(&settings.site()).map_err(fail)?;
    let mut groups: Vec<(DatasetName, Vec<TemplateInfo>)> = Vec::new();
    let every_pool = pool.is_none();
    for pool in pools(zfs, pool)? {
        let Some(found) = scanned(containers(zfs, &pool), every_pool)? else {
            continue;
        };
        for container in found {
            let Some(templates) = scanned(inventory(zfs, &container), every_pool)? else {
                continue;
            };
            groups.push((container, templates));
        }
    }
    match format {
        Format::Json => {
            let rows: Vec<TemplateRow> = groups
                .iter()
                .flat_map(|(_, ts)| ts)
                .map(|t| row(t, &current))
                .collect();
            schema::print(&rows);
        }
        Format::Table {
            scripted: true,
            exact,
        } => output::report(scripted(&groups, &current, exact)),
        Format::Table {
            scripted: false,
            exact,
        } => output::report(table(&groups, &current, exact)),
    }
    Ok(())
}

/// A template as `template list --json` shows it.
fn row(t: &TemplateInfo, current: &Current) -> TemplateRow {
    let status = t.status(current);
    TemplateRow {
        dataset: t.dataset.to_string(),
        snapshot: t.snapshot.to_string(),
        ready: t.ready,
        state: status.as_str(),
        current: status == Status::Current,
        boot_id: t.boot_id.clone(),
        baseline_sha256: t.baseline_sha256.clone(),
        created: t.created.clone(),
        referenced: t.referenced,
        clones: t.clones.iter().map(|c| c.to_string()).collect(),
        zones: zone_names(&t.clones),
    }
}

/// `template list -H`: one line per template, the full dataset name, fields
/// separated by one tab, no header (as `zfs list -H`).
fn scripted(groups: &[(DatasetName, Vec<TemplateInfo>)], current: &Current, exact: bool) -> String {
    let mut out = String::new();
    for t in groups.iter().flat_map(|(_, ts)| ts) {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}",
            t.dataset,
            t.status(current).as_str(),
            t.created.as_deref().unwrap_or("-"),
            size_field(t.referenced, exact),
            t.clones.len()
        );
    }
    out
}

/// A size as `zfs list` prints it, or in bytes with `-p`; `-` if unknown.
fn size_field(bytes: Option<u64>, exact: bool) -> String {
    match bytes {
        None => "-".into(),
        Some(n) if exact => n.to_string(),
        Some(n) => output::size(n),
    }
}

/// The human listing: one block per container, rows that fit 100 columns, and
/// for a stale template with clones the zones that need reinstalling.
fn table(groups: &[(DatasetName, Vec<TemplateInfo>)], current: &Current, exact: bool) -> String {
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
                size_field(t.referenced, exact),
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

/// `template gc [--pool POOL] [--dry-run] [--json]`: each template
/// destroyed is named once (by the collection, as it goes), each kept one
/// with why.
fn gc(
    zfs: &dyn Zfs,
    settings: &Settings,
    pool: Option<&str>,
    dry_run: bool,
    json: bool,
) -> Result<(), Failure> {
    let site = settings.site();
    let current = identity::current(&site).map_err(fail)?;
    let mut report = GcReport {
        dry_run,
        destroyed: Vec::new(),
        kept: Vec::new(),
    };
    let every_pool = pool.is_none();
    for pool in pools(zfs, pool)? {
        let Some(found) = scanned(containers(zfs, &pool), every_pool)? else {
            continue;
        };
        for container in found {
            let Some(outcomes) = scanned(
                collect(zfs, &site, &container, &current, dry_run),
                every_pool,
            )?
            else {
                continue;
            };
            for outcome in outcomes {
                match outcome {
                    Collected::Destroyed(d) => {
                        // The collection says "destroyed ..." itself as it goes.
                        if dry_run {
                            info(format_args!("would destroy {d}"));
                        }
                        report.destroyed.push(d.to_string());
                    }
                    Collected::Kept(d, why) => {
                        info(format_args!("kept {d}: {why}"));
                        report.kept.push(Kept {
                            dataset: d.to_string(),
                            reason: why,
                        });
                    }
                }
            }
        }
    }
    if json {
        schema::print(&report);
    } else if report.destroyed.is_empty() && report.kept.is_empty() {
        info("no templates to collect");
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
        let text = table(&groups, &now, false);
        for line in text.lines() {
            assert!(line.len() <= 100, "{} columns: {line}", line.len());
        }
        assert!(text.contains("current") && text.contains("stale"), "{text}");
        assert!(text.contains("needs reinstall: oxz_service_00"), "{text}");
        assert!(
            text.contains("oxz_service_11"),
            "every zone is named:\n{text}"
        );
        assert!(text.contains(" 50M "), "zfs-style sizes: {text}");
        assert!(table(&groups, &now, true).contains(" 52428800 "), "-p");
        assert_eq!(table(&[], &now, false), "no templates\n");
        let scripted = scripted(&groups, &now, true);
        let lines: Vec<&str> = scripted.lines().collect();
        assert_eq!(
            lines.len(),
            2,
            "one line per template, no header: {scripted}"
        );
        let fields: Vec<&str> = lines[1].split('\t').collect();
        assert_eq!(
            fields,
            [
                format!("{container}/t-cccccccc-bbbbbbbbbbbb").as_str(),
                "stale",
                "2026-11-26T05:00:00Z",
                "52428800",
                "12"
            ]
        );
        assert!(super::scripted(&groups, &now, false).contains("\t50M\t"));
    }
}
