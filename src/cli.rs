//! Command-line parsing: zoneadm's hook calls and the administration verbs.
//!
//! zoneadm calls `brand -z ZONE -R ZONEPATH VERB [ARGS]` (see
//! `brand/config.xml`); global options come before the verb. Any argument
//! error exits 253 (`ZONE_SUBPROC_USAGE`) without doing anything.
//!
//! Only clap types live here; this module imports nothing of the crate, and
//! nothing below [`crate::verbs`] imports it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Every zoneadm hook verb this binary implements; `brand/config.xml` must route
/// each of them here (a host test checks both directions).
pub const HOOK_VERBS: &[&str] = &[
    "install",
    "uninstall",
    "verify_cfg",
    "verify_adm",
    "query",
    "prestatechange",
    "poststatechange",
    "clone",
    "attach",
    "detach",
];

/// The administration verbs, as `--help` lists them first (each a command
/// group or a command of its own).
pub const ADMIN_VERBS: &[&str] = &["zone", "template", "dataset", "image", "baseline", "doctor"];

/// The version `--version` prints: the package version and the commit it was
/// built from (`build.rs`).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("OMICRON1_COMMIT"),
    ")"
);

/// The parsed command line.
#[derive(Debug, Parser)]
#[command(
    name = "omicron1",
    version = VERSION,
    about = "Zone installer for the omicron1 brand: every zone a ZFS clone of a per-boot template"
)]
pub struct Cli {
    /// The zone's name (zoneadm's %z); hooks only, before the verb.
    #[arg(short = 'z', value_name = "ZONE")]
    pub zone: Option<String>,
    /// The zone's path (zoneadm's %R); hooks only, before the verb.
    #[arg(short = 'R', value_name = "ZONEPATH")]
    pub zonepath: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub verb: Verb,
}

/// A verb: an administration command or a zoneadm hook.
#[derive(Debug, Subcommand)]
pub enum Verb {
    /// List installed zones, or show one, from their omicron1: properties.
    #[command(subcommand)]
    Zone(ZoneVerb),
    /// Build, list and collect templates.
    #[command(subcommand)]
    Template(TemplateVerb),
    /// Check and set up delegated datasets that mount at /data.
    #[command(subcommand)]
    Dataset(DatasetVerb),
    /// Inspect image archives.
    #[command(subcommand)]
    Image(ImageVerb),
    /// Make baseline archives.
    #[command(subcommand)]
    Baseline(BaselineVerb),
    /// Check that this host can install zones: one line per check, with the fix.
    Doctor {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Install the zone from this boot's template, then unpack IMAGEs in order.
    #[command(override_usage = "omicron1 -z ZONE -R ZONEPATH install [IMAGE]...")]
    Install {
        /// Image archives (gzip tar with oxide.json, t=layer), later ones win.
        images: Vec<PathBuf>,
    },
    /// Destroy the zone's dataset (or copied tree).
    #[command(override_usage = "omicron1 -z ZONE -R ZONEPATH uninstall [-F]")]
    Uninstall {
        /// Force (zoneadm passes it for an incomplete zone).
        #[arg(short = 'F')]
        force: bool,
    },
    /// Validate a zonecfg XML file (no -z/-R).
    #[command(name = "verify_cfg", override_usage = "omicron1 verify_cfg XMLFILE")]
    VerifyCfg {
        /// The zone configuration, as zonecfg writes it.
        xml: PathBuf,
    },
    /// Pre-flight check for a zoneadm subcommand.
    #[command(
        name = "verify_adm",
        override_usage = "omicron1 -z ZONE -R ZONEPATH verify_adm SUBCOMMAND [ARGS]..."
    )]
    VerifyAdm {
        /// The zoneadm subcommand (install, boot, ...).
        subcommand: String,
        /// Its arguments, as zoneadm passes them.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Answer a zoneadm query ("datasets": implicit datasets, one per line).
    #[command(override_usage = "omicron1 -z ZONE -R ZONEPATH query WHAT")]
    Query {
        /// What is asked.
        what: String,
    },
    /// Called before a zone state change.
    #[command(
        name = "prestatechange",
        override_usage = "omicron1 -z ZONE -R ZONEPATH prestatechange STATE CMD [ALTROOT]"
    )]
    PreStateChange(StateChange),
    /// Called after a zone state change.
    #[command(
        name = "poststatechange",
        override_usage = "omicron1 -z ZONE -R ZONEPATH poststatechange STATE CMD [ALTROOT]"
    )]
    PostStateChange(StateChange),
    /// Install the zone as a clone of another zone.
    #[command(override_usage = "omicron1 -z ZONE -R ZONEPATH clone [-s SNAPSHOT] SOURCE_ZONE")]
    Clone {
        /// Clone from this existing snapshot of the source zone.
        #[arg(short = 's', value_name = "SNAPSHOT")]
        snapshot: Option<String>,
        /// The zone to clone.
        source_zone: String,
    },
    /// Attach a zone whose dataset is already in place.
    #[command(override_usage = "omicron1 -z ZONE -R ZONEPATH attach [ARGS]...")]
    Attach {
        /// zoneadm's attach options.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Detach a zone (its dataset stays in place).
    #[command(override_usage = "omicron1 -z ZONE -R ZONEPATH detach [ARGS]...")]
    Detach {
        /// zoneadm's detach options.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// `zone` verbs.
#[derive(Debug, Subcommand)]
pub enum ZoneVerb {
    /// Every installed (or incomplete) zone: state, images, template, size.
    List {
        /// Only this pool.
        #[arg(long)]
        pool: Option<String>,
        /// Print one JSON array.
        #[arg(long)]
        json: bool,
    },
    /// One zone in full: every image with its digest, the template, the installer.
    Show {
        /// The zone.
        zone: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// The arguments of `prestatechange` and `poststatechange`.
#[derive(Debug, Args)]
pub struct StateChange {
    /// The zone state (2 installed .. 7 down).
    pub state: u8,
    /// The zoneadm command (0 ready, 1 boot, 4 halt, ...).
    pub cmd: u8,
    /// An alternate root, if any.
    pub altroot: Option<PathBuf>,
}

/// `template` verbs.
#[derive(Debug, Subcommand)]
pub enum TemplateVerb {
    /// Build this boot's template for a pool ahead of time.
    Build {
        /// The pool.
        #[arg(long)]
        pool: String,
        /// The dataset whose children are zonepath datasets (default: where the
        /// pool already has templates, else POOL/crypt/zone).
        #[arg(long)]
        parent: Option<String>,
        /// Print one JSON array of the templates made ready.
        #[arg(long)]
        json: bool,
    },
    /// List templates.
    List {
        /// Only this pool.
        #[arg(long)]
        pool: Option<String>,
        /// Print one JSON array.
        #[arg(long, conflicts_with_all = ["no_header", "parsable"])]
        json: bool,
        /// Scripted mode: no header, fields separated by one tab (as zfs list -H).
        #[arg(short = 'H')]
        no_header: bool,
        /// Exact numbers: sizes in bytes (as zfs list -p).
        #[arg(short = 'p')]
        parsable: bool,
    },
    /// Destroy stale templates that have no clones.
    Gc {
        /// Only this pool.
        #[arg(long)]
        pool: Option<String>,
        /// Say what would be destroyed, destroy nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// `dataset` verbs.
#[derive(Debug, Subcommand)]
pub enum DatasetVerb {
    /// Check a delegated dataset against every rule.
    Check {
        /// The dataset.
        dataset: String,
        /// Also check the zone's configuration delegates it, and no other zone's does.
        #[arg(long)]
        zone: Option<String>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Create or fix a delegated dataset so it mounts at /data in the zone.
    Setup {
        /// The dataset.
        dataset: String,
        /// The zone it is for.
        #[arg(long)]
        zone: Option<String>,
        /// Run the zonecfg commands instead of printing them.
        #[arg(long)]
        apply: bool,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// `image` verbs.
#[derive(Debug, Subcommand)]
pub enum ImageVerb {
    /// Validate an image and print its metadata and a summary of its contents.
    Inspect {
        /// The image archive.
        image: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `baseline` verbs.
#[derive(Debug, Subcommand)]
pub enum BaselineVerb {
    /// Make files.tar.gz (t=baseline) and gzonly.txt from a root tree.
    Create {
        /// The root tree to take files from.
        #[arg(long)]
        root: PathBuf,
        /// A file listing the paths (relative to ROOT) to include, one per line.
        #[arg(long)]
        include: PathBuf,
        /// A file listing global-zone-only paths, copied to gzonly.txt.
        #[arg(long)]
        gzonly: Option<PathBuf>,
        /// The folder to write files.tar.gz and gzonly.txt into.
        #[arg(long)]
        output: PathBuf,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_hook_verb_is_a_subcommand_with_its_usage() {
        let cmd = Cli::command();
        for verb in HOOK_VERBS {
            let sub = cmd
                .find_subcommand(verb)
                .unwrap_or_else(|| panic!("{verb} is not a subcommand"));
            let usage = sub.clone().render_usage().to_string();
            assert!(usage.contains(verb), "{verb}: {usage}");
            if *verb != "verify_cfg" {
                assert!(usage.contains("-z ZONE -R ZONEPATH"), "{verb}: {usage}");
            }
        }
        cmd.debug_assert();
    }

    #[test]
    fn parses_zoneadm_calls() {
        let cli = Cli::try_parse_from([
            "b",
            "-z",
            "z1",
            "-R",
            "/zones/z1",
            "install",
            "/a.tgz",
            "/b.tgz",
        ])
        .unwrap();
        assert_eq!(cli.zone.as_deref(), Some("z1"));
        assert!(matches!(cli.verb, Verb::Install { ref images } if images.len() == 2));
        let cli = Cli::try_parse_from([
            "b",
            "-z",
            "z",
            "-R",
            "/z",
            "verify_adm",
            "install",
            "-x",
            "y",
        ])
        .unwrap();
        assert!(matches!(cli.verb, Verb::VerifyAdm { ref args, .. } if args == &["-x", "y"]));
        let cli =
            Cli::try_parse_from(["b", "-z", "z", "-R", "/z", "prestatechange", "3", "1"]).unwrap();
        assert!(matches!(
            cli.verb,
            Verb::PreStateChange(StateChange {
                state: 3,
                cmd: 1,
                altroot: None
            })
        ));
        let cli = Cli::try_parse_from(["b", "-z", "z", "-R", "/z", "clone", "-s", "snap", "src"])
            .unwrap();
        assert!(matches!(
            cli.verb,
            Verb::Clone {
                snapshot: Some(_),
                ..
            }
        ));
        let cli = Cli::try_parse_from(["b", "verify_cfg", "/tmp/z.xml"]).unwrap();
        assert!(cli.zone.is_none());
    }
}
