//! Making a baseline archive (`omicron1 baseline create`) from a root tree
//! and a list of the paths to include.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::{self, File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::baseline::{parse_list, read_list, BaselineError, FILES, GZONLY};
use super::beneath::{self, Reached};
use crate::image::path::{METADATA_NAME, ROOT_NAME};

/// The metadata of a baseline archive, byte for byte.
pub const METADATA: &str = r#"{"v":"1","t":"baseline"}"#;

/// The mode of the files [`create`] writes.
const OUTPUT_MODE: u32 = 0o644;

/// What [`create`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateStats {
    /// Entries under `root/` (directories, files and symlinks; `oxide.json`
    /// not counted).
    pub entries: u64,
    /// Bytes of file contents archived.
    pub bytes: u64,
}

/// Makes a baseline (`omicron1 baseline create`): writes `out_dir/files.tar.gz`
/// with `oxide.json` first, then each path listed in `include` (relative to
/// `root`, one per line; a directory brings its whole subtree) as
/// `root/<path>`, parent directories first, with owners, modes and times, and
/// symlinks as symlinks (never followed); and `out_dir/gzonly.txt`, a copy of
/// the `gzonly` list once validated (empty without one).
///
/// Lists follow [`read_gzonly`]'s rules; a listed path that does not exist,
/// or that goes through a symlink, is an error naming it. Sockets, FIFOs and
/// devices are left out with a warning. Both files are written to temporary
/// files in `out_dir` (made if needed) and renamed into place, `files.tar.gz`
/// last, so a failed run leaves no half-written archive.
pub fn create(
    root: &Path,
    include: &Path,
    gzonly: Option<&Path>,
    out_dir: &Path,
) -> Result<CreateStats, BaselineError> {
    let listed = read_list(include)?;
    let gzonly_text = match gzonly {
        Some(list) => {
            let text = fs::read(list).map_err(|source| BaselineError::Read {
                path: list.to_path_buf(),
                source,
            })?;
            parse_list(list, &text)?;
            text
        }
        None => Vec::new(),
    };
    // Every listed path must be there before anything is written.
    for (line, rel) in &listed {
        check_listed(root, rel, include, *line)?;
    }

    fs::create_dir_all(out_dir).map_err(|source| BaselineError::Write {
        path: out_dir.to_path_buf(),
        source,
    })?;
    let files_path = out_dir.join(FILES);
    let gzonly_path = out_dir.join(GZONLY);
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BaselineError::Write { path, source }
    };

    let archive = tempfile::NamedTempFile::new_in(out_dir).map_err(write_error(&files_path))?;
    let encoder = flate2::write::GzEncoder::new(archive, flate2::Compression::default());
    let mut writer = ArchiveWriter {
        root,
        builder: tar::Builder::new(encoder),
        added: HashSet::new(),
        stats: CreateStats::default(),
    };
    writer.metadata().map_err(write_error(&files_path))?;
    for (_, rel) in &listed {
        writer.add_listed(rel)?;
    }
    let stats = writer.stats;
    let archive = writer
        .builder
        .into_inner()
        .and_then(|encoder| encoder.finish())
        .map_err(write_error(&files_path))?;

    let mut list = tempfile::NamedTempFile::new_in(out_dir).map_err(write_error(&gzonly_path))?;
    list.write_all(&gzonly_text)
        .map_err(write_error(&gzonly_path))?;

    for (file, path) in [(list, &gzonly_path), (archive, &files_path)] {
        let f = file.as_file();
        f.set_permissions(fs::Permissions::from_mode(OUTPUT_MODE))
            .and_then(|()| f.sync_all())
            .map_err(write_error(path))?;
        file.persist(path).map_err(|e| BaselineError::Write {
            path: path.clone(),
            source: e.error,
        })?;
    }
    Ok(stats)
}

/// Checks that `root/rel` exists and is reached through directories only.
fn check_listed(root: &Path, rel: &Path, list: &Path, line: usize) -> Result<(), BaselineError> {
    let walked = beneath::walk(root, rel).map_err(|e| BaselineError::Read {
        path: e.path,
        source: e.source,
    })?;
    match walked {
        Reached::Found { .. } => Ok(()),
        Reached::Absent => Err(BaselineError::Missing {
            path: root.join(rel),
            list: list.to_path_buf(),
            line,
        }),
        Reached::Blocked { at, .. } => Err(BaselineError::NotThroughDirectories {
            path: root.join(rel),
            through: at,
            list: list.to_path_buf(),
            line,
        }),
    }
}

/// Writes the baseline archive's entries.
struct ArchiveWriter<'a, W: Write> {
    /// The tree files are taken from.
    root: &'a Path,
    /// The tar stream.
    builder: tar::Builder<W>,
    /// Paths (relative to `root`) already in the archive, so that a path
    /// listed twice, or inside a listed directory, is added once.
    added: HashSet<PathBuf>,
    /// What was written.
    stats: CreateStats,
}

impl<W: Write> ArchiveWriter<'_, W> {
    /// Writes `oxide.json`, the first entry.
    fn metadata(&mut self) -> io::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(METADATA.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        header.set_mtime(now);
        self.builder.append_data(
            &mut header,
            Path::new(OsStr::from_bytes(METADATA_NAME)),
            METADATA.as_bytes(),
        )
    }

    /// Adds a listed path: its parent directories not yet added, then itself,
    /// then, for a directory, everything under it, depth first in name order.
    fn add_listed(&mut self, rel: &Path) -> Result<(), BaselineError> {
        let mut parent = PathBuf::new();
        let components: Vec<_> = rel.components().collect();
        for component in &components[..components.len().saturating_sub(1)] {
            parent.push(component);
            self.add(&parent)?;
        }
        let mut pending = vec![rel.to_path_buf()];
        while let Some(rel) = pending.pop() {
            let is_dir = self.add(&rel)?;
            if is_dir {
                let dir = self.root.join(&rel);
                let read_error = |source| BaselineError::Read {
                    path: dir.clone(),
                    source,
                };
                let mut names = Vec::new();
                for entry in fs::read_dir(&dir).map_err(read_error)? {
                    names.push(entry.map_err(read_error)?.file_name());
                }
                // Reversed, so that popping takes them in name order.
                names.sort_unstable_by(|a, b| b.cmp(a));
                pending.extend(names.into_iter().map(|name| rel.join(name)));
            }
        }
        Ok(())
    }

    /// Adds `root/rel` as `root/<rel>` unless it is already in; returns
    /// whether it is a directory (whose contents are still to be added).
    fn add(&mut self, rel: &Path) -> Result<bool, BaselineError> {
        if self.added.contains(rel) {
            return Ok(false);
        }
        let path = self.root.join(rel);
        let name = Path::new(OsStr::from_bytes(ROOT_NAME)).join(rel);
        let archive_error = |source| BaselineError::Archive {
            path: path.clone(),
            name: name.clone(),
            source,
        };
        let md = fs::symlink_metadata(&path).map_err(archive_error)?;
        let file_type = md.file_type();
        let mut header = header_for(&md);
        let is_dir = if file_type.is_dir() {
            self.builder
                .append_data(&mut header, &name, io::empty())
                .map_err(archive_error)?;
            true
        } else if file_type.is_symlink() {
            let target = fs::read_link(&path).map_err(archive_error)?;
            self.builder
                .append_link(&mut header, &name, &target)
                .map_err(archive_error)?;
            false
        } else if file_type.is_file() {
            let file = File::open(&path).map_err(archive_error)?;
            let size = md.len();
            let contents = ExactReader {
                inner: file.take(size),
                remaining: size,
            };
            self.builder
                .append_data(&mut header, &name, contents)
                .map_err(archive_error)?;
            self.stats.bytes += size;
            false
        } else {
            let kind = if file_type.is_socket() {
                "socket"
            } else if file_type.is_fifo() {
                "FIFO"
            } else {
                "device or other special file"
            };
            tracing::warn!("leaving {} out of the baseline: a {kind}", path.display());
            self.added.insert(rel.to_path_buf());
            return Ok(false);
        };
        self.added.insert(rel.to_path_buf());
        self.stats.entries += 1;
        Ok(is_dir)
    }
}

/// A tar header with all of `md`'s metadata: type, mode, owner, times, size.
fn header_for(md: &Metadata) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_metadata_in_mode(md, tar::HeaderMode::Complete);
    header
}

/// Reads exactly `remaining` bytes, failing if the file ends early (it shrank
/// after its size went into the header), which would corrupt the archive.
struct ExactReader<R> {
    /// The file, limited to the size in the header.
    inner: R,
    /// Bytes still due.
    remaining: u64,
}

impl<R: Read> Read for ExactReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.remaining > 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file shrank while being archived",
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_reader_fails_on_a_short_file() {
        let mut short = ExactReader {
            inner: &b"abc"[..],
            remaining: 5,
        };
        let mut out = Vec::new();
        let err = io::copy(&mut short, &mut out).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        let mut exact = ExactReader {
            inner: &b"abc"[..],
            remaining: 3,
        };
        assert_eq!(io::copy(&mut exact, &mut out).unwrap(), 3);
    }
}
