//! Resolving paths inside a zone root, from a directory handle, never on the host.
//!
//! The zone root is full of symbolic links written for the zone (`/bin ->
//! usr/bin`, an image's `/etc/x -> /opt/y`), and an image may plant more. Read
//! from the global zone, an absolute link points at the host's own files and a
//! `..` chain can climb out of the zone root. So a path is never handed to the
//! kernel whole: [`ZoneDir::resolve_dir`] walks it one component at a time from
//! a descriptor of the zone root, opening each directory with `O_NOFOLLOW`
//! relative to the previous one. A symbolic link met on the way is read and
//! resolved here as the zone would see it (chroot semantics): an absolute
//! target restarts at the zone root, and `..` at the zone root stays there.
//!
//! The same code runs on Linux and illumos: it needs only the `*at` calls both
//! have (illumos has no `openat2(RESOLVE_IN_ROOT)`, which would do this in the
//! kernel on Linux).
//!
//! The work is bounded, like the kernel's own lookup: one resolution follows at
//! most [`MAX_SYMLINK_HOPS`] links with at most [`MAX_LINK_BYTES`] bytes of
//! targets in all, and goes at most [`MAX_DEPTH`] directories deep; past any of
//! them it fails at once rather than walking on (a few links with long `d/../`
//! targets otherwise made every entry walk tens of thousands of components).
//! It holds two descriptors at most, whatever the depth: `..` is opened from the
//! current directory (below the zone root, where it is the directory entered
//! before) instead of keeping every directory on the way open. A pending
//! signal stops it between two components. It is not meant to withstand another process rearranging
//! the zone root while it runs: nobody else writes there during an install,
//! and even then every open refuses to follow a link (it fails instead).

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
use nix::sys::stat::{fchmod, fstatat, mkdirat, FileStat, Mode, SFlag};

/// How many symbolic links one resolution may follow, as Linux's `ELOOP` limit.
pub const MAX_SYMLINK_HOPS: u32 = 40;

/// How many bytes of symbolic link targets one resolution may walk, all the
/// links it follows together (`PATH_MAX`).
pub const MAX_LINK_BYTES: usize = 4096;

/// How many directories deep below the zone root a path may go: entry names
/// with more components are refused, and so is a resolution that would go
/// deeper through links.
pub const MAX_DEPTH: usize = 1024;

/// The mode of directories created because an entry needs them (as tar does).
const IMPLIED_DIR_MODE: u32 = 0o755;

/// What is at a name, looked at without following it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A device, FIFO, socket or door.
    Other,
}

impl FileKind {
    /// The kind of a `stat` result.
    pub fn of(st: &FileStat) -> Self {
        let fmt = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
        if fmt == SFlag::S_IFREG {
            FileKind::File
        } else if fmt == SFlag::S_IFDIR {
            FileKind::Dir
        } else if fmt == SFlag::S_IFLNK {
            FileKind::Symlink
        } else {
            FileKind::Other
        }
    }

    /// A word for messages.
    pub fn describe(self) -> &'static str {
        match self {
            FileKind::File => "file",
            FileKind::Dir => "directory",
            FileKind::Symlink => "symbolic link",
            FileKind::Other => "special file",
        }
    }
}

/// Whether [`ZoneDir::resolve_dir`] creates missing directories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Create them (mode 0755, owned by the installer), as tar does for
    /// directories an entry needs but the archive does not list first.
    Create,
    /// Fail with [`ResolveError::NotFound`].
    Fail,
}

/// Why a path could not be resolved to a directory inside the zone.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// A component does not exist (only with [`Missing::Fail`]).
    #[error("{component:?} does not exist in the zone")]
    NotFound {
        /// The component (lossy UTF-8).
        component: String,
    },
    /// A component is neither a directory nor a link to one.
    #[error("{component:?} is not a directory in the zone")]
    NotADirectory {
        /// The component (lossy UTF-8).
        component: String,
    },
    /// More than [`MAX_SYMLINK_HOPS`] links.
    #[error("too many levels of symbolic links")]
    TooManySymlinks,
    /// The links followed have more than [`MAX_LINK_BYTES`] of targets.
    #[error(
        "the symbolic links on the way have more than {MAX_LINK_BYTES} bytes of targets in all"
    )]
    LinkBudget,
    /// The path goes deeper than [`MAX_DEPTH`] directories.
    #[error("the path goes more than {MAX_DEPTH} directories deep")]
    TooDeep,
    /// A signal arrived while resolving.
    #[error(transparent)]
    Interrupted(#[from] crate::support::signals::Interrupted),
    /// A system call failed.
    #[error("cannot {op}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// Why.
        #[source]
        errno: Errno,
    },
}

/// A zone root, held open: the only way the installer reaches into it.
#[derive(Debug)]
pub struct ZoneDir {
    root: OwnedFd,
}

impl ZoneDir {
    /// Opens the zone root. The path is the caller's, so it is opened as given.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let fd = nix::fcntl::open(
            path,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(ZoneDir { root: owned(fd) })
    }

    /// Resolves `dirs` (components relative to the zone root) to an open
    /// directory inside the zone, following symbolic links with chroot
    /// semantics, including one in the last component.
    pub fn resolve_dir(&self, dirs: &[Vec<u8>], missing: Missing) -> Result<OwnedFd, ResolveError> {
        // The directory reached (`None`: the zone root) and how deep below the
        // zone root it is; `..` goes up one and is a no-op at the zone root, so
        // the walk cannot leave it.
        let mut cur: Option<OwnedFd> = None;
        let mut depth = 0usize;
        let mut todo: VecDeque<Vec<u8>> = dirs.iter().cloned().collect();
        let mut hops = 0;
        let mut link_bytes = 0usize;
        while let Some(name) = todo.pop_front() {
            crate::support::signals::check()?;
            let at = cur.as_ref().unwrap_or(&self.root).as_raw_fd();
            match name.as_slice() {
                b"" | b"." => continue,
                b".." => {
                    // Below the zone root, `..` is the directory entered before
                    // this one (nothing else moves directories during an install).
                    cur = match depth {
                        0 | 1 => None,
                        _ => Some(open_dir(at, OsStr::new(".."))?),
                    };
                    depth = depth.saturating_sub(1);
                    continue;
                }
                _ => {}
            }
            let os = OsStr::from_bytes(&name);
            // `None`: missing, to be created.
            let kind = match fstatat(Some(at), os, AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(st) => Some(FileKind::of(&st)),
                Err(Errno::ENOENT) if missing == Missing::Create => None,
                Err(Errno::ENOENT) => {
                    return Err(ResolveError::NotFound {
                        component: lossy(&name),
                    })
                }
                Err(errno) => {
                    return Err(ResolveError::Io {
                        op: "look up a directory",
                        errno,
                    })
                }
            };
            match kind {
                None | Some(FileKind::Dir) => {
                    if depth >= MAX_DEPTH {
                        return Err(ResolveError::TooDeep);
                    }
                    cur = Some(match kind {
                        None => make_dir(at, os)?,
                        _ => open_dir(at, os)?,
                    });
                    depth += 1;
                }
                Some(FileKind::Symlink) => {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return Err(ResolveError::TooManySymlinks);
                    }
                    let target = readlinkat(Some(at), os)
                        .map_err(|errno| ResolveError::Io {
                            op: "read a symbolic link",
                            errno,
                        })?
                        .into_vec();
                    link_bytes = link_bytes.saturating_add(target.len());
                    if link_bytes > MAX_LINK_BYTES {
                        return Err(ResolveError::LinkBudget);
                    }
                    if target.starts_with(b"/") {
                        cur = None;
                        depth = 0;
                    }
                    for c in target.split(|b| *b == b'/').rev() {
                        todo.push_front(c.to_vec());
                    }
                }
                Some(FileKind::File | FileKind::Other) => {
                    return Err(ResolveError::NotADirectory {
                        component: lossy(&name),
                    })
                }
            }
        }
        match cur {
            Some(fd) => Ok(fd),
            None => nix::unistd::dup(self.root.as_raw_fd())
                .map(owned)
                .map_err(|errno| ResolveError::Io {
                    op: "duplicate the zone root descriptor",
                    errno,
                }),
        }
    }
}

/// Looks at `name` in `dir` without following it; `None` if nothing is there.
pub fn lookup(dir: &OwnedFd, name: &OsStr) -> Result<Option<FileStat>, Errno> {
    match fstatat(Some(dir.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Opens the directory `name` in `dir`, refusing to follow a link.
pub fn open_dir(dir: RawFd, name: &OsStr) -> Result<OwnedFd, ResolveError> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    match openat(Some(dir), name, flags, Mode::empty()) {
        Ok(fd) => Ok(owned(fd)),
        Err(errno) => Err(ResolveError::Io {
            op: "open a directory",
            errno,
        }),
    }
}

/// Creates the directory `name` in `dir` with the implied mode and opens it.
fn make_dir(dir: RawFd, name: &OsStr) -> Result<OwnedFd, ResolveError> {
    match mkdirat(Some(dir), name, Mode::from_bits_truncate(0o700)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(errno) => {
            return Err(ResolveError::Io {
                op: "create a directory",
                errno,
            })
        }
    }
    let fd = open_dir(dir, name)?;
    // Set the mode explicitly: mkdir's is cut by the umask.
    fchmod(fd.as_raw_fd(), Mode::from_bits_truncate(IMPLIED_DIR_MODE)).map_err(|errno| {
        ResolveError::Io {
            op: "set a directory's mode",
            errno,
        }
    })?;
    Ok(fd)
}

/// Takes ownership of a descriptor a successful `open`/`openat` just returned.
pub fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: `fd` was just returned by a successful open and nothing else
    // holds it, so this is its only owner.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn comps(p: &str) -> Vec<Vec<u8>> {
        p.split('/')
            .filter(|c| !c.is_empty())
            .map(|c| c.as_bytes().to_vec())
            .collect()
    }

    /// The inode a resolved descriptor refers to.
    fn ino(fd: &OwnedFd) -> u64 {
        nix::sys::stat::fstat(fd.as_raw_fd()).unwrap().st_ino as u64
    }

    fn ino_of(p: &Path) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(p).unwrap().ino()
    }

    #[test]
    fn links_resolve_inside_the_zone() {
        let tmp = tempfile::tempdir().unwrap();
        let zone = tmp.path().join("zone");
        std::fs::create_dir_all(zone.join("usr/bin")).unwrap();
        std::fs::create_dir_all(tmp.path().join("outside")).unwrap();
        symlink("usr/bin", zone.join("bin")).unwrap();
        symlink("/", zone.join("slash")).unwrap();
        symlink("../../../../..", zone.join("up")).unwrap();
        symlink("../outside", zone.join("out")).unwrap();
        symlink("/usr/bin/../bin/.", zone.join("abs")).unwrap();
        let z = ZoneDir::open(&zone).unwrap();

        assert_eq!(
            ino(&z.resolve_dir(&comps("bin"), Missing::Fail).unwrap()),
            ino_of(&zone.join("usr/bin"))
        );
        assert_eq!(
            ino(&z.resolve_dir(&comps("slash"), Missing::Fail).unwrap()),
            ino_of(&zone)
        );
        assert_eq!(
            ino(&z.resolve_dir(&comps("up/usr"), Missing::Fail).unwrap()),
            ino_of(&zone.join("usr"))
        );
        assert_eq!(
            ino(&z.resolve_dir(&comps("abs"), Missing::Fail).unwrap()),
            ino_of(&zone.join("usr/bin"))
        );
        assert_eq!(
            ino(&z.resolve_dir(&[], Missing::Fail).unwrap()),
            ino_of(&zone)
        );
        // `../outside` from the zone root is the zone's own /outside.
        assert!(matches!(
            z.resolve_dir(&comps("out"), Missing::Fail),
            Err(ResolveError::NotFound { component }) if component == "outside"
        ));
        assert_eq!(
            ino(&z.resolve_dir(&comps("out"), Missing::Create).unwrap()),
            ino_of(&zone.join("outside"))
        );
        assert!(tmp
            .path()
            .join("outside")
            .read_dir()
            .unwrap()
            .next()
            .is_none());
    }

    #[test]
    fn created_directories_get_0755() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let z = ZoneDir::open(tmp.path()).unwrap();
        z.resolve_dir(&comps("a/b"), Missing::Create).unwrap();
        for p in ["a", "a/b"] {
            let mode = std::fs::metadata(tmp.path().join(p))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o7777, 0o755, "{p}");
        }
    }

    #[test]
    fn link_loops_and_files_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        symlink("b", tmp.path().join("a")).unwrap();
        symlink("/a", tmp.path().join("b")).unwrap();
        std::fs::write(tmp.path().join("f"), b"").unwrap();
        let z = ZoneDir::open(tmp.path()).unwrap();
        assert!(matches!(
            z.resolve_dir(&comps("a/x"), Missing::Create),
            Err(ResolveError::TooManySymlinks)
        ));
        assert!(matches!(
            z.resolve_dir(&comps("f/x"), Missing::Create),
            Err(ResolveError::NotADirectory { component }) if component == "f"
        ));
    }
}
