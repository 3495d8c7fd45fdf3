//! Replacing the empty zonepath dataset zoneadm made with a clone of the
//! template, under the same name, and putting it back.
//!
//! What the zonepath dataset was — its local properties (sled-agent's
//! `oxide:uuid`, a local `mountpoint`, `sharenfs=off`...) and the zonepath's
//! mode and owner — is [`Saved`] before it is destroyed: in a record file in
//! the run directory (`swaps/<zone>`) for the moment between the destroy and
//! the clone, and on the clone itself (`omicron1:zonepath`) from then on. So
//! whatever step a killed install stopped at, the next install or
//! `uninstall -F` can put the dataset back as it was ([`restore`]).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use omicron1_zfs::{
    CreateOptions, DatasetName, DestroyOptions, ErrorKind, ListRow, Properties, SnapshotName, Zfs,
};

use super::{is_zone, zonepath_dataset, zonepath_dataset_name, ZoneRootError};
use crate::props;
use crate::support::output::{info, notice};
use crate::support::pathio::PathIoError;
use crate::zone::{Zone, ZoneName};

/// Properties a clone or a new dataset cannot be given: set only when an
/// encryption root is created, or fixed at creation and taken from the origin.
const NOT_SETTABLE: &[&str] = &[
    "encryption",
    "keyformat",
    "keylocation",
    "pbkdf2iters",
    "pbkdf2salt",
    "casesensitivity",
    "normalization",
    "utf8only",
    "volsize",
    "volblocksize",
];

/// A zonepath dataset as it was before an install replaced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    /// Its name.
    pub dataset: DatasetName,
    /// Its local properties that a new dataset can be given, in order.
    pub properties: Vec<(String, String)>,
    /// The zonepath's permission bits.
    pub mode: u32,
    /// The zonepath's owner.
    pub uid: u32,
    /// The zonepath's group.
    pub gid: u32,
}

impl Saved {
    /// What `dataset`, mounted at `zonepath`, is now: `local` is its
    /// [`Zfs::local_properties`].
    pub fn read(
        dataset: &DatasetName,
        zonepath: &Path,
        local: &Properties,
    ) -> Result<Saved, ZoneRootError> {
        let meta = std::fs::metadata(zonepath).map_err(PathIoError::on("cannot stat", zonepath))?;
        let properties = local
            .iter()
            .filter(|(name, _)| !NOT_SETTABLE.contains(&name.as_str()))
            .filter_map(|(name, p)| Some((name.clone(), p.value.clone()?)))
            .collect();
        Ok(Saved {
            dataset: dataset.clone(),
            properties,
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
        })
    }

    /// One escaped line: `DATASET MODE UID GID` then `NAME=VALUE` per
    /// property, newline-separated, each value escaped, the whole escaped
    /// again ([`props::escape`]) so that it fits a user property.
    pub fn encode(&self) -> String {
        let mut text = format!("{} {:o} {} {}", self.dataset, self.mode, self.uid, self.gid);
        for (name, value) in &self.properties {
            text.push('\n');
            text.push_str(name);
            text.push('=');
            text.push_str(&props::escape(value));
        }
        props::escape(&text)
    }

    /// Reads what [`Saved::encode`] wrote; `None` if it is not that.
    pub fn decode(encoded: &str) -> Option<Saved> {
        let text = props::unescape(encoded);
        let mut lines = text.split('\n');
        let mut head = lines.next()?.split(' ');
        let dataset = head.next()?.parse().ok()?;
        let mode = u32::from_str_radix(head.next()?, 8).ok()?;
        let uid = head.next()?.parse().ok()?;
        let gid = head.next()?.parse().ok()?;
        let properties = lines
            .map(|line| {
                let (name, value) = line.split_once('=')?;
                Some((name.to_string(), props::unescape(value)))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Saved {
            dataset,
            properties,
            mode,
            uid,
            gid,
        })
    }

    /// The properties as the `Zfs` calls take them.
    pub fn pairs(&self) -> Vec<(&str, &str)> {
        self.properties
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}

/// The record of a swap in progress for `zone`, in the run directory.
pub fn record_path(run_dir: &Path, zone: &ZoneName) -> PathBuf {
    run_dir.join("swaps").join(zone.as_str())
}

/// Writes the record (atomically: a temporary file renamed over it).
pub fn write_record(path: &Path, saved: &Saved) -> Result<(), ZoneRootError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(PathIoError::on("cannot create", dir))?;
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&tmp, saved.encode() + "\n").map_err(PathIoError::on("cannot write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(PathIoError::on("cannot write", path))?;
    Ok(())
}

/// Reads the record, `None` if there is none (or it is unreadable, which a
/// kill while writing its temporary file cannot cause).
pub fn read_record(path: &Path) -> Option<Saved> {
    Saved::decode(std::fs::read_to_string(path).ok()?.trim_end())
}

/// Removes the record; one that is already gone is fine.
pub fn remove_record(path: &Path) -> Result<(), PathIoError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(PathIoError::on("cannot remove", path)(e))
        }
        _ => Ok(()),
    }
}

/// Mounts `dataset` if `zfs create` or `zfs clone` with `properties` left
/// it unmounted: they mount what they make unless it is `canmount=noauto`
/// (and fail when the mount fails, which the caller handles).
pub fn ensure_mounted<K: AsRef<str>, V: AsRef<str>>(
    zfs: &dyn Zfs,
    dataset: &DatasetName,
    properties: &[(K, V)],
) -> Result<(), ZoneRootError> {
    let noauto = properties
        .iter()
        .any(|(k, v)| k.as_ref() == "canmount" && v.as_ref() == "noauto");
    if noauto {
        zfs.mount(dataset)?;
    }
    Ok(())
}

/// Gives the zonepath its mode and owner.
pub fn set_mode(zonepath: &Path, mode: u32, uid: u32, gid: u32) -> Result<(), ZoneRootError> {
    if nix::unistd::geteuid().is_root() {
        std::os::unix::fs::chown(zonepath, Some(uid), Some(gid))
            .map_err(PathIoError::on("cannot set the owner of", zonepath))?;
    }
    std::fs::set_permissions(zonepath, std::fs::Permissions::from_mode(mode))
        .map_err(PathIoError::on("cannot set the mode of", zonepath))?;
    Ok(())
}

/// Creates the zonepath dataset again as it was, mounted at `zonepath`
/// with its mode and owner.
pub fn recreate(zfs: &dyn Zfs, saved: &Saved, zonepath: &Path) -> Result<(), ZoneRootError> {
    let pairs = saved.pairs();
    let options = CreateOptions {
        parents: false,
        properties: &pairs,
    };
    if let Err(e) = zfs.create(&saved.dataset, &options) {
        // Created, but not mounted (over a non-empty folder): mount it.
        if !zfs.exists((&saved.dataset).into())? {
            return Err(e.into());
        }
        zfs.mount(&saved.dataset)?;
    } else {
        ensure_mounted(zfs, &saved.dataset, &saved.properties)?;
    }
    set_mode(zonepath, saved.mode, saved.uid, saved.gid)
}

/// Finishes off an install of `zone` that was killed, and returns what is
/// then mounted at the zonepath (as [`zonepath_dataset`]): a zone dataset
/// still `installing` is destroyed and the zonepath dataset made again as it
/// was; a zonepath dataset destroyed by a swap that never made its clone is
/// made again from the run directory's record. Costs one `zfs list` when
/// there is nothing to finish off and the zonepath is a mounted dataset.
pub fn recover(
    zfs: &dyn Zfs,
    run_dir: &Path,
    zone: &Zone,
) -> Result<Option<ListRow>, ZoneRootError> {
    let record = record_path(run_dir, &zone.name);
    let at_zonepath = zonepath_dataset(zfs, &zone.zonepath)?;
    let found = match &at_zonepath {
        Some(row) => Some(row.clone()),
        // A clone that was made but not mounted is not at the zonepath.
        None => unmounted(zfs, zone)?,
    };
    let mut changed = false;
    if let Some(row) = &found {
        if is_zone(row) && row.value(props::STATE) == Some("installing") {
            notice(format_args!(
                "zone dataset {} is from an install that did not finish: \
                 putting the zonepath dataset back",
                row.name
            ));
            restore(zfs, row, &zone.zonepath)?;
            changed = true;
        }
    }
    if let Some(saved) = read_record(&record) {
        if found.is_none() {
            notice(format_args!(
                "zonepath dataset {} was destroyed by an install that did not finish: \
                 making it again",
                saved.dataset
            ));
            std::fs::create_dir_all(&zone.zonepath)
                .map_err(PathIoError::on("cannot create", &zone.zonepath))?;
            recreate(zfs, &saved, &zone.zonepath)?;
            changed = true;
        }
        remove_record(&record)?;
    }
    if changed {
        zonepath_dataset(zfs, &zone.zonepath)
    } else {
        Ok(at_zonepath)
    }
}

/// The dataset zoneadm names for the zonepath, if it exists though nothing
/// is mounted at the zonepath.
fn unmounted(zfs: &dyn Zfs, zone: &Zone) -> Result<Option<ListRow>, ZoneRootError> {
    let Some(name) = zonepath_dataset_name(zfs, &zone.zonepath)? else {
        return Ok(None);
    };
    match zfs.get((&name).into(), super::ZONEPATH_PROPERTIES) {
        Ok(values) => Ok(Some(ListRow {
            name: omicron1_zfs::ListedName::Dataset(name),
            values: values.into_iter().map(|(k, p)| (k, p.value)).collect(),
        })),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Destroys the zone dataset `row` (the zonepath's) and puts back what it
/// replaced: the zonepath dataset install found, from the properties it
/// saved, or, for a zone the clone hook made, the bare folder. Destroys the
/// clone hook's own snapshot of its source with it. Returns the snapshot the
/// zone was cloned from.
pub fn restore(
    zfs: &dyn Zfs,
    row: &ListRow,
    zonepath: &Path,
) -> Result<Option<SnapshotName>, ZoneRootError> {
    let dataset = row.name.dataset();
    let snapshot = |name: &str| {
        row.value(name)
            .and_then(|v| props::unescape(v).parse::<SnapshotName>().ok())
    };
    let saved = row.value(props::ZONEPATH).and_then(Saved::decode);
    match zfs.destroy((&dataset).into(), DestroyOptions::RECURSIVE) {
        Err(e) if e.kind() == ErrorKind::HasDependents => {
            return Err(ZoneRootError::HasClones { root: dataset });
        }
        Err(e) if e.is_not_found() => {}
        other => other?,
    }
    info(format_args!("destroyed zone dataset {dataset}"));
    match saved {
        Some(saved) => {
            std::fs::create_dir_all(zonepath)
                .map_err(PathIoError::on("cannot create", zonepath))?;
            recreate(zfs, &saved, zonepath)?;
            info(format_args!(
                "made the empty zonepath dataset {} again",
                saved.dataset
            ));
        }
        None => {
            // The clone hook's zone: zoneadm made the zonepath a folder, mode 0700.
            std::fs::create_dir_all(zonepath)
                .map_err(PathIoError::on("cannot create", zonepath))?;
            set_mode(zonepath, 0o700, 0, 0)?;
        }
    }
    if let Some(own) = snapshot(props::CLONE_SNAPSHOT) {
        match zfs.destroy((&own).into(), DestroyOptions::DEFERRED) {
            Err(e) if e.is_not_found() => {}
            other => other?,
        }
    }
    Ok(snapshot("origin"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_round_trips_any_value() {
        let saved = Saved {
            dataset: "oxp_1/crypt/zone/oxz_a".parse().unwrap(),
            properties: vec![
                ("mountpoint".into(), "/pool/ext/1/crypt/zone/oxz a".into()),
                ("oxide:uuid".into(), "a=b\nc%d\te".into()),
                ("sharenfs".into(), "off".into()),
            ],
            mode: 0o700,
            uid: 0,
            gid: 3,
        };
        let encoded = saved.encode();
        assert!(!encoded.contains('\n') && !encoded.contains('\t'));
        assert_eq!(Saved::decode(&encoded), Some(saved));
        assert_eq!(Saved::decode("not a record"), None);
    }
}
