//! Reaching `root/rel` through directories only, never through a symbolic
//! link, and the one normaliser that makes `rel` safe to walk.
//!
//! Baseline lists (`gzonly.txt`, `--include`) and the pruned SMF manifests
//! name paths relative to a zone root that may hold symbolic links to
//! anywhere: following one would remove or archive the global zone's files.
//! (Image extraction does the same job from a directory handle, in
//! `image::confined`, because an image is hostile; these paths are the
//! system's own.)

use std::fmt;
use std::fs::{self, Metadata};
use std::io;
use std::path::{Component, Path, PathBuf};

/// Why a path is not a relative path inside the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unclean {
    /// It starts at `/`.
    Absolute,
    /// It has a `..` component.
    DotDot,
    /// It names the root itself (empty, or only `.`).
    Empty,
}

impl fmt::Display for Unclean {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unclean::Absolute => "is absolute: paths are relative to the root",
            Unclean::DotDot => "contains '..'",
            Unclean::Empty => "names the root itself",
        })
    }
}

/// `path` as normal components only (`.` and repeated `/` dropped), or what
/// is wrong with it.
pub fn clean_relative(path: &Path) -> Result<PathBuf, Unclean> {
    let mut clean = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(c) => clean.push(c),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return Err(Unclean::Absolute),
            Component::ParentDir => return Err(Unclean::DotDot),
        }
    }
    if clean.as_os_str().is_empty() {
        return Err(Unclean::Empty);
    }
    Ok(clean)
}

/// What [`walk`] found at `root/rel`.
#[derive(Debug)]
pub(crate) enum Reached {
    /// It is there, reached through directories only.
    Found {
        /// `root/rel`.
        path: PathBuf,
        /// Its metadata (of a symbolic link itself, never its target).
        metadata: Metadata,
    },
    /// It, or a directory on the way, does not exist.
    Absent,
    /// Something on the way is not a directory.
    Blocked {
        /// The first component on the way that is not a directory.
        at: PathBuf,
        /// Whether that is a symbolic link.
        symlink: bool,
    },
}

/// A component on the way could not be looked at.
#[derive(Debug)]
pub(crate) struct WalkError {
    /// The path that could not be looked at.
    pub(crate) path: PathBuf,
    /// The system's reason.
    pub(crate) source: io::Error,
}

/// Walks from `root` to `root/rel` (`rel` clean, see [`clean_relative`])
/// without following any symbolic link.
pub(crate) fn walk(root: &Path, rel: &Path) -> Result<Reached, WalkError> {
    let mut path = root.to_path_buf();
    let mut components = rel.components().peekable();
    while let Some(component) = components.next() {
        path.push(component);
        let metadata = match fs::symlink_metadata(&path) {
            Ok(md) => md,
            Err(e) if is_absent(&e) => return Ok(Reached::Absent),
            Err(source) => return Err(WalkError { path, source }),
        };
        if components.peek().is_none() {
            return Ok(Reached::Found { path, metadata });
        }
        if !metadata.is_dir() {
            let symlink = metadata.file_type().is_symlink();
            return Ok(Reached::Blocked { at: path, symlink });
        }
    }
    Ok(Reached::Absent)
}

/// Removes what [`walk`] found: a whole directory, or one file or symbolic
/// link (never its target). Returns whether something was removed (a racing
/// removal leaves nothing to do).
pub(crate) fn remove(path: &Path, metadata: &Metadata) -> io::Result<bool> {
    let result = if metadata.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    match result {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether an error means "not there" (the path or a folder on its way).
pub(crate) fn is_absent(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(nix::libc::ENOTDIR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_relative_without_dotdot() {
        let cases: &[(&str, Result<&str, Unclean>)] = &[
            ("etc/passwd", Ok("etc/passwd")),
            ("./etc/passwd", Ok("etc/passwd")),
            ("etc//zones/./index", Ok("etc/zones/index")),
            ("etc/", Ok("etc")),
            ("./lib/svc", Ok("lib/svc")),
            ("/etc/passwd", Err(Unclean::Absolute)),
            ("etc/../../x", Err(Unclean::DotDot)),
            ("lib/../..", Err(Unclean::DotDot)),
            ("..", Err(Unclean::DotDot)),
            (".", Err(Unclean::Empty)),
            ("", Err(Unclean::Empty)),
        ];
        for (input, expected) in cases {
            let got = clean_relative(Path::new(input));
            assert_eq!(got, expected.map(PathBuf::from), "{input:?}");
        }
        assert_eq!(
            Unclean::Absolute.to_string(),
            "is absolute: paths are relative to the root"
        );
    }

    #[test]
    fn walks_through_directories_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::write(root.join("a/b/f"), b"x").unwrap();
        fs::write(root.join("file"), b"x").unwrap();
        std::os::unix::fs::symlink("a", root.join("link")).unwrap();
        assert!(matches!(
            walk(root, Path::new("a/b/f")).unwrap(),
            Reached::Found { ref path, .. } if path == &root.join("a/b/f")
        ));
        assert!(matches!(
            walk(root, Path::new("a/nope/f")).unwrap(),
            Reached::Absent
        ));
        assert!(matches!(
            walk(root, Path::new("link/b/f")).unwrap(),
            Reached::Blocked { symlink: true, ref at } if at == &root.join("link")
        ));
        assert!(matches!(
            walk(root, Path::new("file/x")).unwrap(),
            Reached::Blocked { symlink: false, .. }
        ));
        // The link itself is found, not followed.
        let Reached::Found { path, metadata } = walk(root, Path::new("link")).unwrap() else {
            panic!("the link is there")
        };
        assert!(remove(&path, &metadata).unwrap());
        assert!(root.join("a/b/f").exists(), "the target is left alone");
    }
}
