//! `baseline create`: make a baseline archive from a root tree.

use std::path::Path;

use super::exit::Failure;
use super::not_complete;
use crate::rootfs::baseline::FILES;
use crate::rootfs::baseline_archive;
use crate::support::output::info;

/// `baseline create --root ROOT --include LIST [--gzonly LIST] --output DIR`.
pub(crate) fn create(
    root: &Path,
    include: &Path,
    gzonly: Option<&Path>,
    output: &Path,
) -> Result<(), Failure> {
    let stats = baseline_archive::create(root, include, gzonly, output).map_err(not_complete)?;
    info(format_args!(
        "wrote {}: {} entries, {} bytes",
        output.join(FILES).display(),
        stats.entries,
        stats.bytes
    ));
    Ok(())
}
