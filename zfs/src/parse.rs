//! Pure parsers for the `-H -p -o ...` output of `zfs` and `zpool`.
//!
//! `-H` prints one row per line with tab-separated columns and `-p` prints exact
//! numbers; `-` means "no value". Rows with the wrong number of columns are
//! errors, never guessed at.

use std::collections::BTreeMap;

/// Where a property's value comes from, as `zfs get -o source` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropertySource {
    /// Set on this dataset.
    Local,
    /// The built-in default.
    Default,
    /// Inherited from the named ancestor.
    Inherited(String),
    /// Set for this mount only.
    Temporary,
    /// Received with `zfs receive`.
    Received,
    /// Not applicable (read-only properties, unset user properties): `-`.
    None,
}

impl PropertySource {
    /// Whether the value was set on the dataset itself (locally or by receive).
    pub fn is_local(&self) -> bool {
        matches!(self, PropertySource::Local | PropertySource::Received)
    }
}

/// One property of one dataset or snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// The value; `None` where ZFS prints `-` (e.g. an unset user property).
    pub value: Option<String>,
    /// Where the value comes from.
    pub source: PropertySource,
}

/// Properties by name, as returned by a `zfs get`.
pub type Properties = BTreeMap<String, Property>;

/// Splits `-H` output into rows of exactly `columns` fields, `-` as `None`.
pub fn rows(output: &str, columns: usize) -> Result<Vec<Vec<Option<String>>>, String> {
    output
        .lines()
        .filter(|line| !line.is_empty())
        .map(|line| {
            let fields: Vec<Option<String>> = line
                .split('\t')
                .map(|f| if f == "-" { None } else { Some(f.to_string()) })
                .collect();
            if fields.len() == columns {
                Ok(fields)
            } else {
                Err(format!(
                    "expected {columns} tab-separated columns, got {}: {line:?}",
                    fields.len()
                ))
            }
        })
        .collect()
}

/// Parses a source column of `zfs get -o property,value,source`.
pub fn source(text: Option<&str>) -> Result<PropertySource, String> {
    Ok(match text {
        None | Some("none") => PropertySource::None,
        Some("local") => PropertySource::Local,
        Some("default") => PropertySource::Default,
        Some("temporary") => PropertySource::Temporary,
        Some("received") => PropertySource::Received,
        Some(other) => match other.strip_prefix("inherited from ") {
            Some(from) if !from.is_empty() => PropertySource::Inherited(from.to_string()),
            _ => return Err(format!("unknown property source {other:?}")),
        },
    })
}

/// Parses `zfs get -H -p -o property,value,source PROPS TARGET` (one target).
///
/// A value may itself contain tabs (user properties can hold any text), so the
/// property name is taken up to the first tab and the source from the last one.
pub fn properties(output: &str) -> Result<Properties, String> {
    let mut props = Properties::new();
    for line in output.lines().filter(|l| !l.is_empty()) {
        let (Some((name, rest)), Some((_, src))) = (line.split_once('\t'), line.rsplit_once('\t'))
        else {
            return Err(format!("expected property, value and source: {line:?}"));
        };
        let Some((value, _)) = rest.rsplit_once('\t') else {
            return Err(format!("expected property, value and source: {line:?}"));
        };
        let value = (value != "-").then(|| value.to_string());
        let src = (src != "-").then_some(src);
        let prop = Property {
            value,
            source: source(src)?,
        };
        if props.insert(name.to_string(), prop).is_some() {
            return Err(format!("property {name} listed twice"));
        }
    }
    Ok(props)
}

/// Parses the one-column output of `zfs list -H -o name` or `zpool list -H -o name`.
pub fn names(output: &str) -> Result<Vec<String>, String> {
    rows(output, 1)?
        .into_iter()
        .map(|mut row| {
            row.pop()
                .flatten()
                .ok_or_else(|| "an empty name".to_string())
        })
        .collect()
}

/// Parses the `clones` property of a snapshot: comma-separated dataset names,
/// empty (or `-`) for none.
pub fn clone_list(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_dash_is_none_and_bad_rows_fail() {
        let r = rows("tp/a\t-\t12\ntp/b\tx\t0\n", 3).unwrap();
        assert_eq!(r[0], vec![Some("tp/a".into()), None, Some("12".into())]);
        assert_eq!(r[1][1].as_deref(), Some("x"));
        assert!(rows("tp/a\t1\n", 3).is_err(), "too few columns");
        assert!(rows("tp/a\t1\t2\t3\n", 3).is_err(), "too many columns");
        assert_eq!(rows("", 2).unwrap().len(), 0);
    }

    #[test]
    fn properties_with_sources() {
        let out = "mountpoint\t/data\tlocal\n\
                   zoned\toff\tdefault\n\
                   canmount\ton\tinherited from tp/a\n\
                   omicron1:boot\t-\t-\n\
                   used\t1234\t-\n";
        let p = properties(out).unwrap();
        assert_eq!(p["mountpoint"].value.as_deref(), Some("/data"));
        assert!(p["mountpoint"].source.is_local());
        assert_eq!(p["zoned"].source, PropertySource::Default);
        assert_eq!(
            p["canmount"].source,
            PropertySource::Inherited("tp/a".into())
        );
        assert_eq!(p["omicron1:boot"].value, None);
        assert_eq!(p["used"].value.as_deref(), Some("1234"));
        assert!(properties("x\t1\tsomewhere\n").is_err());
        assert!(properties("x\t1\tinherited from \n").is_err());
        assert!(
            properties("x\t1\tlocal\nx\t2\tlocal\n").is_err(),
            "duplicates"
        );
        assert!(properties("x\t1\n").is_err());
        let tabbed = properties("omicron1:t\ta\tb\tlocal\n").unwrap();
        assert_eq!(
            tabbed["omicron1:t"].value.as_deref(),
            Some("a\tb"),
            "tabs inside a value"
        );
    }

    #[test]
    fn name_lists_and_clones() {
        assert_eq!(names("tp\ntp/a\n").unwrap(), vec!["tp", "tp/a"]);
        assert!(names("-\n").is_err());
        assert!(names("a\tb\n").is_err());
        assert_eq!(clone_list(Some("tp/a,tp/b")), vec!["tp/a", "tp/b"]);
        assert!(clone_list(Some("")).is_empty());
        assert!(clone_list(None).is_empty());
    }
}
