//! `install [IMAGE...]`: the install pipeline, its exit code (254 when the
//! rollback left nothing, 255 when it did) and its timings.

use std::path::PathBuf;
use std::time::Instant;

use omicron1_zfs::CliZfs;

use super::exit::{Exit, Failure};
use super::hooks::delegated_failure;
use super::settings::Settings;
use crate::support::timings;
use crate::zone::Zone;
use crate::zone_root::install;
use crate::zone_root::ZoneRootError;

/// Installs `zone` from this boot's template and `images`.
pub(crate) fn install(
    zfs: &CliZfs,
    settings: &Settings,
    zone: Zone,
    images: &[PathBuf],
) -> Result<(), Failure> {
    let started = Instant::now();
    let result = install::install(zfs, &settings.host(), &zone, images).map_err(|f| {
        let exit = if f.leftovers.is_empty() {
            Exit::NotComplete
        } else {
            Exit::Fatal
        };
        match *f.error {
            ZoneRootError::Delegated(e) => delegated_failure(exit, e),
            error => Failure::new(exit, error),
        }
    });
    let processes = zfs.runner().processes_started();
    timings::write_if_requested(
        "install",
        Some(zone.name.as_str()),
        started.elapsed(),
        processes,
    );
    result
}
