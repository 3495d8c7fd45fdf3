//! Delegated datasets that mount at `/data` inside a zone: the contract's
//! rules, `dataset check`, `dataset setup`, and their enforcement at
//! `verify_cfg` and `install`. (being written)

use omicron1_zfs::Zfs;

use crate::cli::DatasetVerb;
use crate::exit::Failure;
use crate::install::Zone;
use crate::settings::Settings;
use crate::zonecfg::ZoneConfig;

/// `omicron1 dataset check|setup ...`.
pub fn run(_zfs: &dyn Zfs, _settings: &Settings, _verb: DatasetVerb) -> Result<(), Failure> {
    Err(Failure::not_implemented("dataset"))
}

/// `verify_cfg`: the zone's delegated datasets against the rules.
pub fn verify_config(_zfs: &dyn Zfs, _settings: &Settings, _config: &ZoneConfig) -> Result<(), Failure> {
    Ok(())
}

/// `install`: refuse a zone whose delegated datasets would make it fail to boot
/// or share data. Runs before anything is made, so a refusal leaves nothing.
pub fn check_for_install(_zfs: &dyn Zfs, _settings: &Settings, _zone: &Zone) -> Result<(), String> {
    Ok(())
}
