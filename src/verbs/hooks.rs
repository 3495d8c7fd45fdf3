//! One function per verb. Each checks what it needs from the command line and
//! returns a [`Failure`] with the exit code the contract gives.

use std::path::{Path, PathBuf};

use omicron1_zfs::{CliZfs, Zfs};

use crate::cli::{BaselineVerb, Cli, ImageVerb, StateChange, Verb};
use crate::delegated;
use crate::image;
use crate::rootfs::baseline;
use crate::support::output::info;
use crate::support::timings;
use crate::template::inventory as templates;
use crate::verbs::exit::{Exit, Failure};
use crate::verbs::settings::Settings;
use crate::zone::config::ZoneConfig;
use crate::zone_root::install::{self, Zone};
use crate::zone_root::uninstall as lifecycle;

/// The longest zone name illumos accepts (`ZONENAME_MAX` less the NUL).
const ZONENAME_MAX: usize = 63;

/// The zone a hook acts on, from `-z` and `-R`.
#[derive(Debug, Clone)]
pub struct ZoneArgs {
    /// The zone's name.
    pub name: String,
    /// The zone's path.
    pub zonepath: PathBuf,
}

/// Checks a zone name the way zonecfg does: a letter or digit first, then
/// letters, digits, `-`, `_` and `.`, at most 63 bytes.
pub fn check_zone_name(name: &str) -> Result<(), Failure> {
    let ok_first = name.starts_with(|c: char| c.is_ascii_alphanumeric());
    let ok_rest = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if name.is_empty() || name.len() > ZONENAME_MAX || !ok_first || !ok_rest {
        return Err(Failure::usage(format!(
            "invalid zone name {name:?}: use letters, digits, '-', '_' and '.', starting with a \
             letter or digit, at most {ZONENAME_MAX} characters"
        )));
    }
    Ok(())
}

fn zone_args(
    verb: &str,
    zone: &Option<String>,
    zonepath: &Option<PathBuf>,
) -> Result<ZoneArgs, Failure> {
    let (Some(name), Some(zonepath)) = (zone, zonepath) else {
        return Err(Failure::usage(format!(
            "{verb} needs -z ZONE and -R ZONEPATH before the verb"
        )));
    };
    check_zone_name(name)?;
    if !zonepath.is_absolute() {
        return Err(Failure::usage(format!(
            "zonepath {} is not absolute",
            zonepath.display()
        )));
    }
    Ok(ZoneArgs {
        name: name.clone(),
        zonepath: zonepath.clone(),
    })
}

/// Runs the verb on the command line.
pub fn run(cli: Cli, settings: &Settings) -> Result<(), Failure> {
    let Cli {
        zone,
        zonepath,
        verb,
    } = cli;
    let zfs = CliZfs::new();
    match verb {
        Verb::Install { images } => {
            let z = zone_args("install", &zone, &zonepath)?;
            let started = std::time::Instant::now();
            let name = z.name.clone();
            let result = install::install(&zfs, settings, &z.into(), &images).map_err(|f| {
                let exit = if f.leftovers.is_empty() {
                    Exit::NotComplete
                } else {
                    Exit::Fatal
                };
                Failure::new(exit, f.error)
            });
            let processes = zfs.runner().processes_started();
            timings::write_if_requested("install", Some(&name), started.elapsed(), processes);
            result
        }
        Verb::Uninstall { force } => {
            let z = zone_args("uninstall", &zone, &zonepath)?;
            lifecycle::uninstall(&zfs, settings, &z.into(), force).map_err(not_complete)
        }
        Verb::VerifyCfg { xml } => verify_cfg(&zfs, settings, &xml),
        Verb::VerifyAdm { subcommand, args } => {
            let z = zone_args("verify_adm", &zone, &zonepath)?;
            verify_adm(&z, &subcommand, &args)
        }
        Verb::Query { what } => {
            zone_args("query", &zone, &zonepath)?;
            query(&what)
        }
        Verb::PreStateChange(change) => {
            zone_args("prestatechange", &zone, &zonepath)?;
            state_change(&change)
        }
        Verb::PostStateChange(change) => {
            zone_args("poststatechange", &zone, &zonepath)?;
            state_change(&change)
        }
        Verb::Clone {
            snapshot,
            source_zone,
        } => {
            let z = zone_args("clone", &zone, &zonepath)?;
            check_zone_name(&source_zone)?;
            lifecycle::clone(
                &zfs,
                &settings.zones_dir,
                &z.into(),
                &source_zone,
                snapshot.as_deref(),
            )
            .map_err(not_complete)
        }
        Verb::Attach { args } => {
            let z = zone_args("attach", &zone, &zonepath)?;
            tracing::debug!("attach options {args:?}");
            lifecycle::attach(&zfs, &z.into()).map_err(not_complete)
        }
        Verb::Detach { args } => {
            let z = zone_args("detach", &zone, &zonepath)?;
            tracing::debug!("detach options {args:?}");
            info(format_args!(
                "detached zone {}: its root stays in place for attach",
                z.name
            ));
            Ok(())
        }
        Verb::Template(verb) => templates::run(&zfs, settings, verb),
        Verb::Dataset(verb) => delegated::run(&zfs, settings, verb),
        Verb::Image(ImageVerb::Inspect { image, json }) => inspect_image(&image, json),
        Verb::Baseline(BaselineVerb::Create {
            root,
            include,
            gzonly,
            output,
        }) => {
            let stats = baseline::create(&root, &include, gzonly.as_deref(), &output)
                .map_err(not_complete)?;
            info(format_args!(
                "wrote {}: {} entries, {} bytes",
                output.join(baseline::FILES).display(),
                stats.entries,
                stats.bytes
            ));
            Ok(())
        }
    }
}

impl From<ZoneArgs> for Zone {
    fn from(z: ZoneArgs) -> Zone {
        Zone {
            name: z.name,
            zonepath: z.zonepath,
        }
    }
}

fn not_complete(e: impl std::error::Error + Send + Sync + 'static) -> Failure {
    Failure::new(Exit::NotComplete, e)
}

/// `verify_cfg XML`: the configuration must be readable, well-formed, for this
/// brand and with an exclusive IP stack.
fn verify_cfg(zfs: &dyn Zfs, settings: &Settings, xml: &Path) -> Result<(), Failure> {
    if !xml.is_file() {
        return Err(Failure::usage(format!(
            "verify_cfg: {} is not a readable file",
            xml.display()
        )));
    }
    let config = ZoneConfig::read(xml).map_err(not_complete)?;
    let problems = config.brand_problems();
    if problems.is_empty() {
        return delegated::verify_config(zfs, settings, &config);
    }
    for p in &problems[1..] {
        eprintln!("omicron1: error: {p}");
    }
    Err(Failure::new(Exit::NotComplete, problems[0].clone()))
}

/// `verify_adm SUBCMD [ARGS]`: for install, every image given must be readable;
/// other subcommands need nothing from this brand.
fn verify_adm(zone: &ZoneArgs, subcommand: &str, args: &[String]) -> Result<(), Failure> {
    if subcommand != "install" {
        return Ok(());
    }
    for arg in args {
        if arg.starts_with('-') {
            return Err(Failure::usage(format!(
                "install for zone {} takes image paths only, not option {arg:?}",
                zone.name
            )));
        }
        std::fs::File::open(arg).map_err(|e| {
            Failure::new(
                Exit::NotComplete,
                format!("image {arg} cannot be read: {e}"),
            )
        })?;
    }
    Ok(())
}

/// `image inspect IMAGE [--json]`.
fn inspect_image(path: &Path, json: bool) -> Result<(), Failure> {
    let i = image::inspect(path).map_err(not_complete)?;
    if json {
        let value = serde_json::json!({
            "image": path.display().to_string(),
            "sha256": i.sha256,
            "metadata": i.meta.to_json(),
            "files": i.files,
            "dirs": i.dirs,
            "symlinks": i.symlinks,
            "hardlinks": i.hardlinks,
            "bytes": i.bytes,
            "ignored": i.ignored,
        });
        println!("{value:#}");
    } else {
        println!("image:     {}", path.display());
        println!("sha256:    {}", i.sha256);
        println!("metadata:  {}", i.meta.to_json());
        println!(
            "contents:  {} files ({} bytes), {} directories, {} symlinks, {} hard links, {} ignored",
            i.files, i.bytes, i.dirs, i.symlinks, i.hardlinks, i.ignored
        );
    }
    Ok(())
}

/// `query datasets`: the zone gets no implicit datasets, so nothing is printed.
fn query(what: &str) -> Result<(), Failure> {
    match what {
        "datasets" => Ok(()),
        other => Err(Failure::usage(format!(
            "query: unknown question {other:?} (known: datasets)"
        ))),
    }
}

/// The state hooks: nothing to do for this brand in any state, but the
/// arguments must be what zoneadm sends (states 2-7, known commands).
fn state_change(change: &StateChange) -> Result<(), Failure> {
    if !(2..=7).contains(&change.state) {
        return Err(Failure::usage(format!(
            "state change: unknown zone state {}",
            change.state
        )));
    }
    if change.cmd > 7 {
        return Err(Failure::usage(format!(
            "state change: unknown zoneadm command {}",
            change.cmd
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_names() {
        for ok in ["z1", "oxz_ntp", "a.b-c", &"a".repeat(63)] {
            assert!(check_zone_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-z", ".z", "a/b", "a b", "ä", &"a".repeat(64)] {
            assert!(check_zone_name(bad).is_err(), "{bad:?}");
        }
    }
}
