//! What can go wrong with an image, and where.
//!
//! Every [`ImageError`] names the image; problems with one entry also name the
//! entry, as written in the archive, so that whoever built the image can find
//! it. The reason is the error's `source()`, so `main` prints
//! `image X: entry "root/usr": type conflict: ...` on one line. Callers map any
//! `ImageError` to exit 254 after rolling back.

use std::io;
use std::path::PathBuf;

use super::meta::MetaError;
use super::path::PathError;

/// A failure to read, check or unpack an image.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The image file could not be opened or read.
    #[error("image {}: cannot read it", image.display())]
    Read {
        /// The image.
        image: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file is not gzip data at all.
    #[error("image {}: not a gzip-compressed tar ({detail})", image.display())]
    NotGzip {
        /// The image.
        image: PathBuf,
        /// What it looks like instead, and what to do.
        detail: &'static str,
    },
    /// The gzip or tar stream is damaged: a bad CRC or header checksum, a
    /// truncated file, data where the format allows none.
    #[error("image {}: corrupt or truncated archive", image.display())]
    Corrupt {
        /// The image.
        image: PathBuf,
        /// What the decoder found.
        #[source]
        source: io::Error,
    },
    /// There are bytes after the end of the gzip stream.
    #[error(
        "image {}: {bytes} bytes of trailing data after the end of the gzip stream \
         (the file is damaged or is not one gzip-compressed tar)",
        image.display()
    )]
    TrailingData {
        /// The image.
        image: PathBuf,
        /// How many bytes follow the gzip stream.
        bytes: u64,
    },
    /// `oxide.json` is missing, misplaced or wrong.
    #[error("image {}: bad metadata", image.display())]
    Metadata {
        /// The image.
        image: PathBuf,
        /// What is wrong with it.
        #[source]
        problem: MetaError,
    },
    /// One entry could not be accepted or installed.
    #[error("image {}: entry {entry:?}", image.display())]
    Entry {
        /// The image.
        image: PathBuf,
        /// The entry's name as in the archive (lossy UTF-8).
        entry: String,
        /// What is wrong with it.
        #[source]
        problem: EntryError,
    },
    /// A signal arrived while the image was being read; the caller rolls back.
    #[error("image {}: {source}", image.display())]
    Interrupted {
        /// The image.
        image: PathBuf,
        /// Which signal.
        #[source]
        source: crate::support::signals::Interrupted,
    },
    /// The directory to unpack into could not be opened.
    #[error("image {}: cannot open the zone root {}", image.display(), root.display())]
    Root {
        /// The image.
        image: PathBuf,
        /// The directory.
        root: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// Why one entry was refused or could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    /// The name is absolute or has `..`.
    #[error(transparent)]
    Path(#[from] PathError),
    /// A hard link's target name is absolute, has `..` or is not under `root/`.
    #[error("hard link target {target:?} is not allowed: hard links may only point at files under root/")]
    LinkOutside {
        /// The target name as in the archive.
        target: String,
        /// Why, when its name itself was refused.
        #[source]
        source: Option<PathError>,
    },
    /// A hard link's target is not in the zone.
    #[error("hard link target {target:?} does not exist (an image may only link to a file it or an earlier layer installed)")]
    LinkTargetMissing {
        /// The target name as in the archive.
        target: String,
    },
    /// A hard link's target is a directory.
    #[error("hard link target {target:?} is a directory")]
    LinkToDirectory {
        /// The target name as in the archive.
        target: String,
    },
    /// A symlink without a target.
    #[error("symbolic link has no target")]
    NoLinkTarget,
    /// A device node or FIFO.
    #[error("device nodes and FIFOs are not allowed in images")]
    Device,
    /// An entry type the installer does not know.
    #[error("unsupported entry type {0:?}")]
    Unsupported(char),
    /// The entry's type clashes with what is already at its path.
    #[error(
        "type conflict: the image makes this a {wanted}, but the zone already has a {found} \
         here, and a directory is never replaced (fix the image so that the types agree)"
    )]
    Conflict {
        /// What the entry is.
        wanted: &'static str,
        /// What is in the zone.
        found: &'static str,
    },
    /// A component on the way to the entry is neither a directory nor a
    /// symbolic link to one.
    #[error("{component:?} on the way to it is not a directory in the zone")]
    NotADirectory {
        /// The component (lossy UTF-8).
        component: String,
    },
    /// A component on the way to the entry does not exist (when it may not be
    /// created, as for a hard link's target).
    #[error("{component:?} on the way to it does not exist in the zone")]
    NotFound {
        /// The component (lossy UTF-8).
        component: String,
    },
    /// Resolving the path met more symbolic links than allowed.
    #[error("too many levels of symbolic links resolving it inside the zone")]
    TooManySymlinks,
    /// A header field could not be read.
    #[error("unreadable {field} in its header")]
    Header {
        /// The field.
        field: &'static str,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// An owner id that does not fit the system's type.
    #[error("owner id {0} is out of range")]
    IdOutOfRange(u64),
    /// The archive ended inside the entry's data.
    #[error("the archive ends inside its data ({got} of {want} bytes)")]
    ShortData {
        /// Bytes read.
        got: u64,
        /// Bytes the header promised.
        want: u64,
    },
    /// A system call failed.
    #[error("cannot {op}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// Why.
        #[source]
        source: io::Error,
    },
}

impl EntryError {
    /// A failed system call, from nix's error type.
    pub(crate) fn sys(op: &'static str, errno: nix::errno::Errno) -> Self {
        EntryError::Io {
            op,
            source: errno.into(),
        }
    }
}
