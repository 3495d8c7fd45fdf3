//! The omicron1 zone installer.
//!
//! The folders are the layers; each imports only those below it (a host test,
//! `tests/layers.rs`, checks every `use crate::` line against this table, the
//! one in `architecture.md`):
//!
//! | module | may import |
//! |---|---|
//! | [`cli`] | clap only: nothing of the crate |
//! | `verbs` | everything below; the only place with exit codes and reports |
//! | [`zone_root`] | `template`, `rootfs`, `image`, `delegated`, `zone`, `props`, `support` |
//! | [`template`] | `rootfs`, `image`, `zone`, `props`, `support` |
//! | [`delegated`] | `zone`, `support` |
//! | [`rootfs`] | `image`, `support` |
//! | [`image`] | `support` |
//! | [`zone`] | nothing of the crate (`omicron1_zfs` names only) |
//! | [`props`], [`support`] | nothing of the crate |
//!
//! Below them all, the `omicron1-zfs` crate is the only code that starts a
//! `zfs` process; `rootfs` and `image` know directories, not ZFS.

pub mod cli;
pub mod delegated;
pub mod image;
pub mod props;
pub mod rootfs;
pub mod support;
pub mod template;
mod verbs;
pub mod zone;
pub mod zone_root;

pub use verbs::main;
