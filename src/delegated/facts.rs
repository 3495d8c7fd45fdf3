//! Reading what the rules look at: a dataset's properties from ZFS, the zone's
//! zonepath dataset, and the datasets every other zone's configuration
//! delegates.

use std::path::{Path, PathBuf};

use omicron1_zfs::{DatasetName, Property, PropertySource, Zfs};

use super::DelegatedError;
use crate::support::output::warn;
use crate::zone::config::{ZoneConfig, ZoneConfigError, ZoneConfigs};

/// Where a delegated dataset mounts inside its zone.
pub const MOUNTPOINT: &str = "/data";

/// What ZFS says about an existing dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// `type`: `filesystem`, `volume`.
    pub kind: String,
    /// `zoned`, with its source.
    pub zoned: Property,
    /// `mountpoint`, with its source.
    pub mountpoint: Property,
    /// `canmount`, with its source.
    pub canmount: Property,
    /// `mounted=yes`: mounted somewhere — in the global zone or, on illumos,
    /// inside a running zone.
    pub mounted: bool,
    /// Mounted by the global zone at its own mountpoint (not by a zone).
    pub mounted_in_global_zone: bool,
}

impl State {
    /// `zoned` is on (set here or inherited).
    pub fn zoned_on(&self) -> bool {
        self.zoned.value.as_deref() == Some("on")
    }

    /// `mountpoint=/data` set on the dataset itself.
    pub fn mountpoint_ok(&self) -> bool {
        self.mountpoint.value.as_deref() == Some(MOUNTPOINT) && self.mountpoint.source.is_local()
    }

    /// `canmount=on`.
    pub fn canmount_on(&self) -> bool {
        self.canmount.value.as_deref() == Some("on")
    }

    /// Mounted, but not by the global zone: a running zone holds it.
    pub fn mounted_in_a_zone(&self) -> bool {
        self.mounted && !self.mounted_in_global_zone
    }
}

/// The dataset and, if it exists, its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// The dataset.
    pub dataset: DatasetName,
    /// `None` if it does not exist.
    pub state: Option<State>,
}

/// A dataset delegated to a zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegation {
    /// The zone.
    pub zone: String,
    /// The dataset.
    pub dataset: DatasetName,
}

/// Whether the zone's configuration lists the dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    /// Not asked (install and `verify_cfg` start from the configuration).
    NotAsked,
    /// It does.
    Listed,
    /// It does not.
    NotListed,
    /// The zone has no configuration file.
    NoConfig(PathBuf),
}

/// The zone the dataset is for, as far as it is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneView {
    /// Its name.
    pub name: String,
    /// Its zonepath and the ZFS filesystem mounted there (`None`: not a ZFS
    /// mountpoint, or not made yet). `None` if the zonepath is not known.
    pub zonepath: Option<(PathBuf, Option<DatasetName>)>,
    /// Whether its configuration lists the dataset.
    pub listing: Listing,
}

/// Everything besides the dataset itself that the rules look at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Context {
    /// The zone the dataset is for, if known.
    pub zone: Option<ZoneView>,
    /// Every dataset delegated to any other zone.
    pub others: Vec<Delegation>,
}

/// Quotes a word for a shell command line when it needs it. Dataset names may
/// hold spaces but never a single quote.
pub fn quoted(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:=,@%+".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{word}'")
    }
}

/// The properties read, in one `zfs get`.
const PROPERTIES: [&str; 5] = ["type", "zoned", "mountpoint", "canmount", "mounted"];

/// Reads a dataset's state; a missing dataset is `state: None`, not an error.
pub fn facts(zfs: &dyn Zfs, dataset: &DatasetName) -> omicron1_zfs::Result<Facts> {
    let mut props = match zfs.get(dataset.into(), &PROPERTIES) {
        Ok(p) => p,
        Err(e) if e.is_not_found() => {
            return Ok(Facts {
                dataset: dataset.clone(),
                state: None,
            })
        }
        Err(e) => return Err(e),
    };
    let mut take = |name: &str| {
        props.remove(name).unwrap_or(Property {
            value: None,
            source: PropertySource::None,
        })
    };
    let kind = take("type").value.unwrap_or_default();
    let mounted = take("mounted").value.as_deref() == Some("yes");
    let mut state = State {
        kind,
        zoned: take("zoned"),
        mountpoint: take("mountpoint"),
        canmount: take("canmount"),
        mounted,
        mounted_in_global_zone: mounted,
    };
    // The global zone never mounts a zoned dataset, but on illumos `mounted`
    // is also yes while a running zone has it mounted (under the zone's root).
    // It is the global zone's own mount only if it is at its mountpoint.
    if mounted && state.zoned_on() {
        let at = state
            .mountpoint
            .value
            .as_deref()
            .filter(|m| m.starts_with('/'));
        state.mounted_in_global_zone = match at {
            Some(path) => zfs.dataset_mounted_at(Path::new(path))?.as_ref() == Some(dataset),
            None => false,
        };
    }
    Ok(Facts {
        dataset: dataset.clone(),
        state: Some(state),
    })
}

/// Reads every zone configuration, warning about the files that cannot be read.
pub fn all_zones(zones_dir: &Path) -> Result<ZoneConfigs, ZoneConfigError> {
    let zones = ZoneConfigs::read_dir(zones_dir)?;
    for e in &zones.unreadable {
        warn(format_args!(
            "{}; the datasets it delegates were not compared",
            crate::support::output::chain(e)
        ));
    }
    Ok(zones)
}

/// Zone `name` as the rules see it: its zonepath and the ZFS filesystem
/// mounted there.
pub fn zone_view(
    zfs: &dyn Zfs,
    name: &str,
    zonepath: Option<&Path>,
    listing: Listing,
) -> omicron1_zfs::Result<ZoneView> {
    let zonepath = match zonepath {
        None => None,
        Some(path) => {
            let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
            let dataset = zfs.dataset_mounted_at(&path)?;
            Some((path, dataset))
        }
    };
    Ok(ZoneView {
        name: name.to_string(),
        zonepath,
        listing,
    })
}

/// Every dataset delegated by the zones other than `except`. A name that is not
/// a valid dataset name cannot be a dataset, so it shares nothing.
pub fn delegations(zones: &ZoneConfigs, except: Option<&str>) -> Vec<Delegation> {
    zones
        .zones
        .iter()
        .filter(|z| Some(z.name.as_str()) != except)
        .flat_map(|z| {
            z.datasets
                .iter()
                .filter_map(|d| d.parse().ok())
                .map(|dataset| Delegation {
                    zone: z.name.clone(),
                    dataset,
                })
        })
        .collect()
}

/// The context of `dataset check|setup DATASET [--zone ZONE]`. With a zone,
/// that zone's configuration (which may be missing, or not list the dataset);
/// without one, the zone that delegates the dataset, if exactly one does.
pub fn context_for(
    zfs: &dyn Zfs,
    zones_dir: &Path,
    mut zones: ZoneConfigs,
    dataset: &DatasetName,
    zone: Option<&str>,
) -> Result<Context, DelegatedError> {
    let Some(name) = zone else {
        let owners: Vec<&ZoneConfig> = zones
            .zones
            .iter()
            .filter(|z| z.datasets.iter().any(|d| d == dataset.as_str()))
            .collect();
        let [owner] = owners.as_slice() else {
            return Ok(Context {
                zone: None,
                others: delegations(&zones, None),
            });
        };
        let view = zone_view(
            zfs,
            &owner.name,
            owner.zonepath.as_deref(),
            Listing::NotAsked,
        )?;
        return Ok(Context {
            zone: Some(view),
            others: delegations(&zones, Some(&owner.name)),
        });
    };
    let path = zones_dir.join(format!("{name}.xml"));
    if let Some(i) = zones.unreadable.iter().position(|e| error_path(e) == path) {
        return Err(DelegatedError::Unreadable {
            zone: name.to_string(),
            source: zones.unreadable.swap_remove(i),
        });
    }
    let view = match zones.zones.iter().find(|z| z.name == name) {
        Some(config) => {
            let listing = if config.datasets.iter().any(|d| d == dataset.as_str()) {
                Listing::Listed
            } else {
                Listing::NotListed
            };
            zone_view(zfs, name, config.zonepath.as_deref(), listing)?
        }
        None => ZoneView {
            name: name.to_string(),
            zonepath: None,
            listing: Listing::NoConfig(path),
        },
    };
    Ok(Context {
        zone: Some(view),
        others: delegations(&zones, Some(name)),
    })
}

fn error_path(e: &ZoneConfigError) -> &Path {
    match e {
        ZoneConfigError::Read { path, .. } | ZoneConfigError::Malformed { path, .. } => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use omicron1_zfs::{CreateOptions, FakeZfs, PoolName};

    fn fake() -> FakeZfs {
        let zfs = FakeZfs::new();
        zfs.add_pool(&"tp".parse::<PoolName>().unwrap(), Path::new("/tp"));
        zfs
    }

    fn create(zfs: &FakeZfs, name: &str, props: &[(&str, &str)]) -> DatasetName {
        let ds: DatasetName = name.parse().unwrap();
        zfs.create(
            &ds,
            &CreateOptions {
                parents: true,
                properties: props,
            },
        )
        .unwrap();
        ds
    }

    #[test]
    fn facts_from_zfs() {
        let zfs = fake();
        let missing: DatasetName = "tp/nope".parse().unwrap();
        assert_eq!(facts(&zfs, &missing).unwrap().state, None);
        let plain = create(&zfs, "tp/a/plain", &[]);
        let s = facts(&zfs, &plain).unwrap().state.unwrap();
        assert_eq!(s.kind, "filesystem");
        assert!(
            s.mounted && s.mounted_in_global_zone,
            "an ordinary dataset is mounted in the global zone"
        );
        assert_eq!(s.mountpoint.source, PropertySource::Inherited("tp".into()));
        assert!(!s.zoned_on() && !s.mountpoint_ok() && s.canmount_on());
        let good = create(
            &zfs,
            "tp/a/good",
            &[("zoned", "on"), ("mountpoint", "/data")],
        );
        let s = facts(&zfs, &good).unwrap().state.unwrap();
        assert!(!s.mounted && s.zoned_on() && s.mountpoint_ok() && s.canmount_on());
    }

    #[test]
    fn contexts() {
        let zfs = fake();
        let zpds = create(&zfs, "tp/zones/z1", &[]);
        assert!(zfs.dataset_mounted_at(Path::new("/tp/zones/z1")).unwrap() == Some(zpds.clone()));
        let dir = tempfile::tempdir().unwrap();
        let write = |zone: &str, zonepath: &str, ds: &str| {
            let xml =
                format!("<zone name='{zone}' zonepath='{zonepath}'><dataset name='{ds}'/></zone>");
            std::fs::write(dir.path().join(format!("{zone}.xml")), xml).unwrap();
        };
        write("z1", "/tp/zones/z1", "tp/d/z1");
        write("z2", "/tp/zones/z2", "tp/d/z2");
        std::fs::write(dir.path().join("broken.xml"), "<zone").unwrap();
        let zones = || ZoneConfigs::read_dir(dir.path()).unwrap();
        let ds: DatasetName = "tp/d/z1".parse().unwrap();

        // Without a zone: the one zone that delegates it.
        let ctx = context_for(&zfs, dir.path(), zones(), &ds, None).unwrap();
        let zone = ctx.zone.unwrap();
        assert_eq!(zone.name, "z1");
        assert_eq!(
            zone.zonepath,
            Some(("/tp/zones/z1".into(), Some(zpds.clone())))
        );
        assert_eq!(zone.listing, Listing::NotAsked);
        assert_eq!(
            ctx.others,
            [Delegation {
                zone: "z2".into(),
                dataset: "tp/d/z2".parse().unwrap()
            }]
        );

        // With a zone that does not list it; with an unconfigured zone; with a broken one.
        let ctx = context_for(&zfs, dir.path(), zones(), &ds, Some("z2")).unwrap();
        assert_eq!(ctx.zone.unwrap().listing, Listing::NotListed);
        assert_eq!(ctx.others.len(), 1, "z1's delegation is another zone's");
        let ctx = context_for(&zfs, dir.path(), zones(), &ds, Some("z9")).unwrap();
        assert!(matches!(ctx.zone.unwrap().listing, Listing::NoConfig(p) if p.ends_with("z9.xml")));
        let err = context_for(&zfs, dir.path(), zones(), &ds, Some("broken")).unwrap_err();
        let err = crate::support::output::chain(&err);
        assert!(err.contains("broken.xml"), "{err}");

        // A dataset no zone delegates has no zone.
        let other: DatasetName = "tp/d/z3".parse().unwrap();
        let ctx = context_for(&zfs, dir.path(), zones(), &other, None).unwrap();
        assert!(ctx.zone.is_none());
        assert_eq!(ctx.others.len(), 2);
    }
}
