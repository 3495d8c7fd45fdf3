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
    /// The image path is not a regular file (a FIFO, device, directory...).
    #[error("image {}: not a regular file (it is a {kind}); give the path of an image file", image.display())]
    NotAFile {
        /// The image.
        image: PathBuf,
        /// What it is.
        kind: &'static str,
    },
    /// The image expands to more than the bound on what one image may write.
    #[error(
        "image {}: expands to more than {limit} bytes (headers and file contents), \
         the most one image may write (OMICRON1_IMAGE_MAX_BYTES)",
        image.display()
    )]
    TooLarge {
        /// The image.
        image: PathBuf,
        /// The bound, in bytes.
        limit: u64,
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
    /// truncated file, data where the format allows none, an inconsistent
    /// sparse map.
    #[error(
        "image {}: corrupt or truncated archive{}",
        image.display(),
        near.as_ref().map(|e| format!(" (at entry {e:?})")).unwrap_or_default()
    )]
    Corrupt {
        /// The image.
        image: PathBuf,
        /// The entry whose headers were being read, when known (as written in
        /// the archive, lossy UTF-8).
        near: Option<String>,
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
    #[error("image {}", image.display())]
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
    /// Resolving the path walked more bytes of link targets than allowed.
    #[error(
        "the symbolic links on the way to it have more than {} bytes of targets in all",
        super::confined::MAX_LINK_BYTES
    )]
    LinkBudget,
    /// The path is deeper than allowed.
    #[error("it is more than {} directories deep", super::confined::MAX_DEPTH)]
    TooDeep,
    /// A sparse file larger than one image may write.
    #[error(
        "sparse file of {size} bytes is larger than the {limit} bytes one image may write \
         (OMICRON1_IMAGE_MAX_BYTES)"
    )]
    SparseTooLarge {
        /// The size it declares.
        size: u64,
        /// The bound.
        limit: u64,
    },
    /// Extended attributes or ACLs in PAX records.
    #[error(
        "it carries extended attributes or ACLs (PAX record {key:?}), which images may not \
         have: build the image without them (GNU tar: --no-xattrs --no-acls)"
    )]
    Xattrs {
        /// The PAX key.
        key: String,
    },
    /// A PAX GNU sparse file (formats 0.1 and 1.0), which is not supported.
    #[error(
        "it is a PAX-format GNU sparse file ({key:?}), which is not supported: \
         build the image without --sparse"
    )]
    PaxSparse {
        /// The PAX key.
        key: String,
    },
    /// A non-directory whose name ends in `/`.
    #[error("its name ends in '/', which only a directory's may")]
    TrailingSlash,
    /// A modification time outside the range accepted.
    #[error(
        "modification time {0} is outside the range accepted (0 to {max}, 1970 to 9999)",
        max = super::limits::MAX_MTIME
    )]
    MtimeOutOfRange(String),
    /// Finishing a directory the extraction left (setting its time) failed.
    #[error("cannot finish the directory {dir} before it")]
    Leaving {
        /// The directory, as the zone sees it.
        dir: String,
        /// Why.
        #[source]
        source: Box<EntryError>,
    },
    /// A signal arrived while the entry was being installed.
    #[error(transparent)]
    Interrupted(#[from] crate::support::signals::Interrupted),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The signal is named once in the whole chain, as `main` prints it.
    #[test]
    fn an_interrupted_image_names_the_signal_once() {
        let e = ImageError::Interrupted {
            image: PathBuf::from("/images/a.tar.gz"),
            source: crate::support::signals::Interrupted(nix::sys::signal::Signal::SIGTERM),
        };
        let mut line = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            line.push_str(": ");
            line.push_str(&s.to_string());
            source = s.source();
        }
        assert_eq!(line, "image /images/a.tar.gz: interrupted by SIGTERM");
    }
}
