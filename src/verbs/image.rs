//! `image inspect IMAGE [--json]`: an image's metadata and contents.

use std::path::Path;

use super::exit::Failure;
use super::not_complete;
use crate::image;

/// `image inspect IMAGE [--json]`.
pub(crate) fn inspect(path: &Path, json: bool) -> Result<(), Failure> {
    let i = image::inspect(path).map_err(not_complete)?;
    if json {
        let value = serde_json::json!({
            "image": path.display().to_string(),
            "sha256": i.sha256,
            "metadata": i.meta.to_json(),
            "files": i.files,
            "dirs": i.dirs,
            "symlinks": i.symlinks,
            "hardlinks": i.hardlinks,
            "bytes": i.bytes,
            "ignored": i.ignored,
        });
        println!("{value:#}");
    } else {
        println!("image:     {}", path.display());
        println!("sha256:    {}", i.sha256);
        println!("metadata:  {}", i.meta.to_json());
        println!(
            "contents:  {} files ({} bytes), {} directories, {} symlinks, {} hard links, {} ignored",
            i.files, i.bytes, i.dirs, i.symlinks, i.hardlinks, i.ignored
        );
    }
    Ok(())
}
