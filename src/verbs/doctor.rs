//! `doctor [--json]`: whether this host can install zones.

use omicron1_zfs::Zfs;

use super::exit::Failure;
use super::settings::Settings;

/// `omicron1 doctor [--json]`.
pub(crate) fn run(_zfs: &dyn Zfs, _settings: &Settings, _json: bool) -> Result<(), Failure> {
    Ok(())
}
