//! The zones this installer made, as an administrator sees them: read back
//! from the `omicron1:` properties of their datasets (`zone list`, `zone
//! show`, `doctor`), as `vmadm list` reads its zones' properties.
//!
//! A pool costs two `zfs list` scans whatever the number of zones: one for
//! the zone datasets and their fixed properties, one for the image
//! properties up to the largest image count found, plus the templates' own
//! inventory to tell whether each zone's template is current.

use std::collections::BTreeMap;

use omicron1_zfs::{DatasetName, Depth, ListKind, ListRow, PoolName, Zfs};

use crate::props;
use crate::template::inventory::{containers, inventory, Status};
use crate::template::{Current, TemplateError};

/// The `omicron1:kind` of a zone's dataset.
pub const ZONE_KIND: &str = "zone-root";

/// One image a zone was installed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledImage {
    /// The path it was installed from.
    pub path: Option<String>,
    /// SHA-256 of the bytes installed.
    pub sha256: Option<String>,
    /// `pkg` from its `oxide.json`.
    pub pkg: Option<String>,
    /// `version` from its `oxide.json`.
    pub version: Option<String>,
}

/// Where a zone's template stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateState {
    /// The zone was cloned from this boot's template.
    Current,
    /// From an earlier boot's or baseline's template: reinstall it.
    Stale,
    /// Not cloned from a template (the clone hook's zones, copied zones),
    /// or the template is gone.
    None,
}

impl TemplateState {
    /// The word `zone list` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateState::Current => "current",
            TemplateState::Stale => "stale",
            TemplateState::None => "-",
        }
    }
}

/// One zone found on a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneInfo {
    /// The zone's name (`omicron1:zone`).
    pub zone: String,
    /// The zone's dataset.
    pub dataset: DatasetName,
    /// Whether the install finished (`omicron1:state=installed`); `false` is
    /// zoneadm's *incomplete*.
    pub installed: bool,
    /// The images installed, in order.
    pub images: Vec<InstalledImage>,
    /// The snapshot it was cloned from.
    pub origin: Option<String>,
    /// The template dataset, if the origin is a template's `@ready`.
    pub template: Option<String>,
    /// Whether that template is current.
    pub template_state: TemplateState,
    /// When it was installed.
    pub created: Option<String>,
    /// The installer that made it (`omicron1:installer`).
    pub installer: Option<String>,
    /// Bytes used by the dataset and its descendants.
    pub used: Option<u64>,
    /// Where it is mounted.
    pub mountpoint: Option<String>,
}

impl ZoneInfo {
    /// `installed`, or `incomplete` (an install that did not finish).
    pub fn state(&self) -> &'static str {
        if self.installed {
            "installed"
        } else {
            "incomplete"
        }
    }
}

/// Every zone dataset in `pool`, sorted by zone name; `current` says which
/// templates are current.
pub fn zones(
    zfs: &dyn Zfs,
    pool: &PoolName,
    current: &Current,
) -> Result<Vec<ZoneInfo>, TemplateError> {
    let fields = [
        props::KIND,
        props::ZONE,
        props::STATE,
        props::ORIGIN,
        props::CREATED,
        props::IMAGES,
        props::INSTALLER,
        "used",
        "mountpoint",
    ];
    let root = pool.root_dataset();
    let rows: Vec<ListRow> = zfs
        .list(&root, ListKind::Filesystems, Depth::Recursive, &fields)?
        .into_iter()
        .filter(|r| r.value(props::KIND) == Some(ZONE_KIND))
        .collect();
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let count = |r: &ListRow| -> usize {
        r.value(props::IMAGES)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let most = rows.iter().map(count).max().unwrap_or(0);
    let images = image_rows(zfs, &root, most)?;
    let mut templates: BTreeMap<String, Status> = BTreeMap::new();
    for container in containers(zfs, pool)? {
        for t in inventory(zfs, &container)? {
            templates.insert(t.snapshot.to_string(), t.status(current));
        }
    }
    let mut out = Vec::new();
    for row in rows {
        let Some(dataset) = row.name.as_dataset().cloned() else {
            continue;
        };
        let text = |p: &str| row.value(p).map(props::unescape);
        let origin = text(props::ORIGIN);
        let status = origin.as_deref().and_then(|o| templates.get(o)).copied();
        let template = status
            .and(origin.as_deref())
            .and_then(|o| o.split_once('@').map(|(dataset, _)| dataset.to_string()));
        let zone_images = match images.get(&dataset) {
            Some(values) => (0..count(&row))
                .map(|n| {
                    let field = |f: &str| {
                        values
                            .get(&props::image(n, f))
                            .cloned()
                            .flatten()
                            .map(|v| props::unescape(&v))
                    };
                    InstalledImage {
                        path: field("path"),
                        sha256: field("sha256"),
                        pkg: field("pkg"),
                        version: field("version"),
                    }
                })
                .collect(),
            None => Vec::new(),
        };
        out.push(ZoneInfo {
            zone: text(props::ZONE).unwrap_or_else(|| dataset.basename().to_string()),
            installed: row.value(props::STATE) == Some("installed"),
            images: zone_images,
            origin,
            template,
            template_state: match status {
                Some(Status::Current) => TemplateState::Current,
                Some(Status::Stale) => TemplateState::Stale,
                Some(Status::Unfinished) | None => TemplateState::None,
            },
            created: text(props::CREATED),
            installer: text(props::INSTALLER),
            used: row.value("used").and_then(|v| v.parse().ok()),
            mountpoint: row.value("mountpoint").map(str::to_string),
            dataset,
        });
    }
    out.sort_by(|a, b| a.zone.cmp(&b.zone));
    Ok(out)
}

/// The image properties of every zone dataset below `root`, for images 0 to
/// `most - 1`, in one scan.
fn image_rows(
    zfs: &dyn Zfs,
    root: &DatasetName,
    most: usize,
) -> Result<BTreeMap<DatasetName, BTreeMap<String, Option<String>>>, TemplateError> {
    if most == 0 {
        return Ok(BTreeMap::new());
    }
    let names: Vec<String> = (0..most)
        .flat_map(|n| {
            ["path", "sha256", "pkg", "version"]
                .into_iter()
                .map(move |f| props::image(n, f))
        })
        .collect();
    let mut fields: Vec<&str> = vec![props::KIND];
    fields.extend(names.iter().map(String::as_str));
    Ok(zfs
        .list(root, ListKind::Filesystems, Depth::Recursive, &fields)?
        .into_iter()
        .filter(|r| r.value(props::KIND) == Some(ZONE_KIND))
        .filter_map(|r| Some((r.name.as_dataset()?.clone(), r.values)))
        .collect())
}
