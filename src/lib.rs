//! The omicron1 zone installer.
//!
//! Layers, each knowing only those below it: [`cli`] parses zoneadm's
//! arguments and maps outcomes to exit codes; the hooks implement one verb
//! each; below them sit the install pipeline, templates, image extraction, zone
//! configuration and delegated datasets; below those, the `omicron1-zfs` crate,
//! the only code that starts a `zfs` process.

pub mod cli;
pub mod delegated;
pub mod image;
pub mod props;
pub mod rootfs;
pub mod support;
pub mod template;
pub mod verbs;
pub mod zone;
pub mod zone_root;
