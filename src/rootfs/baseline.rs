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
//! computes the digest that names a baseline in a template's properties, and
//! makes baselines (`omicron1 baseline create`). Unpacking the archive is the
//! image extractor's job.

use std::collections::HashSet;
use std::fs::{self, File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

/// The baseline archive's file name.
pub const FILES: &str = "files.tar.gz";

/// The global-zone-only list's file name.
pub const GZONLY: &str = "gzonly.txt";

/// The metadata file that comes first in every archive.
pub const METADATA_NAME: &str = "oxide.json";

/// The metadata of a baseline archive, byte for byte.
pub const METADATA: &str = r#"{"v":"1","t":"baseline"}"#;

/// The folder, inside the archive, that holds the files of the zone root.
pub const ROOT_DIR: &str = "root";

/// The mode of the files [`create`] writes.
const OUTPUT_MODE: u32 = 0o644;

/// A baseline found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Baseline {
    /// Its `files.tar.gz`.
    pub files: PathBuf,
    /// Its `gzonly.txt`, which may not exist (then the list is empty).
    pub gzonly: PathBuf,
}

/// What [`create`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateStats {
    /// Entries under `root/` (directories, files and symlinks; `oxide.json`
    /// not counted).
    pub entries: u64,
    /// Bytes of file contents archived.
    pub bytes: u64,
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
        problem: &'static str,
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
            Err(e) if is_absent(&e) => {}
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

/// Whether an error means "not there" (the file or a folder on its way).
fn is_absent(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(nix::libc::ENOTDIR)
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
fn read_list(path: &Path) -> Result<Vec<(usize, PathBuf)>, BaselineError> {
    let text = fs::read(path).map_err(|source| BaselineError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_list(path, &text)
}

/// Parses the path list `text`, read from `path` (named in errors).
fn parse_list(path: &Path, text: &[u8]) -> Result<Vec<(usize, PathBuf)>, BaselineError> {
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

/// `path` as normal components only, or what is wrong with it: absolute,
/// containing `..`, or naming the root itself.
fn clean_relative(path: &Path) -> Result<PathBuf, &'static str> {
    let mut clean = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(c) => clean.push(c),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => {
                return Err("is absolute: paths are relative to the root");
            }
            Component::ParentDir => return Err("contains '..'"),
        }
    }
    if clean.as_os_str().is_empty() {
        return Err("names the root itself");
    }
    Ok(clean)
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
    let mut path = root.to_path_buf();
    let mut components = rel.components().peekable();
    while let Some(component) = components.next() {
        path.push(component);
        let md = match fs::symlink_metadata(&path) {
            Ok(md) => md,
            Err(e) if is_absent(&e) => return Ok(false),
            Err(source) => return Err(BaselineError::Remove { path, source }),
        };
        if components.peek().is_some() {
            if md.file_type().is_symlink() {
                tracing::warn!(
                    "not removing global-zone-only {}: {} is a symlink",
                    rel.display(),
                    path.display()
                );
                return Ok(false);
            }
            if !md.is_dir() {
                return Ok(false);
            }
            continue;
        }
        let result = if md.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        return match result {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(BaselineError::Remove { path, source }),
        };
    }
    Ok(false)
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
    let full = root.join(rel);
    let mut path = root.to_path_buf();
    let mut components = rel.components().peekable();
    while let Some(component) = components.next() {
        path.push(component);
        let md = match fs::symlink_metadata(&path) {
            Ok(md) => md,
            Err(e) if is_absent(&e) => {
                return Err(BaselineError::Missing {
                    path: full,
                    list: list.to_path_buf(),
                    line,
                })
            }
            Err(source) => return Err(BaselineError::Read { path, source }),
        };
        if components.peek().is_some() && !md.is_dir() {
            return Err(BaselineError::NotThroughDirectories {
                path: full,
                through: path,
                list: list.to_path_buf(),
                line,
            });
        }
    }
    Ok(())
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
        self.builder
            .append_data(&mut header, METADATA_NAME, METADATA.as_bytes())
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
        let name = Path::new(ROOT_DIR).join(rel);
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
    fn list_paths_are_relative_without_dotdot() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("etc/passwd", Ok("etc/passwd")),
            ("./etc/passwd", Ok("etc/passwd")),
            ("etc//zones/./index", Ok("etc/zones/index")),
            ("etc/", Ok("etc")),
            (
                "/etc/passwd",
                Err("is absolute: paths are relative to the root"),
            ),
            ("etc/../../x", Err("contains '..'")),
            ("..", Err("contains '..'")),
            (".", Err("names the root itself")),
        ];
        for (input, expected) in cases {
            let got = clean_relative(Path::new(input));
            assert_eq!(got, expected.map(PathBuf::from), "{input:?}");
        }
    }

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
