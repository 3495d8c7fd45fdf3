//! Image archives: metadata, confined extraction, inspection.
//!
//! An image is a gzip-compressed tar holding `oxide.json` (see [`ImageMeta`])
//! and, under `root/`, the files to install into a zone root. Images come from
//! outside the global zone's trust, so [`unpack`] treats every archive as
//! hostile: names are normalised and `..` or absolute names refused
//! ([`path`]), every path is resolved inside the zone root from a directory
//! handle with chroot semantics for symbolic links ([`confined`]), device nodes
//! are refused, and the whole file is read and its digest taken in one pass
//! that fails on any corruption (`stream`); `extract` applies each entry.
//! Whatever the archive holds, nothing outside the zone root is created,
//! changed or removed.
//!
//! This module knows a directory, not ZFS: rolling back a failed unpack is the
//! caller's job (it destroys the clone), which is why an error part way through
//! may leave the zone root half-written.

pub mod confined;
pub mod error;
// Private parts whose items say `pub`: reachable only through this module's
// re-exports (the workspace's unreachable_pub lint is for the rest of the crate).
#[allow(unreachable_pub)]
mod extract;
#[allow(unreachable_pub)]
mod inflate;
pub mod meta;
pub mod path;
#[allow(unreachable_pub)]
mod stream;

use std::path::Path;

pub use error::{EntryError, ImageError};
pub use meta::{ImageKind, ImageMeta, MetaError};
pub use path::PathError;
pub use stream::sha256_file;

use confined::ZoneDir;
use extract::Extractor;
use stream::{read_image, read_stream, Item, ItemKind, Visit};

/// What [`unpack`] installed.
#[derive(Debug, Clone)]
pub struct Unpacked {
    /// The image's metadata.
    pub meta: ImageMeta,
    /// SHA-256 of the image file, lowercase hex: the bytes actually installed.
    pub sha256: String,
    /// Entries installed (files, directories, symbolic and hard links).
    pub entries: u64,
    /// Bytes of file contents written.
    pub bytes: u64,
}

/// Unpacks the image at `image` into the existing directory `root` (the zone
/// root), confined to it, after checking that it is an `expect` image.
///
/// Entries under the image's `root/` are installed in archive order, later
/// ones replacing earlier ones and what the zone root already has (a file,
/// link or hard link replaces a non-directory; a directory is kept and updated,
/// and a symbolic link to a directory is kept; replacing a directory with
/// anything else, or a file with a directory, is an error); owners, modes (setuid included) and times are
/// those of the archive. On error the zone root may be partly written: the
/// caller rolls back.
pub fn unpack(image: &Path, root: &Path, expect: ImageKind) -> Result<Unpacked, ImageError> {
    let zone = ZoneDir::open(root).map_err(|source| ImageError::Root {
        image: image.to_owned(),
        root: root.to_owned(),
        source,
    })?;
    let mut extractor = Extractor::new(&zone);
    let summary = read_image(image, Some(expect), &mut extractor)?;
    extractor
        .finish()
        .map_err(|(path, problem)| ImageError::Entry {
            image: image.to_owned(),
            entry: format!("root{path}"),
            problem,
        })?;
    tracing::debug!(
        "unpacked {} ({}, sha256 {}): {} entries, {} bytes",
        image.display(),
        summary.meta.kind,
        summary.sha256,
        extractor.entries,
        extractor.bytes
    );
    Ok(Unpacked {
        meta: summary.meta,
        sha256: summary.sha256,
        entries: extractor.entries,
        bytes: extractor.bytes,
    })
}

/// What [`inspect`] found in an image.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The image's metadata.
    pub meta: ImageMeta,
    /// SHA-256 of the image file, lowercase hex.
    pub sha256: String,
    /// Regular files under `root/`.
    pub files: u64,
    /// Directories under `root/` (not `root/` itself).
    pub dirs: u64,
    /// Symbolic links under `root/`.
    pub symlinks: u64,
    /// Hard links under `root/`.
    pub hardlinks: u64,
    /// Bytes of regular file contents.
    pub bytes: u64,
    /// Entries that would not be installed: outside `root/`, `root/` itself,
    /// PAX global headers.
    pub ignored: u64,
}

/// Reads and validates the whole image without writing anything (for
/// `image inspect` and pre-flight checks): everything [`unpack`] checks but
/// what depends on the zone root (type conflicts, hard link targets existing).
/// Any kind of image is accepted; compare [`Inspection::meta`] to what is needed.
pub fn inspect(image: &Path) -> Result<Inspection, ImageError> {
    let mut counter = Counter::default();
    let summary = read_image(image, None, &mut counter)?;
    Ok(counter.inspection(summary))
}

/// [`inspect`] on an image read from `source` (e.g. bytes in memory); `image`
/// only names it in errors.
pub fn inspect_reader(
    image: &Path,
    source: impl std::io::Read + Send,
) -> Result<Inspection, ImageError> {
    let mut counter = Counter::default();
    let summary = read_stream(image, source, None, &mut counter)?;
    Ok(counter.inspection(summary))
}

impl Counter {
    /// The inspection of a pass that this counter visited.
    fn inspection(self, summary: stream::Summary) -> Inspection {
        Inspection {
            meta: summary.meta,
            sha256: summary.sha256,
            files: self.files,
            dirs: self.dirs,
            symlinks: self.symlinks,
            hardlinks: self.hardlinks,
            bytes: self.bytes,
            ignored: summary.ignored,
        }
    }
}

/// A [`Visit`]or that counts entries by kind and reads file contents through
/// (so that a truncated entry is found).
#[derive(Debug, Default)]
struct Counter {
    files: u64,
    dirs: u64,
    symlinks: u64,
    hardlinks: u64,
    bytes: u64,
}

impl Visit for Counter {
    fn item(&mut self, item: &Item, data: &mut dyn std::io::Read) -> Result<(), EntryError> {
        match item.kind {
            ItemKind::File => {
                self.files += 1;
                self.bytes +=
                    std::io::copy(data, &mut std::io::sink()).map_err(|source| EntryError::Io {
                        op: "read its data",
                        source,
                    })?;
            }
            ItemKind::Dir => self.dirs += 1,
            ItemKind::Symlink(_) => self.symlinks += 1,
            ItemKind::HardLink { .. } => self.hardlinks += 1,
        }
        Ok(())
    }
}
