//! Reading a zone's configuration: zonecfg's XML (`/etc/zones/ZONE.xml`, and
//! the temporary file `verify_cfg` is given).
//!
//! Only what the brand needs is read — name, zonepath, brand, ip-type and the
//! delegated datasets; unknown elements and attributes are ignored so newer
//! zonecfg versions keep working.

use std::io::Read;
use std::path::{Path, PathBuf};

/// The largest zone configuration read. zonecfg writes a few kilobytes even
/// for zones with many resources; the cap keeps a runaway file from being
/// read whole into memory.
pub const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;

/// The parts of a zone configuration the brand acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneConfig {
    /// The zone's name (`<zone name=...>`).
    pub name: String,
    /// Its zonepath, if set.
    pub zonepath: Option<PathBuf>,
    /// Its brand, if set.
    pub brand: Option<String>,
    /// `exclusive` or `shared` (zonecfg's default when absent is `shared`).
    pub ip_type: String,
    /// The names of the datasets delegated with `add dataset`.
    pub datasets: Vec<String>,
}

/// Why a zone configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ZoneConfigError {
    /// The file could not be read.
    #[error("cannot read zone configuration {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The file is not well-formed XML or not a zone configuration.
    #[error("zone configuration {path} is malformed: {detail}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the position where the parser has one.
        detail: Malformed,
    },
}

/// What is wrong with a zone configuration's text.
#[derive(Debug, thiserror::Error)]
pub enum Malformed {
    /// Larger than [`MAX_CONFIG_BYTES`].
    #[error("it is larger than {MAX_CONFIG_BYTES} bytes")]
    TooLarge,
    /// Not UTF-8.
    #[error("it is not UTF-8 text ({0})")]
    NotUtf8(std::str::Utf8Error),
    /// It declares entities, which could expand to gigabytes.
    #[error(
        "entity declarations (<!ENTITY ...>) are not allowed in a zone configuration; \
         zonecfg never writes them"
    )]
    Entities,
    /// Not well-formed XML.
    #[error("{0}")]
    Xml(roxmltree::Error),
    /// The root element is not `<zone>`.
    #[error("the root element is <{0}>, not <zone>")]
    NotZone(String),
    /// `<zone>` has no name.
    #[error("<zone> has no name attribute")]
    NoName,
    /// A `<dataset>` has no name.
    #[error("a <dataset> element has no name attribute")]
    DatasetNoName,
}

/// Every zone configuration in a zones folder, and the files that could not be
/// read (reported, never fatal: one broken file must not stop other zones).
#[derive(Debug, Default)]
pub struct ZoneConfigs {
    /// The configurations read, in file-name order.
    pub zones: Vec<ZoneConfig>,
    /// The `.xml` files that could not be read or parsed.
    pub unreadable: Vec<ZoneConfigError>,
}

impl ZoneConfigs {
    /// Reads every `NAME.xml` in `zones_dir`. Skipped: other files (zonecfg's
    /// `index`, temporary files), hidden files, `global.xml` and the `SUNW*.xml`
    /// templates (zone names starting with `SUNW` are reserved). A folder that
    /// does not exist holds no zones.
    pub fn read_dir(zones_dir: &Path) -> Result<ZoneConfigs, ZoneConfigError> {
        let read_err = |source| ZoneConfigError::Read {
            path: zones_dir.to_path_buf(),
            source,
        };
        let entries = match std::fs::read_dir(zones_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ZoneConfigs::default()),
            Err(e) => return Err(read_err(e)),
        };
        let mut paths = Vec::new();
        for entry in entries {
            let path = entry.map_err(read_err)?.path();
            let Some(stem) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".xml"))
            else {
                continue;
            };
            if stem.is_empty()
                || stem.starts_with('.')
                || stem.starts_with("SUNW")
                || stem == "global"
            {
                continue;
            }
            if path.is_file() {
                paths.push(path);
            }
        }
        paths.sort();
        let mut out = ZoneConfigs::default();
        for path in paths {
            match ZoneConfig::read(&path) {
                Ok(z) => out.zones.push(z),
                Err(e) => out.unreadable.push(e),
            }
        }
        Ok(out)
    }
}

impl ZoneConfig {
    /// Reads and parses a zonecfg XML file.
    pub fn read(path: &Path) -> Result<ZoneConfig, ZoneConfigError> {
        let read_err = |source| ZoneConfigError::Read {
            path: path.to_path_buf(),
            source,
        };
        let malformed = |detail| ZoneConfigError::Malformed {
            path: path.to_path_buf(),
            detail,
        };
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes))
            .map_err(read_err)?;
        if bytes.len() as u64 > MAX_CONFIG_BYTES {
            return Err(malformed(Malformed::TooLarge));
        }
        let text =
            String::from_utf8(bytes).map_err(|e| malformed(Malformed::NotUtf8(e.utf8_error())))?;
        Self::parse(&text).map_err(malformed)
    }

    /// The configuration of zone `name` in the zones folder (`ZONES_DIR/NAME.xml`).
    pub fn for_zone(zones_dir: &Path, name: &str) -> Result<ZoneConfig, ZoneConfigError> {
        Self::read(&zones_dir.join(format!("{name}.xml")))
    }

    /// Parses zonecfg XML text. Pure, for tests.
    pub fn parse(text: &str) -> Result<ZoneConfig, Malformed> {
        // zonecfg's DOCTYPE names an external DTD and declares nothing. An
        // entity declared in the file itself is expanded by the parser, and a
        // small file referring to a large entity many times would expand to
        // gigabytes (the "quadratic blowup"): refuse them before parsing.
        if text.contains("<!ENTITY") {
            return Err(Malformed::Entities);
        }
        let options = roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        };
        let doc = roxmltree::Document::parse_with_options(text, options).map_err(Malformed::Xml)?;
        let zone = doc.root_element();
        if zone.tag_name().name() != "zone" {
            return Err(Malformed::NotZone(zone.tag_name().name().to_string()));
        }
        let name = zone.attribute("name").ok_or(Malformed::NoName)?.to_string();
        let datasets = zone
            .children()
            .filter(|n| n.has_tag_name("dataset"))
            .map(|n| {
                n.attribute("name")
                    .map(str::to_string)
                    .ok_or(Malformed::DatasetNoName)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ZoneConfig {
            name,
            zonepath: zone.attribute("zonepath").map(PathBuf::from),
            brand: zone.attribute("brand").map(str::to_string),
            ip_type: zone.attribute("ip-type").unwrap_or("shared").to_string(),
            datasets,
        })
    }

    /// The brand-level rules `verify_cfg` enforces: the omicron1 brand (when
    /// named) and an exclusive IP stack. Returns each broken rule as a sentence
    /// that says how to fix it.
    pub fn brand_problems(&self) -> Vec<BrandProblem> {
        let mut problems = Vec::new();
        if let Some(brand) = self.brand.as_deref().filter(|b| *b != "omicron1") {
            problems.push(BrandProblem::Brand {
                zone: self.name.clone(),
                brand: brand.to_string(),
            });
        }
        if self.ip_type != "exclusive" {
            problems.push(BrandProblem::IpType {
                zone: self.name.clone(),
                ip_type: self.ip_type.clone(),
            });
        }
        problems
    }
}

/// A brand-level rule a zone configuration breaks, with the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrandProblem {
    /// Another brand.
    #[error(
        "zone {zone} has brand {brand:?}, not \"omicron1\": `zonecfg -z {zone} set brand=omicron1`"
    )]
    Brand {
        /// The zone.
        zone: String,
        /// Its brand.
        brand: String,
    },
    /// A shared IP stack.
    #[error(
        "zone {zone} has ip-type {ip_type:?}; omicron1 zones need an exclusive IP stack: \
         `zonecfg -z {zone} set ip-type=exclusive`"
    )]
    IpType {
        /// The zone.
        zone: String,
        /// Its ip-type.
        ip_type: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE zone PUBLIC "-//Sun Microsystems Inc//DTD Zones//EN" "file:///usr/share/lib/xml/dtd/zonecfg.dtd.1">
<zone name="oxz_ntp" zonepath="/zones/oxz_ntp" autoboot="false" brand="omicron1" ip-type="exclusive">
  <network physical="ntp0"/>
  <dataset name="rpool/delegated/ntp"/>
  <future-element x="1"/>
</zone>"#;

    #[test]
    fn reads_what_the_brand_needs_and_ignores_the_rest() {
        let z = ZoneConfig::parse(SAMPLE).unwrap();
        assert_eq!(z.name, "oxz_ntp");
        assert_eq!(z.zonepath.as_deref(), Some(Path::new("/zones/oxz_ntp")));
        assert_eq!(z.brand.as_deref(), Some("omicron1"));
        assert_eq!(z.ip_type, "exclusive");
        assert_eq!(z.datasets, vec!["rpool/delegated/ntp"]);
        assert!(z.brand_problems().is_empty());
    }

    #[test]
    fn brand_rules() {
        let shared = SAMPLE.replace("ip-type=\"exclusive\"", "");
        let z = ZoneConfig::parse(&shared).unwrap();
        assert_eq!(z.ip_type, "shared");
        let problems = z.brand_problems();
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].to_string().contains("set ip-type=exclusive"),
            "{}",
            problems[0]
        );
        let other = SAMPLE.replace("brand=\"omicron1\"", "brand=\"sparse\"");
        assert!(ZoneConfig::parse(&other).unwrap().brand_problems()[0]
            .to_string()
            .contains("sparse"));
    }

    #[test]
    fn malformed_configurations_are_errors() {
        assert!(ZoneConfig::parse("<zone name='a'>").is_err(), "unclosed");
        assert!(ZoneConfig::parse("<notzone name='a'/>")
            .unwrap_err()
            .to_string()
            .contains("<notzone>"));
        assert!(ZoneConfig::parse("<zone/>")
            .unwrap_err()
            .to_string()
            .contains("name"));
        assert!(ZoneConfig::parse("<zone name='a'><dataset/></zone>").is_err());
        let dir = tempfile::tempdir().unwrap();
        let err = ZoneConfig::for_zone(dir.path(), "missing").unwrap_err();
        assert!(err.to_string().contains("missing.xml"), "{err}");
    }

    /// Finding: a 160 KB configuration declaring one 100 KB entity and
    /// referring to it 20,000 times made `verify_cfg` use 4 GB of memory and
    /// run for minutes (roxmltree guards against nested "billion laughs"
    /// entities, not against one large entity referred to many times).
    #[test]
    fn regression_entity_quadratic_blowup_is_refused_at_once() {
        let text = format!(
            "<?xml version=\"1.0\"?>\n<!DOCTYPE zone [<!ENTITY a \"{}\">]>\n\
             <zone name=\"z\" brand=\"omicron1\" ip-type=\"exclusive\" autoboot=\"{}\"/>",
            "A".repeat(100_000),
            "&a;".repeat(20_000)
        );
        let started = std::time::Instant::now();
        let err = ZoneConfig::parse(&text).unwrap_err().to_string();
        assert!(err.contains("entity declarations"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        // The DOCTYPE zonecfg writes is still fine.
        assert!(ZoneConfig::parse(SAMPLE).is_ok());
    }

    #[test]
    fn oversized_and_non_utf8_files_are_malformed() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.xml");
        let mut text = String::from("<zone name=\"z\" ip-type=\"exclusive\">");
        text.push_str(&" ".repeat(MAX_CONFIG_BYTES as usize));
        text.push_str("</zone>");
        std::fs::write(&big, text).unwrap();
        let err = ZoneConfig::read(&big).unwrap_err().to_string();
        assert!(
            err.contains("big.xml is malformed: it is larger than"),
            "{err}"
        );
        let latin1 = dir.path().join("latin1.xml");
        std::fs::write(&latin1, b"<zone name=\"caf\xe9\"/>").unwrap();
        let err = ZoneConfig::read(&latin1).unwrap_err().to_string();
        assert!(
            err.contains("latin1.xml is malformed: it is not UTF-8 text"),
            "{err}"
        );
    }

    #[test]
    fn reads_every_zone_of_a_folder_and_reports_broken_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("b.xml"), SAMPLE.replace("oxz_ntp", "b")).unwrap();
        std::fs::write(
            d.join("a.xml"),
            "<zone name='a' zonepath='/zones/a'><dataset name='tp/a'/></zone>",
        )
        .unwrap();
        std::fs::write(d.join("broken.xml"), "<zone name='broken'").unwrap();
        std::fs::write(
            d.join("index"),
            "global:installed:/\na:configured:/zones/a:\n",
        )
        .unwrap();
        std::fs::write(d.join("SUNWdefault.xml"), "<zone name='default'/>").unwrap();
        std::fs::write(d.join("global.xml"), "<zone name='global'/>").unwrap();
        std::fs::write(d.join(".hidden.xml"), "<zone name='hidden'/>").unwrap();
        std::fs::write(d.join("a.xml.tmp"), "<zone name='tmp'/>").unwrap();
        std::fs::create_dir(d.join("dir.xml")).unwrap();
        let all = ZoneConfigs::read_dir(d).unwrap();
        let names: Vec<&str> = all.zones.iter().map(|z| z.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(all.zones[0].datasets, ["tp/a"]);
        assert_eq!(all.unreadable.len(), 1);
        let err = all.unreadable[0].to_string();
        assert!(
            err.contains("broken.xml") && err.contains("malformed"),
            "{err}"
        );
        let none = ZoneConfigs::read_dir(&d.join("nonexistent")).unwrap();
        assert!(none.zones.is_empty() && none.unreadable.is_empty());
    }
}
