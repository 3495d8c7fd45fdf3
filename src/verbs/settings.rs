//! The settings of the contract's "Settings" table: read once, here, from the
//! environment and from `/etc/default/omicron1`, and validated in one place.
//!
//! zoneadm runs the brand hooks with its caller's environment, and Oxide's
//! sled-agent calls zoneadm with an empty one; so, as the original brand read
//! `/etc/default/helios-omicron1`, the settings are also read from
//! `NAME=value` lines in `/etc/default/omicron1` (the same names). The
//! environment wins over the file. A value the installer cannot use is a
//! usage error (exit 253) naming the variable, where it came from and the
//! values it accepts — never silently ignored. Defaults are for a real
//! system; tests override them.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::rootfs::replicate::Mode;
use crate::rootfs::SourcePlaces;
use crate::support::output;
use crate::template::Site;
use crate::zone_root::install::Host;

/// The file of `NAME=value` lines read when a setting is not in the
/// environment.
pub(crate) const DEFAULTS_FILE: &str = "/etc/default/omicron1";
/// The environment variable that names another defaults file (for tests).
pub(crate) const DEFAULTS_FILE_VAR: &str = "OMICRON1_DEFAULTS_FILE";

/// One setting: its name, default, accepted values and meaning, as `--help`,
/// the README and the man page show them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spec {
    /// The environment variable (and the defaults file's name).
    pub name: &'static str,
    /// What applies when it is not set.
    pub default: &'static str,
    /// The values accepted, as the usage error names them.
    pub accepted: &'static str,
    /// What it changes.
    pub meaning: &'static str,
}

/// Every setting, in the order `--help` lists them.
pub(crate) const SPECS: &[Spec] = &[
    Spec {
        name: "OMICRON1_SOURCE_ROOT",
        default: "/",
        accepted: "an absolute path",
        meaning: "where usr, lib and sbin are replicated from",
    },
    Spec {
        name: "OMICRON1_BASELINE_DIR",
        default: "/var/run/brand/omicron1/baseline, else /usr/lib/brand/omicron1/baseline",
        accepted: "an absolute path",
        meaning: "the folder holding files.tar.gz and gzonly.txt",
    },
    Spec {
        name: "OMICRON1_ZONES_DIR",
        default: "/etc/zones",
        accepted: "an absolute path",
        meaning: "where zone configurations (ZONE.xml) are read",
    },
    Spec {
        name: "OMICRON1_BOOT_ID",
        default: "the running system's boot identity",
        accepted: "1 to 256 bytes, no control characters",
        meaning: "what \"this boot\" means for templates",
    },
    Spec {
        name: "OMICRON1_RUN_DIR",
        default: "/var/run/brand/omicron1",
        accepted: "an absolute path",
        meaning: "locks, the call log (omicron1.log), per-boot state",
    },
    Spec {
        name: "OMICRON1_REPLICATE",
        default: "split",
        accepted: "split, copy",
        meaning: "copy: copy every file into templates instead of linking into /system",
    },
    Spec {
        name: "OMICRON1_COPY_THREADS",
        default: "one per CPU, 2 to 16",
        accepted: "an integer from 1 to 256",
        meaning: "threads copying files while a template is built",
    },
    Spec {
        name: "OMICRON1_LOCK_TIMEOUT",
        default: "wait as long as it takes",
        accepted: "a whole number of seconds from 1 to 86400",
        meaning: "how long to wait for another install's or build's template lock",
    },
    Spec {
        name: "OMICRON1_IMAGE_MAX_BYTES",
        default: "17179869184 (16 GiB)",
        accepted: "a whole number of bytes, at least 1",
        meaning: "the most one image may expand to (512 bytes per entry plus its data)",
    },
    Spec {
        name: "OMICRON1_LOG",
        default: "warn",
        accepted: "error, warn, info, debug, trace",
        meaning: "diagnostics level on stderr (debug: each zfs command run)",
    },
];

/// Where a value came from, for the message naming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The process environment.
    Environment,
    /// A line of the defaults file.
    File(PathBuf, usize),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Environment => f.write_str("the environment"),
            Origin::File(path, line) => write!(f, "{} line {line}", path.display()),
        }
    }
}

/// Why the settings cannot be used. Each is a usage error (253).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SettingError {
    /// A value outside what the setting accepts.
    #[error("{name}={value:?} (from {origin}) is not accepted: expected {accepted}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// The value given.
        value: String,
        /// Where it came from.
        origin: Origin,
        /// What the setting accepts.
        accepted: &'static str,
    },
    /// A line of the defaults file that is not `NAME=value`.
    #[error("{}: line {line} is not NAME=value: {text:?}", path.display())]
    Line {
        /// The defaults file.
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
        /// The line.
        text: String,
    },
    /// The defaults file exists but cannot be read.
    #[error("cannot read the defaults file {}", path.display())]
    Read {
        /// The defaults file.
        path: PathBuf,
        /// The system's reason.
        #[source]
        source: std::io::Error,
    },
}

/// The diagnostics level of `OMICRON1_LOG`.
pub(crate) type LogLevel = tracing_subscriber::filter::LevelFilter;

/// Where things are, for one call.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Where `usr`, `lib` and `sbin` are replicated from (`OMICRON1_SOURCE_ROOT`).
    pub source_root: PathBuf,
    /// Candidate folders holding `files.tar.gz` and `gzonly.txt`, first wins
    /// (`OMICRON1_BASELINE_DIR`).
    pub baseline_dirs: Vec<PathBuf>,
    /// Where zonecfg's `ZONE.xml` files are (`OMICRON1_ZONES_DIR`).
    pub zones_dir: PathBuf,
    /// What "this boot" means for templates (`OMICRON1_BOOT_ID`); `None` means
    /// ask the running system.
    pub boot_id: Option<String>,
    /// Locks, the call log and other per-boot state (`OMICRON1_RUN_DIR`).
    pub run_dir: PathBuf,
    /// How system trees are replicated (`OMICRON1_REPLICATE`): `split` (shared
    /// objects and executables become symlinks into `/system`, the default) or
    /// `copy` (copy every file, for systems without the `/system` mounts).
    pub replicate_mode: Mode,
    /// Copy threads for replication (`OMICRON1_COPY_THREADS`); `None` means
    /// one per CPU, between 2 and 16.
    pub copy_threads: Option<usize>,
    /// How long to wait for a template lock (`OMICRON1_LOCK_TIMEOUT`); `None`
    /// waits as long as it takes.
    pub lock_timeout: Option<Duration>,
    /// The bound on what one image may write (`OMICRON1_IMAGE_MAX_BYTES`).
    pub image_limits: crate::image::Limits,
    /// Diagnostics on stderr (`OMICRON1_LOG`).
    pub log_level: LogLevel,
}

/// The raw values: environment first, then the defaults file.
struct Values {
    values: BTreeMap<&'static str, (OsString, Origin)>,
}

impl Values {
    fn get(&self, name: &str) -> Option<&(OsString, Origin)> {
        self.values.get(name)
    }
}

/// Reads the defaults file: `NAME=value` lines; blank lines and `#` comments
/// are skipped, a value may be quoted with `"` or `'`. A missing file is no
/// file. Names not in [`SPECS`] are warned of and ignored.
fn read_file(path: &Path) -> Result<Vec<(&'static str, OsString, usize)>, Vec<SettingError>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(vec![SettingError::Read {
                path: path.to_path_buf(),
                source,
            }])
        }
    };
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        let number = i + 1;
        let line = line.trim_ascii();
        if line.is_empty() || line.starts_with(b"#") {
            continue;
        }
        let line = line.strip_prefix(b"export ").unwrap_or(line);
        let Some(eq) = line.iter().position(|b| *b == b'=') else {
            errors.push(SettingError::Line {
                path: path.to_path_buf(),
                line: number,
                text: String::from_utf8_lossy(line).into_owned(),
            });
            continue;
        };
        let (name, value) = (line[..eq].trim_ascii(), line[eq + 1..].trim_ascii());
        let value = unquote(value);
        let Some(spec) = SPECS.iter().find(|s| s.name.as_bytes() == name) else {
            output::warn(format_args!(
                "{} line {number}: unknown setting {}: ignored (known: {})",
                path.display(),
                String::from_utf8_lossy(name),
                SPECS.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
            ));
            continue;
        };
        out.push((spec.name, OsStr::from_bytes(value).to_os_string(), number));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn unquote(value: &[u8]) -> &[u8] {
    for q in [b'"', b'\''] {
        if value.len() >= 2 && value[0] == q && value[value.len() - 1] == q {
            return &value[1..value.len() - 1];
        }
    }
    value
}

impl Settings {
    /// Reads the settings from the process environment and the defaults file
    /// (`/etc/default/omicron1`, or `OMICRON1_DEFAULTS_FILE`).
    pub(crate) fn from_env() -> Result<Self, Vec<SettingError>> {
        Self::read(|k| std::env::var_os(k))
    }

    /// Reads the settings through `env` (the environment, or a table in
    /// tests) and the defaults file it names, or the real one.
    pub(crate) fn read(env: impl Fn(&str) -> Option<OsString>) -> Result<Self, Vec<SettingError>> {
        let env = |k: &str| env(k).filter(|v| !v.is_empty());
        let file = env(DEFAULTS_FILE_VAR)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULTS_FILE));
        let mut values = BTreeMap::new();
        for (name, value, line) in read_file(&file)? {
            values.insert(name, (value, Origin::File(file.clone(), line)));
        }
        for spec in SPECS {
            if let Some(v) = env(spec.name) {
                values.insert(spec.name, (v, Origin::Environment));
            }
        }
        Self::parse(&Values { values })
    }

    /// Reads the settings from a table alone (no defaults file): for tests.
    #[cfg(test)]
    pub(crate) fn from_lookup(lookup: impl Fn(&str) -> Option<PathBuf>) -> Self {
        let mut values = BTreeMap::new();
        for spec in SPECS {
            if let Some(v) = lookup(spec.name) {
                values.insert(spec.name, (v.into_os_string(), Origin::Environment));
            }
        }
        match Self::parse(&Values { values }) {
            Ok(s) => s,
            Err(e) => panic!("test settings are invalid: {e:?}"),
        }
    }

    fn parse(values: &Values) -> Result<Self, Vec<SettingError>> {
        let mut errors = Vec::new();
        let mut get = |name: &'static str, check: &dyn Fn(&OsStr) -> bool| {
            let (value, origin) = values.get(name)?;
            if check(value) {
                return Some(value.clone());
            }
            let spec = SPECS.iter().find(|s| s.name == name);
            errors.push(SettingError::Invalid {
                name,
                value: value.to_string_lossy().into_owned(),
                origin: origin.clone(),
                accepted: spec.map(|s| s.accepted).unwrap_or("?"),
            });
            None
        };
        let absolute = |v: &OsStr| Path::new(v).is_absolute();
        let source_root = get("OMICRON1_SOURCE_ROOT", &absolute);
        let baseline_dir = get("OMICRON1_BASELINE_DIR", &absolute);
        let zones_dir = get("OMICRON1_ZONES_DIR", &absolute);
        let boot_id = get("OMICRON1_BOOT_ID", &|v| {
            let b = v.as_bytes();
            (1..=256).contains(&b.len())
                && std::str::from_utf8(b).is_ok_and(|s| !s.chars().any(char::is_control))
        });
        let run_dir = get("OMICRON1_RUN_DIR", &absolute);
        let replicate = get("OMICRON1_REPLICATE", &|v| v == "split" || v == "copy");
        let threads = get("OMICRON1_COPY_THREADS", &|v| {
            number(v).is_some_and(|n| (1..=256).contains(&n))
        });
        let timeout = get("OMICRON1_LOCK_TIMEOUT", &|v| {
            number(v).is_some_and(|n| (1..=86_400).contains(&n))
        });
        let image_max = get("OMICRON1_IMAGE_MAX_BYTES", &|v| {
            number(v).is_some_and(|n| n >= 1)
        });
        let log = get("OMICRON1_LOG", &|v| {
            ["error", "warn", "info", "debug", "trace"]
                .iter()
                .any(|l| v == *l)
        });
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Settings {
            source_root: source_root.map_or_else(|| "/".into(), PathBuf::from),
            baseline_dirs: match baseline_dir {
                Some(dir) => vec![dir.into()],
                None => vec![
                    "/var/run/brand/omicron1/baseline".into(),
                    "/usr/lib/brand/omicron1/baseline".into(),
                ],
            },
            zones_dir: zones_dir.map_or_else(|| "/etc/zones".into(), PathBuf::from),
            boot_id: boot_id.map(|b| b.to_string_lossy().into_owned()),
            run_dir: run_dir.map_or_else(|| "/var/run/brand/omicron1".into(), PathBuf::from),
            replicate_mode: match replicate {
                Some(m) if m == "copy" => Mode::CopyAll,
                _ => Mode::Split,
            },
            copy_threads: threads.and_then(|v| number(&v)).map(|n| n as usize),
            lock_timeout: timeout.and_then(|v| number(&v)).map(Duration::from_secs),
            image_limits: image_max
                .and_then(|v| number(&v))
                .map_or_else(crate::image::Limits::default, |max_bytes| {
                    crate::image::Limits { max_bytes }
                }),
            log_level: log
                .and_then(|v| v.to_str().and_then(|s| s.parse().ok()))
                .unwrap_or(LogLevel::WARN),
        })
    }

    /// The run directory to log a call to when the settings as a whole could
    /// not be read: `OMICRON1_RUN_DIR` from the environment if it is usable,
    /// else none (a call refused for its settings is not worth a guess).
    pub(crate) fn run_dir_despite_errors() -> Option<PathBuf> {
        std::env::var_os("OMICRON1_RUN_DIR")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    }
}

/// A plain decimal number (no sign, no spaces).
fn number(v: &OsStr) -> Option<u64> {
    let s = v.to_str()?;
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The settings as `--help` shows them, after the verbs.
pub(crate) fn help() -> String {
    let mut out = format!(
        "Settings (environment variables, or NAME=value lines in {DEFAULTS_FILE}; \
         the environment wins):\n"
    );
    for s in SPECS {
        out.push_str(&format!(
            "  {}\n      {}\n      values: {}; default: {}\n",
            s.name, s.meaning, s.accepted, s.default
        ));
    }
    out.push_str(&format!(
        "  {DEFAULTS_FILE_VAR}\n      read this file instead of {DEFAULTS_FILE} (environment only)\n"
    ));
    out.push_str(
        "\nExit codes (sys/zone.h): 0 done, 253 usage (nothing done), \
         254 failed and left nothing, 255 fatal.\n",
    );
    out
}

impl Settings {
    /// What templates need: the run directory, the boot, the baseline folders.
    pub(crate) fn site(&self) -> Site {
        Site {
            run_dir: self.run_dir.clone(),
            boot_id: self.boot_id.clone(),
            baseline_dirs: self.baseline_dirs.clone(),
        }
    }

    /// Where the system trees and baseline are, and how to copy them.
    pub(crate) fn sources(&self) -> SourcePlaces {
        SourcePlaces {
            source_root: self.source_root.clone(),
            baseline_dirs: self.baseline_dirs.clone(),
            mode: self.replicate_mode,
            threads: self.copy_threads,
        }
    }

    /// What an install reads of this host.
    pub(crate) fn host(&self) -> Host {
        Host {
            zones_dir: self.zones_dir.clone(),
            site: self.site(),
            sources: self.sources(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn defaults_are_for_a_real_system() {
        let s = Settings::read(env(&[(DEFAULTS_FILE_VAR, "/nonexistent/omicron1")])).unwrap();
        assert_eq!(s.source_root, PathBuf::from("/"));
        assert_eq!(s.baseline_dirs.len(), 2);
        assert_eq!(
            s.baseline_dirs[0],
            PathBuf::from("/var/run/brand/omicron1/baseline")
        );
        assert_eq!(s.zones_dir, PathBuf::from("/etc/zones"));
        assert_eq!(s.boot_id, None);
        assert_eq!(s.run_dir, PathBuf::from("/var/run/brand/omicron1"));
        assert_eq!(s.copy_threads, None);
        assert_eq!(s.lock_timeout, None);
        assert_eq!(s.log_level, LogLevel::WARN);
        assert_eq!(s.replicate_mode, Mode::Split);
    }

    #[test]
    fn environment_overrides() {
        let s = Settings::read(env(&[
            (DEFAULTS_FILE_VAR, "/nonexistent/omicron1"),
            ("OMICRON1_BASELINE_DIR", "/b"),
            ("OMICRON1_BOOT_ID", "boot-1"),
            ("OMICRON1_COPY_THREADS", "3"),
            ("OMICRON1_REPLICATE", "copy"),
            ("OMICRON1_LOCK_TIMEOUT", "30"),
            ("OMICRON1_LOG", "debug"),
        ]))
        .unwrap();
        assert_eq!(s.baseline_dirs, vec![PathBuf::from("/b")]);
        assert_eq!(s.boot_id.as_deref(), Some("boot-1"));
        assert_eq!(s.copy_threads, Some(3));
        assert_eq!(s.replicate_mode, Mode::CopyAll);
        assert_eq!(s.lock_timeout, Some(Duration::from_secs(30)));
        assert_eq!(s.log_level, LogLevel::DEBUG);
    }

    #[test]
    fn every_bad_value_is_refused_naming_the_variable_and_what_it_accepts() {
        let cases = [
            ("OMICRON1_SOURCE_ROOT", "relative/dir"),
            ("OMICRON1_BASELINE_DIR", "baseline"),
            ("OMICRON1_ZONES_DIR", "./zones"),
            ("OMICRON1_RUN_DIR", "run"),
            ("OMICRON1_BOOT_ID", "a\nb"),
            ("OMICRON1_REPLICATE", "foo"),
            ("OMICRON1_COPY_THREADS", "0"),
            ("OMICRON1_COPY_THREADS", "-1"),
            ("OMICRON1_COPY_THREADS", "two"),
            ("OMICRON1_COPY_THREADS", "1.5"),
            ("OMICRON1_COPY_THREADS", "257"),
            ("OMICRON1_LOCK_TIMEOUT", "0"),
            ("OMICRON1_LOCK_TIMEOUT", "10s"),
            ("OMICRON1_IMAGE_MAX_BYTES", "0"),
            ("OMICRON1_IMAGE_MAX_BYTES", "1G"),
            ("OMICRON1_IMAGE_MAX_BYTES", "-1"),
            ("OMICRON1_LOG", "loud"),
        ];
        for (name, value) in cases {
            let errors = Settings::read(env(&[
                (DEFAULTS_FILE_VAR, "/nonexistent/omicron1"),
                (name, value),
            ]))
            .unwrap_err();
            assert_eq!(errors.len(), 1, "{name}={value}");
            let text = errors[0].to_string();
            let spec = SPECS.iter().find(|s| s.name == name).unwrap();
            assert!(
                text.contains(name) && text.contains(spec.accepted),
                "{text}"
            );
            assert!(text.contains("the environment"), "{text}");
        }
    }

    #[test]
    fn the_defaults_file_is_read_and_the_environment_wins() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("omicron1");
        std::fs::write(
            &file,
            "# settings\n\nOMICRON1_RUN_DIR=/from/file\nexport OMICRON1_ZONES_DIR=\"/z\"\n\
             OMICRON1_REPLICATE='copy'\nOMICRON1_TYPO=1\n",
        )
        .unwrap();
        let path = file.to_str().unwrap();
        let s = Settings::read(env(&[(DEFAULTS_FILE_VAR, path)])).unwrap();
        assert_eq!(s.run_dir, PathBuf::from("/from/file"));
        assert_eq!(s.zones_dir, PathBuf::from("/z"));
        assert_eq!(s.replicate_mode, Mode::CopyAll);
        let s = Settings::read(env(&[
            (DEFAULTS_FILE_VAR, path),
            ("OMICRON1_RUN_DIR", "/from/env"),
        ]))
        .unwrap();
        assert_eq!(s.run_dir, PathBuf::from("/from/env"));
    }

    #[test]
    fn a_bad_value_in_the_file_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("omicron1");
        std::fs::write(
            &file,
            "OMICRON1_LOG=warn\nOMICRON1_REPLICATE=foo\nnonsense\n",
        )
        .unwrap();
        let errors =
            Settings::read(env(&[(DEFAULTS_FILE_VAR, file.to_str().unwrap())])).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        let text = errors[0].to_string();
        assert!(
            text.contains("line 3") && text.contains("NAME=value"),
            "{text}"
        );
        std::fs::write(&file, "OMICRON1_REPLICATE=foo\n").unwrap();
        let errors =
            Settings::read(env(&[(DEFAULTS_FILE_VAR, file.to_str().unwrap())])).unwrap_err();
        let text = errors[0].to_string();
        assert!(
            text.contains("OMICRON1_REPLICATE=\"foo\"")
                && text.contains("line 1")
                && text.contains("split, copy"),
            "{text}"
        );
        // The environment's good value wins over the file's bad one.
        assert!(Settings::read(env(&[
            (DEFAULTS_FILE_VAR, file.to_str().unwrap()),
            ("OMICRON1_REPLICATE", "split"),
        ]))
        .is_ok());
    }

    #[test]
    fn help_names_every_setting() {
        let text = help();
        for s in SPECS {
            assert!(
                text.contains(s.name) && text.contains(s.accepted),
                "{}",
                s.name
            );
        }
    }
}
