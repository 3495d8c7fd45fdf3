//! The bound on what one image may write, whatever the file system's quota.
//!
//! A layer of a few megabytes can expand a thousandfold, and the zone root may
//! have no quota (nor a copy-fallback root on the pool's own dataset). So every
//! image is charged, as it is read, [`ENTRY_CHARGE`] bytes for each entry and
//! the bytes of its data (as stored: a sparse file's holes are free), and one
//! that would pass [`Limits::max_bytes`] is refused before the entry that would
//! pass it is written; a sparse file may not be larger than the bound either.
//! The bound is `OMICRON1_IMAGE_MAX_BYTES` (bytes), [`DEFAULT_MAX_BYTES`] unless set.

/// What each entry is charged besides its data: one tar header block, about
/// what a new inode costs.
pub const ENTRY_CHARGE: u64 = 512;

/// The default bound on one image's expansion: 16 GiB.
pub const DEFAULT_MAX_BYTES: u64 = 16 << 30;

/// The environment variable that sets [`Limits::max_bytes`].
pub const MAX_BYTES_VAR: &str = "OMICRON1_IMAGE_MAX_BYTES";

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
    /// The limits set in the environment ([`MAX_BYTES_VAR`]); a value that is
    /// not a positive whole number of bytes is ignored with a warning.
    pub fn from_env() -> Self {
        Self::from_value(std::env::var(MAX_BYTES_VAR).ok().as_deref())
    }

    /// The limits for this value of [`MAX_BYTES_VAR`] (`None`: unset).
    pub fn from_value(value: Option<&str>) -> Self {
        match value.map(str::trim).filter(|v| !v.is_empty()) {
            None => Limits::default(),
            Some(v) => match v.parse::<u64>() {
                Ok(n) if n > 0 => Limits { max_bytes: n },
                _ => {
                    tracing::warn!(
                        "{MAX_BYTES_VAR}={v:?} is not a positive number of bytes; \
                         using the default, {DEFAULT_MAX_BYTES}"
                    );
                    Limits::default()
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(Limits::from_value(None).max_bytes, DEFAULT_MAX_BYTES);
        assert_eq!(Limits::from_value(Some("")).max_bytes, DEFAULT_MAX_BYTES);
        assert_eq!(Limits::from_value(Some("4096")).max_bytes, 4096);
        assert_eq!(Limits::from_value(Some(" 10 ")).max_bytes, 10);
        for bad in ["0", "-1", "1G", "x", "18446744073709551616"] {
            assert_eq!(
                Limits::from_value(Some(bad)).max_bytes,
                DEFAULT_MAX_BYTES,
                "{bad}"
            );
        }
    }
}
