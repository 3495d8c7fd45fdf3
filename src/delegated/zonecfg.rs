//! zonecfg: the commands that delegate a dataset to a zone, as text for a
//! person and run for `dataset setup --apply`.

use std::path::Path;

use super::facts::quoted;
use crate::support::command::{self, CommandError};

/// zonecfg, which only illumos has.
pub const ZONECFG: &str = "/usr/sbin/zonecfg";

/// A dataset name as a zonecfg word (quoted if it holds a space).
fn zonecfg_word(dataset: &str) -> String {
    if dataset.contains(' ') {
        format!("\"{dataset}\"")
    } else {
        dataset.to_string()
    }
}

/// The zonecfg commands that delegate `dataset`.
pub fn add_dataset_script(dataset: &str) -> String {
    format!(
        "add dataset; set name={}; end; commit",
        zonecfg_word(dataset)
    )
}

/// `zonecfg -z ZONE 'add dataset; set name=DATASET; end; commit'`.
pub fn zonecfg_add(zone: &str, dataset: &str) -> String {
    format!(
        "zonecfg -z {} '{}'",
        quoted(zone),
        add_dataset_script(dataset)
    )
}

/// `zonecfg -z ZONE 'remove dataset name=DATASET; commit'`.
pub fn zonecfg_remove(zone: &str, dataset: &str) -> String {
    format!(
        "zonecfg -z {} 'remove dataset name={}; commit'",
        quoted(zone),
        zonecfg_word(dataset)
    )
}

/// Whether this system has zonecfg.
pub fn available() -> bool {
    Path::new(ZONECFG).exists()
}

/// Runs `zonecfg -z ZONE 'add dataset; set name=DATASET; end; commit'`.
pub fn add_dataset(zone: &str, dataset: &str) -> Result<(), CommandError> {
    command::run(
        Path::new(ZONECFG),
        ["-z", zone, &add_dataset_script(dataset)],
    )
    .map(drop)
}
