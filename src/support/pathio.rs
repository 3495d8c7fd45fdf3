//! One error type for a filesystem call that failed on a path, shared by the
//! install pipeline, templates and lifecycle hooks.

use std::path::{Path, PathBuf};

/// A filesystem operation that failed on `path`. Displays as
/// `cannot create /zones/z/root`; the system's reason is the `source()`, which
/// `main` prints after it on the same line.
#[derive(Debug, thiserror::Error)]
#[error("{what} {}", path.display())]
pub struct PathIoError {
    /// What was being done, e.g. "cannot create".
    pub what: &'static str,
    /// On what.
    pub path: PathBuf,
    /// The system's reason.
    #[source]
    pub source: std::io::Error,
}

impl PathIoError {
    /// A `map_err` adapter: `.map_err(PathIoError::on("cannot read", &p))`.
    pub fn on<'a>(
        what: &'static str,
        path: &'a Path,
    ) -> impl FnOnce(std::io::Error) -> PathIoError + 'a {
        move |source| PathIoError {
            what,
            path: path.to_path_buf(),
            source,
        }
    }
}
