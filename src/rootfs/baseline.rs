//! Baseline archives, and the list of global-zone-only files.
//!
//! A baseline holds what a zone needs beyond the replicated `usr`, `lib` and
//! `sbin` trees: pristine configuration and data (`/etc`, `/var`, ...). It is
//! two files in one folder:
//!
//! - `files.tar.gz`, a gzip tar whose first entry is `oxide.json`
//!   (`{"v":"1","t":"baseline"}`) and whose files are under `root/`;
//! - `gzonly.txt`, paths relative to the zone root, one per line, of files
//!   that the global zone's trees hold but a zone must not (`etc/zones/index`).
//!
//! This module finds a baseline, reads and applies the global-zone-only list,
//! and computes the digest that names a baseline in a template's properties.
//! Making one is [`super::baseline_archive`]'s job, unpacking it the image
//! extractor's.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::beneath::{self, clean_relative, Reached, Unclean};

/// The baseline archive's file name.
pub const FILES: &str = "files.tar.gz";

/// The global-zone-only list's file name.
pub const GZONLY: &str = "gzonly.txt";

/// A baseline found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Baseline {
    /// Its `files.tar.gz`.
    pub files: PathBuf,
    /// Its `gzonly.txt`, which may not exist (then the list is empty).
    pub gzonly: PathBuf,
}

/// Why a baseline could not be found, read, applied or made. Each names the
/// file, and the line where one is to blame.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// No candidate folder holds `files.tar.gz`.
    #[error("no baseline archive ({FILES}) in {}", folders(tried))]
    NotFound {
        /// Every folder looked in, in order.
        tried: Vec<PathBuf>,
    },
    /// A file or folder could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// What was read.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// A line of a path list is not a relative path inside the root.
    #[error("{} line {line}: {entry:?} {problem}", list.display())]
    BadLine {
        /// The list file.
        list: PathBuf,
        /// The line number, from 1.
        line: usize,
        /// The line's text.
        entry: String,
        /// What is wrong with it.
        problem: Unclean,
    },
    /// A path given to [`remove_gzonly`] is not a relative path inside the root.
    #[error("{}: expected a relative path without '..'", path.display())]
    BadPath {
        /// The path.
        path: PathBuf,
    },
    /// A path listed for the archive is not under the root.
    #[error("{} (listed in {} line {line}) does not exist", path.display(), list.display())]
    Missing {
        /// The path under the root.
        path: PathBuf,
        /// The list file.
        list: PathBuf,
        /// The line number, from 1.
        line: usize,
    },
    /// A path listed for the archive goes through a symlink or a file.
    #[error(
        "{} (listed in {} line {line}): {} is not a directory (symlinks are not followed)",
        path.display(),
        list.display(),
        through.display()
    )]
    NotThroughDirectories {
        /// The path under the root.
        path: PathBuf,
        /// The component on the way that is not a directory.
        through: PathBuf,
        /// The list file.
        list: PathBuf,
        /// The line number, from 1.
        line: usize,
    },
    /// A global-zone-only path could not be removed.
    #[error("cannot remove {}", path.display())]
    Remove {
        /// The path.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// A file could not be added to the archive.
    #[error("cannot archive {} as {}", path.display(), name.display())]
    Archive {
        /// The file under the root.
        path: PathBuf,
        /// Its name in the archive.
        name: PathBuf,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// An output file could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The output file.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: io::Error,
    },
}

/// Lists folders for an error message.
fn folders(dirs: &[PathBuf]) -> String {
    if dirs.is_empty() {
        return "no folder (none given)".to_string();
    }
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first of `dirs` that holds `files.tar.gz`. Its `gzonly.txt` may be
/// absent (then the list is empty). An error names every folder tried.
pub fn find(dirs: &[PathBuf]) -> Result<Baseline, BaselineError> {
    for dir in dirs {
        let files = dir.join(FILES);
        match fs::metadata(&files) {
            Ok(md) if md.is_file() => {
                return Ok(Baseline {
                    files,
                    gzonly: dir.join(GZONLY),
                });
            }
            Ok(_) => tracing::debug!("{} is not a file", files.display()),
            Err(e) if beneath::is_absent(&e) => {}
            Err(source) => {
                return Err(BaselineError::Read {
                    path: files,
                    source,
                })
            }
        }
    }
    Err(BaselineError::NotFound {
        tried: dirs.to_vec(),
    })
}

/// Reads a `gzonly.txt`: one path per line, relative to the zone root; blank
/// lines and lines starting with `#` are skipped, a leading `./` is dropped.
/// An absolute path or a `..` component is an error naming the file and the
/// line. A file that does not exist is an empty list (a baseline need not
/// have one).
pub fn read_gzonly(path: &Path) -> Result<Vec<PathBuf>, BaselineError> {
    match read_list(path) {
        Ok(lines) => Ok(lines.into_iter().map(|(_, p)| p).collect()),
        Err(BaselineError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            Ok(Vec::new())
        }
        Err(e) => Err(e),
    }
}

/// Reads a path list (the `--include` list, or a `gzonly.txt`): each path
/// with its line number, validated and made of normal components only.
pub(super) fn read_list(path: &Path) -> Result<Vec<(usize, PathBuf)>, BaselineError> {
    let text = fs::read(path).map_err(|source| BaselineError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_list(path, &text)
}

/// Parses the path list `text`, read from `path` (named in errors).
pub(super) fn parse_list(path: &Path, text: &[u8]) -> Result<Vec<(usize, PathBuf)>, BaselineError> {
    let mut paths = Vec::new();
    for (index, raw) in text.split(|&b| b == b'\n').enumerate() {
        let line = trim(raw);
        if line.is_empty() || line.starts_with(b"#") {
            continue;
        }
        let bad = |problem| BaselineError::BadLine {
            list: path.to_path_buf(),
            line: index + 1,
            entry: String::from_utf8_lossy(line).into_owned(),
            problem,
        };
        let entry = Path::new(std::ffi::OsStr::from_bytes(line));
        paths.push((index + 1, clean_relative(entry).map_err(bad)?));
    }
    Ok(paths)
}

/// `bytes` without leading and trailing ASCII white space (a `\r` included).
fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// Removes each of `paths` (relative to `root`) that is there: a file, a
/// symlink (itself, never its target) or a whole directory. A path whose
/// parent goes through a symlink is skipped and logged, so nothing outside
/// `root` is touched; a missing path is fine. Returns how many were removed.
pub fn remove_gzonly(root: &Path, paths: &[PathBuf]) -> Result<usize, BaselineError> {
    let mut removed = 0;
    for rel in paths {
        let rel = clean_relative(rel).map_err(|_| BaselineError::BadPath { path: rel.clone() })?;
        if remove_beneath(root, &rel)? {
            tracing::debug!("removed global-zone-only {}", rel.display());
            removed += 1;
        }
    }
    Ok(removed)
}

/// Removes `root/rel` if it is there and reached through directories only.
fn remove_beneath(root: &Path, rel: &Path) -> Result<bool, BaselineError> {
    let walked = beneath::walk(root, rel).map_err(|e| BaselineError::Remove {
        path: e.path,
        source: e.source,
    })?;
    match walked {
        Reached::Found { path, metadata } => beneath::remove(&path, &metadata)
            .map_err(|source| BaselineError::Remove { path, source }),
        Reached::Absent => Ok(false),
        Reached::Blocked { at, symlink } => {
            if symlink {
                tracing::warn!(
                    "not removing global-zone-only {}: {} is a symlink",
                    rel.display(),
                    at.display()
                );
            }
            Ok(false)
        }
    }
}

/// The baseline's identity for templates: the sha256 (lowercase hex) of
/// `files.tar.gz`'s bytes followed by `gzonly.txt`'s (none if it is absent).
pub fn digest(b: &Baseline) -> Result<String, BaselineError> {
    let mut hasher = Sha256::new();
    hash_file(&mut hasher, &b.files, false)?;
    hash_file(&mut hasher, &b.gzonly, true)?;
    Ok(hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect())
}

/// Feeds a file's bytes to `hasher`; an absent file adds nothing if
/// `absent_ok`.
fn hash_file(hasher: &mut Sha256, path: &Path, absent_ok: bool) -> Result<(), BaselineError> {
    let read_error = |source| BaselineError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if absent_ok && e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(read_error(e)),
    };
    let mut buf = vec![0; 1 << 16];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(e)),
        };
        hasher.update(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_names_every_folder() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        let err = find(&[a.clone(), b.clone()]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&a.display().to_string()), "{text}");
        assert!(text.contains(&b.display().to_string()), "{text}");
    }
}
