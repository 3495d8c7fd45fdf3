//! `baseline create`: make a baseline archive from a root tree.

use std::path::Path;

use super::exit::Failure;
use super::not_complete;
use super::schema::{self, BaselineCreated};
use crate::rootfs::baseline::{FILES, GZONLY};
use crate::rootfs::baseline_archive;
use crate::support::output::{self, info};

/// `baseline create --root ROOT --include LIST [--gzonly LIST] --output DIR [--json]`.
pub(crate) fn create(
    root: &Path,
    include: &Path,
    gzonly: Option<&Path>,
    output: &Path,
    json: bool,
) -> Result<(), Failure> {
    if json {
        output::json_mode();
    }
    let stats = baseline_archive::create(root, include, gzonly, output).map_err(not_complete)?;
    info(format_args!(
        "wrote {}: {} entries, {}",
        output.join(FILES).display(),
        stats.entries,
        output::size(stats.bytes)
    ));
    if json {
        schema::print(&BaselineCreated {
            files: output.join(FILES).to_string_lossy().into_owned(),
            gzonly: output.join(GZONLY).to_string_lossy().into_owned(),
            entries: stats.entries,
            bytes: stats.bytes,
        });
    }
    Ok(())
}
