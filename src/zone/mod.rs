//! Zones as the brand sees them: a validated [`ZoneName`], the [`Zone`] a hook
//! acts on, and the zone configuration zonecfg writes ([`config`]).

pub mod config;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

pub use config::{BrandProblem, ZoneConfig, ZoneConfigError, ZoneConfigs};

/// The longest zone name illumos accepts (`ZONENAME_MAX` less the NUL).
const ZONENAME_MAX: usize = 63;

/// A zone name as zonecfg accepts it: a letter or digit first, then letters,
/// digits, `-`, `_` and `.`, at most 63 bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ZoneName(String);

/// Why a string is not a zone name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid zone name {0:?}: use letters, digits, '-', '_' and '.', starting with a \
     letter or digit, at most {ZONENAME_MAX} characters"
)]
pub struct ZoneNameError(pub String);

impl ZoneName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ZoneName {
    type Err = ZoneNameError;
    fn from_str(name: &str) -> Result<Self, ZoneNameError> {
        let ok_first = name.starts_with(|c: char| c.is_ascii_alphanumeric());
        let ok_rest = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if name.is_empty() || name.len() > ZONENAME_MAX || !ok_first || !ok_rest {
            return Err(ZoneNameError(name.to_string()));
        }
        Ok(ZoneName(name.to_string()))
    }
}

impl fmt::Display for ZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The zone a hook acts on, from `-z` and `-R`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    /// Its name.
    pub name: ZoneName,
    /// Its zonepath (absolute).
    pub zonepath: PathBuf,
}

impl Zone {
    /// Where the zone's root file system is: `ZONEPATH/root`.
    pub fn root_path(&self) -> PathBuf {
        self.zonepath.join(ROOT)
    }
}

/// The zone root's name below the zonepath, as a folder and as a dataset.
pub const ROOT: &str = "root";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_names() {
        for ok in ["z1", "oxz_ntp", "a.b-c", &"a".repeat(63)] {
            assert!(ok.parse::<ZoneName>().is_ok(), "{ok}");
        }
        for bad in ["", "-z", ".z", "a/b", "a b", "ä", &"a".repeat(64)] {
            assert!(bad.parse::<ZoneName>().is_err(), "{bad:?}");
        }
    }
}
