//! The bound on what one image may write, whatever the file system's quota.
//!
//! A layer of a few megabytes can expand a thousandfold, and the zone root may
//! have no quota (nor a copy-fallback root on the pool's own dataset). So every
//! image is charged, as it is read, [`ENTRY_CHARGE`] bytes for each entry and
//! the bytes of its data (as stored: a sparse file's holes are free), and one
//! that would pass [`Limits::max_bytes`] is refused before the entry that would
//! pass it is written; a sparse file may not be larger than the bound either.
//! The bound is the setting `OMICRON1_IMAGE_MAX_BYTES` (bytes), validated with
//! the others by `verbs::settings` and handed here once per process with
//! [`Limits::set_configured`]; [`DEFAULT_MAX_BYTES`] unless set.

use std::sync::OnceLock;

/// What each entry is charged besides its data: one tar header block, about
/// what a new inode costs.
pub const ENTRY_CHARGE: u64 = 512;

/// The latest modification time accepted: the last second of year 9999.
/// Times before 1970 are refused too, the same from the header (base-256) as
/// from a PAX record.
pub const MAX_MTIME: i64 = 253_402_300_799;

/// The default bound on one image's expansion: 16 GiB.
pub const DEFAULT_MAX_BYTES: u64 = 16 << 30;

/// The limits this process was configured with (see [`Limits::set_configured`]).
static CONFIGURED: OnceLock<Limits> = OnceLock::new();

/// Bounds on the work one image may cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most one image may expand to: [`ENTRY_CHARGE`] per entry plus its
    /// data, every entry of the archive counted (also `oxide.json` and entries
    /// outside `root/`, which are read too); also the largest sparse file.
    pub max_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

impl Limits {
    /// Sets the limits every later unpack and inspection of this process uses
    /// (the first call wins): the verbs call it once with the validated setting.
    pub fn set_configured(limits: Limits) {
        let _ = CONFIGURED.set(limits);
    }

    /// The limits this process was configured with, or the defaults.
    pub fn configured() -> Self {
        CONFIGURED.get().copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unconfigured_is_the_default() {
        assert_eq!(Limits::default().max_bytes, DEFAULT_MAX_BYTES);
        assert_eq!(DEFAULT_MAX_BYTES, 17_179_869_184);
    }
}
