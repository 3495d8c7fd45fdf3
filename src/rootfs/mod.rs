//! What every zone root starts from, for a template or for a copy: the
//! global zone's system trees, less what a zone must not have, plus the
//! baseline archive.
//!
//! This knows directories, not ZFS: a template build fills a mounted
//! dataset with [`populate`], the copy fallback fills `ZONEPATH/root`.

pub mod baseline;
pub mod baseline_archive;
pub mod beneath;
pub mod replicate;

use std::path::{Path, PathBuf};

use crate::image::{self, ImageKind};
use crate::support::output::{info, ms};
use crate::support::pathio::PathIoError;
use crate::support::{faults, signals};
use baseline::{Baseline, BaselineError};
use replicate::{Mode, ReplicateError};

/// The system trees replicated into every zone root, in order.
pub const TREES: [&str; 3] = ["usr", "lib", "sbin"];
/// SMF manifests of the global zone, which a zone must not import.
pub const PRUNED: &str = "lib/svc/manifest";

/// Why a zone root could not be filled.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// Replicating a system tree failed.
    #[error(transparent)]
    Replicate(#[from] ReplicateError),
    /// The baseline could not be found, read or applied.
    #[error(transparent)]
    Baseline(#[from] BaselineError),
    /// The baseline archive could not be unpacked.
    #[error(transparent)]
    Image(#[from] image::ImageError),
    /// A signal arrived.
    #[error(transparent)]
    Interrupted(#[from] signals::Interrupted),
    /// A filesystem operation failed.
    #[error(transparent)]
    Io(#[from] PathIoError),
}

/// Where the sources are and how to copy them, as the settings say, before
/// the baseline is looked for.
#[derive(Debug, Clone)]
pub struct SourcePlaces {
    /// Where `usr`, `lib` and `sbin` are replicated from.
    pub source_root: PathBuf,
    /// Candidate folders holding a baseline, first wins.
    pub baseline_dirs: Vec<PathBuf>,
    /// Symlink shared objects and executables into `/system`, or copy all.
    pub mode: Mode,
    /// Copy threads; `None` for [`replicate::default_threads`].
    pub threads: Option<usize>,
}

impl SourcePlaces {
    /// The sources these places hold; fails if no baseline is found.
    pub fn find(&self) -> Result<Sources, BaselineError> {
        Ok(Sources {
            source_root: self.source_root.clone(),
            baseline: baseline::find(&self.baseline_dirs)?,
            mode: self.mode,
            threads: self.threads.unwrap_or_else(replicate::default_threads),
        })
    }
}

/// What zone roots start from: the system trees and the baseline.
#[derive(Debug, Clone)]
pub struct Sources {
    /// Where `usr`, `lib` and `sbin` are replicated from.
    pub source_root: PathBuf,
    /// The baseline archive and global-zone-only list.
    pub baseline: Baseline,
    /// Symlink shared objects and executables into `/system`, or copy all.
    pub mode: Mode,
    /// Copy threads.
    pub threads: usize,
}

/// Fills `dir` with what a zone root starts from, as the original brand did for
/// every zone: the system trees, less SMF manifests and global-zone-only files,
/// plus the baseline archive. Used for templates and for the copy fallback.
pub fn populate(dir: &Path, sources: &Sources) -> Result<(), RootfsError> {
    for tree in TREES {
        signals::check()?;
        replicate_one(dir, sources, tree)?;
    }
    info("pruning SMF manifests...");
    replicate::prune(dir, Path::new(PRUNED))?;
    info("pruning global-only files...");
    let gzonly = baseline::read_gzonly(&sources.baseline.gzonly)?;
    let removed = baseline::remove_gzonly(dir, &gzonly)?;
    tracing::debug!("removed {removed} global-only paths");
    faults::point("pruned");
    signals::check()?;
    info("unpacking baseline archive...");
    image::unpack(&sources.baseline.files, dir, ImageKind::Baseline)?;
    Ok(())
}

/// Replicates one tree. A tree that is a symlink at the source (`/lib ->
/// usr/lib` on merged-/usr systems) is recreated as the same symlink.
fn replicate_one(dir: &Path, sources: &Sources, tree: &str) -> Result<(), RootfsError> {
    let src = sources.source_root.join(tree);
    let meta = std::fs::symlink_metadata(&src)
        .map_err(PathIoError::on("cannot read system tree", &src))?;
    if meta.file_type().is_symlink() {
        let target =
            std::fs::read_link(&src).map_err(PathIoError::on("cannot read symlink", &src))?;
        let dest = dir.join(tree);
        std::os::unix::fs::symlink(&target, &dest)
            .map_err(PathIoError::on("cannot create symlink", &dest))?;
        info(format_args!(
            "replicated /{tree}: a symlink to {}",
            target.display()
        ));
        return Ok(());
    }
    info(format_args!("replicating /{tree} tree..."));
    let stats = replicate::replicate_tree(
        &sources.source_root,
        tree,
        dir,
        sources.mode,
        sources.threads,
    )?;
    info(format_args!(
        "replicated /{tree}: {} files, {} bytes, {} links, {} msec",
        stats.files,
        stats.bytes,
        stats.links,
        ms(stats.elapsed)
    ));
    Ok(())
}
