//! The omicron1 zone installer.
//!
//! Layers, each knowing only those below it: [`cli`] parses zoneadm's
//! arguments and maps outcomes to [`exit`] codes; the hooks implement one verb
//! each; below them sit the install pipeline, templates, image extraction, zone
//! configuration and delegated datasets; below those, the `omicron1-zfs` crate,
//! the only code that starts a `zfs` process.

pub mod baseline;
pub mod boot;
pub mod cli;
pub mod delegated;
pub mod exit;
pub mod faults;
pub mod hooks;
pub mod image;
pub mod install;
pub mod lifecycle;
pub mod lock;
pub mod log;
pub mod pathio;
pub mod progress;
pub mod props;
pub mod replicate;
pub mod revert;
pub mod settings;
pub mod signals;
pub mod template;
pub mod templates;
pub mod timings;
pub mod zonecfg;
