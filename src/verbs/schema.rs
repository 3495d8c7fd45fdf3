//! The JSON every `--json` prints, and the call log's lines: one type per
//! document, documented field by field in the README and `omicron1(8)`.
//!
//! These are a contract with whoever scripts the installer (a control plane):
//! fields are added, never renamed or removed; a field that can be unknown is
//! `null`, never absent. Sizes are exact bytes; times are RFC 3339 UTC.

use serde::Serialize;

/// Prints `value` as one JSON document (and a newline) on stdout.
pub(crate) fn print(value: &impl Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => crate::support::output::report(format_args!("{text}\n")),
        // Only a map with non-string keys fails, which these types have not.
        Err(e) => crate::support::output::error(format_args!("cannot write JSON: {e}")),
    }
}

/// A line of the call log (`OMICRON1_RUN_DIR/omicron1.log`).
#[derive(Debug, Serialize)]
pub(crate) struct CallRecord {
    /// When the call ended.
    pub time: String,
    /// Its process id.
    pub pid: u32,
    /// The verb (`install`, `template list`); empty when the arguments could
    /// not be parsed.
    pub verb: String,
    /// `-z ZONE`, if given.
    pub zone: Option<String>,
    /// Every argument, the program's name first (lossy UTF-8).
    pub argv: Vec<String>,
    /// The exit code.
    pub exit: u8,
    /// How long the call took, in milliseconds.
    pub ms: u64,
    /// The error lines, if it failed.
    pub error: Option<String>,
}

/// An element of `template list --json`.
#[derive(Debug, Serialize)]
pub(crate) struct TemplateRow {
    /// The template's dataset.
    pub dataset: String,
    /// Its `@ready` snapshot (which may not exist yet).
    pub snapshot: String,
    /// Whether `@ready` exists.
    pub ready: bool,
    /// `current`, `stale` or `unfinished`.
    pub state: &'static str,
    /// Whether installs clone it now.
    pub current: bool,
    /// The boot it was built in.
    pub boot_id: Option<String>,
    /// The digest of the baseline it was built from.
    pub baseline_sha256: Option<String>,
    /// When it was built.
    pub created: Option<String>,
    /// Bytes the dataset references.
    pub referenced: Option<u64>,
    /// The datasets cloned from `@ready`.
    pub clones: Vec<String>,
    /// The zones those clones are.
    pub zones: Vec<String>,
}

/// An element of `template build --json`.
#[derive(Debug, Serialize)]
pub(crate) struct TemplateBuilt {
    /// The template's dataset.
    pub dataset: String,
    /// Its `@ready` snapshot, which now exists.
    pub snapshot: String,
    /// Its encryption root, or `null` when not encrypted.
    pub encryption_root: Option<String>,
}

/// `template gc --json`.
#[derive(Debug, Serialize)]
pub(crate) struct GcReport {
    /// Whether this was `--dry-run` (then nothing was destroyed).
    pub dry_run: bool,
    /// The templates destroyed (or that would be).
    pub destroyed: Vec<String>,
    /// The templates kept, and why.
    pub kept: Vec<Kept>,
}

/// A template `template gc` kept.
#[derive(Debug, Serialize)]
pub(crate) struct Kept {
    /// The template's dataset.
    pub dataset: String,
    /// Why it is kept.
    pub reason: String,
}

/// `dataset check --json`.
#[derive(Debug, Serialize)]
pub(crate) struct DatasetCheck {
    /// The dataset checked.
    pub dataset: String,
    /// The zone it was checked for, if known.
    pub zone: Option<String>,
    /// `ok` (every rule kept; exit 0), `broken` (a rule is broken; exit
    /// 254) or `unchecked` (the facts could not be read; exit 255).
    pub result: &'static str,
    /// One element per rule, in the order checked (empty when unchecked).
    pub rules: Vec<RuleResult>,
    /// Why the dataset could not be checked (`unchecked` only).
    pub error: Option<String>,
}

/// One rule's outcome in `dataset check --json`.
#[derive(Debug, Serialize)]
pub(crate) struct RuleResult {
    /// The rule's name (`exists`, `zoned`, ...).
    pub rule: &'static str,
    /// `error` (install refuses the zone) or `warning`.
    pub severity: &'static str,
    /// `ok`, `fail` or `skipped`.
    pub status: &'static str,
    /// What was seen, what is wrong, or why it was not checked.
    pub detail: String,
    /// The command that fixes a failed rule, else `null`.
    pub fix: Option<String>,
}

/// `dataset setup --json`.
#[derive(Debug, Serialize)]
pub(crate) struct DatasetSetup {
    /// The dataset.
    pub dataset: String,
    /// The zone it is for, if known.
    pub zone: Option<String>,
    /// Whether any `zfs` command was run.
    pub changed: bool,
    /// The `zfs` commands run, in order.
    pub commands: Vec<String>,
    /// The zone's configuration before the call: `listed`, `not-listed`,
    /// `not-configured` or `unknown` (no zone).
    pub zone_config: &'static str,
    /// The `zonecfg` command that delegates it, when the configuration
    /// does not list it yet.
    pub zonecfg: Option<String>,
}

/// `image inspect --json`.
#[derive(Debug, Serialize)]
pub(crate) struct ImageInspect {
    /// The image's path, as given (lossy UTF-8).
    pub image: String,
    /// SHA-256 of the file.
    pub sha256: String,
    /// Its `oxide.json`, every key kept.
    pub metadata: serde_json::Value,
    /// Regular files under `root/`.
    pub files: u64,
    /// Directories under `root/`.
    pub dirs: u64,
    /// Symbolic links under `root/`.
    pub symlinks: u64,
    /// Hard links under `root/`.
    pub hardlinks: u64,
    /// Bytes of the regular files.
    pub bytes: u64,
    /// Entries outside `root/`, which install ignores.
    pub ignored: u64,
}

/// `baseline create --json`.
#[derive(Debug, Serialize)]
pub(crate) struct BaselineCreated {
    /// The archive written (`OUTPUT/files.tar.gz`).
    pub files: String,
    /// The global-zone-only list written (`OUTPUT/gzonly.txt`).
    pub gzonly: String,
    /// Entries in the archive.
    pub entries: u64,
    /// Bytes of the regular files in it.
    pub bytes: u64,
}

/// An element of `zone list --json`, and `zone show --json`.
#[derive(Debug, Serialize)]
pub(crate) struct ZoneRow {
    /// The zone's name.
    pub zone: String,
    /// Its dataset.
    pub dataset: String,
    /// `installed`, or `incomplete` (an install that did not finish:
    /// `uninstall -F` removes it).
    pub state: &'static str,
    /// The images installed, in order (later ones won).
    pub images: Vec<ZoneImage>,
    /// The snapshot it was cloned from.
    pub origin: Option<String>,
    /// The template dataset it was cloned from, or `null` (a zone made by
    /// the clone hook or by copying).
    pub template: Option<String>,
    /// `current`, `stale` (reinstall the zone to move it to this boot's
    /// trees) or `null` (no template).
    pub template_state: Option<&'static str>,
    /// When it was installed.
    pub created: Option<String>,
    /// The installer that made it (`omicron1 --version`).
    pub installer: Option<String>,
    /// Bytes used by its dataset and those below it.
    pub used: Option<u64>,
    /// Where its dataset is mounted.
    pub mountpoint: Option<String>,
}

/// An image in `zone list --json`.
#[derive(Debug, Serialize)]
pub(crate) struct ZoneImage {
    /// The path it was installed from.
    pub path: Option<String>,
    /// SHA-256 of the bytes installed.
    pub sha256: Option<String>,
    /// `pkg` from its `oxide.json`.
    pub pkg: Option<String>,
    /// `version` from its `oxide.json`.
    pub version: Option<String>,
}

/// `doctor --json`.
#[derive(Debug, Serialize)]
pub(crate) struct DoctorReport {
    /// Whether no check failed (then the exit code is 0, else 254).
    pub ok: bool,
    /// Every check, in order.
    pub checks: Vec<DoctorCheck>,
}

/// One check of `doctor --json`.
#[derive(Debug, Serialize)]
pub(crate) struct DoctorCheck {
    /// What was checked (`zpool`, `zfs`, `baseline`, `gzonly`, `run folder`,
    /// `boot identity`, `source trees`, `templates on POOL`, `zones on POOL`,
    /// `template service`); a check may have several lines.
    pub check: String,
    /// `ok`, `warn` or `fail`.
    pub status: &'static str,
    /// What was found.
    pub detail: String,
    /// What fixes it, or `null` when ok.
    pub fix: Option<String>,
}
