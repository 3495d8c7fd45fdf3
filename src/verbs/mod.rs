//! The verbs: the only place with exit codes, argument checks and reports.
//!
//! [`main`] parses the command line, reads the settings once, runs the verb
//! and prints its error — each cause once, one line per problem — and maps
//! the outcome to the exit code the contract gives. Below this folder, code
//! takes typed values (a [`Zone`], a template [`Site`](crate::template::Site))
//! and returns typed errors; it never sees a clap type or an exit code.

pub(crate) mod baseline;
pub(crate) mod dataset;
pub(crate) mod exit;
pub(crate) mod hooks;
pub(crate) mod image;
pub(crate) mod install;
pub(crate) mod settings;
pub(crate) mod template;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use omicron1_zfs::CliZfs;

use crate::cli::{BaselineVerb, Cli, ImageVerb, Verb};
use crate::support::{log, output, signals};
use crate::zone::{Zone, ZoneName};
use exit::{Exit, Failure};
use settings::Settings;

/// Parses the process arguments, runs the verb, logs the call and returns the
/// exit code.
pub fn main() -> ExitCode {
    log::init_tracing();
    signals::install_handlers();
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let settings = Settings::from_env();
    let outcome = match Cli::try_parse_from(&argv) {
        Ok(cli) => run(cli, &settings),
        Err(e) => {
            use clap::error::ErrorKind;
            let _ = e.print();
            match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => return ExitCode::SUCCESS,
                _ => Err(Failure::usage("invalid arguments")),
            }
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
    log::record_call(&settings.run_dir, &argv, code, message.as_deref());
    ExitCode::from(code)
}

/// Runs the verb on the command line.
pub(crate) fn run(cli: Cli, settings: &Settings) -> Result<(), Failure> {
    let Cli {
        zone,
        zonepath,
        verb,
    } = cli;
    let zfs = CliZfs::new();
    let z = |verb: &str| zone_args(verb, &zone, &zonepath);
    match verb {
        Verb::Install { images } => install::install(&zfs, settings, z("install")?, &images),
        Verb::Uninstall { force } => hooks::uninstall(&zfs, settings, &z("uninstall")?, force),
        Verb::VerifyCfg { xml } => hooks::verify_cfg(&zfs, settings, &xml),
        Verb::VerifyAdm { subcommand, args } => {
            hooks::verify_adm(&z("verify_adm")?, &subcommand, &args)
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
        Verb::Attach { args } => hooks::attach(&zfs, &z("attach")?, &args),
        Verb::Detach { args } => hooks::detach(&z("detach")?, &args),
        Verb::Template(verb) => template::run(&zfs, settings, verb),
        Verb::Dataset(verb) => dataset::run(&zfs, settings, verb),
        Verb::Image(ImageVerb::Inspect { image, json }) => image::inspect(&image, json),
        Verb::Baseline(BaselineVerb::Create {
            root,
            include,
            gzonly,
            output,
        }) => baseline::create(&root, &include, gzonly.as_deref(), &output),
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
        return Err(Failure::usage(format!(
            "{verb} needs -z ZONE and -R ZONEPATH before the verb"
        )));
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
