//! `oxide.json`, the metadata that says what an image is.
//!
//! Only two keys matter to the installer: `v` (the format version, "1") and
//! `t` (the kind: a zone's `layer` or the template's `baseline`). Everything
//! else, such as `pkg` and `version`, is kept so that it can be recorded on the
//! zone root and shown by `image inspect`, but never interpreted.

use std::fmt;

use serde_json::{Map, Value};

/// The only metadata format version there is.
pub const FORMAT_VERSION: &str = "1";

/// The largest `oxide.json` accepted. Real ones are a few dozen bytes; the cap
/// keeps a hostile image from making us buffer a huge entry in memory.
pub const METADATA_LIMIT: u64 = 64 * 1024;

/// What an image is for, from `t` in `oxide.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageKind {
    /// `layer`: a zone image, unpacked on top of the template at install.
    Layer,
    /// `baseline`: the baseline archive (`files.tar.gz`), unpacked into the template.
    Baseline,
}

impl ImageKind {
    /// The value of `t` for this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            ImageKind::Layer => "layer",
            ImageKind::Baseline => "baseline",
        }
    }

    /// The kind named by a value of `t`, if it is one we know.
    pub fn from_t(t: &str) -> Option<Self> {
        match t {
            "layer" => Some(ImageKind::Layer),
            "baseline" => Some(ImageKind::Baseline),
            _ => None,
        }
    }
}

impl fmt::Display for ImageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The parsed `oxide.json` of an image.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageMeta {
    /// The format version (`v`); always [`FORMAT_VERSION`] once parsed.
    pub v: String,
    /// The kind of image (`t`).
    pub kind: ImageKind,
    /// The package it was built from (`pkg`), if given.
    pub pkg: Option<String>,
    /// The package's version (`version`), if given.
    pub version: Option<String>,
    /// Every other key, kept as it was.
    pub extra: Map<String, Value>,
}

/// Why `oxide.json` was refused.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// The archive ended without an `oxide.json`.
    #[error(
        "no oxide.json: an image must have an oxide.json (e.g. {{\"v\":\"1\",\"t\":\"layer\"}}) \
         before its root/ entries"
    )]
    Missing,
    /// A `root/` entry came before `oxide.json`.
    #[error("oxide.json must come before the first root/ entry")]
    AfterRoot,
    /// `oxide.json` appears twice.
    #[error("oxide.json appears more than once")]
    Duplicate,
    /// `oxide.json` is not a regular file.
    #[error("oxide.json must be a regular file")]
    NotAFile,
    /// `oxide.json` is larger than [`METADATA_LIMIT`].
    #[error("oxide.json is {size} bytes, more than the {limit} allowed")]
    TooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// `oxide.json` is not valid JSON.
    #[error("oxide.json is not valid JSON")]
    NotJson(#[source] serde_json::Error),
    /// `oxide.json` is JSON but not an object.
    #[error("oxide.json must be a JSON object")]
    NotObject,
    /// A required key is missing.
    #[error("oxide.json has no {0:?} key")]
    MissingKey(&'static str),
    /// A key the installer reads is not a string.
    #[error("oxide.json key {0:?} must be a string")]
    NotAString(&'static str),
    /// `v` is not a version we know.
    #[error("oxide.json has format version v={0:?}; only v=\"1\" is supported")]
    UnsupportedVersion(String),
    /// `t` is not a kind we know.
    #[error("oxide.json has unknown image type t={0:?} (known: \"layer\", \"baseline\")")]
    UnknownKind(String),
    /// `t` is a known kind, but not the one this use needs.
    #[error(
        "oxide.json says t=\"{found}\", but a {expected} image (t=\"{expected}\") is needed here"
    )]
    WrongKind {
        /// The kind needed.
        expected: ImageKind,
        /// The kind the image is.
        found: ImageKind,
    },
}

impl ImageMeta {
    /// Parses the bytes of an `oxide.json`: a JSON object whose `v` is "1" and
    /// whose `t` is a known kind; `pkg` and `version`, when present, must be
    /// strings; other keys are kept in [`ImageMeta::extra`].
    pub fn parse(bytes: &[u8]) -> Result<Self, MetaError> {
        let value: Value = serde_json::from_slice(bytes).map_err(MetaError::NotJson)?;
        let Value::Object(mut map) = value else {
            return Err(MetaError::NotObject);
        };
        let v = take_string(&mut map, "v")?.ok_or(MetaError::MissingKey("v"))?;
        if v != FORMAT_VERSION {
            return Err(MetaError::UnsupportedVersion(v));
        }
        let t = take_string(&mut map, "t")?.ok_or(MetaError::MissingKey("t"))?;
        let kind = ImageKind::from_t(&t).ok_or(MetaError::UnknownKind(t))?;
        let pkg = take_string(&mut map, "pkg")?;
        let version = take_string(&mut map, "version")?;
        Ok(ImageMeta {
            v,
            kind,
            pkg,
            version,
            extra: map,
        })
    }

    /// The metadata as a JSON object, every key included (for
    /// `image inspect --json` and for writing an `oxide.json`).
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("v".into(), Value::String(self.v.clone()));
        map.insert("t".into(), Value::String(self.kind.as_str().into()));
        if let Some(pkg) = &self.pkg {
            map.insert("pkg".into(), Value::String(pkg.clone()));
        }
        if let Some(version) = &self.version {
            map.insert("version".into(), Value::String(version.clone()));
        }
        for (k, v) in &self.extra {
            map.insert(k.clone(), v.clone());
        }
        Value::Object(map)
    }

    /// Checks that the image is of the kind needed.
    pub fn expect(&self, expected: ImageKind) -> Result<(), MetaError> {
        if self.kind != expected {
            return Err(MetaError::WrongKind {
                expected,
                found: self.kind,
            });
        }
        Ok(())
    }
}

/// Removes `key` from `map`; it must be a string if it is there.
fn take_string(
    map: &mut Map<String, Value>,
    key: &'static str,
) -> Result<Option<String>, MetaError> {
    match map.remove(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(MetaError::NotAString(key)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_layer_and_keeps_extra_keys() {
        let m = ImageMeta::parse(
            br#"{"v":"1","t":"layer","pkg":"ntp","version":"1.2.3","hash":{"a":1}}"#,
        )
        .unwrap();
        assert_eq!(m.kind, ImageKind::Layer);
        assert_eq!(m.pkg.as_deref(), Some("ntp"));
        assert_eq!(m.version.as_deref(), Some("1.2.3"));
        assert_eq!(m.extra.get("hash"), Some(&serde_json::json!({"a":1})));
        assert_eq!(
            m.to_json(),
            serde_json::json!({"v":"1","t":"layer","pkg":"ntp","version":"1.2.3","hash":{"a":1}})
        );
    }

    #[test]
    fn parses_a_baseline_without_optional_keys() {
        let m = ImageMeta::parse(br#"{"t":"baseline","v":"1"}"#).unwrap();
        assert_eq!(m.kind, ImageKind::Baseline);
        assert_eq!(m.pkg, None);
        assert!(m.extra.is_empty());
        assert_eq!(m.to_json(), serde_json::json!({"v":"1","t":"baseline"}));
    }

    #[test]
    fn refuses_bad_metadata() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "not valid JSON"),
            (b"{", "not valid JSON"),
            (b"[1]", "must be a JSON object"),
            (br#""layer""#, "must be a JSON object"),
            (br#"{"t":"layer"}"#, "no \"v\" key"),
            (br#"{"v":1,"t":"layer"}"#, "\"v\" must be a string"),
            (br#"{"v":"2","t":"layer"}"#, "v=\"2\""),
            (br#"{"v":"1"}"#, "no \"t\" key"),
            (br#"{"v":"1","t":"os"}"#, "unknown image type t=\"os\""),
            (
                br#"{"v":"1","t":"Layer"}"#,
                "unknown image type t=\"Layer\"",
            ),
            (
                br#"{"v":"1","t":"layer","pkg":3}"#,
                "\"pkg\" must be a string",
            ),
            (
                br#"{"v":"1","t":"layer","version":null}"#,
                "\"version\" must be a string",
            ),
        ];
        for (raw, want) in cases {
            let err = ImageMeta::parse(raw).unwrap_err().to_string();
            assert!(
                err.contains(want),
                "{:?}: {err}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    /// Finding (fuzzing, target `meta`): extra keys are kept, but a number
    /// such as `999999999999900000000` did not read back the same after being
    /// written out again (`image inspect --json`): serde_json's default float
    /// parser can be one unit off in the last place. It now parses exactly
    /// (`float_roundtrip`).
    #[test]
    fn regression_fuzz_meta_extra_numbers_read_back_the_same() {
        let raw =
            b"{\"v\":\"1\",\"t\":\"baseline\",\"x\":[0,2999999999999999,\t99999999999999999999,\
                    99999999999999999999,\t999999999999900000000,\t9999999999999999999999,\
                    \t9999999999999,5,{\"y\":null}]}";
        let m = ImageMeta::parse(raw).unwrap();
        let again = ImageMeta::parse(&serde_json::to_vec(&m.to_json()).unwrap()).unwrap();
        assert_eq!(again, m);
        for text in [
            "999999999999900000000",
            "9.99999999999e20",
            "0.1",
            "1e-300",
            "2.2250738585072011e-308",
        ] {
            let v: serde_json::Value = serde_json::from_str(text).unwrap();
            let back: serde_json::Value = serde_json::from_str(&v.to_string()).unwrap();
            assert_eq!(back, v, "{text}");
        }
    }

    #[test]
    fn wrong_kind_names_both() {
        let m = ImageMeta::parse(br#"{"v":"1","t":"baseline"}"#).unwrap();
        assert!(m.expect(ImageKind::Baseline).is_ok());
        let err = m.expect(ImageKind::Layer).unwrap_err().to_string();
        assert_eq!(
            err,
            "oxide.json says t=\"baseline\", but a layer image (t=\"layer\") is needed here"
        );
    }
}
