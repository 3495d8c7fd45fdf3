//! The zoneadm hooks other than install: uninstall, clone, attach, detach,
//! `verify_cfg`, `verify_adm`, `query` and the state-change hooks.

use std::path::Path;

use omicron1_zfs::Zfs;

use super::exit::{BoxError, Exit, Failure};
use super::settings::Settings;
use super::{not_complete, zone_name};
use crate::cli::StateChange;
use crate::delegated::{self, DelegatedError};
use crate::support::output::info;
use crate::zone::{Zone, ZoneConfig};
use crate::zone_root::{self, clone, uninstall};

/// `uninstall [-F]`.
pub(crate) fn uninstall(
    zfs: &dyn Zfs,
    settings: &Settings,
    zone: &Zone,
    force: bool,
) -> Result<(), Failure> {
    uninstall::uninstall(zfs, &settings.site(), zone, force).map_err(not_complete)
}

/// `clone [-s SNAP] SOURCE`.
pub(crate) fn clone(
    zfs: &dyn Zfs,
    settings: &Settings,
    zone: &Zone,
    source_zone: &str,
    snapshot: Option<&str>,
) -> Result<(), Failure> {
    let source_zone = zone_name(source_zone)?;
    clone::clone(zfs, &settings.zones_dir, zone, &source_zone, snapshot).map_err(not_complete)
}

/// `attach [OPTIONS]`.
pub(crate) fn attach(zfs: &dyn Zfs, zone: &Zone, args: &[String]) -> Result<(), Failure> {
    tracing::debug!("attach options {args:?}");
    zone_root::attach(zfs, zone).map_err(not_complete)
}

/// `detach [OPTIONS]`: the zone's root stays where it is.
pub(crate) fn detach(zone: &Zone, args: &[String]) -> Result<(), Failure> {
    tracing::debug!("detach options {args:?}");
    info(format_args!(
        "detached zone {}: its root stays in place for attach",
        zone.name
    ));
    Ok(())
}

/// A delegated-dataset failure: every broken rule its own line, in order.
pub(crate) fn delegated_failure(exit: Exit, e: DelegatedError) -> Failure {
    match e {
        DelegatedError::Broken(problems) => Failure::several(
            exit,
            problems
                .into_iter()
                .map(|p| Box::new(p) as BoxError)
                .collect(),
        ),
        other => Failure::new(exit, other),
    }
}

/// `verify_cfg XML`: the configuration must be readable, well-formed, for this
/// brand and with an exclusive IP stack, and its delegated datasets must keep
/// the rules. Every broken rule is reported, in order.
pub(crate) fn verify_cfg(zfs: &dyn Zfs, settings: &Settings, xml: &Path) -> Result<(), Failure> {
    if !xml.is_file() {
        return Err(Failure::usage(format!(
            "verify_cfg: {} is not a readable file",
            xml.display()
        )));
    }
    let config = ZoneConfig::read(xml).map_err(not_complete)?;
    let problems = config.brand_problems();
    if problems.is_empty() {
        return delegated::verify_config(zfs, &settings.zones_dir, &config)
            .map_err(|e| delegated_failure(Exit::NotComplete, e));
    }
    Err(Failure::several(
        Exit::NotComplete,
        problems
            .into_iter()
            .map(|p| Box::new(p) as BoxError)
            .collect(),
    ))
}

/// `verify_adm SUBCMD [ARGS]`: for install, every image given must be readable;
/// other subcommands need nothing from this brand.
pub(crate) fn verify_adm(zone: &Zone, subcommand: &str, args: &[String]) -> Result<(), Failure> {
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

/// `query datasets`: the zone gets no implicit datasets, so nothing is printed.
pub(crate) fn query(what: &str) -> Result<(), Failure> {
    match what {
        "datasets" => Ok(()),
        other => Err(Failure::usage(format!(
            "query: unknown question {other:?} (known: datasets)"
        ))),
    }
}

/// The state hooks: nothing to do for this brand in any state, but the
/// arguments must be what zoneadm sends (states 2-7, known commands).
pub(crate) fn state_change(change: &StateChange) -> Result<(), Failure> {
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
    use omicron1_zfs::runner::Runner;
    use omicron1_zfs::CliZfs;

    /// The binary always runs `/usr/sbin/zfs`; here the runner is given one
    /// that is not there, as on a system without ZFS.
    #[test]
    fn without_a_zfs_binary_the_reason_is_printed_once() {
        let dir = tempfile::tempdir().unwrap();
        let zfs = CliZfs::with_runner(Runner::new(
            dir.path().join("no/zfs"),
            dir.path().join("no/zpool"),
        ));
        let run = dir.path().join("run");
        let settings = Settings::from_lookup(|k| (k == "OMICRON1_RUN_DIR").then(|| run.clone()));
        let zone = Zone {
            name: "z1".parse().unwrap(),
            zonepath: dir.path().to_path_buf(),
        };
        let failure = uninstall(&zfs, &settings, &zone, false).unwrap_err();
        assert_eq!(failure.exit, Exit::NotComplete);
        let lines = failure.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        assert!(
            line.contains("no/zfs list") && line.contains("could not be started"),
            "{line}"
        );
        assert_eq!(
            line.matches("No such file or directory").count(),
            1,
            "{line}"
        );
    }
}
