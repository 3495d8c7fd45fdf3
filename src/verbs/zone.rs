//! `zone list [--pool POOL] [--json]` and `zone show ZONE [--json]`: the
//! zones this installer made, from their datasets' `omicron1:` properties,
//! as `vmadm list` and `incus list` show theirs.

use std::fmt::Write as _;

use omicron1_zfs::{PoolName, Zfs};

use super::exit::{Exit, Failure};
use super::schema::{self, ZoneImage, ZoneRow};
use super::settings::Settings;
use super::zone_name;
use crate::cli::ZoneVerb;
use crate::support::output;
use crate::template::identity;
use crate::zone_root::inventory::{self, TemplateState, ZoneInfo};

/// Runs a `zone` verb.
pub(crate) fn run(zfs: &dyn Zfs, settings: &Settings, verb: ZoneVerb) -> Result<(), Failure> {
    if let ZoneVerb::List { json: true, .. } | ZoneVerb::Show { json: true, .. } = verb {
        output::json_mode();
    }
    match verb {
        ZoneVerb::List { pool, json } => {
            let zones = all(zfs, settings, pool.as_deref())?;
            if json {
                schema::print(&zones.iter().map(row).collect::<Vec<_>>());
            } else {
                output::report(table(&zones));
            }
            Ok(())
        }
        ZoneVerb::Show { zone, json } => {
            let name = zone_name(&zone)?;
            let zones = all(zfs, settings, None)?;
            let Some(found) = zones.iter().find(|z| z.zone == name.as_str()) else {
                return Err(Failure::new(
                    Exit::NotComplete,
                    format!(
                        "zone {name} has no dataset made by omicron1 on any imported pool \
                         (omicron1 zone list shows those that do)"
                    ),
                ));
            };
            if json {
                schema::print(&row(found));
            } else {
                output::report(show(found));
            }
            Ok(())
        }
    }
}

/// Every zone on the pool named, or on every imported pool.
fn all(zfs: &dyn Zfs, settings: &Settings, pool: Option<&str>) -> Result<Vec<ZoneInfo>, Failure> {
    let pools: Vec<PoolName> = match pool {
        Some(p) => vec![p.parse().map_err(|e| Failure::new(Exit::Usage, e))?],
        None => zfs
            .pools()
            .map_err(|e| Failure::new(Exit::NotComplete, e))?,
    };
    let current =
        identity::current(&settings.site()).map_err(|e| Failure::new(Exit::NotComplete, e))?;
    let mut zones = Vec::new();
    for pool in pools {
        zones.extend(
            inventory::zones(zfs, &pool, &current)
                .map_err(|e| Failure::new(Exit::NotComplete, e))?,
        );
    }
    Ok(zones)
}

/// A zone as `--json` shows it.
fn row(z: &ZoneInfo) -> ZoneRow {
    ZoneRow {
        zone: z.zone.clone(),
        dataset: z.dataset.to_string(),
        state: z.state(),
        images: z
            .images
            .iter()
            .map(|i| ZoneImage {
                path: i.path.clone(),
                sha256: i.sha256.clone(),
                pkg: i.pkg.clone(),
                version: i.version.clone(),
            })
            .collect(),
        origin: z.origin.clone(),
        template: z.template.clone(),
        template_state: match z.template_state {
            TemplateState::None => None,
            other => Some(other.as_str()),
        },
        created: z.created.clone(),
        installer: z.installer.clone(),
        used: z.used,
        mountpoint: z.mountpoint.clone(),
    }
}

/// An image as the table names it: `pkg@version`, else the file's name.
fn image_name(i: &inventory::InstalledImage) -> String {
    match (&i.pkg, &i.version, &i.path) {
        (Some(pkg), Some(v), _) => format!("{pkg}@{v}"),
        (Some(pkg), None, _) => pkg.clone(),
        (None, _, Some(path)) => path.rsplit('/').next().unwrap_or(path).to_string(),
        (None, _, None) => "?".into(),
    }
}

/// `zone list`: one line per zone.
fn table(zones: &[ZoneInfo]) -> String {
    if zones.is_empty() {
        return "no zones\n".into();
    }
    let mut out = format!(
        "{:<24} {:<10} {:<8} {:>6} {:<20} {}\n",
        "ZONE", "STATE", "TEMPLATE", "USED", "CREATED", "IMAGES"
    );
    for z in zones {
        let images: Vec<String> = z.images.iter().map(image_name).collect();
        let _ = writeln!(
            out,
            "{:<24} {:<10} {:<8} {:>6} {:<20} {}",
            z.zone,
            z.state(),
            z.template_state.as_str(),
            z.used.map(output::size).unwrap_or_else(|| "-".into()),
            z.created.as_deref().unwrap_or("-"),
            if images.is_empty() {
                "-".to_string()
            } else {
                images.join(",")
            }
        );
    }
    out
}

/// `zone show`: one field per line, each image in full.
fn show(z: &ZoneInfo) -> String {
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let mut out = String::new();
    let _ = writeln!(out, "zone:       {}", z.zone);
    let _ = writeln!(out, "dataset:    {}", z.dataset);
    let _ = writeln!(out, "state:      {}", z.state());
    let _ = writeln!(out, "mountpoint: {}", dash(&z.mountpoint));
    let _ = writeln!(out, "created:    {}", dash(&z.created));
    let _ = writeln!(out, "installer:  {}", dash(&z.installer));
    let _ = writeln!(
        out,
        "used:       {}",
        z.used.map(output::size).unwrap_or_else(|| "-".into())
    );
    let _ = writeln!(out, "origin:     {}", dash(&z.origin));
    let _ = writeln!(
        out,
        "template:   {} ({})",
        dash(&z.template),
        z.template_state.as_str()
    );
    if z.template_state == TemplateState::Stale {
        let _ = writeln!(
            out,
            "            an earlier boot's or baseline's: reinstall the zone to move it to this boot's"
        );
    }
    let _ = writeln!(out, "images:     {}", z.images.len());
    for (n, i) in z.images.iter().enumerate() {
        let _ = writeln!(out, "  {n}: {}", dash(&i.path));
        let _ = writeln!(
            out,
            "     pkg {} version {}",
            dash(&i.pkg),
            dash(&i.version)
        );
        let _ = writeln!(out, "     sha256 {}", dash(&i.sha256));
    }
    out
}
