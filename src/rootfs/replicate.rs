//! Replication of a system tree (`usr`, `lib` or `sbin`) into a template.
//!
//! The original brand copied these trees into every zone at install time. We do
//! it once per boot, into the template dataset that zones are cloned from, so
//! this module only sees two directories: the source root (the global zone's
//! `/`, or `OMICRON1_SOURCE_ROOT`) and the template's root.
//!
//! In [`Mode::Split`] (the original brand's way) programs, shared objects and
//! the large `share/man` and `share/locale` trees are not copied: each becomes
//! a *relative* symlink into `/system`, where the zone sees the global zone's
//! own `/usr`, `/lib` and `/sbin` mounted read-only. Programs and libraries
//! must match the running kernel (they share Private interfaces with it, see
//! omicron1(7), LIMITATIONS), so the zone uses the very same files; everything
//! else is copied so that images can replace or edit it. The links are
//! relative (`../../system/usr/bin/ls` for `usr/bin/ls`) so that they resolve
//! to `/system/...` inside the zone, and to nothing of the host's while the
//! template is being built or inspected from the global zone.
//!
//! [`Mode::CopyAll`] copies every regular file, for systems where the
//! `/system` mounts are absent.
//!
//! The walk never follows a symlink and never crosses into another file
//! system; copies run on worker threads fed by the walk. Nothing is fsynced:
//! the template is snapshotted once built, and rebuilt if a crash interrupts it.

use std::fs::{self, File, FileTimes, Metadata, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::stat::{utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;

use super::beneath::{self, clean_relative, Reached};

/// The directory, at the zone root, where the global zone's trees are mounted
/// read-only (`/system/usr`, `/system/lib`, `/system/sbin`).
pub const SYSTEM_DIR: &str = "system";

/// The fewest copy threads [`default_threads`] returns.
const MIN_THREADS: usize = 2;

/// The most copy threads [`default_threads`] returns: copying is bound by the
/// disks, and more threads than this only add contention.
const MAX_THREADS: usize = 16;

/// How many copy jobs may wait for a worker, per worker, before the walk
/// blocks: enough to keep workers busy, little enough to bound memory.
const QUEUE_PER_THREAD: usize = 64;

/// Which regular files are copied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// Programs, shared objects and `share/man`, `share/locale` become relative
    /// symlinks into `/system`; every other regular file is copied.
    #[default]
    Split,
    /// Every regular file is copied (for when the `/system` mounts are absent).
    CopyAll,
}

/// What [`replicate_tree`] did, for progress messages and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeStats {
    /// Regular files copied.
    pub files: u64,
    /// Bytes copied.
    pub bytes: u64,
    /// Regular files replaced by a symlink into `/system` ([`Mode::Split`]).
    pub links: u64,
    /// Symlinks of the source tree recreated verbatim.
    pub symlinks: u64,
    /// Directories created or merged into (the tree's root included).
    pub dirs: u64,
    /// Sockets, FIFOs, device nodes and other special files left out.
    pub skipped: u64,
    /// How long the replication took.
    pub elapsed: Duration,
}

/// Why a tree could not be replicated or pruned. Each names the paths involved.
#[derive(Debug, thiserror::Error)]
pub enum ReplicateError {
    /// A signal arrived; the caller rolls back.
    #[error(transparent)]
    Interrupted(#[from] crate::support::signals::Interrupted),
    /// The tree name is not one plain directory name.
    #[error("invalid tree name {tree:?}: expected one plain directory name such as \"usr\"")]
    BadTree {
        /// The name given.
        tree: String,
    },
    /// SOURCE_ROOT/TREE does not exist.
    #[error("source tree {} does not exist", path.display())]
    MissingSource {
        /// SOURCE_ROOT/TREE.
        path: PathBuf,
    },
    /// SOURCE_ROOT/TREE is neither a directory nor a symlink.
    #[error("source tree {} is not a directory", path.display())]
    NotADirectory {
        /// SOURCE_ROOT/TREE.
        path: PathBuf,
    },
    /// A source directory, entry or symlink could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The source path.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// A regular file could not be copied.
    #[error("cannot copy {} to {}", from.display(), to.display())]
    Copy {
        /// The source file.
        from: PathBuf,
        /// The destination file.
        to: PathBuf,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// A directory could not be created.
    #[error("cannot create directory {} (for {})", to.display(), from.display())]
    Dir {
        /// The source directory.
        from: PathBuf,
        /// The destination directory.
        to: PathBuf,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// A symlink could not be created.
    #[error(
        "cannot make symlink {} -> {} (for {})",
        to.display(),
        target.display(),
        from.display()
    )]
    Symlink {
        /// The source file or symlink.
        from: PathBuf,
        /// The symlink to create.
        to: PathBuf,
        /// Its target text.
        target: PathBuf,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// Owner, mode or times could not be set.
    #[error("cannot set owner, mode and times of {} (from {})", to.display(), from.display())]
    Attributes {
        /// The source whose attributes are copied.
        from: PathBuf,
        /// The destination.
        to: PathBuf,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// Something in the way at the destination could not be removed.
    #[error("cannot remove {} to replace it with {}", to.display(), from.display())]
    Replace {
        /// The source that replaces it.
        from: PathBuf,
        /// The destination in the way.
        to: PathBuf,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// The path given to [`prune`] is absolute, contains `..` or is empty.
    #[error("cannot prune {}: expected a relative path without '..'", path.display())]
    BadPrunePath {
        /// The path given.
        path: PathBuf,
    },
    /// A path could not be pruned.
    #[error("cannot remove {}", path.display())]
    Remove {
        /// The path being removed.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: io::Error,
    },
}

/// How many copy threads to use: the available parallelism, between 2 and 16.
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(MIN_THREADS)
        .clamp(MIN_THREADS, MAX_THREADS)
}

/// Replicates SOURCE_ROOT/TREE (TREE is `"usr"`, `"lib"` or `"sbin"`) into
/// DEST_ROOT/TREE, copying regular files on `threads` worker threads (at
/// least one).
///
/// Directories get the source's owner, mode and times; symlinks are recreated
/// with the same target text and owner; regular files are copied with owner,
/// mode (setuid included) and times, or, in [`Mode::Split`], made relative
/// symlinks into `/system` (see the module documentation). Special files are
/// skipped with a warning. If DEST_ROOT/TREE exists it is merged into: what is
/// in the way of a source entry is replaced, and the rest is left alone. If
/// SOURCE_ROOT/TREE is itself a symlink (`sbin -> usr/sbin`), it is recreated.
pub fn replicate_tree(
    source_root: &Path,
    tree: &str,
    dest_root: &Path,
    mode: Mode,
    threads: usize,
) -> Result<TreeStats, ReplicateError> {
    let start = Instant::now();
    if !is_plain_name(tree) {
        return Err(ReplicateError::BadTree {
            tree: tree.to_string(),
        });
    }
    let src = source_root.join(tree);
    let dest = dest_root.join(tree);
    let md = match fs::symlink_metadata(&src) {
        Ok(md) => md,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(ReplicateError::MissingSource { path: src });
        }
        Err(source) => return Err(ReplicateError::Read { path: src, source }),
    };
    let mut stats = TreeStats::default();
    if md.file_type().is_symlink() {
        copy_symlink(&src, &dest, &md)?;
        stats.symlinks = 1;
    } else if md.is_dir() {
        replicate_dir(
            &src,
            &dest,
            &md,
            PathBuf::from(tree),
            mode,
            threads.max(1),
            &mut stats,
        )?;
    } else {
        return Err(ReplicateError::NotADirectory { path: src });
    }
    stats.elapsed = start.elapsed();
    tracing::debug!(
        "replicated {} into {}: {stats:?}",
        src.display(),
        dest.display()
    );
    Ok(stats)
}

/// Removes DEST_ROOT/REL (e.g. `lib/svc/manifest`) recursively if it is
/// there, without following symlinks: a symlink at REL is removed itself, and
/// if a directory on the way to REL is a symlink, nothing is removed. Returns
/// whether something was removed.
pub fn prune(dest_root: &Path, rel: &Path) -> Result<bool, ReplicateError> {
    let rel_clean = clean_relative(rel).map_err(|_| ReplicateError::BadPrunePath {
        path: rel.to_path_buf(),
    })?;
    let walked = beneath::walk(dest_root, &rel_clean).map_err(|e| ReplicateError::Remove {
        path: e.path,
        source: e.source,
    })?;
    match walked {
        Reached::Found { path, metadata } => beneath::remove(&path, &metadata)
            .map_err(|source| ReplicateError::Remove { path, source }),
        Reached::Absent => Ok(false),
        Reached::Blocked { at, .. } => {
            // Not there without following a symlink (or a file is in the way).
            tracing::debug!(
                "not pruning {}: {} is not a directory",
                rel.display(),
                at.display()
            );
            Ok(false)
        }
    }
}

/// Whether a file name is a shared object's: one of its dot-separated parts
/// after the first is `so` (`libc.so.1`, `foo.so`, `ld.so.1`), so that names
/// like `foo.sort` or `x.socket` are not taken for one.
fn is_shared_object(name: &[u8]) -> bool {
    name.split(|&b| b == b'.').skip(1).any(|part| part == b"so")
}

/// Whether `rel` (relative to the zone root) lies under a `share/man` or
/// `share/locale` directory.
fn is_under_man_or_locale(rel: &Path) -> bool {
    let parts: Vec<_> = rel.components().map(|c| c.as_os_str()).collect();
    let dirs = &parts[..parts.len().saturating_sub(1)];
    dirs.windows(2)
        .any(|w| w[0] == "share" && (w[1] == "man" || w[1] == "locale"))
}

/// Whether, in [`Mode::Split`], the regular file at `rel` (relative to the
/// zone root) becomes a symlink into `/system` rather than a copy.
fn links_to_system(rel: &Path, md: &Metadata) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let executable = md.mode() & 0o111 != 0;
    let shared = rel
        .file_name()
        .is_some_and(|n| is_shared_object(n.as_bytes()));
    executable || shared || is_under_man_or_locale(rel)
}

/// The text of the symlink that stands at `rel` (relative to the zone root)
/// for the global zone's file: one `..` per directory above it, then
/// `system/rel`. For `usr/bin/ls`, `../../system/usr/bin/ls`.
pub fn system_link(rel: &Path) -> PathBuf {
    let depth = rel.components().count().saturating_sub(1);
    let mut target = PathBuf::new();
    for _ in 0..depth {
        target.push("..");
    }
    target.push(SYSTEM_DIR);
    target.push(rel);
    target
}

/// Whether `name` is a single normal path component.
fn is_plain_name(name: &str) -> bool {
    let mut components = Path::new(name).components();
    matches!((components.next(), components.next()), (Some(Component::Normal(n)), None) if n == name)
}

/// Removes whatever is at `path` (a directory with its contents, or one file
/// or symlink, never followed); nothing there is fine.
fn remove_existing(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(md) if md.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Makes `to` a symlink with the text `target`, replacing what is there.
fn make_symlink(from: &Path, to: &Path, target: &Path) -> Result<(), ReplicateError> {
    remove_existing(to).map_err(|source| ReplicateError::Replace {
        from: from.to_path_buf(),
        to: to.to_path_buf(),
        source,
    })?;
    std::os::unix::fs::symlink(target, to).map_err(|source| ReplicateError::Symlink {
        from: from.to_path_buf(),
        to: to.to_path_buf(),
        target: target.to_path_buf(),
        source,
    })
}

/// Recreates the symlink `from` at `to` with the same text, owner and times.
fn copy_symlink(from: &Path, to: &Path, md: &Metadata) -> Result<(), ReplicateError> {
    let target = fs::read_link(from).map_err(|source| ReplicateError::Read {
        path: from.to_path_buf(),
        source,
    })?;
    make_symlink(from, to, &target)?;
    let attributes = || -> io::Result<()> {
        std::os::unix::fs::lchown(to, Some(md.uid()), Some(md.gid()))?;
        let atime = TimeSpec::new(md.atime() as _, md.atime_nsec() as _);
        let mtime = TimeSpec::new(md.mtime() as _, md.mtime_nsec() as _);
        utimensat(None, to, &atime, &mtime, UtimensatFlags::NoFollowSymlink)?;
        Ok(())
    };
    attributes().map_err(|source| ReplicateError::Attributes {
        from: from.to_path_buf(),
        to: to.to_path_buf(),
        source,
    })
}

/// Gives the open file or directory `file` the owner, mode (setuid, setgid
/// and sticky bits included) and times in `md`. The owner is set first, as
/// changing it may clear the setuid bit.
fn set_attributes(file: &File, md: &Metadata) -> io::Result<()> {
    std::os::unix::fs::fchown(file, Some(md.uid()), Some(md.gid()))?;
    file.set_permissions(Permissions::from_mode(md.mode() & 0o7777))?;
    let times = FileTimes::new()
        .set_accessed(md.accessed()?)
        .set_modified(md.modified()?);
    file.set_times(times)
}

/// One regular file for a worker to copy.
struct CopyJob {
    /// The source file.
    from: PathBuf,
    /// The destination, replaced if it exists.
    to: PathBuf,
    /// The source's metadata, from the walk.
    md: Metadata,
}

/// Copies one regular file, replacing what is at the destination (never
/// writing through a symlink there); returns the bytes copied.
fn copy_file(job: &CopyJob) -> Result<u64, ReplicateError> {
    let copy_error = |source| ReplicateError::Copy {
        from: job.from.clone(),
        to: job.to.clone(),
        source,
    };
    remove_existing(&job.to).map_err(|source| ReplicateError::Replace {
        from: job.from.clone(),
        to: job.to.clone(),
        source,
    })?;
    let mut src = OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&job.from)
        .map_err(copy_error)?;
    // `create_new` (O_EXCL) never follows a symlink that appeared meanwhile.
    let mut dst = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&job.to)
        .map_err(copy_error)?;
    // On Linux, io::copy between files uses copy_file_range.
    let bytes = io::copy(&mut src, &mut dst).map_err(copy_error)?;
    set_attributes(&dst, &job.md).map_err(|source| ReplicateError::Attributes {
        from: job.from.clone(),
        to: job.to.clone(),
        source,
    })?;
    Ok(bytes)
}

/// A copy worker: takes jobs until the walk is done. After the first error
/// (its own or another's, seen through `failed`) it only drains the queue, so
/// the walk never blocks. Returns the files and bytes it copied.
fn copy_worker(
    jobs: &Mutex<mpsc::Receiver<CopyJob>>,
    failed: &AtomicBool,
) -> Result<(u64, u64), ReplicateError> {
    let (mut files, mut bytes) = (0, 0);
    let mut first_error = None;
    loop {
        // Only a panic while holding the lock poisons it; the queue is still fine.
        let job = match jobs.lock() {
            Ok(queue) => queue.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        let Ok(job) = job else { break };
        if failed.load(Ordering::Relaxed) {
            continue;
        }
        match copy_file(&job) {
            Ok(n) => {
                files += 1;
                bytes += n;
            }
            Err(e) => {
                failed.store(true, Ordering::Relaxed);
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok((files, bytes)),
    }
}

/// Replicates the directory `src` (whose metadata is `md`, at `rel` from the
/// zone root) into `dest`, with copies on `threads` workers.
fn replicate_dir(
    src: &Path,
    dest: &Path,
    md: &Metadata,
    rel: PathBuf,
    mode: Mode,
    threads: usize,
    stats: &mut TreeStats,
) -> Result<(), ReplicateError> {
    let failed = AtomicBool::new(false);
    let (sender, receiver) = mpsc::sync_channel::<CopyJob>(threads * QUEUE_PER_THREAD);
    let receiver = Mutex::new(receiver);
    let mut walk = Walk {
        mode,
        root_dev: md.dev(),
        stats,
        dirs: Vec::new(),
    };
    let (walked, copied) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| scope.spawn(|| copy_worker(&receiver, &failed)))
            .collect();
        let walked = walk.run(src, dest, md, rel, &sender, &failed);
        if walked.is_err() {
            failed.store(true, Ordering::Relaxed);
        }
        // Closing the queue ends the workers once they have emptied it.
        drop(sender);
        let copied: Vec<_> = workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect();
        (walked, copied)
    });
    walked?;
    for result in copied {
        let (files, bytes) = result?;
        walk.stats.files += files;
        walk.stats.bytes += bytes;
    }
    // Directory times last, now that nothing more is created in them; the
    // deepest first, in case a mode takes away the write bit.
    for (from, to, md) in walk.dirs.iter().rev() {
        let attributes = || -> io::Result<()> {
            let dir = OpenOptions::new()
                .read(true)
                .custom_flags(nix::libc::O_DIRECTORY | nix::libc::O_NOFOLLOW)
                .open(to)?;
            set_attributes(&dir, md)
        };
        attributes().map_err(|source| ReplicateError::Attributes {
            from: from.clone(),
            to: to.clone(),
            source,
        })?;
    }
    Ok(())
}

/// The walk of one tree: it makes directories and symlinks itself and feeds
/// regular files to the copy workers.
struct Walk<'a> {
    /// Which files are copied.
    mode: Mode,
    /// The tree root's device: the walk does not descend into another.
    root_dev: u64,
    /// What was done.
    stats: &'a mut TreeStats,
    /// Directories made, in walk order, with their source and metadata, to
    /// give them their attributes once everything is in them.
    dirs: Vec<(PathBuf, PathBuf, Metadata)>,
}

impl Walk<'_> {
    /// Walks `src` (the tree's root) depth first, one directory open at a time,
    /// until done, an error, or a worker's error (seen through `failed`, whose
    /// error the worker returns).
    fn run(
        &mut self,
        src: &Path,
        dest: &Path,
        md: &Metadata,
        rel: PathBuf,
        jobs: &mpsc::SyncSender<CopyJob>,
        failed: &AtomicBool,
    ) -> Result<(), ReplicateError> {
        self.make_dir(src, dest, md)?;
        let mut pending = vec![(src.to_path_buf(), dest.to_path_buf(), rel)];
        while let Some((src_dir, dest_dir, rel_dir)) = pending.pop() {
            let entries = fs::read_dir(&src_dir).map_err(|source| ReplicateError::Read {
                path: src_dir.clone(),
                source,
            })?;
            for entry in entries {
                if failed.load(Ordering::Relaxed) {
                    return Ok(());
                }
                crate::support::signals::check()?;
                crate::support::faults::point("replicate-entry");
                let entry = entry.map_err(|source| ReplicateError::Read {
                    path: src_dir.clone(),
                    source,
                })?;
                let from = entry.path();
                let to = dest_dir.join(entry.file_name());
                let rel = rel_dir.join(entry.file_name());
                // DirEntry::metadata does not follow symlinks.
                let md = entry.metadata().map_err(|source| ReplicateError::Read {
                    path: from.clone(),
                    source,
                })?;
                let file_type = md.file_type();
                if file_type.is_dir() {
                    self.make_dir(&from, &to, &md)?;
                    if md.dev() == self.root_dev {
                        pending.push((from, to, rel));
                    } else {
                        tracing::debug!("not crossing into the file system at {}", from.display());
                    }
                } else if file_type.is_symlink() {
                    copy_symlink(&from, &to, &md)?;
                    self.stats.symlinks += 1;
                } else if file_type.is_file() {
                    if self.mode == Mode::Split && links_to_system(&rel, &md) {
                        make_symlink(&from, &to, &system_link(&rel))?;
                        self.stats.links += 1;
                    } else if jobs.send(CopyJob { from, to, md }).is_err() {
                        // Every worker is gone: only a panic does that, and
                        // the scope passes it on.
                        return Ok(());
                    }
                } else {
                    tracing::warn!(
                        "skipping {}: a socket, FIFO, device or other special file",
                        from.display()
                    );
                    self.stats.skipped += 1;
                }
            }
        }
        Ok(())
    }

    /// Makes the directory `to` for `from`, or keeps the one there (merging),
    /// replacing anything else in the way. It is made private (0700) for now;
    /// its owner, mode and times are set at the end.
    fn make_dir(&mut self, from: &Path, to: &Path, md: &Metadata) -> Result<(), ReplicateError> {
        let existing = match fs::symlink_metadata(to) {
            Ok(existing) => Some(existing),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(ReplicateError::Dir {
                    from: from.to_path_buf(),
                    to: to.to_path_buf(),
                    source,
                })
            }
        };
        match existing {
            Some(existing) if existing.is_dir() => {}
            other => {
                if other.is_some() {
                    fs::remove_file(to).map_err(|source| ReplicateError::Replace {
                        from: from.to_path_buf(),
                        to: to.to_path_buf(),
                        source,
                    })?;
                }
                fs::DirBuilder::new()
                    .mode(0o700)
                    .create(to)
                    .map_err(|source| ReplicateError::Dir {
                        from: from.to_path_buf(),
                        to: to.to_path_buf(),
                        source,
                    })?;
            }
        }
        self.dirs
            .push((from.to_path_buf(), to.to_path_buf(), md.clone()));
        self.stats.dirs += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_objects_are_recognised_by_a_so_part() {
        for name in [
            "libc.so.1",
            "foo.so",
            "ld.so.1",
            "libfoo.so.1.2.3",
            "_x.cpython-311.so",
        ] {
            assert!(is_shared_object(name.as_bytes()), "{name}");
        }
        for name in ["so", "foo.sort", "x.socket", "libc.a", "README", "so.conf"] {
            assert!(!is_shared_object(name.as_bytes()), "{name}");
        }
    }

    #[test]
    fn man_and_locale_are_matched_by_components() {
        assert!(is_under_man_or_locale(Path::new("usr/share/man/man1/ls.1")));
        assert!(is_under_man_or_locale(Path::new(
            "usr/share/locale/de/LC_MESSAGES/x.mo"
        )));
        assert!(!is_under_man_or_locale(Path::new("usr/share/manifest/x")));
        assert!(!is_under_man_or_locale(Path::new("usr/myshare/man/x")));
        // The directory itself is not "under" it.
        assert!(!is_under_man_or_locale(Path::new("usr/share/man")));
    }

    #[test]
    fn system_links_climb_to_the_zone_root() {
        assert_eq!(
            system_link(Path::new("usr/bin/ls")),
            Path::new("../../system/usr/bin/ls")
        );
        assert_eq!(
            system_link(Path::new("lib/libc.so.1")),
            Path::new("../system/lib/libc.so.1")
        );
        assert_eq!(
            system_link(Path::new("usr/lib/amd64/libc.so.1")),
            Path::new("../../../system/usr/lib/amd64/libc.so.1")
        );
    }

    #[test]
    fn tree_names_are_one_component() {
        assert!(is_plain_name("usr"));
        for bad in ["", ".", "..", "/usr", "usr/bin", "usr/", "./usr"] {
            assert!(!is_plain_name(bad), "{bad:?}");
        }
    }
}
