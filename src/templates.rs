//! `omicron1 template build|list|gc`: templates as an administrator sees them.
//! (being written)

use omicron1_zfs::Zfs;

use crate::cli::TemplateVerb;
use crate::exit::Failure;
use crate::settings::Settings;

/// Runs a `template` verb.
pub fn run(_zfs: &dyn Zfs, _settings: &Settings, _verb: TemplateVerb) -> Result<(), Failure> {
    Err(Failure::not_implemented("template"))
}
