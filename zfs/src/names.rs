//! Validated names of pools, datasets and snapshots.
//!
//! Every name that reaches a `zfs` argv goes through one of these types, so a
//! malformed or hostile string (an option like `-r`, an embedded `@`, a `..`
//! component) is refused before any command runs. The rules follow OpenZFS's
//! `zfs_namecheck.c`: components of ASCII letters, digits and `_ - . : ` (space),
//! no `.`/`..` components, at most 255 bytes in all.

use std::fmt;
use std::str::FromStr;

/// The longest name ZFS accepts (`ZFS_MAX_DATASET_NAME_LEN` less the NUL).
pub const MAX_NAME_LEN: usize = 255;

/// Why a string is not a valid ZFS name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid ZFS {kind} name {name:?}: {reason}")]
pub struct NameError {
    /// What was being parsed: "pool", "dataset" or "snapshot".
    pub kind: &'static str,
    /// The string as given.
    pub name: String,
    /// Which rule it broke.
    pub reason: &'static str,
}

fn name_error(kind: &'static str, name: &str, reason: &'static str) -> NameError {
    NameError {
        kind,
        name: name.to_string(),
        reason,
    }
}

fn component_char_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | ' ')
}

/// Checks one path component (between `/`, or after `@`).
fn check_component(kind: &'static str, whole: &str, comp: &str) -> Result<(), NameError> {
    if comp.is_empty() {
        return Err(name_error(kind, whole, "empty component"));
    }
    if comp == "." || comp == ".." {
        return Err(name_error(
            kind,
            whole,
            "'.' and '..' are not valid components",
        ));
    }
    if !comp.chars().all(component_char_ok) {
        return Err(name_error(
            kind,
            whole,
            "only letters, digits and '_-.: ' are allowed",
        ));
    }
    Ok(())
}

fn check_pool(kind: &'static str, whole: &str, pool: &str) -> Result<(), NameError> {
    check_component(kind, whole, pool)?;
    if !pool.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(name_error(
            kind,
            whole,
            "a pool name must start with a letter",
        ));
    }
    let reserved = ["mirror", "raidz", "draid", "spare", "log"];
    if reserved.iter().any(|r| pool.starts_with(r)) {
        return Err(name_error(
            kind,
            whole,
            "pool names may not start with a reserved word",
        ));
    }
    if pool.contains(' ') {
        return Err(name_error(kind, whole, "pool names may not contain spaces"));
    }
    Ok(())
}

fn check_len(kind: &'static str, whole: &str) -> Result<(), NameError> {
    if whole.len() > MAX_NAME_LEN {
        return Err(name_error(kind, whole, "longer than 255 bytes"));
    }
    Ok(())
}

/// The name of a storage pool, e.g. `oxp_0a1b`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PoolName(String);

impl PoolName {
    /// The name as ZFS spells it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The pool's root dataset, which shares its name.
    pub fn root_dataset(&self) -> DatasetName {
        DatasetName(self.0.clone())
    }
}

impl FromStr for PoolName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        check_len("pool", s)?;
        check_pool("pool", s, s)?;
        Ok(PoolName(s.to_string()))
    }
}

/// The name of a filesystem or volume, e.g. `oxp_0a1b/crypt/zone/oxz_ntp`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DatasetName(String);

impl DatasetName {
    /// The name as ZFS spells it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The pool this dataset lives in (its first component).
    pub fn pool(&self) -> PoolName {
        let pool = self.0.split('/').next().unwrap_or(&self.0);
        PoolName(pool.to_string())
    }

    /// The parent dataset, or `None` for a pool's root dataset.
    pub fn parent(&self) -> Option<DatasetName> {
        self.0
            .rsplit_once('/')
            .map(|(parent, _)| DatasetName(parent.to_string()))
    }

    /// The last component of the name.
    pub fn basename(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// A child `self/name`; fails if `name` is not a single valid component or the
    /// result is too long.
    pub fn child(&self, name: &str) -> Result<DatasetName, NameError> {
        format!("{}/{}", self.0, name).parse()
    }

    /// The snapshot `self@name`.
    pub fn snapshot(&self, name: &str) -> Result<SnapshotName, NameError> {
        format!("{}@{}", self.0, name).parse()
    }

    /// Whether `self` is `other` or lies below it.
    pub fn is_within(&self, other: &DatasetName) -> bool {
        self == other
            || (self.0.starts_with(other.as_str())
                && self.0.as_bytes().get(other.0.len()) == Some(&b'/'))
    }
}

impl FromStr for DatasetName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        const KIND: &str = "dataset";
        check_len(KIND, s)?;
        if s.contains('@') || s.contains('#') || s.contains('%') {
            return Err(name_error(
                KIND,
                s,
                "'@', '#' and '%' are not allowed in a dataset name",
            ));
        }
        let mut parts = s.split('/');
        check_pool(KIND, s, parts.next().unwrap_or(""))?;
        for comp in parts {
            check_component(KIND, s, comp)?;
        }
        Ok(DatasetName(s.to_string()))
    }
}

/// The name of a snapshot, `dataset@snap`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SnapshotName {
    full: String,
    at: usize,
}

impl SnapshotName {
    /// The name as ZFS spells it.
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The dataset this is a snapshot of.
    pub fn dataset(&self) -> DatasetName {
        DatasetName(self.full[..self.at].to_string())
    }

    /// The part after `@`.
    pub fn snap(&self) -> &str {
        &self.full[self.at + 1..]
    }
}

impl FromStr for SnapshotName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        const KIND: &str = "snapshot";
        check_len(KIND, s)?;
        let at = s
            .find('@')
            .ok_or_else(|| name_error(KIND, s, "no '@' in a snapshot name"))?;
        let (ds, snap) = (&s[..at], &s[at + 1..]);
        ds.parse::<DatasetName>()
            .map_err(|e| name_error(KIND, s, e.reason))?;
        if snap.contains('@') || snap.contains('/') || snap.contains('#') || snap.contains('%') {
            return Err(name_error(
                KIND,
                s,
                "the snapshot part may not contain '@', '/', '#' or '%'",
            ));
        }
        check_component(KIND, s, snap)?;
        Ok(SnapshotName {
            full: s.to_string(),
            at,
        })
    }
}

/// Anything `zfs get`, `zfs set` and `zfs destroy` can name: a dataset or a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectName<'a> {
    /// A filesystem or volume.
    Dataset(&'a DatasetName),
    /// A snapshot.
    Snapshot(&'a SnapshotName),
}

impl ObjectName<'_> {
    /// The name as ZFS spells it.
    pub fn as_str(&self) -> &str {
        match self {
            ObjectName::Dataset(d) => d.as_str(),
            ObjectName::Snapshot(s) => s.as_str(),
        }
    }
}

impl<'a> From<&'a DatasetName> for ObjectName<'a> {
    fn from(d: &'a DatasetName) -> Self {
        ObjectName::Dataset(d)
    }
}

impl<'a> From<&'a SnapshotName> for ObjectName<'a> {
    fn from(s: &'a SnapshotName) -> Self {
        ObjectName::Snapshot(s)
    }
}

/// The name in a row of `zfs list`: a dataset or a snapshot, so that no
/// caller splits on `@`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ListedName {
    /// A filesystem or volume.
    Dataset(DatasetName),
    /// A snapshot.
    Snapshot(SnapshotName),
}

impl ListedName {
    /// The name as ZFS spells it.
    pub fn as_str(&self) -> &str {
        match self {
            ListedName::Dataset(d) => d.as_str(),
            ListedName::Snapshot(s) => s.as_str(),
        }
    }

    /// The dataset this is, or is a snapshot of.
    pub fn dataset(&self) -> DatasetName {
        match self {
            ListedName::Dataset(d) => d.clone(),
            ListedName::Snapshot(s) => s.dataset(),
        }
    }

    /// The dataset, if this is one.
    pub fn as_dataset(&self) -> Option<&DatasetName> {
        match self {
            ListedName::Dataset(d) => Some(d),
            ListedName::Snapshot(_) => None,
        }
    }

    /// The snapshot, if this is one.
    pub fn as_snapshot(&self) -> Option<&SnapshotName> {
        match self {
            ListedName::Dataset(_) => None,
            ListedName::Snapshot(s) => Some(s),
        }
    }
}

impl FromStr for ListedName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        if s.contains('@') {
            Ok(ListedName::Snapshot(s.parse()?))
        } else {
            Ok(ListedName::Dataset(s.parse()?))
        }
    }
}

impl PartialEq<DatasetName> for ListedName {
    fn eq(&self, other: &DatasetName) -> bool {
        self.as_dataset() == Some(other)
    }
}

impl PartialEq<SnapshotName> for ListedName {
    fn eq(&self, other: &SnapshotName) -> bool {
        self.as_snapshot() == Some(other)
    }
}

macro_rules! display_as_str {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}
display_as_str!(
    PoolName,
    DatasetName,
    SnapshotName,
    ObjectName<'_>,
    ListedName
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_names_table() {
        let valid = [
            "tp",
            "tp/a",
            "oxp_1/crypt/zone/oxz_ntp",
            "t-p/a.b:c d",
            "tp/..a",
        ];
        for n in valid {
            assert!(n.parse::<DatasetName>().is_ok(), "{n} should be valid");
        }
        let invalid = [
            "", "/tp", "tp/", "tp//a", "tp/a@b", "tp/..", "tp/./a", "-r", "1pool/a", "mirror/a",
            "tp/a#b", "tp/a%b", "tp/ä", "tp/a\tb", "tp/a\nb",
        ];
        for n in invalid {
            assert!(n.parse::<DatasetName>().is_err(), "{n:?} should be invalid");
        }
        // '@', '#' and '%' each get the message that names them.
        for n in ["tp/a@b", "tp/a#b", "tp/a%b"] {
            let e = n.parse::<DatasetName>().unwrap_err();
            assert!(
                e.reason.contains("'@', '#' and '%' are not allowed"),
                "{n:?}: {}",
                e.reason
            );
        }
        let long = format!("tp/{}", "a".repeat(253));
        assert!(long.parse::<DatasetName>().is_err());
        let max = format!("tp/{}", "a".repeat(252));
        assert!(max.parse::<DatasetName>().is_ok());
    }

    #[test]
    fn snapshot_names_table() {
        let s: SnapshotName = "tp/a/b@ready".parse().unwrap();
        assert_eq!(s.dataset().as_str(), "tp/a/b");
        assert_eq!(s.snap(), "ready");
        assert_eq!(s.to_string(), "tp/a/b@ready");
        for bad in [
            "tp/a", "tp/a@", "@x", "tp/a@b@c", "tp/a@b/c", "tp/a@..", "-r@x",
        ] {
            assert!(
                bad.parse::<SnapshotName>().is_err(),
                "{bad:?} should be invalid"
            );
        }
        // Each character the snapshot part may not hold gets the message that names it.
        for bad in ["tp/a@b@c", "tp/a@b/c", "tp/a@b#c", "tp/a@b%c"] {
            let e = bad.parse::<SnapshotName>().unwrap_err();
            assert!(
                e.reason
                    .contains("the snapshot part may not contain '@', '/', '#' or '%'"),
                "{bad:?}: {}",
                e.reason
            );
        }
    }

    #[test]
    fn pool_names_table() {
        assert!("oxp_0".parse::<PoolName>().is_ok());
        for bad in ["", "0x", "tp/a", "raidz1", "log", "t p"] {
            assert!(
                bad.parse::<PoolName>().is_err(),
                "{bad:?} should be invalid"
            );
        }
    }

    #[test]
    fn relations() {
        let d: DatasetName = "tp/zone/z1".parse().unwrap();
        assert_eq!(d.pool().as_str(), "tp");
        assert_eq!(d.parent().unwrap().as_str(), "tp/zone");
        assert_eq!(d.basename(), "z1");
        assert_eq!(d.child("root").unwrap().as_str(), "tp/zone/z1/root");
        assert!(d.child("a/b").is_ok(), "nested child paths are valid names");
        assert!(d.child("..").is_err());
        assert_eq!(d.snapshot("s").unwrap().as_str(), "tp/zone/z1@s");
        let snap = d.snapshot("s").unwrap();
        assert_eq!(ObjectName::from(&d).as_str(), "tp/zone/z1");
        assert_eq!(ObjectName::from(&snap).as_str(), "tp/zone/z1@s");
        assert_eq!(ObjectName::from(&snap).to_string(), "tp/zone/z1@s");
        let tp: DatasetName = "tp".parse().unwrap();
        assert!(tp.parent().is_none());
        assert!(d.is_within(&"tp/zone".parse().unwrap()));
        assert!(d.is_within(&d));
        assert!(!d.is_within(&"tp/zo".parse().unwrap()));
        assert!(!"tp/zone".parse::<DatasetName>().unwrap().is_within(&d));
    }
}
