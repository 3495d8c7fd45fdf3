//! The settings of the contract's "Settings" table, read from the environment.
//! Defaults are for a real system; tests override them.

use std::path::PathBuf;

use crate::rootfs::replicate::Mode;
use crate::rootfs::SourcePlaces;
use crate::template::Site;
use crate::zone_root::install::Host;

/// Where things are, for one call.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Where `usr`, `lib` and `sbin` are replicated from (`OMICRON1_SOURCE_ROOT`).
    pub source_root: PathBuf,
    /// Candidate folders holding `files.tar.gz` and `gzonly.txt`, first wins
    /// (`OMICRON1_BASELINE_DIR`).
    pub baseline_dirs: Vec<PathBuf>,
    /// Where zonecfg's `ZONE.xml` files are (`OMICRON1_ZONES_DIR`).
    pub zones_dir: PathBuf,
    /// What "this boot" means for templates (`OMICRON1_BOOT_ID`); `None` means
    /// ask the running system.
    pub boot_id: Option<String>,
    /// Locks, the call log and other per-boot state (`OMICRON1_RUN_DIR`).
    pub run_dir: PathBuf,
    /// How system trees are replicated (`OMICRON1_REPLICATE`): `split` (shared
    /// objects and executables become symlinks into `/system`, the default) or
    /// `copy` (copy every file, for systems without the `/system` mounts).
    pub replicate_mode: Mode,
    /// Copy threads for replication (`OMICRON1_COPY_THREADS`, a positive
    /// integer); `None` means one per CPU, between 2 and 16. A value that is
    /// not a positive integer is ignored with a warning.
    pub copy_threads: Option<usize>,
}

impl Settings {
    /// Reads the settings from the process environment.
    pub(crate) fn from_env() -> Self {
        Self::from_lookup(|k| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
    }

    /// Reads the settings through `lookup` (the environment, or a table in tests).
    pub(crate) fn from_lookup(lookup: impl Fn(&str) -> Option<PathBuf>) -> Self {
        Settings {
            source_root: lookup("OMICRON1_SOURCE_ROOT").unwrap_or_else(|| "/".into()),
            baseline_dirs: match lookup("OMICRON1_BASELINE_DIR") {
                Some(dir) => vec![dir],
                None => vec![
                    "/var/run/brand/omicron1/baseline".into(),
                    "/usr/lib/brand/omicron1/baseline".into(),
                ],
            },
            zones_dir: lookup("OMICRON1_ZONES_DIR").unwrap_or_else(|| "/etc/zones".into()),
            boot_id: lookup("OMICRON1_BOOT_ID").map(|p| p.to_string_lossy().into_owned()),
            run_dir: lookup("OMICRON1_RUN_DIR").unwrap_or_else(|| "/var/run/brand/omicron1".into()),
            replicate_mode: match lookup("OMICRON1_REPLICATE") {
                Some(m) if m.as_os_str() == "copy" => Mode::CopyAll,
                _ => Mode::Split,
            },
            copy_threads: lookup("OMICRON1_COPY_THREADS").and_then(|v| {
                match v.to_str().and_then(|s| s.parse::<usize>().ok()) {
                    Some(n) if n > 0 => Some(n),
                    _ => {
                        tracing::warn!(
                            "OMICRON1_COPY_THREADS={} is not a positive integer: ignored",
                            v.display()
                        );
                        None
                    }
                }
            }),
        }
    }
}

impl Settings {
    /// What templates need: the run directory, the boot, the baseline folders.
    pub(crate) fn site(&self) -> Site {
        Site {
            run_dir: self.run_dir.clone(),
            boot_id: self.boot_id.clone(),
            baseline_dirs: self.baseline_dirs.clone(),
        }
    }

    /// Where the system trees and baseline are, and how to copy them.
    pub(crate) fn sources(&self) -> SourcePlaces {
        SourcePlaces {
            source_root: self.source_root.clone(),
            baseline_dirs: self.baseline_dirs.clone(),
            mode: self.replicate_mode,
            threads: self.copy_threads,
        }
    }

    /// What an install reads of this host.
    pub(crate) fn host(&self) -> Host {
        Host {
            zones_dir: self.zones_dir.clone(),
            site: self.site(),
            sources: self.sources(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_for_a_real_system() {
        let s = Settings::from_lookup(|_| None);
        assert_eq!(s.source_root, PathBuf::from("/"));
        assert_eq!(s.baseline_dirs.len(), 2);
        assert_eq!(
            s.baseline_dirs[0],
            PathBuf::from("/var/run/brand/omicron1/baseline")
        );
        assert_eq!(s.zones_dir, PathBuf::from("/etc/zones"));
        assert_eq!(s.boot_id, None);
        assert_eq!(s.run_dir, PathBuf::from("/var/run/brand/omicron1"));
        assert_eq!(s.copy_threads, None);
    }

    #[test]
    fn environment_overrides() {
        let s = Settings::from_lookup(|k| match k {
            "OMICRON1_BASELINE_DIR" => Some("/b".into()),
            "OMICRON1_BOOT_ID" => Some("boot-1".into()),
            "OMICRON1_COPY_THREADS" => Some("3".into()),
            _ => None,
        });
        assert_eq!(s.baseline_dirs, vec![PathBuf::from("/b")]);
        assert_eq!(s.boot_id.as_deref(), Some("boot-1"));
        assert_eq!(s.copy_threads, Some(3));
    }

    #[test]
    fn copy_threads_must_be_a_positive_integer() {
        for bad in ["0", "-1", "two", "1.5"] {
            let s = Settings::from_lookup(|k| (k == "OMICRON1_COPY_THREADS").then(|| bad.into()));
            assert_eq!(s.copy_threads, None, "{bad}");
        }
    }
}
