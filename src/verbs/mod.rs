//! The verbs: the only place with exit codes, argument checks and reports.
//!
//! [`main`] parses the command line, reads the settings once, runs the verb
//! and prints its error — each cause once, one line per problem — and maps
//! the outcome to the exit code the contract gives. Below this folder, code
//! takes typed values (a [`Zone`], a template [`Site`](crate::template::Site))
//! and returns typed errors; it never sees a clap type or an exit code.

pub(crate) mod baseline;
pub(crate) mod dataset;
pub(crate) mod doctor;
pub(crate) mod exit;
pub(crate) mod help;
pub(crate) mod hooks;
pub(crate) mod image;
pub(crate) mod install;
pub(crate) mod schema;
pub(crate) mod settings;
pub(crate) mod template;
pub(crate) mod zone;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use omicron1_zfs::CliZfs;

use crate::cli::{BaselineVerb, Cli, ImageVerb, Verb};
use crate::props;
use crate::support::{log, output, signals};
use crate::zone::{Zone, ZoneName};
use exit::{BoxError, Exit, Failure};
use settings::Settings;

/// Parses the process arguments, reads the settings, runs the verb, logs the
/// call and returns the exit code.
pub fn main() -> ExitCode {
    let started = Instant::now();
    signals::install_handlers();
    let argv: Vec<OsString> = std::env::args_os().collect();
    let settings = Settings::from_env();
    log::init_tracing(
        settings
            .as_ref()
            .map_or(settings::LogLevel::WARN, |s| s.log_level),
    );
    let (cli, outcome) = match help::parse(&argv) {
        help::Parsed::Printed => return ExitCode::SUCCESS,
        help::Parsed::Refused(f) => (None, Err(f)),
        help::Parsed::Cli(cli) => {
            let names = (verb_name(&cli.verb), cli.zone.clone());
            let outcome = match &settings {
                Ok(s) => run(cli, s),
                Err(errors) => Err(Failure::several(
                    Exit::Usage,
                    errors
                        .iter()
                        .map(|e| BoxError::from(e.to_string()))
                        .collect(),
                )),
            };
            (Some(names), outcome)
        }
    };
    let (code, message) = match &outcome {
        Ok(()) => (Exit::Ok.code(), None),
        Err(f) => {
            for line in f.lines() {
                output::error(line);
            }
            (f.exit.code(), Some(f.to_string()))
        }
    };
    let run_dir = match &settings {
        Ok(s) => Some(s.run_dir.clone()),
        Err(_) => Settings::run_dir_despite_errors(),
    };
    if let Some(run_dir) = run_dir {
        let (verb, zone) = cli.unwrap_or_default();
        let record = schema::CallRecord {
            time: props::now_rfc3339(),
            pid: std::process::id(),
            verb,
            zone,
            argv: argv
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            exit: code,
            ms: started.elapsed().as_millis() as u64,
            error: message,
        };
        log::record_call(&run_dir, &record);
    }
    ExitCode::from(code)
}

/// The verb's name as the call log records it (`template list`, `install`).
fn verb_name(verb: &Verb) -> String {
    use crate::cli::{DatasetVerb, TemplateVerb, ZoneVerb};
    let name = match verb {
        Verb::Zone(ZoneVerb::List { .. }) => "zone list",
        Verb::Zone(ZoneVerb::Show { .. }) => "zone show",
        Verb::Template(TemplateVerb::Build { .. }) => "template build",
        Verb::Template(TemplateVerb::List { .. }) => "template list",
        Verb::Template(TemplateVerb::Gc { .. }) => "template gc",
        Verb::Dataset(DatasetVerb::Check { .. }) => "dataset check",
        Verb::Dataset(DatasetVerb::Setup { .. }) => "dataset setup",
        Verb::Image(ImageVerb::Inspect { .. }) => "image inspect",
        Verb::Baseline(BaselineVerb::Create { .. }) => "baseline create",
        Verb::Doctor { .. } => "doctor",
        Verb::Install { .. } => "install",
        Verb::Uninstall { .. } => "uninstall",
        Verb::VerifyCfg { .. } => "verify_cfg",
        Verb::VerifyAdm { .. } => "verify_adm",
        Verb::Query { .. } => "query",
        Verb::PreStateChange(_) => "prestatechange",
        Verb::PostStateChange(_) => "poststatechange",
        Verb::Clone { .. } => "clone",
        Verb::Attach { .. } => "attach",
        Verb::Detach { .. } => "detach",
    };
    name.to_string()
}

/// Runs the verb on the command line.
pub(crate) fn run(cli: Cli, settings: &Settings) -> Result<(), Failure> {
    let Cli {
        zone,
        zonepath,
        verb,
    } = cli;
    crate::template::lock::set_wait_timeout(settings.lock_timeout);
    crate::image::Limits::set_configured(settings.image_limits);
    let zfs = CliZfs::new();
    let z = |verb: &str| zone_args(verb, &zone, &zonepath);
    match verb {
        Verb::Zone(verb) => zone::run(&zfs, settings, verb),
        Verb::Template(verb) => template::run(&zfs, settings, verb),
        Verb::Dataset(verb) => dataset::run(&zfs, settings, verb),
        Verb::Image(ImageVerb::Inspect { image, json }) => image::inspect(&image, json),
        Verb::Baseline(BaselineVerb::Create {
            root,
            include,
            gzonly,
            output,
            json,
        }) => baseline::create(&root, &include, gzonly.as_deref(), &output, json),
        Verb::Doctor { json } => doctor::run(&zfs, settings, json),
        Verb::Install { images } => install::install(&zfs, settings, z("install")?, &images),
        Verb::Uninstall { force } => hooks::uninstall(&zfs, settings, &z("uninstall")?, force),
        Verb::VerifyCfg { xml } => hooks::verify_cfg(&zfs, settings, &xml),
        Verb::VerifyAdm { subcommand, args } => {
            // `attach -n PATH` (a dry run) comes with `-z - -R -`.
            let name = match zone.as_deref() {
                Some("-") => "-".to_string(),
                _ => z("verify_adm")?.name.to_string(),
            };
            hooks::verify_adm(&name, &subcommand, &args)
        }
        Verb::Query { what } => {
            z("query")?;
            hooks::query(&what)
        }
        Verb::PreStateChange(change) => {
            z("prestatechange")?;
            hooks::state_change(&change)
        }
        Verb::PostStateChange(change) => {
            z("poststatechange")?;
            hooks::state_change(&change)
        }
        Verb::Clone {
            snapshot,
            source_zone,
        } => hooks::clone(
            &zfs,
            settings,
            &z("clone")?,
            &source_zone,
            snapshot.as_deref(),
        ),
        // `zoneadm attach -n PATH` (a dry run) runs the hook with `-z - -R -`.
        Verb::Attach { args } if zone.as_deref() == Some("-") => hooks::attach_dry_run(&args),
        Verb::Attach { args } => hooks::attach(&zfs, &z("attach")?, &args),
        Verb::Detach { args } => hooks::detach(&z("detach")?, &args),
    }
}

/// A zone name from the command line; 253 if it is not one.
pub(crate) fn zone_name(name: &str) -> Result<ZoneName, Failure> {
    name.parse().map_err(|e| Failure::new(Exit::Usage, e))
}

/// The zone a hook acts on, from `-z` and `-R`.
fn zone_args(
    verb: &str,
    zone: &Option<String>,
    zonepath: &Option<PathBuf>,
) -> Result<Zone, Failure> {
    let (Some(name), Some(zonepath)) = (zone, zonepath) else {
        return Err(Failure::usage(help::needs_zone(verb)));
    };
    let name = zone_name(name)?;
    if !zonepath.is_absolute() {
        return Err(Failure::usage(format!(
            "zonepath {} is not absolute",
            zonepath.display()
        )));
    }
    Ok(Zone {
        name,
        zonepath: zonepath.clone(),
    })
}

/// A failure with exit 254: the call failed and left nothing behind.
pub(crate) fn not_complete(e: impl Into<exit::BoxError>) -> Failure {
    Failure::new(Exit::NotComplete, e)
}
