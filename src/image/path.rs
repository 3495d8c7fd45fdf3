//! Entry names: normalised and classified before anything touches the disk.
//!
//! An entry name comes from an untrusted archive. It is checked here, as raw
//! bytes (names need not be UTF-8), component by component: a leading `/` or a
//! `..` anywhere is an error rather than something quietly rewritten, so an
//! image that tries to leave its root is refused outright instead of being
//! half-installed somewhere unexpected. What survives is a list of plain
//! components; only [`super::confined`] turns it into a place on disk.

use std::fmt;

/// The name of the metadata entry at the top of every image.
pub const METADATA_NAME: &[u8] = b"oxide.json";

/// The top-level folder whose contents are installed into the zone root.
pub const ROOT_NAME: &[u8] = b"root";

/// Why an entry name (or a hard link's target name) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The name starts with `/`.
    #[error("absolute names are not allowed; names in an image are relative to it (root/...)")]
    Absolute,
    /// The name has a `..` component.
    #[error("'..' components are not allowed in image names")]
    ParentDir,
    /// The name has a NUL byte (possible only through a PAX record).
    #[error("names may not contain a NUL byte")]
    Nul,
}

/// A path under the image's `root/`, as the components below `root`: never
/// empty, no component empty, `.` or `..`, none containing `/` or NUL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RootPath(Vec<Vec<u8>>);

impl RootPath {
    /// The components, outermost first.
    pub fn components(&self) -> &[Vec<u8>] {
        &self.0
    }

    /// The parent's components and the last component.
    pub fn split_last(&self) -> (&[Vec<u8>], &[u8]) {
        match self.0.split_last() {
            Some((last, parent)) => (parent, last),
            // Unreachable by construction (see `classify`); an empty path would
            // name the zone root itself, which has no parent and no name.
            None => (&[], b""),
        }
    }
}

impl fmt::Display for RootPath {
    /// Shows the path as the zone sees it, e.g. `/etc/passwd` (lossy UTF-8).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.0 {
            write!(f, "/{}", String::from_utf8_lossy(c))?;
        }
        Ok(())
    }
}

/// What an entry name means for the installer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryPath {
    /// `oxide.json`: the image's metadata.
    Metadata,
    /// `root` itself: the zone root, which the image does not get to change.
    RootDir,
    /// Something under `root/`, to install at this path in the zone.
    Root(RootPath),
    /// Anything else: not part of the image's contents, skipped (as the
    /// original brand did).
    Ignored,
}

/// Splits a raw name into its meaningful components: a leading `./` and empty
/// or `.` components are dropped; a leading `/`, a `..` or a NUL is an error.
pub fn components(raw: &[u8]) -> Result<Vec<&[u8]>, PathError> {
    if raw.starts_with(b"/") {
        return Err(PathError::Absolute);
    }
    if raw.contains(&0) {
        return Err(PathError::Nul);
    }
    let mut out = Vec::new();
    for c in raw.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err(PathError::ParentDir),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Normalises and classifies an entry name (see [`components`] and [`EntryPath`]).
pub fn classify(raw: &[u8]) -> Result<EntryPath, PathError> {
    let parts = components(raw)?;
    Ok(match parts.split_first() {
        Some((first, [])) if *first == METADATA_NAME => EntryPath::Metadata,
        Some((first, [])) if *first == ROOT_NAME => EntryPath::RootDir,
        Some((first, rest)) if *first == ROOT_NAME => {
            EntryPath::Root(RootPath(rest.iter().map(|c| c.to_vec()).collect()))
        }
        _ => EntryPath::Ignored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(parts: &[&str]) -> EntryPath {
        EntryPath::Root(RootPath(
            parts.iter().map(|p| p.as_bytes().to_vec()).collect(),
        ))
    }

    /// Valid, filtered and rejected names, in the style of bootc's
    /// `ostree-ext/src/tar/write.rs` table.
    #[test]
    fn names() {
        let cases: Vec<(&[u8], Result<EntryPath, PathError>)> = vec![
            // metadata, with and without the `./` prefix tar adds
            (b"oxide.json", Ok(EntryPath::Metadata)),
            (b"./oxide.json", Ok(EntryPath::Metadata)),
            (b".//./oxide.json", Ok(EntryPath::Metadata)),
            // the root itself, skipped
            (b"root", Ok(EntryPath::RootDir)),
            (b"root/", Ok(EntryPath::RootDir)),
            (b"./root/", Ok(EntryPath::RootDir)),
            (b"root/./", Ok(EntryPath::RootDir)),
            // contents
            (b"root/etc", Ok(root(&["etc"]))),
            (b"./root/etc/passwd", Ok(root(&["etc", "passwd"]))),
            (b"root//usr/./bin/", Ok(root(&["usr", "bin"]))),
            (b"root/oxide.json", Ok(root(&["oxide.json"]))),
            (b"root/...", Ok(root(&["..."]))),
            (b"root/..foo", Ok(root(&["..foo"]))),
            // ignored
            (b"", Ok(EntryPath::Ignored)),
            (b".", Ok(EntryPath::Ignored)),
            (b"./", Ok(EntryPath::Ignored)),
            (b"README", Ok(EntryPath::Ignored)),
            (b"rootfs/etc", Ok(EntryPath::Ignored)),
            (b"Root/etc", Ok(EntryPath::Ignored)),
            (b"oxide.json/x", Ok(EntryPath::Ignored)),
            (b"sub/oxide.json", Ok(EntryPath::Ignored)),
            (b"sub/root/etc", Ok(EntryPath::Ignored)),
            // rejected, even when they would be ignored
            (b"/root/etc", Err(PathError::Absolute)),
            (b"/oxide.json", Err(PathError::Absolute)),
            (b"/", Err(PathError::Absolute)),
            (b"..", Err(PathError::ParentDir)),
            (b"root/..", Err(PathError::ParentDir)),
            (b"root/../etc", Err(PathError::ParentDir)),
            (b"root/etc/../../x", Err(PathError::ParentDir)),
            (b"./../root/x", Err(PathError::ParentDir)),
            (b"junk/../root/x", Err(PathError::ParentDir)),
            (b"root/a\0b", Err(PathError::Nul)),
        ];
        for (raw, want) in cases {
            assert_eq!(classify(raw), want, "{:?}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn non_utf8_names_are_kept_byte_for_byte() {
        let got = classify(b"root/caf\xe9/\xff").unwrap();
        let EntryPath::Root(path) = got else {
            panic!("{got:?}")
        };
        assert_eq!(path.components(), &[b"caf\xe9".to_vec(), b"\xff".to_vec()]);
        assert_eq!(path.to_string(), "/caf\u{fffd}/\u{fffd}");
    }

    #[test]
    fn split_last_gives_parent_and_name() {
        let EntryPath::Root(path) = classify(b"root/a/b/c").unwrap() else {
            panic!()
        };
        let (parent, name) = path.split_last();
        assert_eq!(parent, &[b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(name, b"c");
        assert_eq!(path.to_string(), "/a/b/c");
    }
}
