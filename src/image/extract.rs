//! Installing checked entries into a zone root.
//!
//! Each entry's parent directory is resolved inside the zone (see
//! [`super::confined`]); the entry's own name is never followed. What an entry
//! finds at its name decides what happens, the same for every layer:
//!
//! | entry \ found | nothing | directory | symlink to a directory | other symlink | file, special file |
//! |---|---|---|---|---|---|
//! | file, symlink, hard link | create | **error** | replace | replace | replace |
//! | directory | create | keep, update | keep, change nothing through it | replace | **error** |
//!
//! ("Symlink to a directory" is judged inside the zone, like every link.)
//!
//! Archives list a directory's entries together, so the last parent directory
//! resolved is kept open and reused by the next entry with the same parent,
//! and so is the last directory made (the parent of the next entry when the
//! archive goes down a level): resolving walks every component from the zone
//! root, two system calls each.
//! Only removing something can change what a path resolves to (the extractor
//! never moves or removes a directory, and a new entry cannot sit where a
//! resolved component already is), so an entry that removed anything, or made
//! a link, drops it.
//! Owner first, then mode (chown clears setuid), then the time. A directory's
//! time is set when the extraction leaves it (as GNU tar does): the directories
//! on the way to the current entry are kept, by name, with the attributes of
//! their archive entry; when an entry outside one comes, or at the end, its
//! time is set, since adding children changes it. So memory is bounded by the
//! longest path, not by the number of directories, and the times are exact for
//! archives that list each directory's contents together (as tar and image
//! builders write them); a directory the archive comes back to later keeps the
//! time of that change unless it is listed again.
//!
//! A sparse file is written as its data blocks at their offsets and then cut
//! to its size: its holes are never written.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
use nix::sys::stat::{fchmod, futimens, mkdirat, utimensat, FileStat, Mode, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, linkat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};

use super::confined::{lookup, open_dir, owned, FileKind, Missing, ResolveError, ZoneDir};
use super::error::EntryError;
use super::path::RootPath;
use super::stream::{Attrs, Item, ItemKind, SparseMap, Visit, BUFFER_SIZE};

/// A [`Visit`]or that installs entries into a zone root.
pub struct Extractor<'z> {
    zone: &'z ZoneDir,
    /// The directories on the way to the last entry (the entry itself if it is
    /// one), outermost first, with the attributes of their last archive entry
    /// if they have one: their times are set when the extraction leaves them.
    open: Vec<(Vec<u8>, Option<Attrs>)>,
    /// The last parent directory resolved, by its components (see the module doc).
    parent: Option<(Vec<Vec<u8>>, OwnedFd)>,
    /// The last directory an entry made or updated, by its components: the
    /// parent of the next entry when the archive goes down a level.
    last_dir: Option<(Vec<Vec<u8>>, OwnedFd)>,
    /// Copy buffer for file contents.
    buf: Vec<u8>,
    /// Entries installed.
    pub entries: u64,
    /// Bytes of file contents written.
    pub bytes: u64,
}

impl<'z> Extractor<'z> {
    /// An extractor into `zone`.
    pub fn new(zone: &'z ZoneDir) -> Self {
        Extractor {
            zone,
            open: Vec::new(),
            parent: None,
            last_dir: None,
            buf: vec![0; BUFFER_SIZE],
            entries: 0,
            bytes: 0,
        }
    }

    /// Sets the times of the directories still open, once nothing more will be
    /// added to them. On failure, says which directory (as the zone sees it).
    pub fn finish(&mut self) -> Result<(), (String, EntryError)> {
        self.leave_to(0)
    }

    /// Leaves the open directories below the first `keep`, innermost first,
    /// setting the times of those the archive listed.
    fn leave_to(&mut self, keep: usize) -> Result<(), (String, EntryError)> {
        // The directory holding the one being left, once resolved; the next
        // one up is reached from it by `..` where that is the same directory
        // (so leaving a deep path is linear in its depth, not quadratic).
        let mut holder: Option<OwnedFd> = None;
        while self.open.len() > keep {
            let depth = self.open.len() - 1;
            if let Some(attrs) = self.open[depth].1 {
                let parent = match holder.take() {
                    Some(fd) => fd,
                    None => self
                        .resolve_open(depth)
                        .map_err(|e| (self.open_path(depth + 1), e))?,
                };
                self.set_dir_time(&parent, depth, &attrs)
                    .map_err(|e| (self.open_path(depth + 1), e))?;
                holder = Some(parent);
            }
            holder = holder.and_then(|fd| self.up(fd, depth));
            self.open.pop();
        }
        Ok(())
    }

    /// Given `fd`, the directory holding the open directory at `depth`, the
    /// one holding the open directory at `depth - 1`: its `..`, checked to
    /// hold that directory under its name (it does unless a symbolic link was
    /// followed on the way); `None` to resolve it afresh.
    fn up(&self, fd: OwnedFd, depth: usize) -> Option<OwnedFd> {
        // At the top, the zone root: resolved (never `..` from it).
        if depth < 2 {
            return None;
        }
        let up = open_dir(fd.as_raw_fd(), OsStr::new("..")).ok()?;
        let name = OsStr::from_bytes(&self.open[depth - 1].0);
        let there = lookup(&up, name).ok()??;
        let here = nix::sys::stat::fstat(fd.as_raw_fd()).ok()?;
        (FileKind::of(&there) == FileKind::Dir && same_inode(&there, &here)).then_some(up)
    }

    /// Resolves the first `n` open directories.
    fn resolve_open(&self, n: usize) -> Result<OwnedFd, EntryError> {
        crate::support::signals::check()?;
        let parents: Vec<Vec<u8>> = self.open[..n].iter().map(|(c, _)| c.clone()).collect();
        Ok(self.zone.resolve_dir(&parents, Missing::Fail)?)
    }

    /// The path of the first `n` open directories, as the zone sees it.
    fn open_path(&self, n: usize) -> String {
        self.open[..n]
            .iter()
            .map(|(c, _)| format!("/{}", String::from_utf8_lossy(c)))
            .collect()
    }

    /// Sets the time of the open directory at `depth`, in `parent` (if it is
    /// still a directory: a symbolic link kept in its place is not followed).
    fn set_dir_time(
        &self,
        parent: &OwnedFd,
        depth: usize,
        attrs: &Attrs,
    ) -> Result<(), EntryError> {
        crate::support::signals::check()?;
        let name = OsStr::from_bytes(&self.open[depth].0);
        let found = lookup(parent, name).map_err(|e| EntryError::sys("look at it", e))?;
        if found.as_ref().map(FileKind::of) == Some(FileKind::Dir) {
            let t = mtime(attrs);
            utimensat(
                Some(parent.as_raw_fd()),
                name,
                &t,
                &t,
                UtimensatFlags::NoFollowSymlink,
            )
            .map_err(|e| EntryError::sys("set the directory's time", e))?;
        }
        Ok(())
    }

    /// Makes `dirs` the open directories: leaves those not on the way to it
    /// (setting their times) and enters the rest, without attributes yet.
    fn enter(&mut self, dirs: &[Vec<u8>]) -> Result<(), EntryError> {
        let common = self
            .open
            .iter()
            .zip(dirs)
            .take_while(|((open, _), c)| open == *c)
            .count();
        self.leave_to(common)
            .map_err(|(dir, source)| EntryError::Leaving {
                dir,
                source: Box::new(source),
            })?;
        self.open
            .extend(dirs[common..].iter().map(|c| (c.clone(), None)));
        Ok(())
    }

    /// Creates a regular file with `data`; whether something was removed to
    /// make room for it.
    fn file(
        &mut self,
        parent: &OwnedFd,
        name: &OsStr,
        attrs: &Attrs,
        sparse: Option<&SparseMap>,
        data: &mut dyn Read,
    ) -> Result<bool, EntryError> {
        let flags =
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let create = || {
            openat(
                Some(parent.as_raw_fd()),
                name,
                flags,
                Mode::from_bits_truncate(0o600),
            )
        };
        // Usually nothing is there: try that first, and look only if something
        // is (O_EXCL fails on any name, a symbolic link's included).
        let (fd, replaced) = match create() {
            Ok(fd) => (fd, false),
            Err(Errno::EEXIST) => {
                replace_non_dir(parent, name, "file")?;
                (
                    create().map_err(|e| EntryError::sys("create the file", e))?,
                    true,
                )
            }
            Err(e) => return Err(EntryError::sys("create the file", e)),
        };
        let mut file = File::from(owned(fd));
        match sparse {
            None => self.copy(&mut file, data)?,
            Some(map) => {
                for &(offset, len) in &map.blocks {
                    file.seek(SeekFrom::Start(offset))
                        .map_err(|source| EntryError::Io {
                            op: "seek in the sparse file",
                            source,
                        })?;
                    self.copy(&mut file, &mut data.take(len))?;
                }
                // The holes, the one at the end included: never written.
                file.set_len(map.size).map_err(|source| EntryError::Io {
                    op: "set the sparse file's size",
                    source,
                })?;
            }
        }
        set_owner_and_mode(file.as_raw_fd(), attrs)?;
        let t = mtime(attrs);
        futimens(file.as_raw_fd(), &t, &t)
            .map_err(|e| EntryError::sys("set the file's time", e))?;
        Ok(replaced)
    }

    /// Copies `data` to the end of `file`.
    fn copy(&mut self, file: &mut File, data: &mut dyn Read) -> Result<(), EntryError> {
        loop {
            let n = match data.read(&mut self.buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(EntryError::Io {
                        op: "read its data",
                        source,
                    })
                }
            };
            file.write_all(&self.buf[..n])
                .map_err(|source| EntryError::Io {
                    op: "write the file",
                    source,
                })?;
            self.bytes = self.bytes.saturating_add(n as u64);
        }
    }

    /// Creates or updates a directory; whether a symbolic link was removed to
    /// make room for it, and the directory if the image may set it (not a
    /// symbolic link to one, kept).
    fn dir(
        &mut self,
        parent: &OwnedFd,
        name: &OsStr,
        item: &Item,
    ) -> Result<(bool, Option<OwnedFd>), EntryError> {
        let found =
            lookup(parent, name).map_err(|e| EntryError::sys("look at what is there", e))?;
        let mut replaced = false;
        match found.as_ref().map(FileKind::of) {
            None => make_dir(parent, name)?,
            Some(FileKind::Dir) => {}
            Some(FileKind::Symlink) => {
                match self.zone.resolve_dir(item.path.components(), Missing::Fail) {
                    // A link to a directory (`/bin -> usr/bin`) stays, and nothing
                    // is changed through it: the image describes the directory
                    // it expected, not the one the link leads to.
                    Ok(_) => return Ok((false, None)),
                    Err(
                        ResolveError::NotFound { .. }
                        | ResolveError::NotADirectory { .. }
                        | ResolveError::TooManySymlinks
                        | ResolveError::LinkBudget,
                    ) => {
                        remove(parent, name)?;
                        make_dir(parent, name)?;
                        replaced = true;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Some(other) => {
                return Err(EntryError::Conflict {
                    wanted: "directory",
                    found: other.describe(),
                })
            }
        }
        let fd = open_dir(parent.as_raw_fd(), name).map_err(EntryError::from)?;
        set_owner_and_mode(fd.as_raw_fd(), &item.attrs)?;
        Ok((replaced, Some(fd)))
    }

    fn hard_link(
        &mut self,
        parent: &OwnedFd,
        name: &OsStr,
        target: &RootPath,
        raw: &str,
    ) -> Result<(), EntryError> {
        let missing = || EntryError::LinkTargetMissing {
            target: raw.to_owned(),
        };
        let (target_parent, target_name) = target.split_last();
        let target_parent = match self.zone.resolve_dir(target_parent, Missing::Fail) {
            Ok(fd) => fd,
            Err(ResolveError::NotFound { .. } | ResolveError::NotADirectory { .. }) => {
                return Err(missing())
            }
            Err(e) => return Err(e.into()),
        };
        let target_name = OsStr::from_bytes(target_name);
        let target_st = lookup(&target_parent, target_name)
            .map_err(|e| EntryError::sys("look at the link's target", e))?
            .ok_or_else(missing)?;
        let found =
            lookup(parent, name).map_err(|e| EntryError::sys("look at what is there", e))?;
        if let Some(st) = &found {
            if same_inode(st, &target_st) {
                return Ok(());
            }
            if FileKind::of(st) == FileKind::Dir {
                return Err(EntryError::Conflict {
                    wanted: "hard link",
                    found: "directory",
                });
            }
        }
        match FileKind::of(&target_st) {
            FileKind::Dir => {
                return Err(EntryError::LinkToDirectory {
                    target: raw.to_owned(),
                })
            }
            // Whether linkat follows a symbolic link without AT_SYMLINK_FOLLOW
            // has differed between systems, and following one here would
            // resolve it on the host. A second link with the same target and
            // owner is indistinguishable for the zone, so make that instead.
            FileKind::Symlink => {
                let text = readlinkat(Some(target_parent.as_raw_fd()), target_name)
                    .map_err(|e| EntryError::sys("read the link's target", e))?;
                let attrs = Attrs {
                    uid: target_st.st_uid,
                    gid: target_st.st_gid,
                    mode: 0,
                    mtime_sec: target_st.st_mtime,
                    mtime_nsec: target_st.st_mtime_nsec as u32,
                };
                return symlink(parent, name, text.as_bytes(), &attrs);
            }
            FileKind::File | FileKind::Other => {}
        }
        replace_non_dir_found(parent, name, found.as_ref(), "hard link")?;
        linkat(
            Some(target_parent.as_raw_fd()),
            target_name,
            Some(parent.as_raw_fd()),
            name,
            AtFlags::empty(),
        )
        .map_err(|e| EntryError::sys("make the hard link", e))
    }
}

impl Visit for Extractor<'_> {
    fn item(&mut self, item: &Item, data: &mut dyn Read) -> Result<(), EntryError> {
        let (parent_path, name) = item.path.split_last();
        self.enter(match item.kind {
            ItemKind::Dir => item.path.components(),
            _ => parent_path,
        })?;
        // A hit keeps the cached key: only a miss copies the components.
        let (key, parent) = match (self.parent.take(), self.last_dir.take()) {
            (Some((path, fd)), last_dir) if path == parent_path => {
                self.last_dir = last_dir;
                (path, fd)
            }
            (_, Some((path, fd))) if path == parent_path => (path, fd),
            _ => (
                parent_path.to_vec(),
                self.zone.resolve_dir(parent_path, Missing::Create)?,
            ),
        };
        let name = OsStr::from_bytes(name);
        let keep_parent = match &item.kind {
            ItemKind::File { sparse } => {
                !self.file(&parent, name, &item.attrs, sparse.as_ref(), data)?
            }
            ItemKind::Dir => {
                let (replaced, dir) = self.dir(&parent, name, item)?;
                if let Some(dir) = dir {
                    // A directory listed twice gets the time of its last entry.
                    if let Some(last) = self.open.last_mut() {
                        last.1 = Some(item.attrs);
                    }
                    if !replaced {
                        self.last_dir = Some((item.path.components().to_vec(), dir));
                    }
                }
                !replaced
            }
            ItemKind::Symlink(target) => {
                symlink(&parent, name, target, &item.attrs)?;
                false
            }
            ItemKind::HardLink { target, raw } => {
                self.hard_link(&parent, name, target, raw)?;
                false
            }
        };
        if keep_parent {
            self.parent = Some((key, parent));
        } else {
            self.last_dir = None;
        }
        self.entries += 1;
        Ok(())
    }
}

impl From<ResolveError> for EntryError {
    fn from(e: ResolveError) -> Self {
        match e {
            ResolveError::NotFound { component } => EntryError::NotFound { component },
            ResolveError::NotADirectory { component } => EntryError::NotADirectory { component },
            ResolveError::TooManySymlinks => EntryError::TooManySymlinks,
            ResolveError::LinkBudget => EntryError::LinkBudget,
            ResolveError::TooDeep => EntryError::TooDeep,
            ResolveError::Interrupted(i) => EntryError::Interrupted(i),
            ResolveError::Io { op, errno } => EntryError::sys(op, errno),
        }
    }
}

/// Makes a symbolic link `name` -> `target` in `parent`, replacing whatever
/// non-directory is there; sets its owner and time (links have no mode).
fn symlink(parent: &OwnedFd, name: &OsStr, target: &[u8], attrs: &Attrs) -> Result<(), EntryError> {
    replace_non_dir(parent, name, "symbolic link")?;
    let dir = Some(parent.as_raw_fd());
    symlinkat(OsStr::from_bytes(target), dir, name)
        .map_err(|e| EntryError::sys("create the symbolic link", e))?;
    fchownat(
        dir,
        name,
        Some(Uid::from_raw(attrs.uid)),
        Some(Gid::from_raw(attrs.gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(|e| EntryError::sys("set the symbolic link's owner", e))?;
    let t = mtime(attrs);
    utimensat(dir, name, &t, &t, UtimensatFlags::NoFollowSymlink)
        .map_err(|e| EntryError::sys("set the symbolic link's time", e))
}

/// Clears `name` in `parent` for a new non-directory: removes a file, link or
/// special file; refuses to replace a directory.
fn replace_non_dir(parent: &OwnedFd, name: &OsStr, wanted: &'static str) -> Result<(), EntryError> {
    let found = lookup(parent, name).map_err(|e| EntryError::sys("look at what is there", e))?;
    replace_non_dir_found(parent, name, found.as_ref(), wanted)
}

fn replace_non_dir_found(
    parent: &OwnedFd,
    name: &OsStr,
    found: Option<&FileStat>,
    wanted: &'static str,
) -> Result<(), EntryError> {
    match found.map(FileKind::of) {
        None => Ok(()),
        Some(FileKind::Dir) => Err(EntryError::Conflict {
            wanted,
            found: "directory",
        }),
        Some(_) => remove(parent, name),
    }
}

fn remove(parent: &OwnedFd, name: &OsStr) -> Result<(), EntryError> {
    unlinkat(Some(parent.as_raw_fd()), name, UnlinkatFlags::NoRemoveDir)
        .map_err(|e| EntryError::sys("remove what is there", e))
}

/// Creates a directory, private until its entry's owner and mode are set.
fn make_dir(parent: &OwnedFd, name: &OsStr) -> Result<(), EntryError> {
    match mkdirat(
        Some(parent.as_raw_fd()),
        name,
        Mode::from_bits_truncate(0o700),
    ) {
        Ok(()) => Ok(()),
        Err(e) => Err(EntryError::sys("create the directory", e)),
    }
}

/// Owner, then mode: chown clears setuid and setgid, so the mode goes second.
fn set_owner_and_mode(fd: RawFd, attrs: &Attrs) -> Result<(), EntryError> {
    fchown(
        fd,
        Some(Uid::from_raw(attrs.uid)),
        Some(Gid::from_raw(attrs.gid)),
    )
    .map_err(|e| EntryError::sys("set the owner", e))?;
    fchmod(fd, Mode::from_bits_truncate(attrs.mode as _))
        .map_err(|e| EntryError::sys("set the mode", e))
}

fn mtime(attrs: &Attrs) -> TimeSpec {
    TimeSpec::new(attrs.mtime_sec as _, attrs.mtime_nsec as _)
}

fn same_inode(a: &FileStat, b: &FileStat) -> bool {
    a.st_dev == b.st_dev && a.st_ino == b.st_ino
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::path::{classify, EntryPath};

    fn dir_item(name: &[u8], mtime_sec: i64) -> Item {
        let EntryPath::Root(path) = classify(name).unwrap() else {
            panic!()
        };
        let attrs = Attrs {
            uid: 0,
            gid: 0,
            mode: 0o755,
            mtime_sec,
            mtime_nsec: 0,
        };
        Item {
            path,
            kind: ItemKind::Dir,
            attrs,
        }
    }

    /// Finding (review): every directory entry was remembered for setting its
    /// times at the end, so an image repeating `root/d/` millions of times (a
    /// few megabytes of gzip) grew the list — and memory — without bound. Only
    /// the directories on the way to the current entry are remembered now,
    /// each with its last entry's attributes.
    #[test]
    fn regression_repeated_directory_entries_are_remembered_once() {
        let tmp = tempfile::tempdir().unwrap();
        let zone = ZoneDir::open(tmp.path()).unwrap();
        let mut x = Extractor::new(&zone);
        for i in 0..10_000 {
            x.item(&dir_item(b"root/d/", 1_000 + i), &mut std::io::empty())
                .unwrap();
            x.item(&dir_item(b"root/d/e", 5), &mut std::io::empty())
                .unwrap();
            assert!(x.open.len() <= 2, "only the path to the entry is kept");
        }
        assert_eq!(x.entries, 20_000);
        x.finish().unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(
            std::fs::metadata(tmp.path().join("d")).unwrap().mtime(),
            1_000 + 9_999
        );
        assert_eq!(
            std::fs::metadata(tmp.path().join("d/e")).unwrap().mtime(),
            5
        );
    }
}
