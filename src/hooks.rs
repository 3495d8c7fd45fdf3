//! One function per verb. Each checks what it needs from the command line and
//! returns a [`Failure`] with the exit code the contract gives.

use std::path::{Path, PathBuf};

use crate::cli::{Cli, StateChange, Verb};
use crate::exit::Failure;
use crate::settings::Settings;

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
    let ok_rest = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if name.is_empty() || name.len() > ZONENAME_MAX || !ok_first || !ok_rest {
        return Err(Failure::usage(format!(
            "invalid zone name {name:?}: use letters, digits, '-', '_' and '.', starting with a \
             letter or digit, at most {ZONENAME_MAX} characters"
        )));
    }
    Ok(())
}

fn zone_args(verb: &str, zone: &Option<String>, zonepath: &Option<PathBuf>) -> Result<ZoneArgs, Failure> {
    let (Some(name), Some(zonepath)) = (zone, zonepath) else {
        return Err(Failure::usage(format!("{verb} needs -z ZONE and -R ZONEPATH before the verb")));
    };
    check_zone_name(name)?;
    if !zonepath.is_absolute() {
        return Err(Failure::usage(format!("zonepath {} is not absolute", zonepath.display())));
    }
    Ok(ZoneArgs { name: name.clone(), zonepath: zonepath.clone() })
}

/// Runs the verb on the command line.
pub fn run(cli: Cli, _settings: &Settings) -> Result<(), Failure> {
    let Cli { zone, zonepath, verb } = cli;
    match verb {
        Verb::Install { .. } => {
            zone_args("install", &zone, &zonepath)?;
            Err(Failure::not_implemented("install"))
        }
        Verb::Uninstall { .. } => {
            zone_args("uninstall", &zone, &zonepath)?;
            Err(Failure::not_implemented("uninstall"))
        }
        Verb::VerifyCfg { xml } => verify_cfg(&xml),
        Verb::VerifyAdm { .. } => {
            zone_args("verify_adm", &zone, &zonepath)?;
            Err(Failure::not_implemented("verify_adm"))
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
        Verb::Clone { .. } => {
            zone_args("clone", &zone, &zonepath)?;
            Err(Failure::not_implemented("clone"))
        }
        Verb::Attach { .. } => {
            zone_args("attach", &zone, &zonepath)?;
            Err(Failure::not_implemented("attach"))
        }
        Verb::Detach { .. } => {
            zone_args("detach", &zone, &zonepath)?;
            Err(Failure::not_implemented("detach"))
        }
        Verb::Template(_) => Err(Failure::not_implemented("template")),
        Verb::Dataset(_) => Err(Failure::not_implemented("dataset")),
        Verb::Image(_) => Err(Failure::not_implemented("image")),
        Verb::Baseline(_) => Err(Failure::not_implemented("baseline")),
    }
}

fn verify_cfg(xml: &Path) -> Result<(), Failure> {
    if !xml.is_file() {
        return Err(Failure::usage(format!("verify_cfg: {} is not a readable file", xml.display())));
    }
    Err(Failure::not_implemented("verify_cfg"))
}

/// `query datasets`: the zone gets no implicit datasets, so nothing is printed.
fn query(what: &str) -> Result<(), Failure> {
    match what {
        "datasets" => Ok(()),
        other => Err(Failure::usage(format!("query: unknown question {other:?} (known: datasets)"))),
    }
}

/// The state hooks: nothing to do for this brand in any state, but the
/// arguments must be what zoneadm sends (states 2-7, known commands).
fn state_change(change: &StateChange) -> Result<(), Failure> {
    if !(2..=7).contains(&change.state) {
        return Err(Failure::usage(format!("state change: unknown zone state {}", change.state)));
    }
    if change.cmd > 7 {
        return Err(Failure::usage(format!("state change: unknown zoneadm command {}", change.cmd)));
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
