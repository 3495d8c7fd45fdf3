//! Reading a zone's configuration: zonecfg's XML (`/etc/zones/ZONE.xml`, and
//! the temporary file `verify_cfg` is given).
//!
//! Only what the brand needs is read — name, zonepath, brand, ip-type and the
//! delegated datasets; unknown elements and attributes are ignored so newer
//! zonecfg versions keep working.

use std::path::{Path, PathBuf};

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
    #[error("cannot read zone configuration {path}: {source}")]
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
        detail: String,
    },
}

impl ZoneConfig {
    /// Reads and parses a zonecfg XML file.
    pub fn read(path: &Path) -> Result<ZoneConfig, ZoneConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ZoneConfigError::Read { path: path.to_path_buf(), source })?;
        Self::parse(&text)
            .map_err(|detail| ZoneConfigError::Malformed { path: path.to_path_buf(), detail })
    }

    /// The configuration of zone `name` in the zones folder (`ZONES_DIR/NAME.xml`).
    pub fn for_zone(zones_dir: &Path, name: &str) -> Result<ZoneConfig, ZoneConfigError> {
        Self::read(&zones_dir.join(format!("{name}.xml")))
    }

    /// Parses zonecfg XML text. Pure, for tests.
    pub fn parse(text: &str) -> Result<ZoneConfig, String> {
        let options = roxmltree::ParsingOptions { allow_dtd: true, ..Default::default() };
        let doc = roxmltree::Document::parse_with_options(text, options).map_err(|e| e.to_string())?;
        let zone = doc.root_element();
        if zone.tag_name().name() != "zone" {
            return Err(format!("the root element is <{}>, not <zone>", zone.tag_name().name()));
        }
        let name = zone.attribute("name").ok_or("<zone> has no name attribute")?.to_string();
        let datasets = zone
            .children()
            .filter(|n| n.has_tag_name("dataset"))
            .map(|n| {
                n.attribute("name")
                    .map(str::to_string)
                    .ok_or_else(|| "a <dataset> element has no name attribute".to_string())
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
    pub fn brand_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(brand) = self.brand.as_deref().filter(|b| *b != "omicron1") {
            problems.push(format!(
                "zone {} has brand {brand:?}, not \"omicron1\": `zonecfg -z {} set brand=omicron1`",
                self.name, self.name
            ));
        }
        if self.ip_type != "exclusive" {
            problems.push(format!(
                "zone {} has ip-type {:?}; omicron1 zones need an exclusive IP stack: \
                 `zonecfg -z {} set ip-type=exclusive`",
                self.name, self.ip_type, self.name
            ));
        }
        problems
    }
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
        assert!(problems[0].contains("set ip-type=exclusive"), "{}", problems[0]);
        let other = SAMPLE.replace("brand=\"omicron1\"", "brand=\"sparse\"");
        assert!(ZoneConfig::parse(&other).unwrap().brand_problems()[0].contains("sparse"));
    }

    #[test]
    fn malformed_configurations_are_errors() {
        assert!(ZoneConfig::parse("<zone name='a'>").is_err(), "unclosed");
        assert!(ZoneConfig::parse("<notzone name='a'/>").unwrap_err().contains("<notzone>"));
        assert!(ZoneConfig::parse("<zone/>").unwrap_err().contains("name"));
        assert!(ZoneConfig::parse("<zone name='a'><dataset/></zone>").is_err());
        let dir = tempfile::tempdir().unwrap();
        let err = ZoneConfig::for_zone(dir.path(), "missing").unwrap_err();
        assert!(err.to_string().contains("missing.xml"), "{err}");
    }
}
