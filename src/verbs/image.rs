//! `image inspect IMAGE [--json]`: an image's metadata and contents.

use std::path::Path;

use super::exit::Failure;
use super::not_complete;
use super::schema::{self, ImageInspect};
use crate::image;
use crate::support::output;

/// `image inspect IMAGE [--json]`.
pub(crate) fn inspect(path: &Path, json: bool) -> Result<(), Failure> {
    if json {
        output::json_mode();
    }
    let i = image::inspect(path).map_err(not_complete)?;
    if json {
        schema::print(&ImageInspect {
            image: path.to_string_lossy().into_owned(),
            sha256: i.sha256,
            metadata: i.meta.to_json(),
            files: i.files,
            dirs: i.dirs,
            symlinks: i.symlinks,
            hardlinks: i.hardlinks,
            bytes: i.bytes,
            ignored: i.ignored,
        });
    } else {
        output::report(format_args!(
            "image:     {}\nsha256:    {}\nmetadata:  {}\n\
             contents:  {} files ({}), {} directories, {} symlinks, {} hard links, {} ignored\n",
            path.display(),
            i.sha256,
            i.meta.to_json(),
            i.files,
            output::size(i.bytes),
            i.dirs,
            i.symlinks,
            i.hardlinks,
            i.ignored
        ));
    }
    Ok(())
}
