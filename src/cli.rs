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

/// The parsed command line.
#[derive(Debug, Parser)]
#[command(
    name = "omicron1",
    version,
    about = "Zone installer for the omicron1 brand: every zone a ZFS clone of a per-boot template",
    disable_help_subcommand = true
)]
pub struct Cli {
    /// The zone's name (zoneadm's %z).
    #[arg(short = 'z', value_name = "ZONE")]
    pub zone: Option<String>,
    /// The zone's path (zoneadm's %R).
    #[arg(short = 'R', value_name = "ZONEPATH")]
    pub zonepath: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub verb: Verb,
}

/// A verb: a zoneadm hook or an administration command.
#[derive(Debug, Subcommand)]
pub enum Verb {
    /// Hook: install the zone from this boot's template, then unpack IMAGEs in order.
    Install {
        /// Image archives (gzip tar with oxide.json, t=layer), later ones win.
        images: Vec<PathBuf>,
    },
    /// Hook: destroy the zone root.
    Uninstall {
        /// Force (zoneadm passes it for an incomplete zone).
        #[arg(short = 'F')]
        force: bool,
    },
    /// Hook: validate a zonecfg XML file (no -z/-R).
    #[command(name = "verify_cfg")]
    VerifyCfg {
        /// The zone configuration, as zonecfg writes it.
        xml: PathBuf,
    },
    /// Hook: pre-flight check for a zoneadm subcommand.
    #[command(name = "verify_adm")]
    VerifyAdm {
        /// The zoneadm subcommand (install, boot, ...).
        subcommand: String,
        /// Its arguments, as zoneadm passes them.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Hook: answer a zoneadm query ("datasets": implicit datasets, one per line).
    Query {
        /// What is asked.
        what: String,
    },
    /// Hook: called before a zone state change.
    #[command(name = "prestatechange")]
    PreStateChange(StateChange),
    /// Hook: called after a zone state change.
    #[command(name = "poststatechange")]
    PostStateChange(StateChange),
    /// Hook: install the zone as a clone of another zone's root.
    Clone {
        /// Clone from this existing snapshot of the source zone's root.
        #[arg(short = 's', value_name = "SNAP")]
        snapshot: Option<String>,
        /// The zone to clone.
        source_zone: String,
    },
    /// Hook: attach a zone whose root is already in place.
    Attach {
        /// zoneadm's attach options.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Hook: detach a zone.
    Detach {
        /// zoneadm's detach options.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
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
    },
    /// List templates.
    List {
        /// Only this pool.
        #[arg(long)]
        pool: Option<String>,
        /// Print one JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Destroy stale templates that have no clones.
    Gc {
        /// Only this pool.
        #[arg(long)]
        pool: Option<String>,
        /// Say what would be destroyed, destroy nothing.
        #[arg(long)]
        dry_run: bool,
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
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_hook_verb_is_a_subcommand() {
        let cmd = Cli::command();
        for verb in HOOK_VERBS {
            assert!(
                cmd.find_subcommand(verb).is_some(),
                "{verb} is not a subcommand"
            );
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
